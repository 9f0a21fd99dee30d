// SPDX-License-Identifier: MIT
// Test support for the contract suite: connected loopback TCP pairs whose one end is a sanport
// socket and whose other end (the "peer") is a plain OS socket (a POSIX descriptor; a Winsock
// SOCKET on Windows) the test drives by hand (segmentation, FIN, RST), an RAII overlapped
// operation, a deterministic byte pattern and bounded waits. Invariant: every wait here ends within
// its time limit (max_wait_ms by default), so a broken core makes a test fail, never hang. Only
// 127.0.0.1 and ::1 are used. Only sanport's public headers are used, so the same helpers serve
// every backend.
#pragma once

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "skip.hpp"

#ifndef _WIN32
#include <sys/socket.h>
#endif

namespace sanport::test {

// A plain OS socket of the tests' own (the peer end of a pair, a POSIX listener): a
// descriptor on POSIX, a Winsock SOCKET on Windows. no_peer: none (closed or not made).
#ifdef _WIN32
using peer_socket = SOCKET;
inline constexpr peer_socket no_peer = INVALID_SOCKET;
#else
using peer_socket = int;
inline constexpr peer_socket no_peer = -1;
#endif

// The longest any single wait of the suite lasts before the test fails.
inline constexpr int max_wait_ms = 5000;
// How long a test watches an operation that must stay pending.
inline constexpr int settle_ms = 100;
// Reads WSAOVERLAPPED.Internal the way a poller must: the engine thread writes it last, with
// release order, so a plain read would race (ThreadSanitizer says so).
inline ULONG_PTR internal_of(WSAOVERLAPPED& ov) {
    return std::atomic_ref<ULONG_PTR>(ov.Internal).load(std::memory_order_acquire);
}

// WSAOVERLAPPED.Internal while an operation is pending.
inline constexpr ULONG_PTR in_progress = static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS);
// Pre-filled into *lpNumberOfBytesRecvd so a test can tell "untouched" from "set".
inline constexpr DWORD bytes_sentinel = 0xB0B0B0B0u;

// sanport::wsa_error_name as a std::string, so CHECK(wsa_name(err) == "WSAECONNRESET") prints
// both names when it fails.
inline std::string wsa_name(int code) {
    return sanport::wsa_error_name(code);
}

inline void sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Milliseconds since construction.
class stopwatch {
public:
    stopwatch() : start_(std::chrono::steady_clock::now()) {}
    double ms() const {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
            .count();
    }

private:
    std::chrono::steady_clock::time_point start_;
};

// Runs `action` on its own thread after `delay_ms`; the destructor joins it.
class delayed {
public:
    delayed(int delay_ms, std::function<void()> action)
        : thread_([delay_ms, action = std::move(action)] {
              sleep_ms(delay_ms);
              action();
          }) {}
    ~delayed() { join(); }
    delayed(const delayed&) = delete;
    delayed& operator=(const delayed&) = delete;
    void join() {
        if (thread_.joinable()) thread_.join();
    }

private:
    std::thread thread_;
};

// Runs `on_expiry` once if it is still alive after timeout_ms (to unblock a blocking call that
// a broken core would never end); the destructor cancels it and joins.
class watchdog {
public:
    watchdog(int timeout_ms, std::function<void()> on_expiry)
        : thread_([this, timeout_ms, action = std::move(on_expiry)] {
              std::unique_lock lock(mutex_);
              if (cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                               [this] { return cancelled_; }))
                  return;
              fired_ = true;
              lock.unlock();
              action();
          }) {}
    ~watchdog() {
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;
    bool fired() const { return fired_; }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool cancelled_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_; // last: starts once the members above exist
};

// ---- byte streams ----------------------------------------------------------------------------

// n printable bytes of a deterministic stream: byte i of the result is stream byte offset + i,
// so pattern(10) == pattern(4) + pattern(6, 4).
std::string pattern(std::size_t n, std::size_t offset = 0, unsigned seed = 1);

// ---- addresses and plain sockets ----------------------------------------------------------------

// 127.0.0.1 or ::1 with `port` (host order); *len gets the address length.
sockaddr_storage loopback_address(int family, unsigned short port, int* len);
unsigned short port_of(const sockaddr_storage& address);
// The local address of an OS socket (getsockname).
sockaddr_storage local_address(peer_socket fd, int* len);
bool ipv6_loopback_available();

// A plain OS listener (not sanport's) on 127.0.0.1 or ::1 with an ephemeral port; closed by
// the destructor.
struct posix_listener {
    peer_socket fd = no_peer;
    sockaddr_storage address{};
    int address_len = 0;
    // backlog 0: the kernel queues one connection and drops the SYNs of the next ones, so a
    // second connect stays under way (a pending ConnectEx).
    explicit posix_listener(int family = AF_INET, int rcvbuf = 0, int backlog = 64);
    ~posix_listener();
    posix_listener(const posix_listener&) = delete;
    posix_listener& operator=(const posix_listener&) = delete;
    // accept(2), after waiting (bounded) for a connection; no_peer if none came. On Windows
    // the accepted socket is made non-blocking (FIONBIO), as Winsock has no MSG_DONTWAIT.
    peer_socket accept_one(int timeout_ms = max_wait_ms);
};

// A sanport listener (WSPSocket + WSPBind + WSPListen) on 127.0.0.1 or ::1; closed (through
// WSPCloseSocket) by the destructor.
struct sanport_listener {
    SOCKET s = INVALID_SOCKET;
    sockaddr_storage address{};
    int address_len = 0;
    explicit sanport_listener(int family = AF_INET, DWORD flags = WSA_FLAG_OVERLAPPED,
                              int backlog = 64);
    ~sanport_listener();
    sanport_listener(const sanport_listener&) = delete;
    sanport_listener& operator=(const sanport_listener&) = delete;
    // WSPAccept after waiting (bounded) until a connection is queued; INVALID_SOCKET (and
    // *err set) if none came or the accept failed.
    SOCKET accept_one(int* err, int timeout_ms = max_wait_ms);
};

// A plain client socket connected (blocking) to `address`; no_peer on failure.
peer_socket posix_connect(const sockaddr_storage& address, int address_len, int rcvbuf = 0);

// Plain OS calls on a peer socket, the same on every OS; each ignores no_peer.
// close(2) / closesocket.
void peer_close(peer_socket fd);
// shutdown(SHUT_RDWR) / shutdown(SD_BOTH): ends a peer's blocking wait, or a sanport call
// blocked on this connection.
void peer_shutdown_both(peer_socket fd);
// SO_LINGER {1, 0} + close: the peer sends RST.
void peer_reset(peer_socket fd);

// True when the Windows build runs under Wine (ntdll exports wine_get_version).
bool under_wine();
// Under Wine, prints a [sanport-skip] line with the reason and returns true: for the one
// docs/contract.md §4 case Wine's Winsock cannot show (wine_reset_exemption, below), and for
// the open problems docs/contract.md names.
bool skip_under_wine(const char* why);
// The one case Wine cannot show, in the words docs/contract.md (recv.peer.reset) and the README
// use for it: every test of that case skips with this reason.
inline constexpr const char* wine_reset_exemption =
    "Wine 8 reads a reset that arrives with no receive posted as a graceful end, and no Winsock "
    "call tells the two apart (docs/contract.md recv.peer.reset)";
// Whether s is an open OS socket (fcntl F_GETFD / getsockopt SO_TYPE succeeds): a sanport
// SOCKET is the OS socket, so this tells whether WSPCloseSocket closed it.
bool os_socket_open(SOCKET s);
// SO_SNDBUF of an OS socket (also of a sanport SOCKET, which is the OS socket);
// false if the OS refused.
bool set_send_buffer(SOCKET s, int bytes);

// ---- loopback pairs --------------------------------------------------------------------------

enum class pair_kind {
    connect, // WSPSocket + WSPBind + WSPConnect to a POSIX listener
    accept,  // WSPAccept from a sanport listener, the peer connects with connect(2)
    adopt,   // a connected OS socket taken over with WSPAdoptSocket
};
const char* to_string(pair_kind kind);

struct pair_options {
    pair_kind kind = pair_kind::connect;
    int family = AF_INET;
    DWORD flags = WSA_FLAG_OVERLAPPED; // of the sanport socket (or of its listener)
    int peer_rcvbuf = 0;               // > 0: SO_RCVBUF of the peer, set before the handshake
};

// One connected pair. `s` is the sanport socket, `peer` the plain OS end (TCP_NODELAY set, so
// each send_all leaves as its own segment). The destructor closes whatever is still open:
// close the sanport end only through close_socket(), never with WSPCloseSocket directly, so
// a handle number the OS already reused is never closed twice.
class loopback_pair {
public:
    SOCKET s = INVALID_SOCKET;
    peer_socket peer = no_peer;

    loopback_pair() = default;
    loopback_pair(loopback_pair&& other) noexcept;
    loopback_pair& operator=(loopback_pair&& other) = delete;
    loopback_pair(const loopback_pair&) = delete;
    loopback_pair& operator=(const loopback_pair&) = delete;
    ~loopback_pair();

    // WSPCloseSocket(s); returns 0 or the WSA code. Later calls return WSAENOTSOCK untouched.
    int close_socket();
    // Graceful close of the peer: FIN after its queued data.
    void close_peer();
    // shutdown(SHUT_WR) on the peer: FIN, while the peer can still read.
    void shutdown_peer_write();
    // Hard close of the peer: SO_LINGER {1, 0} + close, which sends RST.
    void reset_peer();
};

loopback_pair make_pair(const pair_options& options);
inline loopback_pair make_pair(pair_kind kind = pair_kind::connect, int family = AF_INET,
                               DWORD flags = WSA_FLAG_OVERLAPPED) {
    return make_pair(pair_options{kind, family, flags, 0});
}

// ---- the peer's side -------------------------------------------------------------------------

// Writes every byte (bounded by timeout_ms); fails the test if it cannot.
void send_all(peer_socket fd, std::string_view bytes, int timeout_ms = max_wait_ms);
// The same without doctest, for helper threads: false (and a line on stderr) if it could not.
bool try_send_all(peer_socket fd, std::string_view bytes, int timeout_ms = max_wait_ms);
// Reads until n bytes, EOF, an error or the time limit; returns what it got.
std::string read_exactly(peer_socket fd, std::size_t n, int timeout_ms = max_wait_ms);

enum class peer_end { eof, reset, timeout };
const char* to_string(peer_end end);
// Reads and discards until EOF, a reset or the time limit; *discarded gets the byte count.
peer_end read_until_end(peer_socket fd, int timeout_ms = max_wait_ms,
                        std::size_t* discarded = nullptr);

// Bytes the kernel holds unread for this socket (FIONREAD), or -1.
long kernel_unread_bytes(SOCKET s);
// Waits (bounded) until the kernel holds at least n unread bytes for s.
bool wait_kernel_unread(SOCKET s, std::size_t n, int timeout_ms = max_wait_ms);
// Waits (bounded) until the kernel holds nothing unread for s, then lets sanport's engine
// thread settle: with read_ahead_bytes on, the data then sits inside sanport.
bool wait_read_ahead_filled(SOCKET s, int timeout_ms = max_wait_ms);

// ---- overlapped bookkeeping --------------------------------------------------------------------

// Internal == WSS_OPERATION_IN_PROGRESS, read with acquire order.
inline bool is_pending(const WSAOVERLAPPED& ov) {
    return std::atomic_ref<ULONG_PTR>(const_cast<ULONG_PTR&>(ov.Internal))
               .load(std::memory_order_acquire) == in_progress;
}
// hEvent with the "no completion-queue packet" low bit cleared.
inline WSAEVENT real_event(HANDLE hEvent) {
    auto value = reinterpret_cast<std::uintptr_t>(hEvent);
    return reinterpret_cast<WSAEVENT>(value & ~std::uintptr_t{1});
}
// Waits until the operation is no longer pending, on its event when it has one. Bounded.
bool wait_done(const WSAOVERLAPPED& ov, int timeout_ms = max_wait_ms);

struct op_result {
    enum class how { immediate, completed, failed_at_call, timed_out };
    how way = how::failed_at_call;
    BOOL ok = FALSE; // the call returned 0, or WSPGetOverlappedResult returned TRUE
    DWORD bytes = 0;
    DWORD flags = 0;
    int err = 0; // WSA code; 0 on success
};

// WSPGetOverlappedResult(s, &ov, ..., fWait, ...), with sentinel-filled outputs.
op_result get_result(SOCKET s, WSAOVERLAPPED& ov, BOOL fWait = FALSE);

// One overlapped operation: a WSAOVERLAPPED with its own manual-reset event and the buffers
// it names. Not movable: a pending operation refers to this object. If it is destroyed while
// still pending (a test that failed half-way) its memory is deliberately kept alive, so the
// engine can never write into freed memory.
class overlapped_op {
public:
    explicit overlapped_op(std::vector<ULONG> lengths = {64}, char fill = '.');
    ~overlapped_op();
    overlapped_op(const overlapped_op&) = delete;
    overlapped_op& operator=(const overlapped_op&) = delete;

    WSAOVERLAPPED& ov() { return st_->ov; }
    const WSAOVERLAPPED& ov() const { return st_->ov; }
    WSAEVENT event() const { return st_->event; } // the real event handle (low bit clear)
    void set_low_bit(bool on = true);             // hEvent | 1: no completion-queue packet
    WSABUF* bufs() { return st_->bufs.data(); }   // the op's own WSABUF array
    DWORD count() const { return static_cast<DWORD>(st_->bufs.size()); }
    char* buffer_ptr(std::size_t i) { return st_->storage.at(i).data(); }
    std::size_t capacity() const; // sum of the lengths

    // Outputs of the last recv()/send() call.
    int rc = 0;
    int err = 0;
    DWORD bytes = bytes_sentinel;
    DWORD flags = 0;

    // Overlapped WSPRecv with a temporary copy of the WSABUF array (so capture is exercised
    // on every call); bytes pre-set to bytes_sentinel, flags to flags_in.
    int recv(SOCKET s, DWORD flags_in = 0);
    // Copies `data` into the buffers (in order; must fit) and posts an overlapped WSPSend of
    // all of them.
    int send(SOCKET s, std::string_view data);
    // The last call returned SOCKET_ERROR + WSA_IO_PENDING.
    bool call_pending() const { return rc == SOCKET_ERROR && err == WSA_IO_PENDING; }

    bool pending() const { return is_pending(st_->ov); }
    bool wait(int timeout_ms = max_wait_ms) const { return wait_done(st_->ov, timeout_ms); }
    op_result result(SOCKET s, BOOL fWait = FALSE) { return get_result(s, st_->ov, fWait); }
    // After recv()/send(): the immediate result, or waits (bounded) and asks
    // WSPGetOverlappedResult.
    op_result finish(SOCKET s, int timeout_ms = max_wait_ms);
    bool event_signalled() const { return sanport::wsa_event_is_set(st_->event); }
    // The event becomes signalled within a bounded wait. The completer publishes the result
    // (Internal last) and then signals the event, so a test that saw the result may still be
    // a moment early for the event: positive checks use this, negative ones event_signalled().
    bool event_signalled_soon(int timeout_ms = max_wait_ms) const;

    std::string data(std::size_t n) const;   // first n bytes, buffers in array order
    std::string buffer(std::size_t i) const; // all of buffer i

private:
    struct state {
        WSAOVERLAPPED ov{};
        WSAEVENT event = WSA_INVALID_EVENT;
        std::vector<std::vector<char>> storage; // each buffer plus one spare byte
        std::vector<WSABUF> bufs;
    };
    std::unique_ptr<state> st_;
};
// One overlapped receive of `capacity` bytes, completed (bounded); data = what arrived.
struct recv_outcome {
    op_result r;
    std::string data;
};
recv_outcome recv_once(SOCKET s, ULONG capacity = 4096, DWORD flags = 0,
                       int timeout_ms = max_wait_ms);
// Receives until n bytes arrived, a receive reports 0 or fails, or the time limit passes.
std::string recv_stream(SOCKET s, std::size_t n, int timeout_ms = max_wait_ms);
// A connected sanport socket and its peer carry `text` both ways (peer → s by WSPRecv, s →
// peer by an overlapped WSPSend); CHECKs each.
void check_both_ways(SOCKET s, peer_socket peer, const std::string& text);

// ---- completion queues -----------------------------------------------------------------------

// Dequeues until n packets arrived or the time limit passed; returns what came.
std::vector<completion_entry> dequeue_n(completion_queue& cq, std::size_t n,
                                        int timeout_ms = max_wait_ms);
// How many further packets arrive within `ms` (0 expected in most tests).
std::size_t count_more(completion_queue& cq, int ms = settle_ms);

} // namespace sanport::test
