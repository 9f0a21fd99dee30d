// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.capture (the WSABUF array).

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// Posts op's buffers through a WSABUF array on this frame's stack, then wrecks the array
// before the frame goes away.
[[gnu::noinline]] int post_from_stack(SOCKET s, overlapped_op& op, int* err) {
    WSABUF arr[8];
    for (DWORD i = 0; i < op.count(); ++i)
        arr[i] = op.bufs()[i];
    DWORD bytes = bytes_sentinel, flags = 0;
    int rc = WSPRecv(s, arr, op.count(), &bytes, &flags, &op.ov(), nullptr, nullptr, err);
    volatile unsigned char* wreck = reinterpret_cast<volatile unsigned char*>(arr);
    for (std::size_t i = 0; i < sizeof arr; ++i)
        wreck[i] = 0xEE;
    return rc;
}

// Reuses the stack where post_from_stack's array was.
[[gnu::noinline]] void scribble_stack() {
    volatile char junk[4096];
    for (std::size_t i = 0; i < sizeof junk; ++i)
        junk[i] = static_cast<char>(0xCD);
}

} // namespace

TEST_CASE("recv.capture: WSABUF array - a stack array overwritten right after a pending call, data "
          "lands in the original buffers") {
    loopback_pair p = make_pair();
    overlapped_op op({4, 4, 4});
    int err = 0;
    REQUIRE(post_from_stack(p.s, op, &err) == SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    scribble_stack();
    send_all(p.peer, "abcdefghijkl");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 12u);
    CHECK(op.buffer(0) == "abcd");
    CHECK(op.buffer(1) == "efgh");
    CHECK(op.buffer(2) == "ijkl");
}

TEST_CASE("recv.capture: WSABUF array - a heap array freed right after a pending call, data lands "
          "in the original buffers") {
    loopback_pair p = make_pair();
    overlapped_op op({3, 5});
    auto* arr = new WSABUF[2]{op.bufs()[0], op.bufs()[1]};
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, arr, 2, &bytes, &flags, &op.ov(), nullptr, nullptr, &err);
    delete[] arr; // AddressSanitizer reports any later read of it
    REQUIRE(rc == SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    send_all(p.peer, "12345678");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 8u);
    CHECK(op.buffer(0) == "123");
    CHECK(op.buffer(1) == "45678");
}

TEST_CASE("recv.capture: WSABUF array - one array reused at once for a second receive, each "
          "receive fills its own buffers") {
    loopback_pair p = make_pair();
    overlapped_op first({4});
    overlapped_op second({4});
    WSABUF arr[1];
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;

    arr[0] = first.bufs()[0];
    REQUIRE(WSPRecv(p.s, arr, 1, &bytes, &flags, &first.ov(), nullptr, nullptr, &err) ==
            SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    arr[0] = second.bufs()[0];
    REQUIRE(WSPRecv(p.s, arr, 1, &bytes, &flags, &second.ov(), nullptr, nullptr, &err) ==
            SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    arr[0] = WSABUF{0, nullptr};

    send_all(p.peer, "AAAABBBB");
    REQUIRE(first.wait());
    REQUIRE(second.wait());
    CHECK(first.result(p.s).bytes == 4u);
    CHECK(second.result(p.s).bytes == 4u);
    CHECK(first.buffer(0) == "AAAA");
    CHECK(second.buffer(0) == "BBBB");
}
