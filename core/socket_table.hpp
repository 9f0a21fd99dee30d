// SPDX-License-Identifier: MIT
// SOCKET → socket_state, process-wide. SOCKET values are OS handles (small integers on
// Linux), so the table is a two-level array indexed by handle: lock-free lookups, chunks
// allocated on first use and never freed.
//
// Safety against a concurrent close: states are recycled, never freed, so a reader may count
// a reference on a state it loaded and then check the slot still points at it.
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

    void reset() noexcept;
    socket_state* get() const noexcept { return s_; }
    socket_state* operator->() const noexcept { return s_; }
    socket_state& operator*() const noexcept { return *s_; }
    explicit operator bool() const noexcept { return s_ != nullptr; }

private:
    socket_state* s_ = nullptr;
};

class socket_table {
public:
    static socket_table& instance();
    // fork.child, in the child's fork handler: the parent's table (and its locks) is left
    // behind, leaked; the child's first call makes an empty one, so every SOCKET of the parent
    // is unknown there. Touches nothing but one atomic pointer.
    static void forget_parent() noexcept;

    // WSAEINVAL if the handle is already known, WSAENOBUFS if the table cannot grow.
    int insert(SOCKET s, socket_state* state);
    socket_ref find(SOCKET s) noexcept;
    void remove(SOCKET s, socket_state* state) noexcept;
    // A snapshot of the handles in the table (for the last WSPCleanup, which closes them).
    std::vector<SOCKET> handles();

    // Recycled state objects (type-stable memory, see above).
    socket_state* make_state();
    void recycle(socket_state* state) noexcept;

private:
    static constexpr std::size_t chunk_bits = 12;
    static constexpr std::size_t chunk_size = std::size_t{1} << chunk_bits;
    static constexpr std::size_t max_chunks = 1024; // handles below 4M

    using slot = std::atomic<socket_state*>;
    slot* chunk_for(SOCKET s, bool create);

    std::atomic<slot*> chunks_[max_chunks] = {};
    std::mutex mutex_; // growth and the recycle list only
    socket_state* free_ = nullptr;
};

} // namespace sanport::detail
