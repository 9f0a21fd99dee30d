// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.peer.close, recv.peer.reset.

#include <doctest/doctest.h>

#include <string>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

void enable_report_disconnect(SOCKET s) {
    int err = 0;
    REQUIRE_MESSAGE(set_socket_mode(s, socket_mode::report_disconnect, 1, &err) == 0,
                    "set_socket_mode(report_disconnect): " << wsa_name(err));
}

} // namespace

TEST_CASE("recv.peer.close: peer closes gracefully - buffered data first, then every receive "
          "completes with 0 bytes") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        send_all(p.peer, "hello");
        p.close_peer();
        recv_outcome first = recv_once(p.s, 64);
        CHECK(first.r.ok == TRUE);
        CHECK(first.data == "hello");
        for (int i = 0; i < 4; ++i) {
            INFO("receive after the end, #" << i);
            overlapped_op op({16});
            op.recv(p.s);
            op_result r = op.finish(p.s);
            CHECK(r.ok == TRUE);
            CHECK(r.bytes == 0u);
            CHECK(r.err == 0);
            CHECK(op.event_signalled_soon());
            CHECK(op.ov().InternalHigh == 0u);
            CHECK(op.ov().OffsetHigh == 0u);
        }
    }
}

TEST_CASE("recv.peer.close: peer closes gracefully - two pending receives get the data, then 0 "
          "bytes") {
    loopback_pair p = make_pair();
    overlapped_op a({16}), b({16});
    REQUIRE(a.recv(p.s) == SOCKET_ERROR);
    REQUIRE(b.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "xy");
    p.close_peer();
    REQUIRE(a.wait());
    REQUIRE(b.wait());
    op_result ra = a.result(p.s), rb = b.result(p.s);
    CHECK(ra.ok == TRUE);
    CHECK(ra.bytes == 2u);
    CHECK(a.data(2) == "xy");
    CHECK(rb.ok == TRUE);
    CHECK(rb.bytes == 0u);
}

TEST_CASE("recv.peer.close: peer closes gracefully - a pending receive completes with 0 bytes on "
          "FIN while the peer can still read") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    p.shutdown_peer_write();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 0u);
    // Our direction still works.
    overlapped_op out({6});
    out.send(p.s, "answer");
    CHECK(out.finish(p.s).bytes == 6u);
    CHECK(read_exactly(p.peer, 6) == "answer");
}

TEST_CASE("recv.peer.close: peer closes gracefully - report_disconnect mode reports WSAEDISCON "
          "after the data, every time") {
    loopback_pair p = make_pair();
    enable_report_disconnect(p.s);
    overlapped_op pending({16});
    REQUIRE(pending.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "fin");
    REQUIRE(pending.wait());
    CHECK(pending.result(p.s).bytes == 3u);
    p.close_peer();
    for (int i = 0; i < 3; ++i) {
        INFO("receive after the end, #" << i);
        overlapped_op op({16});
        op.recv(p.s);
        op_result r = op.finish(p.s);
        CHECK(r.ok == FALSE);
        CHECK(wsa_name(r.err) == "WSAEDISCON");
    }
}

TEST_CASE("recv.peer.reset: peer resets - a pending receive fails with WSAECONNRESET, and every "
          "later one too") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    p.reset_peer();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
    CHECK(op.ov().InternalHigh == 0u);
    for (int i = 0; i < 3; ++i) {
        INFO("receive after the reset, #" << i);
        overlapped_op later({16});
        later.recv(p.s);
        op_result lr = later.finish(p.s);
        CHECK(lr.ok == FALSE);
        CHECK(wsa_name(lr.err) == "WSAECONNRESET");
    }
}

TEST_CASE("recv.peer.reset: peer resets - data sent before the reset is delivered first, then "
          "WSAECONNRESET, sticky") {
    if (skip_under_wine(wine_reset_exemption)) return;
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        send_all(p.peer, "data");
        REQUIRE(wait_kernel_unread(p.s, 4));
        p.reset_peer();
        sleep_ms(20);
        recv_outcome first = recv_once(p.s, 64);
        CHECK(first.r.ok == TRUE);
        CHECK(first.data == "data");
        for (int i = 0; i < 3; ++i) {
            INFO("receive after the reset, #" << i);
            recv_outcome later = recv_once(p.s, 64);
            CHECK(later.r.ok == FALSE);
            CHECK(wsa_name(later.r.err) == "WSAECONNRESET");
        }
    }
}

TEST_CASE("recv.peer.reset, recv.blocking: peer resets - blocking receives after the reset fail "
          "with WSAECONNRESET too") {
    if (skip_under_wine(wine_reset_exemption)) return;
    loopback_pair p = make_pair();
    p.reset_peer();
    sleep_ms(20);
    for (int i = 0; i < 3; ++i) {
        char buf[8];
        WSABUF b{sizeof buf, buf};
        DWORD bytes = 0, flags = 0;
        int err = 0;
        CHECK(WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) == SOCKET_ERROR);
        CHECK(wsa_name(err) == "WSAECONNRESET");
    }
}

TEST_CASE("recv.peer.reset: peer resets - with a send pending too, the pending receive still fails "
          "with WSAECONNRESET") {
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        pair_options options;
        options.peer_rcvbuf = 4096;
        loopback_pair p = make_pair(options);
        set_send_buffer(p.s, 4096);
        overlapped_op receive({16});
        REQUIRE(receive.recv(p.s) == SOCKET_ERROR);
        overlapped_op send({1u << 20});
        send.send(p.s, pattern(send.capacity()));
        REQUIRE(send.call_pending());
        sleep_ms(20);
        p.reset_peer();
        REQUIRE(receive.wait());
        REQUIRE(send.wait());
        op_result r = receive.result(p.s);
        INFO("receive: ok " << r.ok << ", " << r.bytes << " bytes");
        CHECK(r.ok == FALSE);
        CHECK(wsa_name(r.err) == "WSAECONNRESET");
        op_result s = send.result(p.s);
        CHECK(s.ok == FALSE);
        std::string name = wsa_name(s.err);
        CHECK((name == "WSAECONNRESET" || name == "WSAECONNABORTED"));
        recv_outcome later = recv_once(p.s, 16);
        CHECK(later.r.ok == FALSE);
        CHECK(wsa_name(later.r.err) == "WSAECONNRESET");
    }
}

TEST_CASE("recv.peer.reset-after-end: the peer ends the stream and closes, our send draws its "
          "reset - later receives fail with WSAECONNABORTED, every time") {
    if (skip_under_wine(wine_reset_exemption)) return;
    loopback_pair p = make_pair();
    p.close_peer();
    recv_outcome end = recv_once(p.s, 16);
    REQUIRE(end.r.ok == TRUE);
    REQUIRE(end.r.bytes == 0u); // the end of the stream, delivered
    // The peer's socket is gone: these bytes are sent, and its stack answers with a reset.
    overlapped_op send({8});
    send.send(p.s, "too late");
    REQUIRE(send.wait());
    CHECK(send.result(p.s).ok == TRUE);
    // The reset comes back through the peer's stack: on a loaded machine that may take longer
    // than a settle; until it has arrived a receive still reports the end (0 bytes).
    stopwatch waited;
    recv_outcome first = recv_once(p.s, 16);
    while (first.r.ok == TRUE && first.r.bytes == 0 && waited.ms() < max_wait_ms) {
        sleep_ms(20);
        first = recv_once(p.s, 16);
    }
    CHECK(first.r.ok == FALSE);
    CHECK(wsa_name(first.r.err) == "WSAECONNABORTED");
    for (int i = 0; i < 3; ++i) {
        INFO("receive " << i << " after the reset");
        recv_outcome later = recv_once(p.s, 16);
        CHECK(later.r.ok == FALSE);
        CHECK(wsa_name(later.r.err) == "WSAECONNABORTED");
    }
    // Blocking receives see the same.
    char one = 0;
    WSABUF buf{1, &one};
    DWORD bytes = 0, flags = 0;
    int err = 0;
    CHECK(sanport::WSPRecv(p.s, &buf, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAECONNABORTED");
}
