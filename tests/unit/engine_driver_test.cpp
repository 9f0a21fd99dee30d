// SPDX-License-Identifier: MIT
// Rows: the driven engine (own_thread = false) stays its owner's: a thread that only waits
// inside sanport (a close, a blocking call) never claims the driver role.
#include "tests/support/fake_backend.hpp"
#include "tests/support/os_pair.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

namespace {

SOCKET adopt_pair(sanport::engine& e, SOCKET& peer) {
    SOCKET mine = INVALID_SOCKET;
    REQUIRE(sanport::test::make_os_pair(mine, peer));
    int err = 0;
    const SOCKET s = e.adopt(mine, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    return s;
}

} // namespace

TEST_CASE("core: engine - a close from another thread before the owner first drives does not "
          "steal the driven engine") {
    auto fake_owner = std::make_unique<sanport::test::fake_backend>();
    sanport::test::fake_backend* fake = fake_owner.get();
    sanport::engine e(std::move(fake_owner));
    sanport::completion_queue cq(e);
    SOCKET peer_a = INVALID_SOCKET, peer_b = INVALID_SOCKET;
    const SOCKET a = adopt_pair(e, peer_a);
    const SOCKET b = adopt_pair(e, peer_b);
    REQUIRE(cq.associate(b, 7) == 0);

    // A receive posted before anyone drove: handed over, started by the first run_once.
    char buf[8];
    WSABUF wb{sizeof buf, buf};
    WSAOVERLAPPED ov{};
    DWORD flags = 0;
    int err = 0;
    CHECK(sanport::WSPRecv(b, &wb, 1, nullptr, &flags, &ov, nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(err == WSA_IO_PENDING);

    int close_rc = -2;
    std::thread closer([&] {
        int e2 = 0;
        close_rc = sanport::WSPCloseSocket(a, &e2);
    });
    closer.join();
    CHECK(close_rc == 0);

    // The owner still drives: run_once is not refused, and the receive completes through it.
    CHECK(e.run_once(0) >= 0);
    REQUIRE(fake->started_recv(b) != nullptr);
    CHECK(fake->deliver(b, "hello") == 5);
    sanport::completion_entry entry;
    REQUIRE(cq.dequeue(&entry, 1, 1000) == 1);
    CHECK(entry.key == 7);
    CHECK(entry.bytes == 5);
    CHECK(entry.overlapped == &ov);
    CHECK(sanport::WSPCloseSocket(b, &err) == 0);
    sanport::test::close_os_socket(peer_a);
    sanport::test::close_os_socket(peer_b);
}

TEST_CASE("core: engine - a request the backend finished inside start() completes once and "
          "leaves nothing in flight, so close returns") {
    auto fake_owner = std::make_unique<sanport::test::fake_backend>();
    sanport::test::fake_backend* fake = fake_owner.get();
    sanport::engine e(std::move(fake_owner));
    CHECK(e.run_once(0) >= 0); // this thread drives: starts happen inside the calls below
    sanport::completion_queue cq(e);
    SOCKET peer = INVALID_SOCKET;
    const SOCKET s = adopt_pair(e, peer);
    REQUIRE(cq.associate(s, 3) == 0);
    fake->inline_next = 2;
    char data[6] = "hello";
    WSABUF wb{5, data};
    WSAOVERLAPPED first{}, second{};
    int err = 0;
    DWORD sent = 0;
    // The first send finishes inline as the post starts it; the second is queued behind
    // nothing and finishes inline too.
    const int r1 = sanport::WSPSend(s, &wb, 1, &sent, 0, &first, nullptr, nullptr, &err);
    CHECK((r1 == 0 || err == WSA_IO_PENDING));
    const int r2 = sanport::WSPSend(s, &wb, 1, &sent, 0, &second, nullptr, nullptr, &err);
    CHECK((r2 == 0 || err == WSA_IO_PENDING));
    e.run_once(0);
    CHECK(first.InternalHigh == 5);
    CHECK(second.InternalHigh == 5);
    sanport::completion_entry entries[4];
    CHECK(cq.dequeue(entries, 4, 0) == 2);
    // With a leaked in-flight count this close would wait for ever (CTest's time-out).
    CHECK(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(fake->detached == 1);
    sanport::test::close_os_socket(peer);
}

TEST_CASE("core: engine - 200,000 queued sends that the backend finishes inline one after the "
          "other all complete, in order, on a flat stack") {
    auto fake_owner = std::make_unique<sanport::test::fake_backend>();
    sanport::test::fake_backend* fake = fake_owner.get();
    sanport::engine e(std::move(fake_owner));
    CHECK(e.run_once(0) >= 0); // this thread drives
    SOCKET peer = INVALID_SOCKET;
    const SOCKET s = adopt_pair(e, peer);
    // Each inline completion starts the next send; done by recursion, 200,000 of them would
    // need tens of MiB of stack (a main thread has 8 MiB on Linux, 1 MiB on Windows).
    constexpr int n = 200000;
    std::vector<WSAOVERLAPPED> ovs(n);
    char data[2] = "x";
    WSABUF wb{1, data};
    int err = 0, pending = 0;
    DWORD sent = 0;
    for (WSAOVERLAPPED& ov : ovs)
        if (sanport::WSPSend(s, &wb, 1, &sent, 0, &ov, nullptr, nullptr, &err) == SOCKET_ERROR &&
            err == WSA_IO_PENDING)
            ++pending;
    CHECK(pending == n); // the first is in the fake's hands, the rest queue behind it
    REQUIRE(fake->started_send(s) != nullptr);
    fake->inline_next = n - 1;
    fake->finish_send(s, 1);
    e.run_once(0);
    int done = 0;
    for (const WSAOVERLAPPED& ov : ovs)
        done += ov.Internal == 0 && ov.InternalHigh == 1 ? 1 : 0;
    CHECK(done == n);
    CHECK(fake->started.size() == static_cast<std::size_t>(n));
    CHECK(sanport::WSPCloseSocket(s, &err) == 0);
    sanport::test::close_os_socket(peer);
}

TEST_CASE("core: completion queue - on a driven engine, sends that keep finishing inline on one "
          "socket do not starve another socket's completion") {
    auto fake_owner = std::make_unique<sanport::test::fake_backend>();
    sanport::test::fake_backend* fake = fake_owner.get();
    sanport::engine e(std::move(fake_owner));
    CHECK(e.run_once(0) >= 0); // this thread drives
    sanport::completion_queue cq(e);
    SOCKET peer_a = INVALID_SOCKET, peer_b = INVALID_SOCKET;
    const SOCKET a = adopt_pair(e, peer_a);
    const SOCKET b = adopt_pair(e, peer_b);
    REQUIRE(cq.associate(a, 1) == 0);
    REQUIRE(cq.associate(b, 2) == 0);
    char in[8] = {};
    WSABUF rb{sizeof in, in};
    WSAOVERLAPPED rov{}, sov{};
    DWORD flags = 0, count = 0;
    int err = 0;
    REQUIRE(sanport::WSPRecv(b, &rb, 1, &count, &flags, &rov, nullptr, nullptr, &err) ==
            SOCKET_ERROR);
    REQUIRE(err == WSA_IO_PENDING);
    REQUIRE(fake->started_recv(b) != nullptr);
    CHECK(fake->deliver(b, "hi") == 2); // reaped the next time the engine runs

    // The owner's loop: every packet of a makes it send on a again, and each send finishes
    // inside WSPSend, so a packet is always waiting when it dequeues.
    fake->inline_next = 1000000;
    char data[2] = "x";
    WSABUF wb{1, data};
    sanport::WSPSend(a, &wb, 1, &count, 0, &sov, nullptr, nullptr, &err);
    int dequeues = 0;
    bool b_done = false;
    while (!b_done && dequeues < 1000) {
        sanport::completion_entry got[4];
        const std::size_t n = cq.dequeue(got, 4, 0);
        ++dequeues;
        for (std::size_t i = 0; i < n; ++i) {
            if (got[i].key == 2) b_done = true;
            if (got[i].key == 1)
                sanport::WSPSend(a, &wb, 1, &count, 0, &sov, nullptr, nullptr, &err);
        }
    }
    MESSAGE("b's packet after " << dequeues << " dequeues");
    CHECK(b_done);
    CHECK(dequeues <= 32);
    CHECK(rov.InternalHigh == 2);
    CHECK(sanport::WSPCloseSocket(a, &err) == 0);
    CHECK(sanport::WSPCloseSocket(b, &err) == 0);
    sanport::test::close_os_socket(peer_a);
    sanport::test::close_os_socket(peer_b);
}
