// SPDX-License-Identifier: MIT
// WSPConnectEx: ConnectEx's model (docs/contract.md, connect.*).
//
// The checks and their codes are those Windows gives (Wine's socket tests, as run on
// Windows): a NULL overlapped is WSA_INVALID_PARAMETER, an unbound or listening socket
// WSAEINVAL, a connected one WSAEISCONN. The connect itself runs in connect_queue.cpp.
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/setup_queue.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <sanport/wsp.h>

#include <cstring>
#include <mutex>

namespace sanport {

using namespace detail;

namespace {

int check_connect_state(const socket_state& s) noexcept {
    if (s.closing) return WSAENOTSOCK;
    if (!s.overlapped)
        return failed_because(WSAEINVAL, "WSPConnectEx: the socket was made without "
                                         "WSA_FLAG_OVERLAPPED");
    switch (s.state) {
    case conn_state::fresh:
        return failed_because(WSAEINVAL, "WSPConnectEx: the socket is not bound (ConnectEx "
                                         "needs WSPBind first)");
    case conn_state::listening:
        return failed_because(WSAEINVAL, "WSPConnectEx: the socket is listening");
    case conn_state::connecting:
        return WSAEALREADY;
    case conn_state::connected:
        return WSAEISCONN;
    case conn_state::bound:
        break;
    }
    return 0;
}

} // namespace

// connect.post, connect.args
int WSPConnectEx(SOCKET s, const struct sockaddr* name, int namelen, PVOID lpSendBuffer,
                 DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPWSAOVERLAPPED lpOverlapped,
                 LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    const socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    if (!lpOverlapped)
        return fail(lpErrno,
                    failed_because(WSA_INVALID_PARAMETER, "WSPConnectEx: lpOverlapped is NULL"));
    const int size = sys::address_size(sock->family);
    if (!name || namelen < size || size == 0)
        return fail(lpErrno, failed_because(WSAEFAULT, "WSPConnectEx: name is NULL or namelen "
                                                       "is below the family's address size"));
    const auto p = reinterpret_cast<std::uintptr_t>(lpSendBuffer);
    if (dwSendDataLength != 0 && (p < lowest_valid_address || p + dwSendDataLength < p))
        return fail(lpErrno, failed_because(WSAEFAULT, "WSPConnectEx: lpSendBuffer is not "
                                                       "valid for dwSendDataLength bytes"));
    if (dwSendDataLength > max_request_bytes)
        return fail(lpErrno, failed_because(WSAEINVAL, "WSPConnectEx: dwSendDataLength is "
                                                       "above 2^31 - 1"));
    socket_state& st = *sock;
    std::lock_guard lock(st.mutex);
    if (const int wsa = check_connect_state(st)) return fail(lpErrno, wsa);
    op* o = setup_op(st, connect_op_room, 0, lpOverlapped);
    if (!o) return fail(lpErrno, WSAENOBUFS);
    connect_target& t = *new (o->buffers()) connect_target;
    std::memcpy(t.address, name, static_cast<std::size_t>(size));
    t.length = size;
    o->buffers()[connect_data_slot] =
        make_kernel_buffer(static_cast<char*>(lpSendBuffer), dwSendDataLength);
    const int r = connect_post(st, *o);
    if (r != 0) return fail(lpErrno, r);
    if (lpdwBytesSent) *lpdwBytesSent = st.immediate_bytes;
    return 0;
}

} // namespace sanport
