// SPDX-License-Identifier: MIT
// The process-wide socket table (see socket_table.hpp).
#include "core/socket_table.hpp"

#include "core/completion_queue_impl.hpp"
#include "core/transfer.hpp"

#include <new>
#include <utility>

namespace sanport::detail {

socket_ref& socket_ref::operator=(socket_ref&& o) noexcept {
    if (this != &o) {
        reset();
        s_ = o.s_;
        o.s_ = nullptr;
    }
    return *this;
}

void socket_ref::wake_closer() noexcept {
    if (s_->close_waiting.load(std::memory_order_acquire)) bump_completion_generation();
}

socket_table& socket_table::make_instance() {
    socket_table* table = nullptr;
    auto* made = new socket_table;
    if (current_.compare_exchange_strong(table, made, std::memory_order_acq_rel)) return *made;
    delete made; // another thread made it first; nothing was allocated in it yet
    return *table;
}

void socket_table::forget_parent() noexcept {
    current_.store(nullptr, std::memory_order_relaxed);
}

socket_table::slot* socket_table::chunk_for(SOCKET s, bool create) {
    const std::size_t index = static_cast<std::size_t>(s) >> chunk_bits;
    if (index >= max_chunks) return nullptr;
    slot* chunk = chunks_[index].load(std::memory_order_acquire);
    if (chunk || !create) return chunk;
    std::lock_guard lock(mutex_);
    chunk = chunks_[index].load(std::memory_order_acquire);
    if (!chunk) {
        chunk = new (std::nothrow) slot[chunk_size];
        if (!chunk) return nullptr;
        for (std::size_t i = 0; i < chunk_size; ++i)
            chunk[i].store(nullptr);
        chunks_[index].store(chunk, std::memory_order_release);
    }
    return chunk;
}

int socket_table::insert(SOCKET s, socket_state* state) {
    slot* chunk = chunk_for(s, true);
    if (!chunk) return WSAENOBUFS;
    socket_state* expected = nullptr;
    if (!chunk[s & (chunk_size - 1)].compare_exchange_strong(expected, state)) return WSAEINVAL;
    return 0;
}

std::vector<SOCKET> socket_table::handles() {
    std::vector<SOCKET> out;
    for (std::size_t c = 0; c < max_chunks; ++c) {
        const slot* chunk = chunks_[c].load(std::memory_order_acquire);
        if (!chunk) continue;
        for (std::size_t i = 0; i < chunk_size; ++i)
            if (chunk[i].load(std::memory_order_acquire))
                out.push_back(static_cast<SOCKET>((c << chunk_bits) | i));
    }
    return out;
}

void socket_table::remove(SOCKET s, socket_state* state) noexcept {
    slot* chunk = chunk_for(s, false);
    if (!chunk) return;
    socket_state* expected = state;
    chunk[s & (chunk_size - 1)].compare_exchange_strong(expected, nullptr);
}

socket_state* socket_table::make_state() {
    std::lock_guard lock(mutex_);
    if (!free_) {
        // A block of line-aligned states at a time: no allocator header per socket, and each
        // state's lines are the ones socket_state's field order names. Never freed, like the
        // states themselves (type-stable memory).
        blocks_.reserve(blocks_.size() + 1); // so the push_back below cannot throw
        void* raw = ::operator new (sizeof(socket_state) * states_per_block,
                                    std::align_val_t{alignof(socket_state)});
        blocks_.push_back(raw);
        auto* block = static_cast<socket_state*>(raw);
        for (std::size_t i = states_per_block; i-- > 0;) {
            socket_state* s = new (&block[i]) socket_state;
            s->engine_next = free_;
            free_ = s;
        }
    }
    socket_state* s = free_;
    free_ = s->engine_next;
    s->engine_next = nullptr;
    return s;
}

void socket_table::recycle(socket_state* s) noexcept {
    // Reset everything but the reference count (see the header comment), under the state's
    // lock: a lock_entry caller that loaded it before the close may hold it still.
    std::unique_lock state_lock(s->mutex);
    while (op* o = s->free_ops) {
        s->free_ops = o->next;
        op_delete(o);
    }
    s->engine = nullptr;
    s->overlapped = s->report_disconnect = false;
    s->check_registration = false; // the close took the regions (retire_regions)
    s->read_ahead_on = false;
    s->family = 0;
    s->startup_owned = false;
    s->state = conn_state::fresh;
    s->rd_shutdown = s->wr_shutdown = s->wr_shutdown_done = s->eof = s->closing = false;
    s->recv_error = s->send_error = s->failed_under_send = 0;
    if (completion_queue_impl* q = std::exchange(s->queue, nullptr)) q->release_for_socket();
    s->key = 0;
    s->skip_on_success = false;
    s->recv = direction{};
    s->send = direction{};
    s->recv_target_kind = recv_target::head;
    s->extras.reset();
    s->has_read_ahead = false;
    s->next_kick = nullptr;
    s->kick_queued = s->cancel_wanted = false;
    s->accepting_on = INVALID_SOCKET;
    s->close_waiting.store(false, std::memory_order_relaxed);
    s->engine_prev = nullptr;
    state_lock.unlock();
    std::lock_guard lock(mutex_);
    s->engine_next = free_;
    free_ = s;
}

} // namespace sanport::detail
