// SPDX-License-Identifier: MIT
// Covers the per-socket layout the hot path relies on (core/socket_table.cpp, socket_state.hpp):
// states come line-aligned (so each field sits on the line socket_state's order names), also
// past the first block and after recycling, and both requests of a socket name it, its backend
// state and its owner from the attach on (bind_requests), with the backend's bits at 0.

#include "core/socket_table.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstdint>
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
        CHECK(req->backend_socket == st->backend_socket);
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
