// SPDX-License-Identifier: MIT
// The SQE decision table: which io_uring operation carries one io_request.
//
//   kind        condition (first match wins)                   operation
//   recv        flags 0, fixed_slot >= 0, 1 buffer,             READ_FIXED (addr, len,
//               READ_FIXED probed                               buf_index = slot)
//   recv        flags 0, fixed_slot >= 0, >1 buffers,           READV_FIXED (addr = iovec array,
//               READV_FIXED probed                              len = count, buf_index = slot)
//   recv        1 buffer                                        RECV, msg_flags MSG_PEEK or 0
//   recv        flags 0, no -EAGAIN seen                        READV (addr = the op's array)
//   recv        otherwise                                       RECVMSG (msghdr over it)
//   recv_probe  always                                          RECV of 1 byte, MSG_PEEK
//   send        1 buffer                                        SEND, MSG_NOSIGNAL
//   send        otherwise                                       SENDMSG, MSG_NOSIGNAL
//   accept      always                                          ACCEPT, SOCK_CLOEXEC; the
//                                                               result is the new descriptor
//   connect     always                                          CONNECT to the copied address
//
// Why: READ_FIXED/READV_FIXED/READV go through sock_read_iter and take no MSG_* flags, so a
// peek never takes them. Every vectored row hands the kernel the op's own buffer array
// (kernel_buffer is laid out as iovec): nothing is copied per request, and only RECVMSG and
// SENDMSG need a msghdr, which the direction allocates the first time and keeps. MSG_WAITALL never
// reaches the kernel: the core re-arms the head request until it is full, so READ_FIXED (which has
// no MSG_WAITALL) and RECV behave alike. After a -EAGAIN (an O_NONBLOCK socket makes READ_FIXED
// fail that way instead of polling) the retry takes the RECV/RECVMSG/SEND/SENDMSG row with
// IORING_RECVSEND_POLL_FIRST, so it waits for readiness in the kernel instead of spinning.

#include "backends/io_uring/uring_backend.hpp"

#include <cstddef>
#include <new>

namespace sanport::detail {

static_assert(sizeof(kernel_buffer) == sizeof(iovec) &&
                  offsetof(kernel_buffer, buf) == offsetof(iovec, iov_base) &&
                  offsetof(kernel_buffer, len) == offsetof(iovec, iov_len),
              "kernel_buffer is laid out as struct iovec");

namespace {

iovec* iovecs_of(const io_request& request) noexcept {
    return const_cast<iovec*>(reinterpret_cast<const iovec*>(request.buffers));
}

// The RECVMSG and SENDMSG rows: the only ones that read a msghdr.
bool takes_msghdr(const io_request& request) noexcept {
    if (request.count <= 1) return false;
    if (request.kind == io_kind::send) return true;
    return (request.flags & MSG_PEEK) != 0 || has_bit(request, uring_bit::poll_first);
}

} // namespace

bool uring_backend::make_msghdr(const io_request& request) noexcept {
    if (!takes_msghdr(request)) return true;
    uring_scratch& scratch = scratch_of(request);
    if (scratch.msg) return true;
    scratch.msg.reset(new (std::nothrow) msghdr{});
    return scratch.msg != nullptr;
}

// The accept and connect rows; their requests name a target, no buffers (count 0).
void uring_backend::prep_setup(io_uring_sqe* sqe, io_request& request, int fd) noexcept {
    if (request.kind == io_kind::accept) {
        // No address: the core asks getsockname/getpeername once the socket took its number.
        // No ioprio flag: IORING_RECVSEND_POLL_FIRST's bit means multishot for an accept.
        io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
        const connect_target& t = *request.connect;
        io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(t.address),
                              static_cast<socklen_t>(t.length));
    }
    io_uring_sqe_set_data(sqe, &request);
}

void uring_backend::prep_request(io_uring_sqe* sqe, io_request& request) const noexcept {
    const int fd = fd_of(request);
    if (request.count == 0) [[unlikely]] // accept, connect: one test on a line already loaded
        return prep_setup(sqe, request, fd);
    const kernel_buffer& first = request.buffers[0];
    const bool single = request.count == 1;
    const bool poll_first = has_bit(request, uring_bit::poll_first);
    bool kernel_flags_ok = true; // RECV/RECVMSG/SEND/SENDMSG take IORING_RECVSEND_POLL_FIRST

    // RECVMSG/SENDMSG rows only: make_msghdr made the direction's msghdr for them.
    auto fill_msghdr = [&request]() -> msghdr* {
        msghdr& msg = *scratch_of(request).msg;
        msg = msghdr{};
        msg.msg_iov = iovecs_of(request);
        msg.msg_iovlen = request.count;
        return &msg;
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
        const bool fixed = flags == 0 && request.fixed_slot >= 0 && !poll_first;
        const auto slot = static_cast<int>(request.fixed_slot);
        if (fixed && single && has_read_fixed_) {
            io_uring_prep_read_fixed(sqe, fd, first.buf, first.len, 0, slot);
            kernel_flags_ok = false;
        } else if (fixed && !single && has_readv_fixed_) {
            io_uring_prep_rw(uring_op_readv_fixed, sqe, fd, iovecs_of(request), request.count, 0);
            sqe->buf_index = static_cast<__u16>(slot);
            kernel_flags_ok = false;
        } else if (single) {
            io_uring_prep_recv(sqe, fd, first.buf, first.len, flags);
        } else if (!takes_msghdr(request)) {
            io_uring_prep_readv(sqe, fd, iovecs_of(request), request.count, 0);
            kernel_flags_ok = false;
        } else {
            io_uring_prep_recvmsg(sqe, fd, fill_msghdr(), static_cast<unsigned>(flags));
        }
        break;
    }
    case io_kind::accept: // prepared above
    case io_kind::connect:
        break;
    }
    if (poll_first && kernel_flags_ok) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data(sqe, &request);
}

} // namespace sanport::detail
