// SPDX-License-Identifier: MIT
// An overlapped connect (connect.*), ConnectEx's model, in the socket's send direction.
//
// While it is under way the socket is `connecting` and its connect op is the only op of the
// send direction (a send needs a connected socket), so cancel, close and the completion
// channels are the send direction's. A connect that came with data to send becomes that send
// in place once connected: the op stays the head, now a plain send, and completes when every
// byte is in the kernel, with that count (ConnectEx's lpdwBytesSent).
// Locking: s.mutex held throughout.
#include "core/engine_impl.hpp"
#include "core/setup_queue.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

namespace sanport::detail {

namespace {

void connect_start_once(socket_state& s) noexcept {
    io_request* r = setup_request(s, s.send, io_kind::connect);
    if (r == nullptr) return;
    r->connect = &connect_args(s.send.ops.front());
    start_request(s, s.send, *r, [&s](const io_completion& c) { connect_done(s, c); });
}

// The connect op becomes the send of its first data (capture kept in buffers()[2]).
void become_send(op& o) noexcept {
    const kernel_buffer data = o.buffers()[connect_data_slot];
    o.buffers()[0] = data;
    o.count = 1;
    o.index = 0;
    o.bytes = 0;
    o.held_back = 0;
    o.capacity = static_cast<std::uint32_t>(data.len);
}

} // namespace

int connect_post(socket_state& s, op& o) noexcept {
    s.state = conn_state::connecting;
    return post_setup_op(
        s, s.send, o, [&s] { s.engine->want_send_start(s); }, [&s] { connect_start_queued(s); });
}

void connect_start_queued(socket_state& s) noexcept {
    start_setup_op(
        s, s.send, [&s] { s.engine->want_send_start(s); }, [&s] { connect_start_once(s); });
}

void connect_done(socket_state& s, const io_completion& c) noexcept {
    s.send.in_flight = false;
    if (s.send.ops.empty()) return; // cannot happen: the head is only popped here or at close
    op& head = s.send.ops.front();
    const bool immediate = &head == s.setup_posting;
    if (c.wsa == 0) {
        // connect.deliver: connected, also when a cancel or a close came meanwhile.
        sys::finish_connect(s.handle());
        sys::prepare(s.handle());
        s.state = conn_state::connected;
        if (head.buffers()[connect_data_slot].len != 0 && !s.closing && !head.cancelled) {
            become_send(head); // connect.send-data: the rest is an ordinary send
            return send_start(s);
        }
        s.send.ops.pop_front();
        s.posting_done = immediate;
        complete_op(s, head, 0, immediate);
    } else {
        // connect.refused: the socket stays bound; a new connect may follow.
        s.state = conn_state::bound;
        s.send.ops.pop_front();
        const bool aborted = s.closing || head.cancelled || c.wsa == WSA_OPERATION_ABORTED;
        complete_op(s, head, aborted ? WSA_OPERATION_ABORTED : c.wsa, false);
    }
    if (s.closing) send_abort_queued(s);
}
} // namespace sanport::detail
