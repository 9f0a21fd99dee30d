// SPDX-License-Identifier: MIT
// The bad-input table (docs/bad-input.md), every entry point but WSPRecv (bad_input_test.cpp):
// WSPSend, WSPGetOverlappedResult, memory registration, the life-cycle calls,
// WPUCompleteOverlappedRequest, WSPCancelIoEx, the completion queue and the socket modes.
#include "bad_input.hpp"

using namespace sanport;
using namespace sanport::test;
using namespace sanport::test::bad_input;

// ---- WSPSend ---------------------------------------------------------------------------------

BAD_INPUT("send.s.garbage", "a value no socket has is WSAENOTSOCK") {
    overlapped_op op({16});
    CHECK(wsa_name(send_code(garbage_socket, op.bufs(), 1, 0, &op.ov())) == "WSAENOTSOCK");
}

BAD_INPUT("send.buffers.null", "lpBuffers NULL with a count is WSAEFAULT") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    CHECK(wsa_name(send_code(p.s, nullptr, 1, 0, &op.ov())) == "WSAEFAULT");
}

BAD_INPUT("send.count.zero", "dwBufferCount 0 is WSAEINVAL") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    CHECK(wsa_name(send_code(p.s, op.bufs(), 0, 0, &op.ov())) == "WSAEINVAL");
}

BAD_INPUT("send.count.max", "dwBufferCount 2^32-1 is WSAEINVAL before any entry is read") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    CHECK(wsa_name(send_code(p.s, op.bufs(), 0xFFFFFFFFu, 0, &op.ov())) == "WSAEINVAL");
}

BAD_INPUT("send.flags.nonzero", "dwFlags other than 0 is WSAEINVAL") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    CHECK(wsa_name(send_code(p.s, op.bufs(), 1, MSG_OOB, &op.ov())) == "WSAEINVAL");
}

BAD_INPUT("send.errno.null", "lpErrno NULL returns SOCKET_ERROR") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    DWORD bytes = bytes_sentinel;
    // Good buffers: only the missing lpErrno can make it fail, and it must send nothing.
    CHECK(WSPSend(p.s, op.bufs(), 1, &bytes, 0, &op.ov(), nullptr, nullptr, nullptr) ==
          SOCKET_ERROR);
    CHECK(bytes == bytes_sentinel);
    CHECK(read_exactly(p.peer, 1, settle_ms).empty());
}

// ---- WSPGetOverlappedResult -------------------------------------------------------------------

BAD_INPUT("result.overlapped.null", "lpOverlapped NULL is WSAEFAULT") {
    DWORD bytes = 0, flags = 0;
    int err = 0;
    CHECK(WSPGetOverlappedResult(garbage_socket, nullptr, &bytes, FALSE, &flags, &err) == FALSE);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

BAD_INPUT("result.transfer.null", "lpcbTransfer NULL is WSAEFAULT") {
    WSAOVERLAPPED ov{};
    DWORD flags = 0;
    int err = 0;
    CHECK(WSPGetOverlappedResult(garbage_socket, &ov, nullptr, FALSE, &flags, &err) == FALSE);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

BAD_INPUT("result.flags.null", "lpdwFlags NULL is WSAEFAULT") {
    WSAOVERLAPPED ov{};
    DWORD bytes = 0;
    int err = 0;
    CHECK(WSPGetOverlappedResult(garbage_socket, &ov, &bytes, FALSE, nullptr, &err) == FALSE);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

BAD_INPUT("result.wait.foreign", "fWait on a pending structure of a socket that does not exist "
                                 "is WSAENOTSOCK, not a hang") {
    WSAOVERLAPPED ov{};
    ov.Internal = WSS_OPERATION_IN_PROGRESS;
    DWORD bytes = 0, flags = 0;
    int err = 0;
    CHECK(WSPGetOverlappedResult(garbage_socket, &ov, &bytes, TRUE, &flags, &err) == FALSE);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

// ---- WSPRegisterMemory / WSPDeregisterMemory ------------------------------------------------

BAD_INPUT("register.s.garbage", "a value no socket has is WSAENOTSOCK") {
    char mem[64];
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(garbage_socket, mem, sizeof mem, MEM_READ | MEM_WRITE, &err) ==
          nullptr);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

BAD_INPUT("register.buffer.null", "lpBuffer NULL is WSAEFAULT") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(p.s, nullptr, 64, MEM_READ | MEM_WRITE, &err) == nullptr);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

BAD_INPUT("register.length.zero", "dwBufferLength 0 is WSAEINVAL") {
    loopback_pair p = make_pair();
    char mem[64];
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(p.s, mem, 0, MEM_READ | MEM_WRITE, &err) == nullptr);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("register.flags.zero", "dwFlags 0 is WSAEINVAL") {
    loopback_pair p = make_pair();
    char mem[64];
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(p.s, mem, sizeof mem, 0, &err) == nullptr);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("register.flags.unknown", "a flag other than MEM_READ and MEM_WRITE is WSAEINVAL") {
    loopback_pair p = make_pair();
    char mem[64];
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(p.s, mem, sizeof mem, MEM_READ | 0x100, &err) == nullptr);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("deregister.handle.garbage", "a handle WSPRegisterMemory never gave is WSAEINVAL") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, reinterpret_cast<HANDLE>(std::uintptr_t{0x1234}),
                                       &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(sanport::WSPDeregisterMemory(p.s, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("deregister.handle.foreign", "a handle of another socket is WSAEINVAL and stays valid "
                                       "for its own") {
    loopback_pair a = make_pair(), b = make_pair();
    char mem[64];
    int err = 0;
    HANDLE h = sanport::WSPRegisterMemory(a.s, mem, sizeof mem, MEM_READ | MEM_WRITE, &err);
    REQUIRE(h != nullptr);
    CHECK(sanport::WSPDeregisterMemory(b.s, h, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(sanport::WSPDeregisterMemory(a.s, h, &err) == 0);
}

BAD_INPUT("deregister.handle.twice", "deregistering the same handle twice is WSAEINVAL") {
    loopback_pair p = make_pair();
    char mem[64];
    int err = 0;
    HANDLE h = sanport::WSPRegisterMemory(p.s, mem, sizeof mem, MEM_READ | MEM_WRITE, &err);
    REQUIRE(h != nullptr);
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == 0);
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

// ---- life cycle -------------------------------------------------------------------------------

BAD_INPUT("shutdown.how.garbage", "how other than SD_RECEIVE/SD_SEND/SD_BOTH is WSAEINVAL") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(WSPShutdown(p.s, 7, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("shutdown.s.garbage", "a value no socket has is WSAENOTSOCK") {
    int err = 0;
    CHECK(WSPShutdown(garbage_socket, SD_BOTH, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

BAD_INPUT("close.s.twice", "closing a socket twice is WSAENOTSOCK the second time") {
    loopback_pair p = make_pair();
    const SOCKET s = p.s;
    REQUIRE(p.close_socket() == 0);
    int err = 0;
    CHECK(WSPCloseSocket(s, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

BAD_INPUT("socket.type.dgram", "SOCK_DGRAM is WSAESOCKTNOSUPPORT (stream sockets only)") {
    int err = 0;
    CHECK(WSPSocket(AF_INET, SOCK_DGRAM, IPPROTO_UDP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err) ==
          INVALID_SOCKET);
    CHECK(wsa_name(err) == "WSAESOCKTNOSUPPORT");
}

BAD_INPUT("socket.af.garbage", "an unknown address family is WSAEAFNOSUPPORT") {
    int err = 0;
    CHECK(WSPSocket(12345, SOCK_STREAM, 0, nullptr, 0, WSA_FLAG_OVERLAPPED, &err) ==
          INVALID_SOCKET);
    CHECK(wsa_name(err) == "WSAEAFNOSUPPORT");
}

BAD_INPUT("bind.name.null", "name NULL is WSAEFAULT") {
    int err = 0;
    const SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, 0, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(WSPBind(s, nullptr, 16, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
    CHECK(WSPCloseSocket(s, &err) == 0);
}

BAD_INPUT("connect.name.null", "name NULL is WSAEFAULT") {
    int err = 0;
    const SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, 0, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(WSPConnect(s, nullptr, 16, nullptr, nullptr, nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
    CHECK(WSPCloseSocket(s, &err) == 0);
}

BAD_INPUT("getsockname.namelen.null", "namelen NULL is WSAEFAULT") {
    loopback_pair p = make_pair();
    sockaddr_storage a{};
    int err = 0;
    CHECK(WSPGetSockName(p.s, reinterpret_cast<sockaddr*>(&a), nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

// ---- completion ------------------------------------------------------------------------------

BAD_INPUT("wpu.overlapped.null", "WPUCompleteOverlappedRequest with lpOverlapped NULL is "
                                 "WSAEFAULT") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(p.s, nullptr, 0, 0, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
}

BAD_INPUT("wpu.s.garbage", "WPUCompleteOverlappedRequest on a socket sanport never made is "
                           "WSAEINVAL") {
    WSAOVERLAPPED ov{};
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(garbage_socket, &ov, 0, 0, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

BAD_INPUT("cancel.s.garbage", "WSPCancelIoEx on a value no socket has is WSAENOTSOCK") {
    WSAOVERLAPPED ov{};
    int err = 0;
    CHECK(sanport::WSPCancelIoEx(garbage_socket, &ov, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

BAD_INPUT("cancel.overlapped.unknown", "WSPCancelIoEx with an overlapped the socket never "
                                       "posted is ERROR_NOT_FOUND") {
    loopback_pair p = make_pair();
    WSAOVERLAPPED ov{};
    int err = 0;
    CHECK(sanport::WSPCancelIoEx(p.s, &ov, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
}

BAD_INPUT("cq.associate.garbage", "associating a value no socket has is WSAENOTSOCK") {
    completion_queue q;
    CHECK(wsa_name(q.associate(garbage_socket, 1)) == "WSAENOTSOCK");
}

BAD_INPUT("cq.associate.twice", "associating a socket a second time is WSAEINVAL") {
    loopback_pair p = make_pair();
    completion_queue q, other;
    CHECK(q.associate(p.s, 1) == 0);
    CHECK(wsa_name(other.associate(p.s, 2)) == "WSAEINVAL");
}

BAD_INPUT("mode.value.garbage", "an unknown socket_mode is WSAEINVAL") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(set_socket_mode(p.s, static_cast<socket_mode>(99), 1, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}
