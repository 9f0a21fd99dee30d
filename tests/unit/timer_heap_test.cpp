// SPDX-License-Identifier: MIT
// Covers core/timer_heap.cpp directly (timer.order, timer.engine-gone): deadlines that are
// exactly equal fire in arming order, a disarmed timer leaves the others in order, the wait
// limit never wraps for a far deadline, and a cleared heap refuses new timers.

#include "core/completion_queue_impl.hpp"
#include "core/timer_heap.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/completion_queue.h>

#include <doctest/doctest.h>

#include <climits>
#include <vector>

namespace {

using namespace sanport::test::unit_names;
using sanport::detail::timer_heap;
using sanport::detail::timer_state;

sanport::completion_entry packet(ULONG_PTR key) {
    return sanport::completion_entry{nullptr, 0, key, 0};
}

} // namespace

TEST_CASE("core: timer heap - equal deadlines fire in arming order, earlier ones first") {
    rig r;
    sanport::completion_queue cq(r.e);
    timer_heap heap;
    std::vector<timer_state> timers(6);
    const std::int64_t due = timer_heap::now_ns() - 1'000'000; // already due
    for (std::size_t i = 0; i < 5; ++i) {
        timers[i].queue = cq.shared_impl();
        REQUIRE(heap.arm(timers[i], due, packet(10 + i)) == 0);
    }
    timers[5].queue = cq.shared_impl();
    REQUIRE(heap.arm(timers[5], due - 1, packet(99)) == 0); // earlier: first, armed last
    CHECK(heap.disarm(timers[2]));                          // the others keep their order
    CHECK_FALSE(heap.disarm(timers[2]));
    heap.fire_due();
    const auto got = drain(cq);
    REQUIRE(got.size() == 5);
    const ULONG_PTR expected[] = {99, 10, 11, 13, 14};
    for (std::size_t i = 0; i < 5; ++i)
        CHECK(got[i].key == expected[i]);
    for (const timer_state& t : timers)
        CHECK_FALSE(heap.armed(t));
}

TEST_CASE("core: timer heap - a far deadline never wraps the wait into an endless one") {
    timer_heap heap;
    timer_state t;
    const std::int64_t thirty_days_ns = 30LL * 24 * 3600 * 1'000'000'000LL;
    REQUIRE(heap.arm(t, timer_heap::now_ns() + thirty_days_ns, packet(1)) == 0);
    CHECK(heap.clamp(-1) == INT_MAX);
    CHECK(heap.clamp(50) == 50);
    CHECK(heap.clamp(0) == 0);
    CHECK(heap.disarm(t));
    CHECK(heap.clamp(-1) == -1);
}

TEST_CASE("core: timer heap - after clear() nothing is armed and arm() is WSAESHUTDOWN") {
    timer_heap heap;
    timer_state a, b;
    REQUIRE(heap.arm(a, timer_heap::now_ns() + 1'000'000'000, packet(1)) == 0);
    heap.clear();
    CHECK_FALSE(heap.armed(a));
    CHECK_FALSE(heap.disarm(a));
    CHECK(heap.arm(b, timer_heap::now_ns(), packet(2)) == WSAESHUTDOWN);
}
