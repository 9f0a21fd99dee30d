// SPDX-License-Identifier: MIT
// The fault-injection tests' rig: a driven engine over a real backend whose fault plan the test
// holds, real loopback TCP pairs adopted into it, and a stream check that keeps receives with
// random WSABUF arrays posted while a peer thread sends a known byte stream.
//
// The check is the promise, per fault: the bytes of the successful receives, in posting
// order, are exactly the bytes sent (nothing lost, duplicated or reordered); each receive is
// reported once (one completion-queue packet, or one immediate failure and no packet); and
// every code is recorded, so the test can name the one the fault must produce.
#pragma once

#include "core/backend.hpp"
#include "tests/support/loopback.hpp" // pattern, send_all, try_send_all, read_exactly

#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sanport::test {

// One WSPRecv and what became of it.
struct recv_op {
    WSAOVERLAPPED ov{}; // first: a packet's overlapped pointer is the op
    std::vector<char> mem;
    std::vector<WSABUF> bufs;
    DWORD bytes = 0;
    DWORD flags = 0;
    int rc = 0;
    int err = 0;
    int packets = 0;

    bool queued_packet() const { return rc == 0 || err == WSA_IO_PENDING; }
    int code() const { return queued_packet() ? static_cast<int>(ov.OffsetHigh) : err; }
    DWORD count() const { return static_cast<DWORD>(ov.InternalHigh); }
    std::string got() const; // the first count() bytes across bufs, in array order
};

// What one stream check saw.
struct stream_outcome {
    std::string got;          // bytes of successful receives, in posting order
    std::map<int, int> codes; // WSA code -> how many receives ended with it (0: success)
    int receives = 0;         // receives posted
    int bad_packets = 0;      // packets for an op that was not the oldest still pending,
                              // or a second packet for one op, or a packet for a failed post
    int missing_packets = 0;  // ops that queued a packet but none came
    bool timed_out = false;
    int errors() const;        // receives that ended with a non-zero code
    int times(int code) const; // receives that ended with this code
};

class fault_rig {
public:
    explicit fault_rig(std::unique_ptr<detail::backend> backend);
    ~fault_rig();
    fault_rig(const fault_rig&) = delete;
    fault_rig& operator=(const fault_rig&) = delete;

    // A connected loopback TCP socket under sanport, associated with the queue (key = s).
    SOCKET open();
    int peer(SOCKET s) const;

    // From now on post() carves its buffers from one region of `size` bytes registered with
    // WSPRegisterMemory for `s` (round robin: a settled op's bytes are already copied out), so
    // receives take the registered path (io_uring: READ_FIXED / READV_FIXED).
    void use_registered_arena(SOCKET s, std::size_t size);

    // WSPRecv over fresh buffers of these lengths.
    recv_op& post(SOCKET s, const std::vector<ULONG>& lens);
    // Drive the engine (through the queue) for up to `ms`, counting packets onto their ops.
    void drive(int ms);

    // Sends `total` bytes of pattern() from the peer on a thread (chunks of 1..chunk_max bytes,
    // a pause of pause_us between chunks), while keeping `depth` receives with random arrays
    // posted on `s`, until every byte arrived, a receive failed for good (WSAECONNRESET or
    // WSAECONNABORTED), or 10 s passed.
    stream_outcome stream(SOCKET s, std::size_t total, std::uint32_t seed, int depth = 3,
                          std::uint32_t chunk_max = 4096, int pause_us = 0);

private:
    std::deque<std::unique_ptr<recv_op>> ops_; // declared before the engine: outlive it
    std::map<SOCKET, int> peers_;
    std::vector<char> arena_;
    std::size_t arena_at_ = 0;

public:
    // WSPSend of `total` pattern bytes, in 1..4 buffers, while a peer thread reads them; `code`
    // gets the send's completion code and `packets` its packet count. Returns what the peer read.
    std::string send_through(SOCKET s, std::size_t total, int& code, int& packets);

    sanport::engine e;
    sanport::completion_queue cq{e};
};

// The stream check's verdict for a stream that must arrive whole: no time-out, one packet per
// receive in posting order, and exactly pattern(total).
void check_intact(const stream_outcome& o, std::size_t total);

// SIGUSR1 to the constructing thread every 0.5 ms until destroyed, with a handler installed
// without SA_RESTART, so a system call the thread waits in returns EINTR.
class signal_storm {
public:
    signal_storm();
    ~signal_storm();
    signal_storm(const signal_storm&) = delete;
    signal_storm& operator=(const signal_storm&) = delete;
    long handled() const; // handler runs since this storm began

private:
    long at_start_ = 0;
    struct sigaction before_ {};
    std::atomic<bool> stop_{false};
    std::thread signaller_;
};

} // namespace sanport::test
