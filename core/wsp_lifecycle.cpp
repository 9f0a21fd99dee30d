// SPDX-License-Identifier: MIT
// Socket life cycle: WSPSocket, WSPBind, WSPListen, WSPAccept, WSPConnect, WSPGetSockName,
// WSPShutdown, WSPCloseSocket and adoption of an existing OS socket.
//
// close.pending.abort: WSPCloseSocket is the exactly-once point: queued operations are aborted
// at once, the one kernel request per direction is cancelled, and the call returns only when
// every operation of the socket has completed and none is left in the kernel (closing the fd
// alone would leave an io_uring receive pending for ever: docs/design.md, "Facts the design
// rests on").
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

namespace sanport {

using namespace detail;

namespace detail {

SOCKET register_socket(engine_impl& e, SOCKET os, bool overlapped, conn_state state, int family,
                       int& wsa) {
    socket_table& table = socket_table::instance();
    socket_state* s = table.make_state();
    s->handle = os;
    s->engine = &e;
    s->overlapped = overlapped;
    s->state = state;
    s->family = family;
    if ((wsa = e.io().attach(os, s->backend_socket)) != 0) {
        table.recycle(s);
        return INVALID_SOCKET;
    }
    if ((wsa = table.insert(os, s)) != 0) {
        e.io().detach(os, s->backend_socket);
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
            if (st.state == conn_state::fresh) return WSAEINVAL; // Winsock: bind first
            if (st.state == conn_state::connected) return WSAEISCONN;
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
        if (sock->state != conn_state::listening) return fail(lpErrno, WSAEINVAL), INVALID_SOCKET;
        overlapped = sock->overlapped;
    }
    engine_impl* e = sock->engine;
    const int family = sock->family;
    sock.reset(); // a blocked accept must not hold up WSPCloseSocket of the listener
    for (;;) {
        SOCKET fresh = INVALID_SOCKET;
        if (const int wsa = sys::accept(s, addr, addrlen, fresh))
            return fail(lpErrno, wsa), INVALID_SOCKET;
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
            if (st.state == conn_state::listening) return WSAEINVAL;
            if (st.state == conn_state::connected) return WSAEISCONN;
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
            if (st.state == conn_state::fresh) return WSAEINVAL;
        }
        return sys::getsockname(s, name, namelen);
    });
}

// socket.shutdown
int WSPShutdown(SOCKET s, int how, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        if (how != SD_RECEIVE && how != SD_SEND && how != SD_BOTH) return WSAEINVAL;
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

// socket.close, close.pending.abort
int WSPCloseSocket(SOCKET s, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    socket_table& table = socket_table::instance();
    socket_ref sock = table.find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    socket_state& st = *sock;
    engine_impl& e = *st.engine;
    bool listening = false;
    {
        std::lock_guard lock(st.mutex);
        if (st.closing) return fail(lpErrno, WSAENOTSOCK); // another thread is closing it
        st.closing = true;
        listening = st.state == conn_state::listening;
        recv_abort_queued(st);
        send_abort_queued(st);
        if (st.recv.in_flight || st.send.in_flight) e.want_cancel(st);
    }
    if (listening) sys::wake_accept(s);
    e.wait_until([&] { return st.busy.load(std::memory_order_acquire) == 0; });
    // The engine's last touch of st is its release store of busy (dispatch); a request that
    // finished inline released the lock before its caller could see busy == 0 here.
    { std::lock_guard lock(st.mutex); }

    // From here on the handle is gone for new callers; wait for the ones that looked it up.
    table.remove(s, &st);
    e.unlink(st);
    st.close_waiting.store(true, std::memory_order_release);
    e.wait_until([&] { return st.refs.load(std::memory_order_acquire) <= 1; });
    retire_regions(e, st.regions);
    e.io().detach(s, st.backend_socket);
    const int wsa = sys::close(s);
    socket_state* raw = sock.get();
    sock.reset();
    table.recycle(raw);
    if (wsa) return fail(lpErrno, wsa);
    return 0;
}

// socket.mode
int set_socket_mode(SOCKET s, socket_mode mode, DWORD value, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        std::lock_guard lock(st.mutex);
        switch (mode) {
        case socket_mode::strict_registration:
            st.strict_registration = value != 0;
            return 0;
        case socket_mode::report_disconnect:
            st.report_disconnect = value != 0;
            return 0;
        case socket_mode::read_ahead_bytes:
            // Bounded: at most 1 MiB buffered per socket; 0 turns it off.
            if (value > (1u << 20) || (st.ra_data && value != st.ra_size)) return WSAEINVAL;
            st.read_ahead_capacity = value;
            if (value != 0 && st.state == conn_state::connected && !st.recv.in_flight)
                st.engine->want_recv_start(st);
            return 0;
        }
        return WSAEINVAL;
    });
}

} // namespace sanport
