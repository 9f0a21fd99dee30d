// SPDX-License-Identifier: MIT
// The IOCP backend's request path: set-up, attach, start, cancel, reap, wake.
//
// One request in flight per socket (and direction), as on io_uring. Windows itself fills
// several overlapped receives on one stream socket in posting order (Wine 8 too: docs/design.md,
// "Facts the design rests on"), so IOCP alone would not need it. The core's FIFO keeps one
// kernel receive into the head op anyway, and this backend follows it unchanged: the same
// semantics (MSG_WAITALL re-arming, zero-byte probes, read-ahead, close) run through the same
// code on every backend, and Wine 8's ignored MSG_WAITALL stops mattering.
//
// Invariants: a started request is reported exactly once: inline by start() when WSARecv/
// WSASend finished at once (immediate success with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS on,
// or an immediate failure, which queues no packet), else by reap() from its one packet, also
// after cancel() (CancelIoEx never removes a packet: it makes the request complete).

#include "backends/iocp/iocp_backend.hpp"

#include <algorithm>
#include <new>

namespace sanport::detail {

iocp_backend::iocp_backend(unsigned /*queue_depth*/) noexcept {
    // queue_depth sizes io_uring's rings; a completion port has no fixed size.
    iocp_last_error_guard guard;
    if (const int wsa = iocp_winsock_startup(); wsa != 0) {
        setup_error_ = wsa;
        setup_step_ = "WSAStartup";
        return;
    }
    // One thread (the engine's) dequeues: concurrency 1.
    port_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1);
    if (port_ == nullptr) {
        setup_error_ = static_cast<int>(::GetLastError());
        setup_step_ = "CreateIoCompletionPort";
    }
}

iocp_backend::~iocp_backend() {
    // Every socket was detached first (the engine closes its sockets before the backend goes),
    // so no request can still complete into this port.
    if (port_ != nullptr) ::CloseHandle(port_);
}

int iocp_backend::bind_thread() noexcept {
    // A port is not bound to a thread, so any engine thread will do. (Requests are issued by
    // the engine thread, which outlives its sockets, except when a driven engine's owner exits
    // first (engine.orphan): Wine then cancels that thread's requests, and whoever reaps the
    // port next sees them complete, aborted or with their bytes.)
    return setup_error_ != 0 ? WSAENETDOWN : 0;
}

int iocp_backend::attach(SOCKET s, void*& backend_socket) noexcept {
    iocp_last_error_guard guard;
    auto* socket = new (std::nothrow) iocp_socket;
    if (socket == nullptr) return WSAENOBUFS;
    socket->s = s;
    const auto handle = reinterpret_cast<HANDLE>(s);
    // The OVERLAPPED says which request completed; the key says whose it must be. Fails
    // (ERROR_INVALID_PARAMETER → WSAEINVAL) for a handle already associated with another
    // port, e.g. an adopted socket.
    const auto key = reinterpret_cast<ULONG_PTR>(socket);
    if (::CreateIoCompletionPort(handle, port_, key, 0) == nullptr) {
        const DWORD error = ::GetLastError();
        delete socket;
        return wsa_from_errno(static_cast<int>(error));
    }
    // Skip-on-success is unsafe behind a non-IFS layered provider (its immediate successes may
    // still queue a packet, or never); such a socket keeps the packet path. libuv does the same.
    WSAPROTOCOL_INFOW info{};
    int size = sizeof info;
    const bool ifs = ::getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, reinterpret_cast<char*>(&info),
                                  &size) == 0 &&
                     (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0;
    // SKIP_SET_EVENT_ON_HANDLE: nobody waits on the socket handle; completion signals no event.
    socket->skip_on_success =
        ifs && ::SetFileCompletionNotificationModes(handle, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                                                                FILE_SKIP_SET_EVENT_ON_HANDLE) != 0;
    backend_socket = socket;
    return 0;
}

void iocp_backend::detach(SOCKET, void* backend_socket) noexcept {
    // The association ends when the socket is closed; nothing of it is started (seam).
    delete static_cast<iocp_socket*>(backend_socket);
}

bool iocp_backend::start(io_request& request, io_completion& done) noexcept {
    iocp_last_error_guard guard;
    auto* socket = static_cast<iocp_socket*>(request.backend_socket);
    iocp_direction& direction = on_send_side(request.kind) ? socket->send : socket->recv;
    if (is_malformed(request)) {
        done = io_completion{&request, WSAEINVAL, 0, false}; // the core never does this
        return true;
    }
    direction.ov = OVERLAPPED{};
    direction.active = &request;
    direction.cancelled = false;
    DWORD bytes = 0;
    const int result = issue(request, direction, bytes);
    if (result == WSA_IO_PENDING) return false;
    if (result == 0 && !socket->skip_on_success) return false; // its packet is queued too
    direction.active = nullptr;
    done = io_completion{&request, result, result == 0 ? static_cast<std::uint32_t>(bytes) : 0u,
                         false};
    return true;
}

void iocp_backend::cancel(SOCKET s, void* backend_socket, io_request&, io_request&) noexcept {
    auto* socket = static_cast<iocp_socket*>(backend_socket);
    for (iocp_direction* d : {&socket->recv, &socket->send})
        if (d->active != nullptr) cancel_direction(s, *d);
}

void iocp_backend::cancel_request(io_request& request) noexcept {
    auto* socket = static_cast<iocp_socket*>(request.backend_socket);
    iocp_direction& d = on_send_side(request.kind) ? socket->send : socket->recv;
    if (d.active == &request) cancel_direction(request.socket, d);
}

void iocp_backend::cancel_direction(SOCKET s, iocp_direction& d) noexcept {
    iocp_last_error_guard guard;
    d.cancelled = true;
    // By OVERLAPPED, not CancelIoEx(handle, NULL): only sanport's own requests stop, never
    // I/O the application issued on the same OS handle. ERROR_NOT_FOUND: it already
    // completed, and its packet is on the way.
    ::CancelIoEx(reinterpret_cast<HANDLE>(s), &d.ov);
}

std::size_t iocp_backend::max_regions() const noexcept {
    return 0; // no Registered I/O: Wine has none (WSAEOPNOTSUPP), and RIO needs its own queues
}

bool iocp_backend::add_region(std::int32_t, void*, std::size_t) noexcept {
    return false;
}

void iocp_backend::remove_region(std::int32_t) noexcept {}

bool iocp_backend::finish(const OVERLAPPED_ENTRY& entry, io_completion& out) noexcept {
    auto* direction = reinterpret_cast<iocp_direction*>(entry.lpOverlapped);
    io_request* request = direction->active;
    // ov.Internal holds the NTSTATUS; success and informational codes are >= 0.
    const auto status = static_cast<LONG>(static_cast<ULONG>(direction->ov.Internal));
    out.request = request;
    out.more_data = false;
    out.wsa = status >= 0 ? 0 : completion_error(*request, *direction);
    // Bytes moved before a cancel are kept (seam: "may be > 0 even after cancel()").
    out.bytes =
        out.wsa == 0 || out.wsa == WSA_OPERATION_ABORTED ? entry.dwNumberOfBytesTransferred : 0u;
    if (out.wsa == WSA_OPERATION_ABORTED && !direction->cancelled) {
        // recv.poster-exit: aborted although cancel() never asked, as Wine does to a request
        // whose issuing thread exited (Windows does not, for a socket on a completion port).
        // The seam reports an abort only after cancel(): what moved is a short transfer, and a
        // request that moved nothing is issued again, from this thread, which lives on.
        if (out.bytes != 0) {
            out.wsa = 0;
        } else {
            direction->ov = OVERLAPPED{};
            DWORD bytes = 0;
            const int result = issue(*request, *direction, bytes);
            const bool packet_follows =
                result == WSA_IO_PENDING ||
                (result == 0 &&
                 !reinterpret_cast<const iocp_socket*>(entry.lpCompletionKey)->skip_on_success);
            if (packet_follows) return false;
            out.wsa = result;
            out.bytes = result == 0 ? static_cast<std::uint32_t>(bytes) : 0u;
        }
    }
    direction->active = nullptr;
    return true;
}

std::size_t iocp_backend::reap(io_completion* out, std::size_t max, int timeout_ms) noexcept {
    if (max == 0) return 0;
    iocp_last_error_guard guard;
    OVERLAPPED_ENTRY entries[iocp_reap_batch];
    const auto want = static_cast<ULONG>(std::min(max, iocp_reap_batch));
    const DWORD wait = timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms);
    ULONG got = 0;
    // FALSE with WAIT_TIMEOUT: nothing came in time. Any other refusal is also "no completion".
    if (!::GetQueuedCompletionStatusEx(port_, entries, want, &got, wait, FALSE)) return 0;
    std::size_t produced = 0;
    for (ULONG i = 0; i < got; ++i) {
        const OVERLAPPED_ENTRY& entry = entries[i];
        if (entry.lpCompletionKey == iocp_wake_key) {
            // An RMW, so that a wake() that saw the flag still set (and posted nothing)
            // happens-before the caller's next look for work.
            wake_posted_.exchange(false, std::memory_order_acq_rel);
            continue;
        }
        const auto* socket = reinterpret_cast<const iocp_socket*>(entry.lpCompletionKey);
        if (socket == nullptr ||
            (entry.lpOverlapped != &socket->recv.ov && entry.lpOverlapped != &socket->send.ov))
            continue; // not sanport's request (see iocp_backend.hpp)
        if (finish(entry, out[produced])) ++produced;
    }
    // Only a wake packet: the caller's wait is over all the same (as io_uring's wake READ).
    return produced;
}

void iocp_backend::wake() noexcept {
    if (wake_posted_.exchange(true, std::memory_order_acq_rel)) return; // one is queued
    iocp_last_error_guard guard;
    if (!::PostQueuedCompletionStatus(port_, 0, iocp_wake_key, nullptr))
        wake_posted_.store(false, std::memory_order_release); // let the next wake() try again
}

} // namespace sanport::detail
