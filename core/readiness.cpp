// SPDX-License-Identifier: MIT
// cq.readiness: a completion queue that a loop of the application's own (epoll, poll, libuv,
// Asio) waits on, through one descriptor, and drains with dequeue_ready.
//
// A driven engine owns two descriptors (core/sys.hpp) that say "drive me". Its signal is
// raised by the kernel for every completion (backend::signal_completions) and, between drives,
// by every hand-off that used to wake a sleeping reap: a kick, a command, another thread's
// packet, a timer armed, a request the owner started or cancelled outside a drive (nudge: only
// a drive submits it). Its deadline is readable from the nearest timer's deadline on. Each
// drive clears both; when it ends it hands the SQEs its completions started to the kernel,
// re-arms the deadline and announces "between drives" with the same Dekker pair the reap's
// sleep uses, so no hand-off is lost between the drive and the loop's next wait.
//
// Every queue has a signal of its own, raised by the first packet pushed after the last
// dequeue_ready cleared it, from any thread and inside any drive (a close or a blocking call
// that drove, another queue's drain): only that queue's dequeue_ready clears it. With its own
// thread the engine needs nothing else, so the queue's signal is the descriptor; a driven
// engine's descriptor is a set of the queue's signal and the engine's two.
//
// dequeue_ready raises the signals again when it leaves packets (the queue's) or completions
// (the engine's) behind, so the descriptor gives a fresh edge for everything not taken yet: a
// loop that waits edge-triggered (Asio registers descriptors with EPOLLET) is served as well as
// one that waits level-triggered.
#include "core/completion_queue_impl.hpp"
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/sys.hpp"

#include <limits>

namespace sanport {

namespace detail {

namespace {
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr const char* no_descriptor = "completion_queue::readiness_handle: no descriptor "
                                      "(Windows has none for a completion port, or the process "
                                      "ran out)";
} // namespace

int engine_impl::open_readiness(int& signal, int& deadline) noexcept {
    if (!outside_) {
        int k = -1;
        int t = -1;
        int wsa = sys::signal_open(k);
        if (wsa == 0) wsa = sys::deadline_open(t);
        if (wsa != 0) {
            sys::close_descriptor(k);
            sys::close_descriptor(t);
            return failed_because(wsa == WSAEOPNOTSUPP ? wsa : WSAENOBUFS, no_descriptor);
        }
        wsa = backend_->signal_completions(k);
        if (wsa != 0) {
            sys::close_descriptor(k);
            sys::close_descriptor(t);
            if (wsa == WSAEOPNOTSUPP)
                return failed_because(wsa, "completion_queue::readiness_handle: this backend's "
                                           "waits cannot be seen from outside (a driven engine "
                                           "on the asio backend); use an engine with its own "
                                           "thread");
            if (wsa == WSAEINVAL)
                return failed_because(wsa, "completion_queue::readiness_handle: ask for it "
                                           "before the engine is first driven and before memory "
                                           "is registered (io_uring makes its ring again for a "
                                           "loop of yours, which it cannot once the ring is in "
                                           "use)");
            return failed_because(WSAENOBUFS, no_descriptor);
        }
        ready_signal_ = k;
        ready_deadline_ = t;
        outside_ = true;
        // The first drive runs what may already be pending (commands, kicks, packets).
        sys::signal_raise(k);
    }
    signal = ready_signal_;
    deadline = ready_deadline_;
    return 0;
}

void engine_impl::raise_readiness() noexcept {
    if (ready_signal_ >= 0) sys::signal_raise(ready_signal_);
}

void engine_impl::begin_outside_drive() noexcept {
    idle_outside_.store(false, std::memory_order_relaxed);
    sys::signal_clear(ready_signal_);
    if (deadline_armed_ns_ != never && deadline_armed_ns_ <= timer_heap::now_ns()) {
        sys::deadline_clear(ready_deadline_);
        deadline_armed_ns_ = never; // re-armed for the next timer when the drive ends
    }
}

void engine_impl::end_outside_drive(bool more) noexcept {
    // What the drive's completions started (the next receive of a FIFO) goes to the kernel
    // now: the owner's next wait is epoll's, not the ring's.
    if (backend_->submit()) more = true;
    const std::uint32_t timers_seen = timers_.generation();
    const std::int64_t next = timers_.earliest_ns();
    if (next != deadline_armed_ns_) {
        sys::deadline_arm(ready_deadline_, next);
        deadline_armed_ns_ = next;
    }
    // Dekker pair with kick()/post_command()/arm_timer()/note_packet() (wake_if_sleeping):
    // either they see the owner between drives and raise the signal, or it sees their work here.
    // Another thread's packet since the last announcement raises it too: its raise may have
    // been cleared by this drive's start, and the owner must drive to see a post that came
    // while it slept (cq.post.wakes).
    idle_outside_.store(true, std::memory_order_seq_cst);
    const std::uint32_t packets = packets_.load(std::memory_order_seq_cst);
    if (more || kicks_.load(std::memory_order_seq_cst) ||
        commands_pending_.load(std::memory_order_seq_cst) ||
        stopping_.load(std::memory_order_seq_cst) || packets != packets_at_idle_ ||
        timers_.generation() != timers_seen)
        raise_readiness();
    packets_at_idle_ = packets;
}

completion_queue_impl::~completion_queue_impl() {
    const int handle = ready_fd_.load(std::memory_order_relaxed);
    const int signal = signal_fd_.load(std::memory_order_relaxed);
    sys::close_descriptor(handle);
    if (signal != handle) sys::close_descriptor(signal);
}

void completion_queue_impl::raise_ready() noexcept {
    if (!raised_.exchange(true, std::memory_order_seq_cst))
        sys::signal_raise(signal_fd_.load(std::memory_order_relaxed));
}

// Cleared first, then the flag: a push between the two finds the flag still set and writes
// nothing, and its packet is taken by the caller's look that follows.
void completion_queue_impl::clear_ready() noexcept {
    sys::signal_clear(signal_fd_.load(std::memory_order_relaxed));
    raised_.store(false, std::memory_order_seq_cst);
}

int completion_queue_impl::readiness(int& fd) noexcept {
    if (is_shut_down())
        return failed_because(WSAESHUTDOWN, "completion_queue::readiness_handle: the queue is "
                                            "shut down");
    std::lock_guard lock(ready_mutex_);
    if (const int made = ready_fd_.load(std::memory_order_relaxed); made >= 0) {
        fd = made;
        return 0;
    }
    // The owner's thread is the loop's: the ring takes its signal from the thread that drives
    // it (engine.owner).
    if (driven_ && !engine_->can_drive())
        return failed_because(WSAEINVAL, "completion_queue::readiness_handle: only the owner of "
                                         "a driven engine can wait for it");
    int signal = -1;
    if (const int wsa = sys::signal_open(signal))
        return failed_because(wsa == WSAEOPNOTSUPP ? wsa : WSAENOBUFS, no_descriptor);
    int handle = signal; // an engine with its own thread: the queue's signal is the handle
    if (driven_) {
        // A set of the queue's signal (packets wait here) and the engine's two (it must drive).
        int engine_signal = -1;
        int deadline = -1;
        int wsa = engine_->open_readiness(engine_signal, deadline); // sets its own detail
        if (wsa == 0) {
            wsa = sys::set_open(handle);
            if (wsa == 0) wsa = sys::set_add(handle, signal);
            if (wsa == 0) wsa = sys::set_add(handle, engine_signal);
            if (wsa == 0) wsa = sys::set_add(handle, deadline);
            if (wsa != 0) {
                sys::close_descriptor(handle);
                failed_because(wsa, no_descriptor);
                wsa = WSAENOBUFS;
            }
        }
        if (wsa != 0) {
            sys::close_descriptor(signal);
            return wsa;
        }
    }
    signal_fd_.store(signal, std::memory_order_seq_cst);
    ready_fd_.store(handle, std::memory_order_seq_cst);
    // Packets queued before the handle existed, or while it was being made: the loop's first
    // wait must not miss them, so it starts readable.
    raise_ready();
    fd = handle;
    return 0;
}

std::size_t completion_queue_impl::dequeue_ready(completion_entry* out, std::size_t max) noexcept {
    if (!out || max == 0 || from_parent()) return 0;
    give_back_pool_slot(); // cq.pool: a call into any queue ends the thread's last run
    const bool signalled = signal_fd_.load(std::memory_order_acquire) >= 0;
    if (!driven_) {
        if (signalled) clear_ready();
        const std::size_t n = port_.pop(out, max, 0);
        if (signalled && (!port_.empty_hint() || port_.is_closed())) raise_ready();
        return n;
    }
    if (!engine_->can_drive()) {
        set_error_detail("completion_queue::dequeue_ready: the engine is driven by another "
                         "thread (its owner)");
        return 0;
    }
    if (port_.is_closed()) return 0;
    if (signalled) clear_ready();
    engine_->saw_packets();
    std::size_t n = take_local(out, max);
    if (n < max && !port_.empty_hint()) n += port_.pop(out + n, max - n, 0);
    if (n < max) {
        // One drive, never waiting: it clears the engine's signal, and its completions for this
        // queue land in `out` directly (cq.direct).
        direct_sink sink{this, out + n, max - n, 0};
        direct_sink* outer = set_direct_sink(&sink);
        engine_->run_once(0);
        set_direct_sink(outer);
        n += sink.n;
        pops_without_run_ = 0;
    }
    // What this call leaves behind gets a fresh edge.
    if (signalled && !nothing_waiting()) raise_ready();
    return port_.is_closed() ? 0 : n;
}

} // namespace detail

// cq.readiness
int completion_queue::readiness_handle(int& fd) {
    return impl_->readiness(fd);
}

std::size_t completion_queue::dequeue_ready(completion_entry* out, std::size_t max) {
    return impl_->dequeue_ready(out, max);
}

} // namespace sanport
