// SPDX-License-Identifier: MIT
// Socket life cycle: the registry behind the switch's handles, WSPSocket, WSPBind, WSPListen,
// WSPAccept, WSPConnect, the name and option calls, WSPShutdown and WSPCloseSocket.
//
// Each provider socket owns one sanport socket (its "transport"), always made with
// WSA_FLAG_OVERLAPPED since the receive worker posts overlapped receives on it; whether the
// switch may make overlapped calls is the provider socket's own flag.
#include <new>

#include "san_provider.hpp"

namespace san_provider {

namespace {

// Context ids, never raw pointers, go into the switch's handles: a lookup racing with a
// close on another thread gets a shared_ptr that keeps the socket alive, or nothing.
std::mutex registry_mutex;
std::map<DWORD_PTR, socket_ptr> registry;
DWORD_PTR next_context = 1;

// Registers a socket around `transport` and gets the switch's handle for it. On failure
// nothing is left behind except `transport`, which the caller closes.
SOCKET make_socket(SOCKET transport, bool overlapped, conn_state st, DWORD catalog_id, int* wsa) {
    socket_ptr s;
    try {
        s = std::make_shared<san_socket>();
        s->transport = transport;
        s->overlapped = overlapped;
        s->state = st;
        std::lock_guard lock(registry_mutex);
        s->context = next_context++;
        registry.emplace(s->context, s);
    } catch (const std::bad_alloc&) {
        *wsa = WSAENOBUFS;
        return INVALID_SOCKET;
    }
    int err = 0;
    const SOCKET handle = state().upcalls.lpWPUCreateSocketHandle(catalog_id, s->context, &err);
    std::unique_lock lock(s->mutex);
    s->handle = handle;
    if (handle != INVALID_SOCKET && st == conn_state::connected) err = start_worker(s);
    lock.unlock();
    if (handle == INVALID_SOCKET || err != 0) {
        int ignored = 0;
        if (handle != INVALID_SOCKET) state().upcalls.lpWPUCloseSocketHandle(handle, &ignored);
        std::lock_guard registry_lock(registry_mutex);
        registry.erase(s->context);
        *wsa = err ? err : WSAENOBUFS;
        return INVALID_SOCKET;
    }
    return handle;
}

// The close itself, for a socket already taken out of the registry (so no new call finds
// it). Returns 0 or the transport's close error.
int close_socket(san_socket& s) noexcept {
    {
        std::lock_guard lock(s.mutex);
        s.closing = true; // WSPRecv refuses from now on; the worker stops after its request
    }
    s.wake.notify_all();
    // sanport completes the worker's transport receive (WSA_OPERATION_ABORTED, or its bytes)
    // and wakes a blocked WSPAccept; the worker then aborts every queued request, exactly once.
    int err = 0;
    std::unique_lock no_calls(s.transport_use); // waits out calls already using the transport
    const int r = sanport::WSPCloseSocket(s.transport, &err);
    no_calls.unlock();
    // `worker` is only assigned under s.mutex while not closing: safe to read here.
    if (s.worker.joinable()) s.worker.join();
    // Last: the switch's handle must still be valid while the worker completes requests.
    int ignored = 0;
    state().upcalls.lpWPUCloseSocketHandle(s.handle, &ignored);
    return r == 0 ? 0 : err;
}

// Looks s up and runs f on it; the usual shape of a life-cycle call.
template <class F> int with_socket(SOCKET s, LPINT lpErrno, F f) {
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa);
    const transport_hold hold(*sock);
    if (!hold.ok()) return fail(lpErrno, WSAENOTSOCK);
    if ((wsa = f(*sock)) != 0) return fail(lpErrno, wsa);
    return 0;
}

} // namespace

transport_hold::transport_hold(san_socket& s) : lock_(s.transport_use) {
    std::lock_guard lock(s.mutex);
    if (s.closing) lock_.unlock();
}

socket_ptr find_socket(SOCKET s, int* wsa) noexcept {
    DWORD_PTR context = 0;
    int err = 0;
    *wsa = WSAENOTSOCK;
    if (state().upcalls.lpWPUQuerySocketHandleContext(s, &context, &err) != 0) return nullptr;
    std::lock_guard lock(registry_mutex);
    auto it = registry.find(context);
    if (it == registry.end()) return nullptr;
    *wsa = 0;
    return it->second;
}

void close_all_sockets() noexcept {
    std::map<DWORD_PTR, socket_ptr> all;
    {
        std::lock_guard lock(registry_mutex);
        all.swap(registry);
    }
    for (auto& [context, s] : all)
        close_socket(*s);
}

SOCKET WSPAPI wsp_socket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                         GROUP /*g*/, DWORD dwFlags, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    DWORD catalog_id = state().catalog_id;
    if (lpProtocolInfo) {
        af = lpProtocolInfo->iAddressFamily;
        type = lpProtocolInfo->iSocketType;
        protocol = lpProtocolInfo->iProtocol;
        catalog_id = lpProtocolInfo->dwCatalogEntryId;
    }
    int err = 0;
    const SOCKET transport =
        sanport::WSPSocket(af, type, protocol, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    if (transport == INVALID_SOCKET) return fail(lpErrno, err), INVALID_SOCKET;
    const bool overlapped = (dwFlags & WSA_FLAG_OVERLAPPED) != 0;
    const SOCKET s = make_socket(transport, overlapped, conn_state::fresh, catalog_id, &err);
    if (s == INVALID_SOCKET) {
        int ignored = 0;
        sanport::WSPCloseSocket(transport, &ignored);
        *lpErrno = err;
    }
    return s;
}

int WSPAPI wsp_bind(SOCKET s, const struct sockaddr* name, int namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0;
        if (sanport::WSPBind(sock.transport, name, namelen, &err) != 0) return err;
        std::lock_guard lock(sock.mutex);
        if (sock.state == conn_state::fresh) sock.state = conn_state::bound;
        return 0;
    });
}

int WSPAPI wsp_listen(SOCKET s, int backlog, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0; // sanport refuses an unbound (WSAEINVAL) or connected (WSAEISCONN) socket
        if (sanport::WSPListen(sock.transport, backlog, &err) != 0) return err;
        std::lock_guard lock(sock.mutex);
        sock.state = conn_state::listening;
        return 0;
    });
}

SOCKET WSPAPI wsp_accept(SOCKET s, struct sockaddr* addr, LPINT addrlen,
                         LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    int err = 0;
    socket_ptr listener = find_socket(s, &err);
    if (!listener) return fail(lpErrno, err), INVALID_SOCKET;
    bool overlapped = false;
    {
        std::lock_guard lock(listener->mutex);
        if (listener->state != conn_state::listening)
            return fail(lpErrno, WSAEINVAL), INVALID_SOCKET;
        overlapped = listener->overlapped; // socket.accept.inherit: as the listener
    }
    // Blocking, without our lock: WSPCloseSocket of the listener closes the transport, which
    // makes sanport wake this accept with an error.
    const SOCKET transport =
        sanport::WSPAccept(listener->transport, addr, addrlen, lpfnCondition, dwCallbackData, &err);
    if (transport == INVALID_SOCKET) return fail(lpErrno, err), INVALID_SOCKET;
    const SOCKET out =
        make_socket(transport, overlapped, conn_state::connected, state().catalog_id, &err);
    if (out == INVALID_SOCKET) {
        int ignored = 0;
        sanport::WSPCloseSocket(transport, &ignored);
        *lpErrno = err;
    }
    return out;
}

int WSPAPI wsp_connect(SOCKET s, const struct sockaddr* name, int namelen, LPWSABUF lpCallerData,
                       LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int err = 0;
    socket_ptr sock = find_socket(s, &err);
    if (!sock) return fail(lpErrno, err);
    const transport_hold hold(*sock);
    if (!hold.ok()) return fail(lpErrno, WSAENOTSOCK);
    if (sanport::WSPConnect(sock->transport, name, namelen, lpCallerData, lpCalleeData, lpSQOS,
                            lpGQOS, &err) != 0)
        return fail(lpErrno, err);
    std::lock_guard lock(sock->mutex);
    if ((err = start_worker(sock)) != 0) return fail(lpErrno, err); // stays unconnected for us
    sock->state = conn_state::connected;
    return 0;
}

int WSPAPI wsp_get_sock_name(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0;
        return sanport::WSPGetSockName(sock.transport, name, namelen, &err) == 0 ? 0 : err;
    });
}

// sanport has no WSPGetPeerName of its own in namespace sanport: its proc table's does.
int WSPAPI wsp_get_peer_name(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0;
        return state().transport.lpWSPGetPeerName(sock.transport, name, namelen, &err) == 0 ? 0
                                                                                            : err;
    });
}

// Options reach the OS through sanport: SO_LINGER {1, 0} then WSPCloseSocket resets the
// connection, which is how the switch (and the contract suite) aborts one.
int WSPAPI wsp_set_sock_opt(SOCKET s, int level, int optname, const char* optval, int optlen,
                            LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0;
        return state().transport.lpWSPSetSockOpt(sock.transport, level, optname, optval, optlen,
                                                 &err) == 0
                   ? 0
                   : err;
    });
}

int WSPAPI wsp_get_sock_opt(SOCKET s, int level, int optname, char* optval, LPINT optlen,
                            LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        int err = 0;
        return state().transport.lpWSPGetSockOpt(sock.transport, level, optname, optval, optlen,
                                                 &err) == 0
                   ? 0
                   : err;
    });
}

// SD_RECEIVE is kept here and never passed down: Windows fails new receives with WSAESHUTDOWN
// but lets pending ones complete with data, while a shut-down read side would end them.
int WSPAPI wsp_shutdown(SOCKET s, int how, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](san_socket& sock) {
        if (how != SD_RECEIVE && how != SD_SEND && how != SD_BOTH) return WSAEINVAL;
        {
            std::lock_guard lock(sock.mutex);
            if (sock.state != conn_state::connected) return WSAENOTCONN;
            if (how != SD_SEND) sock.recv_shutdown = true;
        }
        int err = 0;
        if (how != SD_RECEIVE && sanport::WSPShutdown(sock.transport, SD_SEND, &err) != 0)
            return err;
        return 0;
    });
}

// When this returns, every receive of s has completed (WSA_OPERATION_ABORTED, or its bytes)
// and the worker has stopped, so the switch may free its buffers and WSAOVERLAPPEDs.
int WSPAPI wsp_close_socket(SOCKET s, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa);
    {
        std::lock_guard lock(registry_mutex);
        // Two threads closing at once: the one that takes it out of the registry closes it.
        if (registry.erase(sock->context) == 0) return fail(lpErrno, WSAENOTSOCK);
    }
    if ((wsa = close_socket(*sock)) != 0) return fail(lpErrno, wsa);
    return 0;
}

} // namespace san_provider
