// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.peek, recv.waitall, recv.flags.invalid.

#include <doctest/doctest.h>

#include <string>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("recv.peek: MSG_PEEK - data copied, not consumed") {
    loopback_pair p = make_pair();
    send_all(p.peer, "peekme");
    REQUIRE(wait_kernel_unread(p.s, 6));
    overlapped_op peek({4, 8});
    peek.recv(p.s, MSG_PEEK);
    op_result r = peek.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 6u);
    CHECK(peek.buffer(0) == "peek");
    CHECK(peek.data(6) == "peekme");
    recv_outcome again = recv_once(p.s, 16);
    CHECK(again.data == "peekme");
}

TEST_CASE("recv.peek: MSG_PEEK - a pending peek completes when data arrives and leaves it for the "
          "next receive") {
    loopback_pair p = make_pair();
    overlapped_op peek({16});
    REQUIRE(peek.recv(p.s, MSG_PEEK) == SOCKET_ERROR);
    REQUIRE(wsa_name(peek.err) == "WSA_IO_PENDING");
    send_all(p.peer, "abcde");
    REQUIRE(peek.wait());
    op_result r = peek.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 5u);
    CHECK(peek.data(5) == "abcde");
    CHECK(recv_once(p.s, 16).data == "abcde");
}

TEST_CASE("recv.waitall, depart.waitall: MSG_WAITALL - completes only when every buffer is full "
          "(peer sends 3+3+4 with pauses into {4,6})") {
    loopback_pair p = make_pair();
    overlapped_op op({4, 6});
    REQUIRE(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "abc");
    sleep_ms(50);
    CHECK(op.pending());
    send_all(p.peer, "def");
    sleep_ms(50);
    CHECK(op.pending());
    send_all(p.peer, "ghij");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 10u);
    CHECK(op.buffer(0) == "abcd");
    CHECK(op.buffer(1) == "efghij");
}

TEST_CASE("recv.waitall: MSG_WAITALL - with every byte already queued it completes with the full "
          "count") {
    loopback_pair p = make_pair();
    send_all(p.peer, "0123456789ABC");
    REQUIRE(wait_kernel_unread(p.s, 13));
    overlapped_op op({4, 6});
    op.recv(p.s, MSG_WAITALL);
    op_result r = op.finish(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 10u);
    CHECK(op.data(10) == "0123456789");
    CHECK(recv_once(p.s, 16).data == "ABC");
}

TEST_CASE("recv.waitall: MSG_WAITALL - FIN after 3 bytes completes successfully with 3, the next "
          "receive gets 0") {
    loopback_pair p = make_pair();
    overlapped_op op({10});
    REQUIRE(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "abc");
    sleep_ms(30);
    p.close_peer();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 3u);
    CHECK(op.data(3) == "abc");
    recv_outcome next = recv_once(p.s, 10);
    CHECK(next.r.ok == TRUE);
    CHECK(next.r.bytes == 0u);
}

TEST_CASE("recv.waitall: MSG_WAITALL - RST after 3 bytes completes with 3, the next receive fails "
          "with WSAECONNRESET") {
    loopback_pair p = make_pair();
    overlapped_op op({10});
    REQUIRE(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "abc");
    sleep_ms(30);
    p.reset_peer();
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 3u);
    CHECK(op.data(3) == "abc");
    for (int i = 0; i < 2; ++i) {
        recv_outcome next = recv_once(p.s, 10);
        CHECK(next.r.ok == FALSE);
        CHECK(wsa_name(next.r.err) == "WSAECONNRESET");
    }
}

TEST_CASE("recv.waitall, close.pending.abort: MSG_WAITALL - aborted on WSPCloseSocket like any "
          "pending receive") {
    loopback_pair p = make_pair();
    overlapped_op op({10});
    REQUIRE(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    CHECK_FALSE(op.pending());
    CHECK(op.event_signalled_soon());
    op_result r = op.result(old);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
}

TEST_CASE("recv.waitall, close.pending.abort: MSG_WAITALL - partly filled then closed completes "
          "exactly once, keeping the bytes it reports") {
    loopback_pair p = make_pair();
    overlapped_op op({10});
    REQUIRE(op.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    send_all(p.peer, "abc");
    sleep_ms(50);
    REQUIRE(op.pending());
    SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    CHECK_FALSE(op.pending());
    op_result r = op.result(old);
    INFO("result: ok " << r.ok << ", " << r.bytes << " bytes, " << wsa_name(r.err));
    if (r.ok) {
        CHECK(r.bytes == 3u);
        CHECK(op.data(3) == "abc");
    } else {
        CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
    }
}

TEST_CASE("recv.flags.invalid: MSG_WAITALL with MSG_PEEK - WSAEINVAL, nothing consumed") {
    loopback_pair p = make_pair();
    send_all(p.peer, "kept");
    REQUIRE(wait_kernel_unread(p.s, 4));
    overlapped_op op({8});
    CHECK(op.recv(p.s, MSG_WAITALL | MSG_PEEK) == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSAEINVAL");
    CHECK_FALSE(op.pending());
    char buf[8];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = 0, flags = MSG_WAITALL | MSG_PEEK;
    int err = 0;
    CHECK(WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(recv_once(p.s, 16).data == "kept");
}

TEST_CASE("recv.flags.invalid: MSG_OOB - WSAEINVAL, nothing consumed") {
    loopback_pair p = make_pair();
    send_all(p.peer, "kept");
    REQUIRE(wait_kernel_unread(p.s, 4));
    overlapped_op op({8});
    CHECK(op.recv(p.s, MSG_OOB) == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSAEINVAL");
    CHECK_FALSE(op.pending());
    overlapped_op op2({8});
    CHECK(op2.recv(p.s, MSG_OOB | MSG_PEEK) == SOCKET_ERROR);
    CHECK(wsa_name(op2.err) == "WSAEINVAL");
    CHECK(recv_once(p.s, 16).data == "kept");
}

TEST_CASE("recv.peek, recv.posting-order: MSG_PEEK - a normal receive posted behind a pending peek "
          "gets the same bytes") {
    loopback_pair p = make_pair();
    overlapped_op peek({16}), take({16});
    REQUIRE(peek.recv(p.s, MSG_PEEK) == SOCKET_ERROR);
    REQUIRE(take.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "twice");
    REQUIRE(peek.wait());
    REQUIRE(take.wait());
    CHECK(peek.result(p.s).bytes == 5u);
    CHECK(take.result(p.s).bytes == 5u);
    CHECK(peek.data(5) == "twice");
    CHECK(take.data(5) == "twice");
}

TEST_CASE("recv.waitall, recv.posting-order: MSG_WAITALL - a receive posted behind it gets only "
          "what follows the full buffers") {
    loopback_pair p = make_pair();
    overlapped_op all({10}), next({16});
    REQUIRE(all.recv(p.s, MSG_WAITALL) == SOCKET_ERROR);
    REQUIRE(next.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "012345");
    sleep_ms(50);
    CHECK(all.pending());
    CHECK(next.pending());
    send_all(p.peer, "6789AB");
    REQUIRE(all.wait());
    REQUIRE(next.wait());
    CHECK(all.result(p.s).bytes == 10u);
    CHECK(all.data(10) == "0123456789");
    CHECK(next.result(p.s).bytes == 2u);
    CHECK(next.data(2) == "AB");
}
