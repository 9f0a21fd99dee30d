// SPDX-License-Identifier: MIT
// sanport_soak: the completion-queue loop's class (private to soak_driver.cpp and soak_ops.cpp).
// One thread owns every endpoint's bookkeeping; see soak_driver.cpp for what it checks.
#pragma once

#include "tests/soak/soak.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace soak {

using namespace sanport;

inline constexpr ULONG_PTR in_progress = static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS);

inline ULONG_PTR internal_of(const WSAOVERLAPPED& ov) {
    return std::atomic_ref<ULONG_PTR>(const_cast<ULONG_PTR&>(ov.Internal))
        .load(std::memory_order_acquire);
}
inline bool conn_error(int code) {
    return code == WSAECONNRESET || code == WSAECONNABORTED;
}
inline bool acq(const std::atomic<bool>& b) {
    return b.load(std::memory_order_acquire);
}
inline void count(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
}

class driver {
public:
    explicit driver(shared_state& sh) : sh_(sh) {}

    void run();

private:
    shared_state& sh_;
    std::unordered_map<std::uint64_t, endpoint*> eps_;
    std::unordered_map<std::uint64_t, std::shared_ptr<connection>> conns_;
    std::vector<endpoint*> dirty_;
    std::vector<std::shared_ptr<connection>> graveyard_; // freed after the batch

    std::string name(const endpoint& ep) const {
        return "connection " + std::to_string(ep.conn->id) + " side " + std::to_string(ep.side);
    }
    void err(endpoint& ep, const std::string& what) {
        report_error(sh_, name(ep) + ": " + what + " [verified " + std::to_string(ep.verified) +
                              ", closing=" + std::to_string(acq(ep.closing)) +
                              ", peer abnormal=" + std::to_string(acq(ep.peer->abnormal)) + "]");
    }
    void mark(endpoint& ep) {
        if (!ep.dirty && !ep.retired) {
            ep.dirty = true;
            dirty_.push_back(&ep);
        }
    }
    // Processes the endpoints marked so far; ones marked meanwhile wait for the next round, so
    // a socket whose receives keep completing at once cannot starve the queue.
    void flush();

    void adopt();

    // ---- posting ------------------------------------------------------------------------------

    // Posts o as a receive; false when the call refused it.
    bool post_recv(endpoint& ep, op& o);

    // Posts o as the next chunk of ep's stream; false when the call refused it or it is shut.
    bool post_send(endpoint& ep, op& o);

    bool refused(endpoint& ep, bool is_send, int e);

    // The call returned 0: its result is set already; a packet follows unless skip-on-success.
    void immediate(endpoint& ep, op& o, DWORD bytes);

    // Keeps ep's receives and sends posted.
    void refill(endpoint& ep);

    // ---- results ------------------------------------------------------------------------------

    void on_packet(const completion_entry& e);

    void take(endpoint& ep, op& o, DWORD bytes, int status);

    void send_result(endpoint& ep, op& o);

    // Takes the receives at the head of the posting order while their results are in.
    void advance(endpoint& ep);

    void verify(endpoint& ep, op& o);

    void end_of_stream(endpoint& ep, bool peer_ab);

    // ---- closing and retiring ------------------------------------------------------------------

    void process(endpoint& ep);

    void maybe_close(endpoint& ep);

    // WSPCloseSocket has returned: nothing of ep may be pending any more.
    void check_closed(endpoint& ep);

    void maybe_retire(endpoint& ep);

    void sweep();

    void stall_check(steady::time_point now);

    // Close everything, drain the queue, and check that every operation completed exactly once.
    void finish();
};

} // namespace soak
