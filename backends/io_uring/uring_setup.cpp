// SPDX-License-Identifier: MIT
// Ring creation, opcode probing and binding the ring to the engine thread.
//
// Invariant: a ring created with IORING_SETUP_R_DISABLED accepts no submission until
// bind_thread() enables it on the engine thread, so SINGLE_ISSUER/DEFER_TASKRUN bind to the
// thread that will reap, whichever thread built the engine.

#include "backends/io_uring/uring_backend.hpp"

#include <cerrno>
#include <sys/eventfd.h>
#include <unistd.h>

namespace sanport::detail {

namespace {

// Most capable first. Each rung drops what an older kernel rejects with -EINVAL:
// SINGLE_ISSUER/DEFER_TASKRUN are 6.1, COOP_TASKRUN/TASKRUN_FLAG 5.19, R_DISABLED 5.10.
constexpr unsigned setup_ladder[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
    IORING_SETUP_R_DISABLED,
    0,
};

// The kernel rejects more than IORING_MAX_ENTRIES with -EINVAL, which the ladder would
// misread as "flags not supported"; clamp here instead of relying on IORING_SETUP_CLAMP.
constexpr unsigned max_entries = 32768;
constexpr unsigned min_entries = 8;

} // namespace

uring_backend::uring_backend(unsigned queue_depth) noexcept {
    unsigned entries = queue_depth < min_entries ? min_entries : queue_depth;
    if (entries > max_entries) entries = max_entries;
    entries_ = entries;
    setup_error_ = create_ring(entries, 0);
    if (setup_error_ != 0) return;
    probe_opcodes();
    if (setup_error_ != 0) return;
    // Blocking on purpose: io_uring surfaces -EAGAIN for a READ on an O_NONBLOCK file
    // instead of polling it.
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        setup_error_ = errno;
        setup_step_ = "eventfd";
    }
}

uring_backend::~uring_backend() {
    if (ring_live_) io_uring_queue_exit(&ring_); // also drops the registered buffers
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

int uring_backend::create_ring(unsigned entries, std::size_t first_rung) noexcept {
    int result = -EINVAL;
    for (std::size_t rung = first_rung; rung < std::size(setup_ladder); ++rung) {
        const unsigned flags = setup_ladder[rung];
        io_uring_params params{};
        params.flags = flags;
        result = io_uring_queue_init_params(entries, &ring_, &params);
        if (result == 0) {
            ring_live_ = true;
            setup_flags_ = flags;
            return 0;
        }
        if (result != -EINVAL) break; // EPERM, ENOSYS, ENOMEM...: no flag set will help
    }
    setup_step_ = "io_uring_queue_init_params";
    return -result;
}

void uring_backend::probe_opcodes() noexcept {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) { // kernel older than 5.6: no IORING_REGISTER_PROBE
        setup_error_ = ENOSYS;
        setup_step_ = "io_uring_get_probe_ring";
        return;
    }
    struct required_op {
        int op;
        const char* step;
    };
    // READ arms the wake eventfd; the rest are the decision table's fallbacks and cancel.
    const required_op required[] = {
        {IORING_OP_RECV, "probe: IORING_OP_RECV"},
        {IORING_OP_RECVMSG, "probe: IORING_OP_RECVMSG"},
        {IORING_OP_SEND, "probe: IORING_OP_SEND"},
        {IORING_OP_SENDMSG, "probe: IORING_OP_SENDMSG"},
        {IORING_OP_READ, "probe: IORING_OP_READ"},
        {IORING_OP_ASYNC_CANCEL, "probe: IORING_OP_ASYNC_CANCEL"},
    };
    for (const required_op& r : required) {
        if (!io_uring_opcode_supported(probe, r.op)) {
            setup_error_ = ENOSYS;
            setup_step_ = r.step;
            break;
        }
    }
    has_read_fixed_ = io_uring_opcode_supported(probe, IORING_OP_READ_FIXED) != 0;
    has_readv_fixed_ = io_uring_opcode_supported(probe, uring_op_readv_fixed) != 0;
    io_uring_free_probe(probe);
}

int uring_backend::bind_thread() noexcept {
    if (setup_error_ != 0) return WSAENETDOWN;
    if ((setup_flags_ & IORING_SETUP_R_DISABLED) != 0) {
        // io_uring_enable_rings() is missing from liburing 2.3's shared-library symbol map
        // (fixed in 2.4), so issue the same register call directly.
        const int result = io_uring_register(static_cast<unsigned>(ring_.ring_fd),
                                             IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
        if (result < 0) return wsa_from_errno(-result);
    }
    arm_wake();
    bound_ = true;
    return 0;
}

bool uring_backend::submit() noexcept {
    if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
    // What is still in the SQ (a refused submit) or waits for room: the next reap's.
    return io_uring_sq_ready(&ring_) > 0 || owed_head_ != nullptr;
}

int uring_backend::signal_completions(int fd) noexcept {
    // With DEFER_TASKRUN the kernel raises a registered eventfd for the task work it queues
    // through an RCU callback, milliseconds late: a poll on the eventfd of a ring with a RECV
    // pending woke 16 ms after the data came, against 0.2 ms for a COOP_TASKRUN ring. A loop
    // waiting on the descriptor needs the notice at once, so a ring nothing used yet (not
    // enabled, no SQE, no buffer table) is made again from the next rung, without
    // DEFER_TASKRUN. A ring already in use keeps its flags and refuses.
    if ((setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0) {
        if (bound_ || table_registered_ || io_uring_sq_ready(&ring_) > 0) return WSAEINVAL;
        // The new ring first: if the kernel refuses it, the old one stays, working.
        const io_uring old = ring_;
        const unsigned old_flags = setup_flags_;
        if (const int err = create_ring(entries_, 1); err != 0) {
            ring_ = old;
            setup_flags_ = old_flags;
            setup_step_ = "";
            return wsa_from_errno(err);
        }
        io_uring copy = old;
        io_uring_queue_exit(&copy);
    }
    // The kernel raises it for each posted CQE (and, with COOP_TASKRUN, CQEs are posted as the
    // task work runs, which a wake-up of this thread's wait does). A ring bound to one issuer
    // accepts this only from that thread, or before it is enabled.
    const int result = io_uring_register_eventfd(&ring_, fd);
    return result == 0 ? 0 : wsa_from_errno(-result);
}

std::string uring_backend::describe() const {
    struct flag_name {
        unsigned flag;
        const char* name;
    };
    static constexpr flag_name names[] = {
        {IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"},
        {IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
        {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
        {IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG"},
        {IORING_SETUP_R_DISABLED, "R_DISABLED"},
    };
    std::string text;
    for (const flag_name& n : names) {
        if ((setup_flags_ & n.flag) == 0) continue;
        if (!text.empty()) text += '|';
        text += n.name;
    }
    if (text.empty()) text = "no setup flags";
    text += has_read_fixed_ ? "; READ_FIXED" : "; no READ_FIXED";
    text += has_readv_fixed_ ? "; READV_FIXED" : "; no READV_FIXED";
    return text;
}

} // namespace sanport::detail
