// SPDX-License-Identifier: MIT
// The Winsock vocabulary (docs/contract.md §2). On Windows: the SDK's winsock2/ws2spi/mswsock
// headers plus the SAN names of ws2san.h the SDK lacks. On Linux: the same names, values and
// x64 layout from posix_*.h. Both: the error-code helpers and wsa_event_is_set in sanport::.
#pragma once

#ifdef _WIN32

#include <mswsock.h>
#include <winsock2.h>
#include <ws2spi.h>

#include <ws2tcpip.h>

#if __has_include(<ddk/ws2san.h>)
#include <ddk/ws2san.h>
#else
// What ws2san.h would give: only the DDK ships it, and mingw-w64 without the DDK lacks it.
#ifndef MEM_READ
#define MEM_READ 1
#define MEM_WRITE 2
#define MEM_READWRITE 3
#endif

typedef struct WSABUFEX {
    ULONG len;
    CHAR* buf;
    HANDLE handle;
} WSABUFEX, *LPWSABUFEX;

// Repeats mingw's ws2spi.h typedef where it exists (an identical typedef is legal in C++).
typedef int(WSPAPI* LPWPUCOMPLETEOVERLAPPEDREQUEST)(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
                                                    DWORD dwError, DWORD cbTransferred,
                                                    LPINT lpErrno);

typedef struct WSPUPCALLTABLEEX {
    LPWPUCLOSEEVENT lpWPUCloseEvent;
    LPWPUCLOSESOCKETHANDLE lpWPUCloseSocketHandle;
    LPWPUCREATEEVENT lpWPUCreateEvent;
    LPWPUCREATESOCKETHANDLE lpWPUCreateSocketHandle;
    LPWPUFDISSET lpWPUFDIsSet;
    LPWPUGETPROVIDERPATH lpWPUGetProviderPath;
    LPWPUMODIFYIFSHANDLE lpWPUModifyIFSHandle;
    LPWPUPOSTMESSAGE lpWPUPostMessage;
    LPWPUQUERYBLOCKINGCALLBACK lpWPUQueryBlockingCallback;
    LPWPUQUERYSOCKETHANDLECONTEXT lpWPUQuerySocketHandleContext;
    LPWPUQUEUEAPC lpWPUQueueApc;
    LPWPURESETEVENT lpWPUResetEvent;
    LPWPUSETEVENT lpWPUSetEvent;
    LPWPUOPENCURRENTTHREAD lpWPUOpenCurrentThread;
    LPWPUCLOSETHREAD lpWPUCloseThread;
    LPWPUCOMPLETEOVERLAPPEDREQUEST lpWPUCompleteOverlappedRequest;
} WSPUPCALLTABLEEX, *LPWSPUPCALLTABLEEX;
#endif // ws2san.h

#ifndef WSAID_REGISTERMEMORY
typedef HANDLE(WSPAPI* LPFN_WSPREGISTERMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength,
                                               DWORD dwFlags, LPINT lpErrno);
typedef int(WSPAPI* LPFN_WSPDEREGISTERMEMORY)(SOCKET s, HANDLE Handle, LPINT lpErrno);
#define WSAID_REGISTERMEMORY                                                                       \
    {                                                                                              \
        0xC0B422F5, 0xF58C, 0x11d1, {                                                              \
            0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D                                         \
        }                                                                                          \
    }
#define WSAID_DEREGISTERMEMORY                                                                     \
    {                                                                                              \
        0xC0B422F6, 0xF58C, 0x11d1, {                                                              \
            0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D                                         \
        }                                                                                          \
    }
#endif

// ws2san.h's overlapped "still running" status; mingw-w64's <ddk/ws2san.h> lacks it too.
#ifndef WSS_OPERATION_IN_PROGRESS
#define WSS_OPERATION_IN_PROGRESS 0x00000103L
#endif

#else // Linux

#include <sanport/compat/posix_events.h>
#include <sanport/compat/posix_mswsock.h>
#include <sanport/compat/posix_spi.h>
#include <sanport/compat/posix_types.h>

#endif

#include <sanport/compat/error_map.h>

#include <cstddef>

namespace sanport {

// Whether the event is signalled right now, without waiting or changing it; false for an
// invalid handle. For tests and diagnostics.
bool wsa_event_is_set(WSAEVENT event) noexcept;

// For completers (sanport's core, WPUCompleteOverlappedRequest): pins the event before the
// operation's result becomes visible, so a caller that sees the result and closes the event
// at once cannot free it under the completer; then signals it (if still open) and unpins.
// Windows gets this from the kernel's handle references.
bool wsa_event_hold(WSAEVENT event) noexcept;
void wsa_event_set_and_release(WSAEVENT event) noexcept;

namespace detail {

// Not Winsock vocabulary: sanport's own, here because only compat may differ by platform. One
// scatter/gather entry in the layout the OS's vectored calls read, WSABUF on Windows and
// struct iovec's on Linux; sanport keeps a captured WSABUF array in it, so the array itself
// goes to the kernel with no copy per request.
#ifdef _WIN32
using kernel_buffer = WSABUF;
#else
struct kernel_buffer {
    char* buf = nullptr;
    std::size_t len = 0;
};
#endif

constexpr kernel_buffer make_kernel_buffer(char* buf, std::size_t len) noexcept {
    kernel_buffer b{};
    b.buf = buf;
    b.len = static_cast<decltype(b.len)>(len);
    return b;
}

} // namespace detail
} // namespace sanport
