// SPDX-License-Identifier: MIT
// The host's socket handles: what WPUCreateSocketHandle gives a provider that has no OS handle
// of its own (a SAN provider's sockets), with the provider's context and the completion queue
// the application associated.
//
// Handles are 0x5A000000 + 4 * slot: far above the small numbers Linux gives file descriptors
// and, like Windows handles, multiples of 4. Slots live in chunks that are never freed, so a
// lookup (every provider call does one) reads atomics without a lock. A closed slot goes to the
// back of the free list, which is drawn from only once 1,024 slots wait there, so a value is not
// handed out again soon after it was closed.
#pragma once

#include "core/completion_queue_impl.hpp"

#include <sanport/compat.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

namespace sanport::detail::host {

class handle_table {
public:
    static handle_table& instance() noexcept;

    // A new handle carrying `context`; INVALID_SOCKET with WSAENOBUFS when the table is full.
    SOCKET create(DWORD_PTR context, int& wsa) noexcept;
    // 0, or WSAENOTSOCK for a value that is not a live handle.
    int close(SOCKET s) noexcept;
    int query(SOCKET s, DWORD_PTR& context) const noexcept;
    bool is_handle(SOCKET s) const noexcept { return slot_of(s) != nullptr; }
    // WSAENOTSOCK (not a live handle) or WSAEINVAL (already associated).
    int associate(SOCKET s, std::shared_ptr<completion_queue_impl> queue, ULONG_PTR key) noexcept;
    // The queue and key of a live handle; queue is null when none is associated.
    bool route(SOCKET s, std::shared_ptr<completion_queue_impl>& queue, ULONG_PTR& key) const;

private:
    struct slot {
        std::atomic<bool> live{false};
        std::atomic<DWORD_PTR> context{0};
        mutable std::mutex mutex; // guards queue and key
        std::shared_ptr<completion_queue_impl> queue;
        ULONG_PTR key = 0;
    };
    static constexpr std::uintptr_t base = 0x5A000000u;
    static constexpr std::size_t chunk_slots = 4096;
    static constexpr std::size_t max_chunks = 256; // 1,048,576 handles
    static constexpr std::size_t reuse_after = 1024;

    slot* slot_of(SOCKET s) const noexcept;

    std::array<std::atomic<slot*>, max_chunks> chunks_{};
    std::mutex mutex_; // create/close: the free list and chunk growth
    std::deque<std::size_t> free_;
    std::size_t used_ = 0; // slots ever handed out
};

} // namespace sanport::detail::host
