// SPDX-License-Identifier: MIT
// Covers the per-socket layout the hot path relies on (core/socket_table.cpp, socket_state.hpp):
// states come line-aligned (so each field sits on the line socket_state's order names), also
// past the first block and after recycling, and both requests of a socket name it, its backend
// state and its owner from the attach on (bind_requests), with the backend's bits at 0. The
// cold line holds no settings block until a socket asks for one (socket_extras), and a
// completion queue lives as long as a socket is associated with it, and no longer.

#include "core/completion_queue_impl.hpp"
#include "core/socket_table.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

namespace {

using namespace sanport::test::unit_names;
using sanport::detail::socket_state;
using sanport::detail::socket_table;

// The state s names; the reference is dropped at once (the test holds the socket open).
socket_state* state_of(SOCKET s) {
    const auto ref = socket_table::instance().find(s);
    REQUIRE(ref);
    return ref.get();
}

bool line_aligned(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 64 == 0;
}

} // namespace

TEST_CASE("core: socket layout - states are line-aligned and distinct across blocks and reuse") {
    rig r;
    std::vector<SOCKET> open;
    std::set<socket_state*> seen;
    for (int i = 0; i < 40; ++i) { // more than one block of 32
        const SOCKET s = r.open();
        open.push_back(s);
        socket_state* st = state_of(s);
        CHECK(line_aligned(st));
        CHECK(seen.insert(st).second);
    }
    // Recycled states keep their alignment.
    int err = 0;
    for (int i = 0; i < 8; ++i)
        REQUIRE(sanport::WSPCloseSocket(open[i], &err) == 0);
    for (int i = 0; i < 8; ++i)
        CHECK(line_aligned(state_of(r.open())));
}

TEST_CASE("core: socket layout - both requests name the socket, its backend state and owner") {
    rig r;
    const SOCKET s = r.open();
    socket_state* st = state_of(s);
    for (const auto* req : {&st->recv.request, &st->send.request}) {
        CHECK(req->socket == s);
        CHECK(req->backend_socket == st->backend_socket());
        CHECK(req->owner == st);
        CHECK(req->backend_bits == 0);
    }
    // What the backend is handed is that request, with the op's buffer.
    posted& p = r.recv(s, {16});
    const sanport::detail::io_request* started = r.fake->started_recv(s);
    REQUIRE(started != nullptr);
    CHECK(started == &st->recv.request);
    CHECK(started->count == 1);
    CHECK(started->buffers[0].len == 16);
    CHECK(p.pending());
}

TEST_CASE("core: socket layout - settings blocks are made on first use and go with the socket") {
    rig r;
    int err = 0;
    SOCKET s = r.open();
    socket_state* st = state_of(s);
    CHECK(st->extras == nullptr);
    // Turning off what was never on makes nothing.
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 0, &err) == 0);
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::strict_registration, 0, &err) == 0);
    CHECK(st->extras == nullptr);
    CHECK_FALSE(st->check_registration);
    // A registration makes the block and turns the check on; its removal turns it off again.
    std::vector<char> mem(256);
    const HANDLE reg = sanport::WSPRegisterMemory(s, mem.data(), 256, MEM_WRITE, &err);
    REQUIRE(reg != nullptr);
    REQUIRE(st->extras != nullptr);
    CHECK(st->check_registration);
    REQUIRE(sanport::WSPDeregisterMemory(s, reg, &err) == 0);
    CHECK_FALSE(st->check_registration);
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 4096, &err) == 0);
    CHECK(st->read_ahead_on);
    CHECK(st->read_ahead_capacity() == 4096);
    // A socket made in the recycled state starts without one.
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    std::set<socket_state*> reopened;
    for (int i = 0; i < 4; ++i) {
        socket_state* again = state_of(r.open());
        CHECK(again->extras == nullptr);
        CHECK_FALSE(again->read_ahead_on);
        reopened.insert(again);
    }
    CHECK(reopened.count(st) == 1); // the closed one was among them
}

TEST_CASE("core: socket layout - a queue lives while a socket is associated, and no longer") {
    rig r;
    int err = 0;
    const SOCKET a = r.open();
    const SOCKET b = r.open();
    std::weak_ptr<sanport::detail::completion_queue_impl> left;
    {
        sanport::completion_queue cq(r.e);
        REQUIRE(cq.associate(a, 1) == 0);
        REQUIRE(cq.associate(b, 2) == 0);
        left = cq.shared_impl();
        CHECK(state_of(a)->queue == left.lock().get());
    }
    CHECK_FALSE(left.expired()); // the sockets hold it
    REQUIRE(sanport::WSPCloseSocket(a, &err) == 0);
    CHECK_FALSE(left.expired()); // b still does
    REQUIRE(sanport::WSPCloseSocket(b, &err) == 0);
    CHECK(left.expired());
}
