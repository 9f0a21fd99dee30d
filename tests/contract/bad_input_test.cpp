// SPDX-License-Identifier: MIT
// The bad-input table (docs/bad-input.md): every argument of every entry point with NULL,
// garbage, foreign or closed handles, out-of-range counts and lengths, unknown flags. Each row
// is its own test named "bad input <id>", and each row's id is a row of the docs table
// (tests/lint/bad_input_docs.cmake checks both ways). A row checks the documented code, and,
// where the call names a connected socket with data queued, that nothing was consumed.
// This file: WSPRecv. bad_input_calls_test.cpp: every other entry point.
#include "bad_input.hpp"

using namespace sanport;
using namespace sanport::test;
using namespace sanport::test::bad_input;

// ---- WSPRecv: the socket ------------------------------------------------------------------

BAD_INPUT("recv.s.invalid", "INVALID_SOCKET is WSAENOTSOCK") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, INVALID_SOCKET, op.bufs(), 1, 0, "WSAENOTSOCK");
}

BAD_INPUT("recv.s.garbage", "a value no socket has is WSAENOTSOCK") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, garbage_socket, op.bufs(), 1, 0, "WSAENOTSOCK");
}

BAD_INPUT("recv.s.closed", "a socket closed with WSPCloseSocket is WSAENOTSOCK") {
    loopback_pair p = make_pair();
    const SOCKET closed = p.s;
    REQUIRE(p.close_socket() == 0);
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(closed, op.bufs(), 1, &flags, &op.ov())) == "WSAENOTSOCK");
}

BAD_INPUT("recv.s.foreign", "an OS socket sanport never adopted is WSAENOTSOCK") {
    posix_listener l;
    const peer_socket foreign = posix_connect(l.address, l.address_len);
    REQUIRE(foreign != no_peer);
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(static_cast<SOCKET>(foreign), op.bufs(), 1, &flags, &op.ov())) ==
          "WSAENOTSOCK");
    peer_close(foreign);
}

// ---- WSPRecv: buffers, counts, lengths ------------------------------------------------------

BAD_INPUT("recv.buffers.null", "lpBuffers NULL with a count is WSAEFAULT") {
    queued_pair q;
    expect_recv(q, q.p.s, nullptr, 1, 0, "WSAEFAULT");
}

BAD_INPUT("recv.buf.null", "a WSABUF with buf NULL and len > 0 is WSAEFAULT") {
    queued_pair q;
    WSABUF b{8, nullptr};
    expect_recv(q, q.p.s, &b, 1, 0, "WSAEFAULT");
}

BAD_INPUT("recv.count.zero", "dwBufferCount 0 is WSAEINVAL") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, q.p.s, op.bufs(), 0, 0, "WSAEINVAL");
}

BAD_INPUT("recv.count.above-limit", "max_buffer_count + 1 WSABUFs is WSAEINVAL") {
    queued_pair q;
    std::vector<char> mem(16);
    std::vector<WSABUF> bufs(max_buffer_count + 1, WSABUF{1, mem.data()});
    expect_recv(q, q.p.s, bufs.data(), static_cast<DWORD>(bufs.size()), 0, "WSAEINVAL");
}

BAD_INPUT("recv.count.max", "dwBufferCount 2^32-1 is WSAEINVAL before any entry is read") {
    queued_pair q;
    overlapped_op op({16}); // one real entry: reading past it would be caught by ASan
    expect_recv(q, q.p.s, op.bufs(), 0xFFFFFFFFu, 0, "WSAEINVAL");
}

BAD_INPUT("recv.lengths.over-4gib", "lengths summing past 4 GiB work; the count stays exact") {
    // Two real regions of 2.25 GiB each, reserved without backing: only the 4 bytes that
    // arrive are ever written, so no memory is used, but every byte named is addressable.
    constexpr std::size_t each = std::size_t{9} << 28; // 2.25 GiB
    big_region a(each), b(each);
    if (!a.data || !b.data) {
        skip("the OS would not reserve 2 x 2.25 GiB of address space");
        return;
    }
    queued_pair q;
    const auto len = static_cast<ULONG>(each);
    WSABUF bufs[2] = {{len, a.data}, {len, b.data}}; // sum 4.5 GiB, every byte reserved
    overlapped_op op({1});
    DWORD flags = 0;
    const int code = recv_code(q.p.s, bufs, 2, &flags, &op.ov());
    CHECK((code == 0 || wsa_name(code) == "WSA_IO_PENDING"));
    REQUIRE(op.wait());
    op_result r = op.result(q.p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 4u);
    CHECK(std::string(a.data, 4) == "kept");
}

// ---- WSPRecv: flags and the other pointers -------------------------------------------------

BAD_INPUT("recv.flags.null", "lpFlags NULL is WSAEFAULT") {
    queued_pair q;
    overlapped_op op({16});
    CHECK(wsa_name(recv_code(q.p.s, op.bufs(), 1, nullptr, &op.ov())) == "WSAEFAULT");
    q.expect_nothing_consumed();
}

BAD_INPUT("recv.flags.oob", "MSG_OOB is WSAEINVAL") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, q.p.s, op.bufs(), 1, MSG_OOB, "WSAEINVAL");
}

BAD_INPUT("recv.flags.peek-waitall", "MSG_PEEK | MSG_WAITALL is WSAEINVAL") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, q.p.s, op.bufs(), 1, MSG_PEEK | MSG_WAITALL, "WSAEINVAL");
}

BAD_INPUT("recv.flags.unknown", "an unknown flag bit is WSAEINVAL") {
    queued_pair q;
    overlapped_op op({16});
    expect_recv(q, q.p.s, op.bufs(), 1, 0x40000000u, "WSAEINVAL");
}

BAD_INPUT("recv.errno.null", "lpErrno NULL returns SOCKET_ERROR and touches nothing") {
    queued_pair q;
    overlapped_op op({16});
    DWORD bytes = bytes_sentinel, flags = 0;
    CHECK(WSPRecv(q.p.s, op.bufs(), 1, &bytes, &flags, &op.ov(), nullptr, nullptr, nullptr) ==
          SOCKET_ERROR);
    CHECK(bytes == bytes_sentinel);
    q.expect_nothing_consumed();
}

// ---- WSPRecv: socket state and memory -----------------------------------------------------

BAD_INPUT("recv.state.not-overlapped", "an overlapped call on a socket without "
                                       "WSA_FLAG_OVERLAPPED is WSAEINVAL") {
    loopback_pair p = make_pair(pair_kind::connect, AF_INET, 0);
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(p.s, op.bufs(), 1, &flags, &op.ov())) == "WSAEINVAL");
}

BAD_INPUT("recv.state.unbound", "a socket never bound is WSAEINVAL") {
    int err = 0;
    const SOCKET s =
        WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(s, op.bufs(), 1, &flags, &op.ov())) == "WSAEINVAL");
    CHECK(WSPCloseSocket(s, &err) == 0);
}

BAD_INPUT("recv.state.listening", "a listening socket is WSAENOTCONN") {
    sanport_listener l;
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(l.s, op.bufs(), 1, &flags, &op.ov())) == "WSAENOTCONN");
}

BAD_INPUT("recv.state.shutdown", "after SD_RECEIVE, with data queued, WSAESHUTDOWN") {
    queued_pair q;
    int err = 0;
    REQUIRE(WSPShutdown(q.p.s, SD_RECEIVE, &err) == 0);
    overlapped_op op({16});
    DWORD flags = 0;
    CHECK(wsa_name(recv_code(q.p.s, op.bufs(), 1, &flags, &op.ov())) == "WSAESHUTDOWN");
}

BAD_INPUT("recv.memory.read-only", "a buffer in a region registered without MEM_WRITE is "
                                   "WSAEFAULT") {
    queued_pair q;
    overlapped_op op({64});
    int err = 0;
    HANDLE h = sanport::WSPRegisterMemory(q.p.s, op.buffer_ptr(0), 64, MEM_READ, &err);
    REQUIRE(h != nullptr);
    expect_recv(q, q.p.s, op.bufs(), 1, 0, "WSAEFAULT");
    CHECK(sanport::WSPDeregisterMemory(q.p.s, h, &err) == 0);
}
