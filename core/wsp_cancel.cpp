// SPDX-License-Identifier: MIT
// WSPCancelIoEx: cancelling one pending operation, or every one of a socket, without closing
// it (CancelIoEx's model; docs/contract.md, cancel.*).
//
// An op the kernel does not hold (queued behind the head, or a head waiting for its start)
// leaves its FIFO at once and completes aborted; the ops around it keep their order. The head
// the kernel holds is marked and its request cancelled through the backend; its completion
// then finishes it once: aborted, or successfully with the bytes that had already reached its
// buffers (recv_done/send_done), so no received byte is dropped and the stream read over every
// completed receive stays exactly what the peer sent.
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/transfer.hpp"

#include <sanport/wsp.h>

#include <mutex>

namespace sanport {

using namespace detail;

namespace {

// Blocking calls (no_packet) are not overlapped I/O: CancelIoEx does not reach them either.
bool matches(const op& o, const void* ov) noexcept {
    return !o.no_packet && (ov == nullptr || o.overlapped == ov);
}

std::uint32_t cancel_in(socket_state& s, direction& d, const WSAOVERLAPPED* ov) noexcept {
    return cancel_matching(s, d, matches, ov);
}

} // namespace

namespace detail {

std::uint32_t cancel_matching(socket_state& s, direction& d, bool (*match)(const op&, const void*),
                              const void* what) noexcept {
    std::uint32_t found = 0;
    const op* kernel_head = head_in_kernel(s, d) ? d.ops.begin() : nullptr;
    for (op* o = d.ops.begin(); o != nullptr;) {
        op* next = o->next;
        if (match(*o, what)) {
            ++found;
            if (o == kernel_head) {
                if (!o->cancelled) {
                    o->cancelled = true; // cancel.in-flight: its completion finishes it
                    s.engine->want_cancel_request(s, d);
                }
            } else {
                // cancel.queued; only a head can hold bytes (MSG_WAITALL, from read-ahead).
                if (o == d.ops.begin())
                    d.ops.pop_front();
                else
                    d.ops.unlink_after_head(*o);
                complete_op(s, *o, o->bytes != 0 ? 0 : WSA_OPERATION_ABORTED, false);
            }
        }
        o = next;
    }
    return found;
}

} // namespace detail

int WSPCancelIoEx(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPINT lpErrno) {
    return with_socket(s, lpErrno, [&](socket_state& st) {
        std::lock_guard lock(st.mutex);
        if (st.closing) return WSAENOTSOCK; // as every call on a socket being closed
        const std::uint32_t found =
            cancel_in(st, st.recv, lpOverlapped) + cancel_in(st, st.send, lpOverlapped);
        if (found != 0) {
            // A head removed before its start leaves the next op waiting: start it (nothing
            // happens where a request is in flight, or where a start is already pending).
            recv_start(st);
            send_start(st);
            return 0;
        }
        set_error_detail(lpOverlapped ? "no pending operation of this socket has this overlapped"
                                      : "this socket has no pending overlapped operation");
        return static_cast<int>(ERROR_NOT_FOUND);
    });
}

} // namespace sanport
