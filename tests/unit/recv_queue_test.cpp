// SPDX-License-Identifier: MIT
// Covers core/recv_queue.cpp through WSPRecv on a driven engine over the scripted fake backend:
// posting order across any segmentation with one kernel request per socket (the head),
// MSG_WAITALL, stream end (0 bytes or WSAEDISCON), sticky RST, data before RST, the zero-byte
// probe, request-local faults, read-ahead (immediate completion, MSG_PEEK), and the
// WSAETIMEDOUT mapping of docs/contract.md §4.

#include "core/backend.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/os_pair.hpp"

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

using sanport::detail::io_kind;

TEST_CASE("core: recv queue - receives fill in posting order whatever the segmentation") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 42) == 0);

    const std::vector<std::vector<ULONG>> shapes = {{3, 4}, {1}, {5, 0, 2}, {8}, {2, 3, 1}};
    const std::vector<std::size_t> caps = {7, 1, 7, 8, 6};
    std::vector<posted*> ops;
    for (const auto& shape : shapes) {
        posted& p = r.recv(s, shape);
        REQUIRE(is_pending_result(p));
        CHECK(p.pending());
        CHECK(p.bytes == 0xdeadbeef); // untouched while pending
        ops.push_back(&p);
    }
    CHECK(r.fake->started.size() == 1); // only the head

    const std::string stream = "abcdefghijklmnopqrstuvwxyz0123456789";
    const std::vector<std::size_t> chunks = {2, 5, 1, 9, 3, 4, 6, 8};
    std::vector<std::size_t> expected(ops.size(), 0);
    std::size_t pos = 0, done = 0, k = 0;
    while (done < ops.size()) {
        std::size_t left = chunks[k++ % chunks.size()];
        while (left != 0 && done < ops.size()) {
            CAPTURE(done);
            sanport::detail::io_request* req = r.fake->started_recv(s);
            REQUIRE(req != nullptr);
            CHECK(req->kind == io_kind::recv);
            CHECK(ops[done]->owns(req->buffers[0].buf)); // the head and nobody else
            for (std::size_t later = done + 1; later < ops.size(); ++later)
                CHECK(ops[later]->pending());
            const std::size_t want = std::min(left, caps[done]);
            const std::uint32_t placed =
                r.fake->deliver(s, std::string_view(stream).substr(pos, left));
            CHECK(placed == want);
            r.run();
            CHECK_FALSE(ops[done]->pending());
            expected[done] = placed;
            pos += placed;
            left -= placed;
            ++done;
        }
    }
    std::string joined;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        CAPTURE(i);
        CHECK(ops[i]->status() == 0);
        CHECK(ops[i]->count() == expected[i]);
        joined += ops[i]->got();
    }
    CHECK(joined == stream.substr(0, pos));
    CHECK(r.fake->max_in_flight_per_socket_dir == 1);
    CHECK(r.fake->started.size() == ops.size()); // one request per op, none after the last
    CHECK(r.fake->started_recv(s) == nullptr);

    const auto packets = drain(cq);
    REQUIRE(packets.size() == ops.size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
        CHECK(packets[i].key == 42);
        CHECK(packets[i].status == 0);
        CHECK(packets[i].overlapped == &ops[i]->ov);
        CHECK(packets[i].bytes == expected[i]);
    }
}

TEST_CASE("core: recv queue - MSG_WAITALL re-arms the head until every buffer is full") {
    rig r;
    const SOCKET s = r.open();
    posted& all = r.recv(s, {4, 6}, MSG_WAITALL);
    posted& next = r.recv(s, {5});
    REQUIRE(is_pending_result(all));
    REQUIRE(is_pending_result(next));

    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    CHECK(all.pending());
    sanport::detail::io_request* req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(req->buffers[0].buf == all.mem.data() + 3); // re-armed where the data stopped
    CHECK(req->buffers[0].len == 1);
    CHECK(req->count == 2);

    CHECK(r.fake->deliver(s, "defgh") == 5);
    r.run();
    CHECK(all.pending());
    req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(req->buffers[0].buf == all.mem.data() + 8);
    CHECK(req->count == 1);
    CHECK(next.pending());

    CHECK(r.fake->deliver(s, "ijXYZ") == 2); // only what the head still has room for
    r.run();
    REQUIRE_FALSE(all.pending());
    CHECK(all.status() == 0);
    CHECK(all.count() == 10);
    CHECK(all.got() == "abcdefghij");

    req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(next.owns(req->buffers[0].buf));
    CHECK(r.fake->deliver(s, "XYZ") == 3);
    r.run();
    CHECK(next.count() == 3);
    CHECK(next.got() == "XYZ");
    CHECK(r.fake->max_in_flight_per_socket_dir == 1);
}

TEST_CASE(
    "core: recv queue - FIN completes every queued receive with 0 bytes, then every later one") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 7) == 0);
    posted& a = r.recv(s, {8});
    posted& b = r.recv(s, {8});
    posted& c = r.recv(s, {0}); // a zero-byte one among them
    REQUIRE(is_pending_result(a));
    REQUIRE(is_pending_result(c));
    r.fake->deliver_eof(s);
    r.run();
    for (posted* p : {&a, &b, &c}) {
        CHECK_FALSE(p->pending());
        CHECK(p->status() == 0);
        CHECK(p->count() == 0);
    }
    CHECK(r.fake->started_recv(s) == nullptr);
    CHECK(drain(cq).size() == 3);

    // Stream end, every time: at once, 0 bytes, with the usual packet.
    for (int i = 0; i < 2; ++i) {
        posted& later = r.recv(s, {8});
        CHECK(later.rc == 0);
        CHECK(later.bytes == 0);
        CHECK(later.flags == 0);
        CHECK_FALSE(later.pending());
        CHECK(later.status() == 0);
        CHECK(drain(cq).size() == 1);
    }
    CHECK(r.fake->started_recv(s) == nullptr);
}

TEST_CASE("core: recv queue - FIN after part of a MSG_WAITALL receive: it keeps its bytes, the "
          "next gets 0") {
    rig r;
    const SOCKET s = r.open();
    posted& all = r.recv(s, {8}, MSG_WAITALL);
    posted& next = r.recv(s, {4});
    posted& last = r.recv(s, {4});
    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    CHECK(all.pending());
    r.fake->deliver_eof(s);
    r.run();
    REQUIRE_FALSE(all.pending());
    CHECK(all.status() == 0);
    CHECK(all.count() == 3);
    CHECK(all.got() == "abc");
    for (posted* p : {&next, &last}) {
        CHECK_FALSE(p->pending());
        CHECK(p->status() == 0);
        CHECK(p->count() == 0);
    }
}

TEST_CASE("core: recv queue - report_disconnect turns stream end into WSAEDISCON") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::report_disconnect, 1, &err) == 0);
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 1) == 0);
    posted& all = r.recv(s, {8}, MSG_WAITALL);
    posted& b = r.recv(s, {8});
    CHECK(r.fake->deliver(s, "xy") == 2);
    r.run();
    r.fake->deliver_eof(s);
    r.run();
    CHECK(all.status() == 0); // its bytes first
    CHECK(all.count() == 2);
    CHECK(b.status() == WSAEDISCON);
    CHECK(b.count() == 0);
    CHECK(drain(cq).size() == 2);

    posted& later = r.recv(s, {8});
    CHECK(later.rc == SOCKET_ERROR);
    CHECK(later.err == WSAEDISCON);
    CHECK(drain(cq).empty());
}

TEST_CASE("core: recv queue - RST fails pending receives and, sticky, every later one at once") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 9) == 0);
    WSAEVENT ev = WSACreateEvent();
    posted& a = r.recv(s, {8});
    posted& b = r.recv(s, {8});
    posted& c = r.recv(s, {8}, MSG_WAITALL);
    r.fake->deliver_error(s, WSAECONNRESET);
    r.run();
    for (posted* p : {&a, &b, &c}) {
        CHECK_FALSE(p->pending());
        CHECK(p->status() == WSAECONNRESET);
        CHECK(p->count() == 0);
    }
    const auto packets = drain(cq);
    CHECK(packets.size() == 3);
    for (const auto& pk : packets)
        CHECK(pk.status == WSAECONNRESET);
    CHECK(r.fake->started_recv(s) == nullptr);

    for (int i = 0; i < 3; ++i) {
        posted& later = r.recv(s, {8}, 0, ev);
        CHECK(later.rc == SOCKET_ERROR);
        CHECK(later.err == WSAECONNRESET);
        CHECK(later.bytes == 0xdeadbeef);
        CHECK_FALSE(signalled(ev));
    }
    CHECK(drain(cq).empty());
    CHECK(r.fake->started_recv(s) == nullptr);
    // A zero-byte receive fails the same way.
    posted& zero = r.recv(s, {0});
    CHECK(zero.rc == SOCKET_ERROR);
    CHECK(zero.err == WSAECONNRESET);
    // The send direction fails too, as on Windows.
    posted& out = r.send(s, "hi");
    CHECK(out.rc == SOCKET_ERROR);
    CHECK(out.err == WSAECONNRESET);
    CHECK(drain(cq).empty());
    WSACloseEvent(ev);
}

TEST_CASE("core: recv queue - data before an RST is delivered first") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8});
    posted& all = r.recv(s, {8}, MSG_WAITALL);
    posted& c = r.recv(s, {8});
    CHECK(r.fake->deliver(s, "one") == 3);
    r.run();
    CHECK(a.status() == 0);
    CHECK(a.got() == "one");
    CHECK(r.fake->deliver(s, "two") == 3);
    r.run();
    CHECK(all.pending());
    r.fake->deliver_error(s, WSAECONNRESET);
    r.run();
    CHECK_FALSE(all.pending());
    CHECK(all.status() == 0);
    CHECK(all.got() == "two");
    CHECK(c.status() == WSAECONNRESET);
    posted& later = r.recv(s, {8});
    CHECK(later.err == WSAECONNRESET);
}

TEST_CASE("core: recv queue - a zero-byte receive waits with a probe and consumes nothing") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 5) == 0);
    posted& zero = r.recv(s, {0});
    REQUIRE(is_pending_result(zero));
    sanport::detail::io_request* req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(req->kind == io_kind::recv_probe);
    CHECK((req->flags & MSG_PEEK) != 0);
    CHECK(req->count == 1);
    CHECK(req->buffers[0].len == 1);

    r.fake->deliver(s, "abc"); // the probe sees data (and, being a peek, leaves it)
    r.run();
    REQUIRE_FALSE(zero.pending());
    CHECK(zero.status() == 0);
    CHECK(zero.count() == 0);
    const auto packets = drain(cq);
    REQUIRE(packets.size() == 1);
    CHECK(packets[0].bytes == 0);
    CHECK(packets[0].status == 0);

    // Not the end of the stream: the next receive pends and gets the data.
    posted& next = r.recv(s, {8});
    REQUIRE(is_pending_result(next));
    req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(req->kind == io_kind::recv);
    CHECK((req->flags & MSG_PEEK) == 0);
    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    CHECK(next.got() == "abc");
}

TEST_CASE("core: recv queue - a zero-byte receive behind a normal one, and at stream end") {
    rig r;
    const SOCKET s = r.open();
    posted& first = r.recv(s, {4});
    posted& zero = r.recv(s, {0, 0});
    CHECK(r.fake->started_recv(s)->kind == io_kind::recv);
    CHECK(r.fake->deliver(s, "ab") == 2);
    r.run();
    CHECK(first.got() == "ab");
    REQUIRE(zero.pending());
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK(r.fake->started_recv(s)->kind == io_kind::recv_probe);
    r.fake->deliver_eof(s); // the probe's 0: now it is the end
    r.run();
    CHECK_FALSE(zero.pending());
    CHECK(zero.status() == 0);
    CHECK(zero.count() == 0);
    posted& later = r.recv(s, {4});
    CHECK(later.rc == 0); // the stream ended: at once
    CHECK(later.bytes == 0);
}

TEST_CASE("core: recv queue - WSAEFAULT from the kernel fails only that receive") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {4});
    posted& b = r.recv(s, {4});
    r.fake->deliver_error(s, WSAEFAULT);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(a.status() == WSAEFAULT);
    REQUIRE(b.pending());
    sanport::detail::io_request* req = r.fake->started_recv(s);
    REQUIRE(req != nullptr);
    CHECK(b.owns(req->buffers[0].buf));
    CHECK(r.fake->deliver(s, "x") == 1);
    r.run();
    CHECK(b.status() == 0);
    CHECK(b.got() == "x");
    posted& c = r.recv(s, {4});
    CHECK(is_pending_result(c)); // nothing sticky
}

TEST_CASE("core: recv queue - read-ahead data completes the next receive at once, peek keeps it") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 3) == 0);
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 16, &err) == 0);
    sanport::detail::io_request* req = r.fake->started_recv(s);
    REQUIRE(req != nullptr); // armed while nothing is posted
    CHECK(req->count == 1);
    CHECK(req->buffers[0].len == 16);

    CHECK(r.fake->deliver(s, "hello") == 5);
    r.run();
    CHECK(drain(cq).empty());

    posted& a = r.recv(s, {3});
    CHECK(a.rc == 0);
    CHECK(a.bytes == 3);
    CHECK(a.got() == "hel");
    CHECK_FALSE(a.pending());
    posted& peek = r.recv(s, {10}, MSG_PEEK);
    CHECK(peek.rc == 0);
    CHECK(peek.bytes == 2);
    CHECK(peek.got() == "lo");
    posted& b = r.recv(s, {10});
    CHECK(b.rc == 0);
    CHECK(b.bytes == 2);
    CHECK(b.got() == "lo");
    CHECK(drain(cq).size() == 3); // immediate successes queue packets too

    // Nothing buffered now: the next one pends and gets what the kernel delivers next.
    posted& c = r.recv(s, {10});
    REQUIRE(is_pending_result(c));
    CHECK(r.fake->deliver(s, "world") == 5);
    r.run();
    REQUIRE_FALSE(c.pending());
    CHECK(c.status() == 0);
    CHECK(c.got() == "world");
    CHECK(r.fake->max_in_flight_per_socket_dir == 1);
}

TEST_CASE("core: recv queue - read-ahead then a pending receive gets the new bytes, not old ones") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 16, &err) == 0);
    CHECK(r.fake->deliver(s, "hello") == 5);
    r.run();
    posted& a = r.recv(s, {5}); // takes everything buffered
    CHECK(a.rc == 0);
    CHECK(a.got() == "hello");
    posted& b = r.recv(s, {5});
    REQUIRE(is_pending_result(b));
    r.fake->deliver(s, "world");
    r.run();
    REQUIRE_FALSE(b.pending());
    CHECK(b.got() == "world");
}

TEST_CASE("core: recv queue - read-ahead serves MSG_WAITALL, then the kernel fills the rest") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 8, &err) == 0);
    CHECK(r.fake->deliver(s, "abcd") == 4);
    r.run();
    posted& all = r.recv(s, {10}, MSG_WAITALL);
    REQUIRE(is_pending_result(all)); // asks for more than is buffered
    // The bytes go in posting order whichever request the kernel fills.
    std::string rest = "efghij";
    while (all.pending() && !rest.empty()) {
        const std::uint32_t n = r.fake->deliver(s, rest);
        REQUIRE(n != 0);
        rest.erase(0, n);
        r.run();
    }
    REQUIRE_FALSE(all.pending());
    CHECK(all.status() == 0);
    CHECK(all.got() == "abcdefghij");
}

TEST_CASE("core: recv queue - data then RST while reading ahead: the data first, then the reset") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 16, &err) == 0);
    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    r.fake->deliver_error(s, WSAECONNRESET);
    r.run();
    posted& a = r.recv(s, {8});
    CHECK(a.rc == 0);
    CHECK(a.got() == "abc");
    posted& b = r.recv(s, {8});
    CHECK(b.rc == SOCKET_ERROR);
    CHECK(b.err == WSAECONNRESET);
}

TEST_CASE("core: recv queue - WSAETIMEDOUT becomes WSAECONNABORTED without SO_KEEPALIVE") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8});
    posted& b = r.recv(s, {8});
    r.fake->deliver_error(s, WSAETIMEDOUT);
    r.run();
    CHECK(a.status() == WSAECONNABORTED);
    CHECK(b.status() == WSAECONNABORTED);
    posted& later = r.recv(s, {8});
    CHECK(later.rc == SOCKET_ERROR);
    CHECK(later.err == WSAECONNABORTED);
}

TEST_CASE("core: recv queue - WSAETIMEDOUT becomes WSAENETRESET with SO_KEEPALIVE") {
    rig r;
    const SOCKET s = r.open();
    REQUIRE(sanport::test::set_keepalive(s, true));
    posted& a = r.recv(s, {8});
    r.fake->deliver_error(s, WSAETIMEDOUT);
    r.run();
    CHECK(a.status() == WSAENETRESET);
    CHECK(a.status() != WSAETIMEDOUT);
}

TEST_CASE("core: recv queue - sockets do not share a FIFO") {
    rig r;
    const SOCKET s1 = r.open();
    const SOCKET s2 = r.open();
    posted& a1 = r.recv(s1, {4});
    posted& a2 = r.recv(s2, {4});
    posted& b1 = r.recv(s1, {4});
    REQUIRE(r.fake->started_recv(s1) != nullptr);
    REQUIRE(r.fake->started_recv(s2) != nullptr);
    CHECK(a2.owns(r.fake->started_recv(s2)->buffers[0].buf));
    CHECK(r.fake->deliver(s2, "22") == 2);
    r.run();
    CHECK(a2.got() == "22");
    CHECK(a1.pending());
    CHECK(r.fake->deliver(s1, "11") == 2);
    r.run();
    CHECK(a1.got() == "11");
    CHECK(b1.pending());
    CHECK(r.fake->max_in_flight_per_socket_dir == 1);
}

TEST_CASE("core: recv queue - data then FIN while reading ahead: the data first, then stream end") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 16, &err) == 0);
    CHECK(r.fake->deliver(s, "tail") == 4);
    r.run();
    r.fake->deliver_eof(s);
    r.run();
    CHECK(r.fake->started_recv(s) == nullptr); // no re-arm after the end
    posted& a = r.recv(s, {8});
    CHECK(a.rc == 0);
    CHECK(a.got() == "tail");
    posted& b = r.recv(s, {8});
    CHECK(b.rc == 0);
    CHECK(b.bytes == 0);
}

TEST_CASE("core: recv queue - MSG_PEEK reaches the kernel request and reports the bytes") {
    rig r;
    const SOCKET s = r.open();
    posted& peek = r.recv(s, {8}, MSG_PEEK);
    REQUIRE(is_pending_result(peek));
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK((r.fake->started_recv(s)->flags & MSG_PEEK) != 0);
    CHECK(r.fake->started_recv(s)->fixed_slot == -1);
    CHECK(r.fake->deliver(s, "look") == 4);
    r.run();
    CHECK(peek.status() == 0);
    CHECK(peek.got() == "look");
    posted& plain = r.recv(s, {8});
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK((r.fake->started_recv(s)->flags & MSG_PEEK) == 0);
    (void)plain;
}
