// SPDX-License-Identifier: MIT
// docs/contract.md rows cq.readiness, cq.readiness.handoff and cq.readiness.none: a completion
// queue drained from a plain epoll loop, with no thread of sanport's waiting anywhere.

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/timer.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "driven_pair.hpp"

#ifndef _WIN32
#include <sys/epoll.h>
#include <unistd.h>
#endif

using namespace sanport;
using namespace sanport::test;

namespace {

#ifndef _WIN32
bool driven_readiness_supported(engine& e) {
    return std::strcmp(e.backend_name(), "io_uring") == 0;
}

// A plain epoll loop around one readiness handle: waits (level- or edge-triggered), then calls
// dequeue_ready until it returns fewer than `max`, as the header's protocol says.
class epoll_loop {
public:
    epoll_loop(completion_queue& cq, bool edge) : cq_(cq) {
        REQUIRE(cq.readiness_handle(fd_) == 0);
        int again = -1;
        REQUIRE(cq.readiness_handle(again) == 0);
        CHECK(again == fd_); // the same descriptor on every call
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        REQUIRE(ep_ >= 0);
        epoll_event ev{};
        ev.events = EPOLLIN | (edge ? EPOLLET : 0u);
        REQUIRE(::epoll_ctl(ep_, EPOLL_CTL_ADD, fd_, &ev) == 0);
    }
    ~epoll_loop() { ::close(ep_); }
    epoll_loop(const epoll_loop&) = delete;
    epoll_loop& operator=(const epoll_loop&) = delete;

    // One wait of up to timeout_ms, then the drain. Returns the packets taken.
    std::vector<completion_entry> turn(int timeout_ms, std::size_t max = 4) {
        std::vector<completion_entry> got;
        epoll_event ev{};
        const int ready = ::epoll_wait(ep_, &ev, 1, timeout_ms);
        if (ready <= 0) return got;
        ++wakeups;
        completion_entry batch[8];
        for (;;) {
            const std::size_t n = cq_.dequeue_ready(batch, max);
            got.insert(got.end(), batch, batch + n);
            if (n < max) break;
        }
        return got;
    }
    // Turns until `n` packets came, or `total_ms` passed.
    std::vector<completion_entry> collect(std::size_t n, int total_ms = 10000) {
        std::vector<completion_entry> got;
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(total_ms);
        while (got.size() < n && std::chrono::steady_clock::now() < until) {
            auto more = turn(100);
            got.insert(got.end(), more.begin(), more.end());
        }
        return got;
    }
    int wakeups = 0;

private:
    completion_queue& cq_;
    int fd_ = -1;
    int ep_ = -1;
};

#endif

} // namespace

#ifndef _WIN32
TEST_CASE("cq.readiness: a driven engine's queue drained from a plain epoll loop - data, the "
          "owner's own immediate completion, a timer") {
    for (const bool edge : {false, true}) {
        CAPTURE(edge);
        driven_queue_pair t;
        auto& [e, cq, listener, p] = t;
        if (!driven_readiness_supported(*e)) {
            int fd = -1;
            CHECK(cq.readiness_handle(fd) == WSAEOPNOTSUPP);
            CHECK(std::string(last_error_detail()).find("asio") != std::string::npos);
            return;
        }
        watchdog dog(60000, [] { hung("cq.readiness: the epoll loop"); });
        REQUIRE(cq.associate(p.s, 7) == 0);
        epoll_loop loop(cq, edge);

        // Receives pending in the kernel; data arrives while the owner sleeps in epoll_wait.
        overlapped_op r[3];
        for (auto& one : r)
            REQUIRE((one.recv(p.s), one.call_pending()));
        CHECK(loop.turn(100).empty()); // the first drive submits them; nothing arrived yet
        send_all(p.peer, "one");
        auto got = loop.collect(1);
        REQUIRE(got.size() == 1u);
        CHECK(got[0].overlapped == &r[0].ov());
        CHECK(got[0].bytes == 3u);
        CHECK(got[0].key == 7u);
        for (int i = 1; i <= 2; ++i) {
            send_all(p.peer, "two");
            got = loop.collect(1);
            REQUIRE(got.size() == 1u);
            CHECK(got[0].overlapped == &r[i].ov()); // posting order
            CHECK(got[0].bytes == 3u);
        }

        // The owner's own packets queued outside a drive make the descriptor readable: a post,
        // and a receive of data already queued (which io_uring may complete inside the call
        // or at the next drive).
        WSAOVERLAPPED mine{};
        REQUIRE(cq.post(11, 8, &mine) == 0);
        got = loop.collect(1, 2000);
        REQUIRE(got.size() == 1u);
        CHECK(got[0].overlapped == &mine);
        CHECK(got[0].bytes == 11u);
        send_all(p.peer, "four");
        REQUIRE(wait_kernel_unread(p.s, 4));
        overlapped_op now;
        CHECK((now.recv(p.s) == 0 || now.call_pending()));
        got = loop.collect(1, 2000);
        REQUIRE(got.size() == 1u);
        CHECK(got[0].overlapped == &now.ov());
        CHECK(got[0].bytes == 4u);

        // A timer armed by the owner between drives fires through the descriptor.
        timer tm(cq);
        WSAOVERLAPPED tov{};
        const auto began = std::chrono::steady_clock::now();
        REQUIRE(tm.start(50, 0x99, &tov) == 0);
        got = loop.collect(1, 5000);
        REQUIRE(got.size() == 1u);
        CHECK(got[0].key == 0x99u);
        CHECK(std::chrono::steady_clock::now() - began >= std::chrono::milliseconds(50));
    }
}

TEST_CASE("cq.readiness: edge-triggered, bursts larger than one drain leave nothing behind") {
    auto e = driven_engine();
    completion_queue cq(*e);
    if (!driven_readiness_supported(*e)) return; // the case above checks the refusal
    watchdog dog(60000, [] { hung("cq.readiness: the burst"); });
    epoll_loop loop(cq, true);
    // 20 packets of the owner's, queued before the loop first waits, and 20 another thread
    // posts while it waits; drained 4 at a time.
    std::vector<WSAOVERLAPPED> mine(20);
    std::vector<WSAOVERLAPPED> theirs(20);
    for (auto& ov : mine)
        REQUIRE(cq.post(0, 2, &ov) == 0);
    std::thread poster([&] {
        for (auto& ov : theirs) {
            sleep_ms(2);
            cq.post(0, 3, &ov);
        }
    });
    auto got = loop.collect(40);
    poster.join();
    REQUIRE(got.size() == 40u);
    std::size_t next_mine = 0;
    std::size_t next_theirs = 0;
    for (const auto& c : got) {
        if (c.key == 2) {
            REQUIRE(next_mine < mine.size());
            CHECK(c.overlapped == &mine[next_mine++]); // oldest first, once each
        } else {
            REQUIRE(c.key == 3u);
            REQUIRE(next_theirs < theirs.size());
            CHECK(c.overlapped == &theirs[next_theirs++]);
        }
    }
    CHECK(loop.turn(100).empty());
}

TEST_CASE("cq.readiness.handoff: the owner's cancel between drives, and another thread's close, "
          "reach an owner that waits in epoll") {
    driven_queue_pair t;
    auto& [e, cq, listener, p] = t;
    if (!driven_readiness_supported(*e)) return;
    watchdog dog(60000, [] { hung("cq.readiness.handoff"); });
    REQUIRE(cq.associate(p.s, 5) == 0);
    epoll_loop loop(cq, true);
    overlapped_op r;
    REQUIRE((r.recv(p.s), r.call_pending()));
    CHECK(loop.turn(50).empty());
    // The owner's own cancel between drives: the loop must drive to hand it to the kernel.
    overlapped_op c;
    REQUIRE((c.recv(p.s), c.call_pending()));
    CHECK(loop.turn(50).empty());
    int err = 0;
    // Cancels r first, in the kernel (the head), then c, queued behind it.
    REQUIRE(WSPCancelIoEx(p.s, &r.ov(), &err) == 0);
    auto got = loop.collect(1, 5000);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &r.ov());
    CHECK(got[0].status == WSA_OPERATION_ABORTED);
    REQUIRE(loop.turn(50).empty()); // c went into the kernel at that drive
    // The close is handed to the owner (close.other-thread); only its next drive completes the
    // receive, and nothing but the descriptor tells the owner to drive.
    std::thread closer([&] {
        int close_err = 0;
        CHECK(WSPCloseSocket(p.s, &close_err) == 0);
    });
    closer.join();
    got = loop.collect(1, 5000);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &c.ov());
    CHECK(got[0].status == WSA_OPERATION_ABORTED);
}

TEST_CASE("cq.readiness.handoff: packets the owner queues in a drive that is not its loop's "
          "drain - another queue's, a close that drives - still make the descriptor readable") {
    auto e = driven_engine();
    completion_queue qa(*e);
    completion_queue qb(*e);
    if (!driven_readiness_supported(*e)) return;
    watchdog dog(60000, [] { hung("cq.readiness.handoff: other drives"); });
    epoll_loop la(qa, true);
    epoll_loop lb(qb, true);
    posix_listener listener;
    adopted_pair pa;
    adopt_pair(*e, listener, pa);
    adopted_pair pb;
    adopt_pair(*e, listener, pb);
    REQUIRE(qa.associate(pa.s, 1) == 0);
    REQUIRE(qb.associate(pb.s, 2) == 0);
    overlapped_op rb;
    REQUIRE((rb.recv(pb.s), rb.call_pending()));
    CHECK(la.turn(50).empty()); // drives: rb goes to the kernel
    send_all(pb.peer, "bee");
    // A's loop drives and reaps B's completion; B's descriptor must say so.
    for (int i = 0; i < 20 && la.turn(10).empty(); ++i) {
    }
    auto got = lb.collect(1, 5000);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &rb.ov());
    CHECK(got[0].bytes == 3u);

    // The owner closes a socket with a receive in the kernel: the close drives the engine until
    // the receive is back, and its aborted packet waits in A for A's loop.
    overlapped_op ra;
    REQUIRE((ra.recv(pa.s), ra.call_pending()));
    CHECK(la.turn(50).empty());
    int err = 0;
    REQUIRE(WSPCloseSocket(pa.s, &err) == 0);
    got = la.collect(1, 5000);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &ra.ov());
    CHECK(got[0].status == WSA_OPERATION_ABORTED);
}

TEST_CASE("cq.readiness: on io_uring the handle is asked for before the engine is first "
          "driven, else WSAEINVAL says so") {
    auto e = driven_engine();
    completion_queue cq(*e);
    if (!driven_readiness_supported(*e)) return;
    completion_entry out[1];
    CHECK(cq.dequeue(out, 1, 0) == 0u); // the first drive: the ring is in use from here
    int fd = -1;
    CHECK(cq.readiness_handle(fd) == WSAEINVAL);
    CHECK(std::string(last_error_detail()).find("first driven") != std::string::npos);
}

TEST_CASE("cq.readiness: an engine with its own thread - any thread drains, packets wake the "
          "loop") {
    engine e; // its own thread
    REQUIRE(e.status() == 0);
    completion_queue cq(e);
    watchdog dog(60000, [] { hung("cq.readiness: own thread"); });
    posix_listener listener;
    adopted_pair p;
    adopt_pair(e, listener, p);
    REQUIRE(cq.associate(p.s, 9) == 0);
    epoll_loop loop(cq, true);
    overlapped_op r;
    REQUIRE((r.recv(p.s), r.call_pending()));
    CHECK(loop.turn(50).empty());
    send_all(p.peer, "hello");
    auto got = loop.collect(1);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &r.ov());
    CHECK(got[0].bytes == 5u);
    std::vector<WSAOVERLAPPED> ovs(10);
    for (auto& ov : ovs)
        REQUIRE(cq.post(1, 4, &ov) == 0);
    got = loop.collect(10);
    REQUIRE(got.size() == 10u);
    for (std::size_t i = 0; i < ovs.size(); ++i)
        CHECK(got[i].overlapped == &ovs[i]);
    const int before = loop.wakeups;
    cq.shutdown();
    CHECK(loop.turn(1000).empty());
    CHECK(loop.wakeups == before + 1); // the shutdown made it readable too
}
#else
TEST_CASE("cq.readiness.none: Windows has no readiness handle for a completion port") {
    completion_queue cq;
    int fd = -1;
    CHECK(cq.readiness_handle(fd) == WSAEOPNOTSUPP);
    CHECK(std::string(last_error_detail()).find("Windows") != std::string::npos);
    completion_entry out[1];
    CHECK(cq.dequeue_ready(out, 1) == 0);
}
#endif
