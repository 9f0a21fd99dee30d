// SPDX-License-Identifier: MIT
// The second, non-virtual seam: the synchronous socket calls the core needs. Each returns 0 or
// a WSA code (through compat's one errno table); none touches errno for the caller. Defined per
// platform by the file list: backends/posix/posix_sys.cpp (both Linux backends) and
// backends/iocp/iocp_sys.cpp (Windows).
#pragma once

#include <sanport/compat.h>

#include <cstdint>

struct sockaddr;

namespace sanport::detail::sys {

// What adoption needs to know about an OS socket.
struct socket_facts {
    bool is_stream = false; // SOCK_STREAM
    bool listening = false; // SO_ACCEPTCONN
    bool bound = false;     // has a local address with a non-zero port
    bool connected = false; // has a peer
    int family = 0;
};

int open_socket(int af, int type, int protocol, SOCKET& out) noexcept;
int bind(SOCKET s, const sockaddr* name, int namelen) noexcept;
int listen(SOCKET s, int backlog) noexcept;
// Blocking accept (retries EINTR; waits for readiness if the socket is non-blocking).
int accept(SOCKET s, sockaddr* addr, int* addrlen, SOCKET& out) noexcept;
// Overlapped accept (accept.*): one attempt that never waits. 0 with `out` set, WSAEWOULDBLOCK
// when no connection is waiting, or the code. Turns O_NONBLOCK on for the listener (accept()
// above still waits).
int accept_now(SOCKET listener, SOCKET& out) noexcept;
// Whether an accept makes a new descriptor that takes the accept socket's number (Linux: the
// backend detaches the old socket before take_accepted and attaches the new one after), or
// the accept socket itself becomes the connection (Windows' AcceptEx).
bool accept_renumbers() noexcept;
// Makes `target` the connection an accept request produced. Linux: `accepted` takes target's
// number (dup3) and is closed. Windows: updates target's accept context. On failure
// `accepted` is closed.
int take_accepted(SOCKET listener, SOCKET target, SOCKET accepted) noexcept;
// Overlapped connect (connect.*) on a reactor backend: starts or continues a connect without
// waiting. 0 once connected, WSAEWOULDBLOCK while it is under way, or the code (the
// refusal, once). Turns O_NONBLOCK on for s.
int connect_now(SOCKET s, const sockaddr* name, int namelen) noexcept;
// After an overlapped connect succeeded: Windows' SO_UPDATE_CONNECT_CONTEXT (without it the
// socket refuses shutdown and getpeername); nothing on Linux.
int finish_connect(SOCKET s) noexcept;
// The size of the family's socket address (sockaddr_in, sockaddr_in6), 0 for another family.
int address_size(int family) noexcept;
// Closes what an accept request produced that no socket takes (Linux); nothing on Windows.
void discard_accepted(SOCKET accepted) noexcept;
// Blocking connect (waits for completion if the socket is non-blocking).
int connect(SOCKET s, const sockaddr* name, int namelen) noexcept;
int getsockname(SOCKET s, sockaddr* name, int* namelen) noexcept;
int getpeername(SOCKET s, sockaddr* name, int* namelen) noexcept;
int shutdown_send(SOCKET s) noexcept; // SHUT_WR; sanport never passes SHUT_RD to the kernel
// Wakes a thread blocked in accept() on a listening socket, or in wait_ready on a connected
// one, that is being closed.
int wake_accept(SOCKET s) noexcept;
int close(SOCKET s) noexcept;
int inspect(SOCKET s, socket_facts& facts) noexcept; // WSAENOTSOCK if s is no socket
// Which socket the handle names now (stale.window): equal values mean the same socket; 0 when
// the handle is closed or the platform cannot tell (Windows), so 0 proves nothing.
std::uint64_t identity(SOCKET s) noexcept;
bool keepalive_enabled(SOCKET s) noexcept; // SO_KEEPALIVE is on
// The socket's pending error (SO_ERROR, which reading clears) as a receive's WSA code, 0 when
// none: a reset that came after the peer's end of stream (recv.peer.reset-after-end).
int pending_error(SOCKET s) noexcept;
// setsockopt/getsockopt passed through with the platform's levels and names (WSPSetSockOpt,
// WSPGetSockOpt of the proc table; ported code names options, never numbers).
int set_option(SOCKET s, int level, int name, const char* value, int length) noexcept;
int get_option(SOCKET s, int level, int name, char* value, int* length) noexcept;
// Make accepted/connected sockets suitable for the backends (e.g. TCP_NODELAY off, nothing).
int prepare(SOCKET s) noexcept;
// Receive or send on the calling thread without blocking: bytes moved, or a WSA code with
// WSAEWOULDBLOCK meaning "nothing now". Used for the inline paths of reactor backends.
int recv_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD flags,
             DWORD& bytes) noexcept;
int send_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD& bytes) noexcept;
// Waits, with no time limit, until s is readable (write: writable), failed or shut down; 0 or a
// WSA code. wake_accept ends the wait (engine.other-thread.blocking: a close).
int wait_ready(SOCKET s, bool write) noexcept;
// fork.child: has handler run in the child of every later fork(), on its one thread, before
// fork() returns there (pthread_atfork). Called once per process. Windows has no fork: no-op.
void at_fork_child(void (*handler)()) noexcept;

// cq.readiness: what an event loop waits on (Linux: eventfd, timerfd, epoll, each
// non-blocking and close-on-exec). Windows has no such descriptor for a completion port: each
// call there fails with WSAEOPNOTSUPP.
// A signal: readable from raise() until clear().
int signal_open(int& fd) noexcept;
void signal_raise(int fd) noexcept;
void signal_clear(int fd) noexcept;
// A deadline: readable from the steady-clock time deadline_ns (disarmed: never) until clear().
int deadline_open(int& fd) noexcept;
void deadline_arm(int fd, std::int64_t deadline_ns) noexcept; // <= 0 or INT64_MAX: disarm
void deadline_clear(int fd) noexcept;
// A set: readable while any descriptor added to it is (level-triggered inside).
int set_open(int& fd) noexcept;
int set_add(int set, int fd) noexcept;
void close_descriptor(int fd) noexcept;
} // namespace sanport::detail::sys
