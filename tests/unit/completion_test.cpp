// SPDX-License-Identifier: MIT
// Covers core/completion.cpp through WSPRecv on a driven engine over the scripted fake backend:
// the WSAOVERLAPPED bookkeeping of docs/contract.md §4 (0x103 while pending; InternalHigh,
// Offset, OffsetHigh, then Internal on completion), one event signal per operation, the low bit
// of hEvent (event yes, packet no), packets for immediate successes unless skip_on_success, and
// exactly one completion per operation.

#include "core/backend.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/compat.h>
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace sanport::test::unit_names;
WSAEVENT low_bit(WSAEVENT event) {
    return reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(event) | 1u);
}

} // namespace

TEST_CASE("core: completion - WSAOVERLAPPED bookkeeping while pending and after completion") {
    rig r;
    const SOCKET s = r.open();
    posted& p = r.fresh({8});
    p.ov.Internal = 0;
    p.ov.InternalHigh = 0x1111;
    p.ov.Offset = 0x2222;
    p.ov.OffsetHigh = 0x3333;
    p.flags = MSG_PEEK;
    p.rc =
        sanport::WSPRecv(s, p.bufs.data(), 1, &p.bytes, &p.flags, &p.ov, nullptr, nullptr, &p.err);
    REQUIRE(is_pending_result(p));
    CHECK(p.ov.Internal == WSS_OPERATION_IN_PROGRESS);
    CHECK(p.bytes == 0xdeadbeef); // untouched while pending
    CHECK(p.flags == MSG_PEEK);   // untouched while pending
    DWORD n = 0, flags = 0;
    int err = 0;
    CHECK(sanport::WSPGetOverlappedResult(s, &p.ov, &n, FALSE, &flags, &err) == FALSE);
    CHECK(err == WSA_IO_INCOMPLETE);
    r.run();
    CHECK(p.ov.Internal == WSS_OPERATION_IN_PROGRESS); // nothing happened yet

    CHECK(r.fake->deliver(s, "hello") == 5);
    CHECK(p.ov.Internal == WSS_OPERATION_IN_PROGRESS); // reported, not yet dispatched
    r.run();
    CHECK(p.ov.Internal != WSS_OPERATION_IN_PROGRESS);
    CHECK(p.ov.InternalHigh == 5);
    CHECK(p.ov.Offset == 0);
    CHECK(p.ov.OffsetHigh == 0);
    CHECK(p.got() == "hello");
    CHECK(p.bytes == 0xdeadbeef); // a pending call's out-parameters are never written later
    n = 0;
    flags = 0xff;
    CHECK(sanport::WSPGetOverlappedResult(s, &p.ov, &n, FALSE, &flags, &err) == TRUE);
    CHECK(n == 5);
    CHECK(flags == 0);

    // A failure: OffsetHigh holds the code, Internal is neither 0x103 nor 0.
    posted& q = r.fresh({8});
    q.ov.InternalHigh = 0x1111;
    q.ov.Offset = 0x2222;
    q.rc =
        sanport::WSPRecv(s, q.bufs.data(), 1, &q.bytes, &q.flags, &q.ov, nullptr, nullptr, &q.err);
    REQUIRE(is_pending_result(q));
    CHECK(q.ov.Internal == WSS_OPERATION_IN_PROGRESS);
    r.fake->deliver_error(s, WSAECONNRESET);
    r.run();
    CHECK(q.ov.Internal != WSS_OPERATION_IN_PROGRESS);
    CHECK(q.ov.Internal != 0);
    CHECK(q.ov.InternalHigh == 0);
    CHECK(q.ov.Offset == 0);
    CHECK(q.ov.OffsetHigh == WSAECONNRESET);
    CHECK(sanport::WSPGetOverlappedResult(s, &q.ov, &n, FALSE, &flags, &err) == FALSE);
    CHECK(err == WSAECONNRESET);
}

TEST_CASE("core: completion - an immediate completion fills the overlapped result and the "
          "out-parameters") {
    rig r;
    const SOCKET s = r.open();
    WSAEVENT ev = WSACreateEvent();
    posted& first = r.recv(s, {4});
    r.fake->deliver_eof(s);
    r.run();
    REQUIRE_FALSE(first.pending());
    posted& p = r.fresh({4}, ev);
    p.ov.InternalHigh = 0x1111;
    p.ov.OffsetHigh = 0x3333;
    p.flags = MSG_PARTIAL;
    p.rc =
        sanport::WSPRecv(s, p.bufs.data(), 1, &p.bytes, &p.flags, &p.ov, nullptr, nullptr, &p.err);
    CHECK(p.rc == 0);
    CHECK(p.bytes == 0);
    CHECK(p.flags == 0);
    CHECK(p.ov.Internal != WSS_OPERATION_IN_PROGRESS);
    CHECK(p.ov.InternalHigh == 0);
    CHECK(p.ov.OffsetHigh == 0);
    CHECK(signalled(ev));
    WSACloseEvent(ev);
}

TEST_CASE("core: completion - each operation's event is signalled once, by its own completion") {
    rig r;
    const SOCKET s = r.open();
    WSAEVENT ev[4] = {WSACreateEvent(), WSACreateEvent(), WSACreateEvent(), WSACreateEvent()};
    posted& a = r.recv(s, {4}, 0, ev[0]);
    posted& b = r.recv(s, {4}, MSG_WAITALL, ev[1]);
    posted& c = r.recv(s, {4}, 0, ev[2]);
    for (WSAEVENT e : ev)
        CHECK_FALSE(signalled(e));

    CHECK(r.fake->deliver(s, "aa") == 2);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(signalled(ev[0]));
    CHECK_FALSE(signalled(ev[1]));
    CHECK_FALSE(signalled(ev[2]));
    WSAResetEvent(ev[0]);

    CHECK(r.fake->deliver(s, "bb") == 2); // half of the MSG_WAITALL one: no signal yet
    r.run();
    CHECK(b.pending());
    CHECK_FALSE(signalled(ev[1]));
    CHECK(r.fake->deliver(s, "BB") == 2);
    r.run();
    CHECK_FALSE(b.pending());
    CHECK(signalled(ev[1]));
    CHECK_FALSE(signalled(ev[0]));
    CHECK_FALSE(signalled(ev[2]));
    WSAResetEvent(ev[1]);

    r.fake->deliver_eof(s);
    r.run();
    CHECK(signalled(ev[2]));
    CHECK_FALSE(signalled(ev[0]));
    CHECK_FALSE(signalled(ev[1]));
    WSAResetEvent(ev[2]);

    // An immediate completion signals its event too.
    posted& d = r.recv(s, {4}, 0, ev[3]);
    CHECK(d.rc == 0);
    CHECK(signalled(ev[3]));
    WSAResetEvent(ev[3]);

    // Nothing later signals any of them again: more engine rounds, then the close.
    for (int i = 0; i < 3; ++i)
        r.run();
    int err = 0;
    CHECK(sanport::WSPCloseSocket(s, &err) == 0);
    for (WSAEVENT e : ev)
        CHECK_FALSE(signalled(e));
    for (WSAEVENT e : ev)
        WSACloseEvent(e);
    (void)c;
}

TEST_CASE("core: completion - low bit of hEvent: the event is signalled, no packet is queued") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 11) == 0);
    WSAEVENT ev = WSACreateEvent();
    REQUIRE((reinterpret_cast<std::uintptr_t>(ev) & 1u) == 0);

    posted& p = r.recv(s, {8}, 0, low_bit(ev));
    REQUIRE(is_pending_result(p));
    posted& plain = r.recv(s, {8});
    CHECK(r.fake->deliver(s, "bit") == 3);
    r.run();
    CHECK_FALSE(p.pending());
    CHECK(p.got() == "bit");
    CHECK(signalled(ev));
    CHECK(drain(cq).empty());
    CHECK(p.ov.hEvent == low_bit(ev)); // the caller's value is left as it was
    DWORD n = 0, flags = 0;
    int err = 0;
    CHECK(sanport::WSPGetOverlappedResult(s, &p.ov, &n, FALSE, &flags, &err) == TRUE);
    CHECK(n == 3);
    WSAResetEvent(ev);

    // The op without the bit still queues its packet.
    CHECK(r.fake->deliver(s, "x") == 1);
    r.run();
    auto packets = drain(cq);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].overlapped == &plain.ov);

    // WSPGetOverlappedResult can wait for such an operation (the result is already reported
    // by the kernel; the wait drives the engine, since this thread is the engine thread).
    posted& w = r.recv(s, {8}, 0, low_bit(ev));
    REQUIRE(is_pending_result(w));
    CHECK(r.fake->deliver(s, "wait") == 4);
    CHECK(sanport::WSPGetOverlappedResult(s, &w.ov, &n, TRUE, &flags, &err) == TRUE);
    CHECK(n == 4);
    CHECK(signalled(ev));
    WSAResetEvent(ev);

    // An immediate completion with the bit set: no packet either.
    posted& end = r.recv(s, {8});
    REQUIRE(is_pending_result(end));
    r.fake->deliver_eof(s);
    r.run();
    CHECK_FALSE(end.pending());
    CHECK(drain(cq).size() == 1);
    posted& now = r.recv(s, {8}, 0, low_bit(ev));
    CHECK(now.rc == 0);
    CHECK(signalled(ev));
    CHECK(drain(cq).empty());
    WSACloseEvent(ev);
}

TEST_CASE("core: completion - immediate success queues a packet, unless skip_on_success") {
    rig r;
    const SOCKET s1 = r.open();
    const SOCKET s2 = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s1, 1) == 0);
    REQUIRE(cq.associate(s2, 2, true) == 0);
    int err = 0;
    for (SOCKET s : {s1, s2})
        REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 64, &err) == 0);
    CHECK(r.fake->deliver(s1, "one") == 3);
    CHECK(r.fake->deliver(s2, "two") == 3);
    r.run();
    CHECK(drain(cq).empty()); // read-ahead is no operation of the caller's

    WSAEVENT ev = WSACreateEvent();
    posted& a = r.recv(s1, {8});
    CHECK(a.rc == 0);
    CHECK(a.got() == "one");
    auto packets = drain(cq);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].overlapped == &a.ov);
    CHECK(packets[0].key == 1);
    CHECK(packets[0].bytes == 3);
    CHECK(packets[0].status == 0);

    posted& b = r.recv(s2, {8}, 0, ev);
    CHECK(b.rc == 0);
    CHECK(b.bytes == 3);
    CHECK(b.got() == "two");
    CHECK_FALSE(b.pending());
    CHECK(signalled(ev)); // the event is still signalled
    CHECK(drain(cq).empty());

    // skip_on_success covers immediate successes only: a pending one still queues its packet.
    posted& c = r.recv(s2, {8});
    REQUIRE(is_pending_result(c));
    CHECK(r.fake->deliver(s2, "later") == 5);
    r.run();
    packets = drain(cq);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].overlapped == &c.ov);
    CHECK(packets[0].key == 2);
    CHECK(packets[0].bytes == 5);
    WSACloseEvent(ev);
}

TEST_CASE("core: completion - every operation completes exactly once: count the packets") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 77) == 0);
    std::vector<posted*> all;
    for (int i = 0; i < 3; ++i)
        all.push_back(&r.recv(s, {4}));
    all.push_back(&r.recv(s, {0}));
    all.push_back(&r.recv(s, {8}, MSG_WAITALL));
    for (int i = 0; i < 5; ++i)
        all.push_back(&r.recv(s, {4}));
    posted& sent = r.send(s, "hello");
    posted& queued_send = r.send(s, "world");
    all.push_back(&sent);
    all.push_back(&queued_send);
    for (posted* p : all)
        REQUIRE(is_pending_result(*p));

    CHECK(r.fake->deliver(s, "abcd") == 4);
    r.run();
    r.fake->deliver_error(s, WSAEFAULT);
    r.run();
    CHECK(r.fake->deliver(s, "ef") == 2);
    r.run();
    r.fake->deliver(s, "probe"); // the zero-byte receive's probe
    r.run();
    CHECK(r.fake->deliver(s, "xyz") == 3); // part of the MSG_WAITALL one
    r.run();
    r.fake->finish_send(s, 2); // short: re-armed
    r.run();
    r.fake->finish_send(s, 3);
    r.run();
    CHECK_FALSE(sent.pending());
    CHECK(queued_send.pending());

    int err = 0;
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    r.run();
    const auto packets = drain(cq);
    CHECK(packets.size() == all.size());
    for (posted* p : all) {
        CHECK_FALSE(p->pending());
        const auto hits =
            std::count_if(packets.begin(), packets.end(), [&](const sanport::completion_entry& e) {
                return e.overlapped == &p->ov;
            });
        CHECK(hits == 1);
    }
    for (const auto& pk : packets)
        CHECK(pk.key == 77);
    CHECK(r.fake->ready.empty());
    CHECK(r.fake->max_in_flight_per_socket_dir == 1);
}

TEST_CASE("core: completion queue - several threads waiting without a time limit get a packet "
          "each time they return, never 0 before shutdown") {
    // On an engine with its own thread (the default one): on a driven engine only the owner
    // dequeues (engine.owner), so several waiting dequeuers are an own-thread engine's case.
    sanport::completion_queue cq;
    constexpr int packets = 60000;
    std::atomic<int> taken{0}, spurious{0};
    std::vector<std::thread> dequeuers;
    for (int t = 0; t < 3; ++t)
        dequeuers.emplace_back([&] {
            sanport::completion_entry out[4];
            for (;;) {
                const std::size_t n = cq.dequeue(out, 4, WSA_INFINITE);
                if (n == 0 && cq.is_shut_down()) return;
                if (n == 0) spurious.fetch_add(1);
                taken.fetch_add(static_cast<int>(n));
            }
        });
    for (int i = 0; i < packets; ++i)
        REQUIRE(cq.post(static_cast<DWORD>(i), 9, nullptr) == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (taken.load() < packets && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cq.shutdown();
    for (std::thread& t : dequeuers)
        t.join();
    CHECK(taken.load() == packets);
    CHECK(spurious.load() == 0);
}
