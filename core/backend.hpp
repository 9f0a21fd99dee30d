// SPDX-License-Identifier: MIT
// THE SEAM between the core (docs/contract.md's semantics, once) and a backend (the OS).
//
// What every backend signs:
//  - threads: start, cancel, cancel_request, reap, add_region, remove_region and bind_thread are
//  called on the
//    engine thread only, except start() where starts_on_any_thread() says so (then on any
//    thread, with the socket's lock held); attach/detach on any thread, never concurrently for
//    one socket; wake() from any thread.
//  - at most one request per socket per direction is started at a time (the core's FIFO sees
//    to it), so the backend never orders anything itself.
//  - memory: an io_request and every buffer it names stay valid until its completion is reaped.
//  - exactly once: every request start() accepted is reported once, either inline (start
//    returns true) or by reap(), also after cancel(). Nothing else is ever reported.
//  - errors: only WSA codes (compat's wsa_from_transfer_errno; an accept's through
//    wsa_from_errno, as a life-cycle call); never errno or Win32 codes.
//    EAGAIN and EINTR are retried inside the backend and never reported.
//  - no semantics: a receive that returns 0 bytes is reported as {wsa 0, bytes 0}; the core
//    decides whether that is the end of the stream. A short send is reported as is.
#pragma once

#include <sanport/compat.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace sanport::detail {

enum class io_kind : std::uint8_t {
    recv,       // receive into buffers; flags may hold MSG_PEEK
    send,       // send buffers in order; a short send is reported as is
    recv_probe, // wait until readable: 1-byte MSG_PEEK into buffers[0];
                // reports 1 = data is there, 0 = end of stream
    accept,     // take one connection from the listening `socket`; see accept_target
    connect,    // connect `socket` (bound) to connect_target's address; reports 0 bytes
};

// Which of a socket's two directions a request belongs to: a connect is the send direction's
// (the socket has nothing to send before it is connected).
inline bool on_send_side(io_kind kind) noexcept {
    return kind == io_kind::send || kind == io_kind::connect;
}

// What an accept request names instead of buffers. Windows' AcceptEx needs the socket that
// becomes the connection and room for the two addresses up front; a backend that accepts into
// a new descriptor (Linux) ignores both and reports that descriptor in io_completion::bytes
// (IOCP reports 0). The core installs the connection into `socket` afterwards either way.
struct accept_target {
    SOCKET socket = INVALID_SOCKET;
    char* addresses = nullptr;      // local_length + remote_length bytes
    std::uint32_t local_length = 0; // each at least 16 bytes above the family's address
    std::uint32_t remote_length = 0;
    std::uint64_t identity = 0; // the core's: which socket `socket` named when posted
};

// What a connect request names instead of buffers: the peer's address, copied at the call.
struct connect_target {
    alignas(8) char address[28] = {}; // sockaddr_in or sockaddr_in6
    std::int32_t length = 0;
};

// The most buffers one request names (the kernel's IOV_MAX), and the most bytes (2^31 - 1).
inline constexpr std::uint32_t max_request_buffers = 1024;
inline constexpr std::uint32_t max_request_bytes = 0x7fffffffu;

// One kernel operation. The core keeps one per socket per direction (never allocated per call).
// Fields ordered without holes: 40 bytes, so a direction (its FIFO, this and its state bytes) is
// one 64-byte line of socket_state.
struct io_request {
    SOCKET socket = INVALID_SOCKET;
    void* backend_socket = nullptr; // what attach() produced for this socket
    union {
        const kernel_buffer* buffers = nullptr; // no zero-length entries, 1..max_request_buffers
        const accept_target* accept;            // io_kind::accept (count 0)
        const connect_target* connect;          // io_kind::connect (count 0)
    };
    void* owner = nullptr;        // the core's; handed back untouched
    std::uint16_t count = 0;      // at most max_request_buffers
    std::int16_t fixed_slot = -1; // registered region holding every buffer, or -1
    std::uint8_t flags = 0;       // MSG_PEEK for recv, else 0
    io_kind kind = io_kind::recv;
    // The backend's own bits for this direction of this socket (io_uring keeps its per-request
    // state here, on the line the core touches anyway). The core never reads them; it makes
    // them 0 when the socket is made and before every attach().
    std::uint8_t backend_bits = 0;
};
static_assert(sizeof(io_request) == 40, "a direction fills one 64-byte line");
static_assert(max_request_buffers <= 0xffff && MSG_PEEK <= 0xff, "io_request's narrow fields");

// Accepts and connects fail as life-cycle calls do (compat's wsa_from_errno: EMFILE is
// WSAEMFILE, ECONNREFUSED WSAECONNREFUSED), transfers through wsa_from_transfer_errno.
inline bool is_connection_setup(io_kind kind) noexcept {
    return kind == io_kind::accept || kind == io_kind::connect;
}

// A request the core never makes: a backend refuses it (WSAEINVAL) rather than hand it to
// the OS.
inline bool is_malformed(const io_request& r) noexcept {
    switch (r.kind) {
    case io_kind::accept:
        return r.accept == nullptr;
    case io_kind::connect:
        return r.connect == nullptr;
    default:
        return r.buffers == nullptr || r.count == 0 || r.count > max_request_buffers;
    }
}

// What happened to one io_request; produced exactly once per accepted request.
struct io_completion {
    io_request* request = nullptr;
    int wsa = 0;             // 0, or a WSA code; WSA_OPERATION_ABORTED after cancel()
    std::uint32_t bytes = 0; // bytes moved (may be > 0 even after cancel(): keep them);
                             // accept: the new OS socket where the backend made one
    bool more_data = false;  // recv: the kernel said more data is queued (a hint)
};

class backend {
public:
    virtual ~backend() = default;

    // "io_uring", "asio", "iocp", "fake".
    virtual const char* name() const noexcept = 0;

    // First call on the engine thread, before any other engine-thread call. 0 or a WSA code.
    virtual int bind_thread() noexcept = 0;

    // Prepare per-socket state (never per request). 0 or a WSA code.
    virtual int attach(SOCKET s, void*& backend_socket) noexcept = 0;
    // Only when nothing of this socket is started; frees what attach() made. s is
    // INVALID_SOCKET when the number already names another socket of this engine (a stale
    // entry retired late, stale.retire): nothing may reach the OS through the number then.
    virtual void detach(SOCKET s, void* backend_socket) noexcept = 0;

    // Start one request. true: it finished inline and `done` holds the result (never reaped
    // later); false: it will come back from reap().
    virtual bool start(io_request& request, io_completion& done) noexcept = 0;

    // Ask the OS to stop every started request of this socket. Each still comes back once
    // from reap(), with WSA_OPERATION_ABORTED or with the bytes it had already moved.
    // recv and send are the socket's two requests (either may be idle): a backend that keeps
    // no list of its own started requests finds them there.
    virtual void cancel(SOCKET s, void* backend_socket, io_request& recv,
                        io_request& send) noexcept = 0;
    // The same for one started request (WSPCancelIoEx); the socket's other direction goes on
    // untouched. The request may already have finished in the OS: it is then reported as it
    // finished. Never matches a request started after this call.
    virtual void cancel_request(io_request& request) noexcept = 0;

    // Registered memory (WSPRegisterMemory). slot < max_regions(). add_region returns false
    // when the OS refused (the region then simply takes the ordinary path).
    virtual std::size_t max_regions() const noexcept = 0; // 0: no fixed-buffer support
    virtual bool add_region(std::int32_t slot, void* base, std::size_t length) noexcept = 0;
    virtual void remove_region(std::int32_t slot) noexcept = 0;

    // Submit what start()/cancel() prepared, then wait up to timeout_ms (0 = poll, -1 = no
    // limit) for at least one completion or a wake(); return up to max of them.
    virtual std::size_t reap(io_completion* out, std::size_t max, int timeout_ms) noexcept = 0;

    // Make a waiting reap() return soon. Any thread. May cost a syscall: the core calls it
    // only when the engine thread is asleep.
    virtual void wake() noexcept = 0;

    // cq.readiness: from now on every kernel completion, also one the kernel has not posted yet
    // (deferred task work), raises the signal descriptor `fd` (core/sys.hpp), so a loop that
    // waits on it knows when to drive. Called on the engine thread, or before its first drive.
    // 0, WSAEOPNOTSUPP when the backend's waits cannot be seen from outside, or WSAEINVAL when
    // it can no longer change how it waits (io_uring: its ring is in use).
    virtual int signal_completions(int /*fd*/) noexcept { return WSAEOPNOTSUPP; }
    // cq.readiness: hand the OS what start()/cancel() prepared since the last reap, without
    // waiting or reaping (the owner is about to wait in a loop of its own, not in reap).
    // true: something is still owed that only the next reap can hand over.
    virtual bool submit() noexcept { return false; }

    // Whether start() may run on the thread that posts the operation, which saves the hand-off
    // to the engine thread: a completion port is bound to no thread. A ring set up for one
    // issuer is, and a reactor's state belongs to the thread that runs it.
    virtual bool starts_on_any_thread() const noexcept { return false; }

    // Whether another thread may take over reaping when the engine's thread is gone
    // (engine.orphan). A completion port may be; a ring set up for one issuer may not.
    virtual bool reaps_on_any_thread() const noexcept { return false; }
    // For a backend that may not (engine.orphan): frees what attach() made once the backend
    // itself is gone (its ring closed, so the kernel holds none of it), touching no OS object.
    using socket_freer = void (*)(void* backend_socket) noexcept;
    virtual socket_freer freer() const noexcept { return nullptr; }
};

std::unique_ptr<backend> make_backend(const std::string& forced, unsigned queue_depth,
                                      std::string& why_not);

} // namespace sanport::detail
