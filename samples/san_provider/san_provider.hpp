// SPDX-License-Identifier: MIT
// san_provider: a small Windows Sockets Direct (SAN) provider written against the SPI as a
// Windows provider would be, whose sources build unchanged on Linux (sanport's compat) and on
// Windows (mingw-w64). Its transport is TCP through sanport: every provider socket owns a
// private sanport socket. What it shows is the provider's side of docs/contract.md §4: its own
// queue of posted receives, completed through the switch's WPUCompleteOverlappedRequest.
//
// Internal types shared by the provider_*.cpp files. Nothing here is exported: the shared
// library exports WSPStartupEx and WSPStartup only (san_provider.def / san_provider.map).
#pragma once

#include <sanport/wsp.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

// The entry points, with C linkage, as the switch looks them up by name. On Windows
// <ws2spi.h> and <ddk/ws2san.h> declare both already; repeating an identical declaration is
// legal and keeps this file free of #ifdef.
extern "C" int WSPAPI WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData,
                                   LPWSAPROTOCOL_INFOW lpProtocolInfo,
                                   LPWSPUPCALLTABLEEX lpUpcallTable, LPWSPPROC_TABLE lpProcTable);
extern "C" int WSPAPI WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData,
                                 LPWSAPROTOCOL_INFOW lpProtocolInfo, WSPUPCALLTABLE UpcallTable,
                                 LPWSPPROC_TABLE lpProcTable);

namespace san_provider {

// ---- process-wide state (provider_startup.cpp) ----------------------------------------------

struct provider_state {
    WSPUPCALLTABLEEX upcalls{}; // the switch's table, copied: the pointer need not stay valid
    DWORD catalog_id = 0;       // passed back to WPUCreateSocketHandle
    WSPPROC_TABLE transport{};  // sanport's own table: options pass through it to the OS
};
provider_state& state() noexcept;

inline int fail(LPINT lpErrno, int wsa) noexcept {
    *lpErrno = wsa;
    return SOCKET_ERROR;
}

// The most WSABUFs one call may name (recv.count.large: at least 1,024, above it WSAEINVAL);
// sanport's own limit, so a request never needs splitting on its way down.
inline constexpr DWORD max_buffers = sanport::max_buffer_count;
// Every receive of the worker reads at most this much at once into its staging buffer.
inline constexpr DWORD staging_bytes = 64 * 1024;
// recv.count.large: one receive never reports more than 2^31 - 1 bytes.
inline constexpr std::uint64_t max_request_bytes = 0x7fffffffu;
// Below this no buffer is valid on either system (the first 64 KiB are never mapped): a
// pointer there, NULL included, is WSAEFAULT rather than a crash in the worker.
inline constexpr std::uintptr_t lowest_valid_address = 0x10000;

// ---- one provider socket ----------------------------------------------------------------------

// A posted receive: the caller's WSABUF array is copied at post time, since the switch may
// build it on the stack and reuse it as soon as WSPRecv returns.
struct recv_request {
    std::vector<WSABUF> buffers;          // zero-length entries already dropped
    std::uint64_t total = 0;              // sum of lengths, capped at max_request_bytes
    DWORD flags = 0;                      // MSG_PEEK / MSG_WAITALL
    LPWSAOVERLAPPED overlapped = nullptr; // the caller's, or `own` for a blocking receive
    WSAOVERLAPPED own{};
};
using request_ptr = std::shared_ptr<recv_request>;

struct memory_region {
    const char* base = nullptr;
    std::size_t length = 0;
    DWORD access = 0; // MEM_READ | MEM_WRITE
};

enum class conn_state { fresh, bound, listening, connected };

struct san_socket {
    SOCKET handle = INVALID_SOCKET;    // the switch's handle (WPUCreateSocketHandle)
    SOCKET transport = INVALID_SOCKET; // the private sanport socket
    DWORD_PTR context = 0;             // our registry key, stored in the switch's handle
    bool overlapped = false;           // made with WSA_FLAG_OVERLAPPED

    // Held shared by every call that uses `transport` (except WSPAccept, which the close must
    // be able to wake), exclusively by WSPCloseSocket around the transport's close: the OS
    // hands a closed socket's number to the next new socket at once, so a call racing the
    // close must not reach the kernel with it. A blocking send delays the close until it ends.
    std::shared_mutex transport_use;

    std::mutex mutex;             // guards everything below
    std::condition_variable wake; // the worker waits here for a request or a close
    conn_state state = conn_state::fresh;
    bool recv_shutdown = false; // WSPShutdown(SD_RECEIVE / SD_BOTH) happened
    bool closing = false;
    // Posted receives in posting order; the head stays here while the worker serves it, so
    // WSPDeregisterMemory sees the buffers it is writing.
    std::deque<request_ptr> receives;
    std::thread worker;                              // runs while connected (provider_recv.cpp)
    std::map<std::uintptr_t, memory_region> regions; // WSPRegisterMemory handle -> region
};
using socket_ptr = std::shared_ptr<san_socket>;

// A call's hold on s.transport (see san_socket::transport_use); ok() is false, and nothing is
// held, once s is closing.
class transport_hold {
public:
    explicit transport_hold(san_socket& s);
    bool ok() const noexcept { return lock_.owns_lock(); }

private:
    std::shared_lock<std::shared_mutex> lock_;
};

// ---- socket registry (provider_socket.cpp) --------------------------------------------------
// The switch's handle carries a context id, never a raw pointer: a call that races with
// WSPCloseSocket on another thread finds either a live shared_ptr or nothing.

// The socket behind the switch's handle s, or null with *wsa = WSAENOTSOCK.
socket_ptr find_socket(SOCKET s, int* wsa) noexcept;
// Closes every socket still open (the last WSPCleanup), so no worker outlives the provider.
void close_all_sockets() noexcept;

// ---- receive worker (provider_recv.cpp) -------------------------------------------------------

// Starts s's worker once s is connected; called with s.mutex held. 0, or WSAENOBUFS when no
// thread could be made (then s cannot receive and the caller reports the failure).
int start_worker(const socket_ptr& s) noexcept;
// Completes `r` through the switch: bookkeeping, event and completion-queue packet.
void complete_request(const san_socket& s, recv_request& r, int wsa, DWORD bytes) noexcept;

// ---- WSAOVERLAPPED results (provider_send.cpp) ------------------------------------------------

// Internal still WSS_OPERATION_IN_PROGRESS (acquire: the rest is visible once it is not).
bool is_pending(WSAOVERLAPPED& ov) noexcept;
// Until ov completes: waits on `event` (WSA_INVALID_EVENT: polls every millisecond).
void wait_done(WSAOVERLAPPED& ov, WSAEVENT event) noexcept;

// ---- registered memory (provider_memory.cpp) ------------------------------------------------

// WSAEFAULT when a buffer lies in a region registered without `access`; called with s.mutex.
int check_registered(const san_socket& s, const WSABUF* buffers, DWORD count,
                     DWORD access) noexcept;

// ---- proc-table entries ---------------------------------------------------------------------
// The WSP* names stay sanport's (namespace sanport) and the SDK's: the provider's are lower
// case, so nothing here collides with a declaration in <ws2spi.h> or <ddk/ws2san.h>.

SOCKET WSPAPI wsp_socket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                         GROUP g, DWORD dwFlags, LPINT lpErrno);
int WSPAPI wsp_bind(SOCKET s, const struct sockaddr* name, int namelen, LPINT lpErrno);
int WSPAPI wsp_listen(SOCKET s, int backlog, LPINT lpErrno);
SOCKET WSPAPI wsp_accept(SOCKET s, struct sockaddr* addr, LPINT addrlen,
                         LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData, LPINT lpErrno);
int WSPAPI wsp_connect(SOCKET s, const struct sockaddr* name, int namelen, LPWSABUF lpCallerData,
                       LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno);
int WSPAPI wsp_get_sock_name(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno);
int WSPAPI wsp_get_peer_name(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno);
int WSPAPI wsp_set_sock_opt(SOCKET s, int level, int optname, const char* optval, int optlen,
                            LPINT lpErrno);
int WSPAPI wsp_get_sock_opt(SOCKET s, int level, int optname, char* optval, LPINT optlen,
                            LPINT lpErrno);
int WSPAPI wsp_shutdown(SOCKET s, int how, LPINT lpErrno);
int WSPAPI wsp_close_socket(SOCKET s, LPINT lpErrno);

int WSPAPI wsp_recv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
                    LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
                    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                    LPWSATHREADID lpThreadId, LPINT lpErrno);
int WSPAPI wsp_send(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                    DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
                    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                    LPWSATHREADID lpThreadId, LPINT lpErrno);
BOOL WSPAPI wsp_get_overlapped_result(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
                                      BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);

HANDLE WSPAPI wsp_register_memory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                                  LPINT lpErrno);
int WSPAPI wsp_deregister_memory(SOCKET s, HANDLE lpHandle, LPINT lpErrno);

} // namespace san_provider
