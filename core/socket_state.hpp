// SPDX-License-Identifier: MIT
// Everything sanport knows about one socket. Guarded by `mutex`, which the calling thread and
// the engine thread take in turn (never held across a wait or a blocking syscall).
//
// Invariants: at most one kernel request per direction is in flight, always for the head op
// of that direction's FIFO (or, for receives with no op posted, the read-ahead buffer); the
// connection state is sticky once the stream ended or failed.
#pragma once

#include "core/backend.hpp"
#include "core/op.hpp"
#include "core/registry.hpp"
#include "core/spin_mutex.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>

namespace sanport::detail {

class engine_impl;
class completion_queue_impl;

// connecting: a WSPConnectEx is the head of the send direction (connect_queue.cpp).
enum class conn_state : std::uint8_t { fresh, bound, listening, connecting, connected };

// Bounded read-ahead ("internally buffered data"): made by the first read-ahead request of a
// socket that turned it on (set_socket_mode), `size` bytes right after this header, of which
// [begin, end) were received and not yet taken by a receive. Most sockets never have one.
struct read_ahead {
    std::uint32_t size = 0;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    kernel_buffer request_buffer{}; // what the read-ahead request in flight fills
    char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
    std::uint32_t available() const noexcept { return end - begin; }
};
struct read_ahead_deleter {
    void operator()(read_ahead* ra) const noexcept;
};
using read_ahead_ptr = std::unique_ptr<read_ahead, read_ahead_deleter>;
read_ahead_ptr make_read_ahead(std::uint32_t size) noexcept; // empty when memory ran out

// What only a socket that asked for it pays for: the settings and blocks of the read-ahead and
// of registered memory, made by the first set_socket_mode or WSPRegisterMemory that needs them
// (make_extras) and kept until the socket is recycled.
struct socket_extras {
    registry regions;
    read_ahead_ptr ra;                     // see read_ahead; has_read_ahead says whether it is set
    std::uint32_t read_ahead_capacity = 0; // set_socket_mode's read_ahead_bytes; 0: off
    bool strict_registration = false;
};

// What the receive direction's one kernel request is filling.
enum class recv_target : std::uint8_t { head, probe, read_ahead };

struct direction {
    op_fifo ops;
    io_request request;
    bool in_flight = false;
    bool start_wanted = false; // a non-engine thread asked the engine to start the head
    // engine.other-thread.blocking: a blocking call on a thread that may not drive the engine
    // moves the head op's bytes itself; nothing of this direction starts until it is done.
    bool on_caller = false;
    // recv_start/send_start are running on this socket (s.mutex held): a request that finished
    // inline asks for the next start by `restart`, so the stack stays flat however many queued
    // operations complete inline one after the other.
    bool starting = false;
    bool restart = false;
    // cancel.in-flight: another thread cancelled the head op while the kernel held it; the
    // engine thread asks the backend (engine_impl::drain_kicks).
    bool cancel_wanted = false;
};

// Field order is cache order, one 64-byte line each (the table hands out line-aligned states
// from blocks, so no allocator header shifts them). At 10,000 connections every line a message
// touches is a last-level miss, so everything a steady stream of receives and sends reads sits
// in three lines: line 0 (the lock, state bytes, counters, engine, free ops, queue and key) and
// one line per direction. What it never reads, or reads only behind a flag of line 0 (the
// read-ahead block, the registrations), is in the cold lines after them.
struct alignas(64) socket_state {
    // ---- Hot: line 0 ----
    spin_mutex mutex; // see spin_mutex.hpp: held briefly, rarely contended
    bool closing = false;
    bool overlapped = false;
    conn_state state = conn_state::fresh;
    bool rd_shutdown = false;     // SD_RECEIVE: kept here, never passed to the kernel
    bool wr_shutdown = false;     // SD_SEND asked; new sends fail
    bool eof = false;             // the peer ended the stream
    bool skip_on_success = false; // completion-queue association: no packet when immediate
    // strict_registration, or a region registered: buffers are checked against `regions`.
    bool check_registration = false;
    bool posting_done = false; // see op::posting and setup_posting
    recv_target recv_target_kind = recv_target::head;
    bool read_ahead_on = false; // read_ahead_capacity != 0
    // Lookup references (socket_table); never reset, only counted, because the object is
    // recycled rather than freed (a stale reader may still count on it briefly).
    std::atomic<std::uint32_t> refs{0};
    // Kernel requests in flight; WSPCloseSocket waits for zero. Written under `mutex` only
    // (busy_add), by the thread that starts a request and by the one that reaps it.
    std::atomic<std::uint32_t> busy{0};
    // Set while WSPCloseSocket waits for lookups to end (they then bump the wait generation).
    std::atomic<bool> close_waiting{false};
    bool has_read_ahead = false; // ra holds a block
    // Sticky failures, as WSA codes (all below 2^15).
    std::int16_t recv_error = 0; // receive (WSAECONNRESET, ...)
    std::int16_t send_error = 0; // send
    // The kernel reports a connection failure once, to whichever request asks first; when the
    // send side got it, the receive side then sees 0 bytes, which is not a graceful end.
    std::int16_t failed_under_send = 0;
    // Bytes of the last operation completed immediately (complete_op with immediate = true),
    // read by the poster under the lock: its WSAOVERLAPPED may already be another thread's.
    DWORD immediate_bytes = 0;
    engine_impl* engine = nullptr;
    op* free_ops = nullptr; // recycled ops of this socket; steady state allocates nothing
    completion_queue_impl* queue = nullptr; // association; holds it (hold_for_socket)
    ULONG_PTR key = 0;

    // ---- Hot: lines 2 and 3 ----
    direction recv;
    direction send;

    // ---- Cold: line 3 ----
    std::unique_ptr<socket_extras> extras; // read-ahead and registrations; most sockets: none
    // As op::posting, for the accept or connect op its own call is starting on the engine
    // thread (setup_queue.hpp); an op, since an accept's may move to another socket.
    op* setup_posting = nullptr;
    // accept.target-closed: the listener of the last WSPAcceptEx that named this socket as its
    // accept socket; its close aborts that accept if it still waits.
    SOCKET accepting_on = INVALID_SOCKET;
    // sys::identity of the OS socket when it was registered (set by every registration):
    // WSPCloseSocket closes the handle only while it still names that socket (stale.window).
    std::uint64_t identity = 0;
    socket_state* next_kick = nullptr;
    // Engine's list of its sockets.
    socket_state* engine_prev = nullptr;
    socket_state* engine_next = nullptr;
    std::uint16_t family = 0; // AF_INET or AF_INET6
    bool report_disconnect = false;
    bool wr_shutdown_done = false; // SHUT_WR reached the kernel (after the last queued send)
    // Made through a proc table WSPStartup filled (startup.cleanup): the last WSPCleanup
    // closes it. Sockets from direct calls are the application's, never closed by a cleanup.
    bool startup_owned = false;
    // Engine hand-off: queued on the engine's kick list at most once.
    bool kick_queued = false;
    bool cancel_wanted = false;

    std::uint32_t ra_available() const noexcept {
        return has_read_ahead ? extras->ra->available() : 0;
    }
    read_ahead& ra() noexcept { return *extras->ra; } // has_read_ahead
    std::uint32_t read_ahead_capacity() const noexcept {
        return extras ? extras->read_ahead_capacity : 0;
    }
    // The socket's extras, made now if need be; nullptr when memory ran out.
    socket_extras* make_extras() noexcept {
        if (!extras) extras.reset(new (std::nothrow) socket_extras);
        return extras.get();
    }

    // The OS handle and what the backend's attach() made for it live in both requests, which
    // hand them to the backend, and nowhere else: a copy here cost a cold line's bytes.
    SOCKET handle() const noexcept { return recv.request.socket; }
    void* backend_socket() const noexcept { return recv.request.backend_socket; }
    void set_handle(SOCKET h) noexcept { recv.request.socket = send.request.socket = h; }
    void set_backend_socket(void* b) noexcept {
        recv.request.backend_socket = send.request.backend_socket = b;
    }
};
static_assert(sizeof(direction) == 64, "a direction is one line");
static_assert(sizeof(socket_state) == 4 * 64, "three hot lines and one cold one");
static_assert(WSAEDISCON < 0x8000 && WSA_OPERATION_ABORTED < 0x8000 && WSAENETRESET < 0x8000,
              "sticky failures fit socket_state's 16-bit fields");

// After every attach() (and when the backend state is dropped): both requests name their
// owner from then on, so a start writes none of it (the handle and the backend state are the
// requests' own fields already), and the backend's bits start at 0 (they belong to the backend
// that attached the socket).
inline void bind_requests(socket_state& s) noexcept {
    for (io_request* r : {&s.recv.request, &s.send.request}) {
        r->owner = &s;
        r->backend_bits = 0;
    }
}

// The registrations are checked only while this says so (one flag on line 0 instead of the
// registry's pointer on a cold line); call after either input changed.
inline void update_check_registration(socket_state& s) noexcept {
    s.check_registration =
        s.extras && (s.extras->strict_registration || !s.extras->regions.empty());
}

// Whether the kernel is filling the head op of d (for receives: not the read-ahead buffer).
// Cancels reach only that op through the backend; every other queued op is the core's alone.
inline bool head_in_kernel(const socket_state& s, const direction& d) noexcept {
    return d.in_flight && (&d == &s.send || s.recv_target_kind != recv_target::read_ahead);
}

// Runs start_once() for direction d, again for as long as an inline completion inside it asked
// for another start, instead of recursing (see direction::starting).
template <class Fn> void start_flat(direction& d, Fn&& start_once) noexcept {
    if (d.starting) {
        d.restart = true;
        return;
    }
    d.starting = true;
    do {
        d.restart = false;
        start_once();
    } while (d.restart);
    d.starting = false;
}

// Every change happens with s.mutex held (starts, and dispatch() for completions), so a load
// and a store: no locked instruction. Release: a closer that reads 0 sees everything before;
// it then takes s.mutex once, which waits for the dispatch that stored the 0 to let go.
inline void busy_add(socket_state& s, int delta) noexcept {
    const auto d = static_cast<std::uint32_t>(delta);
    s.busy.store(s.busy.load(std::memory_order_relaxed) + d, std::memory_order_release);
}

} // namespace sanport::detail
