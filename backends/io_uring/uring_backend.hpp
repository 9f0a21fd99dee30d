// SPDX-License-Identifier: MIT
// The io_uring backend: one ring per engine, driven from the engine thread only.
//
// Invariants: user_data of a request SQE is its io_request pointer (8-aligned, low bits 0);
// internal SQEs (cancel, wake) carry a low-bit tag and are never reported. Per-socket scratch
// lives in uring_socket, one part per direction, so nothing is allocated per request.
#pragma once

#include "backends/io_uring/uring_faults.hpp"
#include "core/backend.hpp"

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <sys/uio.h>

namespace sanport::detail {

// IORING_OP_READV_FIXED (kernel 6.15) is newer than liburing 2.3's headers; value checked
// against include/uapi/linux/io_uring.h, where it follows IORING_OP_EPOLL_WAIT (59).
inline constexpr std::uint8_t uring_op_readv_fixed = 60;

// One direction's request bookkeeping. Stable from start() until the request is reported.
struct uring_scratch {
    io_request* active = nullptr; // started, not yet reported
    // The msghdr of the RECVMSG/SENDMSG rows (uring_recv.cpp), made by the first request that
    // takes one and kept: single-buffer sockets (the common server) and plain multi-buffer
    // receives (READV over the op's own array) never pay its 64 bytes.
    std::unique_ptr<msghdr> msg;
    uring_scratch* next_owed = nullptr;
    int injected_res = 0; // fault seam: the NOP standing in for the request completes with this
    bool abort_on_retry = false; // cancel() came: a -EAGAIN/-EINTR result is final
    bool poll_first = false;     // -EAGAIN came: the retry waits for readiness first
    // No SQE was free (uring_backlog.cpp): the next reap() prepares the request, or its cancel.
    // Never both (cancel() of an owed request needs no SQE); either one means "linked".
    bool prep_owed = false;
    bool cancel_owed = false;
};
// Field order packs it: two of these and the fd make uring_socket 72 bytes (an 80-byte chunk).
static_assert(sizeof(uring_scratch) == 32);

// What attach() makes; handed back as io_request::backend_socket.
struct uring_socket {
    int fd = -1;
    // The last receive said more bytes were queued (IORING_CQE_F_SOCK_NONEMPTY, or a direct
    // receive that filled every buffer): the next one is tried at once (try_recv_now).
    bool recv_ready = false;
    uring_scratch recv;
    uring_scratch send;
};

// The direction a request belongs to.
inline uring_scratch& scratch_of(const io_request& request) noexcept {
    auto* socket = static_cast<uring_socket*>(request.backend_socket);
    return on_send_side(request.kind) ? socket->send : socket->recv;
}

// The request has been reported: the direction is free for the next one.
inline void settle(uring_scratch& scratch) noexcept {
    scratch.active = nullptr;
    scratch.abort_on_retry = false;
    scratch.poll_first = false;
    scratch.prep_owed = false; // finish() has unlinked an owed cancel it no longer needs
    scratch.cancel_owed = false;
}

class uring_backend final : public backend {
public:
    // Creates the ring (disabled until bind_thread when the kernel allows it). On failure
    // setup_error() is non-zero and the object must not be used as a backend.
    explicit uring_backend(unsigned queue_depth) noexcept;
    // Tests only (uring_faults.hpp), before the engine runs; the plan outlives the backend.
    void set_fault_plan(uring_fault_plan* plan) noexcept { faults_ = plan; }
    ~uring_backend() override;
    uring_backend(const uring_backend&) = delete;
    uring_backend& operator=(const uring_backend&) = delete;

    // 0, or the errno of the step that failed (ENOSYS also for a missing required opcode).
    int setup_error() const noexcept { return setup_error_; }
    const char* setup_step() const noexcept { return setup_step_; }
    unsigned setup_flags() const noexcept { return setup_flags_; } // IORING_SETUP_* obtained
    bool readv_fixed_supported() const noexcept { return has_readv_fixed_; }
    // "SINGLE_ISSUER|DEFER_TASKRUN|R_DISABLED; READ_FIXED; READV_FIXED", for logs and benches.
    std::string describe() const;

    const char* name() const noexcept override { return "io_uring"; }
    int bind_thread() noexcept override;
    int attach(SOCKET s, void*& backend_socket) noexcept override;
    void detach(SOCKET s, void* backend_socket) noexcept override;
    bool start(io_request& request, io_completion& done) noexcept override;
    void cancel(SOCKET s, void* backend_socket) noexcept override;
    void cancel_request(io_request& request) noexcept override;
    std::size_t max_regions() const noexcept override;
    bool add_region(std::int32_t slot, void* base, std::size_t length) noexcept override;
    void remove_region(std::int32_t slot) noexcept override;
    std::size_t reap(io_completion* out, std::size_t max, int timeout_ms) noexcept override;
    void wake() noexcept override;
    int signal_completions(int fd) noexcept override;
    bool submit() noexcept override;
    // engine.orphan: the ring is closed first (the kernel cancels and waits for every request),
    // then the sockets' state is freed by this.
    socket_freer freer() const noexcept override {
        return [](void* p) noexcept { delete static_cast<uring_socket*>(p); };
    }

private:
    // uring_setup.cpp
    int create_ring(unsigned entries, std::size_t first_rung) noexcept;
    void probe_opcodes() noexcept;

    // uring_recv.cpp: the SQE decision table.
    // false: the msghdr the request's row needs could not be allocated.
    static bool make_msghdr(const io_request& request, uring_scratch& scratch) noexcept;
    void prep_request(io_uring_sqe* sqe, io_request& request, uring_scratch& scratch,
                      int fd) const noexcept;
    static void prep_setup(io_uring_sqe* sqe, io_request& request, int fd) noexcept;

    // uring_backlog.cpp: SQEs that waited for room, and the fault seam.
    io_uring_sqe* get_sqe() noexcept; // io_uring_get_sqe, unless a fault says the SQ is full
    void owe(uring_scratch& scratch, bool cancel) noexcept;
    void forget_owed(uring_scratch& scratch) noexcept;    // finish(): unlink an unneeded cancel
    void cancel_scratch(uring_scratch& scratch) noexcept; // uring_cancel.cpp
    std::size_t pay_backlog(io_completion* out, std::size_t max) noexcept;
    void inject(io_uring_sqe* sqe, uring_scratch& scratch) noexcept;
    // try_recv_now's share: true with an errno to answer (never EINTR); or `most` bytes for a
    // short one.
    bool inject_direct(int& error, std::uint32_t& most) noexcept;
    bool hold(const io_uring_cqe& cqe) noexcept;

    // uring_backend.cpp
    io_uring_sqe* next_sqe() noexcept; // submits to make room when the SQ is full
    void prep_and_inject(io_uring_sqe* sqe, io_request& request, uring_scratch& scratch,
                         int fd) noexcept;
    static bool filled(const io_request& request, std::uint32_t bytes) noexcept;
    bool try_recv_now(io_request& request, uring_socket& socket, io_completion& done) noexcept;
    void arm_wake() noexcept;
    std::size_t harvest(io_completion* out, std::size_t max, bool& woke) noexcept;
    bool finish(const io_uring_cqe& cqe, io_completion& out) noexcept;

    io_uring ring_{};
    bool ring_live_ = false; // io_uring_queue_init_params succeeded
    unsigned setup_flags_ = 0;
    int setup_error_ = 0;
    const char* setup_step_ = "";
    bool has_read_fixed_ = false;
    bool has_readv_fixed_ = false;
    bool table_registered_ = false; // the sparse buffer table exists
    bool bound_ = false;            // bind_thread ran: the ring is enabled and in use
    unsigned entries_ = 0;          // what the ring was made with (signal_completions)
    bool table_refused_ = false;    // the kernel refused it: no fixed buffers at all
    int wake_fd_ = -1;              // eventfd; blocking, so io_uring polls it
    bool wake_armed_ = false;
    std::uint64_t wake_value_ = 0;       // the armed READ's destination
    uring_scratch* owed_head_ = nullptr; // the backlog, in the order room was missing
    uring_scratch* owed_tail_ = nullptr;
    uring_fault_plan* faults_ = nullptr;
    io_uring_cqe held_{}; // hold_recv_until_cancel: the CQE kept back (user_data 0: none)
};

} // namespace sanport::detail
