// SPDX-License-Identifier: MIT
// core/sys.hpp on POSIX: the synchronous socket calls, each returning 0 or a WSA code.
//
// Invariants: sockets are made with SOCK_CLOEXEC and stay blocking; every call restores the
// caller's errno; address lengths are Winsock ints, checked before they become socklen_t.

#include "core/backend.hpp"
#include "core/sys.hpp"

#include <sanport/compat.h>

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace sanport::detail::sys {

namespace {

// "none touches errno for the caller"
class errno_guard {
public:
    errno_guard() noexcept : saved_(errno) {}
    ~errno_guard() { errno = saved_; }
    errno_guard(const errno_guard&) = delete;
    errno_guard& operator=(const errno_guard&) = delete;

private:
    int saved_;
};

int fd_of(SOCKET s) noexcept {
    return s > static_cast<SOCKET>(INT_MAX) ? -1 : static_cast<int>(s);
}

int last_error() noexcept {
    return wsa_from_errno(errno);
}

// Waits (no time limit) until fd reports one of `events`; 0 or an errno.
int wait_for(int fd, short events) noexcept {
    pollfd p{fd, events, 0};
    for (;;) {
        if (::poll(&p, 1, -1) >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

// Winsock lengths are ints: a negative one, or a null pointer with a length, is WSAEFAULT.
bool length_ok(const void* name, const int* namelen) noexcept {
    return name != nullptr && namelen != nullptr && *namelen >= 0;
}

int get_int_option(int fd, int level, int option, int& value) noexcept {
    socklen_t size = sizeof value;
    if (::getsockopt(fd, level, option, &value, &size) == 0) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

using name_call = int (*)(int, sockaddr*, socklen_t*);

int get_name(name_call call, SOCKET s, sockaddr* name, int* namelen) noexcept {
    if (!length_ok(name, namelen)) return WSAEFAULT;
    socklen_t size = static_cast<socklen_t>(*namelen);
    if (call(fd_of(s), name, &size) != 0) return errno == EBADF ? WSAENOTSOCK : last_error();
    // Winsock refuses a buffer too small for the address; Linux would truncate silently.
    if (size > static_cast<socklen_t>(*namelen)) return WSAEFAULT;
    *namelen = static_cast<int>(size);
    return 0;
}

// The smallest buffer an accepted peer address of this family needs (Winsock: WSAEFAULT).
socklen_t peer_address_size(int fd) noexcept {
    int family = 0;
    if (get_int_option(fd, SOL_SOCKET, SO_DOMAIN, family) != 0) return 0;
    if (family == AF_INET) return sizeof(sockaddr_in);
    if (family == AF_INET6) return sizeof(sockaddr_in6);
    return 0;
}

// The op's buffers are already iovecs (kernel_buffer has their layout): at most
// max_request_buffers of them (the kernel's IOV_MAX). Callers pass no more: a longer array
// just moves fewer bytes, which a stream transfer may always do.
static_assert(sizeof(kernel_buffer) == sizeof(iovec) &&
                  offsetof(kernel_buffer, buf) == offsetof(iovec, iov_base) &&
                  offsetof(kernel_buffer, len) == offsetof(iovec, iov_len),
              "kernel_buffer is laid out as struct iovec");
msghdr message_of(const kernel_buffer* buffers, DWORD count) noexcept {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(reinterpret_cast<const iovec*>(buffers));
    msg.msg_iovlen = count < max_request_buffers ? count : max_request_buffers;
    return msg;
}

// Receive/send failures use the transfer table (as the io_uring path does), except "nothing
// now", which only these non-blocking calls can see.
int transfer_error(int sys_error) noexcept {
    if (sys_error == EAGAIN || sys_error == EWOULDBLOCK) return WSAEWOULDBLOCK;
    if (sys_error == EBADF || sys_error == ENOTSOCK) return WSAENOTSOCK;
    return wsa_from_transfer_errno(sys_error);
}

} // namespace

int open_socket(int af, int type, int protocol, SOCKET& out) noexcept {
    errno_guard guard;
    const int fd = ::socket(af, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) return last_error();
    out = static_cast<SOCKET>(fd);
    return 0;
}

int bind(SOCKET s, const sockaddr* name, int namelen) noexcept {
    errno_guard guard;
    if (name == nullptr || namelen < 0) return WSAEFAULT;
    if (::bind(fd_of(s), name, static_cast<socklen_t>(namelen)) == 0) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

int listen(SOCKET s, int backlog) noexcept {
    errno_guard guard;
    if (::listen(fd_of(s), backlog) == 0) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

int accept(SOCKET s, sockaddr* addr, int* addrlen, SOCKET& out) noexcept {
    errno_guard guard;
    const int fd = fd_of(s);
    socklen_t size = 0;
    socklen_t* size_ptr = nullptr;
    if (addr != nullptr) { // Winsock ignores addrlen when addr is null
        if (!length_ok(addr, addrlen)) return WSAEFAULT;
        // Checked before accepting: refusing afterwards would drop a connection.
        if (static_cast<socklen_t>(*addrlen) < peer_address_size(fd)) return WSAEFAULT;
        size = static_cast<socklen_t>(*addrlen);
        size_ptr = &size;
    }
    for (;;) {
        const int accepted = ::accept4(fd, addr, size_ptr, SOCK_CLOEXEC);
        if (accepted >= 0) {
            if (addr != nullptr) *addrlen = static_cast<int>(size);
            out = static_cast<SOCKET>(accepted);
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) { // a non-blocking (adopted) listener
            if (const int waited = wait_for(fd, POLLIN); waited != 0) return wsa_from_errno(waited);
            continue;
        }
        return errno == EBADF ? WSAENOTSOCK : last_error();
    }
}

int connect(SOCKET s, const sockaddr* name, int namelen) noexcept {
    errno_guard guard;
    if (name == nullptr || namelen < 0) return WSAEFAULT;
    const int fd = fd_of(s);
    if (::connect(fd, name, static_cast<socklen_t>(namelen)) == 0) return 0;
    // EINTR: the kernel goes on connecting in the background, as for EINPROGRESS.
    if (errno != EINPROGRESS && errno != EINTR) return errno == EBADF ? WSAENOTSOCK : last_error();
    if (const int waited = wait_for(fd, POLLOUT); waited != 0) return wsa_from_errno(waited);
    int outcome = 0;
    if (const int result = get_int_option(fd, SOL_SOCKET, SO_ERROR, outcome); result != 0)
        return result;
    return wsa_from_errno(outcome);
}

int getsockname(SOCKET s, sockaddr* name, int* namelen) noexcept {
    errno_guard guard;
    return get_name(::getsockname, s, name, namelen);
}

int getpeername(SOCKET s, sockaddr* name, int* namelen) noexcept {
    errno_guard guard;
    return get_name(::getpeername, s, name, namelen);
}

int shutdown_send(SOCKET s) noexcept {
    errno_guard guard;
    if (::shutdown(fd_of(s), SHUT_WR) == 0) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

int wake_accept(SOCKET s) noexcept {
    errno_guard guard;
    // close() does not wake a thread blocked in accept() on Linux; shutdown() does: accept4()
    // (and a poll() on the listener) return at once and the accept fails with EINVAL.
    if (::shutdown(fd_of(s), SHUT_RDWR) == 0 || errno == ENOTCONN) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

namespace {

// O_NONBLOCK on, once (accept_now, connect_now): 0 or the WSA code. errno: the caller's guard.
int make_nonblocking(int fd) noexcept {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0) return errno == EBADF ? WSAENOTSOCK : last_error();
    if ((fl & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return last_error();
    return 0;
}

} // namespace

int accept_now(SOCKET listener, SOCKET& out) noexcept {
    errno_guard guard;
    const int fd = fd_of(listener);
    // accept4 has no per-call "don't wait": the listener itself becomes non-blocking, which
    // accept() above already handles by waiting for readiness.
    if (const int wsa = make_nonblocking(fd)) return wsa;
    for (;;) {
        const int accepted = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (accepted >= 0) {
            out = static_cast<SOCKET>(accepted);
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return WSAEWOULDBLOCK;
        return errno == EBADF ? WSAENOTSOCK : last_error();
    }
}

int connect_now(SOCKET s, const sockaddr* name, int namelen) noexcept {
    errno_guard guard;
    const int fd = fd_of(s);
    if (const int wsa = make_nonblocking(fd)) return wsa;
    // Asked again after readiness: EISCONN is the success, the failure comes back once.
    for (;;) {
        if (::connect(fd, name, static_cast<socklen_t>(namelen)) == 0 || errno == EISCONN) return 0;
        if (errno == EINTR) continue;
        if (errno == EINPROGRESS || errno == EALREADY) return WSAEWOULDBLOCK;
        return errno == EBADF ? WSAENOTSOCK : last_error();
    }
}

int finish_connect(SOCKET) noexcept {
    return 0;
}

bool accept_renumbers() noexcept {
    return true;
}

int take_accepted(SOCKET, SOCKET target, SOCKET accepted) noexcept {
    errno_guard guard;
    int r = 0;
    while ((r = ::dup3(fd_of(accepted), fd_of(target), O_CLOEXEC)) < 0 && errno == EINTR) {
    }
    const int wsa = r < 0 ? (errno == EBADF ? WSAENOTSOCK : last_error()) : 0;
    ::close(fd_of(accepted)); // the connection lives on under target's number, or is refused
    return wsa;
}

void discard_accepted(SOCKET accepted) noexcept {
    errno_guard guard;
    ::close(fd_of(accepted));
}

int address_size(int family) noexcept {
    if (family == AF_INET) return sizeof(sockaddr_in);
    if (family == AF_INET6) return sizeof(sockaddr_in6);
    return 0;
}

int close(SOCKET s) noexcept {
    errno_guard guard;
    if (::close(fd_of(s)) == 0) return 0;
    // On Linux the descriptor is released even when close reports EINTR: never retry it.
    if (errno == EINTR) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

void at_fork_child(void (*handler)()) noexcept {
    ::pthread_atfork(nullptr, nullptr, handler);
}

std::uint64_t identity(SOCKET s) noexcept {
    errno_guard guard;
    // Every socket lives on sockfs, so its inode number alone names it while it is open.
    struct stat st {};
    if (::fstat(fd_of(s), &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
    return static_cast<std::uint64_t>(st.st_ino);
}

int inspect(SOCKET s, socket_facts& facts) noexcept {
    errno_guard guard;
    const int fd = fd_of(s);
    facts = socket_facts{};
    int type = 0;
    if (get_int_option(fd, SOL_SOCKET, SO_TYPE, type) != 0) return WSAENOTSOCK;
    facts.is_stream = type == SOCK_STREAM;
    int value = 0;
    if (get_int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, value) == 0) facts.listening = value != 0;
    if (get_int_option(fd, SOL_SOCKET, SO_DOMAIN, value) == 0) facts.family = value;

    sockaddr_storage local{};
    socklen_t size = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
        if (local.ss_family == AF_INET)
            facts.bound = reinterpret_cast<const sockaddr_in&>(local).sin_port != 0;
        else if (local.ss_family == AF_INET6)
            facts.bound = reinterpret_cast<const sockaddr_in6&>(local).sin6_port != 0;
        else // AF_UNIX and others: bound when the name is more than the family
            facts.bound = size > sizeof(sa_family_t);
    }
    sockaddr_storage peer{};
    size = sizeof peer;
    facts.connected = ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) == 0;
    return 0;
}

bool keepalive_enabled(SOCKET s) noexcept {
    errno_guard guard;
    int value = 0;
    return get_int_option(fd_of(s), SOL_SOCKET, SO_KEEPALIVE, value) == 0 && value != 0;
}

int pending_error(SOCKET s) noexcept {
    errno_guard guard;
    int value = 0;
    if (get_int_option(fd_of(s), SOL_SOCKET, SO_ERROR, value) != 0) return 0;
    return value == 0 ? 0 : wsa_from_transfer_errno(value);
}

int set_option(SOCKET s, int level, int name, const char* value, int length) noexcept {
    errno_guard guard;
    if (length < 0 || (!value && length > 0)) return WSAEFAULT;
    if (::setsockopt(fd_of(s), level, name, value, static_cast<socklen_t>(length)) == 0) return 0;
    return errno == EBADF ? WSAENOTSOCK : last_error();
}

int get_option(SOCKET s, int level, int name, char* value, int* length) noexcept {
    errno_guard guard;
    if (!length_ok(value, length)) return WSAEFAULT;
    socklen_t size = static_cast<socklen_t>(*length);
    if (::getsockopt(fd_of(s), level, name, value, &size) != 0)
        return errno == EBADF ? WSAENOTSOCK : last_error();
    *length = static_cast<int>(size);
    return 0;
}

int prepare(SOCKET) noexcept {
    // Nothing: io_uring needs no socket option, and sockets stay blocking (accept4 already
    // set SOCK_CLOEXEC).
    return 0;
}

namespace {

// One nonblocking transfer call, made again after EINTR. 0 with `bytes` set, or the WSA code.
template <class Call> int transfer_once(Call&& call, DWORD& bytes) noexcept {
    for (;;) {
        const ssize_t n = call();
        if (n >= 0) {
            bytes = static_cast<DWORD>(n);
            return 0;
        }
        if (errno != EINTR) return transfer_error(errno);
    }
}

} // namespace

int recv_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD flags,
             DWORD& bytes) noexcept {
    errno_guard guard;
    if (buffers == nullptr || count == 0) return WSAEINVAL;
    // Only MSG_PEEK reaches the kernel: MSG_WAITALL is the core's, MSG_OOB is refused there.
    const int kernel_flags = static_cast<int>(flags & MSG_PEEK) | MSG_DONTWAIT | MSG_NOSIGNAL;
    const int fd = fd_of(s);
    if (count == 1) // recv(2): no msghdr to build, no iovec array to fill
        return transfer_once(
            [&] { return ::recv(fd, buffers[0].buf, buffers[0].len, kernel_flags); }, bytes);
    msghdr msg = message_of(buffers, count);
    return transfer_once([&] { return ::recvmsg(fd, &msg, kernel_flags); }, bytes);
}

int send_now(SOCKET s, const kernel_buffer* buffers, DWORD count, DWORD& bytes) noexcept {
    errno_guard guard;
    if (buffers == nullptr || count == 0) return WSAEINVAL;
    const int kernel_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    const int fd = fd_of(s);
    if (count == 1) // send(2): as recv_now
        return transfer_once(
            [&] { return ::send(fd, buffers[0].buf, buffers[0].len, kernel_flags); }, bytes);
    const msghdr msg = message_of(buffers, count);
    return transfer_once([&] { return ::sendmsg(fd, &msg, kernel_flags); }, bytes);
}

int wait_ready(SOCKET s, bool write) noexcept {
    errno_guard guard;
    // shutdown(SHUT_RDWR) wakes a poll on a connected socket (POLLIN|POLLOUT|POLLHUP).
    if (const int waited = wait_for(fd_of(s), write ? POLLOUT : POLLIN); waited != 0)
        return wsa_from_errno(waited);
    return 0;
}

} // namespace sanport::detail::sys
