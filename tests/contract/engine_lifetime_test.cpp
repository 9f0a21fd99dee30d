// SPDX-License-Identifier: MIT
// cq.engine-gone, engine.lifetime: what is left of an engine's objects once it is destroyed -
// completion queues made on it, its sockets (adopted ones too), their registered memory and
// the events of their operations. Each object is used after the engine is gone; nothing may
// crash, hang or touch freed memory (the ASan and TSan legs run these too).
#include "tests/support/loopback.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <memory>
#include <thread>

using namespace sanport::test;

namespace {

std::unique_ptr<sanport::engine> make_engine(bool own_thread) {
    sanport::engine_options options;
    options.own_thread = own_thread;
    auto e = std::make_unique<sanport::engine>(options);
    REQUIRE(e->status() == 0);
    return e;
}

// A connected OS socket adopted into `e`, and its plain peer.
struct adopted_pair {
    SOCKET s = INVALID_SOCKET;
    peer_socket peer = no_peer;
};

adopted_pair adopt_pair(sanport::engine& e, posix_listener& listener) {
    const peer_socket os = posix_connect(listener.address, listener.address_len);
    REQUIRE(os != no_peer);
    adopted_pair p;
    p.peer = listener.accept_one();
    REQUIRE(p.peer != no_peer);
    int err = 0;
    p.s = e.adopt(static_cast<SOCKET>(os), WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(p.s != INVALID_SOCKET, wsa_name(err));
    return p;
}

} // namespace

TEST_CASE("cq.engine-gone: a queue that outlives its engine is shut down - dequeue returns 0, "
          "post fails with WSAESHUTDOWN, and its destructor is safe") {
    for (const bool own_thread : {true, false}) {
        CAPTURE(own_thread);
        auto e = make_engine(own_thread);
        auto cq = std::make_unique<sanport::completion_queue>(*e);
        WSAOVERLAPPED user{};
        REQUIRE(cq->post(7, 1, &user) == 0);
        e.reset();
        CHECK(cq->is_shut_down());
        sanport::completion_entry entries[4];
        CHECK(cq->dequeue(entries, 4, 0) == 0u);
        {
            // At once, not a hang: a queue left open would wait here for ever.
            watchdog dog(max_wait_ms, [&] { cq->shutdown(); });
            CHECK(cq->dequeue(entries, 4, WSA_INFINITE) == 0u);
            CHECK_FALSE(dog.fired());
        }
        CHECK(wsa_name(cq->post(1, 2, &user)) == "WSAESHUTDOWN");
        cq->shutdown(); // again: harmless
        cq.reset();
    }
}

TEST_CASE("cq.engine-gone: a dequeue waiting on another thread returns 0 when the engine is "
          "destroyed") {
    auto e = make_engine(true);
    sanport::completion_queue cq(*e);
    std::atomic<int> returned{-1};
    std::thread waiter([&] {
        sanport::completion_entry entry;
        returned = static_cast<int>(cq.dequeue(&entry, 1, WSA_INFINITE));
    });
    // A watchdog posts a packet if the waiter is still blocked long after the engine is gone,
    // so a broken core fails the test instead of hanging it.
    sleep_ms(50);
    e.reset();
    watchdog dog(max_wait_ms, [&] { cq.post(0, 0, nullptr); });
    waiter.join();
    CHECK_FALSE(dog.fired());
    CHECK(returned == 0);
    CHECK(cq.is_shut_down());
}

TEST_CASE("engine.lifetime, cq.engine-gone: destroying an engine completes a pending receive "
          "once, aborted - its socket, memory handle and queue are gone, its event stays valid") {
    for (const bool own_thread : {true, false}) {
        CAPTURE(own_thread);
        posix_listener listener;
        auto e = make_engine(own_thread);
        auto cq = std::make_unique<sanport::completion_queue>(*e);
        adopted_pair p = adopt_pair(*e, listener);
        REQUIRE(cq->associate(p.s, 42) == 0);
        std::vector<char> region(64);
        int err = 0;
        HANDLE h = sanport::WSPRegisterMemory(p.s, region.data(), 64, MEM_READ | MEM_WRITE, &err);
        REQUIRE_MESSAGE(h != nullptr, wsa_name(err));
        overlapped_op op({16});
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");

        e.reset();
        // The receive completed exactly once, aborted, and its event (which belongs to the
        // caller, not to the engine) was signalled and can still be used.
        CHECK_FALSE(is_pending(op.ov()));
        CHECK(wsa_name(static_cast<int>(op.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
        CHECK(op.event_signalled_soon());
        CHECK(WSAResetEvent(op.event()) == TRUE);
        CHECK(WSASetEvent(op.event()) == TRUE);
        // The adopted OS socket was closed with the engine: the peer sees the end.
        CHECK(read_until_end(p.peer) == peer_end::eof);
        // Calls on the old handles are refused with a code, never a crash.
        int rerr = 0;
        DWORD flags = 0;
        WSABUF buf{16, region.data()};
        CHECK(sanport::WSPRecv(p.s, &buf, 1, nullptr, &flags, nullptr, nullptr, nullptr, &rerr) ==
              SOCKET_ERROR);
        CHECK(wsa_name(rerr) == "WSAENOTSOCK");
        CHECK(sanport::WSPDeregisterMemory(p.s, h, &rerr) == SOCKET_ERROR);
        CHECK(wsa_name(rerr) == "WSAENOTSOCK");
        // The queue was shut down: the aborted receive's packet is not delivered after that.
        sanport::completion_entry entry;
        CHECK(cq->dequeue(&entry, 1, 0) == 0u);
        CHECK(cq->is_shut_down());
        cq.reset();
        peer_close(p.peer);
    }
}
