// SPDX-License-Identifier: MIT
// docs/contract.md rows: result.get (WSPGetOverlappedResult); api.errno.

#include <doctest/doctest.h>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("result.get: fWait FALSE on a pending receive - FALSE with WSA_IO_INCOMPLETE") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    for (int i = 0; i < 3; ++i) {
        op_result r = op.result(p.s, FALSE);
        CHECK(r.ok == FALSE);
        CHECK(wsa_name(r.err) == "WSA_IO_INCOMPLETE");
    }
    CHECK(op.pending());
    // Asking did not disturb the operation.
    send_all(p.peer, "fine");
    REQUIRE(op.wait());
    op_result r = op.result(p.s, FALSE);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 4u);
    CHECK(op.data(4) == "fine");
}

TEST_CASE("result.get: fWait TRUE - waits until the receive completes") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    watchdog wd(max_wait_ms, [fd = p.peer] { peer_shutdown_both(fd); });
    delayed sender(50, [fd = p.peer] { try_send_all(fd, "patience"); });
    stopwatch sw;
    op_result r = op.result(p.s, TRUE);
    double waited = sw.ms();
    sender.join();
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 8u);
    CHECK(r.flags == 0u);
    CHECK(op.data(8) == "patience");
    CHECK(waited >= 30.0);
    CHECK_FALSE(wd.fired());
}

TEST_CASE("result.get: completed - TRUE with bytes and flags, the same on every call") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "twelve bytes");
    REQUIRE(op.wait());
    for (BOOL wait : {FALSE, TRUE, FALSE}) {
        op_result r = op.result(p.s, wait);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 12u);
        CHECK(r.flags == 0u);
    }
}

TEST_CASE("result.get: failed - FALSE with the op's own error") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    p.reset_peer();
    REQUIRE(op.wait());
    for (BOOL wait : {FALSE, TRUE}) {
        op_result r = op.result(p.s, wait);
        CHECK(r.ok == FALSE);
        CHECK(wsa_name(r.err) == "WSAECONNRESET");
    }
}

TEST_CASE("result.get: failed - fWait TRUE returns the error of a receive that fails while waited "
          "on") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    peer_socket peer = p.peer;
    p.peer = no_peer;
    delayed resetter(50, [peer] { peer_reset(peer); });
    watchdog wd(max_wait_ms, [s = p.s] { // aborts the receive if the reset went unnoticed
        int e = 0;
        WSPCloseSocket(s, &e);
    });
    op_result r = op.result(p.s, TRUE);
    resetter.join();
    CHECK_FALSE(wd.fired());
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
}

TEST_CASE("api.errno: WSPGetOverlappedResult with lpErrno NULL - FALSE and nothing else touched") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "x");
    REQUIRE(op.wait());
    DWORD bytes = bytes_sentinel, flags = 0x5555;
    CHECK(WSPGetOverlappedResult(p.s, &op.ov(), &bytes, FALSE, &flags, nullptr) == FALSE);
    CHECK(bytes == bytes_sentinel);
    CHECK(flags == 0x5555u);
}
