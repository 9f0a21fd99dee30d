// SPDX-License-Identifier: MIT
// The bad-input table (docs/bad-input.md) for WSPAcceptEx and WSPConnectEx: each refused at
// once with the code Windows' AcceptEx or ConnectEx gives, nothing posted (the rig's destructor
// shows the listener still accepts, the socket still connects).
#include "bad_input.hpp"

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <vector>

using namespace sanport;
using namespace sanport::test;
using namespace sanport::test::bad_input;

namespace {

constexpr DWORD block = sizeof(sockaddr_in6) + 16;

SOCKET fresh() {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, wsa_name(err));
    return s;
}

// A listener, an accept socket and an output buffer; the destructor checks that the listener
// still takes a connection into the accept socket, so a refused call left nothing behind.
struct accept_rig {
    sanport_listener l;
    SOCKET target = fresh();
    std::vector<char> output = std::vector<char>(2 * block);
    overlapped_op o{{1}};
    DWORD bytes = 0;
    int err = 0;

    int call(SOCKET listener, SOCKET into, void* out, DWORD receive, DWORD local, DWORD remote,
             WSAOVERLAPPED* ov) {
        err = 0;
        return WSPAcceptEx(listener, into, out, receive, local, remote, &bytes, ov, &err);
    }
    std::string code(SOCKET listener, SOCKET into, void* out, DWORD receive, DWORD local,
                     DWORD remote, WSAOVERLAPPED* ov) {
        CHECK(call(listener, into, out, receive, local, remote, ov) == SOCKET_ERROR);
        return wsa_name(err);
    }
    std::string code_with(SOCKET into) {
        return code(l.s, into, output.data(), 0, block, block, &o.ov());
    }
    ~accept_rig() {
        CHECK_FALSE(o.event_signalled());
        const int rc = call(l.s, target, output.data(), 0, block, block, &o.ov());
        CHECK((rc == 0 || err == WSA_IO_PENDING));
        peer_socket client = posix_connect(l.address, l.address_len);
        CHECK(o.wait());
        CHECK(o.result(l.s).ok == TRUE);
        peer_close(client);
        int e = 0;
        WSPCloseSocket(target, &e);
    }
};

} // namespace

BAD_INPUT("accept.listener.garbage", "a listener value no socket has is WSAENOTSOCK") {
    accept_rig r;
    CHECK(r.code(garbage_socket, r.target, r.output.data(), 0, block, block, &r.o.ov()) ==
          "WSAENOTSOCK");
}

BAD_INPUT("accept.listener.not-listening", "a socket that does not listen is WSAEINVAL") {
    accept_rig r;
    SOCKET other = fresh();
    CHECK(r.code(other, r.target, r.output.data(), 0, block, block, &r.o.ov()) == "WSAEINVAL");
    int e = 0;
    WSPCloseSocket(other, &e);
}

BAD_INPUT("accept.overlapped.null", "lpOverlapped NULL is WSA_INVALID_PARAMETER") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, block, block, nullptr) ==
          "WSA_INVALID_PARAMETER");
}

BAD_INPUT("accept.target.garbage", "an accept socket value no socket has is WSAENOTSOCK") {
    accept_rig r;
    CHECK(r.code_with(garbage_socket) == "WSAENOTSOCK");
}

BAD_INPUT("accept.target.listener", "the listener as its own accept socket is WSAEINVAL") {
    accept_rig r;
    CHECK(r.code_with(r.l.s) == "WSAEINVAL");
}

BAD_INPUT("accept.target.bound", "a bound accept socket is WSAEINVAL") {
    accept_rig r;
    SOCKET bound = fresh();
    int len = 0;
    int err = 0;
    sockaddr_storage any = loopback_address(AF_INET, 0, &len);
    REQUIRE(WSPBind(bound, reinterpret_cast<sockaddr*>(&any), len, &err) == 0);
    CHECK(r.code_with(bound) == "WSAEINVAL");
    WSPCloseSocket(bound, &err);
}

BAD_INPUT("accept.target.connected", "a connected accept socket is WSAEINVAL") {
    accept_rig r;
    loopback_pair p = make_pair();
    CHECK(r.code_with(p.s) == "WSAEINVAL");
}

BAD_INPUT("accept.target.waiting", "an accept socket that already waits for a connection is "
                                   "WSAEINVAL") {
    sanport_listener l;
    SOCKET target = fresh();
    std::vector<char> output(2 * block);
    overlapped_op first({1}), second({1});
    DWORD bytes = 0;
    int err = 0;
    REQUIRE(WSPAcceptEx(l.s, target, output.data(), 0, block, block, &bytes, &first.ov(), &err) ==
            SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    CHECK(WSPAcceptEx(l.s, target, output.data(), 0, block, block, &bytes, &second.ov(), &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK_FALSE(second.event_signalled());
    peer_socket client = posix_connect(l.address, l.address_len);
    CHECK(first.wait());
    CHECK(first.result(l.s).ok == TRUE);
    CHECK_FALSE(second.event_signalled());
    peer_close(client);
    WSPCloseSocket(target, &err);
}

BAD_INPUT("accept.buffer.null", "lpOutputBuffer NULL is WSAEFAULT") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, nullptr, 0, block, block, &r.o.ov()) == "WSAEFAULT");
}

BAD_INPUT("accept.addresses.small", "a remote address length of 0, or a local one below the "
                                    "family's address + 16, is WSAEFAULT") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, block, 0, &r.o.ov()) == "WSAEFAULT");
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, sizeof(sockaddr_in) + 15, block, &r.o.ov()) ==
          "WSAEFAULT");
}

BAD_INPUT("accept.receive-data.large", "dwReceiveDataLength above 2^31 - 1 is WSAEINVAL") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0x80000000u, block, block, &r.o.ov()) ==
          "WSAEINVAL");
}

BAD_INPUT("accept.errno.null", "lpErrno NULL returns SOCKET_ERROR and posts nothing") {
    accept_rig r;
    CHECK(WSPAcceptEx(r.l.s, r.target, r.output.data(), 0, block, block, &r.bytes, &r.o.ov(),
                      nullptr) == SOCKET_ERROR);
}

namespace {

SOCKET socket_for_connect(bool bind) {
    SOCKET s = fresh();
    if (bind) {
        int len = 0;
        int err = 0;
        sockaddr_storage any = loopback_address(AF_INET, 0, &len);
        REQUIRE(WSPBind(s, reinterpret_cast<sockaddr*>(&any), len, &err) == 0);
    }
    return s;
}

// A bound socket, a listener to connect to; the destructor checks that the socket still
// connects, so a refused call left nothing behind.
struct connect_rig {
    posix_listener l;
    SOCKET s = socket_for_connect(true);
    overlapped_op o{{1}};
    DWORD bytes = 0;
    int err = 0;

    std::string code(SOCKET on, const void* name, int namelen, void* data, DWORD length,
                     WSAOVERLAPPED* ov) {
        err = 0;
        CHECK(WSPConnectEx(on, static_cast<const sockaddr*>(name), namelen, data, length, &bytes,
                           ov, &err) == SOCKET_ERROR);
        return wsa_name(err);
    }
    std::string code_on(SOCKET on) {
        return code(on, &l.address, l.address_len, nullptr, 0, &o.ov());
    }
    ~connect_rig() {
        CHECK_FALSE(o.event_signalled());
        const int rc = WSPConnectEx(s, reinterpret_cast<const sockaddr*>(&l.address), l.address_len,
                                    nullptr, 0, &bytes, &o.ov(), &err);
        CHECK((rc == 0 || err == WSA_IO_PENDING));
        CHECK(o.wait());
        CHECK(o.result(s).ok == TRUE);
        WSPCloseSocket(s, &err);
    }
};

} // namespace

BAD_INPUT("connectex.s.garbage", "a value no socket has is WSAENOTSOCK") {
    connect_rig r;
    CHECK(r.code_on(garbage_socket) == "WSAENOTSOCK");
}

BAD_INPUT("connectex.overlapped.null", "lpOverlapped NULL is WSA_INVALID_PARAMETER") {
    connect_rig r;
    CHECK(r.code(r.s, &r.l.address, r.l.address_len, nullptr, 0, nullptr) ==
          "WSA_INVALID_PARAMETER");
}

BAD_INPUT("connectex.not-bound", "a socket never bound is WSAEINVAL") {
    connect_rig r;
    SOCKET fresh = socket_for_connect(false);
    CHECK(r.code_on(fresh) == "WSAEINVAL");
    int err = 0;
    WSPCloseSocket(fresh, &err);
}

BAD_INPUT("connectex.listening", "a listening socket is WSAEINVAL") {
    connect_rig r;
    sanport_listener other;
    CHECK(r.code_on(other.s) == "WSAEINVAL");
}

BAD_INPUT("connectex.connected", "a connected socket is WSAEISCONN") {
    connect_rig r;
    loopback_pair p = make_pair();
    CHECK(r.code_on(p.s) == "WSAEISCONN");
}

BAD_INPUT("connectex.name.null", "name NULL is WSAEFAULT") {
    connect_rig r;
    CHECK(r.code(r.s, nullptr, r.l.address_len, nullptr, 0, &r.o.ov()) == "WSAEFAULT");
}

BAD_INPUT("connectex.namelen.short", "namelen below the family's address size is WSAEFAULT") {
    connect_rig r;
    CHECK(r.code(r.s, &r.l.address, sizeof(sockaddr_in) - 1, nullptr, 0, &r.o.ov()) == "WSAEFAULT");
}

BAD_INPUT("connectex.send-buffer.null", "lpSendBuffer NULL with a length is WSAEFAULT") {
    connect_rig r;
    CHECK(r.code(r.s, &r.l.address, r.l.address_len, nullptr, 5, &r.o.ov()) == "WSAEFAULT");
}

BAD_INPUT("connectex.errno.null", "lpErrno NULL returns SOCKET_ERROR and posts nothing") {
    connect_rig r;
    CHECK(WSPConnectEx(r.s, reinterpret_cast<const sockaddr*>(&r.l.address), r.l.address_len,
                       nullptr, 0, &r.bytes, &r.o.ov(), nullptr) == SOCKET_ERROR);
}
