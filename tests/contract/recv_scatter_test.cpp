// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.scatter.order, recv.count.zero, recv.count.large,
// recv.zero-byte.
// Lengths above 2^31-1 use address space reserved with MAP_NORESERVE, so they cost nothing.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#ifndef _WIN32 // mmap for the large-lengths case
#include <sys/mman.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("recv.scatter.order: N WSABUFs - {4,0,8} pending receives AB and completes with 2, not "
          "when all are full") {
    loopback_pair p = make_pair();
    overlapped_op op({4, 0, 8});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "AB");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 2u);
    CHECK(op.buffer(0) == "AB..");
    CHECK(op.buffer(2) == "........");

    // The next 14 bytes: the first 12 fill {4,0,8} in order, the last 2 stay for later.
    send_all(p.peer, "CDEFGHIJKLMNOP");
    REQUIRE(wait_kernel_unread(p.s, 14));
    overlapped_op next({4, 0, 8});
    next.recv(p.s);
    r = next.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 12u);
    CHECK(next.buffer(0) == "CDEF");
    CHECK(next.buffer(2) == "GHIJKLMN");
    recv_outcome rest = recv_once(p.s, 16);
    CHECK(rest.data == "OP");
}

TEST_CASE("recv.scatter.order: N WSABUFs - filled in array order, each full before the next gets a "
          "byte") {
    loopback_pair p = make_pair();
    overlapped_op op({3, 5});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "0123456789");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 8u);
    CHECK(op.buffer(0) == "012");
    CHECK(op.buffer(1) == "34567");
    CHECK(recv_once(p.s, 16).data == "89");
}

TEST_CASE("recv.scatter.order: N WSABUFs - zero-length entries are skipped") {
    loopback_pair p = make_pair();
    send_all(p.peer, "ABCDEFG");
    REQUIRE(wait_kernel_unread(p.s, 7));
    overlapped_op op({0, 3, 0, 3});
    op.recv(p.s);
    op_result r = op.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 6u);
    CHECK(op.buffer(1) == "ABC");
    CHECK(op.buffer(3) == "DEF");
    CHECK(recv_once(p.s, 16).data == "G");
}

TEST_CASE("recv.scatter.order: N WSABUFs - a receive never writes past a buffer's length") {
    loopback_pair p = make_pair();
    send_all(p.peer, pattern(100));
    REQUIRE(wait_kernel_unread(p.s, 100));
    overlapped_op op({1, 2, 3}, '#');
    op.recv(p.s);
    op_result r = op.finish(p.s);
    CHECK(r.bytes == 6u);
    CHECK(op.data(6) == pattern(6));
    // Each buffer has one spare byte after it in the op's storage; it must still hold '#'.
    CHECK(op.buffer_ptr(0)[1] == '#');
    CHECK(op.buffer_ptr(1)[2] == '#');
    CHECK(op.buffer_ptr(2)[3] == '#');
}

TEST_CASE("recv.count.zero: dwBufferCount 0 - WSAEINVAL, with or without a buffer array, nothing "
          "consumed") {
    loopback_pair p = make_pair();
    send_all(p.peer, "kept");
    REQUIRE(wait_kernel_unread(p.s, 4));
    overlapped_op op({8});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    CHECK(WSPRecv(p.s, op.bufs(), 0, &bytes, &flags, &op.ov(), nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(WSPRecv(p.s, nullptr, 0, &bytes, &flags, &op.ov(), nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(WSPRecv(p.s, op.bufs(), 0, &bytes, &flags, nullptr, nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK_FALSE(op.pending());
    CHECK(recv_once(p.s, 16).data == "kept");
}

TEST_CASE("recv.count.large: large dwBufferCount - more than max_buffer_count is WSAEINVAL, "
          "nothing consumed") {
    static_assert(max_buffer_count >= 1024, "the documented limit must be at least 1,024");
    loopback_pair p = make_pair();
    send_all(p.peer, "still here");
    REQUIRE(wait_kernel_unread(p.s, 10));
    std::vector<char> storage(max_buffer_count + 1, '.');
    std::vector<WSABUF> bufs(max_buffer_count + 1);
    for (std::size_t i = 0; i < bufs.size(); ++i)
        bufs[i] = WSABUF{1, &storage[i]};
    overlapped_op op({1});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    CHECK(WSPRecv(p.s, bufs.data(), max_buffer_count + 1, &bytes, &flags, &op.ov(), nullptr,
                  nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK_FALSE(op.pending());
    CHECK(recv_once(p.s, 16).data == "still here");
}

namespace {

// Receives `total` bytes through receives of `count` one-byte WSABUFs each; checks that
// every receive packs its bytes into buffers 0..n-1 and returns the concatenation.
std::string receive_one_byte_buffers(SOCKET s, DWORD count, std::size_t total) {
    std::string got;
    int receives = 0;
    while (got.size() < total && receives < 64) {
        ++receives;
        std::vector<char> storage(count, '.');
        std::vector<WSABUF> bufs(count);
        for (DWORD i = 0; i < count; ++i)
            bufs[i] = WSABUF{1, &storage[i]};
        overlapped_op op({1}); // its own buffer is unused: the WSABUFs above are passed
        DWORD bytes = bytes_sentinel, flags = 0;
        int err = 0;
        int rc = WSPRecv(s, bufs.data(), count, &bytes, &flags, &op.ov(), nullptr, nullptr, &err);
        INFO("receive " << receives << ": WSPRecv returned " << rc << " / " << wsa_name(err));
        REQUIRE((rc == 0 || err == WSA_IO_PENDING));
        if (rc != 0) {
            REQUIRE(op.wait());
            op_result r = op.result(s);
            REQUIRE_MESSAGE(r.ok == TRUE, wsa_name(r.err));
            bytes = r.bytes;
        }
        REQUIRE(bytes >= 1u);
        REQUIRE(bytes <= count);
        got.append(storage.data(), bytes);
        // Nothing past the reported count was written.
        for (DWORD i = bytes; i < count; ++i)
            REQUIRE(storage[i] == '.');
    }
    return got;
}

} // namespace

TEST_CASE("recv.count.large: large dwBufferCount - 1,024 one-byte buffers receive in order") {
    loopback_pair p = make_pair();
    const std::string sent = pattern(1024);
    send_all(p.peer, sent);
    REQUIRE(wait_kernel_unread(p.s, sent.size()));
    CHECK(receive_one_byte_buffers(p.s, 1024, sent.size()) == sent);
}

TEST_CASE("recv.count.large: large dwBufferCount - 2,000 one-byte buffers, above the kernel's "
          "iovec limit, receive in order") {
    loopback_pair p = make_pair();
    const std::string sent = pattern(2000, 0, 3);
    send_all(p.peer, sent);
    REQUIRE(wait_kernel_unread(p.s, sent.size()));
    CHECK(receive_one_byte_buffers(p.s, 2000, sent.size()) == sent);
}

TEST_CASE("recv.count.large: large dwBufferCount - max_buffer_count one-byte buffers work") {
    loopback_pair p = make_pair();
    const std::string sent = pattern(max_buffer_count, 0, 4);
    send_all(p.peer, sent);
    REQUIRE(wait_kernel_unread(p.s, sent.size()));
    CHECK(receive_one_byte_buffers(p.s, max_buffer_count, sent.size()) == sent);
}

// Linux-only: reserves 8 GiB of address space with mmap(MAP_NORESERVE); a Windows port would
// reserve it with VirtualAlloc(MEM_RESERVE) instead.
#ifndef _WIN32
TEST_CASE("recv.count.large: large lengths - WSABUF lengths adding up above 2^31-1 work and report "
          "the true count") {
    // Two WSABUFs of 4 GiB - 1 each, in address space reserved but never touched except where
    // data lands, so the test costs a few pages of memory.
    const std::size_t each = 0xFFFFFFFFu;
    const std::size_t span = 2 * each + 1;
    void* area = ::mmap(nullptr, span, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) {
        skip("cannot reserve 8 GiB of address space for the large-length receive");
        return;
    }
    char* base = static_cast<char*>(area);
    {
        loopback_pair p = make_pair();
        WSABUF bufs[2] = {{0xFFFFFFFFu, base}, {0xFFFFFFFFu, base + each}};
        const std::string sent = pattern(3000, 0, 5);
        send_all(p.peer, sent);
        REQUIRE(wait_kernel_unread(p.s, sent.size()));
        overlapped_op op({1});
        DWORD bytes = bytes_sentinel, flags = 0;
        int err = 0;
        int rc = WSPRecv(p.s, bufs, 2, &bytes, &flags, &op.ov(), nullptr, nullptr, &err);
        INFO("WSPRecv returned " << rc << " / " << wsa_name(err));
        REQUIRE((rc == 0 || err == WSA_IO_PENDING));
        if (rc != 0) {
            REQUIRE(op.wait());
            op_result r = op.result(p.s);
            REQUIRE_MESSAGE(r.ok == TRUE, wsa_name(r.err));
            bytes = r.bytes;
        }
        CHECK(bytes >= 1u);
        CHECK(bytes <= 0x7FFFFFFFu);
        CHECK(bytes <= sent.size());
        std::string got(base, bytes);
        CHECK(got == sent.substr(0, bytes));
        got += recv_stream(p.s, sent.size() - bytes);
        CHECK(got == sent);
    }
    ::munmap(area, span);
}
#endif // !_WIN32

TEST_CASE("recv.zero-byte: zero-byte receive - pends until data arrives, completes with 0 bytes "
          "and consumes nothing") {
    for (std::vector<ULONG> lengths : {std::vector<ULONG>{0}, std::vector<ULONG>{0, 0}}) {
        INFO("buffers: " << lengths.size());
        loopback_pair p = make_pair();
        overlapped_op op(lengths);
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
        sleep_ms(settle_ms);
        CHECK(op.pending());
        send_all(p.peer, "Z");
        REQUIRE(op.wait());
        op_result r = op.result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 0u);
        // Not the end of the stream: the byte is still there for a normal receive.
        recv_outcome next = recv_once(p.s, 8);
        CHECK(next.r.ok == TRUE);
        CHECK(next.data == "Z");
    }
}

TEST_CASE("recv.zero-byte: zero-byte receive - with data queued completes with 0 bytes and "
          "consumes nothing") {
    loopback_pair p = make_pair();
    send_all(p.peer, "queued");
    REQUIRE(wait_kernel_unread(p.s, 6));
    overlapped_op op({0});
    op.recv(p.s);
    op_result r = op.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 0u);
    CHECK(recv_once(p.s, 16).data == "queued");
}

TEST_CASE("recv.zero-byte, recv.peer.close: zero-byte receive - after the peer's FIN it completes "
          "with 0 and the next normal receive also gets 0") {
    loopback_pair p = make_pair();
    overlapped_op op({0});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    p.shutdown_peer_write();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 0u);
    for (int i = 0; i < 2; ++i) {
        recv_outcome next = recv_once(p.s, 8);
        CHECK(next.r.ok == TRUE);
        CHECK(next.r.bytes == 0u);
    }
}

TEST_CASE("recv.zero-byte, recv.peer.close: zero-byte receive - data then FIN, the data is still "
          "delivered before the stream end") {
    loopback_pair p = make_pair();
    overlapped_op op({0});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "last words");
    p.shutdown_peer_write();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 0u);
    recv_outcome data = recv_once(p.s, 64);
    CHECK(data.r.ok == TRUE);
    CHECK(data.data == "last words");
    recv_outcome end = recv_once(p.s, 64);
    CHECK(end.r.ok == TRUE);
    CHECK(end.r.bytes == 0u);
}

TEST_CASE("recv.zero-byte, recv.peer.reset: zero-byte receive - a reset fails it with "
          "WSAECONNRESET, not a 0-byte success") {
    loopback_pair p = make_pair();
    overlapped_op op({0});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    p.reset_peer();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
    recv_outcome next = recv_once(p.s, 8);
    CHECK(next.r.ok == FALSE);
    CHECK(wsa_name(next.r.err) == "WSAECONNRESET");
}

TEST_CASE("recv.zero-byte, recv.posting-order: zero-byte receive - a normal receive posted behind "
          "it gets all the data") {
    loopback_pair p = make_pair();
    overlapped_op zero({0});
    overlapped_op normal({16});
    REQUIRE(zero.recv(p.s) == SOCKET_ERROR);
    REQUIRE(normal.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(normal.err) == "WSA_IO_PENDING");
    send_all(p.peer, "behind");
    REQUIRE(zero.wait());
    REQUIRE(normal.wait());
    CHECK(zero.result(p.s).bytes == 0u);
    op_result r = normal.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 6u);
    CHECK(normal.data(6) == "behind");
}
