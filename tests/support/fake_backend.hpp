// SPDX-License-Identifier: MIT
// A deterministic backend for the core's unit tests: start() only records the request; the
// test script then decides what the "kernel" did (data in any segmentation, FIN, RST, a
// cancel that races with data) and reap() hands those results back, exactly once each.
#pragma once

#include "core/backend.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sanport::test {

class fake_backend final : public detail::backend {
public:
    const char* name() const noexcept override { return "fake"; }
    int bind_thread() noexcept override { return 0; }
    int attach(SOCKET, void*& backend_socket) noexcept override {
        backend_socket = nullptr;
        ++attached;
        return 0;
    }
    void detach(SOCKET, void*) noexcept override { ++detached; }
    bool start(detail::io_request& request, detail::io_completion& done) noexcept override;
    void cancel(SOCKET s, void*, detail::io_request&, detail::io_request&) noexcept override;
    void cancel_request(detail::io_request& request) noexcept override;
    std::size_t max_regions() const noexcept override { return 8; }
    bool add_region(std::int32_t slot, void*, std::size_t) noexcept override;
    void remove_region(std::int32_t slot) noexcept override;
    std::size_t reap(detail::io_completion* out, std::size_t max, int timeout_ms) noexcept override;
    void wake() noexcept override { ++wakes; }

    // ---- the script ----
    // The started receive of s (or nullptr).
    detail::io_request* started_recv(SOCKET s) noexcept;
    detail::io_request* started_send(SOCKET s) noexcept;
    // The kernel fills the started receive of s with (a prefix of) data; returns bytes placed.
    std::uint32_t deliver(SOCKET s, std::string_view data);
    void deliver_eof(SOCKET s);            // the receive returns 0
    void deliver_error(SOCKET s, int wsa); // the receive fails with wsa
    void finish_send(SOCKET s, std::uint32_t bytes, int wsa = 0);
    // Next cancel() or cancel_request() lets the receive win the race with these bytes instead of
    // aborting.
    void cancel_races_with(std::string_view data) { race_data = std::string(data); }
    // Next cancel_request() of a receive places these bytes and still reports the abort, as
    // IOCP does for a request that moved bytes before the cancel reached it.
    void cancel_aborts_after(std::string_view data) { abort_data = std::string(data); }
    // Called at the start of every cancel() and cancel_request(), before anything is finished: lets
    // a test look at what the core did before it asked for the cancel (runs with the socket's mutex
    // held).
    std::function<void(SOCKET)> on_cancel;

    std::vector<detail::io_request*> started; // every start(), in order
    std::deque<detail::io_completion> ready;  // what reap() returns next
    std::vector<std::int32_t> live_regions;
    std::string race_data;
    std::string abort_data;
    int attached = 0, detached = 0, wakes = 0, cancels = 0, request_cancels = 0;
    int inline_next = 0; // the next this many sends finish inside start(), all bytes moved
    std::uint32_t max_in_flight_per_socket_dir = 0;

private:
    void finish(detail::io_request* r, int wsa, std::uint32_t bytes);
    std::uint32_t place(detail::io_request& r, std::string_view data); // copy into r's buffers
    // A cancelled request in flight finishes: with race_data (a receive that won), with
    // abort_data (an abort that moved bytes), or aborted with nothing.
    void stop(detail::io_request& r);
    std::vector<detail::io_request*> in_flight_;
};

// ---- a driven engine over the fake, for the core's unit tests ----
// One WSPRecv/WSPSend posted by a test: its WSAOVERLAPPED, buffers and out-parameters.
struct posted {
    WSAOVERLAPPED ov{};
    std::vector<char> mem;
    std::vector<WSABUF> bufs;
    DWORD bytes = 0xdeadbeef; // the call's count out-parameter (left alone while pending)
    DWORD flags = 0;
    int err = 0;
    int rc = 0;

    bool pending() const; // Internal == WSS_OPERATION_IN_PROGRESS
    bool pending_result() const { return rc == SOCKET_ERROR && err == WSA_IO_PENDING; }
    int status() const { return static_cast<int>(ov.OffsetHigh); }
    DWORD count() const { return static_cast<DWORD>(ov.InternalHigh); }
    std::string got() const;        // the first count() bytes across bufs, in array order
    bool owns(const void* p) const; // p lies in this operation's memory
};

inline bool is_pending_result(const posted& p) {
    return p.pending_result();
}

// A driven engine over a fake_backend; connected OS socket pairs (os_pair.hpp) adopted into it (the
// fake never touches the descriptors). The first run_once binds the constructing thread as the
// engine thread. Every posted operation lives in the rig and outlives the engine, whose
// destructor closes what is still open (so each operation still completes exactly once).
class fake_rig {
public:
    fake_backend* fake = nullptr;

private:
    std::deque<std::unique_ptr<posted>> ops_; // declared before e: destroyed after it
    std::vector<SOCKET> peers_;               // the plain OS ends of the pairs

public:
    sanport::engine e;

    fake_rig();
    ~fake_rig();
    fake_rig(const fake_rig&) = delete;
    fake_rig& operator=(const fake_rig&) = delete;

    // A connected stream socket under sanport, or INVALID_SOCKET (err says why).
    SOCKET open(int& err, DWORD flags = WSA_FLAG_OVERLAPPED);
    // The same, for tests whose socket must open: a failure ends the test case (doctest).
    SOCKET open();
    // Fresh buffers of these lengths (0 allowed: a zero-length entry with a NULL buf).
    posted& fresh(const std::vector<ULONG>& lens, WSAEVENT event = nullptr);
    // WSPRecv over fresh buffers; WSPSend of data in one buffer.
    posted& recv(SOCKET s, const std::vector<ULONG>& lens, DWORD flags = 0,
                 WSAEVENT event = nullptr);
    posted& send(SOCKET s, std::string_view data, WSAEVENT event = nullptr);
    // Dispatch what the script made ready.
    void run() { e.run_once(0); }
};

// Every packet the queue holds now (polls; drives the engine once).
std::vector<completion_entry> drain(completion_queue& cq);
// The event is signalled (polls).
bool signalled(WSAEVENT event);

// The names the core's unit tests use unqualified (`using namespace ...unit_names;`).
namespace unit_names {
using sanport::test::drain;
using sanport::test::is_pending_result;
using sanport::test::posted;
using sanport::test::signalled;
using rig = sanport::test::fake_rig;
} // namespace unit_names

} // namespace sanport::test
