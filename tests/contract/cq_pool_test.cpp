// SPDX-License-Identifier: MIT
// docs/contract.md row cq.pool: several threads dequeue from one completion queue with an I/O
// completion port's concurrency rule.

#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("cq.pool: N threads and M packets - every packet delivered once, never more than the "
          "concurrency value running") {
    engine e; // its own thread
    REQUIRE(e.status() == 0);
    completion_queue cq(e);
    REQUIRE(cq.set_concurrency(2) == 0);
    watchdog dog(120000, [] { hung("cq.pool: N threads, M packets"); });
    constexpr std::size_t packets = 2000;
    std::vector<WSAOVERLAPPED> ovs(packets);
    std::vector<std::atomic<int>> seen(packets);
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::atomic<std::size_t> taken{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&] {
            completion_entry batch[4];
            for (;;) {
                const std::size_t n = cq.dequeue(batch, 4, WSA_INFINITE);
                if (n == 0) return; // shut down
                const int now = running.fetch_add(1) + 1;
                int prev = most.load();
                while (now > prev && !most.compare_exchange_weak(prev, now)) {
                }
                for (std::size_t i = 0; i < n; ++i)
                    seen[static_cast<std::size_t>(static_cast<WSAOVERLAPPED*>(batch[i].overlapped) -
                                                  ovs.data())]
                        .fetch_add(1);
                taken.fetch_add(n);
                std::this_thread::sleep_for(std::chrono::microseconds(300)); // the work
                running.fetch_sub(1); // before the next call gives the slot back
            }
        });
    }
    for (std::size_t i = 0; i < packets; ++i)
        REQUIRE(cq.post(static_cast<DWORD>(i), 1, &ovs[i]) == 0);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (taken.load() < packets && std::chrono::steady_clock::now() < until)
        sleep_ms(5);
    cq.shutdown();
    for (auto& w : workers)
        w.join();
    CHECK(taken.load() == packets);
    int twice = 0;
    int never = 0;
    for (auto& s : seen) {
        twice += s.load() > 1;
        never += s.load() == 0;
    }
    CHECK(twice == 0);
    CHECK(never == 0);
    CHECK(most.load() <= 2); // the limit held
    CHECK(most.load() >= 1);
    MESSAGE("at most " << most.load() << " of 4 threads ran at once (concurrency 2)");
}

TEST_CASE("cq.pool: the thread that began waiting last is released first, and a thread that "
          "exits gives its slot back") {
    engine e;
    REQUIRE(e.status() == 0);
    completion_queue cq(e);
    REQUIRE(cq.set_concurrency(1) == 0);
    watchdog dog(60000, [] { hung("cq.pool: LIFO"); });
    std::mutex m;
    std::vector<std::string> order;
    std::vector<WSAOVERLAPPED> ovs(3);
    // A, B, C wait in that order; C stops after two packets; A and B after the next shutdown.
    auto worker = [&](std::string name, int stop_after) {
        completion_entry one[1];
        for (int k = 0; k < stop_after || stop_after < 0; ++k) {
            if (cq.dequeue(one, 1, 20000) == 0) return;
            std::lock_guard lock(m);
            order.push_back(name);
        }
    };
    std::thread a(worker, "A", -1);
    sleep_ms(150);
    std::thread b(worker, "B", -1);
    sleep_ms(150);
    std::thread c(worker, "C", 2);
    sleep_ms(150);
    for (int i = 0; i < 2; ++i) {
        REQUIRE(cq.post(0, 1, &ovs[static_cast<std::size_t>(i)]) == 0);
        sleep_ms(150); // C takes it and waits again, on top of the stack
    }
    c.join(); // C exits holding its slot: its exit gives it back
    REQUIRE(cq.post(0, 1, &ovs[2]) == 0);
    sleep_ms(300);
    cq.shutdown();
    a.join();
    b.join();
    REQUIRE(order.size() == 3u);
    CHECK(order[0] == "C");
    CHECK(order[1] == "C");
    CHECK(order[2] == "B");
}

TEST_CASE("cq.pool: a thread that calls dequeue on another queue gives its slot back, and "
          "lifting the limit releases the waiters") {
    engine e;
    REQUIRE(e.status() == 0);
    completion_queue pool(e);
    completion_queue other(e);
    REQUIRE(pool.set_concurrency(1) == 0);
    watchdog dog(60000, [] { hung("cq.pool: other queue"); });
    WSAOVERLAPPED ovs[3]{};
    REQUIRE(pool.post(0, 1, &ovs[0]) == 0);
    completion_entry one[1];
    REQUIRE(pool.dequeue(one, 1, 1000) == 1u); // this thread now holds the one slot
    std::atomic<int> waiter_got{0};
    std::thread waiter([&] {
        completion_entry w[1];
        waiter_got = static_cast<int>(pool.dequeue(w, 1, 5000));
    });
    sleep_ms(100);
    REQUIRE(pool.post(0, 1, &ovs[1]) == 0);
    sleep_ms(100);
    CHECK(waiter_got.load() == 0);           // the slot is still this thread's
    CHECK(other.dequeue(one, 1, 200) == 0u); // ... until it dequeues elsewhere
    for (int i = 0; i < 100 && waiter_got.load() == 0; ++i)
        sleep_ms(10);
    CHECK(waiter_got.load() == 1);
    waiter.join();

    // A waiter blocked by the limit is let go when the limit is lifted.
    WSAOVERLAPPED more[2]{};
    REQUIRE(pool.post(0, 1, &more[0]) == 0);
    REQUIRE(pool.dequeue(one, 1, 1000) == 1u); // this thread holds the slot again
    REQUIRE(pool.post(0, 1, &more[1]) == 0);
    std::atomic<int> second{-1};
    std::thread blocked([&] {
        completion_entry w[1];
        second = static_cast<int>(pool.dequeue(w, 1, 5000));
    });
    sleep_ms(100);
    CHECK(second.load() == -1); // held back by the limit
    REQUIRE(pool.set_concurrency(0) == 0);
    blocked.join();
    CHECK(second.load() == 1);
}

TEST_CASE("cq.pool: a driven engine refuses a concurrency value") {
    auto e = driven_engine();
    completion_queue cq(*e);
    CHECK(cq.set_concurrency(2) == WSAEINVAL);
    CHECK(std::string(last_error_detail()).find("owner") != std::string::npos);
}
