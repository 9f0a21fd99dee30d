// SPDX-License-Identifier: MIT
// WSPStartup / WSPStartupEx / WSPCleanup: the proc table ported provider code fetches.
//
// The functions also work with no start-up at all (the embedded default engine); start-up is
// counted only so that WSPCleanup can report WSANOTINITIALISED when it has nothing to balance.
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"

#include <sanport/wsp.h>

#include <atomic>
#include <cstring>
#include <tuple>
#include <type_traits>

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
    if (!lpErrno) return SOCKET_ERROR;
    if (!socket_table::instance().find(s)) return fail(lpErrno, WSAENOTSOCK);
    if (!name || !namelen) return fail(lpErrno, WSAEFAULT);
    if (const int wsa = sys::getpeername(s, name, namelen)) return fail(lpErrno, wsa);
    return 0;
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
    t->lpWSPAccept = WSPAccept;
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
    t->lpWSPSocket = WSPSocket;
    stub(t->lpWSPAddressToString);
    stub(t->lpWSPAsyncSelect);
    stub(t->lpWSPCancelBlockingCall);
    stub(t->lpWSPDuplicateSocket);
    stub(t->lpWSPEnumNetworkEvents);
    stub(t->lpWSPEventSelect);
    stub(t->lpWSPGetSockOpt);
    stub(t->lpWSPIoctl);
    stub(t->lpWSPJoinLeaf);
    stub(t->lpWSPRecvDisconnect);
    stub(t->lpWSPRecvFrom);
    stub(t->lpWSPSelect);
    stub(t->lpWSPSendDisconnect);
    stub(t->lpWSPSendTo);
    stub(t->lpWSPSetSockOpt);
    stub(t->lpWSPStringToAddress);
    startups.fetch_add(1, std::memory_order_acq_rel);
    return 0;
}

} // namespace

int WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData, LPWSAPROTOCOL_INFOW /*lpProtocolInfo*/,
               WSPUPCALLTABLE /*UpcallTable*/, LPWSPPROC_TABLE lpProcTable) {
    return fill(wVersionRequested, lpWSPData, lpProcTable);
}

int WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData,
                 LPWSAPROTOCOL_INFOW /*lpProtocolInfo*/, LPWSPUPCALLTABLEEX /*lpUpcallTable*/,
                 LPWSPPROC_TABLE lpProcTable) {
    return fill(wVersionRequested, lpWSPData, lpProcTable);
}

int WSPCleanup(LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int n = startups.load(std::memory_order_acquire);
    do {
        if (n == 0) return fail(lpErrno, WSANOTINITIALISED);
    } while (!startups.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel));
    return 0;
}

} // namespace sanport
