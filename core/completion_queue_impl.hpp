// SPDX-License-Identifier: MIT
// The completion queue behind sanport/completion_queue.h: a growable ring of packets under a
// mutex. Producers (the engine thread, post()) signal the condition variable only when a
// thread waits, so a busy server pays no syscall per packet.
#pragma once

#include <sanport/completion_queue.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace sanport::detail {

class engine_impl;

class completion_queue_impl {
public:
    explicit completion_queue_impl(engine_impl& e) : engine_(e) {}
    engine_impl& engine() noexcept { return engine_; }

    void push(const completion_entry& entry) noexcept;
    std::size_t dequeue(completion_entry* out, std::size_t max, DWORD timeout_ms);
    int post(const completion_entry& entry) noexcept;
    void shutdown() noexcept;
    bool is_shut_down() const noexcept;

private:
    std::size_t take(completion_entry* out, std::size_t max) noexcept; // mutex held
    bool grow() noexcept;

    engine_impl& engine_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<completion_entry> ring_ = std::vector<completion_entry>(256);
    std::size_t head_ = 0;
    std::size_t size_ = 0;
    int waiters_ = 0;
    bool shut_ = false;
};

} // namespace sanport::detail
