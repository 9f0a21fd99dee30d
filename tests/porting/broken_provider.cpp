// SPDX-License-Identifier: MIT
#include "broken_provider.hpp"

#if SANPORT_HAVE_SAMPLE_PROVIDER

#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "samples/san_provider/san_provider.hpp"

namespace sanport::test::broken {

namespace {

fault active = fault::none;
WSPUPCALLTABLEEX host_upcalls{};  // the switch's table, as handed to startup()
WSPUPCALLTABLEEX inner_upcalls{}; // what the sample gets: ours for the completion upcall
WSPPROC_TABLE inner{};            // the sample's proc table

// out_of_order: the first receive waits here for a second one (or a short time-out).
struct held_receive {
    SOCKET s = INVALID_SOCKET;
    std::vector<WSABUF> bufs;
    DWORD flags = 0;
    LPWSAOVERLAPPED ov = nullptr;
};
std::mutex hold_mutex;
held_receive held;
bool holding = false;
unsigned hold_generation = 0; // a flusher posts only the receive it was started for
std::thread flusher;
// Receives the sample accepted and has not completed yet, with their sockets: only a receive
// posted while another is outstanding on its socket is held, so calls the sample would refuse
// (on idle sockets, in the argument rows) still reach it and fail as they should.
std::vector<std::pair<LPWSAOVERLAPPED, SOCKET>> outstanding;

bool outstanding_on_locked(SOCKET s) {
    for (const auto& [ov, sock] : outstanding)
        if (sock == s) return true;
    return false;
}

int post_inner_locked(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD received, LPDWORD flags,
                      LPWSAOVERLAPPED ov, LPINT lpErrno) {
    const int rc = inner.lpWSPRecv(s, bufs, count, received, flags, ov, nullptr, nullptr, lpErrno);
    if (rc == SOCKET_ERROR && *lpErrno == WSA_IO_PENDING) outstanding.emplace_back(ov, s);
    return rc;
}

void post_held_locked() {
    if (!holding) return;
    holding = false;
    DWORD bytes = 0;
    int err = 0;
    post_inner_locked(held.s, held.bufs.data(), static_cast<DWORD>(held.bufs.size()), &bytes,
                      &held.flags, held.ov, &err);
}

void drop_event(LPWSAOVERLAPPED ov) {
    ov->hEvent = reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(ov->hEvent) & 1u);
}

int WSPAPI complete(SOCKET s, LPWSAOVERLAPPED ov, DWORD error, DWORD bytes, LPINT lpErrno) {
    if (active == fault::out_of_order) {
        std::lock_guard lock(hold_mutex);
        std::erase_if(outstanding, [ov](const auto& entry) { return entry.first == ov; });
    }
    if (active == fault::no_event) drop_event(ov);
    const int rc = host_upcalls.lpWPUCompleteOverlappedRequest(s, ov, error, bytes, lpErrno);
    if (active == fault::twice) {
        // The second report without the event: the waiter may have closed it after the first
        // (Windows would refuse a closed handle; sanport's Linux events are plain pointers).
        // The extra completion-queue packet is the fault.
        drop_event(ov);
        host_upcalls.lpWPUCompleteOverlappedRequest(s, ov, error, bytes, lpErrno);
    }
    return rc;
}

int WSPAPI recv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD received, LPDWORD flags,
                LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine,
                LPWSATHREADID thread, LPINT lpErrno) {
    if (active == fault::holes && ov && bufs && count >= 2) {
        std::vector<WSABUF> halved(bufs, bufs + count);
        for (WSABUF& b : halved)
            b.len = (b.len + 1) / 2;
        return inner.lpWSPRecv(s, halved.data(), count, received, flags, ov, routine, thread,
                               lpErrno);
    }
    if (active == fault::out_of_order && ov && bufs && count > 0 && flags && lpErrno) {
        std::unique_lock lock(hold_mutex);
        if (!holding && !outstanding_on_locked(s))
            return post_inner_locked(s, bufs, count, received, flags, ov, lpErrno);
        if (!holding) {
            std::thread previous = std::move(flusher);
            held = {s, std::vector<WSABUF>(bufs, bufs + count), *flags, ov};
            holding = true;
            const unsigned generation = ++hold_generation;
            ov->Internal = WSS_OPERATION_IN_PROGRESS;
            flusher = std::thread([generation] {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                std::lock_guard l(hold_mutex);
                if (generation == hold_generation) post_held_locked();
            });
            lock.unlock(); // the previous flusher may be waiting for the lock
            if (previous.joinable()) previous.join();
            *lpErrno = WSA_IO_PENDING;
            return SOCKET_ERROR;
        }
        const int rc = post_inner_locked(s, bufs, count, received, flags, ov, lpErrno);
        post_held_locked(); // after the one posted later: filled second
        return rc;
    }
    const int rc = inner.lpWSPRecv(s, bufs, count, received, flags, ov, routine, thread, lpErrno);
    if (active == fault::would_block && rc == SOCKET_ERROR && lpErrno && *lpErrno == WSA_IO_PENDING)
        *lpErrno = WSAEWOULDBLOCK;
    return rc;
}

// A held receive whose socket closes is aborted here, as the sample would abort it: reordering
// is this fault's only one.
int WSPAPI close_socket(SOCKET s, LPINT lpErrno) {
    {
        std::lock_guard lock(hold_mutex);
        if (holding && held.s == s) {
            holding = false;
            int err = 0;
            host_upcalls.lpWPUCompleteOverlappedRequest(s, held.ov, WSA_OPERATION_ABORTED, 0, &err);
        }
    }
    return inner.lpWSPCloseSocket(s, lpErrno);
}

int WSPAPI cleanup(LPINT lpErrno) {
    {
        std::lock_guard lock(hold_mutex);
        holding = false;
        outstanding.clear();
    }
    if (flusher.joinable()) flusher.join();
    return inner.lpWSPCleanup(lpErrno);
}

} // namespace

void set_fault(fault f) noexcept {
    active = f;
}

int WSPAPI startup(WORD version, LPWSPDATA data, LPWSAPROTOCOL_INFOW info,
                   LPWSPUPCALLTABLEEX upcalls, LPWSPPROC_TABLE procs) {
    if (!upcalls || !procs) return WSAEFAULT;
    host_upcalls = *upcalls;
    inner_upcalls = *upcalls;
    inner_upcalls.lpWPUCompleteOverlappedRequest = complete;
    if (const int rc = ::WSPStartupEx(version, data, info, &inner_upcalls, &inner)) return rc;
    *procs = inner;
    procs->lpWSPRecv = recv;
    procs->lpWSPCleanup = cleanup;
    procs->lpWSPCloseSocket = close_socket;
    return 0;
}

} // namespace sanport::test::broken

#endif
