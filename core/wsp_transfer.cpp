// SPDX-License-Identifier: MIT
// WSPRecv and WSPSend: check, capture, post, then 0 (done at once) or WSA_IO_PENDING.
//
// seed: "If the data reception operation completes immediately, the SAN service provider
// returns from WSPRecv with a value of zero and specifies the number of bytes received at
// lpNumberOfBytesRecvd ... Note that in this case [pending], a value is not specified at
// lpNumberOfBytesRecvd and flags at lpFlags are not updated."
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/transfer.hpp"

#include <sanport/wsp.h>

#include <atomic>

namespace sanport {

using namespace detail;

namespace {

constexpr DWORD known_recv_flags = MSG_PEEK | MSG_WAITALL | MSG_PARTIAL;

int check_recv_flags(DWORD flags) noexcept {
    // Urgent data belongs to the switch, and the seed forbids WSAEOPNOTSUPP: WSAEINVAL.
    if (flags & MSG_OOB) return WSAEINVAL;
    if ((flags & MSG_PEEK) && (flags & MSG_WAITALL)) return WSAEINVAL;
    if (flags & ~known_recv_flags) return WSAEINVAL;
    return 0;
}

// A call that failed at once (sticky reset, WSAEDISCON) notifies nobody, as on Windows, but its
// structure must not stay "in progress": WSPGetOverlappedResult(fWait=TRUE) would wait forever.
void record_sync_failure(WSAOVERLAPPED& ov, int wsa) noexcept {
    ov.InternalHigh = 0;
    ov.Offset = 0;
    ov.OffsetHigh = static_cast<DWORD>(wsa);
    std::atomic_ref<ULONG_PTR>(ov.Internal).store(static_cast<ULONG_PTR>(wsa), std::memory_order_release);
}

ULONG_PTR load_internal(WSAOVERLAPPED& ov) noexcept {
    return std::atomic_ref<ULONG_PTR>(ov.Internal).load(std::memory_order_acquire);
}

// Posts o (capture done) on s, whose mutex `lock` holds; waits for a blocking call.
// Returns 0 or the WSA code; on 0 `bytes` holds the count.
template <class Post>
int run_blocking(socket_ref& s, std::unique_lock<std::mutex>& lock, op& o, Post post,
                 DWORD& bytes) {
    WSAOVERLAPPED ov{};
    ov.Internal = overlapped_in_progress;
    o.overlapped = &ov;
    o.no_packet = true;  // a blocking call never produces a completion-queue packet
    const int r = post(*s, o);
    lock.unlock();
    if (r != 0 && r != WSA_IO_PENDING) return r;
    if (r == WSA_IO_PENDING) {
        s->engine->wait_until([&] { return load_internal(ov) != overlapped_in_progress; });
    }
    bytes = static_cast<DWORD>(ov.InternalHigh);
    return static_cast<int>(ov.OffsetHigh);
}

}  // namespace

int WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
            LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
            LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    // seed: lpCompletionRoutine and lpThreadId: "the SAN service provider ignores" them.
    if (!lpErrno) return SOCKET_ERROR;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    if (int wsa = check_buffers(lpBuffers, dwBufferCount)) return fail(lpErrno, wsa);
    if (!lpFlags) return fail(lpErrno, WSAEFAULT);
    if (int wsa = check_recv_flags(*lpFlags)) return fail(lpErrno, wsa);

    std::unique_lock lock(sock->mutex);
    if (int wsa = check_transfer_state(*sock, lpOverlapped != nullptr, transfer_dir::recv))
        return fail(lpErrno, wsa);
    const buffer_check bc =
        sock->regions.check(lpBuffers, dwBufferCount, MEM_WRITE, sock->strict_registration);
    if (bc.wsa) return fail(lpErrno, bc.wsa);
    op* o = op_alloc(*sock);
    if (!o || !op_capture(*o, lpBuffers, dwBufferCount)) {
        if (o) op_free(*sock, *o);
        return fail(lpErrno, WSAENOBUFS);  // the one code outside the seed's list (CONTRACT 5)
    }
    o->flags = *lpFlags & (MSG_PEEK | MSG_WAITALL);
    // Fixed-buffer reads take no MSG_* flags (research/performance.md 4.4).
    o->fixed_slot = o->flags == 0 ? bc.fixed_slot : -1;

    if (!lpOverlapped) {
        DWORD bytes = 0;
        const int wsa = run_blocking(sock, lock, *o, recv_post, bytes);
        if (wsa) return fail(lpErrno, wsa);
        if (lpNumberOfBytesRecvd) *lpNumberOfBytesRecvd = bytes;
        *lpFlags = 0;
        return 0;
    }
    std::atomic_ref<ULONG_PTR>(lpOverlapped->Internal)
        .store(overlapped_in_progress, std::memory_order_relaxed);
    o->overlapped = lpOverlapped;
    const int r = recv_post(*sock, *o);
    if (r == 0) {
        if (lpNumberOfBytesRecvd) *lpNumberOfBytesRecvd = static_cast<DWORD>(lpOverlapped->InternalHigh);
        *lpFlags = 0;  // stream sockets: MSG_PARTIAL never applies
        return 0;
    }
    if (r != WSA_IO_PENDING) record_sync_failure(*lpOverlapped, r);
    return fail(lpErrno, r);
}

int WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
            DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
            LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    if (int wsa = check_buffers(lpBuffers, dwBufferCount)) return fail(lpErrno, wsa);
    if (dwFlags != 0) return fail(lpErrno, WSAEINVAL);  // WSD: dwFlags "must be zero"

    std::unique_lock lock(sock->mutex);
    if (int wsa = check_transfer_state(*sock, lpOverlapped != nullptr, transfer_dir::send))
        return fail(lpErrno, wsa);
    const buffer_check bc =
        sock->regions.check(lpBuffers, dwBufferCount, MEM_READ, sock->strict_registration);
    if (bc.wsa) return fail(lpErrno, bc.wsa);
    op* o = op_alloc(*sock);
    if (!o || !op_capture(*o, lpBuffers, dwBufferCount)) {
        if (o) op_free(*sock, *o);
        return fail(lpErrno, WSAENOBUFS);
    }
    o->fixed_slot = -1;  // sends copy anyway on every kernel we run on

    if (!lpOverlapped) {
        DWORD bytes = 0;
        const int wsa = run_blocking(sock, lock, *o, send_post, bytes);
        if (wsa) return fail(lpErrno, wsa);
        if (lpNumberOfBytesSent) *lpNumberOfBytesSent = bytes;
        return 0;
    }
    std::atomic_ref<ULONG_PTR>(lpOverlapped->Internal)
        .store(overlapped_in_progress, std::memory_order_relaxed);
    o->overlapped = lpOverlapped;
    const int r = send_post(*sock, *o);
    if (r == 0) {
        if (lpNumberOfBytesSent) *lpNumberOfBytesSent = static_cast<DWORD>(lpOverlapped->InternalHigh);
        return 0;
    }
    if (r != WSA_IO_PENDING) record_sync_failure(*lpOverlapped, r);
    return fail(lpErrno, r);
}

}  // namespace sanport
