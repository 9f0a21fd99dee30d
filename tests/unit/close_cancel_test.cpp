// SPDX-License-Identifier: MIT
// Covers WSPCloseSocket (core/wsp_lifecycle.cpp with recv_queue.cpp and send_queue.cpp) on a
// driven engine over the scripted fake backend: queued operations abort at once, the one
// started request per direction is cancelled through the backend and completes exactly once
// (WSA_OPERATION_ABORTED, or its bytes when the cancel raced with data), nothing is left in the
// kernel when the call returns, and the handle is WSAENOTSOCK afterwards. On a driven engine
// the close drives the engine itself, so the fake's cancel results are reaped inside the call.

#include "core/backend.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/compat.h>
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

namespace {

using namespace sanport::test::unit_names;
} // namespace

TEST_CASE("core: close cancel - 8 receives: the queued 7 abort at once, the head via the backend") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 8) == 0);
    std::vector<WSAEVENT> ev;
    std::vector<posted*> ops;
    for (int i = 0; i < 8; ++i) {
        ev.push_back(WSACreateEvent());
        ops.push_back(&r.recv(s, {16}, 0, ev.back()));
        REQUIRE(is_pending_result(*ops.back()));
    }
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK(ops[0]->owns(r.fake->started_recv(s)->buffers[0].buf));

    // What the core had done when it asked the backend to cancel: the queued ones aborted,
    // the head (still in the kernel) pending.
    int seen_cancels = 0;
    bool head_pending_at_cancel = false;
    int queued_done_at_cancel = 0;
    r.fake->on_cancel = [&](SOCKET which) {
        ++seen_cancels;
        CHECK(which == s);
        head_pending_at_cancel = ops[0]->pending();
        for (int i = 1; i < 8; ++i)
            queued_done_at_cancel += ops[i]->pending() ? 0 : 1;
    };

    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(seen_cancels == 1);
    CHECK(r.fake->cancels == 1);
    CHECK(head_pending_at_cancel);
    CHECK(queued_done_at_cancel == 7);

    for (int i = 0; i < 8; ++i) {
        CAPTURE(i);
        CHECK_FALSE(ops[i]->pending());
        CHECK(ops[i]->status() == WSA_OPERATION_ABORTED);
        CHECK(ops[i]->count() == 0);
        CHECK(signalled(ev[static_cast<std::size_t>(i)]));
    }
    const auto packets = drain(cq);
    CHECK(packets.size() == 8);
    for (const auto& pk : packets)
        CHECK(pk.status == WSA_OPERATION_ABORTED);
    for (posted* p : ops) {
        const auto hits =
            std::count_if(packets.begin(), packets.end(), [&](const sanport::completion_entry& e) {
                return e.overlapped == &p->ov;
            });
        CHECK(hits == 1);
    }
    CHECK(r.fake->ready.empty()); // nothing left for a later reap
    CHECK(r.fake->started_recv(s) == nullptr);
    CHECK(r.fake->detached == 1);
    CHECK(r.fake->started.size() == 1); // the close started nothing new
    for (WSAEVENT e : ev)
        WSACloseEvent(e);
}

TEST_CASE("core: close cancel - a cancel that races with data: the head completes with its bytes") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 8) == 0);
    std::vector<posted*> ops;
    for (int i = 0; i < 8; ++i)
        ops.push_back(&r.recv(s, {16}));
    r.fake->cancel_races_with("xy");
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    REQUIRE_FALSE(ops[0]->pending());
    CHECK(ops[0]->status() == 0);
    CHECK(ops[0]->count() == 2);
    CHECK(ops[0]->got() == "xy");
    for (int i = 1; i < 8; ++i) {
        CHECK_FALSE(ops[i]->pending());
        CHECK(ops[i]->status() == WSA_OPERATION_ABORTED);
    }
    const auto packets = drain(cq);
    CHECK(packets.size() == 8);
    const auto head =
        std::find_if(packets.begin(), packets.end(), [&](const sanport::completion_entry& e) {
            return e.overlapped == &ops[0]->ov;
        });
    REQUIRE(head != packets.end());
    CHECK(head->status == 0);
    CHECK(head->bytes == 2);

    // Closed: WSPGetOverlappedResult still reads each operation's own result.
    DWORD n = 0, flags = 0;
    CHECK(sanport::WSPGetOverlappedResult(s, &ops[0]->ov, &n, FALSE, &flags, &err) == TRUE);
    CHECK(n == 2);
    CHECK(sanport::WSPGetOverlappedResult(s, &ops[5]->ov, &n, FALSE, &flags, &err) == FALSE);
    CHECK(err == WSA_OPERATION_ABORTED);
    CHECK(r.fake->detached == 1);
}

TEST_CASE("core: close cancel - data the kernel reported before the close is not dropped") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8});
    posted& b = r.recv(s, {8});
    CHECK(r.fake->deliver(s, "early") == 5); // reported, not yet dispatched
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(a.status() == 0);
    CHECK(a.got() == "early");
    CHECK(b.status() == WSA_OPERATION_ABORTED);
    CHECK(r.fake->started_recv(s) == nullptr); // nothing started after the close began
    CHECK(r.fake->started.size() == 1);
}

TEST_CASE("core: close cancel - a partly filled MSG_WAITALL head keeps its bytes") {
    rig r;
    const SOCKET s = r.open();
    posted& all = r.recv(s, {10}, MSG_WAITALL);
    posted& next = r.recv(s, {4});
    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    REQUIRE(all.pending());
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK_FALSE(all.pending());
    CHECK(all.status() == 0); // no received byte is silently dropped
    CHECK(all.got() == "abc");
    CHECK(next.status() == WSA_OPERATION_ABORTED);
}

TEST_CASE("core: close cancel - a pending zero-byte receive is aborted") {
    rig r;
    const SOCKET s = r.open();
    posted& zero = r.recv(s, {0});
    REQUIRE(is_pending_result(zero));
    REQUIRE(r.fake->started_recv(s) != nullptr);
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK_FALSE(zero.pending());
    CHECK(zero.status() == WSA_OPERATION_ABORTED);
    CHECK(r.fake->detached == 1);
}

TEST_CASE("core: close cancel - pending and queued sends are aborted too") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 4) == 0);
    WSAEVENT ev = WSACreateEvent();
    posted& recv = r.recv(s, {8});
    posted& first = r.send(s, "hello", ev);
    posted& second = r.send(s, "world");
    REQUIRE(is_pending_result(first));
    REQUIRE(is_pending_result(second));
    REQUIRE(r.fake->started_send(s) != nullptr);
    r.fake->finish_send(s, 2); // short: the rest is re-armed
    r.run();
    REQUIRE(first.pending());
    REQUIRE(r.fake->started_send(s) != nullptr);

    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(r.fake->cancels == 1); // one cancel for the socket, both directions
    CHECK_FALSE(first.pending());
    CHECK(first.status() == WSA_OPERATION_ABORTED);
    CHECK(signalled(ev));
    CHECK_FALSE(second.pending());
    CHECK(second.status() == WSA_OPERATION_ABORTED);
    CHECK_FALSE(recv.pending());
    CHECK(recv.status() == WSA_OPERATION_ABORTED);
    CHECK(drain(cq).size() == 3);
    CHECK(r.fake->started_send(s) == nullptr);
    CHECK(r.fake->detached == 1);
    WSACloseEvent(ev);
}

TEST_CASE("core: close cancel - after close the handle is WSAENOTSOCK") {
    rig r;
    const SOCKET s = r.open();
    posted& p = r.recv(s, {8});
    REQUIRE(is_pending_result(p));
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(r.fake->detached == 1);

    posted& later = r.recv(s, {8});
    CHECK(later.rc == SOCKET_ERROR);
    CHECK(later.err == WSAENOTSOCK);
    posted& out = r.send(s, "x");
    CHECK(out.rc == SOCKET_ERROR);
    CHECK(out.err == WSAENOTSOCK);
    err = 0;
    CHECK(sanport::WSPCloseSocket(s, &err) == SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
    err = 0;
    CHECK(sanport::set_socket_mode(s, sanport::socket_mode::report_disconnect, 1, &err) ==
          SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
    err = 0;
    CHECK(sanport::WSPShutdown(s, SD_BOTH, &err) == SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
    CHECK(r.fake->detached == 1); // detached once, not again
}

TEST_CASE("core: close cancel - closing an idle socket cancels nothing") {
    rig r;
    const SOCKET s = r.open();
    posted& p = r.recv(s, {4});
    CHECK(r.fake->deliver(s, "ok") == 2);
    r.run();
    REQUIRE_FALSE(p.pending());
    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(r.fake->cancels == 0);
    CHECK(r.fake->detached == 1);
    CHECK(p.status() == 0);
    CHECK(p.got() == "ok"); // a completed result is left alone
}

TEST_CASE("core: close cancel - a read-ahead request in flight is cancelled with no completion") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 4) == 0);
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 32, &err) == 0);
    REQUIRE(r.fake->started_recv(s) != nullptr);
    r.fake->cancel_races_with("late"); // bytes nobody asked for: no operation to give them to
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(r.fake->cancels == 1);
    CHECK(r.fake->started_recv(s) == nullptr);
    CHECK(r.fake->ready.empty());
    CHECK(drain(cq).empty());
    CHECK(r.fake->detached == 1);
}

TEST_CASE(
    "core: close cancel - destroying the engine closes its sockets and completes every operation") {
    WSAOVERLAPPED ov[3] = {};
    char mem[3][8] = {};
    WSAEVENT ev = WSACreateEvent();
    {
        rig r;
        const SOCKET s = r.open();
        for (int i = 0; i < 3; ++i) {
            WSABUF b{8, mem[i]};
            DWORD flags = 0, n = 0;
            int err = 0;
            ov[i].hEvent = i == 2 ? ev : nullptr;
            CHECK(sanport::WSPRecv(s, &b, 1, &n, &flags, &ov[i], nullptr, nullptr, &err) ==
                  SOCKET_ERROR);
            CHECK(err == WSA_IO_PENDING);
        }
        r.fake->cancel_races_with("z");
    } // ~engine closes s: the head wins its race, the others abort
    CHECK(ov[0].Internal != WSS_OPERATION_IN_PROGRESS);
    CHECK(ov[0].OffsetHigh == 0);
    CHECK(ov[0].InternalHigh == 1);
    CHECK(mem[0][0] == 'z');
    for (int i = 1; i < 3; ++i) {
        CHECK(ov[i].Internal != WSS_OPERATION_IN_PROGRESS);
        CHECK(ov[i].OffsetHigh == WSA_OPERATION_ABORTED);
    }
    CHECK(signalled(ev));
    WSACloseEvent(ev);
}
