// SPDX-License-Identifier: MIT
// The IOCP backend: one completion port per engine, reaped by the engine thread. Requests are
// issued on the thread that posts the operation (starts_on_any_thread): a port is bound to no
// thread, and the request is in the kernel before WSPRecv returns, with no hand-off.
//
// Invariants: every socket is associated with the port under its iocp_socket's address as the
// key, and a request is known by its OVERLAPPED, which lives in that iocp_socket (one per
// direction), so nothing is allocated per request. The key only lets reap() check that a
// packet's OVERLAPPED is one of that socket's two: I/O the application itself issued on the
// OS handle also lands in this port (a handle has one port) and is dropped, never misread.
// wake()'s packet has key iocp_wake_key and no OVERLAPPED; it is consumed, never reported.
#pragma once

#include "core/backend.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace sanport::detail {

// The completion key of wake()'s packet; a socket's key is its (aligned) iocp_socket address.
inline constexpr ULONG_PTR iocp_wake_key = 1;

// Completion packets taken from the port per GetQueuedCompletionStatusEx call.
inline constexpr std::size_t iocp_reap_batch = 128;

// One direction's request: the OVERLAPPED the kernel completes, and the io_request it carries.
// OVERLAPPED comes first, so a dequeued LPOVERLAPPED is the iocp_direction itself.
struct iocp_direction {
    OVERLAPPED ov{};
    io_request* active = nullptr; // started, not yet reported
    bool cancelled = false;       // cancel() asked for it (engine thread, socket lock held)
};
static_assert(std::is_standard_layout_v<iocp_direction>,
              "an LPOVERLAPPED from the port is cast back to its iocp_direction");

// What attach() makes; handed back as io_request::backend_socket.
struct iocp_socket {
    SOCKET s = INVALID_SOCKET;
    // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on: an immediate success queues no packet, so
    // start() reports it inline. Off (refused, or a non-IFS LSP): the packet reports it.
    bool skip_on_success = false;
    iocp_direction recv;
    iocp_direction send;
};

// "None touches errno for the caller" (sys.hpp), and on Windows WSAGetLastError is the
// thread's GetLastError: every call that may run on a caller's thread (a driven engine, the
// sys calls) restores it on the way out.
class iocp_last_error_guard {
public:
    iocp_last_error_guard() noexcept : saved_(::GetLastError()) {}
    ~iocp_last_error_guard() { ::SetLastError(saved_); }
    iocp_last_error_guard(const iocp_last_error_guard&) = delete;
    iocp_last_error_guard& operator=(const iocp_last_error_guard&) = delete;

private:
    DWORD saved_;
};

// Winsock's WSAStartup, once per process (Winsock counts it; never cleaned up: sockets may be
// closed while static objects are torn down). 0 or a WSA code. In iocp_sys.cpp.
int iocp_winsock_startup() noexcept;

class iocp_backend final : public backend {
public:
    // Starts Winsock and creates the port. On failure setup_error() is non-zero and the object
    // must not be used as a backend.
    explicit iocp_backend(unsigned queue_depth) noexcept;
    ~iocp_backend() override;
    iocp_backend(const iocp_backend&) = delete;
    iocp_backend& operator=(const iocp_backend&) = delete;

    // 0, or the Win32/WSA code of the step that failed.
    int setup_error() const noexcept { return setup_error_; }
    const char* setup_step() const noexcept { return setup_step_; }

    const char* name() const noexcept override { return "iocp"; }
    bool starts_on_any_thread() const noexcept override { return true; }
    bool reaps_on_any_thread() const noexcept override { return true; }
    int bind_thread() noexcept override;
    int attach(SOCKET s, void*& backend_socket) noexcept override;
    void detach(SOCKET s, void* backend_socket) noexcept override;
    bool start(io_request& request, io_completion& done) noexcept override;
    void cancel(SOCKET s, void* backend_socket, io_request& recv,
                io_request& send) noexcept override;
    void cancel_request(io_request& request) noexcept override;
    std::size_t max_regions() const noexcept override;
    bool add_region(std::int32_t slot, void* base, std::size_t length) noexcept override;
    void remove_region(std::int32_t slot) noexcept override;
    std::size_t reap(io_completion* out, std::size_t max, int timeout_ms) noexcept override;
    void wake() noexcept override;

private:
    // iocp_recv.cpp: the request → WSARecv/WSASend table. 0 = finished now (bytes set),
    // WSA_IO_PENDING = a packet will come, else the WSA code of an immediate failure.
    static int issue(io_request& request, iocp_direction& direction, DWORD& bytes) noexcept;
    // iocp_recv.cpp: the WSA code of a failed completion (NTSTATUS in ov.Internal).
    static int completion_error(const io_request& request, iocp_direction& direction) noexcept;
    static void cancel_direction(SOCKET s, iocp_direction& direction) noexcept;

    // iocp_backend.cpp. false: nothing to report yet (the request was issued again).
    bool finish(const OVERLAPPED_ENTRY& entry, io_completion& out) noexcept;

    HANDLE port_ = nullptr;
    int setup_error_ = 0;
    const char* setup_step_ = "";
    // A wake packet is queued and not yet dequeued: wake() posts at most one at a time.
    std::atomic<bool> wake_posted_{false};
};

} // namespace sanport::detail
