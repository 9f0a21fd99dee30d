// SPDX-License-Identifier: MIT
// The per-socket transfer state machines (recv_queue.cpp, send_queue.cpp) and the one place
// that completes an operation (completion.cpp). Every function here is called with s.mutex
// held; the *_start and *_done functions run on the engine thread, except for *_on_caller's
// thread, which ends its own operation with *_done and hands the rest to the engine (*_start).
#pragma once

#include "core/backend.hpp"
#include "core/completion_queue_impl.hpp"
#include "core/op.hpp"
#include "core/socket_state.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>

namespace sanport::detail {

inline constexpr ULONG_PTR overlapped_in_progress = WSS_OPERATION_IN_PROGRESS;

// ---- completion.cpp ----
// A recycled op of s with room for `room` WSABUFs, or a new one; nullptr when memory ran out.
op* op_alloc(socket_state& s, std::uint32_t room) noexcept;
inline void op_free(socket_state& s, op& o) noexcept {
    o.overlapped = nullptr;
    o.flags = 0;
    o.fixed_slot = -1;
    o.no_packet = false;
    o.cancelled = false;
    o.listener_packet = false;
    o.posting = false;
    o.next = s.free_ops;
    s.free_ops = &o;
}
// recv.overlapped.fields: InternalHigh = bytes, Offset = flags, OffsetHigh = the WSA code, and
// Internal last, with release order: a poller that sees it != WSS_OPERATION_IN_PROGRESS sees
// the rest too. The WSA code itself is never 0x103, so any failure is distinct from "pending".
inline void publish(WSAOVERLAPPED* ov, int wsa, DWORD bytes, DWORD flags) noexcept {
    ov->InternalHigh = bytes;
    ov->Offset = flags;
    ov->OffsetHigh = static_cast<DWORD>(wsa);
    std::atomic_ref<ULONG_PTR>(ov->Internal)
        .store(static_cast<ULONG_PTR>(wsa), std::memory_order_release);
}
// Writes the result into o's WSAOVERLAPPED (Internal last, release order), signals the event,
// queues a completion-queue packet unless the low bit of hEvent is set (or the socket skips
// packets for immediate successes), wakes WSPGetOverlappedResult waiters, recycles o.
void complete_op(socket_state& s, op& o, int wsa, bool immediate) noexcept;
// complete_op's common case, inline in the two handlers that make it by the million (and in
// complete_op): no event, not immediate, a packet for the socket's queue that goes straight
// into the array of the dequeue driving on this thread while no older packet waits (cq.direct).
// false: nothing was done; complete_op does the rest.
void bump_completion_generation() noexcept; // no syscall unless someone waits
inline bool complete_in_sink(socket_state& s, op& o, int wsa) noexcept {
    WSAOVERLAPPED* ov = o.overlapped;
    direct_sink* sink = thread_completion.sink;
    if (ov->hEvent != nullptr || o.no_packet || o.listener_packet || sink == nullptr ||
        sink->queue != s.queue || sink->n >= sink->max || !s.queue->nothing_waiting())
        return false;
    const DWORD bytes = o.bytes;
    op_free(s, o);
    publish(ov, wsa, bytes, 0);
    sink->out[sink->n++] = completion_entry{ov, bytes, s.key, wsa};
    if (!thread_completion.bumps_deferred) bump_completion_generation();
    return true;
}
// The same bookkeeping for an overlapped that is not one of our ops (WPUCompleteOverlappedRequest).
void complete_overlapped(socket_state* s, WSAOVERLAPPED* ov, int wsa, DWORD bytes) noexcept;
// Bumped after every completion (and every reference a closer waits for); waiters without an
// event wait on it. Waiting is a mutex/condvar pair, not std::atomic::wait: libstdc++ 12
// without futexes (mingw-w64) checks the value and then waits on a condvar without holding
// the notifier out, so a notify in between is lost and the waiter sleeps for ever.
std::atomic<std::uint32_t>& completion_generation() noexcept;
void wait_completion_generation(std::uint32_t seen) noexcept; // until it differs from seen
// fork.child, in the child's fork handler: the parent's waiters are gone, and the mutex one of
// them held may stay held; the child's waiters use a fresh one, made on first use.
void forget_parent_waiters() noexcept;
// On the calling thread, completions skip their own bump while deferred; the caller bumps once
// after (engine_impl::run_once: one seq_cst increment per reaped batch).
void set_generation_bumps_deferred(bool deferred) noexcept;
// recv.conn.failure: a connection-level failure code as docs/contract.md §4 wants it
// (keep-alive time-outs).
int connection_error(socket_state& s, int wsa) noexcept;

// ---- recv_queue.cpp ----
// 0: completed at once (o recycled; the result is in its WSAOVERLAPPED); WSA_IO_PENDING:
// queued; else the error (o recycled, nothing queued, no notification).
int recv_post(socket_state& s, op& o) noexcept;
// Starts the kernel request the head op (or read-ahead) needs, if none is in flight. Inline:
// after most completions nothing is queued, and the call ends at this test.
void recv_start_queued(socket_state& s) noexcept;
// Starts the kernel receive into the head op (capacity > 0, nothing read ahead): nothing of
// the direction in the kernel, on a thread that starts requests, the socket not closing.
void recv_issue(socket_state& s) noexcept;
inline void recv_start(socket_state& s) noexcept {
    if (s.recv.ops.empty() && !s.read_ahead_on) return;
    recv_start_queued(s);
}
void recv_done(socket_state& s, const io_completion& c) noexcept;
void recv_abort_queued(socket_state& s) noexcept;
// engine.other-thread.blocking: a blocking receive on a thread that may not drive the engine,
// with nothing of the direction queued, in flight or read ahead: the calling thread moves the
// bytes itself (unlocking `lock` while it waits), with recv_done's semantics. 0: o completed
// (the result is in its WSAOVERLAPPED); else the error (o recycled).
int recv_on_caller(socket_state& s, op& o, std::unique_lock<spin_mutex>& lock) noexcept;

// ---- wsp_cancel.cpp ----
// cancel.*: every op of d that match(op, what) accepts is cancelled: one the kernel does not
// hold completes aborted now (the others keep their order), the head the kernel holds when
// its request comes back. Returns how many matched.
std::uint32_t cancel_matching(socket_state& s, direction& d, bool (*match)(const op&, const void*),
                              const void* what) noexcept;

// ---- accept_queue.cpp ----
// A listener's receive direction holds its posted accepts (accept.*): the op keeps its
// accept_target where a transfer op keeps its WSABUFs (op_alloc with room accept_op_room).
inline constexpr std::uint32_t accept_op_room = 3;
static_assert(sizeof(accept_target) <= 2 * sizeof(kernel_buffer));
inline accept_target& accept_args(op& o) noexcept {
    return *std::launder(reinterpret_cast<accept_target*>(o.buffers()));
}
// accept.first-receive: once the accept op became the accepted socket's first receive (entry 0
// its buffer), entries 1 and 2 say where its packet goes: the listener's queue and key. Made
// by accept_queue.cpp, consumed (and destroyed) by complete_op.
struct listener_report {
    std::shared_ptr<completion_queue_impl> queue;
    ULONG_PTR key = 0;
};
static_assert(sizeof(listener_report) <= (accept_op_room - 1) * sizeof(kernel_buffer));
inline listener_report& listener_report_of(op& o) noexcept {
    return *std::launder(reinterpret_cast<listener_report*>(o.buffers() + 1));
}
// As recv_post, for an op whose accept_args are set.
int accept_post(socket_state& s, op& o) noexcept;
void accept_start_queued(socket_state& s) noexcept;
void accept_done(socket_state& s, const io_completion& c) noexcept;
// accept.target-closed: the accept socket `target` (state t, being closed, its lock not held)
// was waiting for a connection on `listener`: that accept completes aborted.
void cancel_accepts_into(SOCKET listener, SOCKET target, const socket_state& t) noexcept;

// ---- connect_queue.cpp ----
// A connecting socket's send direction holds its one connect op: connect_target in its first
// two entries, the first data to send (ConnectEx's lpSendBuffer, maybe empty) in the third.
inline constexpr std::uint32_t connect_op_room = 3;
inline constexpr std::uint32_t connect_data_slot = 2;
static_assert(sizeof(connect_target) <= connect_data_slot * sizeof(kernel_buffer));
inline connect_target& connect_args(op& o) noexcept {
    return *std::launder(reinterpret_cast<connect_target*>(o.buffers()));
}
int connect_post(socket_state& s, op& o) noexcept;
void connect_start_queued(socket_state& s) noexcept;
void connect_done(socket_state& s, const io_completion& c) noexcept;

// ---- send_queue.cpp ----
int send_post(socket_state& s, op& o) noexcept;
// Starts the head op's send: nothing of the direction in the kernel, on a thread that starts
// requests, the socket connected and not closing.
void send_issue(socket_state& s) noexcept;
// As recv_start; with nothing queued only a pending SD_SEND has work (shutdown once drained).
void send_start_queued(socket_state& s) noexcept;
inline void send_start(socket_state& s) noexcept {
    if (s.send.ops.empty() && !s.wr_shutdown) return;
    send_start_queued(s);
}
void send_done(socket_state& s, const io_completion& c) noexcept;
void send_abort_queued(socket_state& s) noexcept;
// engine.other-thread.blocking: send_done's semantics on the calling thread (as recv_on_caller).
int send_on_caller(socket_state& s, op& o, std::unique_lock<spin_mutex>& lock) noexcept;

} // namespace sanport::detail
