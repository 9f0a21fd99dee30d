// SPDX-License-Identifier: MIT
// Argument and state checks shared by the entry points (see entry.hpp).
#include "core/entry.hpp"

#include <sanport/wsp.h>

namespace sanport::detail {

int check_buffers(const WSABUF* buffers, DWORD count) noexcept {
    if (count == 0 || count > max_buffer_count) return WSAEINVAL;
    if (!buffers) return WSAEFAULT;
    for (DWORD i = 0; i < count; ++i) {
        if (buffers[i].len == 0) continue;
        const auto p = reinterpret_cast<std::uintptr_t>(buffers[i].buf);
        if (p < lowest_valid_address || p + buffers[i].len < p) return WSAEFAULT;
    }
    return 0;
}

int check_transfer_state(const socket_state& s, bool overlapped_call, transfer_dir dir) noexcept {
    if (s.closing) return WSAENOTSOCK; // recv.socket.unknown, send.socket.unknown
    // recv.state.invalid: the specification's WSAEINVAL "The switch either did not create the
    // socket with the overlapped flag or did not call the WSPBind function".
    // depart.overlapped.not-ignored: such a call fails rather than being run as a blocking one;
    // depart.bound.accepted: accepted and connected sockets count as bound.
    if (overlapped_call && !s.overlapped) return WSAEINVAL;
    if (s.state == conn_state::fresh) return WSAEINVAL;
    if (s.state != conn_state::connected) return WSAENOTCONN; // recv.state.not-connected
    // recv.shutdown: the core keeps SD_RECEIVE itself; receives already pending carry on.
    if (dir == transfer_dir::recv && s.rd_shutdown) return WSAESHUTDOWN;
    if (dir == transfer_dir::send && s.wr_shutdown) return WSAESHUTDOWN; // send.shutdown
    return 0;
}

} // namespace sanport::detail
