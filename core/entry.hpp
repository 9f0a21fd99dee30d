// SPDX-License-Identifier: MIT
// Helpers shared by the WSP entry points: the argument and state checks of docs/contract.md §4,
// each returning 0 or the WSA code to report.
#pragma once

#include "core/socket_state.hpp"
#include "core/socket_table.hpp"

#include <sanport/compat.h>

#include <cstdint>

namespace sanport::detail {

// Linux never maps the first 64 KiB (vm.mmap_min_addr), Windows the first 64 KiB either: a
// buffer there is "not totally contained in a valid part of the user address space".
inline constexpr std::uintptr_t lowest_valid_address = 0x10000;

enum class transfer_dir { recv, send };

// recv.count.zero, recv.count.large, recv.args.fault (and send.args):
// dwBufferCount and the WSABUF array: WSAEINVAL for a count of 0 or above max_buffer_count,
// WSAEFAULT for a NULL array or an entry whose buf is NULL (or in the first 64 KiB, or wraps)
// while its len is not 0.
// Inline for the common call, one valid buffer; anything else takes the full check.
int check_buffers_in_full(const WSABUF* buffers, DWORD count) noexcept;
inline int check_buffers(const WSABUF* buffers, DWORD count) noexcept {
    if (count == 1 && buffers != nullptr) [[likely]] {
        const auto p = reinterpret_cast<std::uintptr_t>(buffers[0].buf);
        if (p >= lowest_valid_address && p + buffers[0].len >= p) return 0;
    }
    return check_buffers_in_full(buffers, count);
}

// The socket's state for a transfer; s.mutex held. Inline for a connected socket with nothing
// unusual set; the rest (and every failure's reason) in check_transfer_state_in_full.
int check_transfer_state_in_full(const socket_state& s, bool overlapped_call,
                                 transfer_dir dir) noexcept;
inline int check_transfer_state(const socket_state& s, bool overlapped_call,
                                transfer_dir dir) noexcept {
    const bool shut = dir == transfer_dir::recv ? s.rd_shutdown : s.wr_shutdown;
    if (!s.closing && (s.overlapped || !overlapped_call) && s.state == conn_state::connected &&
        !shut) [[likely]]
        return 0;
    return check_transfer_state_in_full(s, overlapped_call, dir);
}

// Stores code in *lpErrno (if any) and returns the failure value.
inline int fail(LPINT lpErrno, int code) noexcept {
    if (lpErrno) *lpErrno = code;
    return SOCKET_ERROR;
}

// The shape of a call on one socket: WSAENOTSOCK unless it is sanport's, then f(state) gives
// 0 or the code. The socket is held across f, so a concurrent close waits for the call and
// the number is never reused under it (an option set there would land on a stranger).
template <class F> int with_socket(SOCKET s, LPINT lpErrno, F f) {
    if (!lpErrno) return SOCKET_ERROR;
    const socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    if (const int wsa = f(*sock)) return fail(lpErrno, wsa);
    return 0;
}

} // namespace sanport::detail

namespace sanport::detail {

class engine_impl;
class registry;

// wsp_memory.cpp: a closing socket's registrations go back to the engine.
void retire_regions(engine_impl& e, registry& regions);

// wsp_lifecycle.cpp: puts an OS socket under sanport on engine e. On failure returns
// INVALID_SOCKET with *wsa set and leaves the OS socket open (the caller decides). An entry
// sanport still holds for the same number is stale and retired first (stale.retire), unless
// `adopting` and the handle still names that entry's socket (adopted twice: WSAEINVAL).
SOCKET register_socket(engine_impl& e, SOCKET os, bool overlapped, conn_state state, int family,
                       int& wsa, bool adopting = false);

} // namespace sanport::detail
