// SPDX-License-Identifier: MIT
// The io_uring backend: one ring per engine, driven from the engine thread only.
//
// Invariants: user_data of a request SQE is its io_request pointer (8-aligned, low bits 0);
// internal SQEs (cancel, wake) carry a low-bit tag and are never reported. A request's state
// lives in its backend_bits; what only slow paths need lives in uring_socket, one part per
// direction, so nothing is allocated per request.
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

// The backend's state for one request, in io_request::backend_bits: the core keeps one request
// per socket per direction and touches its line for every start and completion anyway, so the
// hot path reads nothing of uring_socket.
namespace uring_bit {
inline constexpr std::uint8_t started = 1;        // in the kernel or owed, not reported yet
inline constexpr std::uint8_t abort_on_retry = 2; // cancel() came: -EAGAIN/-EINTR is final
inline constexpr std::uint8_t poll_first = 4;     // -EAGAIN came: the retry polls first
// No SQE was free (uring_backlog.cpp): the next reap() prepares the request, or its cancel.
// Never both (cancel() of an owed request needs no SQE); either one means "linked".
inline constexpr std::uint8_t prep_owed = 8;
inline constexpr std::uint8_t cancel_owed = 16;
// Receive side: the last receive said more bytes were queued (IORING_CQE_F_SOCK_NONEMPTY, or
// a direct receive that filled every buffer): the next one is tried at once (try_recv_now).
inline constexpr std::uint8_t recv_ready = 32;
} // namespace uring_bit

inline bool has_bit(const io_request& request, std::uint8_t bit) noexcept {
    return (request.backend_bits & bit) != 0;
}

// One direction's rarely used bookkeeping; only the slow paths and the fault seam read it.
struct uring_scratch {
    // The msghdr of the RECVMSG/SENDMSG rows (uring_recv.cpp), made by the first request that
    // takes one and kept: single-buffer sockets (the common server) and plain multi-buffer
    // receives (READV over the op's own array) never pay its 64 bytes.
    std::unique_ptr<msghdr> msg;
    io_request* owed = nullptr; // the request a linked scratch owes an SQE for
    uring_scratch* next_owed = nullptr;
    int injected_res = 0; // fault seam: the NOP standing in for the request completes with this
};

// What attach() makes; handed back as io_request::backend_socket. The descriptor is the
// request's own `socket`.
struct uring_socket {
    uring_scratch recv;
    uring_scratch send;
};

// The direction a request belongs to.
inline uring_scratch& scratch_of(const io_request& request) noexcept {
    auto* socket = static_cast<uring_socket*>(request.backend_socket);
    return on_send_side(request.kind) ? socket->send : socket->recv;
}

inline int fd_of(const io_request& request) noexcept {
    return static_cast<int>(request.socket);
}

// The request has been reported: the direction is free for the next one. Only the receive
// side's hint outlives it.
inline void settle(io_request& request) noexcept {
    request.backend_bits &= uring_bit::recv_ready;
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
    void cancel(SOCKET s, void* backend_socket, io_request& recv,
                io_request& send) noexcept override;
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
    static bool make_msghdr(const io_request& request) noexcept;
    void prep_request(io_uring_sqe* sqe, io_request& request) const noexcept;
    static void prep_setup(io_uring_sqe* sqe, io_request& request, int fd) noexcept;

    // uring_backlog.cpp: SQEs that waited for room, and the fault seam.
    io_uring_sqe* get_sqe() noexcept; // io_uring_get_sqe, unless a fault says the SQ is full
    void owe(io_request& request, bool cancel) noexcept;
    void forget_owed(io_request& request) noexcept;    // finish(): unlink an unneeded cancel
    void cancel_started(io_request& request) noexcept; // uring_cancel.cpp
    std::size_t pay_backlog(io_completion* out, std::size_t max) noexcept;
    void inject(io_uring_sqe* sqe, const io_request& request) noexcept;
    // try_recv_now's share: true with an errno to answer (never EINTR); or `most` bytes for a
    // short one.
    bool inject_direct(int& error, std::uint32_t& most) noexcept;
    bool hold(const io_uring_cqe& cqe) noexcept;

    // uring_backend.cpp
    io_uring_sqe* next_sqe() noexcept; // submits to make room when the SQ is full
    void prep_and_inject(io_uring_sqe* sqe, io_request& request) noexcept;
    static bool filled(const io_request& request, std::uint32_t bytes) noexcept;
    bool try_recv_now(io_request& request, io_completion& done) noexcept;
    void arm_wake() noexcept;
    std::size_t harvest(io_completion* out, std::size_t max, bool& woke) noexcept;
    bool finish(const io_uring_cqe& cqe, io_completion& out) noexcept;
    // start()'s every other case: a direct receive, a multi-buffer or registered-memory row,
    // the fault seam, a full SQ (the backlog), a malformed request.
    [[gnu::noinline]] bool start_in_full(io_request& request, io_completion& done) noexcept;
    // finish()'s body, inlined into harvest(), its per-CQE caller (uring_backend.cpp only).
    bool finish_inline(const io_uring_cqe& cqe, io_completion& out) noexcept;

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
