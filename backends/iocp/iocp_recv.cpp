// SPDX-License-Identifier: MIT
// The request → Winsock table, and what a failed completion means.
//
//   kind        call                                               flags
//   recv        WSARecv(buffers, count, &ov)                       MSG_PEEK or 0
//   recv_probe  WSARecv({1, buffers[0].buf}, 1, &ov)               MSG_PEEK
//   send        WSASend(buffers, count, &ov)                       0
//   accept      AcceptEx(listener, accept->socket, accept->addresses,   no receive data
//               0, local_length, remote_length, &ov)
//   connect     ConnectEx(socket, connect->address, length, &ov)       no send data (the
//                                                                      core sends it after)
//
// Why so plain: Windows fills overlapped receives in posting order and scatters into every
// WSABUF itself, so no msghdr or iovec copy is needed (WSARecv captures the WSABUF array
// before it returns; only the buffers must live on). MSG_WAITALL never reaches the kernel (the
// core re-arms the head op until it is full; Wine 8 would ignore the flag anyway).
// A request completes in one of three ways, all reported exactly once:
//   WSARecv/WSASend returns 0          finished now; with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
//                                      no packet follows (start() reports it), else one does
//   SOCKET_ERROR, WSA_IO_PENDING       one packet follows (also after CancelIoEx)
//   SOCKET_ERROR, any other code       finished now with that code; no packet follows

#include "backends/iocp/iocp_backend.hpp"

namespace sanport::detail {

namespace {

// NTSTATUS values a completion may carry that need no table (winternl.h is not needed here).
constexpr LONG status_cancelled = static_cast<LONG>(0xC0000120);      // STATUS_CANCELLED
constexpr LONG status_handles_closed = static_cast<LONG>(0x8000000A); // STATUS_HANDLES_CLOSED

// An accept or a connect fails as a life-cycle call does; transfers have their own table.
int code_of(const io_request& request, int error) noexcept {
    return request.kind == io_kind::accept ? wsa_from_errno(error) : wsa_from_transfer_errno(error);
}

// AcceptEx and ConnectEx are extensions of the provider: asked for once, through the first
// socket that needs one.
template <class Fn> Fn extension(SOCKET s, GUID id) noexcept {
    Fn found = nullptr;
    DWORD got = 0;
    if (::WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &found, sizeof found,
                   &got, nullptr, nullptr) != 0)
        return nullptr;
    return found;
}
LPFN_ACCEPTEX accept_ex(SOCKET listener) noexcept {
    static const LPFN_ACCEPTEX fn = extension<LPFN_ACCEPTEX>(listener, WSAID_ACCEPTEX);
    return fn;
}
LPFN_CONNECTEX connect_ex(SOCKET s) noexcept {
    static const LPFN_CONNECTEX fn = extension<LPFN_CONNECTEX>(s, WSAID_CONNECTEX);
    return fn;
}

} // namespace

int iocp_backend::issue(io_request& request, iocp_direction& direction, DWORD& bytes) noexcept {
    // Winsock takes non-const WSABUFs but only reads the array.
    auto* buffers = const_cast<WSABUF*>(request.buffers);
    int result = 0;
    switch (request.kind) {
    case io_kind::recv_probe: {
        WSABUF one{1, request.buffers[0].buf};
        DWORD flags = MSG_PEEK;
        result = ::WSARecv(request.socket, &one, 1, &bytes, &flags, &direction.ov, nullptr);
        break;
    }
    case io_kind::recv: {
        DWORD flags = request.flags & MSG_PEEK;
        result = ::WSARecv(request.socket, buffers, request.count, &bytes, &flags, &direction.ov,
                           nullptr);
        break;
    }
    case io_kind::send:
        result =
            ::WSASend(request.socket, buffers, request.count, &bytes, 0, &direction.ov, nullptr);
        break;
    case io_kind::connect: {
        const connect_target& t = *request.connect;
        const LPFN_CONNECTEX fn = connect_ex(request.socket);
        if (fn == nullptr) return WSAEOPNOTSUPP;
        result = fn(request.socket, reinterpret_cast<const sockaddr*>(t.address), t.length, nullptr,
                    0, &bytes, &direction.ov)
                     ? 0
                     : SOCKET_ERROR;
        break;
    }
    case io_kind::accept: {
        const accept_target& t = *request.accept;
        const LPFN_ACCEPTEX fn = accept_ex(request.socket);
        if (fn == nullptr) return WSAEOPNOTSUPP;
        // The addresses AcceptEx writes are replaced by the core's blocks afterwards.
        result = fn(request.socket, t.socket, t.addresses, 0, t.local_length, t.remote_length,
                    &bytes, &direction.ov)
                     ? 0
                     : SOCKET_ERROR;
        break;
    }
    }
    if (result == 0) return 0;
    const int error = ::WSAGetLastError();
    if (error == WSA_IO_PENDING) return WSA_IO_PENDING;
    // An overlapped call never answers WSAEWOULDBLOCK or WSAEINTR (those are for blocking and
    // non-blocking calls); the table turns them into WSAENETDOWN should Winsock ever do so.
    if (error == WSAENOTSOCK || error == WSA_INVALID_HANDLE) return WSAENOTSOCK;
    return code_of(request, error);
}

int iocp_backend::completion_error(const io_request& request, iocp_direction& direction) noexcept {
    const auto status = static_cast<LONG>(static_cast<ULONG>(direction.ov.Internal));
    // CancelIoEx → STATUS_CANCELLED; Wine 8 reports a socket closed under a pending receive
    // as STATUS_HANDLES_CLOSED (semantics.md 3.1 e1/e2). The core never closes before the
    // last completion, so the second is defensive.
    if (status == status_cancelled || status == status_handles_closed) return WSA_OPERATION_ABORTED;
    // Winsock's own translation first: a reset is WSAECONNRESET there, while the Win32 view of
    // the same NTSTATUS is ERROR_NETNAME_DELETED (which the table also maps to WSAECONNRESET).
    DWORD bytes = 0;
    DWORD flags = 0;
    if (!::WSAGetOverlappedResult(request.socket, &direction.ov, &bytes, FALSE, &flags)) {
        const int error = ::WSAGetLastError();
        // WSAENOTSOCK/WSA_INVALID_HANDLE: Winsock no longer knows the handle (Wine checks it);
        // WSA_IO_INCOMPLETE cannot be, the packet is here. Then ask kernel32 instead.
        if (error != 0 && error != WSAENOTSOCK && error != WSA_INVALID_HANDLE &&
            error != WSA_IO_INCOMPLETE)
            return code_of(request, error);
    }
    if (!::GetOverlappedResult(reinterpret_cast<HANDLE>(request.socket), &direction.ov, &bytes,
                               FALSE)) {
        const int error = static_cast<int>(::GetLastError());
        if (error != 0) return code_of(request, error);
    }
    return WSAENETDOWN; // a failure status that neither API would name
}

} // namespace sanport::detail
