// SPDX-License-Identifier: MIT
// The io_uring backend's fault seam: kernel answers a test asks for on purpose, delivered
// through the real ring (never by patching liburing), so the core above sees exactly what a
// kernel under pressure would make it see.
//
// Every field counts "the next N occurrences"; the backend consumes it as it injects and adds
// to `injected`. `observed` counts conditions the kernel itself produced (a real -EINTR from a
// signal, a real CQ overflow), so a test can prove its fault happened. Engine thread only: the
// tests drive a driven engine from one thread, so nothing here needs to be atomic.
//
// A null plan (every production engine) costs one predictable branch where each seam sits.
#pragma once

#include <cstdint>

namespace sanport::detail {

struct uring_fault_plan {
    // The next N request SQEs ask the kernel for at most short_bytes (a genuine short
    // transfer: the rest stays queued in the socket).
    std::uint32_t short_transfers = 0;
    std::uint32_t short_bytes = 1;

    // The next N request SQEs become IORING_OP_NOP, whose CQE then carries -fail_errno: the
    // kernel never touches the socket, so no byte moves (EAGAIN, EINTR, ENOMEM, ENOBUFS,
    // ECANCELED, ECONNRESET, ...).
    std::uint32_t failed_transfers = 0;
    int fail_errno = 0;

    // The next N io_uring_enter calls return -EINTR without entering.
    std::uint32_t enter_eintr = 0;

    // The next N io_uring_get_sqe calls find the submission queue full.
    std::uint32_t sq_full = 0;

    // The next N reaps enter the kernel (which posts completions) but take none from the CQ:
    // with a small ring the kernel's CQ overflows into its backlog.
    std::uint32_t stalled_reaps = 0;

    // The next receive CQE with bytes is taken from the CQ but kept from the core until
    // cancel() is asked for its socket: the bytes land before the close, the report after.
    bool hold_recv_until_cancel = false;

    struct counts {
        std::uint64_t short_transfers = 0;
        std::uint64_t failed_transfers = 0;
        std::uint64_t enter_eintr = 0;
        std::uint64_t sq_full = 0;
        std::uint64_t stalled_reaps = 0;
        std::uint64_t held_recv = 0;
    } injected;

    struct kernel_counts {
        std::uint64_t enter_eintr = 0; // io_uring_enter returned -EINTR on its own (a signal)
        std::uint64_t cq_overflow = 0; // reaps that found IORING_SQ_CQ_OVERFLOW set
        std::uint64_t deferred = 0;    // SQEs (requests, re-arms, cancels) that waited for room
    } observed;
};

} // namespace sanport::detail
