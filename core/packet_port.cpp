// SPDX-License-Identifier: MIT
// The portable packet port (see packet_port.hpp): a ring that doubles to the deepest backlog
// seen and then never allocates again; the condition variable is signalled only when a thread
// waits, so a busy server pays no syscall and no mutex per packet. The ring's size is a power of
// two, so a slot is a mask, not a division (a division per packet showed in callgrind).
#include "core/packet_port.hpp"

#include "core/spin_mutex.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace sanport::detail {

struct packet_port::state {
    // The ring is guarded by a spin lock: a push or pop holds it for a few instructions, and a
    // pthread mutex cost 60 of the 100 instructions of a push (callgrind). Sleepers use the
    // mutex and condition variable below, and only they: a push takes the mutex only when
    // `waiters` says someone sleeps.
    spin_mutex ring_lock;
    std::vector<completion_entry> ring = std::vector<completion_entry>(256);
    std::size_t head = 0;
    std::size_t size = 0;
    int waiters = 0; // under ring_lock
    // `size`, stored under ring_lock after every change, read without it (empty_hint).
    std::atomic<std::size_t> queued{0};
    std::atomic<bool> closed{false}; // set under both locks; read without them by is_closed

    std::mutex sleep_mutex;
    std::condition_variable cv;

    std::size_t slot(std::size_t i) const noexcept { return i & (ring.size() - 1); }

    bool grow() noexcept {
        try {
            std::vector<completion_entry> bigger(ring.size() * 2);
            for (std::size_t i = 0; i < size; ++i)
                bigger[i] = ring[slot(head + i)];
            ring.swap(bigger);
            head = 0;
            return true;
        } catch (...) {
            return false;
        }
    }

    std::size_t take(completion_entry* out, std::size_t max) noexcept {
        std::size_t n = 0;
        while (n < max && size != 0) {
            out[n++] = ring[head];
            head = slot(head + 1);
            --size;
        }
        queued.store(size, std::memory_order_relaxed);
        return n;
    }

    bool ready() noexcept {
        std::lock_guard lock(ring_lock);
        return size != 0 || closed.load(std::memory_order_relaxed);
    }
};

packet_port::packet_port() : state_(std::make_unique<state>()) {}
packet_port::~packet_port() = default;

bool packet_port::push(const completion_entry& entry) noexcept {
    state& s = *state_;
    bool wake = false;
    {
        std::lock_guard lock(s.ring_lock);
        if (s.closed.load(std::memory_order_relaxed) || (s.size == s.ring.size() && !s.grow()))
            return false;
        s.ring[s.slot(s.head + s.size)] = entry;
        ++s.size;
        s.queued.store(s.size, std::memory_order_relaxed);
        wake = s.waiters != 0;
    }
    // A sleeper counted itself before it checked for packets under sleep_mutex, so taking the
    // mutex here orders this notify after its check: no wake-up is lost.
    if (wake) {
        { std::lock_guard lock(s.sleep_mutex); }
        s.cv.notify_one();
    }
    return true;
}

std::size_t packet_port::pop(completion_entry* out, std::size_t max, int timeout_ms) noexcept {
    state& s = *state_;
    using clock = std::chrono::steady_clock;
    const auto deadline =
        timeout_ms > 0 ? clock::now() + std::chrono::milliseconds(timeout_ms) : clock::time_point{};
    for (;;) {
        {
            std::lock_guard lock(s.ring_lock);
            if (s.closed.load(std::memory_order_relaxed)) return 0;
            if (s.size != 0 || timeout_ms == 0) return s.take(out, max);
            ++s.waiters;
        }
        {
            std::unique_lock lock(s.sleep_mutex);
            const auto ready = [&] { return s.ready(); };
            if (timeout_ms < 0)
                s.cv.wait(lock, ready);
            else
                s.cv.wait_until(lock, deadline, ready);
        }
        std::lock_guard lock(s.ring_lock);
        --s.waiters;
        if (s.closed.load(std::memory_order_relaxed)) return 0;
        // Another dequeuer may have taken what woke us: 0 is only for the deadline or close.
        if (const std::size_t n = s.take(out, max)) return n;
        if (timeout_ms > 0 && clock::now() >= deadline) return 0;
    }
}

void packet_port::close() noexcept {
    state& s = *state_;
    {
        std::lock_guard lock(s.ring_lock);
        s.closed.store(true, std::memory_order_release);
        s.size = 0;
        s.queued.store(0, std::memory_order_relaxed);
    }
    { std::lock_guard lock(s.sleep_mutex); }
    s.cv.notify_all();
}

bool packet_port::is_closed() const noexcept {
    return state_->closed.load(std::memory_order_acquire);
}

bool packet_port::empty_hint() const noexcept {
    // Relaxed is enough: a push that happened before this call is ordered before it by the
    // chain that made it so, and read-write coherence then shows its count.
    return state_->queued.load(std::memory_order_relaxed) == 0;
}

} // namespace sanport::detail
