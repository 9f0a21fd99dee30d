// SPDX-License-Identifier: MIT
// core/sys.hpp on Windows: the synchronous socket calls over Winsock, each returning 0 or a
// WSA code (compat's win32_map.cpp).
//
// Invariants: every OS socket is made with WSA_FLAG_OVERLAPPED, whatever the caller asked for:
// the IOCP backend can only run overlapped sockets, and the core tracks the caller's flag
// itself (WSAEINVAL for an overlapped call on a socket created without it). Sockets stay
// blocking (no FIONBIO); every call restores the thread's last error (WSAGetLastError is
// GetLastError), so sanport never changes what the caller sees there.

#include "backends/iocp/iocp_backend.hpp"
#include "core/backend.hpp"
#include "core/sys.hpp"

#include <sanport/compat.h>

namespace sanport::detail {

int iocp_winsock_startup() noexcept {
    static const int result = [] {
        WSADATA data{};
        return ::WSAStartup(MAKEWORD(2, 2), &data); // returns the code; no WSAGetLastError
    }();
    return result;
}

} // namespace sanport::detail

namespace sanport::detail::sys {

namespace {

int last_error() noexcept {
    return wsa_from_errno(::WSAGetLastError());
}

// Waits (no time limit) until s is readable (or, with `write`, writable/failed); 0 or a WSA
// code. fd_set on Windows is an array of handles, so any SOCKET value fits.
int wait_for(SOCKET s, bool write) noexcept {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(s, &set);
    fd_set failed;
    FD_ZERO(&failed);
    FD_SET(s, &failed);
    // nfds is ignored by Winsock. A failed connect shows up in the "except" set.
    const int ready = ::select(0, write ? nullptr : &set, write ? &set : nullptr,
                               write ? &failed : nullptr, nullptr);
    return ready == SOCKET_ERROR ? last_error() : 0;
}

// True when select() with a zero time-out says s is readable (or writable).
bool ready_now(SOCKET s, bool write) noexcept {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(s, &set);
    timeval zero{0, 0};
    return ::select(0, write ? nullptr : &set, write ? &set : nullptr, nullptr, &zero) > 0;
}

bool length_ok(const void* name, const int* namelen) noexcept {
    return name != nullptr && namelen != nullptr && *namelen >= 0;
}

int get_int_option(SOCKET s, int level, int option, int& value) noexcept {
    // SO_ACCEPTCONN and SO_KEEPALIVE are BOOLs (4 bytes), SO_TYPE an int: one int fits all.
    value = 0;
    int size = sizeof value;
    if (::getsockopt(s, level, option, reinterpret_cast<char*>(&value), &size) == 0) return 0;
    return last_error();
}

using name_call = int(WSAAPI*)(SOCKET, sockaddr*, int*);

int get_name(name_call call, SOCKET s, sockaddr* name, int* namelen) noexcept {
    if (!length_ok(name, namelen)) return WSAEFAULT;
    // Winsock itself refuses a buffer too small for the address (WSAEFAULT), as sys.hpp wants.
    if (call(s, name, namelen) != 0) return last_error();
    return 0;
}

// Receive/send failures use the transfer table, except "nothing now", which only these
// non-blocking calls can report.
int transfer_error(int error) noexcept {
    if (error == WSAEWOULDBLOCK) return WSAEWOULDBLOCK;
    if (error == WSAENOTSOCK || error == WSA_INVALID_HANDLE) return WSAENOTSOCK;
    return wsa_from_transfer_errno(error);
}

} // namespace

int open_socket(int af, int type, int protocol, SOCKET& out) noexcept {
    iocp_last_error_guard guard;
    if (const int wsa = iocp_winsock_startup(); wsa != 0) return wsa_from_errno(wsa);
    // Not inheritable by child processes, as SOCK_CLOEXEC on Linux.
    const SOCKET s = ::WSASocketW(af, type, protocol, nullptr, 0,
                                  WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) return last_error();
    out = s;
    return 0;
}

int bind(SOCKET s, const sockaddr* name, int namelen) noexcept {
    iocp_last_error_guard guard;
    if (name == nullptr || namelen < 0) return WSAEFAULT;
    return ::bind(s, name, namelen) == 0 ? 0 : last_error();
}

int listen(SOCKET s, int backlog) noexcept {
    iocp_last_error_guard guard;
    return ::listen(s, backlog) == 0 ? 0 : last_error();
}

int accept(SOCKET s, sockaddr* addr, int* addrlen, SOCKET& out) noexcept {
    iocp_last_error_guard guard;
    if (addr != nullptr && !length_ok(addr, addrlen)) return WSAEFAULT;
    // Winsock checks *addrlen against the family before it takes a connection (WSAEFAULT),
    // and ignores addrlen when addr is null.
    for (;;) {
        const SOCKET accepted = ::accept(s, addr, addr != nullptr ? addrlen : nullptr);
        if (accepted != INVALID_SOCKET) {
            // An accepted socket inherits the listener's WSA_FLAG_OVERLAPPED (ours always has it).
            out = accepted;
            return 0;
        }
        const int error = ::WSAGetLastError();
        if (error == WSAEWOULDBLOCK) { // a non-blocking (adopted) listener
            if (const int waited = wait_for(s, false); waited != 0) return waited;
            continue;
        }
        // The listener was closed under the call (wake_accept's note): Windows says WSAEINTR
        // ("a blocking call was cancelled"), Wine 8 WSA_OPERATION_ABORTED; both are reported as
        // WSAEINTR and never retried (the handle may already name another socket).
        if (error == WSAEINTR || error == WSA_OPERATION_ABORTED) return WSAEINTR;
        return wsa_from_errno(error);
    }
}

int connect(SOCKET s, const sockaddr* name, int namelen) noexcept {
    iocp_last_error_guard guard;
    if (name == nullptr || namelen < 0) return WSAEFAULT;
    if (::connect(s, name, namelen) == 0) return 0;
    const int error = ::WSAGetLastError();
    if (error != WSAEWOULDBLOCK) return wsa_from_errno(error); // a non-blocking (adopted) socket
    if (const int waited = wait_for(s, true); waited != 0) return waited;
    int outcome = 0;
    if (const int result = get_int_option(s, SOL_SOCKET, SO_ERROR, outcome); result != 0)
        return result;
    return wsa_from_errno(outcome);
}

int getsockname(SOCKET s, sockaddr* name, int* namelen) noexcept {
    iocp_last_error_guard guard;
    return get_name(::getsockname, s, name, namelen);
}

int getpeername(SOCKET s, sockaddr* name, int* namelen) noexcept {
    iocp_last_error_guard guard;
    return get_name(::getpeername, s, name, namelen);
}

int shutdown_send(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    return ::shutdown(s, SD_SEND) == 0 ? 0 : last_error();
}

int wake_accept(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    // Best effort. On Windows it is closesocket() that ends a thread blocked in accept() on
    // this listener (accept then fails with WSAEINTR, see accept above), and WSPCloseSocket
    // closes the handle itself once its operations are done; shutdown() on a listener does
    // not wake it (WSAENOTCONN), which is not an error here.
    const int shut = ::shutdown(s, SD_BOTH) == 0 ? 0 : ::WSAGetLastError();
    // wait_ready's overlapped wait, and a blocking send, end when their I/O is cancelled; the
    // socket is being closed, which would cancel every request on it anyway.
    ::CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
    return shut == 0 || shut == WSAENOTCONN ? 0 : wsa_from_errno(shut);
}

int accept_now(SOCKET, SOCKET&) noexcept {
    // Only a reactor backend accepts this way; the IOCP backend uses AcceptEx.
    return WSAEOPNOTSUPP;
}

int connect_now(SOCKET, const sockaddr*, int) noexcept {
    // Only a reactor backend connects this way; the IOCP backend uses ConnectEx.
    return WSAEOPNOTSUPP;
}

int finish_connect(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    return ::setsockopt(s, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) == 0 ? 0
                                                                                   : last_error();
}

bool accept_renumbers() noexcept {
    return false;
}

int take_accepted(SOCKET listener, SOCKET target, SOCKET) noexcept {
    iocp_last_error_guard guard;
    // Without it the accepted socket has no local/peer address for getsockname/getpeername
    // and refuses shutdown().
    if (::setsockopt(target, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                     reinterpret_cast<const char*>(&listener), sizeof listener) == 0)
        return 0;
    return last_error();
}

void discard_accepted(SOCKET) noexcept {}

int address_size(int family) noexcept {
    if (family == AF_INET) return sizeof(sockaddr_in);
    if (family == AF_INET6) return sizeof(sockaddr_in6);
    return 0;
}

int close(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    // Also ends the socket's association with the engine's port.
    return ::closesocket(s) == 0 ? 0 : last_error();
}

void at_fork_child(void (*)()) noexcept {}

std::uint64_t identity(SOCKET) noexcept {
    // Windows has no cheap "which socket is this handle now": unknown (stale.window).
    return 0;
}

int inspect(SOCKET s, socket_facts& facts) noexcept {
    iocp_last_error_guard guard;
    facts = socket_facts{};
    if (iocp_winsock_startup() != 0) return WSAENOTSOCK;
    int type = 0;
    if (get_int_option(s, SOL_SOCKET, SO_TYPE, type) != 0) return WSAENOTSOCK;
    facts.is_stream = type == SOCK_STREAM;
    int value = 0;
    if (get_int_option(s, SOL_SOCKET, SO_ACCEPTCONN, value) == 0) facts.listening = value != 0;

    // No SO_DOMAIN on Windows: the protocol info names the family.
    WSAPROTOCOL_INFOW info{};
    int size = sizeof info;
    if (::getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char*>(&info), &size) == 0)
        facts.family = info.iAddressFamily;

    sockaddr_storage local{};
    int length = sizeof local;
    // An unbound socket: getsockname fails with WSAEINVAL.
    if (::getsockname(s, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
        if (facts.family == 0) facts.family = local.ss_family;
        if (local.ss_family == AF_INET)
            facts.bound = reinterpret_cast<const sockaddr_in&>(local).sin_port != 0;
        else if (local.ss_family == AF_INET6)
            facts.bound = reinterpret_cast<const sockaddr_in6&>(local).sin6_port != 0;
        else // AF_UNIX and others: bound when the name is more than the family
            facts.bound = length > static_cast<int>(sizeof(ADDRESS_FAMILY));
    }
    sockaddr_storage peer{};
    length = sizeof peer;
    facts.connected = ::getpeername(s, reinterpret_cast<sockaddr*>(&peer), &length) == 0;
    return 0;
}

bool keepalive_enabled(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    int value = 0;
    return get_int_option(s, SOL_SOCKET, SO_KEEPALIVE, value) == 0 && value != 0;
}

int pending_error(SOCKET s) noexcept {
    iocp_last_error_guard guard;
    int value = 0;
    if (get_int_option(s, SOL_SOCKET, SO_ERROR, value) != 0) return 0;
    return value == 0 ? 0 : wsa_from_transfer_errno(value);
}

int set_option(SOCKET s, int level, int name, const char* value, int length) noexcept {
    iocp_last_error_guard guard;
    if (length < 0 || (!value && length > 0)) return WSAEFAULT;
    return ::setsockopt(s, level, name, value, length) == 0 ? 0 : last_error();
}

int get_option(SOCKET s, int level, int name, char* value, int* length) noexcept {
    iocp_last_error_guard guard;
    if (!length_ok(value, length)) return WSAEFAULT;
    return ::getsockopt(s, level, name, value, length) == 0 ? 0 : last_error();
}

int prepare(SOCKET) noexcept {
    // Nothing: accepted sockets inherit WSA_FLAG_OVERLAPPED, and attach() associates the port
    // and sets the completion modes.
    return 0;
}

// Not used by the IOCP backend (its start() issues overlapped calls that may finish inline);
// kept for sys.hpp's contract. A socket cannot be non-blocking for one call on Windows, and
// FIONBIO would change it for every caller, so "now" is a zero-time-out select() first: with
// one reader (the engine thread) a readable socket's receive returns without blocking.
int recv_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD flags,
             DWORD& bytes) noexcept {
    iocp_last_error_guard guard;
    if (buffers == nullptr || count == 0) return WSAEINVAL;
    if (!ready_now(s, false)) return WSAEWOULDBLOCK;
    DWORD kernel_flags = flags & MSG_PEEK; // MSG_WAITALL is the core's
    const DWORD n = count < max_request_buffers ? count : max_request_buffers;
    if (::WSARecv(s, const_cast<WSABUF*>(buffers), n, &bytes, &kernel_flags, nullptr, nullptr) == 0)
        return 0;
    return transfer_error(::WSAGetLastError());
}

int send_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD& bytes) noexcept {
    iocp_last_error_guard guard;
    if (buffers == nullptr || count == 0) return WSAEINVAL;
    // Writable means some send-buffer space; a blocking send larger than that may still wait
    // for the peer. Good enough for a path IOCP does not take.
    if (!ready_now(s, true)) return WSAEWOULDBLOCK;
    const DWORD n = count < max_request_buffers ? count : max_request_buffers;
    if (::WSASend(s, const_cast<WSABUF*>(buffers), n, &bytes, 0, nullptr, nullptr) == 0) return 0;
    return transfer_error(::WSAGetLastError());
}

int wait_ready(SOCKET s, bool write) noexcept {
    iocp_last_error_guard guard;
    if (write) return wait_for(s, true);
    // Readable: an overlapped 1-byte MSG_PEEK receive (a zero-byte one may finish at once under
    // Wine), which data, the end or an error completes, and wake_accept's CancelIoEx ends
    // (engine.other-thread.blocking: a close). Not select(): under Wine 8 a shutdown() by
    // another thread does not end a select() on the socket. The event's low bit keeps the
    // completion out of the engine's port.
    const HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (event == nullptr) return wait_for(s, false);
    OVERLAPPED ov{};
    ov.hEvent = reinterpret_cast<HANDLE>(reinterpret_cast<ULONG_PTR>(event) | 1);
    char peeked = 0;
    WSABUF one{1, &peeked};
    DWORD bytes = 0;
    DWORD flags = MSG_PEEK;
    int result = 0;
    if (::WSARecv(s, &one, 1, &bytes, &flags, &ov, nullptr) != 0) {
        result = ::WSAGetLastError();
        if (result == WSA_IO_PENDING) {
            ::WaitForSingleObject(event, INFINITE);
            result =
                ::WSAGetOverlappedResult(s, &ov, &bytes, FALSE, &flags) ? 0 : ::WSAGetLastError();
        }
    }
    ::CloseHandle(event);
    if (result == 0) return 0;
    if (result == WSA_OPERATION_ABORTED) return WSA_OPERATION_ABORTED;
    return wsa_from_transfer_errno(result);
}

} // namespace sanport::detail::sys

// cq.readiness: a completion port is not a documented waitable object (WaitForSingleObject on
// one is unspecified), so Windows offers no readiness handle; dequeue() is the way in there.
namespace sanport::detail::sys {
int signal_open(int&) noexcept {
    return WSAEOPNOTSUPP;
}
void signal_raise(int) noexcept {}
void signal_clear(int) noexcept {}
int deadline_open(int&) noexcept {
    return WSAEOPNOTSUPP;
}
void deadline_arm(int, std::int64_t) noexcept {}
void deadline_clear(int) noexcept {}
int set_open(int&) noexcept {
    return WSAEOPNOTSUPP;
}
int set_add(int, int) noexcept {
    return WSAEOPNOTSUPP;
}
void close_descriptor(int) noexcept {}
} // namespace sanport::detail::sys
