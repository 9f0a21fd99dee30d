// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.event.low-bit, recv.notify.

#include <doctest/doctest.h>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("recv.event.low-bit, depart.low-bit.signals: low bit of hEvent - event signalled, no "
          "queue entry, result still readable") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0xA1) == 0);
    overlapped_op normal({4});
    overlapped_op quiet({4});
    quiet.set_low_bit();
    HANDLE quiet_handle = quiet.ov().hEvent;

    REQUIRE(normal.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(normal.err) == "WSA_IO_PENDING");
    REQUIRE(quiet.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(quiet.err) == "WSA_IO_PENDING");
    send_all(p.peer, "01234567");

    REQUIRE(normal.wait());
    REQUIRE(quiet.wait());
    CHECK(normal.event_signalled_soon());
    CHECK(quiet.event_signalled_soon());
    CHECK(quiet.ov().hEvent == quiet_handle); // the caller's value is left as it was

    op_result r = quiet.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 4u);
    CHECK(quiet.data(4) == "4567");

    auto packets = dequeue_n(cq, 1, 1000);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &normal.ov());
    CHECK(packets[0].bytes == 4u);
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("recv.event.low-bit: low bit of hEvent - WSPGetOverlappedResult can wait for the "
          "completion") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 1) == 0);
    overlapped_op quiet({16});
    quiet.set_low_bit();
    REQUIRE(quiet.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(quiet.err) == "WSA_IO_PENDING");
    watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
    delayed sender(50, [fd = p.peer] { try_send_all(fd, "waited"); });
    op_result r = quiet.result(p.s, TRUE);
    sender.join();
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 6u);
    CHECK(quiet.data(6) == "waited");
    CHECK_FALSE(wd.fired());
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("recv.event.low-bit, depart.low-bit.signals: low bit of hEvent - a failed receive "
          "signals the event and queues nothing") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 2) == 0);
    overlapped_op quiet({16});
    quiet.set_low_bit();
    REQUIRE(quiet.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(quiet.err) == "WSA_IO_PENDING");
    p.reset_peer();
    REQUIRE(quiet.wait());
    CHECK(quiet.event_signalled_soon());
    op_result r = quiet.result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("recv.notify: normal hEvent - a pending receive queues one packet with the key, bytes "
          "and overlapped pointer") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0xC0FFEE) == 0);
    overlapped_op op({32});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    CHECK(count_more(cq, 50) == 0u);
    send_all(p.peer, "packet");
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &op.ov());
    CHECK(packets[0].key == 0xC0FFEEu);
    CHECK(packets[0].bytes == 6u);
    CHECK(packets[0].status == 0);
    // By the time the packet is out, the overlapped result and the data are final.
    CHECK_FALSE(op.pending());
    CHECK(op.ov().InternalHigh == 6u);
    CHECK(op.data(6) == "packet");
    CHECK(op.event_signalled_soon());
    CHECK(count_more(cq) == 0u);
}

TEST_CASE("recv.notify: normal hEvent - a failed receive queues one packet carrying its error") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 5) == 0);
    overlapped_op op({32});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    p.reset_peer();
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &op.ov());
    CHECK(packets[0].key == 5u);
    CHECK(packets[0].bytes == 0u);
    CHECK(wsa_name(packets[0].status) == "WSAECONNRESET");
}

TEST_CASE("recv.notify: normal hEvent - two sockets on one queue, each packet carries its socket's "
          "key") {
    loopback_pair a = make_pair();
    loopback_pair b = make_pair(pair_kind::accept);
    completion_queue cq;
    REQUIRE(cq.associate(a.s, 100) == 0);
    REQUIRE(cq.associate(b.s, 200) == 0);
    overlapped_op op_a({8}), op_b({8});
    REQUIRE(op_a.recv(a.s) == SOCKET_ERROR);
    REQUIRE(op_b.recv(b.s) == SOCKET_ERROR);
    send_all(b.peer, "bbb");
    send_all(a.peer, "aaaaa");
    auto packets = dequeue_n(cq, 2);
    REQUIRE(packets.size() == 2u);
    for (const completion_entry& e : packets) {
        if (e.overlapped == &op_a.ov()) {
            CHECK(e.key == 100u);
            CHECK(e.bytes == 5u);
        } else {
            CHECK(e.overlapped == &op_b.ov());
            CHECK(e.key == 200u);
            CHECK(e.bytes == 3u);
        }
    }
    CHECK(packets[0].overlapped != packets[1].overlapped);
}

TEST_CASE("recv.notify: normal hEvent - a socket on no completion queue still signals the event") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "solo");
    WSAEVENT ev = op.event();
    CHECK(WSAWaitForMultipleEvents(1, &ev, FALSE, max_wait_ms, FALSE) == WSA_WAIT_EVENT_0);
    CHECK_FALSE(op.pending());
    CHECK(op.result(p.s).bytes == 4u);
}
