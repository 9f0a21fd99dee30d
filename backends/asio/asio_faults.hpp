// SPDX-License-Identifier: MIT
// The Asio backend's fault seam: answers a test asks the reactor and the kernel to give on
// purpose, where this backend's error paths differ from io_uring's. Readiness comes from
// Asio and the transfer is our own non-blocking call, so the faults sit at those two points.
//
// Every field counts "the next N occurrences"; the backend consumes it as it injects and adds
// to `injected`. Engine thread only (tests drive a driven engine from one thread). A null plan
// (every production engine) costs one predictable branch per transfer and per wake-up.
#pragma once

#include <cstdint>

namespace sanport::detail {

struct asio_fault_plan {
    // The next N transfers ask the kernel for at most short_bytes (a genuine short transfer).
    std::uint32_t short_transfers = 0;
    std::uint32_t short_bytes = 1;

    // The next N transfers answer fail_errno without calling the kernel (no byte moves).
    // EAGAIN is readiness that found nothing (a spurious wake-up): the wait is armed again.
    // EINTR is not delivered (recv_now/send_now retry it themselves).
    std::uint32_t failed_transfers = 0;
    int fail_errno = 0;

    // The next N readiness waits complete with wait_errno instead of readiness (ECANCELED is
    // Asio's operation_aborted without a cancel(): the reactor shutting a wait down).
    std::uint32_t failed_waits = 0;
    int wait_errno = 0;

    struct counts {
        std::uint64_t short_transfers = 0;
        std::uint64_t failed_transfers = 0;
        std::uint64_t failed_waits = 0;
    } injected;
};

} // namespace sanport::detail
