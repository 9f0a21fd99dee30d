// SPDX-License-Identifier: MIT
// Completing an operation: the one place the notification rules live.
//
// recv.overlapped.fields: on completion InternalHigh = bytes, Offset = flags, OffsetHigh = WSA
// error, and Internal is written last with release order. recv.notify: then the event is
// signalled and one packet is queued. recv.event.low-bit, depart.low-bit.signals: the
// specification says "If the low order bit of the hEvent member ... is set, the switch
// specifically requests to not be notified" -- Win32 reads that as "no completion-port packet";
// the event (bit cleared) is still signalled.
#include "core/completion_queue_impl.hpp"
#include "core/engine_impl.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <new>

namespace sanport::detail {

// complete_op's packet path stays inline although deliver() has a second caller (timers):
// out of line it cost 18 instructions per echoed message (callgrind, bench/srv_sanport).
#if defined(__GNUC__)
#define HOT_INLINE [[gnu::always_inline]] inline
#define COLD_PATH [[gnu::noinline, gnu::cold]]
#else
#define HOT_INLINE inline
#define COLD_PATH
#endif

std::atomic<std::uint32_t>& completion_generation() noexcept {
    static std::atomic<std::uint32_t> generation{0};
    return generation;
}

namespace {

struct generation_waiters {
    std::mutex mutex;
    std::condition_variable cv;
};

// Outside generation_waiters so that a bump with nobody waiting reads one constant-initialised
// atomic and never reaches the function-local static's guard.
constinit std::atomic<std::uint32_t> waiter_count{0};

// Never destroyed, like the table; replaced (the old one leaked) in a forked child.
constinit std::atomic<generation_waiters*> current_waiters{nullptr};

generation_waiters& waiters() noexcept {
    generation_waiters* w = current_waiters.load(std::memory_order_acquire);
    if (w) return *w;
    auto* made = new generation_waiters;
    if (current_waiters.compare_exchange_strong(w, made, std::memory_order_acq_rel)) return *made;
    delete made; // another thread made it first
    return *w;
}

} // namespace

void bump_completion_generation() noexcept {
    // seq_cst pair with wait_completion_generation: either the waiter's check under the mutex
    // sees the new value, or this sees the waiter counted and notifies under the mutex.
    completion_generation().fetch_add(1, std::memory_order_seq_cst);
    if (waiter_count.load(std::memory_order_seq_cst) == 0) return;
    generation_waiters& w = waiters();
    { std::lock_guard lock(w.mutex); }
    w.cv.notify_all();
}

void set_generation_bumps_deferred(bool deferred) noexcept {
    thread_completion.bumps_deferred = deferred;
}

direct_sink* set_direct_sink(direct_sink* sink) noexcept {
    direct_sink* previous = thread_completion.sink;
    thread_completion.sink = sink;
    return previous;
}

bool direct_sink_filled() noexcept {
    return thread_completion.sink != nullptr && thread_completion.sink->n != 0;
}

void forget_parent_waiters() noexcept {
    waiter_count.store(0, std::memory_order_relaxed);
    current_waiters.store(nullptr, std::memory_order_relaxed);
}

void wait_completion_generation(std::uint32_t seen) noexcept {
    generation_waiters& w = waiters();
    waiter_count.fetch_add(1, std::memory_order_seq_cst);
    {
        std::unique_lock lock(w.mutex);
        w.cv.wait(lock,
                  [&] { return completion_generation().load(std::memory_order_seq_cst) != seen; });
    }
    waiter_count.fetch_sub(1, std::memory_order_relaxed);
}

op* op_alloc(socket_state& s, std::uint32_t room) noexcept {
    // The first recycled op with room enough (usually the head): a socket that mixes array
    // sizes reuses its large ops for small calls instead of replacing one per call.
    for (op** link = &s.free_ops; *link != nullptr; link = &(*link)->next) {
        op* o = *link;
        if (o->room >= room) [[likely]] {
            *link = o->next;
            o->next = nullptr;
            return o;
        }
    }
    // None fits: one too small makes way, so the socket keeps its peak number of posted
    // operations, each as large as the largest array it carried.
    if (op* o = s.free_ops) {
        s.free_ops = o->next;
        op_delete(o);
    }
    return op_new(room);
}

namespace {

// The event named by hEvent (low bit cleared), pinned before the result is published: the
// caller may close it as soon as it sees Internal change.
HANDLE hold_event(HANDLE event) noexcept {
    const auto raw = reinterpret_cast<std::uintptr_t>(event);
    HANDLE e = reinterpret_cast<HANDLE>(raw & ~std::uintptr_t{1});
    return e && wsa_event_hold(e) ? e : nullptr;
}

// cq.direct: straight into the array of a dequeue that drives on this thread, while no older
// packet waits in the port; once one had to go there, the rest of this drive follows it.
HOT_INLINE void deliver(completion_queue_impl& q, const completion_entry& e) noexcept {
    direct_sink* sink = thread_completion.sink;
    if (sink != nullptr && sink->queue == &q) {
        if (sink->n < sink->max && q.nothing_waiting()) {
            sink->out[sink->n++] = e;
            return;
        }
        sink->max = sink->n;
    }
    q.push(e);
}

void notify(completion_queue_impl* q, ULONG_PTR key, WSAOVERLAPPED* ov, HANDLE event, HANDLE held,
            int wsa, DWORD bytes, bool no_packet) noexcept {
    const bool low_bit = (reinterpret_cast<std::uintptr_t>(event) & 1u) != 0;
    if (held) wsa_event_set_and_release(held);
    if (q && !low_bit && !no_packet) deliver(*q, {ov, bytes, key, wsa});
    // No syscall unless a waiter is registered.
    if (!thread_completion.bumps_deferred) bump_completion_generation();
}

} // namespace

void deliver_packet(completion_queue_impl& q, const completion_entry& e) noexcept {
    deliver(q, e);
}

namespace {

// Every case complete_op's fast path leaves out: an event, an immediate completion, no packet
// (blocking call, low bit of hEvent, skip_on_success), an accept's first receive, or no direct
// sink for the socket's queue.
COLD_PATH void complete_op_in_full(socket_state& s, op& o, int wsa, bool immediate) noexcept {
    WSAOVERLAPPED* ov = o.overlapped;
    // Read hEvent before Internal is published: the caller may reuse the structure after that.
    HANDLE event = ov->hEvent;
    const bool no_packet = o.no_packet || (immediate && s.skip_on_success);
    const DWORD bytes = o.bytes;
    if (immediate) s.immediate_bytes = bytes;
    completion_queue_impl* q = s.queue;
    ULONG_PTR key = s.key;
    const bool first_receive = o.listener_packet;
    if (first_receive) [[unlikely]] { // accept.first-receive: the listener's queue and key
        q = listener_report_of(o).queue.get();
        key = listener_report_of(o).key;
    }
    op_free(s, o);
    HANDLE held = hold_event(event);
    publish(ov, wsa, bytes, 0);
    notify(q, key, ov, event, held, wsa, bytes, no_packet);
    // Still ours: o is only reused under s.mutex, which the caller holds.
    if (first_receive) [[unlikely]]
        listener_report_of(o).~listener_report();
}

} // namespace

void complete_op(socket_state& s, op& o, int wsa, bool immediate) noexcept {
    // The completion a driven server makes by the million (complete_in_sink, also inline in
    // recv_done and send_done): no event, a packet straight into the array of the dequeue that
    // drives on this thread (cq.direct).
    if (!immediate && complete_in_sink(s, o, wsa)) return;
    complete_op_in_full(s, o, wsa, immediate);
}

void complete_overlapped(socket_state* s, WSAOVERLAPPED* ov, int wsa, DWORD bytes) noexcept {
    HANDLE event = ov->hEvent;
    HANDLE held = hold_event(event);
    publish(ov, wsa, bytes, 0);
    notify(s ? s->queue : nullptr, s ? s->key : 0, ov, event, held, wsa, bytes, false);
}

int connection_error(socket_state& s, int wsa) noexcept {
    // recv.conn.failure: WSAETIMEDOUT is not a WSPRecv code: keep-alive is what detected it when
    // SO_KEEPALIVE is on (WSAENETRESET, the specification's "keep-alive activity detecting a
    // failure"), else WSAECONNABORTED.
    if (wsa == WSAETIMEDOUT)
        return sys::keepalive_enabled(s.handle()) ? WSAENETRESET : WSAECONNABORTED;
    return wsa;
}

} // namespace sanport::detail
