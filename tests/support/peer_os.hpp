// SPDX-License-Identifier: MIT
// The OS shim of the test support (private to loopback.cpp): the few calls on plain sockets
// (the peers, the POSIX listener, and a sanport SOCKET seen as the OS socket it is) that differ
// between POSIX and Winsock, so loopback.cpp itself has no platform #if.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "loopback.hpp"

#ifdef _WIN32
#include <winsock2.h>

#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>
#endif

namespace sanport::test::os {

#ifdef _WIN32
// The last socket error: WSAGetLastError's code (the same numbers as sanport's WSA codes).
inline int last_error() {
    return WSAGetLastError();
}
inline bool interrupted(int code) {
    return code == WSAEINTR;
}
inline bool would_block(int code) {
    return code == WSAEWOULDBLOCK;
}
inline std::string errno_text(const char* what) {
    return std::string(what) + ": " + wsa_name(WSAGetLastError());
}
// Winsock sockets are not inherited by child processes unless asked for: no CLOEXEC needed.
inline peer_socket new_socket(int family) {
    return ::socket(family, SOCK_STREAM, IPPROTO_TCP);
}
inline peer_socket accept_socket(peer_socket listener) {
    return ::accept(listener, nullptr, nullptr);
}
inline void close_socket_now(peer_socket fd) {
    ::closesocket(fd);
}
inline int os_poll(peer_socket fd, short events, int timeout_ms) {
    WSAPOLLFD p{};
    p.fd = fd;
    p.events = events;
    return ::WSAPoll(&p, 1, timeout_ms);
}
// Winsock has no MSG_DONTWAIT: the peers the helpers hand out (accept_one, make_pair) are made
// non-blocking once, with set_nonblocking.
inline long long peer_send(peer_socket fd, const char* data, std::size_t n) {
    int len = static_cast<int>(std::min<std::size_t>(n, 1u << 20));
    return ::send(fd, data, len, 0);
}
inline long long peer_recv(peer_socket fd, char* data, std::size_t n) {
    int len = static_cast<int>(std::min<std::size_t>(n, 1u << 20));
    return ::recv(fd, data, len, 0);
}
inline void set_nonblocking(peer_socket fd) {
    u_long on = 1;
    ::ioctlsocket(fd, FIONBIO, &on);
}
// FIONREAD, or -1.
inline long unread_bytes(peer_socket fd) {
    u_long n = 0;
    if (::ioctlsocket(fd, FIONREAD, &n) != 0) return -1;
    return static_cast<long>(n);
}
inline bool is_open_socket(peer_socket fd) {
    int type = 0;
    int len = sizeof type;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) == 0;
}
inline constexpr int shut_write = SD_SEND;
inline constexpr int shut_both = SD_BOTH;
#else
inline int last_error() {
    return errno;
}
inline bool interrupted(int code) {
    return code == EINTR;
}
inline bool would_block(int code) {
    return code == EAGAIN || code == EWOULDBLOCK;
}
inline std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}
inline peer_socket new_socket(int family) {
    return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
}
inline peer_socket accept_socket(peer_socket listener) {
    return ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
}
inline void close_socket_now(peer_socket fd) {
    ::close(fd);
}
inline int os_poll(peer_socket fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, timeout_ms);
}
inline long long peer_send(peer_socket fd, const char* data, std::size_t n) {
    return ::send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}
inline long long peer_recv(peer_socket fd, char* data, std::size_t n) {
    return ::recv(fd, data, n, MSG_DONTWAIT);
}
inline void set_nonblocking(peer_socket) {} // MSG_DONTWAIT does it per call
inline long unread_bytes(peer_socket fd) {
    int n = 0;
    if (::ioctl(fd, FIONREAD, &n) != 0) return -1;
    return n;
}
inline bool is_open_socket(peer_socket fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}
inline constexpr int shut_write = SHUT_WR;
inline constexpr int shut_both = SHUT_RDWR;
#endif

// setsockopt with an int value; Winsock takes the value as const char*, POSIX as const void*.
inline bool set_int_option(peer_socket fd, int level, int name, int value) {
    return ::setsockopt(fd, level, name, reinterpret_cast<const char*>(&value), sizeof value) == 0;
}

} // namespace sanport::test::os
