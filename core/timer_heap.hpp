// SPDX-License-Identifier: MIT
// The engine's one-shot timers (sanport/timer.h, timer.* in docs/contract.md): a binary
// min-heap of armed timers, ordered by deadline, then by arming order.
//
// Why in the core and not a kernel timer per backend (IORING_OP_TIMEOUT, an Asio timer, a
// Windows waitable timer): the engine already waits in one place, the backend's reap(); its
// time limit becomes the nearest deadline, so a timer costs no SQE, no CQE, no handle and no
// thread on any backend, and "fires once, or cancel() said it would not" is decided once,
// under one lock, for all of them.
//
// Threads: arm/disarm from any thread (the lock); clamp and fire on the engine's driving
// thread only. The heap holds pointers to timer_state, which the public timer owns; a timer
// disarms itself before its state goes, so the heap never points at freed memory.
#pragma once

#include <sanport/compat.h>
#include <sanport/completion_queue.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

namespace sanport::detail {

class completion_queue_impl;

inline constexpr std::size_t timer_not_armed = std::numeric_limits<std::size_t>::max();

struct timer_state {
    std::shared_ptr<completion_queue_impl> queue; // where the packet goes; kept alive
    std::int64_t deadline_ns = 0;                 // steady clock
    std::uint64_t sequence = 0;                   // arming order: equal deadlines fire in it
    completion_entry packet{};
    std::size_t index = timer_not_armed; // position in the heap
};

class timer_heap {
public:
    // 0, WSAEINVAL when t is armed already, WSAESHUTDOWN after clear(), WSAENOBUFS when
    // memory ran out. Wakes nobody: the caller does (engine_impl::arm_timer).
    int arm(timer_state& t, std::int64_t deadline_ns, const completion_entry& packet) noexcept;
    // true when t was armed and now is not (no packet will come); false when it was not armed
    // (it fired: its packet is queued, or about to be).
    bool disarm(timer_state& t) noexcept;
    bool armed(const timer_state& t) noexcept;
    // The engine is retiring: nothing fires from now on, every timer reads as not armed, and
    // arm() fails with WSAESHUTDOWN.
    void clear() noexcept;

    // Driving thread: timeout_ms (-1 = no limit) shortened to reach the nearest deadline,
    // rounded up so the wait never ends before it. One relaxed load when nothing is armed.
    int clamp(int timeout_ms) const noexcept;
    // Driving thread: queues the packet of every timer whose deadline passed, in deadline
    // order (the packet of a queue that was shut down is dropped, as post() would refuse it).
    void fire_due() noexcept;
    // Bumped whenever the nearest deadline moves earlier: a driver about to sleep rechecks it.
    std::uint32_t generation() const noexcept {
        return generation_.load(std::memory_order_seq_cst);
    }

    // The nearest deadline (steady clock, ns), INT64_MAX when nothing is armed. Relaxed.
    std::int64_t earliest_ns() const noexcept {
        return earliest_ns_.load(std::memory_order_relaxed);
    }

    static std::int64_t now_ns() noexcept;

private:
    bool before(std::size_t a, std::size_t b) const noexcept;
    void place(std::size_t i, timer_state* t) noexcept;
    void sift_up(std::size_t i) noexcept;
    void sift_down(std::size_t i) noexcept;
    void remove_at(std::size_t i) noexcept;
    void publish_earliest() noexcept;

    std::mutex mutex_;
    std::vector<timer_state*> heap_;
    std::uint64_t next_sequence_ = 0;
    bool retired_ = false;
    std::atomic<std::int64_t> earliest_ns_{std::numeric_limits<std::int64_t>::max()};
    std::atomic<std::uint32_t> generation_{0};
};

} // namespace sanport::detail
