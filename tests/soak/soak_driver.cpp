// SPDX-License-Identifier: MIT
// sanport_soak: the completion-queue loop. One thread owns every endpoint's bookkeeping: it
// keeps 1..8 receives (each a random WSABUF array of 1..16 entries, some empty, up to 64 KiB,
// now and then MSG_WAITALL or a zero-byte receive) and 1..4 sends (chunks of the endpoint's
// stream) posted, takes each result exactly once (a packet, or the call's own result on a
// skip-on-success socket), verifies the receives in POSTING order against the peer's stream,
// half-closes an end whose byte budget is spent and closes ends whose both directions are over.
// Allowed results: success, WSA_OPERATION_ABORTED after a local close, WSAECONNRESET /
// WSAECONNABORTED after the peer was closed or reset mid-stream, a 0-byte end after the whole
// stream (or after such a peer). Everything else is an error.
#include "tests/soak/soak_driver.hpp"

#include <algorithm>
#include <cstring>

namespace soak {

void driver::run() {
    completion_entry batch[64];
    steady::time_point last_sweep = steady::now(), last_stall_check = last_sweep;
    while (!acq(sh_.stop_loop)) {
        sh_.loop_act.set("completion_queue::dequeue");
        const std::size_t n = sh_.cq->dequeue(batch, std::size(batch), dirty_.empty() ? 5 : 0);
        sh_.loop_act.set("fd guard (shared)");
        sh_.guard.lock_shared();
        sh_.loop_act.set("processing completions");
        adopt();
        for (std::size_t i = 0; i < n; ++i)
            on_packet(batch[i]);
        flush();
        const steady::time_point now = steady::now();
        if (n == 0 || now - last_sweep > std::chrono::milliseconds(2)) {
            sweep();
            last_sweep = now;
        }
        if (now - last_stall_check > std::chrono::seconds(1)) {
            stall_check(now);
            last_stall_check = now;
        }
        sh_.guard.unlock_shared();
        graveyard_.clear();
    }
    finish();
    sh_.loop_act.set("done");
    sh_.loop_done.store(true, std::memory_order_release);
}

// Processes the endpoints marked so far; ones marked meanwhile wait for the next round, so
// a socket whose receives keep completing at once cannot starve the queue.
void driver::flush() {
    std::vector<endpoint*> now;
    now.swap(dirty_);
    for (endpoint* ep : now)
        ep->dirty = false;
    for (endpoint* ep : now)
        process(*ep);
}

void driver::adopt() {
    std::vector<std::shared_ptr<connection>> fresh;
    {
        std::lock_guard lk(sh_.reg_mu);
        fresh.swap(sh_.inbox);
    }
    for (auto& c : fresh) {
        conns_[c->id] = c;
        for (endpoint& ep : c->ep) {
            eps_[ep.id] = &ep;
            ep.last_progress = steady::now();
            mark(ep);
        }
    }
}

void driver::on_packet(const completion_entry& e) {
    auto it = eps_.find(e.key);
    if (it == eps_.end()) {
        const bool known = e.key < 2 * sh_.next_conn.load(std::memory_order_relaxed);
        report_error(sh_, known ? "a packet for key " + std::to_string(e.key) +
                                      " whose socket already retired with every operation "
                                      "completed: a second completion"
                                : "a packet with an unknown key " + std::to_string(e.key));
        return;
    }
    endpoint& ep = *it->second;
    op* o = nullptr;
    for (op& x : ep.recvs)
        if (&x.ov == e.overlapped) o = &x;
    for (op& x : ep.sends)
        if (&x.ov == e.overlapped) o = &x;
    if (!o) return err(ep, "a packet for an overlapped that is none of this socket's");
    const std::string which = std::string(o->is_send ? "send" : "receive");
    if (!o->outstanding) return err(ep, "a second completion (or one never posted) for a " + which);
    if (o->skip_packet)
        return err(ep, "a packet for a " + which +
                           " that completed at once on a skip-on-success socket");
    if (internal_of(o->ov) == in_progress) // a late second packet of an earlier use
        return err(ep, "a packet for a " + which +
                           " whose Internal is still WSS_OPERATION_IN_PROGRESS");
    if (o->ov.InternalHigh != e.bytes || static_cast<int>(o->ov.OffsetHigh) != e.status)
        err(ep, "a packet unlike the WSAOVERLAPPED result");
    if (o->immediate && o->imm_bytes != e.bytes)
        err(ep, "a packet unlike the immediate result of the " + which);
    take(ep, *o, e.bytes, e.status);
}

void driver::take(endpoint& ep, op& o, DWORD bytes, int status) {
    o.outstanding = false;
    o.bytes = bytes;
    o.status = status;
    ep.last_progress = steady::now();
    sh_.progress.fetch_add(1, std::memory_order_relaxed);
    if (o.is_send) {
        count(sh_.st.send_completed);
        send_result(ep, o);
    } else {
        count(sh_.st.recv_completed);
        o.done = true;
    }
    mark(ep);
}

void driver::process(endpoint& ep) {
    if (ep.retired) return;
    advance(ep);
    refill(ep);
    advance(ep);
    maybe_close(ep);
    if (acq(ep.closed) && !ep.close_checked) check_closed(ep);
    maybe_retire(ep);
}

void driver::maybe_close(endpoint& ep) {
    if (acq(ep.close_claimed)) return;
    const bool final_phase = acq(sh_.stop_loop);
    if (!final_phase && !ep.rx_broken) {
        if (!(ep.rx_stop || ep.rx_ended) || !ep.recv_order.empty()) return;
        bool shut = false;
        {
            std::lock_guard lk(ep.send_mu);
            shut = ep.send_shut;
        }
        bool sends_out = false;
        for (op& o : ep.sends)
            sends_out = sends_out || o.outstanding;
        const bool tx_done = shut && !sends_out;
        if (!tx_done && !ep.tx_failed && !acq(ep.peer->abnormal)) return;
        if (tx_done && !ep.tx_failed && ep.rx_ended) {
            if (close_endpoint(sh_, ep, false, false, sh_.loop_act)) count(sh_.st.graceful);
            mark(*ep.peer);
            return;
        }
    }
    close_endpoint(sh_, ep, false, true, sh_.loop_act);
    mark(*ep.peer);
}

// WSPCloseSocket has returned: nothing of ep may be pending any more.
void driver::check_closed(endpoint& ep) {
    ep.close_checked = true;
    for (op* set : {ep.recvs.data(), ep.sends.data()}) {
        const std::size_t n = set == ep.recvs.data() ? ep.recvs.size() : ep.sends.size();
        for (std::size_t i = 0; i < n; ++i)
            if (set[i].outstanding && internal_of(set[i].ov) == in_progress)
                err(ep, std::string("a ") + (set[i].is_send ? "send" : "receive") +
                            " is still pending after WSPCloseSocket returned");
    }
}

void driver::maybe_retire(endpoint& ep) {
    if (!ep.close_checked || !ep.recv_order.empty()) return;
    for (op& o : ep.recvs)
        if (o.outstanding) return;
    for (op& o : ep.sends)
        if (o.outstanding) return;
    ep.retired = true;
    eps_.erase(ep.id);
    if (ep.dirty) { // its memory may go with the batch's graveyard
        dirty_.erase(std::find(dirty_.begin(), dirty_.end(), &ep));
        ep.dirty = false;
    }
    connection& c = *ep.conn;
    if (++c.retired < 2) return;
    count(sh_.st.closed);
    auto it = conns_.find(c.id);
    graveyard_.push_back(it->second);
    conns_.erase(it);
    std::lock_guard lk(sh_.reg_mu);
    auto& live = sh_.live;
    live.erase(std::remove(live.begin(), live.end(), graveyard_.back()), live.end());
}

void driver::sweep() {
    std::vector<endpoint*> all;
    all.reserve(eps_.size());
    for (auto& [key, ep] : eps_)
        all.push_back(ep);
    for (endpoint* ep : all)
        mark(*ep);
    flush();
}

void driver::stall_check(steady::time_point now) {
    for (auto& [key, ep] : eps_) {
        if (now - ep->last_progress < std::chrono::seconds(stall_limit_s)) continue;
        std::size_t recvs = 0, sends = 0;
        for (op& o : ep->recvs)
            recvs += o.outstanding;
        for (op& o : ep->sends)
            sends += o.outstanding;
        fatal_stall(sh_, name(*ep) + " made no progress for " + std::to_string(stall_limit_s) +
                             " s: " + std::to_string(recvs) + " receives and " +
                             std::to_string(sends) + " sends outstanding, " +
                             std::to_string(ep->verified) +
                             " bytes verified, rx_ended=" + std::to_string(ep->rx_ended) +
                             " closing=" + std::to_string(acq(ep->closing)) +
                             " closed=" + std::to_string(acq(ep->closed)) +
                             " peer closed=" + std::to_string(acq(ep->peer->closed)));
    }
}

// Close everything, drain the queue, and check that every operation completed exactly once.
void driver::finish() {
    sh_.loop_act.set("final close");
    sh_.guard.lock_shared();
    adopt();
    for (auto& [key, ep] : eps_)
        ep->abnormal.store(true, std::memory_order_release);
    sweep();
    sh_.guard.unlock_shared();
    sh_.loop_act.set("final drain");
    completion_entry batch[64];
    const steady::time_point until = steady::now() + std::chrono::seconds(stall_limit_s);
    while (!eps_.empty() && steady::now() < until) {
        const std::size_t n = sh_.cq->dequeue(batch, std::size(batch), 10);
        for (std::size_t i = 0; i < n; ++i)
            on_packet(batch[i]);
        flush();
        sweep();
    }
    if (!eps_.empty())
        fatal_stall(sh_, std::to_string(eps_.size()) +
                             " sockets still have operations without a completion after "
                             "every WSPCloseSocket returned (final drain)");
    // Nothing more may come: a late second completion would show up here.
    sh_.loop_act.set("final quiet period");
    const steady::time_point quiet = steady::now() + std::chrono::milliseconds(300);
    while (steady::now() < quiet) {
        const std::size_t n = sh_.cq->dequeue(batch, std::size(batch), 20);
        for (std::size_t i = 0; i < n; ++i)
            on_packet(batch[i]);
    }
    graveyard_.clear();
}

void run_loop(shared_state& sh) {
    driver d(sh);
    d.run();
}

} // namespace soak
