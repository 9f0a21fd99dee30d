// SPDX-License-Identifier: MIT
// docs/contract.md rows: cq.associate, cq.dequeue, cq.post, cq.shutdown, cq.lifetime.

#include "tests/contract/driven_pair.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

TEST_CASE(
    "cq.post.wakes: on a driven engine, a packet posted from another thread wakes the owner's "
    "waiting dequeue every time") {
    // The owner checks the queue, then sleeps in the kernel: a post that lands between the two
    // must still end the sleep. Both threads run flat out so the post often falls there.
    auto e = driven_engine();
    completion_queue cq(*e);
    constexpr std::uint32_t rounds = 20000;
    std::atomic<std::uint32_t> taken{0};
    std::atomic<bool> quit{false};
    std::thread poster([&] {
        for (std::uint32_t i = 0; i < rounds && !quit.load(); ++i) {
            if (cq.post(i, 1, nullptr) != 0) return;
            while (taken.load(std::memory_order_acquire) == i && !quit.load()) {
            }
        }
    });
    std::uint32_t slow = 0; // dequeues that waited out their 1 s limit with a packet posted
    double worst_ms = 0;
    completion_entry out[4];
    stopwatch total;
    while (taken.load() < rounds && total.ms() < 60000.0) {
        stopwatch sw;
        const std::size_t n = cq.dequeue(out, 4, 1000);
        worst_ms = std::max(worst_ms, sw.ms());
        if (n == 0) {
            ++slow;
            continue;
        }
        if (sw.ms() >= 900.0) ++slow;
        CHECK(out[0].bytes == taken.load()); // in posting order, each once
        taken.fetch_add(static_cast<std::uint32_t>(n), std::memory_order_release);
    }
    quit = true;
    poster.join();
    CHECK(taken.load() == rounds);
    INFO("worst dequeue " << worst_ms << " ms");
    CHECK(slow == 0u);
}

TEST_CASE("cq.direct: on a driven engine, a packet posted before a completion came about is "
          "dequeued before it") {
    // Another thread posts, then sends the byte that completes the owner's receive: the post
    // happened first, so it comes out first, even when one drive of the owner reaps the receive
    // and finds the posted packet waiting.
    auto e = driven_engine();
    completion_queue cq(*e);
    posix_listener listener;
    adopted_pair pair;
    adopt_pair(*e, listener, pair);
    REQUIRE(cq.associate(pair.s, 5) == 0);
    constexpr int rounds = 1000;
    std::atomic<int> go{-1};
    std::thread other([&] {
        for (int i = 0; i < rounds; ++i) {
            while (go.load() < i) {
            }
            if (go.load() > i || cq.post(static_cast<DWORD>(i), 9, nullptr) != 0) return;
            if (!try_send_all(pair.peer, "x")) return;
        }
    });
    int out_of_order = 0;
    int incomplete = 0;
    {
        watchdog dog(60000, [] { hung("cq.direct: the owner's dequeue"); });
        for (int i = 0; i < rounds; ++i) {
            overlapped_op op({64});
            op.recv(pair.s);
            if (!op.call_pending()) break;
            go.store(i);
            ULONG_PTR keys[2] = {0, 0};
            int got = 0;
            for (stopwatch sw; got < 2 && sw.ms() < 5000.0;) {
                completion_entry out[2];
                const std::size_t n = cq.dequeue(out, 2, 1000);
                for (std::size_t k = 0; k < n && got < 2; ++k)
                    keys[got++] = out[k].key;
            }
            if (got < 2) {
                ++incomplete;
                break;
            }
            if (keys[0] != 9) ++out_of_order;
        }
        go.store(rounds + 1);
        other.join();
    }
    CHECK(incomplete == 0);
    CHECK(out_of_order == 0);
}

TEST_CASE("cq.direct: on a driven engine, the owner's own packets and another thread's keep "
          "posting order") {
    auto e = driven_engine();
    completion_queue cq(*e);
    completion_entry out[8];
    REQUIRE(cq.dequeue(out, 8, 0) == 0u); // the first drive binds the owner
    REQUIRE(cq.post(1, 1, nullptr) == 0); // the owner's
    std::thread other([&] { CHECK(cq.post(2, 2, nullptr) == 0); });
    other.join();
    REQUIRE(cq.post(3, 3, nullptr) == 0); // the owner's again, after the other thread's
    REQUIRE(cq.post(4, 4, nullptr) == 0);
    std::size_t got = 0;
    for (stopwatch sw; got < 4 && sw.ms() < 5000.0;)
        got += cq.dequeue(out + got, 8 - got, 100);
    REQUIRE(got == 4u);
    for (std::size_t i = 0; i < 4; ++i)
        CHECK(out[i].key == i + 1);

    // A backlog of the owner's packets that wraps around and outgrows its first storage:
    // each comes out once, in posting order.
    ULONG_PTR next_posted = 100, next_taken = 100;
    int out_of_order = 0;
    for (int round = 0; round < 6; ++round) {
        for (int i = 0; i < 200; ++i)
            REQUIRE(cq.post(0, next_posted++, nullptr) == 0);
        completion_entry batch[150];
        const std::size_t n = cq.dequeue(batch, std::size(batch), 0);
        for (std::size_t i = 0; i < n; ++i)
            out_of_order += batch[i].key != next_taken++ ? 1 : 0;
    }
    for (stopwatch sw; next_taken < next_posted && sw.ms() < 5000.0;) {
        completion_entry batch[64];
        const std::size_t n = cq.dequeue(batch, std::size(batch), 100);
        for (std::size_t i = 0; i < n; ++i)
            out_of_order += batch[i].key != next_taken++ ? 1 : 0;
    }
    CHECK(next_taken == next_posted);
    CHECK(out_of_order == 0);
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

TEST_CASE("cq.direct: a dequeue whose drive completes a handed-over start at once returns "
          "then, not at its time limit") {
    // A receive posted before the engine was first driven is started by that drive; with the
    // data already there, a backend that tries the socket first (asio) completes it before the
    // drive waits. That drive must not then sleep out the dequeue's time limit.
    auto e = driven_engine();
    completion_queue cq(*e);
    posix_listener listener;
    adopted_pair p;
    adopt_pair(*e, listener, p);
    REQUIRE(cq.associate(p.s, 1) == 0);
    send_all(p.peer, "here");
    REQUIRE(wait_kernel_unread(p.s, 4));
    overlapped_op r({8});
    REQUIRE((r.recv(p.s) == 0 || r.call_pending()));
    const auto began = std::chrono::steady_clock::now();
    completion_entry out[1];
    REQUIRE(cq.dequeue(out, 1, 5000) == 1u);
    const auto waited = std::chrono::steady_clock::now() - began;
    CHECK(out[0].overlapped == &r.ov());
    CHECK(out[0].bytes == 4u);
    CHECK(waited < std::chrono::milliseconds(2500)); // before: the full 5 s on asio
}
