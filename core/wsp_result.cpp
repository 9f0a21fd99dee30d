// SPDX-License-Identifier: MIT
// WSPGetOverlappedResult and WPUCompleteOverlappedRequest: reading and writing the
// WSAOVERLAPPED bookkeeping of docs/contract.md §4 (recv.overlapped.fields, result.get,
// wpu.complete).
//
// The specification: "The switch later calls the SAN service provider's WSPGetOverlappedResult
// function and
// passes a pointer to the overlapped structure to retrieve the final completion status." The
// result lives in the structure itself, so it stays readable after the socket was closed.
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/transfer.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <atomic>

namespace sanport {

using namespace detail;

namespace {

bool is_pending(WSAOVERLAPPED& ov) noexcept {
    return std::atomic_ref<ULONG_PTR>(ov.Internal).load(std::memory_order_acquire) ==
           overlapped_in_progress;
}

} // namespace

BOOL WSPGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
                            BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno) {
    if (!lpErrno) return FALSE;
    if (!lpOverlapped || !lpcbTransfer || !lpdwFlags) return fail(lpErrno, WSAEFAULT), FALSE;
    if (is_pending(*lpOverlapped)) {
        if (!fWait) return fail(lpErrno, WSA_IO_INCOMPLETE), FALSE;
        socket_ref sock = socket_table::instance().find(s);
        // A pending operation belongs to a live socket: close completes every one of them.
        if (!sock) return fail(lpErrno, WSAENOTSOCK), FALSE;
        engine_impl* e = sock->engine;
        sock.reset(); // do not hold up a concurrent close while waiting
        const auto raw = reinterpret_cast<std::uintptr_t>(lpOverlapped->hEvent);
        HANDLE event = reinterpret_cast<HANDLE>(raw & ~std::uintptr_t{1});
        // engine.owner.waits: the owner drives (wait_until) instead of sleeping on the event.
        if (event && !e->can_drive()) {
            // The event is signalled after Internal is written; loop in case someone resets it.
            while (is_pending(*lpOverlapped))
                WSAWaitForMultipleEvents(1, &event, TRUE, 100, FALSE);
        } else {
            e->wait_until([&] { return !is_pending(*lpOverlapped); });
        }
    }
    *lpcbTransfer = static_cast<DWORD>(lpOverlapped->InternalHigh);
    *lpdwFlags = lpOverlapped->Offset;
    if (const int wsa = static_cast<int>(lpOverlapped->OffsetHigh))
        return fail(lpErrno, wsa), FALSE;
    return TRUE;
}

int WPUCompleteOverlappedRequest(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                 DWORD cbTransferred, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    if (!lpOverlapped) return fail(lpErrno, WSAEFAULT);
    socket_ref sock = socket_table::instance().find(s);
    // SPI: WSAEINVAL when the socket was not created through the switch (here: unknown).
    if (!sock) return fail(lpErrno, WSAEINVAL);
    std::lock_guard lock(sock->mutex);
    complete_overlapped(sock.get(), lpOverlapped, static_cast<int>(dwError), cbTransferred);
    return 0;
}

} // namespace sanport
