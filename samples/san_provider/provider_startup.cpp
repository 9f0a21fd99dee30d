// SPDX-License-Identifier: MIT
// Start-up: WSPStartupEx (the SAN provider's entry point), WSPStartup, WSPCleanup, the proc
// table and WSPIoctl, the switch's way to the ws2san.h extensions.
#include <atomic>
#include <cstring>
#include <tuple>
#include <type_traits>

#include "san_provider.hpp"

namespace san_provider {

namespace {

std::mutex startup_mutex; // start-up and clean-up only; the data path never takes it
int startups = 0;         // successful WSPStartupEx calls not yet balanced by WSPCleanup

// A proc-table slot this provider does not implement fails cleanly, never a NULL the switch
// would call: SOCKET_ERROR (INVALID_SOCKET, FALSE) with WSAEOPNOTSUPP through lpErrno, which is
// every SPI function's last parameter. One template instead of sixteen hand-written stubs.
template <class F> struct unsupported;
template <class R, class... A> struct unsupported<R (*)(A...)> {
    static R call(A... args) {
        auto&& last = std::get<sizeof...(A) - 1>(std::forward_as_tuple(args...));
        if constexpr (std::is_same_v<std::decay_t<decltype(last)>, LPINT>) {
            if (last) *last = WSAEOPNOTSUPP;
        }
        if constexpr (std::is_same_v<R, SOCKET>)
            return INVALID_SOCKET;
        else if constexpr (std::is_pointer_v<R>)
            return nullptr;
        else
            return static_cast<R>(SOCKET_ERROR); // SOCKET_ERROR, or FALSE-ish for BOOL
    }
};
template <class F> void stub(F& slot) {
    slot = &unsupported<F>::call;
}

// WSPGetQOSByName returns BOOL: FALSE, not SOCKET_ERROR (which would read as TRUE).
BOOL WSPAPI get_qos_by_name(SOCKET, LPWSABUF, LPQOS, LPINT lpErrno) {
    if (lpErrno) *lpErrno = WSAEOPNOTSUPP;
    return FALSE;
}

int WSPAPI cleanup(LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    std::lock_guard lock(startup_mutex);
    if (startups == 0) return fail(lpErrno, WSANOTINITIALISED);
    // The last clean-up closes what the switch left open: a worker thread must not outlive
    // the provider's use (a host may unload the library afterwards).
    if (--startups == 0) {
        close_all_sockets();
        int ignored = 0;
        sanport::WSPCleanup(&ignored); // balances the sanport::WSPStartup of the first start-up
    }
    return 0;
}

// SIO_GET_EXTENSION_FUNCTION_POINTER with WSAID_(DE)REGISTERMEMORY in, the function out; the
// switch asks per socket. Any other control code is WSAEINVAL, as Windows answers an unknown
// ioctl (WSAEOPNOTSUPP is for the slots this provider lacks altogether).
int WSPAPI ioctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
                 LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned, LPWSAOVERLAPPED,
                 LPWSAOVERLAPPED_COMPLETION_ROUTINE, LPWSATHREADID, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    if (!find_socket(s, &wsa)) return fail(lpErrno, wsa);
    if (dwIoControlCode != SIO_GET_EXTENSION_FUNCTION_POINTER) return fail(lpErrno, WSAEINVAL);
    if (!lpvInBuffer || cbInBuffer < sizeof(GUID) || !lpvOutBuffer || cbOutBuffer < sizeof(void*) ||
        !lpcbBytesReturned)
        return fail(lpErrno, WSAEFAULT);
    static const GUID register_id = WSAID_REGISTERMEMORY;
    static const GUID deregister_id = WSAID_DEREGISTERMEMORY;
    void* fn = nullptr;
    // memcmp: the GUID may arrive unaligned, and the SDK's operator== is not in every header.
    if (std::memcmp(lpvInBuffer, &register_id, sizeof(GUID)) == 0)
        fn = reinterpret_cast<void*>(static_cast<LPFN_WSPREGISTERMEMORY>(&wsp_register_memory));
    else if (std::memcmp(lpvInBuffer, &deregister_id, sizeof(GUID)) == 0)
        fn = reinterpret_cast<void*>(static_cast<LPFN_WSPDEREGISTERMEMORY>(&wsp_deregister_memory));
    else
        return fail(lpErrno, WSAEINVAL);
    std::memcpy(lpvOutBuffer, &fn, sizeof fn);
    *lpcbBytesReturned = sizeof fn;
    return 0;
}

void fill_table(WSPPROC_TABLE& t) {
    std::memset(&t, 0, sizeof t);
    t.lpWSPAccept = wsp_accept;
    t.lpWSPBind = wsp_bind;
    t.lpWSPCleanup = cleanup;
    t.lpWSPCloseSocket = wsp_close_socket;
    t.lpWSPConnect = wsp_connect;
    t.lpWSPGetOverlappedResult = wsp_get_overlapped_result;
    t.lpWSPGetPeerName = wsp_get_peer_name;
    t.lpWSPGetSockName = wsp_get_sock_name;
    t.lpWSPGetSockOpt = wsp_get_sock_opt;
    t.lpWSPGetQOSByName = get_qos_by_name;
    t.lpWSPIoctl = ioctl;
    t.lpWSPListen = wsp_listen;
    t.lpWSPRecv = wsp_recv;
    t.lpWSPSend = wsp_send;
    t.lpWSPSetSockOpt = wsp_set_sock_opt;
    t.lpWSPShutdown = wsp_shutdown;
    t.lpWSPSocket = wsp_socket;
    stub(t.lpWSPAddressToString);
    stub(t.lpWSPAsyncSelect);
    stub(t.lpWSPCancelBlockingCall);
    stub(t.lpWSPDuplicateSocket);
    stub(t.lpWSPEnumNetworkEvents);
    stub(t.lpWSPEventSelect);
    stub(t.lpWSPJoinLeaf);
    stub(t.lpWSPRecvDisconnect);
    stub(t.lpWSPRecvFrom);
    stub(t.lpWSPSelect);
    stub(t.lpWSPSendDisconnect);
    stub(t.lpWSPSendTo);
    stub(t.lpWSPStringToAddress);
}

void describe(WSPDATA& data) {
    data.wVersion = 0x0202;
    data.wHighVersion = 0x0202;
    std::memset(data.szDescription, 0, sizeof data.szDescription);
    const char* name = "sanport sample SAN provider (TCP through sanport)";
    for (std::size_t i = 0; name[i]; ++i)
        data.szDescription[i] = static_cast<WCHAR>(name[i]);
}

} // namespace

provider_state& state() noexcept {
    static provider_state s;
    return s;
}

} // namespace san_provider

using namespace san_provider;

// The SAN form: the switch hands over WSPUPCALLTABLEEX, whose last entry,
// WPUCompleteOverlappedRequest, is how every overlapped operation of this provider completes.
extern "C" int WSPAPI WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData,
                                   LPWSAPROTOCOL_INFOW lpProtocolInfo,
                                   LPWSPUPCALLTABLEEX lpUpcallTable, LPWSPPROC_TABLE lpProcTable) {
    if (!lpWSPData || !lpProcTable || !lpUpcallTable) return WSAEFAULT;
    if ((wVersionRequested & 0xff) < 2) return WSAVERNOTSUPPORTED;
    const WSPUPCALLTABLEEX& up = *lpUpcallTable;
    // The upcalls the data path cannot do without; a switch that lacks one cannot host us.
    if (!up.lpWPUCompleteOverlappedRequest || !up.lpWPUCreateSocketHandle ||
        !up.lpWPUCloseSocketHandle || !up.lpWPUQuerySocketHandleContext || !up.lpWPUCreateEvent ||
        !up.lpWPUCloseEvent)
        return WSAEPROVIDERFAILEDINIT;

    std::lock_guard lock(startup_mutex);
    provider_state& st = state();
    if (startups == 0) {
        // sanport's own table, for the option calls this provider passes through (SO_LINGER
        // for a hard close, SO_RCVBUF, ...). sanport needs no upcalls of ours.
        WSPDATA data{};
        WSPUPCALLTABLE none{};
        if (const int wsa = sanport::WSPStartup(0x0202, &data, nullptr, none, &st.transport))
            return wsa;
        // Written only while no socket exists, so the data path reads both without a lock.
        st.upcalls = up;
        st.catalog_id = lpProtocolInfo ? lpProtocolInfo->dwCatalogEntryId : 0;
    }
    ++startups;
    describe(*lpWSPData);
    fill_table(*lpProcTable);
    return 0;
}

// The plain Winsock 2 form carries no WPUCompleteOverlappedRequest, and a SAN provider has no
// other way to complete an overlapped receive (ws2san.h: the switch always uses WSPStartupEx).
// Rather than start half-working, it refuses with WSAEPROVIDERFAILEDINIT, the code Winsock
// itself reports for a provider that could not initialise.
extern "C" int WSPAPI WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData,
                                 LPWSAPROTOCOL_INFOW /*lpProtocolInfo*/,
                                 WSPUPCALLTABLE /*UpcallTable*/, LPWSPPROC_TABLE lpProcTable) {
    if (!lpWSPData || !lpProcTable) return WSAEFAULT;
    if ((wVersionRequested & 0xff) < 2) return WSAVERNOTSUPPORTED;
    return WSAEPROVIDERFAILEDINIT;
}
