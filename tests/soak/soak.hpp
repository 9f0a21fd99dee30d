// SPDX-License-Identifier: MIT
// sanport_soak: the shared pieces of the bounded soak program (see soak_main.cpp for what it
// does). Everything here is plain data plus a few helpers; the three threads' logic lives in
// soak_driver.cpp (the completion-queue loop), soak_chaos.cpp (connects and chaos) and
// soak_main.cpp (arguments, progress, watchdog, summary).
#pragma once

#include "tests/support/checksum.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace soak {

using sanport::test::mix64;
using sanport::test::rng;
using steady = std::chrono::steady_clock;

constexpr std::size_t max_recvs = 8;          // receives posted per socket: 1..8
constexpr std::size_t max_sends = 4;          // sends posted per socket: 1..4
constexpr std::size_t max_entries = 16;       // WSABUF entries per receive: 1..16
constexpr std::size_t max_recv_bytes = 65536; // total of one receive's entries
constexpr std::size_t max_send_bytes = 32768; // one send
constexpr int stall_limit_s = 10;             // the watchdog's "no progress" limit
constexpr unsigned char sentinel = 0xA5;      // pre-filled into receive buffers

struct config {
    double seconds = 30;
    std::uint64_t seed = 1;
    unsigned connections = 32;
    std::string backend; // "" = SANPORT_BACKEND or sanport's choice
};

// ---- the byte streams ------------------------------------------------------------------------
// Each direction of each connection carries its own endless stream: byte p is byte p % 8 of
// mix64(key + p / 8), key derived from (seed, connection, side). A lost, repeated or reordered
// piece of any length shows at its first byte.
inline std::uint64_t stream_key(std::uint64_t seed, std::uint64_t conn, int side) {
    return mix64(mix64(seed) ^ mix64(conn * 2 + static_cast<std::uint64_t>(side) + 1));
}
void stream_fill(std::uint64_t key, std::uint64_t pos, char* out, std::size_t n);
// The index of the first byte of data[0..n) that differs from the stream at pos, or n.
std::size_t stream_mismatch(std::uint64_t key, std::uint64_t pos, const char* data, std::size_t n);
unsigned char stream_byte(std::uint64_t key, std::uint64_t pos);

using sanport::test::checksum; // tests/support/checksum.hpp

// ---- the file-descriptor guard -----------------------------------------------------------------
// A SOCKET is the OS descriptor, and the OS hands a closed number to the next socket at once.
// Calls naming a socket that another thread may be closing (posts, WSPShutdown, setsockopt,
// WSPCloseSocket itself) hold the guard shared; making a socket (WSPSocket, WSPAccept) holds it
// exclusive. So a number is never reused while a call that could still name the old socket is
// running. Writers first, so the creator is not starved by the busy loop.
class fd_guard {
public:
    void lock_shared();
    void unlock_shared();
    void lock();
    void unlock();

private:
    std::mutex m_;
    std::condition_variable cv_;
    int readers_ = 0;
    int writers_waiting_ = 0;
    bool writer_ = false;
};

// ---- counters
// ------------------------------------------------------------------------------------
struct stats {
    std::atomic<std::uint64_t> opened{0}, closed{0}, chaos_closes{0}, resets{0}, half_closes{0},
        graceful{0}, connect_failures{0};
    std::atomic<std::uint64_t> recv_posted{0}, recv_completed{0}, send_posted{0}, send_completed{0},
        immediate{0}, aborted{0}, conn_errors{0}, eofs{0}, waitall{0}, zero_byte{0}, rejected{0};
    std::atomic<std::uint64_t> bytes_verified{0}, bytes_sent{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> digest{0}; // xor of every graceful stream's checksum
};

// What a thread is doing, for the watchdog's message.
struct activity {
    std::atomic<const char*> what{"starting"};
    std::atomic<std::uint64_t> id{0};
    std::atomic<std::int64_t> since_ms{0};
    void set(const char* w, std::uint64_t i = 0);
};
std::int64_t now_ms(); // steady clock, since the program started

// ---- connections -----------------------------------------------------------------------------
struct op {
    WSAOVERLAPPED ov{};
    bool is_send = false;
    bool outstanding = false; // accepted by the call, its result not taken yet
    bool done = false;        // result taken, waiting for its turn in posting order
    bool in_order = false;    // in the endpoint's recv_order
    bool immediate = false;   // the call returned 0
    bool skip_packet = false; // immediate on a skip-on-success socket: no packet may come
    bool waitall = false;
    bool posted_closing = false; // posted while a close of its socket had begun
    DWORD imm_bytes = 0;
    DWORD bytes = 0;
    int status = 0;
    WSABUF bufs[max_entries]{};
    DWORD count = 0;
    std::size_t capacity = 0;
    std::vector<char> storage;
};

struct connection;

struct endpoint {
    std::uint64_t id = 0; // the completion key; unique for the whole run
    int side = 0;
    connection* conn = nullptr;
    endpoint* peer = nullptr;
    SOCKET s = INVALID_SOCKET;
    bool skip_on_success = false;
    std::uint64_t tx_key = 0, rx_key = 0;

    // Shared with the chaos threads.
    std::atomic<bool> close_claimed{false}; // one thread owns the close
    std::atomic<bool> closing{false};       // WSPCloseSocket is about to be / being called
    std::atomic<bool> closed{false};        // WSPCloseSocket returned (close_rc/err set)
    std::atomic<bool> abnormal{false};      // closed or reset mid-stream: the peer is lenient
    int close_rc = 0, close_err = 0;
    std::mutex send_mu;            // the loop's send posts and a half-close, one at a time
    bool send_shut = false;        // WSPShutdown(SD_SEND) called (under send_mu)
    std::uint64_t send_posted = 0; // stream bytes handed to WSPSend (under send_mu)
    checksum tx_sum;               // of those bytes (under send_mu)

    // The loop thread only.
    std::array<op, max_recvs> recvs;
    std::array<op, max_sends> sends;
    std::deque<op*> recv_order;
    unsigned recv_target = 1, send_target = 1;
    std::uint64_t budget = 0;   // half-close after this many bytes
    std::uint64_t verified = 0; // received stream bytes checked
    checksum rx_sum;
    bool rx_ended = false;   // end of stream or an error seen in posting order
    bool rx_stop = false;    // no more receives are posted (a call failed, or rx_ended)
    bool rx_broken = false;  // verification failed: nothing more is checked
    bool expect_end = false; // a MSG_WAITALL receive completed short
    bool tx_failed = false;
    bool close_checked = false;
    bool retired = false;
    bool dirty = false; // in the loop's to-do list
    steady::time_point last_progress{};
    rng r{0};
};

struct connection {
    std::uint64_t id = 0;
    std::array<endpoint, 2> ep;
    std::atomic<bool> chaos_claimed{false};
    int retired = 0; // loop thread
};

// ---- everything the threads share ---------------------------------------------------------------
struct shared_state {
    config cfg;
    stats st;
    fd_guard guard;
    sanport::completion_queue* cq = nullptr;
    SOCKET listener = INVALID_SOCKET;
    sockaddr_storage listen_addr{};
    int listen_len = 0;

    std::mutex reg_mu;
    std::vector<std::shared_ptr<connection>> live;  // for the chaos threads to pick from
    std::vector<std::shared_ptr<connection>> inbox; // made, not yet started by the loop
    std::atomic<std::uint64_t> next_conn{0};

    std::atomic<bool> stop_chaos{false};
    std::atomic<bool> stop_loop{false};
    std::atomic<std::uint64_t> progress{0};
    activity loop_act;
    std::array<activity, 2> chaos_act;
    std::atomic<bool> loop_done{false};
    std::array<std::atomic<bool>, 2> chaos_done{};
};

// Counts an error and prints the first ones (with the seed, so the run can be replayed).
void report_error(shared_state& sh, const std::string& what);
// Prints a message naming what is stuck and ends the process with status 1.
[[noreturn]] void fatal_stall(shared_state& sh, const std::string& what);

// Claims ep's close (false if another thread owns it), then WSPCloseSocket, with SO_LINGER
// {1, 0} first when `reset`. `abnormal`: the peer must accept a cut stream. The caller holds
// the guard shared.
bool close_endpoint(shared_state& sh, endpoint& ep, bool reset, bool abnormal, activity& act);
// WSPShutdown(SD_SEND) after the sends posted so far; the stream's length is then final.
// false if already shut or closed. The caller holds the guard shared.
bool half_close(shared_state& sh, endpoint& ep);

// The threads.
void run_loop(shared_state& sh);
void run_chaos(shared_state& sh, int index);
// One new connection (both ends sanport sockets), associated and put in the inbox.
bool open_connection(shared_state& sh, activity& act);

} // namespace soak
