// SPDX-License-Identifier: MIT
// cancel(): ask the kernel to stop every started request of one socket.
//
// Invariant: the cancel's own CQE carries uring_tag_cancel and is consumed by harvest(),
// never reported; each cancelled request still comes back exactly once through its own CQE
// (-ECANCELED, or the bytes it had already moved).

#include "backends/io_uring/uring_backend.hpp"
#include "backends/io_uring/uring_tags.hpp"

namespace sanport::detail {

void uring_backend::cancel(SOCKET, void* backend_socket) noexcept {
    auto* socket = static_cast<uring_socket*>(backend_socket);
    uring_scratch* const directions[] = {&socket->recv, &socket->send};

    bool any = false;
    for (uring_scratch* d : directions) {
        if (d->active == nullptr) continue;
        // A request whose CQE says -EAGAIN/-EINTR after this point must not be re-armed:
        // the cancel below may already have missed it.
        d->abort_on_retry = true;
        any = true;
    }
    if (!any) return;

    if (has_cancel_fd_) {
        // One SQE for the whole socket (5.19+): matches every request on the fd, wherever
        // it is (armed poll, io-wq, or prepared in this same submission, which goes first).
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return;  // the retry guard above still ends a re-arm loop
        io_uring_prep_cancel_fd(sqe, socket->fd, IORING_ASYNC_CANCEL_ALL);
        sqe->user_data = uring_tag_cancel;
        return;
    }
    // Older kernels: one cancel per started request, keyed by its user_data (the pointer).
    for (uring_scratch* d : directions) {
        if (d->active == nullptr) continue;
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return;
        io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(d->active), 0);
        sqe->user_data = uring_tag_cancel;
    }
}

}  // namespace sanport::detail
