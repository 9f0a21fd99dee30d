// SPDX-License-Identifier: MIT
// The engine: one backend, the thread that drives it, and the hand-off from other threads.
//
// Only the engine thread calls the backend's start/cancel/reap. Another thread that needs a
// kernel request started (or cancelled) marks the socket and pushes it on a lock-free kick
// list; it wakes the engine only if the engine sleeps (a seq_cst flag pair, so no wake-up is
// lost and none is paid for while the engine is busy).
#pragma once

#include "core/backend.hpp"
#include "core/socket_state.hpp"
#include "core/timer_heap.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sanport::detail {

class completion_queue_impl;

// last_error_detail(): the reason the calling thread's last failing call gave (a literal).
void set_error_detail(const char* why) noexcept;

// fork.child: bumped in the child of each fork(). An engine made under an older value belongs
// to the parent process: its thread and ring did not survive the fork, and locks other threads
// held stay held, so the child never drives, locks, joins or frees anything of it.
inline constinit std::atomic<std::uint32_t> process_generation{0};
// Registers (once per process) the fork handler: a fresh socket table and default engine slot.
void watch_fork() noexcept;
// fork.parent-engine: the sentence last_error_detail() gives for a parent's engine.
inline constexpr const char* parent_engine_detail =
    "this engine belongs to the parent process (fork)";

// Shared: the public engine owns it, and each completion queue made on it keeps it too, so a
// queue that outlives its engine never points at freed memory (cq.engine-gone).
class engine_impl : public std::enable_shared_from_this<engine_impl> {
public:
    // Backend already made (or nullptr with why_not). own_thread starts the completion thread.
    engine_impl(std::unique_ptr<backend> b, std::string why_not, bool own_thread);
    // Whether a completion thread of the engine's own serves it (else its owner drives it).
    bool has_own_thread() const noexcept { return own_thread_; }
    ~engine_impl();
    engine_impl(const engine_impl&) = delete;
    engine_impl& operator=(const engine_impl&) = delete;

    int status() const noexcept { return backend_ ? 0 : WSAENETDOWN; }
    // fork.parent-engine: made before this process was forked (a plain load and compare).
    bool from_parent() const noexcept {
        return generation_ != process_generation.load(std::memory_order_relaxed);
    }
    const std::string& why() const noexcept { return why_; }
    const char* backend_name() const noexcept { return backend_ ? backend_->name() : ""; }
    backend& io() noexcept { return *backend_; }

    bool on_engine_thread() const noexcept {
        return driver_.load(std::memory_order_acquire) == std::this_thread::get_id();
    }
    // Whether this thread may start a kernel request itself (backend::starts_on_any_thread),
    // rather than hand it to the engine thread.
    bool starts_here() const noexcept { return starts_anywhere_ || on_engine_thread(); }
    // engine.owner: a thread may drive when it already does, or when it owns a driven engine
    // that nobody drove yet (the first drive binds the ring to it).
    bool can_drive() noexcept;
    // engine::take_ownership: 0, or WSAEINVAL once another thread drove (or own-thread engine).
    int take_ownership() noexcept;

    int run_once(int timeout_ms);
    void wake_if_sleeping() noexcept;

    // cq.readiness (readiness.cpp), driven engines, owner only: the signal that kernel
    // completions and every hand-off raise between drives, and the deadline of the nearest
    // timer. Made on the first call. 0, or a WSA code (WSAEOPNOTSUPP: the backend's waits
    // cannot be seen from outside).
    int open_readiness(int& signal, int& deadline) noexcept;
    // Raises the signal (a descriptor a loop waits on) when the owner is between drives; the
    // owner's own packets queued outside a drive call it. Any thread.
    void nudge() noexcept {
        if (idle_outside_.load(std::memory_order_seq_cst) &&
            idle_outside_.exchange(false, std::memory_order_seq_cst))
            raise_readiness();
    }
    void raise_readiness() noexcept;
    // cq.post.wakes: a completion-queue packet was queued by a thread that is not the driver of
    // this driven engine (a post, or an operation completed on its caller). A drive that began
    // after the driver last looked at its queues (saw_packets) then does not sleep: the packet
    // may have landed between that look and the sleep, where no wake() would reach it.
    void note_packet() noexcept;
    // The driver, just before it looks at its queues for packets.
    void saw_packets() noexcept { packets_seen_ = packets_.load(std::memory_order_seq_cst); }

    // Caller holds s.mutex. Engine thread: act now; other threads: hand over to the engine.
    void want_recv_start(socket_state& s);
    void want_send_start(socket_state& s);
    void want_cancel(socket_state& s);
    // cancel.in-flight: stop the request d has in the kernel, if its head op is still the
    // cancelled one when the engine thread gets to it.
    void want_cancel_request(socket_state& s, direction& d);

    // timer.*: arms t (any thread) and wakes a driver that may sleep past its deadline.
    // 0, WSAEINVAL when t is armed already, or WSAENOBUFS.
    int arm_timer(timer_state& t, std::int64_t deadline_ns,
                  const completion_entry& packet) noexcept;
    timer_heap& timers() noexcept { return timers_; }

    // Runs fn on the engine thread (now if this is it). Used by rare control paths.
    void post_command(std::function<void()> fn);

    // Registered-memory kernel slots (engine-wide table of the backend).
    std::int32_t reserve_slot() noexcept;
    void release_slot(std::int32_t slot) noexcept;

    // Sockets of this engine, for shutdown.
    void link(socket_state& s);
    void unlink(socket_state& s);
    std::vector<SOCKET> sockets();

    // Completion queues made on this engine, shut down when it retires.
    void add_queue(const std::shared_ptr<completion_queue_impl>& q);
    // The public engine is going away (its sockets are closed): stop, shut every queue down
    // and release the backend. What stays is inert: can_drive() is false from then on.
    void retire();

    // Wait (or drive, on the engine thread) until pred() holds. Never holds a socket lock.
    void wait_until(const std::function<bool()>& pred);

    // close.other-thread: a driven engine that only another thread (its owner) may drive, and
    // that still runs. A close from here must not wait for that owner.
    bool owner_elsewhere() noexcept;
    // close.other-thread: run finish() on the owner, at the end of a drive, once nothing of s
    // is in the kernel or on the kick list (busy == 0, one reference left: finish's own).
    void close_later(socket_state& s, std::function<void()> finish);
    // The engine is being destroyed: drive (owner, or orphan) until every close_later is done.
    void finish_pending_closes();
    // engine.orphan: destroyed on a thread that is not the owner (the owner may have exited).
    // Releases the ring or reactor now (the kernel cancels every request), makes the calling
    // thread the driver of an inert backend, and reports every request that was in flight as
    // aborted to the close that follows, so each operation still completes exactly once.
    void orphan();

    void stop();

    // diag.counters: stale entries of this engine retired (rare; any thread adds), and the
    // requests other threads handed over (kicks, commands), counted by the driving thread.
    std::atomic<std::uint64_t> stale_retired{0};
    std::uint64_t handoffs() const noexcept { return handoffs_.load(std::memory_order_relaxed); }

private:
    void thread_main();
    void begin_outside_drive() noexcept; // readiness.cpp
    void end_outside_drive(bool more) noexcept;
    void bind_thread_once();
    void drain_commands();
    void drain_kicks();
    void kick(socket_state& s);
    void cancel_head_request(socket_state& s, direction& d) noexcept;
    void dispatch(const io_completion& c);

    std::unique_ptr<backend> backend_;
    std::string why_;
    std::uint32_t generation_ = process_generation.load(std::memory_order_relaxed);
    bool own_thread_ = false;
    bool started_ = false;         // a backend started; read by any thread, unlike backend_
    bool starts_anywhere_ = false; // backend::starts_on_any_thread, fixed at construction
    std::thread thread_;
    std::atomic<std::thread::id> driver_{};
    // Driven engines: the thread allowed to drive first (the constructing one, or the last
    // take_ownership before the first drive). Written and bound under mutex_.
    std::thread::id owner_{};
    std::atomic<bool> bound_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> sleeping_{false};
    std::atomic<socket_state*> kicks_{nullptr};
    std::atomic<bool> commands_pending_{false};
    // note_packet() calls so far, and the count the driver last looked at (driver only).
    std::atomic<std::uint32_t> packets_{0};
    std::uint32_t packets_seen_ = 0;
    // run_once's batch (driver only): a member, made once, since a stack array of 128 was
    // zeroed on every drive (about 15 instructions per echoed message at 64 connections). A
    // drive never runs inside another: dispatch() runs the core's handlers only, which start
    // requests and complete ops but never wait or drive.
    io_completion batch_[128];
    std::size_t reap_and_dispatch(int timeout_ms); // reaps into batch_, dispatches each
    // One writer (the driving thread): a relaxed load and store, no locked instruction.
    std::atomic<std::uint64_t> handoffs_{0};

    // cq.readiness: descriptors (-1 until open_readiness), and whether the owner drives from a
    // loop of its own (owner only). idle_outside_: the owner is between drives; a hand-off then
    // raises the signal (wake_if_sleeping), once, rather than waking a reap nobody runs.
    int ready_signal_ = -1;
    int ready_deadline_ = -1;
    bool outside_ = false;
    std::int64_t deadline_armed_ns_ = INT64_MAX;
    std::uint32_t packets_at_idle_ = 0; // packets_ when the owner last went idle outside
    std::atomic<bool> idle_outside_{false};

    timer_heap timers_;
    std::mutex mutex_; // commands, slots, socket list
    std::vector<std::function<void()>> commands_;
    std::vector<std::uint8_t> slots_;
    socket_state* sockets_ = nullptr;
    std::vector<std::weak_ptr<completion_queue_impl>> queues_;
    struct pending_close {
        socket_state* socket;
        std::function<void()> finish;
    };
    std::vector<pending_close> closes_; // close_later; under mutex_
    bool finishing_closes_ = false;     // owner only: finish() may drive (never recursively)
    void finish_ready_closes();
};

// Starts r (d's request) on its socket's backend; an inline completion goes to done_fn, as
// reap() would hand it. busy counts requests reap() will report; one that finished inline never
// reaches dispatch(), which is what gives busy back. Counted after start(): nothing of this
// socket is dispatched meanwhile (s.mutex held: dispatch() takes it first).
template <class Done>
void start_request(socket_state& s, direction& d, io_request& r, Done done_fn) noexcept {
    d.in_flight = true;
    io_completion done;
    if (s.engine->io().start(r, done)) return done_fn(done);
    busy_add(s, 1);
    s.engine->nudge(); // cq.readiness: a loop of the owner's must drive to submit it
}

} // namespace sanport::detail
