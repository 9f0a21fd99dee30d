// SPDX-License-Identifier: MIT
// What accept_queue.cpp and connect_queue.cpp share: posting a connection-setup op into a
// socket's direction and starting it, with the same hand-off and immediate-completion rules as
// recv_post (the op starts on this thread when the backend allows it; if the backend finishes it
// inline, the call returns 0 instead of WSA_IO_PENDING). s.mutex held.
#pragma once

#include "core/engine_impl.hpp"
#include "core/socket_state.hpp"
#include "core/transfer.hpp"

#include <atomic>
#include <cstdint>

namespace sanport::detail {

// A recycled or new op of s for a setup call (WSPAcceptEx, WSPConnectEx) with `room` entries for
// its arguments and `capacity` bytes to move afterwards, its WSAOVERLAPPED marked in progress;
// nullptr when memory ran out. The caller fills the arguments into o->buffers().
inline op* setup_op(socket_state& s, std::uint32_t room, std::uint32_t capacity,
                    WSAOVERLAPPED* overlapped) noexcept {
    op* o = op_alloc(s, room);
    if (!o) return nullptr;
    o->count = 0;
    o->index = 0;
    o->bytes = 0;
    o->capacity = capacity;
    o->held_back = 0;
    std::atomic_ref<ULONG_PTR>(overlapped->Internal)
        .store(overlapped_in_progress, std::memory_order_relaxed);
    o->overlapped = overlapped;
    return o;
}

// want(): ask the engine thread to start d's head. start(): start it here.
template <class Want, class Start>
int post_setup_op(socket_state& s, direction& d, op& o, Want want, Start start) noexcept {
    d.ops.push_back(o);
    if (d.in_flight) return WSA_IO_PENDING;
    if (!s.engine->starts_here()) {
        want();
        return WSA_IO_PENDING;
    }
    s.setup_posting = &o;
    s.posting_done = false;
    start();
    s.setup_posting = nullptr;
    return s.posting_done ? 0 : WSA_IO_PENDING;
}

// start_once(): start d's head if nothing of d is in the kernel.
template <class Want, class StartOnce>
void start_setup_op(socket_state& s, direction& d, Want want, StartOnce start_once) noexcept {
    if (!s.engine->starts_here()) {
        if (!d.ops.empty()) want();
        return;
    }
    start_flat(d, start_once);
}

// The request for d's head setup op, or nullptr when nothing is to start (something of d is
// in the kernel, the socket closes, nothing is queued). The caller names the target.
inline io_request* setup_request(socket_state& s, direction& d, io_kind kind) noexcept {
    d.start_wanted = false;
    if (d.in_flight || s.closing || d.ops.empty()) return nullptr;
    io_request& r = d.request; // bind_requests named the socket
    r.kind = kind;
    r.count = 0;
    r.flags = 0;
    r.fixed_slot = -1;
    return &r;
}

} // namespace sanport::detail
