// SPDX-License-Identifier: MIT
// timer_heap: see timer_heap.hpp. The heap is intrusive (each timer_state knows its index), so
// disarming one of 10,000 armed timers is O(log n) with no search and no allocation; the
// vector grows to the most timers ever armed at once and then stays.
#include "core/timer_heap.hpp"

#include "core/completion_queue_impl.hpp"

#include <algorithm>
#include <chrono>

namespace sanport::detail {

std::int64_t timer_heap::now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool timer_heap::before(std::size_t a, std::size_t b) const noexcept {
    const timer_state* x = heap_[a];
    const timer_state* y = heap_[b];
    return x->deadline_ns != y->deadline_ns ? x->deadline_ns < y->deadline_ns
                                            : x->sequence < y->sequence;
}

void timer_heap::place(std::size_t i, timer_state* t) noexcept {
    heap_[i] = t;
    t->index = i;
}

void timer_heap::sift_up(std::size_t i) noexcept {
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!before(i, parent)) break;
        timer_state* t = heap_[i];
        place(i, heap_[parent]);
        place(parent, t);
        i = parent;
    }
}

void timer_heap::sift_down(std::size_t i) noexcept {
    for (;;) {
        const std::size_t left = 2 * i + 1;
        if (left >= heap_.size()) return;
        std::size_t least = left;
        if (left + 1 < heap_.size() && before(left + 1, left)) least = left + 1;
        if (!before(least, i)) return;
        timer_state* t = heap_[i];
        place(i, heap_[least]);
        place(least, t);
        i = least;
    }
}

void timer_heap::remove_at(std::size_t i) noexcept {
    heap_[i]->index = timer_not_armed;
    timer_state* last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    place(i, last);
    sift_up(i);
    sift_down(last->index);
}

void timer_heap::publish_earliest() noexcept {
    const std::int64_t earliest =
        heap_.empty() ? std::numeric_limits<std::int64_t>::max() : heap_.front()->deadline_ns;
    const bool earlier = earliest < earliest_ns_.load(std::memory_order_relaxed);
    // The deadline first, then the generation: a driver that reads the new generation (its
    // seq_cst load) is then sure to read the new deadline in clamp(). The other order let it
    // read the new generation, then the old deadline, and sleep past the new one.
    earliest_ns_.store(earliest, std::memory_order_seq_cst);
    if (earlier) generation_.fetch_add(1, std::memory_order_seq_cst);
}

int timer_heap::arm(timer_state& t, std::int64_t deadline_ns,
                    const completion_entry& packet) noexcept {
    std::lock_guard lock(mutex_);
    if (retired_) return WSAESHUTDOWN; // timer.engine-gone: clear() ran before this start
    if (t.index != timer_not_armed) return WSAEINVAL;
    t.packet = packet;
    t.deadline_ns = deadline_ns;
    t.sequence = next_sequence_++;
    try {
        heap_.push_back(&t);
    } catch (...) {
        return WSAENOBUFS;
    }
    t.index = heap_.size() - 1;
    sift_up(t.index);
    publish_earliest();
    return 0;
}

bool timer_heap::disarm(timer_state& t) noexcept {
    std::lock_guard lock(mutex_);
    if (t.index == timer_not_armed) return false;
    remove_at(t.index);
    publish_earliest();
    return true;
}

bool timer_heap::armed(const timer_state& t) noexcept {
    std::lock_guard lock(mutex_);
    return t.index != timer_not_armed;
}

void timer_heap::clear() noexcept {
    std::lock_guard lock(mutex_);
    retired_ = true;
    for (timer_state* t : heap_)
        t->index = timer_not_armed;
    heap_.clear();
    publish_earliest();
}

int timer_heap::clamp(int timeout_ms) const noexcept {
    const std::int64_t earliest = earliest_ns_.load(std::memory_order_relaxed);
    if (earliest == std::numeric_limits<std::int64_t>::max() || timeout_ms == 0) return timeout_ms;
    const std::int64_t left_ns = earliest - now_ns();
    if (left_ns <= 0) return 0;
    // At most INT_MAX: a deadline 25 days away must not wrap to a negative (endless) wait.
    const std::int64_t left_ms =
        std::min<std::int64_t>((left_ns + 999'999) / 1'000'000, std::numeric_limits<int>::max());
    if (timeout_ms < 0 || left_ms < timeout_ms) return static_cast<int>(left_ms);
    return timeout_ms;
}

void timer_heap::fire_due() noexcept {
    if (earliest_ns_.load(std::memory_order_relaxed) == std::numeric_limits<std::int64_t>::max())
        return;
    const std::int64_t now = now_ns();
    for (;;) {
        // A few at a time: packets are queued outside the lock, which start() and cancel()
        // of other threads take.
        struct due {
            std::shared_ptr<completion_queue_impl> queue;
            completion_entry packet;
        } batch[16];
        std::size_t n = 0;
        {
            std::lock_guard lock(mutex_);
            while (n < std::size(batch) && !heap_.empty() && heap_.front()->deadline_ns <= now) {
                timer_state* t = heap_.front();
                batch[n++] = due{t->queue, t->packet};
                remove_at(0);
            }
            publish_earliest();
        }
        for (std::size_t i = 0; i < n; ++i)
            deliver_packet(*batch[i].queue, batch[i].packet);
        if (n < std::size(batch)) return;
    }
}

} // namespace sanport::detail
