// SPDX-License-Identifier: MIT
// WSPStartup / WSPStartupEx / WSPCleanup: the proc table ported provider code fetches.
//
// The functions also work with no start-up at all (the embedded default engine); start-up is
// counted only so that WSPCleanup can report WSANOTINITIALISED when it has nothing to balance.
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"

#include <sanport/wsp.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

namespace sanport {

using namespace detail;

namespace {

std::atomic<int> startups{0};

// A proc-table slot sanport does not implement: fails cleanly with WSAEOPNOTSUPP through the
// slot's lpErrno (always its last parameter) instead of leaving a NULL to crash on.
template <class F> struct unsupported;
template <class R, class... A> struct unsupported<R (*)(A...)> {
    static R call(A... args) {
        auto&& last = std::get<sizeof...(A) - 1>(std::forward_as_tuple(args...));
        if constexpr (std::is_same_v<std::decay_t<decltype(last)>, LPINT>) {
            if (last) *last = WSAEOPNOTSUPP;
        }
        if constexpr (std::is_same_v<R, SOCKET>)
            return INVALID_SOCKET;
        else
            return SOCKET_ERROR;
    }
};
template <class F> void stub(F& slot) {
    slot = &unsupported<F>::call;
}

BOOL get_qos_by_name(SOCKET, LPWSABUF, LPQOS, LPINT lpErrno) {
    if (lpErrno) *lpErrno = WSAEOPNOTSUPP; // "may simply return WSAEOPNOTSUPP"
    return FALSE;
}

int get_peer_name(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state&) {
        if (!name || !namelen) return WSAEFAULT;
        return sys::getpeername(s, name, namelen);
    });
}

int set_sock_opt(SOCKET s, int level, int optname, const char* optval, int optlen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state&) {
        return sys::set_option(s, level, optname, optval, optlen);
    });
}

int get_sock_opt(SOCKET s, int level, int optname, char* optval, LPINT optlen, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state&) {
        return sys::get_option(s, level, optname, optval, optlen);
    });
}

// accept.extension: AcceptEx, ConnectEx and GetAcceptExSockaddrs with Windows' exact types,
// for code that fetches them through the provider's WSPIoctl. They report as Windows' do:
// TRUE, or FALSE with the code in the thread's WSAGetLastError (ERROR_IO_PENDING, 997, is
// WSA_IO_PENDING) -- the one place sanport sets it (depart.extension.last-error).
BOOL PASCAL accept_ex(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer,
                      DWORD dwReceiveDataLength, DWORD dwLocalAddressLength,
                      DWORD dwRemoteAddressLength, LPDWORD lpdwBytesReceived,
                      LPOVERLAPPED lpOverlapped) {
    int err = 0;
    if (WSPAcceptEx(sListenSocket, sAcceptSocket, lpOutputBuffer, dwReceiveDataLength,
                    dwLocalAddressLength, dwRemoteAddressLength, lpdwBytesReceived,
                    reinterpret_cast<LPWSAOVERLAPPED>(lpOverlapped), &err) == 0)
        return TRUE;
    WSASetLastError(err);
    return FALSE;
}

BOOL PASCAL connect_ex(SOCKET s, const struct sockaddr* name, int namelen, PVOID lpSendBuffer,
                       DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped) {
    int err = 0;
    if (WSPConnectEx(s, name, namelen, lpSendBuffer, dwSendDataLength, lpdwBytesSent,
                     reinterpret_cast<LPWSAOVERLAPPED>(lpOverlapped), &err) == 0)
        return TRUE;
    WSASetLastError(err);
    return FALSE;
}

void PASCAL get_accept_ex_sockaddrs(PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
                                    DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                                    struct sockaddr** LocalSockaddr, LPINT LocalSockaddrLength,
                                    struct sockaddr** RemoteSockaddr, LPINT RemoteSockaddrLength) {
    WSPGetAcceptExSockaddrs(lpOutputBuffer, dwReceiveDataLength, dwLocalAddressLength,
                            dwRemoteAddressLength, LocalSockaddr, LocalSockaddrLength,
                            RemoteSockaddr, RemoteSockaddrLength);
}

// The switch's way to the SAN extensions: SIO_GET_EXTENSION_FUNCTION_POINTER with ws2san.h's
// GUID in (or mswsock.h's, accept.extension), the function pointer out. Any other control code
// is WSAEINVAL, as for an unknown ioctl on Windows.
int ioctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size, LPVOID out, DWORD out_size,
          LPDWORD returned, LPWSAOVERLAPPED, LPWSAOVERLAPPED_COMPLETION_ROUTINE, LPWSATHREADID,
          LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    if (!socket_table::instance().find(s)) return fail(lpErrno, WSAENOTSOCK);
    if (code != SIO_GET_EXTENSION_FUNCTION_POINTER) return fail(lpErrno, WSAEINVAL);
    if (!in || in_size < sizeof(GUID) || !out || out_size < sizeof(void*) || !returned)
        return fail(lpErrno, WSAEFAULT);
    static const GUID register_id = WSAID_REGISTERMEMORY;
    static const GUID deregister_id = WSAID_DEREGISTERMEMORY;
    static const GUID accept_id = WSAID_ACCEPTEX;
    static const GUID connect_id = WSAID_CONNECTEX;
    static const GUID sockaddrs_id = WSAID_GETACCEPTEXSOCKADDRS;
    auto is = [in](const GUID& id) { return std::memcmp(in, &id, sizeof(GUID)) == 0; };
    void* fn = nullptr;
    if (is(register_id))
        fn = reinterpret_cast<void*>(static_cast<LPFN_WSPREGISTERMEMORY>(&WSPRegisterMemory));
    else if (is(deregister_id))
        fn = reinterpret_cast<void*>(static_cast<LPFN_WSPDEREGISTERMEMORY>(&WSPDeregisterMemory));
    else if (is(accept_id))
        fn = reinterpret_cast<void*>(static_cast<LPFN_ACCEPTEX>(&accept_ex));
    else if (is(connect_id))
        fn = reinterpret_cast<void*>(static_cast<LPFN_CONNECTEX>(&connect_ex));
    else if (is(sockaddrs_id))
        fn = reinterpret_cast<void*>(
            static_cast<LPFN_GETACCEPTEXSOCKADDRS>(&get_accept_ex_sockaddrs));
    else
        return fail(lpErrno, WSAEINVAL);
    std::memcpy(out, &fn, sizeof fn);
    *returned = sizeof fn;
    return 0;
}

// startup.cleanup: sockets made through the proc table belong to the start-ups; a socket made
// by a direct call (or adopted) belongs to the application, which may never have called
// WSPStartup, so a plug-in's balanced WSPStartup/WSPCleanup must not close it.
void own_by_startup(SOCKET s) noexcept {
    if (s == INVALID_SOCKET) return;
    const socket_ref sock = socket_table::instance().find(s);
    if (!sock) return; // closed by another thread meanwhile
    std::lock_guard lock(sock->mutex);
    sock->startup_owned = true;
}

SOCKET table_socket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW info, GROUP g, DWORD flags,
                    LPINT lpErrno) {
    const SOCKET s = WSPSocket(af, type, protocol, info, g, flags, lpErrno);
    own_by_startup(s);
    return s;
}

SOCKET table_accept(SOCKET s, struct sockaddr* addr, LPINT addrlen, LPCONDITIONPROC condition,
                    DWORD_PTR data, LPINT lpErrno) {
    const SOCKET accepted = WSPAccept(s, addr, addrlen, condition, data, lpErrno);
    own_by_startup(accepted);
    return accepted;
}

// The last WSPCleanup closes what the start-ups' sockets left open, as WSACleanup does ("as if
// closesocket was called"): every pending operation completes once, with
// WSA_OPERATION_ABORTED. Only sockets made through the proc table, and only those whose engine
// has a thread of its own: a driven engine's sockets belong to its owner, and a close from
// here would wait for a driver that may never run again.
void close_all_sockets() noexcept {
    std::vector<SOCKET> all;
    try {
        all = socket_table::instance().handles();
    } catch (...) {
        return; // out of memory: nothing closed, as if there had been nothing to close
    }
    for (SOCKET s : all) {
        {
            const socket_ref sock = socket_table::instance().find(s);
            if (!sock || !sock->engine || !sock->engine->has_own_thread()) continue;
            std::lock_guard lock(sock->mutex);
            if (!sock->startup_owned) continue;
        }
        int ignored = 0;
        WSPCloseSocket(s, &ignored); // WSAENOTSOCK if someone else closed it meanwhile
    }
}

int fill(WORD version, LPWSPDATA data, LPWSPPROC_TABLE t) {
    if (!data || !t) return WSAEFAULT;
    const BYTE major = static_cast<BYTE>(version & 0xff);
    if (major < 2) return WSAVERNOTSUPPORTED;
    data->wVersion = 0x0202;
    data->wHighVersion = 0x0202;
    std::memset(data->szDescription, 0, sizeof(data->szDescription));
    const char* name = "sanport WSPRecv provider";
    for (std::size_t i = 0; name[i]; ++i)
        data->szDescription[i] = static_cast<WCHAR>(name[i]);

    std::memset(t, 0, sizeof(*t));
    t->lpWSPAccept = table_accept;
    t->lpWSPBind = WSPBind;
    t->lpWSPCleanup = WSPCleanup;
    t->lpWSPCloseSocket = WSPCloseSocket;
    t->lpWSPConnect = WSPConnect;
    t->lpWSPGetOverlappedResult = WSPGetOverlappedResult;
    t->lpWSPGetPeerName = get_peer_name;
    t->lpWSPGetSockName = WSPGetSockName;
    t->lpWSPGetQOSByName = get_qos_by_name;
    t->lpWSPListen = WSPListen;
    t->lpWSPRecv = WSPRecv;
    t->lpWSPSend = WSPSend;
    t->lpWSPShutdown = WSPShutdown;
    t->lpWSPSocket = table_socket;
    stub(t->lpWSPAddressToString);
    stub(t->lpWSPAsyncSelect);
    stub(t->lpWSPCancelBlockingCall);
    stub(t->lpWSPDuplicateSocket);
    stub(t->lpWSPEnumNetworkEvents);
    stub(t->lpWSPEventSelect);
    t->lpWSPGetSockOpt = get_sock_opt;
    t->lpWSPIoctl = ioctl;
    stub(t->lpWSPJoinLeaf);
    stub(t->lpWSPRecvDisconnect);
    stub(t->lpWSPRecvFrom);
    stub(t->lpWSPSelect);
    stub(t->lpWSPSendDisconnect);
    stub(t->lpWSPSendTo);
    t->lpWSPSetSockOpt = set_sock_opt;
    stub(t->lpWSPStringToAddress);
    startups.fetch_add(1, std::memory_order_acq_rel);
    return 0;
}

} // namespace

// startup.table
int WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData, LPWSAPROTOCOL_INFOW /*lpProtocolInfo*/,
               WSPUPCALLTABLE /*UpcallTable*/, LPWSPPROC_TABLE lpProcTable) {
    return fill(wVersionRequested, lpWSPData, lpProcTable);
}

int WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData,
                 LPWSAPROTOCOL_INFOW /*lpProtocolInfo*/, LPWSPUPCALLTABLEEX /*lpUpcallTable*/,
                 LPWSPPROC_TABLE lpProcTable) {
    return fill(wVersionRequested, lpWSPData, lpProcTable);
}

// startup.cleanup
int WSPCleanup(LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int n = startups.load(std::memory_order_acquire);
    do {
        if (n == 0) return fail(lpErrno, WSANOTINITIALISED);
    } while (!startups.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel));
    if (n == 1) close_all_sockets();
    return 0;
}

} // namespace sanport
