// SPDX-License-Identifier: MIT
// The per-socket lock. It is held for a few hundred instructions at a time, by the engine thread
// or by a thread posting an operation, and is almost never contended. Uncontended it costs one
// exchange and one plain store; a pthread mutex costs two locked instructions and two calls
// (callgrind: 68 instructions per lock/unlock pair, four pairs per echoed message). Under
// contention it spins briefly, then yields, then sleeps, so a preempted holder gets the CPU back
// (a holder may be inside one syscall: a direct recvmsg, a futex wake for a sleeping dequeuer).
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

namespace sanport::detail {

class spin_mutex {
public:
    void lock() noexcept {
        while (locked_.exchange(true, std::memory_order_acquire)) {
            for (unsigned spins = 0; locked_.load(std::memory_order_relaxed); ++spins) {
                if (spins < 64)
                    relax();
                else if (spins < 128)
                    std::this_thread::yield();
                else // a holder of lower (real-time) priority gets the CPU whatever the policy
                    std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        }
    }
    bool try_lock() noexcept {
        return !locked_.load(std::memory_order_relaxed) &&
               !locked_.exchange(true, std::memory_order_acquire);
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    std::atomic<bool> locked_{false};
};

} // namespace sanport::detail
