// SPDX-License-Identifier: MIT
// sanport/timer.h: one-shot timers whose expiry is a completion-queue packet (timer.* in
// docs/contract.md), enough to give an operation a deadline as Windows servers do: the timer's
// packet arrives, the server cancels the operation (WSPCancelIoEx), the operation completes.
//
// A timer belongs to the completion queue it was made with. start(delay_ms, key, overlapped)
// arms it; once delay_ms have passed, the queue gets the packet {overlapped, 0 bytes, key,
// status 0}, exactly once, unless cancel() stopped it first. cancel() says which happened:
// 0 means it was stopped and no packet will come; ERROR_NOT_FOUND means it was not armed (its
// packet is queued or about to be, or it never started). A timer that fired may be started
// again. Timers due at the same moment fire in the order they were started.
//
// When it fires: at or after the deadline (milliseconds, the steady clock), when the queue's
// engine runs. An engine with its own thread (the default one) fires on time. A driven
// engine fires while its owner is inside dequeue or run_once (a dequeue waiting with a longer
// time-out returns with the timer's packet); an owner busy elsewhere sees it at its next call.
//
// Threads: start, cancel and armed may be called from any thread, also at once on one timer.
// Lifetime: destroying an armed timer cancels it. The timer keeps its queue's state alive; once
// the queue is shut down (or its engine destroyed) start() fails with WSAESHUTDOWN and an armed
// timer's packet is dropped, as post() would refuse it.
#pragma once

#include <sanport/compat.h>

#include <memory>

namespace sanport {

class completion_queue;
namespace detail {
struct timer_state;
}

class timer {
public:
    explicit timer(completion_queue& queue);
    ~timer();
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;

    // Arms the timer. 0, WSAEINVAL when it is armed already (cancel it first), WSAESHUTDOWN
    // when the queue was shut down, WSAENOBUFS when memory ran out. delay_ms 0 fires at the
    // engine's next run; WSA_INFINITE is WSAEINVAL (a timer that never fires is no timer).
    int start(DWORD delay_ms, ULONG_PTR key, WSAOVERLAPPED* overlapped);
    // 0: stopped before it fired, no packet will come. ERROR_NOT_FOUND: not armed.
    int cancel() noexcept;
    bool armed() const noexcept;

private:
    std::unique_ptr<detail::timer_state> state_;
};

} // namespace sanport
