// SPDX-License-Identifier: MIT
// Plain OS socket pairs for the unit tests (see os_pair.hpp).
#include "tests/support/os_pair.hpp"

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

namespace sanport::test {

#ifdef _WIN32

bool make_os_pair(SOCKET& a, SOCKET& b) {
    SOCKET listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof addr;
    bool ok = bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              listen(listener, 1) == 0 &&
              getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    a = b = INVALID_SOCKET;
    if (ok) {
        // Overlapped OS sockets, as the IOCP backend needs for the one it adopts.
        a = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
        ok =
            a != INVALID_SOCKET && connect(a, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    if (ok) {
        b = accept(listener, nullptr, nullptr);
        ok = b != INVALID_SOCKET;
    }
    closesocket(listener);
    if (!ok) {
        if (a != INVALID_SOCKET) closesocket(a);
        if (b != INVALID_SOCKET) closesocket(b);
    }
    return ok;
}

void close_os_socket(SOCKET s) {
    closesocket(s);
}

bool set_keepalive(SOCKET s, bool on) {
    const BOOL value = on ? TRUE : FALSE;
    return setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, reinterpret_cast<const char*>(&value),
                      sizeof value) == 0;
}

#else

bool make_os_pair(SOCKET& a, SOCKET& b) {
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return false;
    a = static_cast<SOCKET>(fds[0]);
    b = static_cast<SOCKET>(fds[1]);
    return true;
}

void close_os_socket(SOCKET s) {
    ::close(static_cast<int>(s));
}

bool tcp_pair(int& mine, int& peer) {
    mine = peer = -1;
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    bool ok = ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
              ::listen(lfd, 4) == 0 &&
              ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) == 0;
    if (ok) {
        peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = peer >= 0 && ::connect(peer, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    if (ok) {
        pollfd p{lfd, POLLIN, 0};
        ok = ::poll(&p, 1, 5000) == 1;
        if (ok) mine = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        ok = mine >= 0;
    }
    ::close(lfd);
    if (!ok) {
        if (peer >= 0) ::close(peer);
        if (mine >= 0) ::close(mine);
        mine = peer = -1;
        return false;
    }
    const int one = 1;
    ::setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return true;
}

bool set_keepalive(SOCKET s, bool on) {
    const int value = on ? 1 : 0;
    return ::setsockopt(static_cast<int>(s), SOL_SOCKET, SO_KEEPALIVE, &value, sizeof value) == 0;
}

#endif

} // namespace sanport::test
