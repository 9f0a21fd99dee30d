// SPDX-License-Identifier: MIT
// SOCKET → socket_state, process-wide. SOCKET values are OS handles (small integers on
// Linux), so the table is a two-level array indexed by handle: lock-free lookups, chunks
// allocated on first use and never freed.
//
// Safety against a concurrent close: states are recycled, never freed, so a reader may count
// a reference on a state it loaded (find), or take its lock (lock_entry), and then check the
// slot still points at it.
#pragma once

#include "core/socket_state.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace sanport::detail {

// A counted reference that keeps a socket_state from being recycled.
class socket_ref {
public:
    socket_ref() = default;
    explicit socket_ref(socket_state* s) noexcept : s_(s) {}
    socket_ref(socket_ref&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
    socket_ref& operator=(socket_ref&& o) noexcept;
    socket_ref(const socket_ref&) = delete;
    socket_ref& operator=(const socket_ref&) = delete;
    ~socket_ref() { reset(); }

    // Inline: two lookups per echoed message each give their reference back here.
    void reset() noexcept {
        if (!s_) return;
        // A closer waits (in engine_impl::wait_until) for the count to drop to its own one.
        const std::uint32_t before = s_->refs.fetch_sub(1, std::memory_order_acq_rel);
        if (before <= 2) [[unlikely]]
            wake_closer();
        s_ = nullptr;
    }
    socket_state* get() const noexcept { return s_; }
    socket_state* operator->() const noexcept { return s_; }
    socket_state& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

private:
    void wake_closer() noexcept; // out of line: the rare case
    socket_state* s_ = nullptr;
};

class socket_table {
public:
    static socket_table& instance() {
        socket_table* table = current_.load(std::memory_order_acquire);
        return table != nullptr ? *table : make_instance();
    }
    // fork.child, in the child's fork handler: the parent's table (and its locks) is left
    // behind, leaked; the child's first call makes an empty one, so every SOCKET of the parent
    // is unknown there. Touches nothing but one atomic pointer.
    static void forget_parent() noexcept;

    // WSAEINVAL if the handle is already known, WSAENOBUFS if the table cannot grow.
    int insert(SOCKET s, socket_state* state);
    // The state `s` names, with a reference counted (empty: unknown). Every call on a socket
    // but an overlapped WSPRecv/WSPSend (lock_entry) looks it up here.
    socket_ref find(SOCKET s) noexcept {
        slot* where = slot_of(s);
        if (!where) return {};
        socket_state* state = where->load(std::memory_order_acquire);
        if (!state) return {};
        state->refs.fetch_add(1, std::memory_order_acq_rel);
        socket_ref ref(state);
        // Closed (and maybe recycled) between the load and the count: not ours any more.
        if (where->load(std::memory_order_acquire) != state) [[unlikely]]
            return {};
        return ref;
    }
    // An overlapped WSPRecv/WSPSend: the state `s` names with its mutex locked, and no
    // reference counted (nullptr: unknown). Holding the lock is enough: recycle() takes it, and
    // the caller lets go of the state when it unlocks. Two locked instructions per call fewer
    // than find().
    socket_state* lock_entry(SOCKET s) noexcept {
        slot* where = slot_of(s);
        if (!where) return nullptr;
        socket_state* state = where->load(std::memory_order_acquire);
        if (!state) return nullptr;
        state->mutex.lock();
        // Closed (and maybe recycled) between the load and the lock: not ours any more.
        if (where->load(std::memory_order_acquire) != state) [[unlikely]] {
            state->mutex.unlock();
            return nullptr;
        }
        return state;
    }
    void remove(SOCKET s, socket_state* state) noexcept;
    // A snapshot of the handles in the table (for the last WSPCleanup, which closes them).
    std::vector<SOCKET> handles();

    // Recycled state objects (type-stable memory, see above).
    socket_state* make_state();
    void recycle(socket_state* state) noexcept;

private:
    static socket_table& make_instance();
    // Never destroyed: sockets may be used from threads that outlive static destruction.
    static constinit inline std::atomic<socket_table*> current_{nullptr};

    static constexpr std::size_t chunk_bits = 12;
    static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
    static constexpr std::size_t max_chunks = 1024; // handles below 4M

    using slot = std::atomic<socket_state*>;
    slot* chunk_for(SOCKET s, bool create);
    // The slot of `s` in an existing chunk, or nullptr (INVALID_SOCKET and any handle beyond
    // the table fall in the first test). Lock-free: one acquire load of the chunk.
    slot* slot_of(SOCKET s) noexcept {
        const std::size_t index = static_cast<std::size_t>(s) >> chunk_bits;
        if (index >= max_chunks) return nullptr;
        slot* chunk = chunks_[index].load(std::memory_order_acquire);
        return chunk ? &chunk[s & (chunk_size - 1)] : nullptr;
    }

    std::atomic<slot*> chunks_[max_chunks] = {};
    std::mutex mutex_; // growth and the recycle list only
    socket_state* free_ = nullptr;
    static constexpr std::size_t states_per_block = 32; // 10 KiB
    std::vector<void*> blocks_; // what make_state() allocated; kept so nothing looks leaked
};

} // namespace sanport::detail
