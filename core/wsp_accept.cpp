// SPDX-License-Identifier: MIT
// WSPAcceptEx and WSPGetAcceptExSockaddrs: AcceptEx's model (docs/contract.md, accept.*).
//
// The checks and their codes are those Windows gives (Wine's socket tests, as run on
// Windows): a NULL overlapped is WSA_INVALID_PARAMETER, a listener that does not listen or an
// accept socket that is bound, connected or already waiting for a connection is WSAEINVAL,
// address room below the family's address + 16 bytes is WSAEFAULT. The accept itself runs in
// accept_queue.cpp.
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

// AcceptEx's rule: each address block holds the family's address plus 16 bytes.
constexpr DWORD address_block_extra = 16;

struct accept_call {
    SOCKET target;
    char* output;
    DWORD receive_length;
    DWORD local_length;
    DWORD remote_length;
    WSAOVERLAPPED* overlapped;
};

// The accept socket: a fresh sanport socket of the listener's engine. Returns its identity
// through `identity`, 0 or the code.
int check_target(const socket_state& listener, SOCKET target, std::uint64_t& identity) {
    const socket_ref t = socket_table::instance().find(target);
    if (!t) return WSAENOTSOCK;
    if (t.get() == &listener)
        return failed_because(WSAEINVAL, "WSPAcceptEx: the accept socket is the listener");
    if (t->engine != listener.engine)
        return failed_because(WSAEINVAL, "WSPAcceptEx: the accept socket belongs to another "
                                         "engine than the listener");
    std::lock_guard lock(t->mutex);
    if (t->closing) return WSAENOTSOCK;
    if (t->state != conn_state::fresh)
        return failed_because(WSAEINVAL, "WSPAcceptEx: the accept socket is bound, listening or "
                                         "connected (it must be fresh from WSPSocket)");
    identity = t->identity;
    t->accepting_on = listener.handle();
    return 0;
}

int post_accept(socket_state& s, const accept_call& call, std::uint64_t identity, DWORD& bytes) {
    std::lock_guard lock(s.mutex);
    if (s.closing) return WSAENOTSOCK;
    if (s.state != conn_state::listening)
        return failed_because(WSAEINVAL, "WSPAcceptEx: the socket is not listening");
    if (!s.overlapped)
        return failed_because(WSAEINVAL, "WSPAcceptEx: the listener was made without "
                                         "WSA_FLAG_OVERLAPPED");
    const auto least = static_cast<DWORD>(sys::address_size(s.family)) + address_block_extra;
    // depart.accept.local-zero: Windows also takes a local length of 0 (no local address).
    if (call.remote_length < least || call.local_length < least)
        return failed_because(WSAEFAULT, "WSPAcceptEx: an address length is below the family's "
                                         "address size + 16");
    for (op* o = s.recv.ops.begin(); o != nullptr; o = o->next)
        if (accept_args(*o).socket == call.target)
            return failed_because(WSAEINVAL, "WSPAcceptEx: the accept socket already waits for "
                                             "a connection");
    // accept.first-receive: the capacity is the first receive's length, 0 for none.
    op* o = setup_op(s, accept_op_room, call.receive_length, call.overlapped);
    if (!o) return WSAENOBUFS;
    accept_target& t = *new (o->buffers()) accept_target;
    t.socket = call.target;
    t.addresses = call.output + call.receive_length;
    t.local_length = call.local_length;
    t.remote_length = call.remote_length;
    t.identity = identity;
    const int r = accept_post(s, *o);
    if (r == 0) bytes = s.immediate_bytes;
    return r;
}

} // namespace

// accept.post, accept.args
int WSPAcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer,
                DWORD dwReceiveDataLength, DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                LPDWORD lpdwBytesReceived, LPWSAOVERLAPPED lpOverlapped, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    const socket_ref listener = socket_table::instance().find(sListenSocket);
    if (!listener) return fail(lpErrno, WSAENOTSOCK);
    if (!lpOverlapped)
        return fail(lpErrno,
                    failed_because(WSA_INVALID_PARAMETER, "WSPAcceptEx: lpOverlapped is NULL"));
    if (dwReceiveDataLength > max_request_bytes)
        return fail(lpErrno, failed_because(WSAEINVAL, "WSPAcceptEx: dwReceiveDataLength is "
                                                       "above 2^31 - 1"));
    const auto p = reinterpret_cast<std::uintptr_t>(lpOutputBuffer);
    const std::uint64_t room =
        std::uint64_t{dwReceiveDataLength} + dwLocalAddressLength + dwRemoteAddressLength;
    if (p < lowest_valid_address || p + room < p)
        return fail(lpErrno, failed_because(WSAEFAULT, "WSPAcceptEx: lpOutputBuffer is NULL "
                                                       "or not valid for its lengths"));
    std::uint64_t identity = 0;
    if (const int wsa = check_target(*listener, sAcceptSocket, identity)) return fail(lpErrno, wsa);
    const accept_call call{sAcceptSocket,         static_cast<char*>(lpOutputBuffer),
                           dwReceiveDataLength,   dwLocalAddressLength,
                           dwRemoteAddressLength, lpOverlapped};
    DWORD bytes = 0;
    const int r = post_accept(*listener, call, identity, bytes);
    if (r != 0) return fail(lpErrno, r);
    if (lpdwBytesReceived) *lpdwBytesReceived = bytes;
    return 0;
}

// accept.addresses
void WSPGetAcceptExSockaddrs(PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
                             DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                             struct sockaddr** LocalSockaddr, LPINT LocalSockaddrLength,
                             struct sockaddr** RemoteSockaddr, LPINT RemoteSockaddrLength) {
    if (!lpOutputBuffer) return;
    char* blocks = static_cast<char*>(lpOutputBuffer) + dwReceiveDataLength;
    auto read = [](char* block, DWORD room, sockaddr** address, LPINT length) {
        if (room < sizeof(int) || !address || !length) return;
        std::memcpy(length, block, sizeof(int));
        *address = reinterpret_cast<sockaddr*>(block + sizeof(int));
    };
    read(blocks, dwLocalAddressLength, LocalSockaddr, LocalSockaddrLength);
    read(blocks + dwLocalAddressLength, dwRemoteAddressLength, RemoteSockaddr,
         RemoteSockaddrLength);
}

} // namespace sanport
