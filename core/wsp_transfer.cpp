// SPDX-License-Identifier: MIT
// WSPRecv and WSPSend: check, capture, post, then 0 (done at once) or WSA_IO_PENDING.
//
// recv.immediate, recv.pending: the specification says "If the data reception operation
// completes immediately, the SAN service provider
// returns from WSPRecv with a value of zero and specifies the number of bytes received at
// lpNumberOfBytesRecvd ... Note that in this case [pending], a value is not specified at
// lpNumberOfBytesRecvd and flags at lpFlags are not updated."
#include "core/diag.hpp"
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
    // recv.flags.invalid: urgent data belongs to the switch, and the specification forbids
    // WSAEOPNOTSUPP: WSAEINVAL.
    if (flags & MSG_OOB) return failed_because(WSAEINVAL, "MSG_OOB: urgent data is not offered");
    if ((flags & MSG_PEEK) && (flags & MSG_WAITALL))
        return failed_because(WSAEINVAL, "MSG_PEEK and MSG_WAITALL together");
    if (flags & ~known_recv_flags)
        return failed_because(WSAEINVAL, "a flag other than MSG_PEEK, MSG_WAITALL, MSG_PARTIAL");
    return 0;
}

// A call that failed at once (sticky reset, WSAEDISCON) notifies nobody, as on Windows, but its
// structure must not stay "in progress": WSPGetOverlappedResult(fWait=TRUE) would wait forever.
void record_sync_failure(WSAOVERLAPPED& ov, int wsa) noexcept {
    ov.InternalHigh = 0;
    ov.Offset = 0;
    ov.OffsetHigh = static_cast<DWORD>(wsa);
    std::atomic_ref<ULONG_PTR>(ov.Internal)
        .store(static_cast<ULONG_PTR>(wsa), std::memory_order_release);
}

ULONG_PTR load_internal(WSAOVERLAPPED& ov) noexcept {
    return std::atomic_ref<ULONG_PTR>(ov.Internal).load(std::memory_order_acquire);
}

// recv.blocking, send.blocking: posts o (capture done) on s, whose mutex `lock` holds; waits for
// a blocking call.
// Returns 0 or the WSA code; on 0 `bytes` holds the count.
// The caller holds a reference (socket_entry): s outlives the unlock.
int run_blocking(socket_state& s, std::unique_lock<spin_mutex>& lock, op& o,
                 int (*post)(socket_state&, op&) noexcept, DWORD& bytes) {
    WSAOVERLAPPED ov{};
    ov.Internal = overlapped_in_progress;
    o.overlapped = &ov;
    o.no_packet = true; // a blocking call never produces a completion-queue packet
    const int r = post(s, o);
    lock.unlock();
    if (r != 0 && r != WSA_IO_PENDING) return r;
    if (r == WSA_IO_PENDING) {
        s.engine->wait_until([&] { return load_internal(ov) != overlapped_in_progress; });
    }
    bytes = static_cast<DWORD>(ov.InternalHigh);
    return static_cast<int>(ov.OffsetHigh);
}

// What differs between the two directions of one transfer call.
struct transfer_call {
    transfer_dir dir;
    DWORD access; // MEM_WRITE for a receive target, MEM_READ for a send source
    int (*post)(socket_state&, op&) noexcept;
    int (*on_caller)(socket_state&, op&, std::unique_lock<spin_mutex>&) noexcept;
};

// engine.other-thread.blocking: a blocking call on a thread that may not drive s's engine is
// served on that thread when nothing of its direction is queued, in flight or read ahead;
// otherwise the owner alone can reach it, and waiting for the owner could last for ever.
int run_on_caller(socket_state& s, std::unique_lock<spin_mutex>& lock, op& o,
                  const transfer_call& call, DWORD& bytes) {
    const direction& d = call.dir == transfer_dir::recv ? s.recv : s.send;
    if (!d.ops.empty() || d.in_flight || d.on_caller ||
        (call.dir == transfer_dir::recv && s.ra_available() != 0)) {
        op_free(s, o);
        set_error_detail(call.dir == transfer_dir::recv
                             ? "WSPRecv: a blocking receive on a thread that is not the driven "
                               "engine's owner, with receives of this socket pending or read "
                               "ahead: only the owner can complete them"
                             : "WSPSend: a blocking send on a thread that is not the driven "
                               "engine's owner, with sends of this socket pending: only the "
                               "owner can complete them");
        return WSAEINVAL;
    }
    WSAOVERLAPPED ov{};
    ov.Internal = overlapped_in_progress;
    o.overlapped = &ov;
    o.no_packet = true;
    const int r = call.on_caller(s, o, lock);
    lock.unlock();
    if (r != 0) return r;
    bytes = static_cast<DWORD>(ov.InternalHigh);
    return static_cast<int>(ov.OffsetHigh);
}

// Runs f(state, lock, elsewhere) on the socket of a transfer call, locked; WSAENOTSOCK when
// there is none. An overlapped call is over when it unlocks, so the lock alone keeps the state
// (socket_table::lock_entry); a blocking call waits with the lock released, so it also counts
// a reference, which a close waits for.
template <class F> int on_transfer_socket(SOCKET s, bool overlapped_call, F&& f) {
    socket_table& table = socket_table::instance();
    if (overlapped_call) [[likely]] {
        socket_state* state = table.lock_entry(s);
        if (!state) return WSAENOTSOCK;
        std::unique_lock<spin_mutex> lock(state->mutex, std::adopt_lock);
        return f(*state, lock, false);
    }
    const socket_ref ref = table.find(s);
    if (!ref) return WSAENOTSOCK;
    // engine.other-thread.blocking: asked before the lock, since it may bind the owner
    // (engine.owner) under the engine's lock.
    const bool elsewhere = ref->engine->owner_elsewhere();
    std::unique_lock<spin_mutex> lock(ref->mutex);
    return f(*ref, lock, elsewhere);
}

// The shared path: state checks, registration check, capture, then post (overlapped) or post
// and wait (lpOverlapped NULL). Returns 0 with *bytes set, WSA_IO_PENDING, or the error.
// One instance per direction, so the post is a direct call and the call's description is
// constants (a struct built and read through per call cost 15 instructions).
template <transfer_dir Dir>
int transfer(socket_state& s, std::unique_lock<spin_mutex>& lock, bool elsewhere,
             const WSABUF* buffers, DWORD count, LPWSAOVERLAPPED overlapped, DWORD flags,
             DWORD& bytes) {
    constexpr bool recv = Dir == transfer_dir::recv;
    static constexpr transfer_call call{Dir, recv ? DWORD{MEM_WRITE} : DWORD{MEM_READ},
                                        recv ? recv_post : send_post,
                                        recv ? recv_on_caller : send_on_caller};
    if (int wsa = check_transfer_state(s, overlapped != nullptr, Dir)) return wsa;
    buffer_check bc;
    if (s.check_registration) [[unlikely]] { // registered memory, or strict registration
        bc = s.extras->regions.check(buffers, count, call.access, s.extras->strict_registration);
        if (bc.wsa) return bc.wsa;
    }
    op* o = op_alloc(s, count);
    if (!o) return WSAENOBUFS; // depart.codes: the one code outside the specification's list
    op_capture(*o, buffers, count);
    o->flags = static_cast<std::uint16_t>(flags);
    // Fixed-buffer reads take no MSG_* flags (docs/design.md, "Facts the design rests on");
    // sends copy anyway.
    o->fixed_slot = recv && flags == 0 ? bc.fixed_slot : -1;
    if (elsewhere) return run_on_caller(s, lock, *o, call, bytes);
    if (!overlapped) return run_blocking(s, lock, *o, call.post, bytes);

    std::atomic_ref<ULONG_PTR>(overlapped->Internal)
        .store(overlapped_in_progress, std::memory_order_relaxed);
    o->overlapped = overlapped;
    const int r = recv ? recv_post(s, *o) : send_post(s, *o);
    if (r == 0)
        bytes = s.immediate_bytes; // the overlapped may already be reused by a dequeuer
    else if (r != WSA_IO_PENDING)
        record_sync_failure(*overlapped, r);
    return r;
}

} // namespace

int WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
            LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
            LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    // recv.ignored-args: the specification says of lpCompletionRoutine and lpThreadId "the SAN
    // service provider ignores" them.
    if (!lpErrno) return SOCKET_ERROR;
    const int r = on_transfer_socket(
        s, lpOverlapped != nullptr, [&](socket_state& st, auto& lock, bool elsewhere) {
            if (int wsa = check_buffers(lpBuffers, dwBufferCount)) return wsa;
            if (!lpFlags) return WSAEFAULT;
            if (int wsa = check_recv_flags(*lpFlags)) return wsa;
            DWORD bytes = 0;
            if (int wsa = transfer<transfer_dir::recv>(st, lock, elsewhere, lpBuffers,
                                                       dwBufferCount, lpOverlapped,
                                                       *lpFlags & (MSG_PEEK | MSG_WAITALL), bytes))
                return wsa;
            if (lpNumberOfBytesRecvd) *lpNumberOfBytesRecvd = bytes;
            *lpFlags = 0; // stream sockets: MSG_PARTIAL never applies
            return 0;
        });
    return r == 0 ? 0 : fail(lpErrno, r);
}

int WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
            DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE /*lpCompletionRoutine*/,
            LPWSATHREADID /*lpThreadId*/, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    const int r = on_transfer_socket(
        s, lpOverlapped != nullptr, [&](socket_state& st, auto& lock, bool elsewhere) {
            if (int wsa = check_buffers(lpBuffers, dwBufferCount)) return wsa;
            if (dwFlags != 0) // WSD: dwFlags "must be zero"
                return failed_because(WSAEINVAL, "WSPSend's dwFlags must be 0");
            DWORD bytes = 0;
            if (int wsa = transfer<transfer_dir::send>(st, lock, elsewhere, lpBuffers,
                                                       dwBufferCount, lpOverlapped, 0, bytes))
                return wsa;
            if (lpNumberOfBytesSent) *lpNumberOfBytesSent = bytes;
            return 0;
        });
    return r == 0 ? 0 : fail(lpErrno, r);
}

} // namespace sanport
