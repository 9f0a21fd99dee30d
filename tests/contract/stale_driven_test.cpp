// SPDX-License-Identifier: MIT
// docs/contract.md row stale.retire.driven: a stale entry of a driven engine, with a receive in
// the kernel, met by a thread that is not the engine's owner while the owner does not drive
// (it waits in a join). The retirement must not wait for the owner: the call goes on at once
// and the owner's next drive completes the stale entry's operations.
//
// Linux only, as stale_handle_test.cpp: the OS must hand the closed number to the next socket.

#include <doctest/doctest.h>

#include "../support/loopback.hpp"
#include "driven_pair.hpp"
#include "hold_below.hpp"

#ifndef _WIN32

#include <sanport/engine.h>

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace sanport;
using namespace sanport::test;

namespace {

// A driven engine (this thread owns it) with an adopted connection whose two receives are
// pending, the first in the kernel; then its OS socket is closed behind sanport's back.
struct driven_stale {
    std::unique_ptr<engine> e;
    std::unique_ptr<completion_queue> cq;
    posix_listener listener;
    peer_socket peer = no_peer;
    SOCKET old = INVALID_SOCKET;
    std::vector<std::unique_ptr<overlapped_op>> ops;

    driven_stale() {
        engine_options options;
        options.own_thread = false;
        e = std::make_unique<engine>(options);
        REQUIRE(e->status() == 0);
        cq = std::make_unique<completion_queue>(*e);
        const peer_socket os = posix_connect(listener.address, listener.address_len);
        REQUIRE(os != no_peer);
        peer = listener.accept_one();
        REQUIRE(peer != no_peer);
        int err = 0;
        old = e->adopt(static_cast<SOCKET>(os), WSA_FLAG_OVERLAPPED, &err);
        REQUIRE_MESSAGE(old != INVALID_SOCKET, wsa_name(err));
        REQUIRE(cq->associate(old, 0x57A1E) == 0);
        for (int i = 0; i < 2; ++i) {
            ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{16}));
            REQUIRE(ops.back()->recv(old) == SOCKET_ERROR);
            REQUIRE(wsa_name(ops.back()->err) == "WSA_IO_PENDING");
        }
        CHECK(e->run_once(0) >= 0); // the first receive is in the kernel: only a drive reaps it
        REQUIRE(::close(static_cast<int>(old)) == 0);
    }
    ~driven_stale() { peer_close(peer); }
    driven_stale(const driven_stale&) = delete;
    driven_stale& operator=(const driven_stale&) = delete;

    // The owner drives: each receive completes exactly once, aborted, with one packet.
    void check_completed_once() {
        watchdog dog(max_wait_ms, [] { hung("the owner's drive after a late retirement"); });
        auto packets = dequeue_n(*cq, ops.size(), 2000);
        CHECK(packets.size() == ops.size());
        std::set<WSAOVERLAPPED*> mine, seen;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            INFO("receive " << i);
            CHECK_FALSE(ops[i]->pending());
            CHECK(ops[i]->event_signalled_soon());
            CHECK(wsa_name(static_cast<int>(ops[i]->ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
            mine.insert(&ops[i]->ov());
        }
        for (const completion_entry& p : packets) {
            CHECK(p.key == 0x57A1Eu);
            seen.insert(p.overlapped);
        }
        CHECK(seen == mine);
        CHECK(count_more(*cq, settle_ms) == 0u);
    }
};

// A receive posted before the data and a send, on s; the owner drives while it waits (fWait).
void carries_data(SOCKET s, peer_socket peer) {
    watchdog dog(max_wait_ms, [] { hung("the new socket's receive (lost registration?)"); });
    overlapped_op in({64});
    const int rc = in.recv(s);
    REQUIRE((rc == 0 || in.call_pending()));
    delayed later(20, [&] { try_send_all(peer, "ping from the peer"); });
    op_result r = in.result(s, TRUE);
    REQUIRE(r.ok == TRUE);
    CHECK(in.data(r.bytes) == "ping from the peer");
    overlapped_op out({64});
    out.send(s, "pong from sanport");
    CHECK(out.result(s, TRUE).ok == TRUE);
    CHECK(read_exactly(peer, 17) == "pong from sanport");
}

} // namespace

TEST_CASE("stale.retire.driven: another thread adopts the reused number into the same driven "
          "engine while the owner waits in a join - at once - the owner's drive completes the "
          "stale receives once and the new socket works") {
    posix_listener server; // before the close: it must not take the number
    driven_stale t;
    peer_socket fresh_os = no_peer;
    {
        hold_below hold(t.old);
        fresh_os = posix_connect(server.address, server.address_len);
    }
    REQUIRE(fresh_os != no_peer);
    REQUIRE(static_cast<SOCKET>(fresh_os) == t.old);
    peer_socket other = server.accept_one();
    REQUIRE(other != no_peer);
    SOCKET adopted = INVALID_SOCKET;
    int err = 0;
    double took_ms = 0;
    {
        watchdog dog(max_wait_ms, [] { hung("adopting a reused number, owner in join"); });
        std::thread caller([&] {
            stopwatch took;
            adopted = t.e->adopt(static_cast<SOCKET>(fresh_os), WSA_FLAG_OVERLAPPED, &err);
            took_ms = took.ms();
        });
        caller.join();
    }
    REQUIRE_MESSAGE(adopted != INVALID_SOCKET, wsa_name(err));
    CHECK(adopted == t.old);
    CHECK(took_ms < 1000);
    t.check_completed_once();
    // The late retirement touched nothing of the new socket (Asio deregisters by number).
    for (int i = 0; i < 5; ++i)
        t.e->run_once(10);
    carries_data(adopted, other);
    CHECK(WSPCloseSocket(adopted, &err) == 0);
    peer_close(other);
}

TEST_CASE("stale.retire.driven: another thread's WSPSocket gets the reused number while the "
          "driven engine's owner waits in a join - at once - the owner's drive completes the stale "
          "receives once") {
    REQUIRE(default_engine().status() == 0); // started now, not while numbers are held
    driven_stale t;
    SOCKET fresh = INVALID_SOCKET;
    int err = 0;
    double took_ms = 0;
    {
        hold_below hold(t.old);
        watchdog dog(max_wait_ms, [] { hung("WSPSocket meeting a stale entry, owner in join"); });
        std::thread caller([&] {
            stopwatch took;
            fresh =
                WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
            took_ms = took.ms();
        });
        caller.join();
    }
    REQUIRE_MESSAGE(fresh != INVALID_SOCKET, "WSPSocket failed with " << wsa_name(err));
    CHECK(fresh == t.old);
    CHECK(took_ms < 1000);
    t.check_completed_once();
    CHECK(WSPCloseSocket(fresh, &err) == 0);
}

TEST_CASE("stale.retire.driven: destroying the driven engine before its owner drove again "
          "completes the stale receives once and leaves the socket that took the number alone") {
    REQUIRE(default_engine().status() == 0);
    auto t = std::make_unique<driven_stale>();
    SOCKET fresh = INVALID_SOCKET;
    int err = 0;
    {
        hold_below hold(t->old);
        watchdog dog(max_wait_ms, [] { hung("WSPSocket meeting a stale entry, owner in join"); });
        std::thread caller([&] {
            fresh =
                WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        });
        caller.join();
    }
    REQUIRE_MESSAGE(fresh != INVALID_SOCKET, "WSPSocket failed with " << wsa_name(err));
    REQUIRE(fresh == t->old);
    {
        watchdog dog(max_wait_ms, [] { hung("destroying the engine after a late retirement"); });
        t->e.reset(); // the owner destroys it without driving first
    }
    for (std::size_t i = 0; i < t->ops.size(); ++i) {
        INFO("receive " << i);
        CHECK_FALSE(t->ops[i]->pending());
        CHECK(wsa_name(static_cast<int>(t->ops[i]->ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
    }
    CHECK(os_socket_open(fresh)); // the default engine's socket under the same number
    CHECK(WSPCloseSocket(fresh, &err) == 0);
}

#endif // _WIN32
