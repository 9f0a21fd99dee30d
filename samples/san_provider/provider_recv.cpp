// SPDX-License-Identifier: MIT
// WSPRecv and the per-socket receive worker.
//
// WSPRecv checks its arguments, copies the WSABUF array, queues the request and returns
// WSA_IO_PENDING: it never completes inline, which the specification always allows. One worker
// thread per connected socket serves the queue head by head, so receives are filled in posting
// order (recv.posting-order; the specification: "fills posted buffers with incoming data in the
// same order in which the switch supplies them"), and completes each through the switch's
// WPUCompleteOverlappedRequest.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>
#include <system_error>

#include "san_provider.hpp"

namespace san_provider {

namespace {

int check_flags(DWORD flags) noexcept {
    // Urgent data belongs to the switch, and WSAEOPNOTSUPP is not a SAN WSPRecv code.
    if (flags & MSG_OOB) return WSAEINVAL;
    if ((flags & MSG_PEEK) && (flags & MSG_WAITALL)) return WSAEINVAL;
    if (flags & ~DWORD{MSG_PEEK | MSG_WAITALL | MSG_PARTIAL}) return WSAEINVAL;
    return 0;
}

int check_buffers(const WSABUF* buffers, DWORD count) noexcept {
    if (count == 0 || count > max_buffers) return WSAEINVAL;
    if (!buffers) return WSAEFAULT;
    for (DWORD i = 0; i < count; ++i) {
        const auto p = reinterpret_cast<std::uintptr_t>(buffers[i].buf);
        if (buffers[i].len != 0 && (p < lowest_valid_address || p + buffers[i].len < p))
            return WSAEFAULT;
    }
    return 0;
}

// The specification: WSAEINVAL when the socket was made without the overlapped flag or never bound
// (accepted and connected sockets count as bound); WSAENOTCONN when bound or listening.
int check_state(const san_socket& s, bool overlapped_call) noexcept {
    if (s.closing) return WSAENOTSOCK;
    if (overlapped_call && !s.overlapped) return WSAEINVAL;
    if (s.state == conn_state::fresh) return WSAEINVAL;
    if (s.state != conn_state::connected) return WSAENOTCONN;
    if (s.recv_shutdown) return WSAESHUTDOWN;
    return 0;
}

// Copies n staged bytes into r's buffers from stream offset `at`, in array order and packed.
void copy_out(const recv_request& r, std::uint64_t at, const char* data, DWORD n) noexcept {
    for (const WSABUF& b : r.buffers) {
        if (n == 0) return;
        if (at >= b.len) {
            at -= b.len;
            continue;
        }
        const DWORD take = std::min<DWORD>(n, static_cast<DWORD>(b.len - at));
        std::memcpy(b.buf + at, data, take);
        data += take;
        n -= take;
        at = 0;
    }
}

// One overlapped receive on the transport. It is posted with s.mutex held: WSPCloseSocket
// sets `closing` under that mutex before closing the transport, so the receive is either
// posted before the close (which aborts it) or not at all, and never lands on a socket number
// the OS has already handed to someone else. Returns with the lock held again.
int transport_recv(san_socket& s, std::unique_lock<std::mutex>& lock, char* data, DWORD len,
                   DWORD flags, WSAEVENT event, DWORD& n) {
    WSABUF buf{len, data};
    WSAOVERLAPPED ov{};
    ov.hEvent = event;
    if (event != WSA_INVALID_EVENT) WSAResetEvent(event);
    int err = 0;
    const int r = sanport::WSPRecv(s.transport, &buf, 1, &n, &flags, &ov, nullptr, nullptr, &err);
    lock.unlock();
    int wsa = 0;
    if (r == SOCKET_ERROR && err != WSA_IO_PENDING) {
        n = 0;
        wsa = err;
    } else if (r == SOCKET_ERROR) {
        wait_done(ov, event);
        n = static_cast<DWORD>(ov.InternalHigh);
        wsa = static_cast<int>(ov.OffsetHigh);
    }
    lock.lock();
    return wsa;
}

struct result {
    int wsa = 0;
    DWORD bytes = 0;
};

// Serves one request: a receive of at most staging_bytes with its flags (a zero-total request
// passes a zero-length buffer, so sanport's zero-byte receive semantics apply), repeated under
// MSG_WAITALL until the buffers are full. Called and returns with s.mutex held.
result serve(san_socket& s, std::unique_lock<std::mutex>& lock, const recv_request& r,
             std::vector<char>& staging, WSAEVENT event) {
    std::uint64_t got = 0;
    int wsa = 0;
    while (!s.closing) {
        const auto want = static_cast<DWORD>(std::min<std::uint64_t>(r.total - got, staging_bytes));
        DWORD n = 0;
        wsa = transport_recv(s, lock, staging.data(), want, r.flags, event, n);
        copy_out(r, got, staging.data(), n);
        got += n;
        if (wsa != 0 || n == 0 || !(r.flags & MSG_WAITALL) || got >= r.total) break;
    }
    // Bytes taken from the stream are always delivered; an end or an error that cut a
    // MSG_WAITALL receive short reaches the next receive (sanport keeps a reset sticky).
    if (got > 0) return {0, static_cast<DWORD>(got)};
    // A close is never reported as an end of stream or a reset.
    if (s.closing) return {WSA_OPERATION_ABORTED, 0};
    return {wsa, 0};
}

void worker_main(socket_ptr sock) {
    san_socket& s = *sock;
    std::vector<char> staging(staging_bytes);
    // The transport receive's event: the provider's own, made by its own sanport.
    const WSAEVENT event = WSACreateEvent();
    std::unique_lock lock(s.mutex);
    for (;;) {
        s.wake.wait(lock, [&] { return s.closing || !s.receives.empty(); });
        if (s.closing) break;
        const request_ptr head = s.receives.front(); // stays queued while served
        const result res = serve(s, lock, *head, staging, event);
        s.receives.pop_front();
        lock.unlock();
        complete_request(s, *head, res.wsa, res.bytes);
        lock.lock();
    }
    // Closing: every request still queued completes once, aborted.
    std::deque<request_ptr> rest;
    rest.swap(s.receives);
    lock.unlock();
    for (const request_ptr& r : rest)
        complete_request(s, *r, WSA_OPERATION_ABORTED, 0);
    if (event != WSA_INVALID_EVENT) WSACloseEvent(event);
}

} // namespace

int start_worker(const socket_ptr& s) noexcept {
    if (s->closing || s->worker.joinable()) return 0;
    try {
        s->worker = std::thread(worker_main, s);
    } catch (const std::system_error&) {
        return WSAENOBUFS;
    }
    return 0;
}

void complete_request(const san_socket& s, recv_request& r, int wsa, DWORD bytes) noexcept {
    const WSPUPCALLTABLEEX& up = state().upcalls;
    int err = 0;
    if (up.lpWPUCompleteOverlappedRequest(s.handle, r.overlapped, static_cast<DWORD>(wsa), bytes,
                                          &err) == 0)
        return;
    // The switch refused (it should not): leave no operation pending for ever. Signal first,
    // then publish, since after Internal changes the caller may close the event.
    WSAOVERLAPPED& ov = *r.overlapped;
    const auto raw = reinterpret_cast<std::uintptr_t>(ov.hEvent) & ~std::uintptr_t{1};
    if (raw) up.lpWPUSetEvent(reinterpret_cast<WSAEVENT>(raw), &err);
    ov.InternalHigh = bytes;
    ov.Offset = 0;
    ov.OffsetHigh = static_cast<DWORD>(wsa);
    std::atomic_ref<ULONG_PTR>(ov.Internal)
        .store(static_cast<ULONG_PTR>(wsa), std::memory_order_release);
}

int WSPAPI wsp_recv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
                    LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
                    LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
                    LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    // The switch passes NULL lpCompletionRoutine and lpThreadId; both are ignored.
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa);
    if ((wsa = check_buffers(lpBuffers, dwBufferCount)) != 0) return fail(lpErrno, wsa);
    if (!lpFlags) return fail(lpErrno, WSAEFAULT);
    if ((wsa = check_flags(*lpFlags)) != 0) return fail(lpErrno, wsa);

    const WSPUPCALLTABLEEX& up = state().upcalls;
    request_ptr req;
    WSAEVENT event = WSA_INVALID_EVENT;
    try {
        // The array is the caller's: copied now, since the switch may reuse it on return.
        req = std::make_shared<recv_request>();
        for (DWORD i = 0; i < dwBufferCount; ++i) {
            if (lpBuffers[i].len == 0) continue;
            req->buffers.push_back(lpBuffers[i]);
            req->total = std::min(req->total + lpBuffers[i].len, max_request_bytes);
        }
        req->flags = *lpFlags & DWORD{MSG_PEEK | MSG_WAITALL}; // MSG_PARTIAL: messages only
        req->overlapped = lpOverlapped;
        if (!lpOverlapped) {
            // A blocking receive is an internal request behind the pending ones. Low bit set:
            // its completion must not reach a completion queue the socket is associated with.
            int err = 0;
            event = up.lpWPUCreateEvent(&err);
            if (event == WSA_INVALID_EVENT) return fail(lpErrno, WSAENOBUFS);
            req->own.hEvent =
                reinterpret_cast<HANDLE>(reinterpret_cast<std::uintptr_t>(event) | 1u);
            req->overlapped = &req->own;
        }
        std::lock_guard lock(sock->mutex);
        wsa = check_state(*sock, lpOverlapped != nullptr);
        if (wsa == 0) wsa = check_registered(*sock, lpBuffers, dwBufferCount, MEM_WRITE);
        if (wsa == 0) {
            std::atomic_ref<ULONG_PTR>(req->overlapped->Internal)
                .store(static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS),
                       std::memory_order_relaxed); // the worker reads the queue under the lock
            sock->receives.push_back(req);
        }
    } catch (const std::bad_alloc&) {
        wsa = WSAENOBUFS; // depart.codes: out of memory, the one extra code
    }
    if (wsa != 0) {
        int err = 0;
        if (event != WSA_INVALID_EVENT) up.lpWPUCloseEvent(event, &err);
        return fail(lpErrno, wsa);
    }
    sock->wake.notify_all();
    if (lpOverlapped) return fail(lpErrno, WSA_IO_PENDING);

    wait_done(req->own, event);
    int err = 0;
    up.lpWPUCloseEvent(event, &err); // the completer held the event until it had set it
    if ((wsa = static_cast<int>(req->own.OffsetHigh)) != 0) return fail(lpErrno, wsa);
    if (lpNumberOfBytesRecvd) *lpNumberOfBytesRecvd = static_cast<DWORD>(req->own.InternalHigh);
    *lpFlags = 0; // stream sockets: MSG_PARTIAL never applies
    return 0;
}

} // namespace san_provider
