// SPDX-License-Identifier: MIT
// The completion queue behind sanport/completion_queue.h: packets wait in a packet_port (a ring
// on Linux, a real I/O completion port on Windows); on a driven engine the dequeuing thread
// runs the engine while it waits.
#pragma once

#include "core/packet_port.hpp"

#include <sanport/completion_queue.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace sanport::detail {

class engine_impl;

class completion_queue_impl;

// cq.direct: the array of a dequeue that drives its engine, filled by the completions that
// drive makes on the same thread, with no packet port in between (complete_op, deliver).
struct direct_sink {
    completion_queue_impl* queue = nullptr;
    completion_entry* out = nullptr;
    std::size_t max = 0; // lowered to n once a packet had to take the port: FIFO holds
    std::size_t n = 0;
};

// What the calling thread is in the middle of; one thread-local block, so a completion looks
// it up once. Here, not in completion.cpp, so that the completion handlers' inline fast path
// (complete_in_sink) reads it.
struct completion_context {
    // Set while the engine thread dispatches a reaped batch: the completions it makes bump the
    // generation once, after the batch (set_generation_bumps_deferred, engine_impl::run_once).
    bool bumps_deferred = false;
    direct_sink* sink = nullptr; // cq.direct: a dequeue on this thread drives its engine
};
inline constinit thread_local completion_context thread_completion{};

// The calling thread's sink (nullptr: none); returns the previous one.
direct_sink* set_direct_sink(direct_sink* sink) noexcept;
// The calling thread's dequeue already has packets: its drive must not sleep (a kicked start
// or a command completed an operation before the wait).
bool direct_sink_filled() noexcept;
// cq.pool: the calling thread's slot of a pool queue, if it holds one, is free: it calls dequeue
// again, on any queue (cq_pool.cpp). A plain thread-local flag first, so a thread that never ran
// for a pool pays one load per dequeue.
inline constinit thread_local bool pool_slot_held = false;
void give_back_held_pool_slot() noexcept;
inline void give_back_pool_slot() noexcept {
    if (pool_slot_held) [[unlikely]]
        give_back_held_pool_slot();
}
// Queues a packet: into the sink of a dequeue driving on this thread while no older packet of
// q waits, else q.push (completion.cpp); dropped when q was shut down.
void deliver_packet(completion_queue_impl& q, const completion_entry& e) noexcept;

class completion_queue_impl : public std::enable_shared_from_this<completion_queue_impl> {
public:
    explicit completion_queue_impl(std::shared_ptr<engine_impl> e);
    engine_impl& engine() noexcept { return *engine_; }

    // A packet (false: closed, or memory ran out). On a driven engine's driving thread it waits
    // in the driver's own list while nothing waits in the port (cq.direct); from any other
    // thread it takes the port and wakes the owner (cq.post.wakes). complete_op tries the sink
    // of a dequeue in progress first.
    bool push(const completion_entry& entry) noexcept;
    std::size_t dequeue(completion_entry* out, std::size_t max, DWORD timeout_ms);
    // cq.pool (cq_pool.cpp): IOCP's concurrency value; 0 is no limit.
    int set_concurrency(unsigned n) noexcept;
    // A thread that ran on this queue's behalf called dequeue again (here or on another
    // queue) or exited: its slot is free.
    void pool_leave() noexcept;

    // cq.readiness (readiness.cpp).
    int readiness(int& fd) noexcept;
    std::size_t dequeue_ready(completion_entry* out, std::size_t max) noexcept;
    ~completion_queue_impl();
    int post(const completion_entry& entry) noexcept;
    void shutdown() noexcept;
    bool is_shut_down() const noexcept;
    // fork.parent-engine: made on an engine of the parent process (a plain load and compare).
    bool from_parent() const noexcept;
    // Driving thread only: no packet of this queue waits, in its list or (as far as this
    // thread can know) in the port.
    bool nothing_waiting() const noexcept { return local_size_ == 0 && port_.empty_hint(); }

    // A socket associated with the queue names it by a raw pointer (socket_state::queue, on
    // its hot line, where a shared_ptr beside it cost 16 bytes per socket): the queue keeps
    // itself alive while any socket holds it. Any thread, under the socket's lock.
    void hold_for_socket() noexcept;
    void release_for_socket() noexcept; // may destroy the queue (its last reference)

private:
    std::mutex held_mutex_;
    std::size_t held_ = 0;                        // sockets associated
    std::shared_ptr<completion_queue_impl> self_; // set while held_ != 0

    // Kept alive by the queue: after the engine is destroyed it is retired (inert), and the
    // queue is shut down (cq.engine-gone).
    std::shared_ptr<engine_impl> engine_;
    packet_port port_;
    bool driven_ = false; // the engine has no thread of its own (engine.owner)
    // Driven engine: dequeues served from waiting packets since the engine last ran (driver
    // thread only). See dequeue: the engine runs at least every pops_per_engine_run of them.
    unsigned pops_without_run_ = 0;
    // cq.direct: packets the driving thread queued outside a drive (operations that completed
    // inside its own WSPRecv/WSPSend, its own posts): a ring, oldest at local_head_, with no
    // lock, since only that thread pushes and pops them. Its size is a power of two; it
    // doubles to the deepest backlog seen, then never allocates again.
    std::vector<completion_entry> local_;
    std::size_t local_head_ = 0;
    std::size_t local_size_ = 0;
    bool push_local(const completion_entry& entry) noexcept;
    // cq.pool: threads waiting for a slot, the most recent first, each on its own condition
    // variable so that exactly that one is released; `running_` threads hold a slot and
    // `releasing_` were released and have not taken a packet or gone back to wait yet.
    struct pool_waiter;
    std::atomic<unsigned> concurrency_{0};
    std::mutex pool_mutex_;
    pool_waiter* pool_waiters_ = nullptr;
    unsigned running_ = 0;
    unsigned releasing_ = 0;
    std::size_t pool_dequeue(completion_entry* out, std::size_t max, DWORD timeout_ms);
    void pool_release_locked() noexcept;
    void pool_packet() noexcept;
    void pool_release_all_locked() noexcept;

    std::mutex ready_mutex_;
    // cq.readiness: the descriptor readiness() handed out (-1: none yet), and this queue's
    // signal, raised by a push while `raised_` is false (one write per wait, not per packet)
    // and cleared by dequeue_ready. Engine with its own thread: the handle is the signal.
    // Driven engine: a set of the signal and the engine's two (it must drive, a timer is due).
    std::atomic<int> ready_fd_{-1};
    std::atomic<int> signal_fd_{-1};
    std::atomic<bool> raised_{false};
    void raise_ready() noexcept;
    void clear_ready() noexcept;
    std::size_t take_local(completion_entry* out, std::size_t max) noexcept;
};

} // namespace sanport::detail
