// SPDX-License-Identifier: MIT
// docs/contract.md rows: cq.associate, cq.dequeue, cq.post, cq.shutdown, cq.lifetime.

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("cq.associate: 0 once, WSAEINVAL a second time, WSAENOTSOCK for an unknown socket") {
    loopback_pair p = make_pair();
    completion_queue cq;
    CHECK(cq.associate(p.s, 1) == 0);
    CHECK(wsa_name(cq.associate(p.s, 2)) == "WSAEINVAL");
    completion_queue other;
    CHECK(wsa_name(other.associate(p.s, 3)) == "WSAEINVAL");
    CHECK(wsa_name(cq.associate(static_cast<SOCKET>(987654), 4)) == "WSAENOTSOCK");
}

TEST_CASE("cq.dequeue: dequeue returns batches of at most max, oldest first") {
    completion_queue cq;
    WSAOVERLAPPED ovs[5]{};
    for (int i = 0; i < 5; ++i)
        REQUIRE(cq.post(static_cast<DWORD>(100 + i), static_cast<ULONG_PTR>(i), &ovs[i]) == 0);
    completion_entry out[8];
    std::size_t n = cq.dequeue(out, 3, 1000);
    REQUIRE(n == 3u);
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(out[i].key == i);
    n = cq.dequeue(out, 8, 1000);
    REQUIRE(n == 2u);
    CHECK(out[0].key == 3u);
    CHECK(out[1].key == 4u);
    CHECK(cq.dequeue(out, 8, 0) == 0u);
}

TEST_CASE("cq.dequeue: timeout 0 returns 0 at once") {
    completion_queue cq;
    completion_entry out[4];
    stopwatch sw;
    CHECK(cq.dequeue(out, 4, 0) == 0u);
    CHECK(sw.ms() < 200.0);
}

TEST_CASE("cq.dequeue: timeout 50 ms waits about 50 ms and returns 0") {
    completion_queue cq;
    completion_entry out[4];
    stopwatch sw;
    CHECK(cq.dequeue(out, 4, 50) == 0u);
    double waited = sw.ms();
    CHECK(waited >= 45.0);
    CHECK(waited < 1000.0);
}

TEST_CASE("cq.post: user packets come back with their key, bytes and overlapped") {
    completion_queue cq;
    WSAOVERLAPPED ov{};
    REQUIRE(cq.post(1234, 0xABCDEF, &ov) == 0);
    REQUIRE(cq.post(0, 7, nullptr) == 0);
    completion_entry out[4];
    REQUIRE(cq.dequeue(out, 4, 1000) == 2u);
    CHECK(out[0].overlapped == &ov);
    CHECK(out[0].bytes == 1234u);
    CHECK(out[0].key == 0xABCDEFu);
    CHECK(out[0].status == 0);
    CHECK(out[1].overlapped == nullptr);
    CHECK(out[1].key == 7u);
}

TEST_CASE("cq.post: a dequeue waiting on another thread wakes for a posted packet") {
    completion_queue cq;
    std::atomic<std::size_t> got{99};
    completion_entry out[4];
    std::thread waiter([&] { got = cq.dequeue(out, 4, max_wait_ms); });
    sleep_ms(50);
    stopwatch sw;
    REQUIRE(cq.post(5, 6, nullptr) == 0);
    waiter.join();
    CHECK(got.load() == 1u);
    CHECK(out[0].key == 6u);
    CHECK(sw.ms() < 1000.0);
}

TEST_CASE("cq.shutdown: shutdown wakes a blocked dequeue on another thread, later calls return 0 "
          "and post fails") {
    completion_queue cq;
    std::atomic<std::size_t> got{99};
    std::atomic<double> waited{0};
    std::thread waiter([&] {
        completion_entry out[4];
        stopwatch sw;
        got = cq.dequeue(out, 4, max_wait_ms);
        waited = sw.ms();
    });
    sleep_ms(50);
    cq.shutdown();
    waiter.join();
    CHECK(got.load() == 0u);
    CHECK(waited.load() < 1000.0);
    CHECK(cq.is_shut_down());
    completion_entry out[4];
    stopwatch sw;
    CHECK(cq.dequeue(out, 4, 1000) == 0u);
    CHECK(sw.ms() < 500.0);
    CHECK(wsa_name(cq.post(1, 1, nullptr)) == "WSAESHUTDOWN");
}

TEST_CASE("cq.post: socket completions and user packets share one queue") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0x50C) == 0);
    overlapped_op op({8});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(cq.post(0, 0x05E2, nullptr) == 0);
    send_all(p.peer, "mixed");
    auto packets = dequeue_n(cq, 2);
    REQUIRE(packets.size() == 2u);
    int sockets = 0, users = 0;
    for (const completion_entry& e : packets) {
        if (e.key == 0x50Cu) {
            ++sockets;
            CHECK(e.overlapped == &op.ov());
            CHECK(e.bytes == 5u);
        } else {
            ++users;
            CHECK(e.key == 0x05E2u);
        }
    }
    CHECK(sockets == 1);
    CHECK(users == 1);
}

TEST_CASE("cq.lifetime: a queue can be destroyed while an associated socket still has receives "
          "pending") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    {
        completion_queue cq;
        REQUIRE(cq.associate(p.s, 1) == 0);
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    }
    send_all(p.peer, "orphan");
    REQUIRE(op.wait());
    CHECK(op.event_signalled_soon());
    CHECK(op.result(p.s).bytes == 6u);
}
