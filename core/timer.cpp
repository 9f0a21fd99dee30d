// SPDX-License-Identifier: MIT
// sanport::timer over the engine's timer heap (core/timer_heap.hpp): timer.start, timer.fire,
// timer.cancel, timer.engine-gone in docs/contract.md.
#include "core/completion_queue_impl.hpp"
#include "core/engine_impl.hpp"
#include "core/timer_heap.hpp"

#include <sanport/completion_queue.h>
#include <sanport/timer.h>

namespace sanport {

using namespace detail;

timer::timer(completion_queue& queue) : state_(std::make_unique<timer_state>()) {
    state_->queue = queue.shared_impl();
}

timer::~timer() {
    cancel(); // the heap must never point at a freed state
}

int timer::start(DWORD delay_ms, ULONG_PTR key, WSAOVERLAPPED* overlapped) {
    completion_queue_impl& q = *state_->queue;
    if (q.from_parent() || q.is_shut_down()) return WSAESHUTDOWN;
    if (delay_ms == WSA_INFINITE) return WSAEINVAL;
    const std::int64_t deadline =
        timer_heap::now_ns() + static_cast<std::int64_t>(delay_ms) * 1'000'000;
    // The packet is stored under the heap's lock, by the start() that arms: two racing
    // start() calls on one timer leave exactly one packet, the winner's.
    return q.engine().arm_timer(*state_, deadline, completion_entry{overlapped, 0, key, 0});
}

int timer::cancel() noexcept {
    completion_queue_impl& q = *state_->queue;
    if (q.from_parent()) return ERROR_NOT_FOUND; // the parent's engine is never touched
    return q.engine().timers().disarm(*state_) ? 0 : ERROR_NOT_FOUND;
}

bool timer::armed() const noexcept {
    completion_queue_impl& q = *state_->queue;
    return !q.from_parent() && q.engine().timers().armed(*state_);
}

} // namespace sanport
