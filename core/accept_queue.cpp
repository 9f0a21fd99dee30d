// SPDX-License-Identifier: MIT
// The per-listener FIFO of posted accepts (accept.*), AcceptEx's model.
//
// A listening socket never receives, so its receive direction carries its accepts: the same
// FIFO, the same one request in the kernel, and with them WSPCancelIoEx, WSPCloseSocket's
// abort and the completion channels of every other operation. Accepts complete in posting
// order. A connection the kernel handed over is never dropped: it goes into the accept socket
// even when the accept was being cancelled (or its listener closed) at that moment, and is
// closed only when its accept socket is gone.
// Locking: s.mutex (the listener's) held throughout; an accept socket's mutex is taken inside
// it, never the other way round (an accept socket is never a listener).
#include "core/completion_queue_impl.hpp"
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/setup_queue.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <cstring>
#include <new>

namespace sanport::detail {

namespace {

void accept_start_once(socket_state& s) noexcept;

// Where GetAcceptExSockaddrs finds an address: its length (a 4-byte int), then the sockaddr.
void write_address_block(char* block, std::uint32_t room, SOCKET s, bool local) noexcept {
    alignas(8) char address[128] = {};
    int length = sizeof address;
    const int wsa = local ? sys::getsockname(s, reinterpret_cast<sockaddr*>(address), &length)
                          : sys::getpeername(s, reinterpret_cast<sockaddr*>(address), &length);
    if (wsa != 0 || length < 0 || sizeof(int) + static_cast<std::uint32_t>(length) > room)
        length = 0; // cannot be: room was checked against the family when the accept was posted
    std::memcpy(block, &length, sizeof length);
    std::memcpy(block + sizeof length, address, static_cast<std::size_t>(length));
}

// The target's backend state after its number changed OS socket; 0 or a WSA code. When the
// new one cannot be attached, the socket keeps no backend state and fails every transfer.
int renumber(engine_impl& e, socket_state& target, SOCKET listener, SOCKET accepted) noexcept {
    const bool renumbers = sys::accept_renumbers();
    if (renumbers) {
        e.io().detach(target.handle(), target.backend_socket()); // before the number changes
        target.set_backend_socket(nullptr);
    }
    SOCKET handle = target.handle();
    const int wsa = sys::take_accepted(listener, handle, accepted);
    target.set_handle(handle);
    if (renumbers) {
        void* made = nullptr;
        const int attached = e.io().attach(handle, made);
        target.set_backend_socket(attached == 0 ? made : nullptr);
        bind_requests(target);
        if (attached != 0) return wsa != 0 ? wsa : attached;
    }
    return wsa;
}

// install()'s answer when the op became the accept socket's first receive.
constexpr int handed_over = -1;

// accept.first-receive: the accept op (capacity = dwReceiveDataLength) becomes a receive into
// the front of the caller's output buffer, at the head of the accepted socket's FIFO, and
// reports to the listener's queue with the listener's key when it completes.
void hand_over(socket_state& listener, socket_state& target, op& o) noexcept {
    char* data = accept_args(o).addresses - o.capacity; // before the op's room is reused
    o.buffers()[0] = make_kernel_buffer(data, o.capacity);
    o.count = 1;
    o.index = 0;
    o.bytes = 0;
    o.held_back = 0;
    o.flags = 0;
    o.fixed_slot = -1;
    o.listener_packet = true;
    new (o.buffers() + 1) listener_report{
        listener.queue ? listener.queue->shared_from_this() : nullptr, listener.key};
    target.recv.ops.push_back(o);
    recv_start(target);
}

// accept.deliver: the connection `accepted` (Linux: a new descriptor) becomes the head's
// accept socket. 0, handed_over, or the code the accept completes with (the connection is
// closed then). The head has left the listener's FIFO.
int install(socket_state& s, op& head, SOCKET accepted) noexcept {
    const accept_target& t = accept_args(head);
    const socket_ref target = socket_table::instance().find(t.socket);
    if (!target || target.get() == &s || target->engine != s.engine ||
        (t.identity != 0 && target->identity != t.identity)) {
        sys::discard_accepted(accepted);
        return failed_because(WSAENOTSOCK, "the accept socket was closed before the connection "
                                           "arrived; the connection was closed");
    }
    std::lock_guard lock(target->mutex);
    if (target->closing || target->state != conn_state::fresh) {
        sys::discard_accepted(accepted);
        return failed_because(target->closing ? WSAENOTSOCK : WSAEINVAL,
                              "the accept socket was closed, bound or connected before the "
                              "connection arrived; the connection was closed");
    }
    target->accepting_on = INVALID_SOCKET; // its close has no accept to abort any more
    const int wsa = renumber(*s.engine, *target, s.handle(), accepted);
    if (wsa != 0 && target->backend_socket() == nullptr) {
        // The number names the connection but no backend runs it: fail its transfers.
        target->state = conn_state::connected;
        target->recv_error = target->send_error = wsa;
        return wsa;
    }
    if (wsa != 0) return wsa;
    sys::prepare(target->handle());
    target->state = conn_state::connected;
    target->family = s.family;
    target->identity = sys::identity(target->handle());
    write_address_block(t.addresses, t.local_length, target->handle(), true);
    write_address_block(t.addresses + t.local_length, t.remote_length, target->handle(), false);
    if (head.capacity != 0 && !s.closing && !head.cancelled) {
        hand_over(s, *target, head);
        return handed_over;
    }
    // socket.mode read_ahead_bytes set before the connection came: it starts now.
    if (target->read_ahead_on) target->engine->want_recv_start(*target);
    return 0;
}

// A connection went away between the kernel's queue and the accept: wait for the next one,
// as Windows' AcceptEx does.
bool is_transient(int wsa) noexcept {
    return wsa == WSAECONNABORTED || wsa == WSAECONNRESET;
}

} // namespace

int accept_post(socket_state& s, op& o) noexcept {
    return post_setup_op(
        s, s.recv, o, [&s] { s.engine->want_recv_start(s); }, [&s] { accept_start_queued(s); });
}

void accept_start_queued(socket_state& s) noexcept {
    start_setup_op(
        s, s.recv, [&s] { s.engine->want_recv_start(s); }, [&s] { accept_start_once(s); });
}

namespace {

void accept_start_once(socket_state& s) noexcept {
    io_request* r = setup_request(s, s.recv, io_kind::accept);
    if (r == nullptr) return;
    r->accept = &accept_args(s.recv.ops.front());
    s.recv_target_kind = recv_target::head;
    start_request(s, s.recv, *r, [&s](const io_completion& c) { accept_done(s, c); });
}

} // namespace

void accept_done(socket_state& s, const io_completion& c) noexcept {
    s.recv.in_flight = false;
    if (s.recv.ops.empty()) { // cannot happen: the head is only popped here or at close
        if (c.wsa == 0) sys::discard_accepted(static_cast<SOCKET>(c.bytes));
        return;
    }
    op& head = s.recv.ops.front();
    if (c.wsa == 0) {
        // Also after a cancel or a close began: the kernel took the connection off the
        // listener, and only this accept can give it to the application.
        s.recv.ops.pop_front();
        const int wsa = install(s, head, static_cast<SOCKET>(c.bytes));
        const bool immediate = &head == s.setup_posting && wsa == 0;
        s.posting_done = immediate;
        if (wsa != handed_over) complete_op(s, head, wsa, immediate);
    } else if (s.closing || head.cancelled || c.wsa == WSA_OPERATION_ABORTED ||
               !is_transient(c.wsa)) {
        // accept.fd-exhausted: WSAEMFILE fails this accept only; the next one takes the
        // connection still waiting in the listener's queue.
        s.recv.ops.pop_front();
        const bool aborted = s.closing || head.cancelled || c.wsa == WSA_OPERATION_ABORTED;
        complete_op(s, head, aborted ? WSA_OPERATION_ABORTED : c.wsa, false);
    }
    if (s.closing) return recv_abort_queued(s);
    accept_start_queued(s);
}

namespace {

struct accept_into {
    SOCKET target;
    std::uint64_t identity;
};

bool targets(const op& o, const void* what) noexcept {
    const auto& into = *static_cast<const accept_into*>(what);
    const accept_target& t = accept_args(const_cast<op&>(o));
    return t.socket == into.target && t.identity == into.identity;
}

} // namespace

void cancel_accepts_into(SOCKET listener, SOCKET target, const socket_state& t) noexcept {
    const socket_ref l = socket_table::instance().find(listener);
    if (!l || l.get() == &t) return;
    std::lock_guard lock(l->mutex);
    if (l->closing || l->state != conn_state::listening) return;
    const accept_into into{target, t.identity};
    if (cancel_matching(*l, l->recv, targets, &into) != 0) recv_start(*l);
}

} // namespace sanport::detail
