// SPDX-License-Identifier: MIT
// sanport/provider_host.h: the switch's side of the SPI, for code ported from a Windows Sockets
// Direct (SAN) provider. A provider_host loads a provider (a WSPStartup(Ex) function pointer, or
// a shared library by name), hands it sanport's upcall table, and lets an application call
// through the provider's proc table, as the Windows Sockets switch would.
//
// The upcalls a provider gets (upcall_table_ex()):
//  - events: WPUCreateEvent, WPUCloseEvent, WPUSetEvent, WPUResetEvent (sanport's WSA events);
//  - socket handles: WPUCreateSocketHandle, WPUCloseSocketHandle, WPUQuerySocketHandleContext
//    (a handle table of the host's), WPUModifyIFSHandle (returns the proposed handle);
//  - WPUQueryBlockingCallback (no blocking hook: the callback pointer is NULL, as Winsock 2
//    gives without WSASetBlockingHook);
//  - WPUCompleteOverlappedRequest: docs/contract.md §4's bookkeeping (InternalHigh, Offset,
//    OffsetHigh, then Internal), the event, and one completion-queue packet unless the low bit
//    of hEvent is set, so a provider's completions look exactly like sanport's own.
// WPUFDIsSet, WPUGetProviderPath, WPUPostMessage, WPUQueueApc, WPUOpenCurrentThread and
// WPUCloseThread fail (WSAEOPNOTSUPP where they take an lpErrno; FALSE or 0 otherwise) and print
// one line to stderr naming the upcall: they serve window messages, APCs and select(), which a SAN
// data path does not use.
#pragma once

#include <sanport/compat.h>

#include <memory>
#include <string>

namespace sanport {

class completion_queue;

class provider_host {
public:
    // A provider linked into the program. The EX form is the SAN provider's entry point; it
    // receives WPUCompleteOverlappedRequest in its upcall table.
    explicit provider_host(LPWSPSTARTUPEX entry);
    explicit provider_host(LPWSPSTARTUP entry);
    // A provider in a shared library: dlopen on Linux, LoadLibrary on Windows; calls its
    // exported WSPStartupEx, or WSPStartup when it has no EX form.
    static std::unique_ptr<provider_host> load(const std::string& library_path);
    // WSPCleanup, once per successful start-up. The library stays loaded: a provider's threads
    // may outlive WSPCleanup (porting/host/library.hpp).
    ~provider_host();
    provider_host(const provider_host&) = delete;
    provider_host& operator=(const provider_host&) = delete;

    // 0 when the provider started, else its WSPStartup code (or WSAEINVAL when the library or
    // its entry point could not be found); why() says which in words.
    int status() const noexcept { return status_; }
    const std::string& why() const noexcept { return why_; }
    const WSPDATA& data() const noexcept { return data_; }
    // The provider's table: call lpWSPSocket, lpWSPRecv, ... through it.
    const WSPPROC_TABLE& procs() const noexcept { return procs_; }

    // ws2san.h extensions, fetched from the provider's WSPIoctl with
    // SIO_GET_EXTENSION_FUNCTION_POINTER on socket s (the switch asks per socket; a provider
    // answers the same for all). NULL when the provider has none.
    LPFN_WSPREGISTERMEMORY register_memory(SOCKET s) const noexcept;
    LPFN_WSPDEREGISTERMEMORY deregister_memory(SOCKET s) const noexcept;

    // Sends the completions of the provider's socket s to q with `key`: a handle made by
    // WPUCreateSocketHandle is associated in the host's table; any other value is passed to
    // q.associate (sanport's own sockets, when the provider is sanport). 0 or a WSA code.
    int associate(completion_queue& q, SOCKET s, ULONG_PTR key) noexcept;

private:
    provider_host() = default;
    int start(LPWSPSTARTUPEX ex, LPWSPSTARTUP plain) noexcept;

    int status_ = WSAEINVAL;
    std::string why_;
    bool started_ = false;
    void* library_ = nullptr;
    WSPDATA data_{};
    WSPPROC_TABLE procs_{};
};

// sanport's upcall tables: valid for the life of the process.
const WSPUPCALLTABLEEX& upcall_table_ex() noexcept;
WSPUPCALLTABLE upcall_table() noexcept;

// The upcall table's WPUCompleteOverlappedRequest: a socket handle of the host's table, or a
// socket of sanport's own (then as sanport::WPUCompleteOverlappedRequest). Returns 0, or
// SOCKET_ERROR with WSAEFAULT (no overlapped) or WSAEINVAL (a handle nobody created).
int host_complete_overlapped_request(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                     DWORD cbTransferred, LPINT lpErrno);

} // namespace sanport
