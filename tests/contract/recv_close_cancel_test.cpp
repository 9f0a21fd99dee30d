// SPDX-License-Identifier: MIT
// docs/contract.md row: close.pending.abort (WSPCloseSocket with receives pending).

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - each completes exactly once "
          "with WSA_OPERATION_ABORTED, event signalled, one packet each") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        completion_queue cq;
        REQUIRE(cq.associate(p.s, 0xC105E) == 0);
        std::vector<std::unique_ptr<overlapped_op>> ops;
        for (int i = 0; i < 8; ++i) {
            ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{16}));
            REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
            REQUIRE(wsa_name(ops.back()->err) == "WSA_IO_PENDING");
        }
        SOCKET old = p.s;
        REQUIRE(p.close_socket() == 0);

        // When WSPCloseSocket returns, every operation is complete.
        for (std::size_t i = 0; i < ops.size(); ++i) {
            INFO("receive " << i);
            CHECK_FALSE(ops[i]->pending());
            CHECK(ops[i]->event_signalled());
            CHECK(ops[i]->ov().InternalHigh == 0u);
            CHECK(wsa_name(static_cast<int>(ops[i]->ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
            // The closed handle still reads each operation's own result.
            op_result r = ops[i]->result(old);
            CHECK(r.ok == FALSE);
            CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
        }

        auto packets = dequeue_n(cq, 8);
        CHECK(packets.size() == 8u);
        std::set<WSAOVERLAPPED*> seen;
        for (const completion_entry& e : packets) {
            seen.insert(e.overlapped);
            CHECK(e.key == 0xC105Eu);
            CHECK(e.bytes == 0u);
            CHECK(wsa_name(e.status) == "WSA_OPERATION_ABORTED");
        }
        CHECK(seen.size() == 8u);
        for (auto& op : ops)
            CHECK(seen.count(&op->ov()) == 1u);
        CHECK(count_more(cq, 200) == 0u);

        CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
    }
}

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - buffers and overlappeds may "
          "be freed as soon as it returns") {
    loopback_pair p = make_pair();
    std::vector<char*> buffers;
    std::vector<WSAOVERLAPPED*> overlappeds;
    std::vector<WSAEVENT> events;
    for (int i = 0; i < 8; ++i) {
        buffers.push_back(new char[64]);
        overlappeds.push_back(new WSAOVERLAPPED{});
        events.push_back(WSACreateEvent());
        overlappeds.back()->hEvent = events.back();
        WSABUF b{64, buffers.back()};
        DWORD bytes = 0, flags = 0;
        int err = 0;
        REQUIRE(WSPRecv(p.s, &b, 1, &bytes, &flags, overlappeds.back(), nullptr, nullptr, &err) ==
                SOCKET_ERROR);
        REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    }
    REQUIRE(p.close_socket() == 0);
    for (int i = 0; i < 8; ++i) {
        CHECK_FALSE(is_pending(*overlappeds[i]));
        delete[] buffers[i]; // AddressSanitizer reports any later write into these
        delete overlappeds[i];
    }
    // A late write from the engine would land in freed memory now; give it the chance.
    send_all(p.peer, std::string(512, 'x'));
    sleep_ms(settle_ms);
    for (WSAEVENT e : events)
        CHECK(sanport::wsa_event_is_set(e));
    for (WSAEVENT e : events)
        WSACloseEvent(e);
}

TEST_CASE("close.pending.abort, recv.event.low-bit: WSPCloseSocket with receives pending - low-bit "
          "receives are aborted too, with their events signalled and no packet") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 4) == 0);
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int i = 0; i < 8; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{16}));
        if (i % 2) ops.back()->set_low_bit();
        REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
    }
    REQUIRE(p.close_socket() == 0);
    for (auto& op : ops) {
        CHECK_FALSE(op->pending());
        CHECK(op->event_signalled());
        CHECK(wsa_name(static_cast<int>(op->ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
    }
    auto packets = dequeue_n(cq, 4);
    CHECK(packets.size() == 4u);
    for (const completion_entry& e : packets) {
        bool from_even = false;
        for (std::size_t i = 0; i < ops.size(); i += 2)
            from_even |= e.overlapped == &ops[i]->ov();
        CHECK(from_even);
    }
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - received bytes are never "
          "dropped, completed receives keep their results") {
    loopback_pair p = make_pair();
    overlapped_op done({16}), waiting({16});
    REQUIRE(done.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "kept");
    REQUIRE(done.wait());
    REQUIRE(waiting.recv(p.s) == SOCKET_ERROR);
    SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    op_result r = done.result(old);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 4u);
    CHECK(done.data(4) == "kept");
    op_result w = waiting.result(old);
    CHECK(w.ok == FALSE);
    CHECK(wsa_name(w.err) == "WSA_OPERATION_ABORTED");
}

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - a pending send is completed "
          "as well") {
    pair_options options;
    options.peer_rcvbuf = 4096;
    loopback_pair p = make_pair(options);
    set_send_buffer(p.s, 4096);
    const std::string big = pattern(4 << 20);
    overlapped_op send_op({static_cast<ULONG>(big.size())});
    send_op.send(p.s, big);
    REQUIRE((send_op.rc == 0 || send_op.call_pending()));
    overlapped_op recv_op({16});
    REQUIRE(recv_op.recv(p.s) == SOCKET_ERROR);
    sleep_ms(50);
    REQUIRE(send_op.pending()); // the peer reads nothing, so 4 MiB cannot all be in the kernel
    REQUIRE(p.close_socket() == 0);
    CHECK_FALSE(send_op.pending());
    CHECK_FALSE(recv_op.pending());
    CHECK(wsa_name(static_cast<int>(send_op.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
    CHECK(wsa_name(static_cast<int>(recv_op.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
}

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - a blocking receive on "
          "another thread returns WSA_OPERATION_ABORTED") {
    loopback_pair p = make_pair();
    SOCKET s = p.s;
    int rc = 0, err = 0;
    std::atomic<bool> returned{false};
    std::thread blocked([&] {
        char buf[16];
        WSABUF b{sizeof buf, buf};
        DWORD bytes = 0, flags = 0;
        rc = WSPRecv(s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err);
        returned = true;
    });
    sleep_ms(50);
    CHECK_FALSE(returned.load());
    REQUIRE(p.close_socket() == 0);
    stopwatch sw;
    while (!returned && sw.ms() < max_wait_ms)
        sleep_ms(1);
    if (!returned) p.close_peer(); // a blocking receive that survived the close: end it
    blocked.join();
    CHECK(sw.ms() < 1000.0);
    CHECK(rc == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSA_OPERATION_ABORTED");
}

TEST_CASE("close.pending.abort: WSPCloseSocket with receives pending - a WSPGetOverlappedResult "
          "waiting on another thread returns the abort") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    SOCKET s = p.s;
    op_result r;
    std::thread waiter([&] { r = op.result(s, TRUE); });
    sleep_ms(50);
    REQUIRE(p.close_socket() == 0);
    waiter.join();
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
}
