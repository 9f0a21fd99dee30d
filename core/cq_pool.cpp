// SPDX-License-Identifier: MIT
// cq.pool: a thread pool on one completion queue, with the concurrency rule of an I/O
// completion port (NumberOfConcurrentThreads).
//
// A thread holds a slot from the moment dequeue hands it packets until it calls dequeue again
// (on this queue or another) or exits. While `concurrency` threads hold one, packets wait even
// when threads wait for them; a slot that frees goes to the thread that began waiting last
// (LIFO, as a port does: its stack and caches are the warmest, and the threads below it stay
// asleep). The waiting is ours, not the packet port's, on every platform, so the rule is the
// same on Linux and under Wine (whose ports do not limit concurrency). What a port also does
// and this cannot: count a thread that blocks elsewhere (a lock, a blocking call) as not
// running. A queue without a limit (the default) never reaches this file.
#include "core/completion_queue_impl.hpp"
#include "core/diag.hpp"
#include "core/engine_impl.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>

namespace sanport::detail {

struct completion_queue_impl::pool_waiter {
    std::condition_variable cv;
    bool released = false;
    pool_waiter* next = nullptr;
};

namespace {

// The queue the calling thread holds a slot of; the slot is given back when the thread calls
// dequeue again or exits.
// Its own `held`, not the pool_slot_held flag, decides at thread exit: another thread-local
// may already be gone then (mingw's emulated TLS frees them in no particular order; a slot
// leaked that way under Wine until this was so).
struct pool_slot {
    bool held = false;
    std::weak_ptr<completion_queue_impl> queue;
    void give_back() noexcept {
        if (!held) return;
        held = false;
        if (auto q = queue.lock()) q->pool_leave();
        queue.reset();
    }
    ~pool_slot() { give_back(); }
};
thread_local pool_slot held_slot;

} // namespace

void give_back_held_pool_slot() noexcept {
    pool_slot_held = false;
    held_slot.give_back();
}

int completion_queue_impl::set_concurrency(unsigned n) noexcept {
    if (driven_)
        return failed_because(WSAEINVAL, "completion_queue::set_concurrency: a driven engine "
                                         "has one dequeuing thread, its owner");
    std::lock_guard lock(pool_mutex_);
    concurrency_.store(n, std::memory_order_relaxed);
    // A higher limit frees slots now; no limit at all sends every waiter back to the port.
    if (n == 0)
        pool_release_all_locked();
    else
        pool_release_locked();
    return 0;
}

void completion_queue_impl::pool_leave() noexcept {
    std::lock_guard lock(pool_mutex_);
    if (running_ != 0) --running_;
    pool_release_locked();
}

// Releases waiters, the most recent first, while packets wait and slots are free.
void completion_queue_impl::pool_release_locked() noexcept {
    const unsigned limit = concurrency_.load(std::memory_order_relaxed);
    while (pool_waiters_ != nullptr && running_ + releasing_ < limit && !port_.empty_hint()) {
        pool_waiter* w = pool_waiters_;
        pool_waiters_ = w->next;
        w->released = true;
        ++releasing_;
        w->cv.notify_one();
    }
}

void completion_queue_impl::pool_packet() noexcept {
    std::lock_guard lock(pool_mutex_);
    pool_release_locked();
}

void completion_queue_impl::pool_release_all_locked() noexcept {
    for (pool_waiter* w = pool_waiters_; w != nullptr; w = w->next) {
        w->released = true;
        ++releasing_;
        w->cv.notify_one();
    }
    pool_waiters_ = nullptr;
}

std::size_t completion_queue_impl::pool_dequeue(completion_entry* out, std::size_t max,
                                                DWORD timeout_ms) {
    using clock = std::chrono::steady_clock;
    const bool forever = timeout_ms == WSA_INFINITE;
    const auto deadline = clock::now() + std::chrono::milliseconds(forever ? 0 : timeout_ms);
    pool_waiter me;
    std::unique_lock lock(pool_mutex_);
    for (;;) {
        if (me.released) {
            me.released = false;
            --releasing_;
        }
        if (port_.is_closed()) return 0;
        const unsigned limit = concurrency_.load(std::memory_order_relaxed);
        if (limit == 0) { // the limit was lifted while this thread waited
            lock.unlock();
            const auto left = forever
                                  ? -1
                                  : static_cast<int>(std::max<std::int64_t>(
                                        0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                               deadline - clock::now())
                                               .count()));
            return port_.pop(out, max, left);
        }
        if (running_ < limit) {
            if (const std::size_t n = port_.pop(out, max, 0)) {
                ++running_;
                pool_slot_held = true;
                held_slot.held = true;
                held_slot.queue = weak_from_this();
                pool_release_locked(); // packets left, slots left: the next waiter
                return n;
            }
        }
        if (!forever && clock::now() >= deadline) return 0;
        me.next = pool_waiters_;
        pool_waiters_ = &me;
        const auto released = [&] { return me.released; };
        if (forever)
            me.cv.wait(lock, released);
        else if (!me.cv.wait_until(lock, deadline, released)) {
            // Timed out while still on the stack: take this waiter off it.
            for (pool_waiter** p = &pool_waiters_; *p != nullptr; p = &(*p)->next) {
                if (*p == &me) {
                    *p = me.next;
                    break;
                }
            }
            return 0;
        }
    }
}

} // namespace sanport::detail
