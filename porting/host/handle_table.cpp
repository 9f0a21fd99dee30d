// SPDX-License-Identifier: MIT
#include "porting/host/handle_table.hpp"

#include <new>

namespace sanport::detail::host {

handle_table& handle_table::instance() noexcept {
    // Never destroyed: provider threads may still call in while the process exits.
    static handle_table* table = new handle_table;
    return *table;
}

handle_table::slot* handle_table::slot_of(SOCKET s) const noexcept {
    const auto value = static_cast<std::uintptr_t>(s);
    if (value < base || (value - base) % 4 != 0) return nullptr;
    const std::size_t index = (value - base) / 4;
    if (index >= chunk_slots * max_chunks) return nullptr;
    slot* chunk = chunks_[index / chunk_slots].load(std::memory_order_acquire);
    if (!chunk) return nullptr;
    slot* sl = &chunk[index % chunk_slots];
    return sl->live.load(std::memory_order_acquire) ? sl : nullptr;
}

SOCKET handle_table::create(DWORD_PTR context, int& wsa) noexcept {
    std::lock_guard lock(mutex_);
    std::size_t index;
    // Reuse only from a long free list (or when no fresh slot is left): a value just closed is
    // not handed out again at once, so a late call with it finds WSAENOTSOCK, not a stranger.
    if (free_.size() > reuse_after || (!free_.empty() && used_ == chunk_slots * max_chunks)) {
        index = free_.front();
        free_.pop_front();
    } else {
        if (used_ == chunk_slots * max_chunks) return wsa = WSAENOBUFS, INVALID_SOCKET;
        index = used_;
        if (index % chunk_slots == 0) {
            slot* chunk = new (std::nothrow) slot[chunk_slots];
            if (!chunk) return wsa = WSAENOBUFS, INVALID_SOCKET;
            chunks_[index / chunk_slots].store(chunk, std::memory_order_release);
        }
        ++used_;
    }
    slot& sl = chunks_[index / chunk_slots].load(std::memory_order_relaxed)[index % chunk_slots];
    {
        std::lock_guard slot_lock(sl.mutex);
        sl.queue.reset();
        sl.key = 0;
    }
    sl.context.store(context, std::memory_order_relaxed);
    sl.live.store(true, std::memory_order_release);
    return static_cast<SOCKET>(base + 4 * index);
}

int handle_table::close(SOCKET s) noexcept {
    std::lock_guard lock(mutex_);
    slot* sl = slot_of(s);
    if (!sl) return WSAENOTSOCK;
    {
        // Under the slot lock, so associate and route see the slot either live or not.
        std::lock_guard slot_lock(sl->mutex);
        sl->live.store(false, std::memory_order_release);
        sl->queue.reset();
    }
    free_.push_back((static_cast<std::uintptr_t>(s) - base) / 4);
    return 0;
}

int handle_table::query(SOCKET s, DWORD_PTR& context) const noexcept {
    const slot* sl = slot_of(s);
    if (!sl) return WSAENOTSOCK;
    context = sl->context.load(std::memory_order_relaxed);
    return 0;
}

int handle_table::associate(SOCKET s, std::shared_ptr<completion_queue_impl> queue,
                            ULONG_PTR key) noexcept {
    slot* sl = slot_of(s);
    if (!sl) return WSAENOTSOCK;
    std::lock_guard slot_lock(sl->mutex);
    if (!sl->live.load(std::memory_order_relaxed)) return WSAENOTSOCK; // closed meanwhile
    if (sl->queue) return WSAEINVAL; // as for sanport's sockets: one queue per socket
    sl->queue = std::move(queue);
    sl->key = key;
    return 0;
}

bool handle_table::route(SOCKET s, std::shared_ptr<completion_queue_impl>& queue,
                         ULONG_PTR& key) const {
    const slot* sl = slot_of(s);
    if (!sl) return false;
    std::lock_guard slot_lock(sl->mutex);
    if (!sl->live.load(std::memory_order_relaxed)) return false; // closed meanwhile
    queue = sl->queue;
    key = sl->key;
    return true;
}

} // namespace sanport::detail::host
