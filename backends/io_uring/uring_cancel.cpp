// SPDX-License-Identifier: MIT
// cancel(): ask the kernel to stop every started request of one socket; cancel_request():
// one of them (WSPCancelIoEx).
//
// Invariant: the cancel's own CQE carries uring_tag_cancel and is consumed by harvest(),
// never reported; each cancelled request still comes back exactly once through its own CQE
// (-ECANCELED, or the bytes it had already moved).
//
// Why by user_data and not IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL: the backend
// knows every started request (at most one per direction), and a user_data match needs no fd.
// Keyed by fd, a cancel issued after the descriptor was closed matches nothing (-EBADF) and
// the request never comes back (measured on 6.18); after the number was reused it would
// cancel another socket's requests. Either breaks "each still comes back once".

#include "backends/io_uring/uring_backend.hpp"
#include "backends/io_uring/uring_tags.hpp"

namespace sanport::detail {

void uring_backend::cancel(SOCKET, void* backend_socket) noexcept {
    auto* socket = static_cast<uring_socket*>(backend_socket);
    for (uring_scratch* d : {&socket->recv, &socket->send})
        if (d->active != nullptr) cancel_scratch(*d);
}

void uring_backend::cancel_request(io_request& request) noexcept {
    // The core asks only while the request is in flight; an equal pointer is that request,
    // since a direction holds one request at a time and settle() clears `active` first.
    uring_scratch& d = scratch_of(request);
    if (d.active == &request) cancel_scratch(d);
}

void uring_backend::cancel_scratch(uring_scratch& d) noexcept {
    // A -EAGAIN/-EINTR result seen after this point is final, not re-armed: the cancel may
    // already have passed the request by.
    d.abort_on_retry = true;
    if (d.prep_owed) return; // the kernel never saw it: pay_backlog() reports the abort
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) { // even a submit made no room: the next reap() issues it
        owe(d, true);
        return;
    }
    // SQEs run in order, so this also finds a request prepared in the same submission; a
    // request of this direction started after this call is prepared after it, and the
    // kernel runs the cancel when it is submitted, so it never matches that one.
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(d.active), 0);
    sqe->user_data = uring_tag_cancel;
}

} // namespace sanport::detail
