// SPDX-License-Identifier: MIT
// Windows: the completion queue's packets live in a real I/O completion port, so a
// sanport::completion_queue behaves as a port does: FIFO, GetQueuedCompletionStatusEx batches,
// any number of waiting threads.
//
// PostQueuedCompletionStatus cannot carry a status, and a packet must say whether its operation
// failed: NtSetIoCompletion (what PostQueuedCompletionStatus calls, with status 0) takes one,
// and GetQueuedCompletionStatusEx hands it back in OVERLAPPED_ENTRY::Internal. Wine implements
// both the same way.
#include "core/packet_port.hpp"

#include <sanport/compat.h>

#include <atomic>
#include <windows.h>

namespace sanport::detail {

namespace {

using nt_set_io_completion_fn = LONG(WINAPI*)(HANDLE port, ULONG_PTR key, PVOID overlapped,
                                              LONG status, ULONG_PTR information);

nt_set_io_completion_fn nt_set_io_completion() noexcept {
    static const nt_set_io_completion_fn fn = [] {
        HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
        return ntdll ? reinterpret_cast<nt_set_io_completion_fn>(
                           reinterpret_cast<void*>(GetProcAddress(ntdll, "NtSetIoCompletion")))
                     : nullptr;
    }();
    return fn;
}

// The close packet: its OVERLAPPED address cannot be a caller's. Each waiter that takes it puts
// it back, so one close releases every waiter.
OVERLAPPED close_marker{};

} // namespace

struct packet_port::state {
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0);
    std::atomic<bool> closed{false};
    // Packets pushed and not yet popped (empty_hint); the port itself cannot say.
    std::atomic<long> queued{0};
};

packet_port::packet_port() : state_(std::make_unique<state>()) {}

packet_port::~packet_port() {
    if (state_->port) CloseHandle(state_->port);
}

bool packet_port::push(const completion_entry& e) noexcept {
    state& s = *state_;
    if (!s.port || s.closed.load(std::memory_order_acquire)) return false;
    // Counted before it is visible to a pop, so the count never goes below zero.
    s.queued.fetch_add(1, std::memory_order_relaxed);
    bool ok = false;
    if (nt_set_io_completion_fn set = nt_set_io_completion())
        ok = set(s.port, e.key, e.overlapped, e.status, e.bytes) >= 0;
    else // without ntdll's entry point the status is lost; the WSAOVERLAPPED still holds it
        ok = PostQueuedCompletionStatus(s.port, e.bytes, e.key, e.overlapped) != FALSE;
    if (!ok) s.queued.fetch_sub(1, std::memory_order_relaxed);
    return ok;
}

std::size_t packet_port::pop(completion_entry* out, std::size_t max, int timeout_ms) noexcept {
    state& s = *state_;
    if (!s.port || s.closed.load(std::memory_order_acquire)) return 0;
    OVERLAPPED_ENTRY entries[64];
    const ULONG want = static_cast<ULONG>(max < 64 ? max : 64);
    ULONG got = 0;
    const DWORD wait = timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms);
    const DWORD saved = GetLastError(); // our callers never see it change
    const BOOL ok = GetQueuedCompletionStatusEx(s.port, entries, want, &got, wait, FALSE);
    SetLastError(saved);
    if (!ok) return 0; // WAIT_TIMEOUT
    std::size_t n = 0;
    for (ULONG i = 0; i < got; ++i) {
        if (entries[i].lpOverlapped == &close_marker) {
            PostQueuedCompletionStatus(s.port, 0, 0, &close_marker);
            continue;
        }
        out[n++] =
            completion_entry{reinterpret_cast<WSAOVERLAPPED*>(entries[i].lpOverlapped),
                             entries[i].dwNumberOfBytesTransferred, entries[i].lpCompletionKey,
                             static_cast<int>(entries[i].Internal)};
    }
    if (n != 0) s.queued.fetch_sub(static_cast<long>(n), std::memory_order_relaxed);
    return s.closed.load(std::memory_order_acquire) ? 0 : n;
}

void packet_port::close() noexcept {
    state& s = *state_;
    if (s.closed.exchange(true, std::memory_order_acq_rel) || !s.port) return;
    PostQueuedCompletionStatus(s.port, 0, 0, &close_marker);
}

bool packet_port::is_closed() const noexcept {
    return state_->closed.load(std::memory_order_acquire);
}

bool packet_port::empty_hint() const noexcept {
    return state_->queued.load(std::memory_order_relaxed) == 0;
}

} // namespace sanport::detail
