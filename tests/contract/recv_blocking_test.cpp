// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.blocking (lpOverlapped NULL).

#include <doctest/doctest.h>

#include <string>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

struct blocking_result {
    int rc;
    int err;
    DWORD bytes;
    DWORD flags;
};

blocking_result blocking_recv(SOCKET s, WSABUF* bufs, DWORD count, DWORD flags_in = 0) {
    blocking_result r{0, 0, bytes_sentinel, flags_in};
    r.rc = WSPRecv(s, bufs, count, &r.bytes, &r.flags, nullptr, nullptr, nullptr, &r.err);
    return r;
}

} // namespace

TEST_CASE("recv.blocking: lpOverlapped NULL - blocking receive returns 0 with the count when data "
          "is queued") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        send_all(p.peer, "hello");
        REQUIRE(wait_kernel_unread(p.s, 5));
        char a[4], b[8];
        WSABUF bufs[2] = {{4, a}, {8, b}};
        watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
        blocking_result r = blocking_recv(p.s, bufs, 2);
        CHECK(r.rc == 0);
        CHECK(r.bytes == 5u);
        CHECK(r.flags == 0u);
        CHECK(std::string(a, 4) == "hell");
        CHECK(std::string(b, 1) == "o");
    }
}

TEST_CASE("recv.blocking: lpOverlapped NULL - blocking receive waits for data that arrives later") {
    loopback_pair p = make_pair();
    char buf[16];
    WSABUF b{sizeof buf, buf};
    watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
    delayed sender(50, [fd = p.peer] { try_send_all(fd, "late"); });
    stopwatch sw;
    blocking_result r = blocking_recv(p.s, &b, 1);
    double waited = sw.ms();
    sender.join();
    CHECK(r.rc == 0);
    CHECK(r.bytes == 4u);
    CHECK(std::string(buf, 4) == "late");
    CHECK(waited >= 30.0);
    CHECK_FALSE(wd.fired());
}

TEST_CASE("recv.blocking, recv.peer.close: lpOverlapped NULL - blocking receive returns 0 bytes at "
          "stream end, repeatedly") {
    loopback_pair p = make_pair();
    send_all(p.peer, "end");
    p.close_peer();
    char buf[16];
    WSABUF b{sizeof buf, buf};
    blocking_result r = blocking_recv(p.s, &b, 1);
    CHECK(r.rc == 0);
    CHECK(r.bytes == 3u);
    CHECK(std::string(buf, 3) == "end");
    for (int i = 0; i < 3; ++i) {
        r = blocking_recv(p.s, &b, 1);
        CHECK(r.rc == 0);
        CHECK(r.bytes == 0u);
    }
}

TEST_CASE("recv.blocking, recv.peer.reset: lpOverlapped NULL - blocking receive fails with "
          "WSAECONNRESET after a reset") {
    loopback_pair p = make_pair();
    char buf[16];
    WSABUF b{sizeof buf, buf};
    peer_socket peer = p.peer;
    p.peer = no_peer; // the delayed action owns it now
    delayed resetter(50, [peer] { peer_reset(peer); });
    blocking_result r = blocking_recv(p.s, &b, 1);
    resetter.join();
    CHECK(r.rc == SOCKET_ERROR);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
    r = blocking_recv(p.s, &b, 1);
    CHECK(r.rc == SOCKET_ERROR);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
}

TEST_CASE("recv.blocking: lpOverlapped NULL - blocking receive works on a socket made without "
          "WSA_FLAG_OVERLAPPED") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind, AF_INET, 0);
        char buf[16];
        WSABUF b{sizeof buf, buf};
        watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
        delayed sender(30, [fd = p.peer] { try_send_all(fd, "plain"); });
        blocking_result r = blocking_recv(p.s, &b, 1);
        sender.join();
        CHECK(r.rc == 0);
        CHECK(r.bytes == 5u);
        CHECK(std::string(buf, 5) == "plain");
    }
}

TEST_CASE("recv.blocking, recv.waitall: lpOverlapped NULL - blocking MSG_WAITALL returns only when "
          "every buffer is full") {
    loopback_pair p = make_pair();
    char a[4], b[6];
    WSABUF bufs[2] = {{4, a}, {6, b}};
    watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
    delayed sender(0, [fd = p.peer] {
        try_send_all(fd, "abc");
        sleep_ms(50);
        try_send_all(fd, "def");
        sleep_ms(50);
        try_send_all(fd, "ghij");
    });
    stopwatch sw;
    blocking_result r = blocking_recv(p.s, bufs, 2, MSG_WAITALL);
    double waited = sw.ms();
    sender.join();
    CHECK(r.rc == 0);
    CHECK(r.bytes == 10u);
    CHECK(std::string(a, 4) == "abcd");
    CHECK(std::string(b, 6) == "efghij");
    CHECK(waited >= 80.0);
}

TEST_CASE("recv.blocking, recv.socket.unknown: lpOverlapped NULL - blocking receive on a socket "
          "sanport does not know fails with WSAENOTSOCK") {
    char buf[4];
    WSABUF b{sizeof buf, buf};
    blocking_result r = blocking_recv(static_cast<SOCKET>(987654), &b, 1);
    CHECK(r.rc == SOCKET_ERROR);
    CHECK(wsa_name(r.err) == "WSAENOTSOCK");
}
