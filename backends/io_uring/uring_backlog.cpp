// SPDX-License-Identifier: MIT
// SQEs that had to wait for room, and the fault seam (uring_faults.hpp).
//
// Why a backlog: io_uring_get_sqe can come back empty even after a submit (the kernel refused
// the submission: -EBUSY while its CQ backlog is full, -EAGAIN/-ENOMEM). Failing the request
// then would turn a busy ring into a lost receive, and a cancel that never reaches the kernel
// would leave a close waiting forever. Instead the direction is linked here and the next reap()
// prepares it, first thing, before it enters the kernel. Nothing can overtake an owed request:
// at most one per direction is started, so its successor waits in the core's FIFO.
//
// Invariant: a scratch is linked exactly while its request owes something (the prep_owed or
// cancel_owed bit, never both). The list is the engine thread's alone: finish() unlinks an entry
// whose request it reports (an owed cancel no longer needed), so detach(), on any thread, never
// meets one.

#include "backends/io_uring/uring_backend.hpp"
#include "backends/io_uring/uring_tags.hpp"

#include <algorithm>
#include <cerrno>

namespace sanport::detail {

io_uring_sqe* uring_backend::get_sqe() noexcept {
    if (faults_ != nullptr && faults_->sq_full > 0) [[unlikely]] {
        --faults_->sq_full;
        ++faults_->injected.sq_full;
        return nullptr;
    }
    return io_uring_get_sqe(&ring_);
}

void uring_backend::owe(io_request& request, bool cancel) noexcept {
    if (faults_ != nullptr) ++faults_->observed.deferred;
    const bool linked = has_bit(request, uring_bit::prep_owed | uring_bit::cancel_owed);
    request.backend_bits |= cancel ? uring_bit::cancel_owed : uring_bit::prep_owed;
    if (linked) return;
    uring_scratch& scratch = scratch_of(request);
    scratch.owed = &request;
    scratch.next_owed = nullptr;
    if (owed_tail_ != nullptr)
        owed_tail_->next_owed = &scratch;
    else
        owed_head_ = &scratch;
    owed_tail_ = &scratch;
}

void uring_backend::forget_owed(io_request& request) noexcept {
    uring_scratch& scratch = scratch_of(request);
    uring_scratch* before = nullptr;
    for (uring_scratch* at = owed_head_; at != nullptr; before = at, at = at->next_owed) {
        if (at != &scratch) continue;
        (before != nullptr ? before->next_owed : owed_head_) = at->next_owed;
        if (owed_tail_ == at) owed_tail_ = before;
        break;
    }
    scratch.next_owed = nullptr;
    scratch.owed = nullptr;
}

std::size_t uring_backend::pay_backlog(io_completion* out, std::size_t max) noexcept {
    std::size_t produced = 0;
    // The fault seam's held receive: reported once cancel() was asked for its socket.
    if (held_.user_data != 0 && produced < max) {
        auto* request = reinterpret_cast<io_request*>(static_cast<std::uintptr_t>(held_.user_data));
        if (has_bit(*request, uring_bit::abort_on_retry)) {
            const io_uring_cqe cqe = held_;
            held_ = io_uring_cqe{};
            if (finish(cqe, out[produced])) ++produced;
        }
    }
    // Entries that need no SQE (an abort) are paid even when the SQ is still full.
    bool room = true;
    uring_scratch* before = nullptr;
    for (uring_scratch* owed = owed_head_; owed != nullptr;) {
        uring_scratch* const after = owed->next_owed;
        io_request* request = owed->owed;
        const bool aborted =
            has_bit(*request, uring_bit::prep_owed) && has_bit(*request, uring_bit::abort_on_retry);
        io_uring_sqe* sqe = nullptr;
        if (!aborted && room) {
            sqe = next_sqe();
            room = sqe != nullptr;
        }
        if (aborted ? produced == max : sqe == nullptr) { // the next reap() tries again
            before = owed;
            owed = after;
            continue;
        }
        (before != nullptr ? before->next_owed : owed_head_) = after;
        if (owed_tail_ == owed) owed_tail_ = before;
        owed->next_owed = nullptr;
        owed->owed = nullptr;
        if (aborted) {
            // cancel() came before the kernel ever saw the request: nothing moved.
            out[produced++] = io_completion{request, WSA_OPERATION_ABORTED, 0, false};
            settle(*request);
        } else if (has_bit(*request, uring_bit::prep_owed)) {
            request->backend_bits &= static_cast<std::uint8_t>(~uring_bit::prep_owed);
            prep_and_inject(sqe, *request);
        } else {
            request->backend_bits &= static_cast<std::uint8_t>(~uring_bit::cancel_owed);
            io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(request), 0);
            sqe->user_data = uring_tag_cancel;
        }
        owed = after;
    }
    return produced;
}

namespace {

// Ask the kernel for at most `most` bytes. A multi-buffer request becomes the single-buffer
// form over its first buffer, so the op's array (reused by a re-arm) is untouched.
void trim(io_uring_sqe* sqe, std::uint32_t most) noexcept {
    const auto op = sqe->opcode;
    const bool vector = op == IORING_OP_READV || op == uring_op_readv_fixed;
    if (op != IORING_OP_RECVMSG && op != IORING_OP_SENDMSG && !vector) {
        sqe->len = std::min<std::uint32_t>(sqe->len, most); // RECV, SEND, READ_FIXED
        return;
    }
    const iovec* first =
        vector ? reinterpret_cast<const iovec*>(static_cast<std::uintptr_t>(sqe->addr))
               : reinterpret_cast<const msghdr*>(static_cast<std::uintptr_t>(sqe->addr))->msg_iov;
    const auto len = static_cast<unsigned>(std::min<std::size_t>(first->iov_len, most));
    const int fd = sqe->fd;
    const auto sqe_flags = sqe->flags;
    const unsigned flags = sqe->msg_flags;
    const auto ioprio = sqe->ioprio;
    const auto index = sqe->buf_index;
    const auto data = sqe->user_data;
    if (op == IORING_OP_RECVMSG || op == IORING_OP_READV) // READV's flags field is 0
        io_uring_prep_recv(sqe, fd, first->iov_base, len, static_cast<int>(flags));
    else if (op == IORING_OP_SENDMSG)
        io_uring_prep_send(sqe, fd, first->iov_base, len, static_cast<int>(flags));
    else
        io_uring_prep_read_fixed(sqe, fd, first->iov_base, len, 0, index);
    sqe->flags = sqe_flags;
    sqe->ioprio = ioprio;
    sqe->user_data = data;
}

} // namespace

void uring_backend::inject(io_uring_sqe* sqe, const io_request& request) noexcept {
    uring_fault_plan& plan = *faults_;
    if (plan.failed_transfers > 0 && plan.fail_errno > 0) {
        --plan.failed_transfers;
        ++plan.injected.failed_transfers;
        const auto data = sqe->user_data;
        io_uring_prep_nop(sqe); // a real trip through the ring that never touches the socket
        sqe->user_data = data;
        scratch_of(request).injected_res = -plan.fail_errno;
    } else if (plan.short_transfers > 0 && plan.short_bytes > 0) {
        --plan.short_transfers;
        ++plan.injected.short_transfers;
        trim(sqe, plan.short_bytes);
    }
}

bool uring_backend::inject_direct(int& error, std::uint32_t& most) noexcept {
    uring_fault_plan& plan = *faults_;
    // EINTR is left for the ring: recv(2) here retries it itself, so it would change nothing.
    if (plan.failed_transfers > 0 && plan.fail_errno > 0 && plan.fail_errno != EINTR) {
        --plan.failed_transfers;
        ++plan.injected.failed_transfers;
        error = plan.fail_errno;
        return true;
    }
    if (plan.short_transfers > 0 && plan.short_bytes > 0) {
        --plan.short_transfers;
        ++plan.injected.short_transfers;
        most = plan.short_bytes;
    }
    return false;
}

bool uring_backend::hold(const io_uring_cqe& cqe) noexcept {
    if (!faults_->hold_recv_until_cancel || held_.user_data != 0 || cqe.res <= 0) return false;
    const auto* request = reinterpret_cast<const io_request*>(cqe.user_data);
    if (request->kind != io_kind::recv || scratch_of(*request).injected_res != 0) return false;
    faults_->hold_recv_until_cancel = false;
    ++faults_->injected.held_recv;
    held_ = cqe;
    return true;
}

} // namespace sanport::detail
