// SPDX-License-Identifier: MIT
// sanport/completion_queue.h: an I/O completion port for servers, the same on every backend.
//
// Associate sockets with a key; each completed overlapped operation of those sockets queues
// one packet (overlapped, bytes, key, status), except when the low bit of the operation's
// hEvent is set, or the socket skips packets for immediate successes. Dequeue in batches.
// On a driven engine (own_thread = false) dequeue runs the engine itself while it waits.
//
// Threads: any thread may post or shut down; on an engine with its own thread (the default
// one) any thread may dequeue, also several at once. On a driven engine only its owner
// dequeues (engine.owner, see engine.h); from another thread dequeue returns 0 at once and
// last_error_detail() says why. Lifetime: a queue may be destroyed while sockets are still
// associated (their completions then queue nothing), and may outlive its engine: the engine's
// destruction shuts it down (cq.engine-gone).
#pragma once

#include <sanport/compat.h>

#include <cstddef>
#include <memory>

namespace sanport {

class engine;
namespace detail {
class completion_queue_impl;
}

// One completed operation, as GetQueuedCompletionStatusEx's OVERLAPPED_ENTRY carries it.
struct completion_entry {
    WSAOVERLAPPED* overlapped = nullptr; // the caller's structure, or the one given to post()
    DWORD bytes = 0;                     // bytes transferred
    ULONG_PTR key = 0;                   // the socket's completion key, or post()'s key
    int status = 0;                      // 0 or the WSA error of the operation
};

class completion_queue {
public:
    explicit completion_queue(engine& e);
    completion_queue(); // on the default engine
    ~completion_queue();
    completion_queue(const completion_queue&) = delete;
    completion_queue& operator=(const completion_queue&) = delete;

    // Sends the completions of s here with `key`. skip_on_success: an operation that completes
    // at once (WSPRecv returned 0) queues no packet, like FILE_SKIP_COMPLETION_PORT_ON_SUCCESS.
    // Returns 0, or WSAENOTSOCK / WSAEINVAL (another engine, or already associated).
    int associate(SOCKET s, ULONG_PTR key, bool skip_on_success = false);

    // Waits up to timeout_ms (0 = poll, WSA_INFINITE = forever) for at least one packet and
    // returns up to `max` of them, oldest first. 0 means the time ran out or shutdown() was
    // called (then is_shut_down() is true and every later call returns 0 at once).
    std::size_t dequeue(completion_entry* out, std::size_t max, DWORD timeout_ms);

    // cq.pool: a thread pool on this queue, with an I/O completion port's concurrency rule
    // (NumberOfConcurrentThreads). At most n threads run at a time on the queue's behalf: a
    // thread runs from the moment dequeue returns packets to it until it calls dequeue again,
    // on this queue or another, or exits. While n run, packets wait even if threads wait for
    // them; a slot that frees goes to the thread that began waiting last, so the fewest
    // threads stay warm. Unlike a port, a running thread that blocks elsewhere keeps its slot.
    // n = 0 (the default) is no limit; set it before threads dequeue. dequeue_ready does not
    // count. Engines with their own thread only: 0, or WSAEINVAL on a driven engine, whose one
    // dequeuing thread is its owner.
    int set_concurrency(unsigned n);

    // cq.readiness (Linux): a descriptor an event loop of your own can wait on (epoll, poll,
    // libuv, Asio's posix::stream_descriptor::async_wait), so this queue needs no thread of
    // its own. The protocol:
    //  - wait for the descriptor to be readable (POLLIN / EPOLLIN), level- or edge-triggered;
    //  - then call dequeue_ready until it returns fewer than `max`; then wait again.
    // The descriptor is readable while packets of this queue may wait and, on a driven engine,
    // while the engine has kernel completions to reap, a hand-off from another thread, or a
    // timer due; it may also be readable with nothing to take (then dequeue_ready returns 0).
    // Each dequeue_ready that leaves something behind makes it readable again, so edge-
    // triggered waits miss nothing. Do not read it, close it or add it to a loop twice: it
    // belongs to the queue and is closed with it.
    // Driven engine: call it on the owner thread (the loop's thread must be the owner, see
    // engine.h) before the engine is first driven, where dequeue_ready then drives the engine
    // once without waiting. On io_uring the ring is made again then, without DEFER_TASKRUN:
    // with it the kernel tells a registered eventfd about a receive's data only milliseconds
    // late (16 ms measured, against 0.2 ms without). A wait may then also end with EINTR
    // when data arrives: wait again, the descriptor is readable by then. A loop run by
    // several threads uses an engine with its own thread, whose queues any thread may drain.
    // Returns 0 with fd set (the same descriptor on every call), or WSAEOPNOTSUPP (Windows: a
    // completion port is not a waitable object; a driven engine on the asio backend, whose
    // reactor waits cannot be seen from outside), WSAEINVAL (not the owner, or io_uring's ring
    // was driven already), WSAESHUTDOWN, or
    // WSAENOBUFS (no descriptor left); last_error_detail() says which.
    int readiness_handle(int& fd);
    // Never waits: on a driven engine (owner only) takes waiting packets and, when fewer than
    // `max` were waiting, drives the engine once; elsewhere takes what waits. Up to `max`
    // packets, oldest first; 0 when none, after shutdown() or on the wrong thread.
    std::size_t dequeue_ready(completion_entry* out, std::size_t max);

    // Queues a user packet (PostQueuedCompletionStatus). Returns 0, WSAESHUTDOWN after
    // shutdown(), or WSAENOBUFS when memory runs out.
    int post(DWORD bytes, ULONG_PTR key, WSAOVERLAPPED* overlapped);

    // Wakes every waiter; later dequeues return 0 at once and posts fail. Packets of sockets
    // still associated are dropped from then on: to end a server without losing any, drain
    // instead (docs/design.md, "Shutting a server down").
    void shutdown();
    bool is_shut_down() const noexcept;

    detail::completion_queue_impl& impl() noexcept { return *impl_; }
    // For sanport's provider host: keeps the queue's state alive while a handle points at it.
    std::shared_ptr<detail::completion_queue_impl> shared_impl() const noexcept { return impl_; }

private:
    std::shared_ptr<detail::completion_queue_impl> impl_;
};

} // namespace sanport
