// SPDX-License-Identifier: MIT
// Argument and state checks shared by the entry points (see entry.hpp).
#include "core/entry.hpp"

#include "core/diag.hpp"

#include <sanport/wsp.h>

namespace sanport::detail {

int check_buffers_in_full(const WSABUF* buffers, DWORD count) noexcept {
    if (count == 0)
        return failed_because(WSAEINVAL, "dwBufferCount is 0: a transfer needs one buffer");
    if (count > max_buffer_count)
        return failed_because(WSAEINVAL, "dwBufferCount is above sanport::max_buffer_count");
    if (!buffers) return failed_because(WSAEFAULT, "lpBuffers is NULL");
    for (DWORD i = 0; i < count; ++i) {
        if (buffers[i].len == 0) continue;
        const auto p = reinterpret_cast<std::uintptr_t>(buffers[i].buf);
        if (p < lowest_valid_address || p + buffers[i].len < p)
            return failed_because(WSAEFAULT, "a WSABUF's buf is not valid memory for its len");
    }
    return 0;
}

int check_transfer_state_in_full(const socket_state& s, bool overlapped_call,
                                 transfer_dir dir) noexcept {
    if (s.closing) // recv.socket.unknown, send.socket.unknown
        return failed_because(WSAENOTSOCK, "the socket is being closed");
    // recv.state.invalid: the specification's WSAEINVAL "The switch either did not create the
    // socket with the overlapped flag or did not call the WSPBind function".
    // depart.overlapped.not-ignored: such a call fails rather than being run as a blocking one;
    // depart.bound.accepted: accepted and connected sockets count as bound.
    // diag.detail: set on the failure branches only; the success path stores nothing.
    if (overlapped_call && !s.overlapped)
        return failed_because(WSAEINVAL, "an overlapped call on a socket made without "
                                         "WSA_FLAG_OVERLAPPED");
    if (s.state == conn_state::fresh)
        return failed_because(WSAEINVAL, "the socket is neither bound nor connected");
    if (s.state != conn_state::connected) // recv.state.not-connected
        return failed_because(WSAENOTCONN, s.state == conn_state::listening
                                               ? "the socket is a listener, not a connection"
                                               : "the socket is bound but not connected");
    // recv.shutdown: the core keeps SD_RECEIVE itself; receives already pending carry on.
    if (dir == transfer_dir::recv && s.rd_shutdown) return WSAESHUTDOWN;
    if (dir == transfer_dir::send && s.wr_shutdown) return WSAESHUTDOWN; // send.shutdown
    return 0;
}

} // namespace sanport::detail
