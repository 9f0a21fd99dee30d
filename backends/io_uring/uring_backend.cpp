// SPDX-License-Identifier: MIT
// The io_uring backend's request path: attach, start, reap, wake.
//
// Invariant: start() prepares SQEs (no syscall), except for a receive the kernel said has bytes
// waiting (try_recv_now); reap() submits everything prepared, then waits. Every request start()
// accepted comes back from reap() exactly once; -EAGAIN and -EINTR results are re-armed here and
// never reported, except after cancel() (then aborted).

#include "backends/io_uring/uring_backend.hpp"

#include "backends/io_uring/uring_tags.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <new>
#include <sys/socket.h>
#include <unistd.h>

namespace sanport::detail {

int uring_backend::attach(SOCKET, void*& backend_socket) noexcept {
    auto* socket = new (std::nothrow) uring_socket;
    if (socket == nullptr) return WSAENOBUFS;
    backend_socket = socket;
    return 0;
}

void uring_backend::detach(SOCKET, void* backend_socket) noexcept {
    // Any thread: nothing of this socket is started, so nothing of it is in the backlog
    // (finish() unlinks on the engine thread before it reports).
    delete static_cast<uring_socket*>(backend_socket);
}

io_uring_sqe* uring_backend::next_sqe() noexcept {
    io_uring_sqe* sqe = get_sqe();
    if (sqe != nullptr) return sqe;
    io_uring_submit(&ring_); // the SQ is full: hand it to the kernel to make room
    return get_sqe();
}

void uring_backend::prep_and_inject(io_uring_sqe* sqe, io_request& request) noexcept {
    prep_request(sqe, request);
    // The fault seam stands in for transfers: an injected count would read as a descriptor,
    // or as a connect that succeeded.
    if (faults_ != nullptr && !is_connection_setup(request.kind)) [[unlikely]]
        inject(sqe, request);
}

// Kept small on purpose: everything but the two commonest rows is in start_in_full, so this
// saves no registers and sets up no frame (the direct receive's msghdr made one of 88 bytes).
bool uring_backend::start(io_request& request, io_completion& done) noexcept {
    const std::uint8_t ready = request.backend_bits & uring_bit::recv_ready;
    // The common request: one buffer, no direct receive to try, no fault seam, room in the SQ,
    // and the decision table's two commonest rows (uring_recv.cpp) without its switch: a plain
    // SEND, and a RECV outside registered memory (no poll-first at a start).
    const bool plain_send = request.kind == io_kind::send;
    const bool plain_recv = request.kind == io_kind::recv && ready == 0 && request.fixed_slot < 0;
    if (request.count == 1 && faults_ == nullptr && (plain_send || plain_recv)) [[likely]] {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_); sqe != nullptr) [[likely]] {
            request.backend_bits = ready | uring_bit::started;
            const kernel_buffer& b = request.buffers[0];
            if (plain_send)
                io_uring_prep_send(sqe, fd_of(request), b.buf, b.len, MSG_NOSIGNAL);
            else
                io_uring_prep_recv(sqe, fd_of(request), b.buf, b.len, request.flags & MSG_PEEK);
            io_uring_sqe_set_data(sqe, &request);
            return false;
        }
    }
    return start_in_full(request, done);
}

bool uring_backend::start_in_full(io_request& request, io_completion& done) noexcept {
    const std::uint8_t ready = request.backend_bits & uring_bit::recv_ready;
    int wsa = 0;
    if (is_malformed(request))
        wsa = WSAEINVAL; // the core never does this; refuse rather than hand it to the kernel
    else if (!make_msghdr(request))
        wsa = WSAENOBUFS;
    else if (ready != 0 && request.kind == io_kind::recv && try_recv_now(request, done))
        return true;
    if (wsa != 0) {
        done = io_completion{&request, wsa, 0, false};
        return true;
    }
    request.backend_bits = (request.backend_bits & uring_bit::recv_ready) | uring_bit::started;
    if (io_uring_sqe* sqe = next_sqe(); sqe != nullptr)
        prep_and_inject(sqe, request);
    else
        owe(request, false); // even a submit made no room: the next reap() prepares it
    return false;
}

bool uring_backend::filled(const io_request& request, std::uint32_t bytes) noexcept {
    std::uint64_t capacity = 0;
    for (std::uint32_t i = 0; i < request.count; ++i)
        capacity += request.buffers[i].len;
    return bytes != 0 && bytes == capacity;
}

// A receive with bytes known to be queued completes here, with one recv/recvmsg instead of an SQE,
// an enter and a CQE (257-367 ns against 402-517 ns: docs/design.md, "Facts the design rests on").
// Only on the kernel's hint: a speculative receive that finds nothing costs 170 ns. The core
// keeps one receive per socket in flight, so this cannot overtake a ring receive.
bool uring_backend::try_recv_now(io_request& request, io_completion& done) noexcept {
    request.backend_bits &= static_cast<std::uint8_t>(~uring_bit::recv_ready);
    const int flags = MSG_DONTWAIT | static_cast<int>(request.flags & MSG_PEEK);
    msghdr msg{};
    if (request.count > 1) { // the op's own array: kernel_buffer is laid out as iovec
        msg.msg_iov = const_cast<iovec*>(reinterpret_cast<const iovec*>(request.buffers));
        msg.msg_iovlen = request.count;
    }
    std::size_t first_len = request.buffers[0].len;
    bool single = request.count == 1;
    if (faults_ != nullptr) [[unlikely]] {
        int error = 0;
        std::uint32_t most = 0; // a short transfer: at most this, from buffer 0
        if (inject_direct(error, most)) {
            if (error == EAGAIN) return false;
            done = io_completion{&request, wsa_from_transfer_errno(error), 0, false};
            return true;
        }
        if (most != 0) {
            first_len = std::min<std::size_t>(first_len, most);
            single = true;
        }
    }
    ssize_t n = -1;
    do { // recv(2) for one buffer: ~100 ns cheaper than recvmsg (docs/design.md)
        n = single ? ::recv(fd_of(request), request.buffers[0].buf, first_len, flags)
                   : ::recvmsg(fd_of(request), &msg, flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false; // the ring waits
    if (n < 0) {
        done = io_completion{&request, wsa_from_transfer_errno(errno), 0, false};
        return true;
    }
    // A full buffer suggests more is queued; a short one that the socket is drained.
    const bool more = filled(request, static_cast<std::uint32_t>(n));
    if (more) request.backend_bits |= uring_bit::recv_ready;
    done = io_completion{&request, 0, static_cast<std::uint32_t>(n), more};
    return true;
}

void uring_backend::arm_wake() noexcept {
    io_uring_sqe* sqe = next_sqe();
    if (sqe == nullptr) return; // tried again by the next reap()
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    sqe->user_data = uring_tag_wake;
    wake_armed_ = true;
}

void uring_backend::wake() noexcept {
    const std::uint64_t one = 1;
    // Adds to the eventfd counter; the armed READ completes and ends a waiting reap().
    while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

// One request CQE. false: it was re-armed (nothing to report yet).
#if defined(__GNUC__)
[[gnu::always_inline]]
#endif
inline bool
uring_backend::finish_inline(const io_uring_cqe& cqe, io_completion& out) noexcept {
    auto* request = reinterpret_cast<io_request*>(static_cast<std::uintptr_t>(cqe.user_data));
    int res = cqe.res;
    if (faults_ != nullptr) [[unlikely]] {
        uring_scratch& scratch = scratch_of(*request);
        if (scratch.injected_res != 0) { // the fault seam's NOP stood in for it
            res = scratch.injected_res;
            scratch.injected_res = 0;
        }
    }
    bool retry = res == -EAGAIN || res == -EINTR;

    if (retry && !has_bit(*request, uring_bit::abort_on_retry)) {
        if (res == -EAGAIN) request->backend_bits |= uring_bit::poll_first;
        // A READV's retry polls first, which takes the RECVMSG row and its msghdr.
        if (make_msghdr(*request)) [[likely]] {
            if (io_uring_sqe* sqe = next_sqe(); sqe != nullptr)
                prep_and_inject(sqe, *request);
            else
                owe(*request, false);
            return false;
        }
        res = -ENOBUFS; // nothing moved; the request ends with WSAENOBUFS
        retry = false;
    }
    out.request = request;
    out.bytes = 0;
    out.more_data = false;
    if (res >= 0) {
        out.wsa = 0;
        out.bytes = static_cast<std::uint32_t>(res);
        if (request->kind == io_kind::recv) {
            out.more_data = (cqe.flags & IORING_CQE_F_SOCK_NONEMPTY) != 0;
            // READ_FIXED/READV(_FIXED) carry no SOCK_NONEMPTY flag: a full buffer is the hint.
            const bool ready = out.more_data || filled(*request, out.bytes);
            request->backend_bits =
                static_cast<std::uint8_t>((request->backend_bits & ~uring_bit::recv_ready) |
                                          (ready ? uring_bit::recv_ready : 0));
        }
    } else if (res == -ECANCELED || retry) { // retry here: after cancel()
        out.wsa = WSA_OPERATION_ABORTED;
    } else {
        out.wsa = is_connection_setup(request->kind) ? wsa_from_errno(-res)
                                                     : wsa_from_transfer_errno(-res);
    }
    if (has_bit(*request, uring_bit::cancel_owed)) [[unlikely]]
        forget_owed(*request); // an owed cancel it no longer needs
    settle(*request);
    return true;
}

bool uring_backend::finish(const io_uring_cqe& cqe, io_completion& out) noexcept {
    return finish_inline(cqe, out);
}

std::size_t uring_backend::harvest(io_completion* out, std::size_t max, bool& woke) noexcept {
    std::size_t produced = 0;
    unsigned seen = 0;
    unsigned head = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        if (produced == max) break;
        ++seen;
        const std::uint64_t data = cqe->user_data;
        if ((data & uring_tag_mask) != 0) {
            // Internal: a cancel's verdict, the wake READ, liburing's own timeout. Consumed.
            if (data == uring_tag_wake) {
                woke = true;
                wake_armed_ = false;
            }
            continue;
        }
        if (faults_ != nullptr && hold(*cqe)) [[unlikely]]
            continue;
        if (finish_inline(*cqe, out[produced])) ++produced;
    }
    io_uring_cq_advance(&ring_, seen);
    if (!wake_armed_) arm_wake(); // submitted by the next reap(), before it waits
    return produced;
}

std::size_t uring_backend::reap(io_completion* out, std::size_t max, int timeout_ms) noexcept {
    using clock = std::chrono::steady_clock;
    if (max == 0) return 0; // nothing could be handed out: never spin on a full CQ
    if (!wake_armed_) arm_wake();
    // The clock is read only for a bounded wait; polls and unbounded waits never need it.
    const clock::time_point deadline =
        timeout_ms > 0 ? clock::now() + std::chrono::milliseconds(timeout_ms) : clock::time_point{};
    for (;;) {
        // What waited for room in the SQ (or, under the fault seam, for a cancel) goes first.
        std::size_t produced = 0;
        if (owed_head_ != nullptr || held_.user_data != 0) [[unlikely]]
            produced = pay_backlog(out, max);
        // Without DEFER_TASKRUN completions are posted for us; with it (or with work pending,
        // or something to submit) only entering the kernel runs the task work.
        const unsigned kernel_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
        const bool work_pending = (kernel_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
        const bool must_enter = (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0 ||
                                io_uring_sq_ready(&ring_) > 0 || work_pending;
        // Something still owed, or no wake READ armed (no room for it): enter without
        // waiting, so room made by the kernel is used now and wake() is never lost.
        const bool no_wait = timeout_ms == 0 || produced > 0 || owed_head_ != nullptr ||
                             !wake_armed_ || io_uring_cq_ready(&ring_) > 0;
        if (faults_ != nullptr) [[unlikely]] {
            if ((kernel_flags & IORING_SQ_CQ_OVERFLOW) != 0) ++faults_->observed.cq_overflow;
        }
        int result = 0;
        io_uring_cqe* first = nullptr;
        if (faults_ != nullptr && faults_->enter_eintr > 0 && (must_enter || !no_wait)) {
            --faults_->enter_eintr;
            ++faults_->injected.enter_eintr;
            result = -EINTR; // as if a signal had interrupted the call before it did anything
        } else if (no_wait) {
            if (must_enter) result = io_uring_submit_and_get_events(&ring_);
        } else if (timeout_ms < 0) {
            result = io_uring_submit_and_wait_timeout(&ring_, &first, 1, nullptr, nullptr);
            if (result == -EINTR && faults_ != nullptr) ++faults_->observed.enter_eintr;
        } else {
            const auto left =
                std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now());
            if (left.count() <= 0) {
                bool woke = false;
                return produced + harvest(out + produced, max - produced, woke);
            }
            __kernel_timespec ts{};
            ts.tv_sec = left.count() / 1000000000;
            ts.tv_nsec = left.count() % 1000000000;
            result = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
            if (result == -EINTR && faults_ != nullptr) ++faults_->observed.enter_eintr;
        }
        if (faults_ != nullptr && faults_->stalled_reaps > 0) [[unlikely]] {
            --faults_->stalled_reaps; // the kernel posted; nobody takes from the CQ this time
            ++faults_->injected.stalled_reaps;
            return produced;
        }
        bool woke = false;
        produced += harvest(out + produced, max - produced, woke);
        // -ETIME, -EINTR (and any other refusal): zero completions is the answer. Only
        // internal CQEs (a cancel's verdict, a re-armed retry) are no answer for a waiting
        // caller: wait on.
        if (produced > 0 || woke || timeout_ms == 0 || result < 0) return produced;
        if (timeout_ms > 0 && clock::now() >= deadline) return 0;
    }
}

} // namespace sanport::detail
