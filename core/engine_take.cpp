// SPDX-License-Identifier: MIT
// engine.take: moving a socket, with nothing under way, from its engine to another one (the
// engine-per-core pattern: one listener's engine accepts, each connection is given to the
// engine of the core that will serve it).
//
// Only an idle socket moves: nothing queued, in the kernel, on a caller or read ahead, no
// registered memory (its kernel slots are the old engine's), no completion-queue association
// (a queue belongs to one engine), not the target of a waiting accept. Then nothing of the old
// engine can reach it any more, so the move is: attach to the new backend, detach from the old
// one, and repoint the state, all under the socket's lock so no call starts half-way. The
// SOCKET value stays.
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/socket_table.hpp"

#include <sanport/engine.h>

namespace sanport {

using namespace detail;

namespace {

// The reason s cannot move now, or nullptr.
const char* busy_reason(const socket_state& s) noexcept {
    if (s.closing) return "engine::take: the socket is being closed";
    if (s.queue)
        return "engine::take: the socket is associated with a completion queue (a queue "
               "belongs to one engine): associate it after the move";
    if (!s.recv.ops.empty() || !s.send.ops.empty() || s.recv.in_flight || s.send.in_flight ||
        s.recv.on_caller || s.send.on_caller || s.kick_queued ||
        s.busy.load(std::memory_order_acquire) != 0)
        return "engine::take: the socket has operations under way; move it before posting any";
    if (s.ra_available() != 0)
        return "engine::take: the socket holds data read ahead for its engine";
    if (s.extras && !s.extras->regions.empty())
        return "engine::take: the socket has registered memory (kernel slots of its engine)";
    if (s.accepting_on != INVALID_SOCKET)
        return "engine::take: the socket is the target of a waiting accept";
    return nullptr;
}

} // namespace

// engine.take
int engine::take(SOCKET s) {
    if (impl_->from_parent()) return failed_because(WSAENETDOWN, parent_engine_detail);
    if (impl_->status() != 0) return WSAENETDOWN;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock)
        return failed_because(WSAENOTSOCK, "engine::take: not a sanport socket (never opened, or "
                                           "already closed)");
    engine_impl& to = *impl_;
    // Everything under the socket's lock, the engine lists included (each list's own mutex is
    // taken inside it, never the other way round), so two takes of one socket, or a take and a
    // close, follow one another.
    std::lock_guard lock(sock->mutex);
    engine_impl& from = *sock->engine;
    if (&from == &to) return 0;
    if (const char* why = busy_reason(*sock)) return failed_because(WSAEINVAL, why);
    void* moved = nullptr;
    // Windows: a handle is bound to one completion port for life, so this fails there.
    if (const int wsa = to.io().attach(s, moved))
        return failed_because(wsa, "engine::take: the new engine's backend refused the socket "
                                   "(on Windows a socket stays with its first completion port: "
                                   "make it on the engine that will serve it)");
    from.io().detach(s, sock->backend_socket());
    sock->set_backend_socket(moved);
    bind_requests(*sock);
    sock->engine = &to;
    from.unlink(*sock);
    to.link(*sock);
    return 0;
}

} // namespace sanport
