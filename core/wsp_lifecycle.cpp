// SPDX-License-Identifier: MIT
// Socket life cycle: WSPSocket, WSPBind, WSPListen, WSPAccept, WSPConnect, WSPGetSockName,
// WSPShutdown, WSPCloseSocket and adoption of an existing OS socket.
//
// close.pending.abort: WSPCloseSocket is the exactly-once point: queued operations are aborted
// at once, the one kernel request per direction is cancelled, and the call returns only when
// every operation of the socket has completed and none is left in the kernel (closing the fd
// alone would leave an io_uring receive pending for ever: docs/design.md, "Facts the design
// rests on").
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

namespace sanport {

using namespace detail;

namespace detail {

namespace {

// stale.retire: said once per process (diag.messages: once per message handler), the first
// time sanport meets a stale entry.
void say_stale_once(SOCKET s) noexcept {
    static std::atomic<unsigned> said{~0u}; // the generation it was said in
    const unsigned now = message_generation();
    if (said.exchange(now, std::memory_order_relaxed) == now) return;
    say("sanport: SOCKET %llu was closed with close()/closesocket() behind sanport's back; its "
        "stale entry is retired: use WSPCloseSocket",
        static_cast<unsigned long long>(s));
}

// close_entry's answer when another thread is already closing the entry.
constexpr int closing_elsewhere = -1;

// close.pending.abort for one entry, then the entry leaves the table and its state is
// recycled. `os_is_ours`: the handle still names the socket sanport registered, so it may be
// shut down (a listener's blocked accept) and closed; otherwise (stale.retire, stale.window) the
// number is someone else's now and nothing reaches it: io_uring cancels by user_data, Asio's
// detach hands the descriptor back unclosed, IOCP cancels by OVERLAPPED. Returns 0, the close's
// WSA code, or closing_elsewhere.
int finish_close(socket_ref sock, SOCKET s, bool os_is_ours);

int close_entry(socket_ref sock, SOCKET s, bool os_is_ours) {
    socket_state& st = *sock;
    engine_impl& e = *st.engine;
    bool listening = false;
    bool needs_engine = false;
    bool caller_waits = false;
    SOCKET accepting_on = INVALID_SOCKET;
    {
        std::lock_guard lock(st.mutex);
        if (st.closing) return closing_elsewhere;
        st.closing = true;
        listening = st.state == conn_state::listening;
        caller_waits = st.recv.on_caller || st.send.on_caller;
        recv_abort_queued(st);
        send_abort_queued(st);
        if (st.recv.in_flight || st.send.in_flight) e.want_cancel(st);
        needs_engine = st.recv.in_flight || st.send.in_flight || st.kick_queued ||
                       st.busy.load(std::memory_order_acquire) != 0;
        accepting_on = std::exchange(st.accepting_on, INVALID_SOCKET);
    }
    // accept.target-closed: as on Windows, closing an accept socket aborts its accept.
    if (accepting_on != INVALID_SOCKET) cancel_accepts_into(accepting_on, s, st);
    // engine.other-thread.blocking: the same shutdown ends a blocking call served on its own
    // thread; the finish below waits for it to let go of the socket (refs).
    if ((listening || caller_waits) && os_is_ours) sys::wake_accept(s);
    // close.other-thread: only a driven engine's owner can reap what is in flight, and it may
    // not drive for a long time (blocked in a join): return now, as closesocket does, and let
    // its next drive complete the operations and finish the close.
    if (needs_engine && e.owner_elsewhere()) {
        // stale.retire: the caller registers a new socket under the number at once, so the
        // stale entry leaves the table now; only the rest waits for the owner.
        if (!os_is_ours) socket_table::instance().remove(s, &st);
        auto held = std::make_shared<socket_ref>(std::move(sock));
        e.close_later(st, [held, s, os_is_ours] { finish_close(std::move(*held), s, os_is_ours); });
        return 0;
    }
    e.wait_until([&] { return st.busy.load(std::memory_order_acquire) == 0; });
    return finish_close(std::move(sock), s, os_is_ours);
}

// The rest of close_entry, once nothing of the socket is in the kernel.
int finish_close(socket_ref sock, SOCKET s, bool os_is_ours) {
    socket_table& table = socket_table::instance();
    socket_state& st = *sock;
    engine_impl& e = *st.engine;
    // The engine stores busy == 0 with the lock held (dispatch); a request that finished inline
    // also ran under it. Taking the lock once waits for whichever still holds it.
    { std::lock_guard lock(st.mutex); }

    // From here on the handle is gone for new callers; wait for the ones that looked it up.
    table.remove(s, &st);
    e.unlink(st);
    st.close_waiting.store(true, std::memory_order_release);
    e.wait_until([&] { return st.refs.load(std::memory_order_acquire) <= 1; });
    if (st.extras) retire_regions(e, st.extras->regions);
    // Asio: deregisters the number from this engine's epoll set. A stale entry is retired
    // before the socket that reused its number is attached, so that socket is never in the set
    // yet, except when the retirement waited for a driven engine's owner (close.other-thread):
    // if the number names a socket of this same engine by then, nothing may reach the OS
    // through it.
    SOCKET number = s;
    if (!os_is_ours) {
        const socket_ref now = table.find(s);
        if (now && now.get() != &st && now->engine == &e) number = INVALID_SOCKET;
    }
    e.io().detach(number, st.backend_socket());
    const int wsa = os_is_ours ? sys::close(s) : 0;
    socket_state* raw = sock.get();
    sock.reset();
    table.recycle(raw);
    return wsa;
}

} // namespace

SOCKET register_socket(engine_impl& e, SOCKET os, bool overlapped, conn_state state, int family,
                       int& wsa, bool adopting) {
    socket_table& table = socket_table::instance();
    const std::uint64_t identity = sys::identity(os);
    // stale.retire: the OS handed out (or the caller adopts) a number sanport still holds, so
    // the socket of that entry was closed behind sanport's back. Retired before the new socket
    // is attached, so that nothing of the retirement reaches the new one.
    while (socket_ref old = table.find(os)) {
        if (adopting && (old->identity == 0 || old->identity == identity)) {
            // The same socket adopted twice (or, on Windows, no way to tell).
            wsa = failed_because(WSAEINVAL, "the OS socket is already a sanport socket");
            return INVALID_SOCKET;
        }
        say_stale_once(os);
        engine_impl& owner = *old->engine;
        // Another thread closing the stale entry removes it soon (and leaves the OS socket
        // alone: its identity differs).
        if (close_entry(std::move(old), os, false) == closing_elsewhere)
            std::this_thread::yield();
        else
            owner.stale_retired.fetch_add(1, std::memory_order_relaxed); // diag.counters
    }
    socket_state* s = table.make_state();
    s->set_handle(os);
    s->engine = &e;
    s->overlapped = overlapped;
    s->state = state;
    s->family = static_cast<std::uint16_t>(family);
    s->identity = identity;
    void* attached = nullptr;
    if ((wsa = e.io().attach(os, attached)) != 0) {
        table.recycle(s);
        return INVALID_SOCKET;
    }
    s->set_backend_socket(attached);
    bind_requests(*s);
    if ((wsa = table.insert(os, s)) != 0) {
        e.io().detach(os, s->backend_socket());
        table.recycle(s);
        return INVALID_SOCKET;
    }
    e.link(*s);
    return os;
}

} // namespace detail

// socket.lifecycle (stream sockets only); every call here: api.errno, socket.codes
SOCKET WSPSocket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP /*g*/,
                 DWORD dwFlags, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    if (lpProtocolInfo) {
        af = lpProtocolInfo->iAddressFamily;
        type = lpProtocolInfo->iSocketType;
        protocol = lpProtocolInfo->iProtocol;
    }
    return default_engine().socket(af, type, protocol, dwFlags, lpErrno);
}

// socket.adopt
SOCKET WSPAdoptSocket(SOCKET os_socket, DWORD dwFlags, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    return default_engine().adopt(os_socket, dwFlags, lpErrno);
}

int WSPBind(SOCKET s, const struct sockaddr* name, int namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        if (!name) return WSAEFAULT;
        if (const int wsa = sys::bind(s, name, namelen)) return wsa;
        std::lock_guard lock(st.mutex);
        if (st.state == conn_state::fresh) st.state = conn_state::bound;
        return 0;
    });
}

int WSPListen(SOCKET s, int backlog, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        {
            std::lock_guard lock(st.mutex);
            if (st.state == conn_state::fresh) // Winsock: bind first
                return failed_because(WSAEINVAL, "WSPListen: the socket is not bound");
            if (st.state == conn_state::connected) return WSAEISCONN;
            if (st.state == conn_state::connecting) return WSAEALREADY;
        }
        if (const int wsa = sys::listen(s, backlog)) return wsa;
        std::lock_guard lock(st.mutex);
        st.state = conn_state::listening;
        return 0;
    });
}

// socket.bound, socket.accept.inherit: an accepted socket is connected, with its listener's
// WSA_FLAG_OVERLAPPED.
SOCKET WSPAccept(SOCKET s, struct sockaddr* addr, LPINT addrlen, LPCONDITIONPROC lpfnCondition,
                 DWORD_PTR dwCallbackData, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK), INVALID_SOCKET;
    bool overlapped = false;
    {
        std::lock_guard lock(sock->mutex);
        if (sock->state != conn_state::listening)
            return fail(lpErrno, failed_because(WSAEINVAL, "WSPAccept: the socket is not "
                                                           "listening (call WSPListen first)")),
                   INVALID_SOCKET;
        overlapped = sock->overlapped;
    }
    engine_impl* e = sock->engine;
    const int family = sock->family;
    const std::uint64_t identity = sock->identity;
    const socket_state* listener = sock.get();
    sock.reset(); // a blocked accept must not hold up WSPCloseSocket of the listener
    for (;;) {
        SOCKET fresh = INVALID_SOCKET;
        if (const int wsa = sys::accept(s, addr, addrlen, fresh)) {
            // diag.detail: the failure path alone pays for telling the causes apart.
            if (identity != 0 && sys::identity(s) != identity)
                set_error_detail("WSPAccept: the listener was closed behind sanport's back "
                                 "(a stale handle): close sanport sockets with WSPCloseSocket");
            else if (socket_table::instance().find(s).get() != listener)
                set_error_detail("WSPAccept: the listener was closed while the call waited");
            else if (wsa == WSAEFAULT)
                set_error_detail("WSPAccept: addrlen is NULL or smaller than the peer's address");
            return fail(lpErrno, wsa), INVALID_SOCKET;
        }
        if (lpfnCondition) {
            WSABUF caller{addrlen ? static_cast<ULONG>(*addrlen) : 0u,
                          reinterpret_cast<CHAR*>(addr)};
            GROUP g = 0;
            const int verdict = lpfnCondition(&caller, nullptr, nullptr, nullptr, nullptr, nullptr,
                                              &g, dwCallbackData);
            if (verdict != 0 /* CF_ACCEPT */) { // CF_REJECT (and CF_DEFER, unsupported)
                sys::close(fresh);
                return fail(lpErrno, WSAECONNREFUSED), INVALID_SOCKET;
            }
        }
        sys::prepare(fresh);
        int wsa = 0;
        const SOCKET out =
            register_socket(*e, fresh, overlapped, conn_state::connected, family, wsa);
        if (out == INVALID_SOCKET) {
            sys::close(fresh);
            return fail(lpErrno, wsa), INVALID_SOCKET;
        }
        return out;
    }
}

int WSPConnect(SOCKET s, const struct sockaddr* name, int namelen, LPWSABUF /*lpCallerData*/,
               LPWSABUF /*lpCalleeData*/, LPQOS /*lpSQOS*/, LPQOS /*lpGQOS*/, LPINT lpErrno) {
    // TCP carries no connect data and sanport offers no QOS: those arguments are ignored.
    return with_socket(s, lpErrno, [&](socket_state& st) {
        if (!name) return WSAEFAULT;
        {
            std::lock_guard lock(st.mutex);
            if (st.state == conn_state::listening)
                return failed_because(WSAEINVAL, "WSPConnect: the socket is listening");
            if (st.state == conn_state::connected) return WSAEISCONN;
            if (st.state == conn_state::connecting) return WSAEALREADY; // WSPConnectEx pending
        }
        if (const int wsa = sys::connect(s, name, namelen)) return wsa;
        sys::prepare(s);
        std::lock_guard lock(st.mutex);
        st.state = conn_state::connected;
        return 0;
    });
}

int WSPGetSockName(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        if (!name || !namelen) return WSAEFAULT;
        {
            std::lock_guard lock(st.mutex);
            if (st.state == conn_state::fresh)
                return failed_because(WSAEINVAL, "WSPGetSockName: the socket is not bound");
        }
        return sys::getsockname(s, name, namelen);
    });
}

// socket.shutdown
int WSPShutdown(SOCKET s, int how, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        if (how != SD_RECEIVE && how != SD_SEND && how != SD_BOTH)
            return failed_because(WSAEINVAL, "WSPShutdown: how is not SD_RECEIVE, SD_SEND or "
                                             "SD_BOTH");
        std::lock_guard lock(st.mutex);
        if (st.state != conn_state::connected) return WSAENOTCONN;
        // SD_RECEIVE stays in sanport: Windows fails new receives with WSAESHUTDOWN but lets
        // pending ones complete, while Linux SHUT_RD would end them with 0 bytes.
        if (how != SD_SEND) st.rd_shutdown = true;
        if (how != SD_RECEIVE && !st.wr_shutdown) {
            st.wr_shutdown = true;
            // Queued sends leave first; send_queue.cpp shuts down after the last one.
            if (st.send.ops.empty() && !st.send.in_flight) {
                st.wr_shutdown_done = true;
                return sys::shutdown_send(s);
            }
        }
        return 0;
    });
}

// socket.close, close.pending.abort, stale.window
int WSPCloseSocket(SOCKET s, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    // One fstat per close (none per transfer): a handle closed behind sanport's back, maybe
    // reused by another component, is retired without closing the number.
    const bool ours = sock->identity == 0 || sys::identity(s) == sock->identity;
    engine_impl& owner = *sock->engine;
    if (!ours) say_stale_once(s);
    const int wsa = close_entry(std::move(sock), s, ours);
    if (!ours && wsa != closing_elsewhere)
        owner.stale_retired.fetch_add(1, std::memory_order_relaxed); // diag.counters
    if (wsa == closing_elsewhere || !ours) return fail(lpErrno, WSAENOTSOCK);
    if (wsa) return fail(lpErrno, wsa);
    return 0;
}

namespace {

// The block a setting is stored in: made when the setting turns something on, and nullptr
// when it turns it off on a socket that never had one (nothing to store) or memory ran out.
socket_extras* settings_for(socket_state& st, DWORD value) noexcept {
    return value != 0 ? st.make_extras() : st.extras.get();
}

int no_memory_for_setting() noexcept {
    return failed_because(WSAENOBUFS, "set_socket_mode: no memory for the setting");
}

} // namespace

// socket.mode
int set_socket_mode(SOCKET s, socket_mode mode, DWORD value, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        std::lock_guard lock(st.mutex);
        switch (mode) {
        case socket_mode::strict_registration:
            if (socket_extras* x = settings_for(st, value))
                x->strict_registration = value != 0;
            else if (value != 0)
                return no_memory_for_setting();
            update_check_registration(st);
            return 0;
        case socket_mode::report_disconnect:
            st.report_disconnect = value != 0;
            return 0;
        case socket_mode::read_ahead_bytes:
            // Bounded: at most 1 MiB buffered per socket; 0 turns it off.
            if (value > (1u << 20))
                return failed_because(WSAEINVAL, "set_socket_mode: read_ahead_bytes is above "
                                                 "1 MiB");
            if (st.extras && st.extras->ra && value != st.extras->ra->size)
                return failed_because(WSAEINVAL, "set_socket_mode: read-ahead bytes are "
                                                 "buffered; their size cannot change now");
            if (socket_extras* x = settings_for(st, value))
                x->read_ahead_capacity = value;
            else if (value != 0)
                return no_memory_for_setting();
            st.read_ahead_on = value != 0;
            if (value != 0 && st.state == conn_state::connected && !st.recv.in_flight)
                st.engine->want_recv_start(st);
            return 0;
        }
        return failed_because(WSAEINVAL, "set_socket_mode: unknown mode");
    });
}

} // namespace sanport
