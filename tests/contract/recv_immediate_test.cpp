// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.immediate (data buffered inside sanport or ready in the kernel).
// Data is made "buffered inside sanport" with socket_mode::read_ahead_bytes.

#include <doctest/doctest.h>

#include <string>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

void enable_read_ahead(SOCKET s, DWORD bytes) {
    int err = 0;
    REQUIRE_MESSAGE(set_socket_mode(s, socket_mode::read_ahead_bytes, bytes, &err) == 0,
                    "set_socket_mode(read_ahead_bytes): " << wsa_name(err));
}

} // namespace

TEST_CASE("recv.immediate: data buffered inside sanport - returns 0 at once with count and flags, "
          "result set, event signalled and a queue packet") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        completion_queue cq;
        REQUIRE(cq.associate(p.s, 0x5A) == 0);
        enable_read_ahead(p.s, 4096);
        send_all(p.peer, "hello");
        REQUIRE(wait_read_ahead_filled(p.s));

        overlapped_op op({16});
        CHECK(op.recv(p.s) == 0);
        CHECK(op.bytes == 5u);
        CHECK(op.flags == 0u);
        CHECK(op.data(5) == "hello");
        CHECK_FALSE(op.pending());
        CHECK(op.ov().InternalHigh == 5u);
        CHECK(op.ov().Offset == 0u);
        CHECK(op.ov().OffsetHigh == 0u);
        CHECK(op.event_signalled_soon());
        op_result r = op.result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 5u);

        auto packets = dequeue_n(cq, 1, 1000);
        REQUIRE(packets.size() == 1);
        CHECK(packets[0].overlapped == &op.ov());
        CHECK(packets[0].key == 0x5Au);
        CHECK(packets[0].bytes == 5u);
        CHECK(packets[0].status == 0);
        CHECK(count_more(cq) == 0u);

        // The buffered bytes were consumed: the next receive gets only what follows.
        send_all(p.peer, "world");
        recv_outcome next = recv_once(p.s, 16);
        CHECK(next.r.ok == TRUE);
        CHECK(next.data == "world");
    }
}

TEST_CASE("recv.immediate: data buffered inside sanport - skip-on-success socket completes at once "
          "with no queue packet, event still signalled") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 7, true) == 0);
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "skip");
    REQUIRE(wait_read_ahead_filled(p.s));

    overlapped_op op({16});
    CHECK(op.recv(p.s) == 0);
    CHECK(op.bytes == 4u);
    CHECK(op.data(4) == "skip");
    CHECK(op.event_signalled_soon());
    CHECK(count_more(cq, 200) == 0u);

    // A receive that pends still queues its packet on such a socket.
    overlapped_op later({16});
    REQUIRE(later.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(later.err) == "WSA_IO_PENDING");
    send_all(p.peer, "later");
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].overlapped == &later.ov());
    CHECK(packets[0].key == 7u);
    CHECK(packets[0].bytes == 5u);
    CHECK(later.data(5) == "later");
}

TEST_CASE("recv.immediate, recv.event.low-bit: data buffered inside sanport - low bit of hEvent "
          "completes at once with no queue packet, event signalled") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 9) == 0);
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "lowbit");
    REQUIRE(wait_read_ahead_filled(p.s));

    overlapped_op op({16});
    op.set_low_bit();
    CHECK(op.recv(p.s) == 0);
    CHECK(op.bytes == 6u);
    CHECK(op.data(6) == "lowbit");
    CHECK(op.event_signalled_soon());
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("recv.immediate, socket.mode: data buffered inside sanport - read-ahead is bounded and "
          "the stream stays whole") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    const std::string sent = pattern(20000);
    send_all(p.peer, sent);
    sleep_ms(300);
    // Bounded: sanport took at most its 4,096 bytes; the rest waits in the kernel.
    CHECK(kernel_unread_bytes(p.s) >= static_cast<long>(sent.size() - 4096));

    overlapped_op first({65536});
    CHECK(first.recv(p.s) == 0); // some of it is buffered inside sanport by now
    REQUIRE(first.bytes >= 1u);
    REQUIRE(first.bytes <= 20000u);
    std::string got = first.data(first.bytes);
    got += recv_stream(p.s, sent.size() - got.size());
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
}

TEST_CASE("recv.immediate, recv.waitall: data buffered inside sanport - MSG_WAITALL asking for "
          "more than is buffered pends until every buffer is full") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "12345");
    REQUIRE(wait_read_ahead_filled(p.s));

    overlapped_op op({4, 6});
    CHECK(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
    sleep_ms(settle_ms);
    CHECK(op.pending());
    send_all(p.peer, "67890");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 10u);
    CHECK(op.buffer(0) == "1234");
    CHECK(op.buffer(1) == "567890");
}

TEST_CASE("recv.immediate, recv.peer.close: data buffered inside sanport - data then FIN: the data "
          "at once, then stream end") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "bye");
    p.close_peer();
    REQUIRE(wait_read_ahead_filled(p.s));

    overlapped_op op({16});
    CHECK(op.recv(p.s) == 0);
    CHECK(op.bytes == 3u);
    CHECK(op.data(3) == "bye");
    for (int i = 0; i < 2; ++i) {
        recv_outcome end = recv_once(p.s, 16);
        CHECK(end.r.ok == TRUE);
        CHECK(end.r.bytes == 0u);
    }
}

TEST_CASE("recv.immediate, recv.notify: data available in the kernel - completes at once or pends, "
          "and either way the result, event and one queue packet agree") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0x33) == 0);
    send_all(p.peer, "abc");
    REQUIRE(wait_kernel_unread(p.s, 3));

    overlapped_op op({16});
    op.recv(p.s);
    INFO("WSPRecv returned " << op.rc << " / " << wsa_name(op.err));
    REQUIRE((op.rc == 0 || op.call_pending()));
    if (op.rc == 0) {
        CHECK(op.bytes == 3u);
        CHECK(op.flags == 0u);
    } else {
        CHECK(op.bytes == bytes_sentinel);
    }
    REQUIRE(op.wait());
    CHECK(op.event_signalled_soon());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 3u);
    CHECK(op.data(3) == "abc");
    auto packets = dequeue_n(cq, 1, 1000);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].overlapped == &op.ov());
    CHECK(packets[0].bytes == 3u);
    CHECK(packets[0].key == 0x33u);
    CHECK(count_more(cq) == 0u);
}

TEST_CASE("recv.immediate, recv.zero-byte: data buffered inside sanport - a zero-byte receive "
          "completes at once with 0 bytes and consumes nothing") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "kept");
    REQUIRE(wait_read_ahead_filled(p.s));
    overlapped_op zero({0});
    CHECK(zero.recv(p.s) == 0);
    CHECK(zero.bytes == 0u);
    CHECK(zero.event_signalled_soon());
    recv_outcome next = recv_once(p.s, 16);
    CHECK(next.data == "kept");
}

TEST_CASE("recv.immediate, recv.peek: data buffered inside sanport - MSG_PEEK copies at once "
          "without consuming") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "peeked");
    REQUIRE(wait_read_ahead_filled(p.s));
    overlapped_op peek({3, 8});
    CHECK(peek.recv(p.s, MSG_PEEK) == 0);
    CHECK(peek.bytes == 6u);
    CHECK(peek.buffer(0) == "pee");
    CHECK(peek.data(6) == "peeked");
    overlapped_op take({16});
    CHECK(take.recv(p.s) == 0);
    CHECK(take.bytes == 6u);
    CHECK(take.data(6) == "peeked");
}

TEST_CASE("recv.immediate, recv.blocking: data buffered inside sanport - a blocking receive "
          "returns it at once") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    send_all(p.peer, "ready");
    REQUIRE(wait_read_ahead_filled(p.s));
    char buf[16];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    stopwatch sw;
    CHECK(WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) == 0);
    CHECK(sw.ms() < 1000.0);
    CHECK(bytes == 5u);
    CHECK(std::string(buf, 5) == "ready");
}

TEST_CASE("recv.immediate, recv.posting-order: data buffered inside sanport - receives posted "
          "behind buffered data keep the stream order") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 64);
    const std::string stream = pattern(3000, 0, 9);
    send_all(p.peer, stream.substr(0, 40));
    REQUIRE(wait_read_ahead_filled(p.s));
    std::string got;
    overlapped_op first({16});
    CHECK(first.recv(p.s) == 0);
    got += first.data(first.bytes);
    overlapped_op a({7}), b({300}), c({5000});
    for (overlapped_op* op : {&a, &b, &c})
        op->recv(p.s);
    send_all(p.peer, stream.substr(40));
    for (overlapped_op* op : {&a, &b, &c}) {
        op_result r = op->finish(p.s);
        REQUIRE(r.ok == TRUE);
        got += op->data(r.bytes);
    }
    got += recv_stream(p.s, stream.size() - got.size());
    CHECK(got == stream);
}

TEST_CASE("recv.immediate, socket.close: data buffered inside sanport - WSPCloseSocket with the "
          "read-ahead armed returns and the peer sees the end") {
    loopback_pair p = make_pair();
    enable_read_ahead(p.s, 4096);
    sleep_ms(20);
    stopwatch sw;
    CHECK(p.close_socket() == 0);
    CHECK(sw.ms() < 1000.0);
    CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
}
