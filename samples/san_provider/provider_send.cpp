// SPDX-License-Identifier: MIT
// WSPSend and WSPGetOverlappedResult.
//
// A send is done synchronously on the caller's thread: sanport's blocking WSPSend gathers the
// buffers in array order and returns once every byte is in the kernel. An overlapped send is
// then completed at once through WPUCompleteOverlappedRequest (event, completion-queue packet)
// and returns 0, which the SPI allows for an operation that finished immediately.
#include <atomic>
#include <chrono>

#include "san_provider.hpp"

namespace san_provider {

namespace {

int check_send(const san_socket& s, bool overlapped_call) noexcept {
    if (s.closing) return WSAENOTSOCK;
    if (overlapped_call && !s.overlapped) return WSAEINVAL;
    if (s.state == conn_state::fresh) return WSAEINVAL;
    if (s.state != conn_state::connected) return WSAENOTCONN;
    return 0; // after SD_SEND sanport itself answers WSAESHUTDOWN
}

} // namespace

bool is_pending(WSAOVERLAPPED& ov) noexcept {
    return std::atomic_ref<ULONG_PTR>(ov.Internal).load(std::memory_order_acquire) ==
           static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS);
}

void wait_done(WSAOVERLAPPED& ov, WSAEVENT event) noexcept {
    while (is_pending(ov)) {
        const DWORD r = event == WSA_INVALID_EVENT
                            ? WSA_WAIT_FAILED
                            : WSAWaitForMultipleEvents(1, &event, TRUE, 50, FALSE);
        // Signalled yet still pending: an event someone else set or reused; no busy loop.
        if (r != WSA_WAIT_TIMEOUT && is_pending(ov))
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

int WSPAPI wsp_send(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
                    DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
                    LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
                    LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa);
    if (dwBufferCount == 0 || dwBufferCount > max_buffers) return fail(lpErrno, WSAEINVAL);
    if (!lpBuffers) return fail(lpErrno, WSAEFAULT);
    for (DWORD i = 0; i < dwBufferCount; ++i) {
        const auto p = reinterpret_cast<std::uintptr_t>(lpBuffers[i].buf);
        if (lpBuffers[i].len != 0 && (p < lowest_valid_address || p + lpBuffers[i].len < p))
            return fail(lpErrno, WSAEFAULT);
    }
    if (dwFlags != 0) return fail(lpErrno, WSAEINVAL); // Windows Sockets Direct: must be zero
    {
        std::lock_guard lock(sock->mutex);
        wsa = check_send(*sock, lpOverlapped != nullptr);
        if (wsa == 0) wsa = check_registered(*sock, lpBuffers, dwBufferCount, MEM_READ);
    }
    if (wsa != 0) return fail(lpErrno, wsa);

    DWORD sent = 0;
    int err = 0;
    const transport_hold hold(*sock);
    if (!hold.ok()) return fail(lpErrno, WSAENOTSOCK);
    if (sanport::WSPSend(sock->transport, lpBuffers, dwBufferCount, &sent, 0, nullptr, nullptr,
                         nullptr, &err) != 0)
        return fail(lpErrno, err); // failed at once: no completion, as for any call that fails
    if (lpOverlapped) {
        std::atomic_ref<ULONG_PTR>(lpOverlapped->Internal)
            .store(static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS), std::memory_order_relaxed);
        // Done at once, but the switch still gets its event and packet, as Windows gives them
        // for an immediate success. ov is the switch's again after this call.
        state().upcalls.lpWPUCompleteOverlappedRequest(sock->handle, lpOverlapped, 0, sent, &err);
    }
    if (lpNumberOfBytesSent) *lpNumberOfBytesSent = sent;
    return 0;
}

// Reads only the WSAOVERLAPPED, so it reports an operation's own result even after its socket
// was closed (s is not looked up).
BOOL WSPAPI wsp_get_overlapped_result(SOCKET /*s*/, LPWSAOVERLAPPED lpOverlapped,
                                      LPDWORD lpcbTransfer, BOOL fWait, LPDWORD lpdwFlags,
                                      LPINT lpErrno) {
    if (!lpErrno) return FALSE;
    if (!lpOverlapped || !lpcbTransfer || !lpdwFlags) return fail(lpErrno, WSAEFAULT), FALSE;
    if (is_pending(*lpOverlapped)) {
        if (!fWait) return fail(lpErrno, WSA_IO_INCOMPLETE), FALSE;
        // The completer writes Internal, then sets the event (low bit cleared).
        const auto raw = reinterpret_cast<std::uintptr_t>(lpOverlapped->hEvent);
        wait_done(*lpOverlapped, reinterpret_cast<WSAEVENT>(raw & ~std::uintptr_t{1}));
    }
    *lpcbTransfer = static_cast<DWORD>(lpOverlapped->InternalHigh);
    *lpdwFlags = lpOverlapped->Offset;
    if (const int wsa = static_cast<int>(lpOverlapped->OffsetHigh))
        return fail(lpErrno, wsa), FALSE;
    return TRUE;
}

} // namespace san_provider
