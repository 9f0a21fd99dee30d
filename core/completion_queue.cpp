// SPDX-License-Identifier: MIT
// The completion queue (see completion_queue_impl.hpp and sanport/completion_queue.h).
#include "core/completion_queue_impl.hpp"
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/socket_table.hpp"

#include <sanport/engine.h>

#include <chrono>

namespace sanport {

using namespace detail;

namespace detail {

completion_queue_impl::completion_queue_impl(std::shared_ptr<engine_impl> e)
    : engine_(std::move(e)), driven_(!engine_->has_own_thread()) {
    // As deep as the packet port starts, made now rather than on the owner's first packet.
    if (driven_) local_.resize(256);
}

void completion_queue_impl::hold_for_socket() noexcept {
    std::lock_guard lock(held_mutex_);
    // The caller holds a reference (the completion_queue it came through): this cannot fail.
    if (held_++ == 0) self_ = shared_from_this();
}

void completion_queue_impl::release_for_socket() noexcept {
    std::shared_ptr<completion_queue_impl> last; // destroyed after the mutex is let go
    {
        std::lock_guard lock(held_mutex_);
        if (--held_ == 0) last = std::move(self_);
    }
}

bool completion_queue_impl::push(const completion_entry& entry) noexcept {
    if (driven_ && engine_->on_engine_thread()) {
        // cq.direct: the driver's own packet waits for its next dequeue without the port's lock,
        // unless an older one waits in the port (then it queues behind that one).
        if (port_.is_closed()) return false;
        const bool queued =
            (port_.empty_hint() && push_local(entry)) || port_.push(entry); // behind an older one
        // cq.readiness: a loop of the owner's waits on this queue's descriptor.
        if (queued && signal_fd_.load(std::memory_order_relaxed) >= 0) raise_ready();
        return queued;
    }
    if (!port_.push(entry)) return false;
    // cq.post.wakes: the owner of a driven engine waits in the kernel, not on the port. An
    // engine with its own thread has no dequeuer there: the port wakes its waiters itself, and
    // the readiness signal wakes a loop.
    if (signal_fd_.load(std::memory_order_relaxed) >= 0) raise_ready(); // cq.readiness
    if (driven_) {
        engine_->note_packet();
        return true;
    }
    if (concurrency_.load(std::memory_order_relaxed) != 0) pool_packet(); // cq.pool
    return true;
}

bool completion_queue_impl::push_local(const completion_entry& entry) noexcept {
    if (local_size_ == local_.size()) {
        try {
            std::vector<completion_entry> bigger(local_.empty() ? 256 : local_.size() * 2);
            for (std::size_t i = 0; i < local_size_; ++i)
                bigger[i] = local_[(local_head_ + i) & (local_.size() - 1)];
            local_.swap(bigger);
            local_head_ = 0;
        } catch (...) { // out of memory: the port may still have room
            return false;
        }
    }
    local_[(local_head_ + local_size_) & (local_.size() - 1)] = entry;
    ++local_size_;
    return true;
}

std::size_t completion_queue_impl::take_local(completion_entry* out, std::size_t max) noexcept {
    std::size_t n = 0;
    while (n < max && local_size_ != 0) {
        out[n++] = local_[local_head_];
        local_head_ = (local_head_ + 1) & (local_.size() - 1);
        --local_size_;
    }
    return n;
}

bool completion_queue_impl::from_parent() const noexcept {
    return engine_->from_parent();
}

bool completion_queue_impl::is_shut_down() const noexcept {
    return from_parent() || port_.is_closed();
}

std::size_t completion_queue_impl::dequeue(completion_entry* out, std::size_t max,
                                           DWORD timeout_ms) {
    if (!out || max == 0) return 0;
    give_back_pool_slot(); // cq.pool: this call ends the thread's last run, whatever the queue
    // fork.parent-engine: the packets, and the thread or ring that would add more, are the
    // parent's; the port's locks may be held by a thread that does not exist here.
    if (from_parent()) return set_error_detail(parent_engine_detail), 0;
    using clock = std::chrono::steady_clock;
    const bool forever = timeout_ms == WSA_INFINITE;
    // The clock is read only for a bounded, non-zero wait: a server polling or waiting without
    // limit pays nothing for it (two clock reads were 4% of a receive's cost).
    const bool bounded = !forever && timeout_ms != 0;
    const auto deadline =
        bounded ? clock::now() + std::chrono::milliseconds(timeout_ms) : clock::time_point{};
    const auto remaining_ms = [&]() -> int {
        if (forever) return -1;
        if (!bounded) return 0;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        return left.count() > 0 ? static_cast<int>(left.count()) : 0;
    };
    // A driven engine makes progress only while its thread runs it: do that while waiting, and
    // also every pops_per_engine_run dequeues while packets keep waiting. Operations that
    // complete inside their WSPRecv/WSPSend queue a packet that makes the owner post again;
    // served from the queue alone, that loop would starve the rest of the engine (reaping other
    // sockets, submitting their requests, kicks, cancels of a closing socket).
    constexpr unsigned pops_per_engine_run = 16;
    if (engine_->can_drive()) {
        for (;;) {
            engine_->saw_packets(); // cq.post.wakes: before the look at the port
            if (port_.is_closed()) return 0;
            if (pops_without_run_ < pops_per_engine_run) {
                // The driver's own packets are older than any the port holds (push).
                std::size_t n = take_local(out, max);
                if (n < max && !port_.empty_hint()) n += port_.pop(out + n, max - n, 0);
                if (n != 0) {
                    ++pops_without_run_;
                    return n;
                }
            }
            const bool owed = pops_without_run_ >= pops_per_engine_run; // packets may wait
            pops_without_run_ = 0;
            const int left = owed ? 0 : remaining_ms();
            // cq.direct: this drive's completions for this queue land in `out` directly.
            direct_sink sink{this, out, max, 0};
            direct_sink* outer = set_direct_sink(&sink);
            engine_->run_once(left);
            set_direct_sink(outer);
            if (sink.n != 0) return port_.is_closed() ? 0 : sink.n;
            if (!owed && left == 0) {
                if (port_.is_closed()) return 0;
                const std::size_t n = take_local(out, max);
                return n + (n < max ? port_.pop(out + n, max - n, 0) : 0);
            }
        }
    }
    // engine.owner: only the owner drives a driven engine; waiting here for packets that only
    // the owner's drive produces could last for ever, so say so at once.
    if (!engine_->has_own_thread() && !port_.is_closed()) {
        set_error_detail("completion_queue::dequeue: the engine is driven by another thread (its "
                         "owner); call engine::take_ownership() before it is first driven");
        return 0;
    }
    if (concurrency_.load(std::memory_order_relaxed) != 0)
        return pool_dequeue(out, max, timeout_ms); // cq.pool
    return port_.pop(out, max, forever ? -1 : static_cast<int>(timeout_ms));
}

int completion_queue_impl::post(const completion_entry& entry) noexcept {
    if (from_parent() || port_.is_closed()) return WSAESHUTDOWN;
    if (!push(entry)) return port_.is_closed() ? WSAESHUTDOWN : WSAENOBUFS;
    return 0;
}

void completion_queue_impl::shutdown() noexcept {
    if (from_parent()) return; // nothing of the parent's is touched (fork.parent-engine)
    port_.close();
    if (driven_)
        engine_->note_packet(); // also seen by a drive in progress (cq.readiness)
    else
        engine_->wake_if_sleeping();
    if (signal_fd_.load(std::memory_order_acquire) >= 0) raise_ready();
    if (!driven_) {
        std::lock_guard lock(pool_mutex_);
        pool_release_all_locked();
    }
}

} // namespace detail

completion_queue::completion_queue(engine& e)
    : impl_(std::make_shared<completion_queue_impl>(e.impl().shared_from_this())) {
    // fork.parent-engine: a queue made in the child on the parent's engine is shut down from
    // the start; the engine's lock is never taken.
    if (!impl_->from_parent()) e.impl().add_queue(impl_);
}
completion_queue::completion_queue() : completion_queue(default_engine()) {}
// cq.lifetime: sockets still associated share the queue's state; once it is shut down their
// completions queue nothing, and their events are still signalled.
completion_queue::~completion_queue() {
    // fork.parent-engine: leaked, like the engine, so nothing of the parent's is freed here.
    if (impl_->from_parent()) {
        static_cast<void>(new std::shared_ptr<completion_queue_impl>(std::move(impl_)));
        return;
    }
    impl_->shutdown();
}

// cq.associate
int completion_queue::associate(SOCKET s, ULONG_PTR key, bool skip_on_success) {
    socket_ref sock = socket_table::instance().find(s);
    if (!sock)
        return failed_because(WSAENOTSOCK, "completion_queue::associate: not a sanport socket "
                                           "(never opened, or already closed)");
    std::lock_guard lock(sock->mutex);
    if (sock->closing)
        return failed_because(WSAENOTSOCK, "completion_queue::associate: the socket is being "
                                           "closed");
    if (sock->engine != &impl_->engine())
        return failed_because(WSAEINVAL, "completion_queue::associate: the socket belongs to "
                                         "another engine than the queue's");
    if (sock->queue)
        return failed_because(WSAEINVAL, "completion_queue::associate: the socket is already "
                                         "associated with a completion queue");
    impl_->hold_for_socket();
    sock->queue = impl_.get();
    sock->key = key;
    sock->skip_on_success = skip_on_success;
    return 0;
}

// cq.dequeue
std::size_t completion_queue::dequeue(completion_entry* out, std::size_t max, DWORD timeout_ms) {
    return impl_->dequeue(out, max, timeout_ms);
}

// cq.pool
int completion_queue::set_concurrency(unsigned n) {
    return impl_->set_concurrency(n);
}

// cq.post
int completion_queue::post(DWORD bytes, ULONG_PTR key, WSAOVERLAPPED* overlapped) {
    return impl_->post({overlapped, bytes, key, 0});
}

// cq.shutdown
void completion_queue::shutdown() {
    impl_->shutdown();
}
bool completion_queue::is_shut_down() const noexcept {
    return impl_->is_shut_down();
}

} // namespace sanport
