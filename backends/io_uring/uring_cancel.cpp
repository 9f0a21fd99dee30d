// SPDX-License-Identifier: MIT
// cancel(): ask the kernel to stop every started request of one socket; cancel_request():
// one of them (WSPCancelIoEx).
//
// Invariant: the cancel's own CQE carries uring_tag_cancel and is consumed by harvest(),
// never reported; each cancelled request still comes back exactly once through its own CQE
// (-ECANCELED, or the bytes it had already moved).
//
// Why by user_data and not IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL: the core names the
// socket's two requests (at most one started per direction), and a user_data match needs no fd.
// Keyed by fd, a cancel issued after the descriptor was closed matches nothing (-EBADF) and
// the request never comes back (measured on 6.18); after the number was reused it would
// cancel another socket's requests. Either breaks "each still comes back once".

#include "backends/io_uring/uring_backend.hpp"
#include "backends/io_uring/uring_tags.hpp"

namespace sanport::detail {

void uring_backend::cancel(SOCKET, void*, io_request& recv, io_request& send) noexcept {
    for (io_request* r : {&recv, &send})
        if (has_bit(*r, uring_bit::started)) cancel_started(*r);
}

void uring_backend::cancel_request(io_request& request) noexcept {
    // The core asks only while the request is in flight; the bit says whether it still is
    // (settle() clears it before the request is reported).
    if (has_bit(request, uring_bit::started)) cancel_started(request);
}

void uring_backend::cancel_started(io_request& request) noexcept {
    // A -EAGAIN/-EINTR result seen after this point is final, not re-armed: the cancel may
    // already have passed the request by.
    request.backend_bits |= uring_bit::abort_on_retry;
    if (has_bit(request, uring_bit::prep_owed)) return; // pay_backlog() reports the abort
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) { // even a submit made no room: the next reap() issues it
        owe(request, true);
        return;
    }
    // SQEs run in order, so this also finds a request prepared in the same submission; a
    // request of this direction started after this call is prepared after it, and the
    // kernel runs the cancel when it is submitted, so it never matches that one.
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&request), 0);
    sqe->user_data = uring_tag_cancel;
}

} // namespace sanport::detail
