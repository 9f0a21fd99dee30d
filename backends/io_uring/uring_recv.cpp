// SPDX-License-Identifier: MIT
// The SQE decision table: which io_uring operation carries one io_request.
//
//   kind        condition (first match wins)                   operation
//   recv        flags 0, fixed_slot >= 0, 1 buffer,             READ_FIXED (addr, len,
//               READ_FIXED probed                               buf_index = slot)
//   recv        flags 0, fixed_slot >= 0, >1 buffers,           READV_FIXED (addr = iovec array,
//               READV_FIXED probed                              len = count, buf_index = slot)
//   recv        1 buffer                                        RECV, msg_flags MSG_PEEK or 0
//   recv        otherwise                                       RECVMSG (msghdr over iovecs)
//   recv_probe  always                                          RECV of 1 byte, MSG_PEEK
//   send        1 buffer                                        SEND, MSG_NOSIGNAL
//   send        otherwise                                       SENDMSG, MSG_NOSIGNAL
//
// Why: READ_FIXED/READV_FIXED go through sock_read_iter and take no MSG_* flags, so a peek
// never takes them. MSG_WAITALL never reaches the kernel: the core re-arms the head request
// until it is full, so READ_FIXED (which has no MSG_WAITALL) and RECV behave alike.
// After a -EAGAIN (an O_NONBLOCK socket makes READ_FIXED fail that way instead of polling)
// the retry takes the RECV/RECVMSG/SEND/SENDMSG row with IORING_RECVSEND_POLL_FIRST, so it
// waits for readiness in the kernel instead of spinning.

#include "backends/io_uring/uring_backend.hpp"

#include <new>

namespace sanport::detail {

bool uring_backend::load_iovecs(const io_request& request, uring_scratch& scratch) noexcept {
    const std::uint32_t count = request.count;
    if (count <= 1) return true; // single-buffer rows pass addr/len directly
    if (!scratch.vectors) {
        scratch.vectors.reset(new (std::nothrow) uring_vectors);
        if (!scratch.vectors) return false;
    }
    uring_vectors& v = *scratch.vectors;
    if (count > v.capacity) {
        // Grows once per socket and direction to the largest array seen, never per request.
        std::uint32_t capacity = v.capacity;
        while (capacity < count)
            capacity *= 2;
        if (capacity > max_request_buffers) capacity = max_request_buffers;
        if (count > capacity) return false;
        iovec* grown = new (std::nothrow) iovec[capacity];
        if (grown == nullptr) return false;
        if (v.iov != v.inline_iov) delete[] v.iov;
        v.iov = grown;
        v.capacity = capacity;
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        v.iov[i].iov_base = request.buffers[i].buf;
        v.iov[i].iov_len = request.buffers[i].len;
    }
    return true;
}

void uring_backend::prep_request(io_uring_sqe* sqe, io_request& request, uring_scratch& scratch,
                                 int fd) const noexcept {
    const WSABUF& first = request.buffers[0];
    const bool single = request.count == 1;
    bool kernel_flags_ok = true; // RECV/RECVMSG/SEND/SENDMSG take IORING_RECVSEND_POLL_FIRST

    // Multi-buffer rows only: load_iovecs made scratch.vectors for them.
    auto fill_msghdr = [&scratch, &request]() -> msghdr* {
        uring_vectors& v = *scratch.vectors;
        v.msg = msghdr{};
        v.msg.msg_iov = v.iov;
        v.msg.msg_iovlen = request.count;
        return &v.msg;
    };

    switch (request.kind) {
    case io_kind::recv_probe:
        io_uring_prep_recv(sqe, fd, first.buf, 1, MSG_PEEK);
        break;
    case io_kind::send:
        if (single) {
            io_uring_prep_send(sqe, fd, first.buf, first.len, MSG_NOSIGNAL);
        } else {
            io_uring_prep_sendmsg(sqe, fd, fill_msghdr(), MSG_NOSIGNAL);
        }
        break;
    case io_kind::recv: {
        const int flags = static_cast<int>(request.flags & MSG_PEEK);
        const bool fixed = flags == 0 && request.fixed_slot >= 0 && !scratch.poll_first;
        const auto slot = static_cast<int>(request.fixed_slot);
        if (fixed && single && has_read_fixed_) {
            io_uring_prep_read_fixed(sqe, fd, first.buf, first.len, 0, slot);
            kernel_flags_ok = false;
        } else if (fixed && !single && has_readv_fixed_) {
            io_uring_prep_rw(uring_op_readv_fixed, sqe, fd, scratch.vectors->iov, request.count, 0);
            sqe->buf_index = static_cast<__u16>(slot);
            kernel_flags_ok = false;
        } else if (single) {
            io_uring_prep_recv(sqe, fd, first.buf, first.len, flags);
        } else {
            io_uring_prep_recvmsg(sqe, fd, fill_msghdr(), static_cast<unsigned>(flags));
        }
        break;
    }
    }
    if (scratch.poll_first && kernel_flags_ok) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data(sqe, &request);
}

} // namespace sanport::detail
