// SPDX-License-Identifier: MIT
// The per-socket FIFO of posted sends: WSPSend's mirror of recv_queue.cpp.
//
// Invariants (send.posting-order, send.gather): one kernel send in flight per socket, for the
// head op, so gathered bytes leave in posting order; an op completes only when every byte is in
// the kernel (a short send re-arms the rest); SHUT_WR reaches the kernel only after the last queued
// send (SD_SEND).
#include "core/engine_impl.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

namespace sanport::detail {

namespace {

void fail_all(socket_state& s, int wsa) noexcept {
    while (!s.send.ops.empty())
        complete_op(s, s.send.ops.pop_front(), wsa, false);
}

void shutdown_if_drained(socket_state& s) noexcept {
    if (s.wr_shutdown && !s.wr_shutdown_done && s.send.ops.empty() && !s.send.in_flight) {
        s.wr_shutdown_done = true;
        sys::shutdown_send(s.handle());
    }
}

} // namespace

int send_post(socket_state& s, op& o) noexcept {
    if (s.send_error != 0) {
        const int wsa = s.send_error;
        op_free(s, o);
        return wsa;
    }
    if (o.capacity == 0) { // nothing to send: done at once, with the usual notifications
        complete_op(s, o, 0, true);
        return 0;
    }
    s.send.ops.push_back(o);
    if (s.send.in_flight || s.send.on_caller) return WSA_IO_PENDING;
    // The common send: o is the head, on the thread that starts requests: its request goes to
    // the backend here, without send_start's layers (whose checks this one folds into one).
    if (s.state == conn_state::connected && !s.closing && !s.send.starting &&
        s.engine->starts_here()) [[likely]] {
        send_issue(s);
        return WSA_IO_PENDING;
    }
    s.engine->want_send_start(s);
    return WSA_IO_PENDING;
}

namespace {

void send_start_once(socket_state& s) noexcept;

} // namespace

void send_issue(socket_state& s) noexcept {
    io_request& r = s.send.request; // bind_requests named the socket
    r.kind = io_kind::send;
    r.flags = 0;
    op_fill_request(s.send.ops.front(), r);
    start_request(s, s.send, r, [&s](const io_completion& c) { send_done(s, c); });
}

void send_start_queued(socket_state& s) noexcept {
    if (s.state == conn_state::connecting) [[unlikely]]
        return connect_start_queued(s); // its send direction holds the connect
    // engine.other-thread.blocking: a send that finished on its caller hands what follows to
    // the engine (unless this thread may start requests itself); a shutdown that waited for it
    // needs no engine.
    if (!s.engine->starts_here()) {
        if (s.send.ops.empty()) return shutdown_if_drained(s);
        return s.engine->want_send_start(s);
    }
    start_flat(s.send, [&s] { send_start_once(s); });
}

int send_on_caller(socket_state& s, op& o, std::unique_lock<spin_mutex>& lock) noexcept {
    // Nothing is queued or in flight (the caller checked): a failed connection or an empty send
    // answers at once, exactly as send_post does.
    if (s.send_error != 0 || o.capacity == 0) return send_post(s, o);
    s.send.ops.push_back(o);
    s.send.on_caller = true;
    for (;;) {
        io_request r;
        op_fill_request(o, r);
        const SOCKET h = s.handle();
        DWORD got = 0;
        int wsa = 0;
        if (!s.closing) {
            lock.unlock();
            // The wait ends on room, an error, or the shutdown a close does.
            while ((wsa = sys::send_now(h, r.buffers, r.count, got)) == WSAEWOULDBLOCK)
                if ((wsa = sys::wait_ready(h, true)) != 0) break;
            lock.lock();
        }
        // A short send goes on here; every other outcome is send_done's, as for the ring.
        if (!s.closing && wsa == 0 && got != 0 && o.bytes + got < o.capacity) {
            op_advance(o, got);
            continue;
        }
        s.send.on_caller = false;
        send_done(s, io_completion{&s.send.request, wsa, got, false});
        return 0;
    }
}

namespace {

void send_start_once(socket_state& s) noexcept {
    s.send.start_wanted = false;
    if (s.send.in_flight || s.send.on_caller || s.closing) return;
    if (s.send.ops.empty()) return shutdown_if_drained(s);
    send_issue(s);
}

} // namespace

void send_done(socket_state& s, const io_completion& c) noexcept {
    s.send.in_flight = false;
    if (s.send.ops.empty()) return;
    op& head = s.send.ops.front();
    op_advance(head, c.bytes);
    if (s.closing) {
        s.send.ops.pop_front();
        complete_op(s, head, head.full() ? 0 : WSA_OPERATION_ABORTED, false);
        send_abort_queued(s);
        return;
    }
    // cancel.in-flight: the send ends where the cancel stopped it; what went out is reported
    // as a short success, so the caller knows exactly where the stream stands.
    if (head.cancelled && !head.full() &&
        (c.wsa == WSA_OPERATION_ABORTED || (c.wsa == 0 && c.bytes != 0))) {
        s.send.ops.pop_front();
        complete_op(s, head, head.bytes != 0 ? 0 : WSA_OPERATION_ABORTED, false);
        return send_start(s);
    }
    if (c.wsa == 0 && !head.full()) {
        if (c.bytes == 0) { // the kernel took nothing and said nothing: treat as a reset peer
            s.send_error = WSAECONNRESET;
            fail_all(s, s.send_error);
            return;
        }
        return send_start(s);
    }
    if (c.wsa == 0) {
        s.send.ops.pop_front();
        if (!complete_in_sink(s, head, 0)) complete_op(s, head, 0, false);
        return send_start(s);
    }
    if (c.wsa == WSAEFAULT || c.wsa == WSAEINVAL || c.wsa == WSAENOBUFS) {
        s.send.ops.pop_front();
        complete_op(s, head, c.wsa, false);
        return send_start(s);
    }
    // send.peer.reset, send.shutdown: after SD_SEND the kernel says EPIPE: that is our own
    // shutdown, not a broken connection.
    s.send_error = s.wr_shutdown_done ? WSAESHUTDOWN : connection_error(s, c.wsa);
    if (s.send_error != WSAESHUTDOWN) s.failed_under_send = s.send_error;
    fail_all(s, s.send_error);
}

void send_abort_queued(socket_state& s) noexcept {
    op_fifo keep;
    // A head served on its caller stays too: that thread still sends it (the close wakes it).
    if ((s.send.in_flight || s.send.on_caller) && !s.send.ops.empty())
        keep.push_back(s.send.ops.pop_front());
    while (!s.send.ops.empty())
        complete_op(s, s.send.ops.pop_front(), WSA_OPERATION_ABORTED, false);
    s.send.ops = keep;
}

} // namespace sanport::detail
