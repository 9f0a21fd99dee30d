// SPDX-License-Identifier: MIT
// The per-socket FIFO of posted receives.
//
// Invariants: bytes enter ops strictly in posting order; at most one kernel receive per socket
// is in flight, always into the head op (or a 1-byte probe for a zero-byte head, or the
// read-ahead buffer when nothing is posted). recv.posting-order: io_uring does not order several
// receives on one stream socket, and links do not fix it (docs/design.md, "Ordering"): this
// file does.
// Locking: every function runs with s.mutex held; start/done run on the engine thread.
#include "core/engine_impl.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <algorithm>
#include <cstring>

namespace sanport::detail {

read_ahead_ptr make_read_ahead(std::uint32_t size) noexcept {
    void* raw = ::operator new(sizeof(read_ahead) + size, std::nothrow);
    if (raw == nullptr) return {};
    read_ahead_ptr ra(new (raw) read_ahead);
    ra->size = size;
    return ra;
}

void read_ahead_deleter::operator()(read_ahead* ra) const noexcept {
    ra->~read_ahead();
    ::operator delete(static_cast<void*>(ra));
}

namespace {

// recv.zero-byte: the 1-byte MSG_PEEK that waits for data lands here, for every socket. Nobody
// reads the byte (only the count says something), so one process-wide byte serves them all.
// Only the kernel writes it (an io_uring or IOCP request); a backend that peeks with recv(2)
// on its own thread peeks into a byte of its own (asio_backend::attempt).
char probe_sink = 0;
constinit const kernel_buffer probe_buffer = make_kernel_buffer(&probe_sink, 1);

// The specification: "The SAN service provider places incoming data into buffers until ... the SAN
// service provider exhausts internally buffered data."
void serve_from_read_ahead(socket_state& s, op& o) noexcept {
    const bool peek = (o.flags & MSG_PEEK) != 0;
    read_ahead& ra = s.ra();
    const std::uint32_t n = op_copy_in(o, ra.data() + ra.begin, ra.available(), peek);
    if (!peek) {
        ra.begin += n;
        // Rewind only when no kernel read targets the buffer's end: an in-flight read-ahead
        // request was pointed at `end` and will append there (recv_start compacts later).
        const bool ra_in_flight = s.recv.in_flight && s.recv_target_kind == recv_target::read_ahead;
        if (ra.begin == ra.end && !ra_in_flight) ra.begin = ra.end = 0;
    }
}

// A receive posted while none is queued takes what read-ahead holds. True when that finished o
// (completed at once and recycled); false when read-ahead was empty, or when a MSG_WAITALL
// receive still has room (it keeps the bytes and the caller queues it). A stream that already
// ended or failed is recv_post's business, not this function's.
bool finish_early(socket_state& s, op& o) noexcept {
    if (s.ra_available() != 0) {
        serve_from_read_ahead(s, o);
        if (o.wants_all() && !o.full()) return false;
        complete_op(s, o, 0, true);
        return true;
    }
    return false;
}

// The stream ended or failed: a partly filled op keeps what it got (MSG_WAITALL), and the end
// or the error goes to the next receive; every queued receive completes once.
void finish_all_at_end(socket_state& s) noexcept {
    while (!s.recv.ops.empty()) {
        op& o = s.recv.ops.pop_front();
        if (o.bytes != 0)
            complete_op(s, o, 0, false);
        else if (s.recv_error != 0)
            complete_op(s, o, s.recv_error, false);
        else
            complete_op(s, o, s.report_disconnect ? WSAEDISCON : 0, false);
    }
}

void fail_connection(socket_state& s, int wsa) noexcept {
    s.recv_error = connection_error(s, wsa);
    // After a reset the send direction fails too, as on Windows.
    if (s.send_error == 0) s.send_error = s.recv_error;
    finish_all_at_end(s);
}

// The kernel said 0 bytes: the end of the stream, unless the send side already learnt that
// the connection failed (time-out, reset), in which case the receive side fails the same way.
void end_of_stream(socket_state& s) noexcept {
    if (s.failed_under_send != 0) return fail_connection(s, s.failed_under_send);
    s.eof = true;
    finish_all_at_end(s);
}

// n bytes of a completion landed in the head. A peek reports them without moving the cursor
// (recv.peek: the bytes stay in the kernel).
void take_bytes(op& head, std::uint32_t n) noexcept {
    if (head.flags & MSG_PEEK) {
        op_advance(head, 0);
        head.bytes = n;
    } else {
        op_advance(head, n);
    }
}

bool is_request_local(int wsa) noexcept {
    // Faults of this request's buffers; the connection lives on.
    return wsa == WSAEFAULT || wsa == WSAEINVAL || wsa == WSAENOBUFS;
}

// Hand queued ops the read-ahead bytes, in posting order.
void drain_read_ahead(socket_state& s) noexcept {
    while (!s.recv.ops.empty() && s.ra_available() != 0) {
        op& o = s.recv.ops.front();
        serve_from_read_ahead(s, o);
        if (o.wants_all() && !o.full()) return;
        s.recv.ops.pop_front();
        complete_op(s, o, 0, false);
    }
}

} // namespace

int recv_post(socket_state& s, op& o) noexcept {
    if (s.recv.ops.empty()) {
        if (finish_early(s, o)) return 0;
        if (o.bytes == 0) {
            // recv.peer.reset: as on Windows, after a reset every later receive fails at once and
            // queues no packet.
            if (s.recv_error != 0) {
                op_free(s, o);
                return s.recv_error;
            }
            if (s.eof) {
                // recv.peer.reset-after-end: data sent after the peer's end of stream drew a
                // reset; Windows then fails every later receive with WSAECONNABORTED. A rare
                // path: one getsockopt per receive after the end, none before.
                if (s.failed_under_send != 0 || sys::pending_error(s.handle()) != 0) {
                    s.recv_error = WSAECONNABORTED;
                    if (s.send_error == 0) s.send_error = WSAECONNABORTED;
                    op_free(s, o);
                    return WSAECONNABORTED;
                }
                if (s.report_disconnect) {
                    op_free(s, o);
                    return WSAEDISCON;
                }
                complete_op(s, o, 0, true); // recv.peer.close: stream end is 0 bytes, every time
                return 0;
            }
        } else if (s.eof || s.recv_error != 0) {
            complete_op(s, o, 0, true); // MSG_WAITALL got what read-ahead held, then the end
            return 0;
        }
    }
    const bool head = s.recv.ops.empty();
    s.recv.ops.push_back(o);
    if (s.recv.in_flight || s.recv.on_caller) return WSA_IO_PENDING;
    if (!s.engine->starts_here()) {
        s.engine->want_recv_start(s);
        return WSA_IO_PENDING;
    }
    // recv.immediate: the specification's "If no error occurs and the receive operation has
    // completed immediately, WSPRecv returns a value of zero." The backend may finish the op
    // inside recv_start.
    o.posting = true;
    s.posting_done = false;
    // The common receive: o is the head of a connected socket with nothing read ahead; its
    // request goes to the backend here, without recv_start's layers.
    if (head && s.state == conn_state::connected && !s.closing && !s.recv.starting &&
        o.capacity != 0 && s.ra_available() == 0) [[likely]]
        recv_issue(s);
    else
        recv_start(s);
    o.posting = false; // o may be recycled already: still this socket's, under its lock
    return s.posting_done ? 0 : WSA_IO_PENDING;
}

namespace {

void recv_start_once(socket_state& s) noexcept;

} // namespace

void recv_start_queued(socket_state& s) noexcept {
    if (s.state == conn_state::listening) [[unlikely]]
        return accept_start_queued(s); // its receive direction holds accepts
    // engine.other-thread.blocking: a receive that finished on its caller hands what follows
    // to the engine (unless this thread may start requests itself).
    if (!s.engine->starts_here()) {
        if (!s.recv.ops.empty() || s.read_ahead_on) s.engine->want_recv_start(s);
        return;
    }
    start_flat(s.recv, [&s] { recv_start_once(s); });
}

int recv_on_caller(socket_state& s, op& o, std::unique_lock<spin_mutex>& lock) noexcept {
    // Nothing is queued, in flight or read ahead (the caller checked): a stream that already
    // ended or failed answers at once, exactly as recv_post does.
    if (s.eof || s.recv_error != 0) return recv_post(s, o);
    s.recv.ops.push_back(o);
    s.recv.on_caller = true;
    const bool probe = o.capacity == 0; // recv.zero-byte: wait with a 1-byte peek
    // This thread's own byte: here the peek is a recv(2) on the calling thread, and two such
    // calls writing one shared byte would be a data race to ThreadSanitizer.
    char peeked = 0;
    const kernel_buffer own_probe = make_kernel_buffer(&peeked, 1);
    for (;;) {
        io_request r;
        if (probe) {
            r.buffers = &own_probe;
            r.count = 1;
        } else {
            op_fill_request(o, r);
        }
        const DWORD flags = probe ? DWORD{MSG_PEEK} : o.flags & MSG_PEEK;
        const SOCKET h = s.handle();
        DWORD got = 0;
        int wsa = 0;
        if (!s.closing) {
            lock.unlock();
            // The wait ends on data, the end, an error, or the shutdown a close does.
            while ((wsa = sys::recv_now(h, r.buffers, r.count, flags, got)) == WSAEWOULDBLOCK)
                if ((wsa = sys::wait_ready(h, false)) != 0) break;
            lock.lock();
        }
        // MSG_WAITALL goes on here; every other outcome is recv_done's, as for the ring.
        if (!s.closing && wsa == 0 && got != 0 && o.wants_all() && o.bytes + got < o.capacity) {
            op_advance(o, got);
            continue;
        }
        s.recv.on_caller = false;
        s.recv_target_kind = probe ? recv_target::probe : recv_target::head;
        recv_done(s, io_completion{&s.recv.request, wsa, got, false});
        return 0;
    }
}

namespace {

void recv_start_once(socket_state& s) noexcept {
    s.recv.start_wanted = false;
    if (s.recv.in_flight || s.recv.on_caller || s.closing) return;
    io_request& r = s.recv.request; // bind_requests named the socket
    if (!s.recv.ops.empty()) {
        if (s.ra_available() != 0) { // read-ahead landed after this op was queued
            drain_read_ahead(s);
            if (s.recv.ops.empty()) return recv_start(s);
        }
        // Read after the drain, which may have completed the op that was the head.
        if (s.recv.ops.front().capacity == 0) {
            // recv.zero-byte: the kernel answers a zero-length read with 0 both on data and
            // at EOF, so wait with a 1-byte peek instead (1 = readable, 0 = end of stream).
            r.kind = io_kind::recv_probe;
            r.buffers = &probe_buffer;
            r.count = 1;
            r.flags = MSG_PEEK;
            r.fixed_slot = -1;
            s.recv_target_kind = recv_target::probe;
        } else {
            return recv_issue(s);
        }
    } else if (s.read_ahead_on && !s.eof && s.recv_error == 0 && !s.rd_shutdown &&
               s.ra_available() < s.read_ahead_capacity()) {
        socket_extras& x = *s.extras; // read_ahead_on: set_socket_mode made it
        if (!x.ra) {
            x.ra = make_read_ahead(x.read_ahead_capacity);
            if (!x.ra) return;
            s.has_read_ahead = true;
        }
        read_ahead& ra = *x.ra;
        if (ra.begin != 0) {
            std::memmove(ra.data(), ra.data() + ra.begin, ra.available());
            ra.end -= ra.begin;
            ra.begin = 0;
        }
        ra.request_buffer = make_kernel_buffer(ra.data() + ra.end, ra.size - ra.end);
        r.kind = io_kind::recv;
        r.buffers = &ra.request_buffer;
        r.count = 1;
        r.flags = 0;
        r.fixed_slot = -1;
        s.recv_target_kind = recv_target::read_ahead;
    } else {
        return;
    }
    start_request(s, s.recv, r, [&s](const io_completion& c) { recv_done(s, c); });
}

} // namespace

void recv_issue(socket_state& s) noexcept {
    op& head = s.recv.ops.front();
    io_request& r = s.recv.request; // bind_requests named the socket
    op_fill_request(head, r);
    r.kind = io_kind::recv;
    r.flags = head.flags & MSG_PEEK;
    s.recv_target_kind = recv_target::head;
    start_request(s, s.recv, r, [&s](const io_completion& c) { recv_done(s, c); });
}

void recv_done(socket_state& s, const io_completion& c) noexcept {
    s.recv.in_flight = false;
    const recv_target target = s.recv_target_kind;
    if (s.closing) {
        // A completion after the close began (ECANCELED, 0 bytes from a shutdown) is never read
        // as end of stream or reset; bytes the kernel already placed are never dropped.
        if (target == recv_target::head && !s.recv.ops.empty()) {
            op& head = s.recv.ops.front();
            take_bytes(head, c.bytes);
            s.recv.ops.pop_front();
            complete_op(s, head, head.bytes != 0 ? 0 : WSA_OPERATION_ABORTED, false);
        }
        recv_abort_queued(s);
        return;
    }
    if (target == recv_target::read_ahead) {
        if (c.wsa == 0 && c.bytes != 0) {
            s.ra().end += c.bytes;
            drain_read_ahead(s);
        } else if (c.wsa == 0 && s.failed_under_send != 0) {
            if (s.ra_available() == 0)
                fail_connection(s, s.failed_under_send);
            else
                s.recv_error = s.failed_under_send;
        } else if (c.wsa == 0) {
            s.eof = true;
            if (s.ra_available() == 0) finish_all_at_end(s);
        } else if (c.wsa != WSA_OPERATION_ABORTED && !is_request_local(c.wsa)) {
            if (s.ra_available() == 0)
                fail_connection(s, c.wsa);
            else
                s.recv_error = connection_error(s, c.wsa);
        }
        return recv_start(s);
    }
    if (s.recv.ops.empty()) return; // cannot happen: the head is only popped here or at close
    op& head = s.recv.ops.front();
    if (target == recv_target::probe) {
        if (c.wsa == 0 && c.bytes != 0) {
            s.recv.ops.pop_front();
            complete_op(s, head, 0, false); // data is there; none of it consumed
        } else if (c.wsa == 0) {
            end_of_stream(s);
        } else if (c.wsa == WSA_OPERATION_ABORTED || is_request_local(c.wsa)) {
            s.recv.ops.pop_front();
            complete_op(s, head, c.wsa, false);
        } else {
            fail_connection(s, c.wsa);
        }
        return recv_start(s);
    }
    if (c.wsa == 0 && c.bytes != 0) {
        take_bytes(head, c.bytes);
        // The specification: "Regardless of whether the incoming data fills all the buffers, the
        // SAN service provider signals a completion event" -- recv.waitall (depart.waitall) is the
        // one exception.
        // cancel.in-flight: a cancelled MSG_WAITALL receive ends with what it got.
        if (head.wants_all() && !head.full() && !head.cancelled) return recv_start(s);
        s.recv.ops.pop_front();
        const bool immediate = head.posting; // still inside its own WSPRecv
        s.posting_done = immediate;
        if (immediate || !complete_in_sink(s, head, 0)) complete_op(s, head, 0, immediate);
        return recv_start(s);
    }
    if (c.wsa == 0) return end_of_stream(s);
    if (c.wsa == WSA_OPERATION_ABORTED || is_request_local(c.wsa)) {
        // cancel.in-flight: bytes the request moved before the cancel stopped it (IOCP reports
        // them with the abort) are in the buffers and gone from the stream: they are kept.
        take_bytes(head, c.wsa == WSA_OPERATION_ABORTED ? c.bytes : 0);
        s.recv.ops.pop_front();
        complete_op(s, head, head.bytes != 0 ? 0 : c.wsa, false);
        return recv_start(s);
    }
    op_advance(head, 0); // restore a trimmed entry; the bytes so far stay reported
    fail_connection(s, c.wsa);
}

void recv_abort_queued(socket_state& s) noexcept {
    // close.pending.abort: the specification's "WSA_OPERATION_ABORTED: The overlapped operation
    // was canceled because the socket was closed." The head stays while the kernel still holds
    // it.
    op_fifo keep;
    // A head served on its caller stays too: that thread still fills it (the close wakes it).
    if ((head_in_kernel(s, s.recv) || s.recv.on_caller) && !s.recv.ops.empty())
        keep.push_back(s.recv.ops.pop_front());
    while (!s.recv.ops.empty()) {
        op& o = s.recv.ops.pop_front();
        complete_op(s, o, o.bytes != 0 ? 0 : WSA_OPERATION_ABORTED, false);
    }
    s.recv.ops = keep;
}

} // namespace sanport::detail
