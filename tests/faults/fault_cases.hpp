// SPDX-License-Identifier: MIT
// Fault cases whose body is the same on every backend with a fault seam. Each plan names these
// fields alike (short_transfers, short_bytes, failed_transfers, fail_errno, injected.*), so a
// test builds its rig and plan (or skips) and hands both over.
#pragma once

#include "tests/faults/fault_rig.hpp"

#include <doctest/doctest.h>

#include <cstdint>

namespace sanport::test {

// A 256 KiB, 4-buffer WSPSend whose first 60 transfers move at most 1,000 bytes each.
template <class Plan> void short_sends_case(fault_rig& rig, Plan& plan) {
    const SOCKET s = rig.open();
    plan.short_transfers = 60;
    plan.short_bytes = 1000;
    int code = -1;
    int packets = 0;
    const std::string read = rig.send_through(s, 256 * 1024, code, packets);
    CHECK(packets == 1);
    CHECK(code == 0);
    CHECK(read == pattern(256 * 1024));
    CHECK(plan.injected.short_transfers == 60);
}

// `count` transfers answer errno `e` without moving a byte; each ends its receive with `wsa`
// (0: never reported), and the 64 KiB stream still arrives whole.
template <class Plan>
void failed_transfers_case(fault_rig& rig, Plan& plan, int e, std::uint32_t count, int wsa,
                           std::uint32_t seed) {
    const SOCKET s = rig.open();
    plan.failed_transfers = count;
    plan.fail_errno = e;
    const stream_outcome o = rig.stream(s, 64 * 1024, seed);
    check_intact(o, 64 * 1024);
    CHECK(plan.injected.failed_transfers == count);
    CHECK(o.errors() == (wsa == 0 ? 0 : static_cast<int>(count)));
    if (wsa != 0) CHECK(o.times(wsa) == static_cast<int>(count));
}

// The first transfer answers ECONNRESET: that receive, those queued behind it and every later
// one fail with WSAECONNRESET (recv.peer.reset: after a reset every later receive fails at once).
template <class Plan> void reset_case(fault_rig& rig, Plan& plan, std::uint32_t seed) {
    const SOCKET s = rig.open();
    plan.failed_transfers = 1;
    plan.fail_errno = ECONNRESET;
    const stream_outcome o = rig.stream(s, 64 * 1024, seed, 3);
    CHECK(o.bad_packets == 0);
    CHECK(o.missing_packets == 0);
    CHECK(o.got.empty()); // the fault came on the first receive: nothing was delivered
    CHECK(o.times(WSAECONNRESET) == o.receives);
    recv_op& late = rig.post(s, {64});
    CHECK(late.rc == SOCKET_ERROR);
    CHECK(late.err == WSAECONNRESET);
}

} // namespace sanport::test
