// SPDX-License-Identifier: MIT
// docs/contract.md rows timer.fire, timer.order, timer.cancel, timer.start, timer.driven,
// timer.deadline (sanport/timer.h: one-shot timers whose expiry is a completion-queue packet).

#include <sanport/timer.h>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

long elapsed_ms(std::chrono::steady_clock::time_point since) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - since)
                                 .count());
}

} // namespace

TEST_CASE("timer.fire: a started timer queues its packet once, at or after its delay") {
    completion_queue cq;
    timer t(cq);
    WSAOVERLAPPED ov{};
    const auto began = std::chrono::steady_clock::now();
    REQUIRE(t.start(100, 0x71, &ov) == 0);
    CHECK(t.armed());
    auto packets = dequeue_n(cq, 1);
    const long waited = elapsed_ms(began);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &ov);
    CHECK(packets[0].key == 0x71u);
    CHECK(packets[0].bytes == 0u);
    CHECK(packets[0].status == 0);
    CHECK(waited >= 100);
    CHECK_FALSE(t.armed());
    CHECK(count_more(cq, 150) == 0u);
    // Fired: it may be started again.
    REQUIRE(t.start(0, 0x72, nullptr) == 0);
    packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].key == 0x72u);
}

TEST_CASE("timer.order: timers fire in deadline order, timers due together in the order started") {
    completion_queue cq;
    std::vector<std::unique_ptr<timer>> timers;
    const DWORD delays[] = {300, 100, 200}; // 100 ms apart: a stalled start cannot reorder them
    for (DWORD d : delays) {
        timers.push_back(std::make_unique<timer>(cq));
        REQUIRE(timers.back()->start(d, d, nullptr) == 0);
    }
    auto packets = dequeue_n(cq, 3);
    REQUIRE(packets.size() == 3u);
    CHECK(packets[0].key == 100u);
    CHECK(packets[1].key == 200u);
    CHECK(packets[2].key == 300u);

    // Due together: delay 0, started in one go while nobody dequeues. (Deadlines that are
    // exactly equal are ordered by arming order: tests/unit/timer_heap_test.cpp.)
    timers.clear();
    for (ULONG_PTR k = 1; k <= 8; ++k) {
        timers.push_back(std::make_unique<timer>(cq));
        REQUIRE(timers.back()->start(0, k, nullptr) == 0);
    }
    packets = dequeue_n(cq, 8);
    REQUIRE(packets.size() == 8u);
    for (ULONG_PTR k = 1; k <= 8; ++k)
        CHECK(packets[k - 1].key == k);
}

TEST_CASE("timer.cancel: cancel before it fires - 0 and no packet, after - ERROR_NOT_FOUND and "
          "exactly one packet, destroying an armed timer cancels it") {
    completion_queue cq;
    timer t(cq);
    REQUIRE(t.start(2000, 1, nullptr) == 0);
    CHECK(t.cancel() == 0);
    CHECK_FALSE(t.armed());
    CHECK(t.cancel() == ERROR_NOT_FOUND);
    CHECK(count_more(cq, 250) == 0u);

    REQUIRE(t.start(10, 2, nullptr) == 0);
    REQUIRE(dequeue_n(cq, 1).size() == 1u);
    CHECK(t.cancel() == ERROR_NOT_FOUND);
    CHECK(count_more(cq, 100) == 0u);

    {
        timer gone(cq);
        REQUIRE(gone.start(50, 3, nullptr) == 0);
    }
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("timer.start: armed already, WSA_INFINITE - WSAEINVAL, a shut-down queue - "
          "WSAESHUTDOWN") {
    completion_queue cq;
    timer t(cq);
    REQUIRE(t.start(1000, 1, nullptr) == 0);
    CHECK(wsa_name(t.start(10, 2, nullptr)) == "WSAEINVAL");
    CHECK(t.cancel() == 0);
    CHECK(wsa_name(t.start(WSA_INFINITE, 3, nullptr)) == "WSAEINVAL");
    CHECK_FALSE(t.armed());
    REQUIRE(t.start(1000, 4, nullptr) == 0);
    cq.shutdown();
    timer late(cq);
    CHECK(wsa_name(late.start(10, 5, nullptr)) == "WSAESHUTDOWN");
}

TEST_CASE("timer.driven: a driven engine's owner waiting in dequeue returns with the packet, a "
          "timer another thread starts meanwhile wakes it") {
    auto e = driven_engine();
    completion_queue cq(*e);
    timer t(cq);
    completion_entry out[4];
    watchdog dog(20000, [] { hung("timer.driven"); });
    auto began = std::chrono::steady_clock::now();
    REQUIRE(t.start(30, 9, nullptr) == 0);
    REQUIRE(cq.dequeue(out, 4, 5000) == 1u);
    CHECK(out[0].key == 9u);
    CHECK(elapsed_ms(began) >= 30);
    CHECK(elapsed_ms(began) < 2500);

    // The owner sleeps with a 5 s limit; a 10 ms timer started by another thread must end it.
    timer other(cq);
    began = std::chrono::steady_clock::now();
    std::thread starter([&] {
        sleep_ms(50);
        CHECK(other.start(10, 10, nullptr) == 0);
    });
    const std::size_t n = cq.dequeue(out, 4, 5000);
    starter.join();
    REQUIRE(n == 1u);
    CHECK(out[0].key == 10u);
    CHECK(elapsed_ms(began) < 2500);
}

TEST_CASE("timer.deadline: a receive with a deadline - the timer's packet, then WSPCancelIoEx, "
          "ends it, data first - the timer is cancelled and never fires") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0x50C) == 0);
    constexpr ULONG_PTR deadline_key = 0xDEAD;
    timer deadline(cq);

    overlapped_op slow({16});
    REQUIRE(slow.recv(p.s) == SOCKET_ERROR);
    REQUIRE(deadline.start(40, deadline_key, &slow.ov()) == 0);
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    REQUIRE(packets[0].key == deadline_key);
    int err = 0;
    REQUIRE(WSPCancelIoEx(p.s, packets[0].overlapped, &err) == 0);
    packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &slow.ov());
    CHECK(wsa_name(packets[0].status) == "WSA_OPERATION_ABORTED");

    overlapped_op quick({16});
    REQUIRE(quick.recv(p.s) == SOCKET_ERROR);
    REQUIRE(deadline.start(2000, deadline_key, &quick.ov()) == 0);
    send_all(p.peer, "in time");
    packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].key == 0x50Cu);
    CHECK(packets[0].bytes == 7u);
    CHECK(deadline.cancel() == 0);
    CHECK(count_more(cq, 150) == 0u);
}

TEST_CASE("timer.engine-gone: a timer armed when its engine is destroyed never fires, its "
          "cancel finds nothing, and start is WSAESHUTDOWN") {
    auto e = driven_engine();
    auto cq = std::make_unique<completion_queue>(*e);
    timer t(*cq);
    REQUIRE(t.start(10, 1, nullptr) == 0);
    e.reset();
    CHECK(cq->is_shut_down());
    CHECK_FALSE(t.armed());
    CHECK(t.cancel() == ERROR_NOT_FOUND);
    CHECK(wsa_name(t.start(10, 2, nullptr)) == "WSAESHUTDOWN");
    completion_entry out[2];
    CHECK(cq->dequeue(out, 2, 50) == 0u);
    cq.reset(); // the timer outlives both
}

TEST_CASE("timer.driven: 300 timers started by another thread at varying moments, each wakes "
          "the owner sleeping in dequeue (no lost wake-up)") {
    auto e = driven_engine();
    completion_queue cq(*e);
    timer t(cq);
    watchdog dog(60000, [] { hung("timer.driven, 300 timers"); });
    long worst = 0;
    int slow = 0;
    for (int i = 0; i < 300; ++i) {
        completion_entry out[2];
        const auto began = std::chrono::steady_clock::now();
        std::thread starter([&t, i] {
            // 0 to 2 ms: around the moment the owner computes its limit and goes to sleep.
            std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % 2000));
            CHECK(t.start(1, static_cast<ULONG_PTR>(i), nullptr) == 0);
        });
        const std::size_t n = cq.dequeue(out, 2, 3000);
        starter.join();
        REQUIRE(n == 1u);
        CHECK(out[0].key == static_cast<ULONG_PTR>(i));
        const long ms = elapsed_ms(began);
        worst = ms > worst ? ms : worst;
        if (ms >= 1000) ++slow;
    }
    INFO("worst dequeue " << worst << " ms");
    CHECK(slow == 0);
}
