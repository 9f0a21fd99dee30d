// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.socket.unknown, recv.state.invalid, recv.state.not-connected,
// recv.shutdown; socket.shutdown.

#include <doctest/doctest.h>

#include <string>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// An overlapped receive that must fail at the call; returns its code (0 if it did not fail).
int failing_recv(SOCKET s, overlapped_op& op) {
    op.recv(s);
    if (op.rc != SOCKET_ERROR || op.err == WSA_IO_PENDING) return 0;
    CHECK_FALSE(op.pending());
    return op.err;
}

int blocking_recv_code(SOCKET s) {
    char buf[8];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = 0, flags = 0;
    int err = 0;
    int rc = WSPRecv(s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err);
    return rc == 0 ? 0 : err;
}

SOCKET new_socket(DWORD flags = WSA_FLAG_OVERLAPPED) {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, flags, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, "WSPSocket: " << wsa_name(err));
    return s;
}

void bind_loopback(SOCKET s) {
    int len = 0, err = 0;
    sockaddr_storage a = loopback_address(AF_INET, 0, &len);
    REQUIRE_MESSAGE(WSPBind(s, reinterpret_cast<sockaddr*>(&a), len, &err) == 0,
                    "WSPBind: " << wsa_name(err));
}

void close_sanport(SOCKET s) {
    int err = 0;
    WSPCloseSocket(s, &err);
}

} // namespace

TEST_CASE("recv.socket.unknown: unknown SOCKET - WSAENOTSOCK") {
    overlapped_op op({8});
    CHECK(wsa_name(failing_recv(static_cast<SOCKET>(987654), op)) == "WSAENOTSOCK");
    CHECK(wsa_name(failing_recv(INVALID_SOCKET, op)) == "WSAENOTSOCK");
    // A real OS socket that sanport never created or adopted is unknown to it as well.
    peer_socket fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd != no_peer);
    CHECK(wsa_name(failing_recv(static_cast<SOCKET>(fd), op)) == "WSAENOTSOCK");
    peer_close(fd);
}

TEST_CASE("recv.socket.unknown: closed SOCKET - WSAENOTSOCK, overlapped and blocking") {
    loopback_pair p = make_pair();
    SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    // No new descriptor is made before these calls, so the number is not reused yet.
    overlapped_op op({8});
    CHECK(wsa_name(failing_recv(old, op)) == "WSAENOTSOCK");
    CHECK(wsa_name(blocking_recv_code(old)) == "WSAENOTSOCK");
}

TEST_CASE("recv.state.invalid, depart.overlapped.not-ignored: socket not created with "
          "WSA_FLAG_OVERLAPPED - an overlapped call is WSAEINVAL, a blocking one works") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind, AF_INET, 0);
        send_all(p.peer, "data");
        REQUIRE(wait_kernel_unread(p.s, 4));
        overlapped_op op({8});
        CHECK(wsa_name(failing_recv(p.s, op)) == "WSAEINVAL");
        CHECK_FALSE(op.event_signalled());
        char buf[8];
        WSABUF b{sizeof buf, buf};
        DWORD bytes = 0, flags = 0;
        int err = 0;
        CHECK(WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) == 0);
        CHECK(bytes == 4u);
        CHECK(std::string(buf, 4) == "data");
    }
}

TEST_CASE("recv.state.invalid: socket not bound - WSAEINVAL") {
    SOCKET s = new_socket();
    overlapped_op op({8});
    CHECK(wsa_name(failing_recv(s, op)) == "WSAEINVAL");
    CHECK(wsa_name(blocking_recv_code(s)) == "WSAEINVAL");
    close_sanport(s);
}

TEST_CASE("recv.state.not-connected: socket bound but not connected - WSAENOTCONN") {
    SOCKET s = new_socket();
    bind_loopback(s);
    overlapped_op op({8});
    CHECK(wsa_name(failing_recv(s, op)) == "WSAENOTCONN");
    CHECK(wsa_name(blocking_recv_code(s)) == "WSAENOTCONN");
    close_sanport(s);
}

TEST_CASE("recv.state.not-connected: listening socket - WSAENOTCONN") {
    sanport_listener listener;
    overlapped_op op({8});
    CHECK(wsa_name(failing_recv(listener.s, op)) == "WSAENOTCONN");
    CHECK(wsa_name(blocking_recv_code(listener.s)) == "WSAENOTCONN");
}

TEST_CASE("recv.shutdown: after WSPShutdown SD_RECEIVE or SD_BOTH - new receives fail with "
          "WSAESHUTDOWN even with data queued") {
    for (int how : {SD_RECEIVE, SD_BOTH}) {
        INFO("how = " << how);
        loopback_pair p = make_pair();
        send_all(p.peer, "queued");
        REQUIRE(wait_kernel_unread(p.s, 6));
        int err = 0;
        REQUIRE(WSPShutdown(p.s, how, &err) == 0);
        for (int i = 0; i < 2; ++i) {
            overlapped_op op({8});
            CHECK(wsa_name(failing_recv(p.s, op)) == "WSAESHUTDOWN");
            CHECK(wsa_name(blocking_recv_code(p.s)) == "WSAESHUTDOWN");
        }
    }
}

TEST_CASE("recv.shutdown: after WSPShutdown SD_RECEIVE - a receive pending before the shutdown is "
          "not aborted and completes when data arrives") {
    for (int how : {SD_RECEIVE, SD_BOTH}) {
        INFO("how = " << how);
        loopback_pair p = make_pair();
        overlapped_op op({8});
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
        int err = 0;
        REQUIRE(WSPShutdown(p.s, how, &err) == 0);
        sleep_ms(settle_ms * 2);
        CHECK(op.pending());
        send_all(p.peer, "late");
        REQUIRE(op.wait());
        op_result r = op.result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 4u);
        CHECK(op.data(4) == "late");
    }
}

TEST_CASE("socket.shutdown: after WSPShutdown SD_RECEIVE - sending still works") {
    loopback_pair p = make_pair();
    int err = 0;
    REQUIRE(WSPShutdown(p.s, SD_RECEIVE, &err) == 0);
    overlapped_op op({5});
    op.send(p.s, "hello");
    op_result r = op.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 5u);
    CHECK(read_exactly(p.peer, 5) == "hello");
}

TEST_CASE("socket.shutdown: after WSPShutdown SD_SEND - receives still work and the peer sees "
          "EOF") {
    loopback_pair p = make_pair();
    int err = 0;
    REQUIRE(WSPShutdown(p.s, SD_SEND, &err) == 0);
    CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
    send_all(p.peer, "still open");
    recv_outcome got = recv_once(p.s, 32);
    CHECK(got.r.ok == TRUE);
    CHECK(got.data == "still open");
}
