// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.conn.failure (its time-out and keep-alive halves).
// The time-out is made real on loopback: the peer stops reading, its window closes, and
// TCP_USER_TIMEOUT on the sanport socket aborts the zero-window probing.

#include <doctest/doctest.h>

// Linux-only: the time-out is TCP_USER_TIMEOUT, which Winsock lacks (its TCP_MAXRT counts
// retransmissions, not zero-window probes), and the kernel's send buffer is filled with
// MSG_DONTWAIT; the Windows port needs its own way to time a connection out.
#ifndef _WIN32

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// Sets up a time-out within about a second: TCP_USER_TIMEOUT 300 ms, small buffers, the peer
// never reads. With `send` the outgoing data is one pending overlapped WSPSend; without it the
// kernel's send buffer is filled directly through the OS handle, so the receive is the only
// operation the failure can reach. Returns false (with a skip) if this kernel never times out.
bool time_out_connection(loopback_pair& p, bool keepalive, overlapped_op& receive,
                         overlapped_op* send) {
    int fd = static_cast<int>(p.s);
    int user_timeout_ms = 300, small = 4096, on = keepalive ? 1 : 0;
    REQUIRE(::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                         sizeof user_timeout_ms) == 0);
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) == 0);

    REQUIRE(receive.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(receive.err) == "WSA_IO_PENDING");
    if (send) {
        send->send(p.s, pattern(send->capacity()));
        REQUIRE(send->call_pending());
    } else {
        const std::string chunk = pattern(65536);
        for (int i = 0; i < 64; ++i) {
            if (::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
        }
    }
    if (!receive.wait(max_wait_ms)) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error == 0) {
            skip("this kernel did not time out the zero-window connection");
            return false;
        }
        FAIL("the connection failed (errno " << so_error << ") but the receive stayed pending");
    }
    return true;
}

loopback_pair stalled_pair() {
    pair_options options;
    options.peer_rcvbuf = 4096;
    return make_pair(options);
}

} // namespace

TEST_CASE("recv.conn.failure, depart.codes: time-out without SO_KEEPALIVE - the pending receive "
          "fails with WSAECONNABORTED, never WSAETIMEDOUT, and so do later ones") {
    loopback_pair p = stalled_pair();
    overlapped_op receive({16});
    if (!time_out_connection(p, false, receive, nullptr)) return;
    op_result r = receive.result(p.s);
    INFO("receive: ok " << r.ok << ", " << r.bytes << " bytes");
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNABORTED");
    for (int i = 0; i < 2; ++i) {
        recv_outcome later = recv_once(p.s, 16);
        CHECK(later.r.ok == FALSE);
        CHECK(wsa_name(later.r.err) == "WSAECONNABORTED");
    }
}

TEST_CASE("recv.conn.failure: keep-alive failure - with SO_KEEPALIVE on, a time-out fails the "
          "pending receive with WSAENETRESET") {
    loopback_pair p = stalled_pair();
    overlapped_op receive({16});
    if (!time_out_connection(p, true, receive, nullptr)) return;
    op_result r = receive.result(p.s);
    INFO("receive: ok " << r.ok << ", " << r.bytes << " bytes");
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAENETRESET");
}

TEST_CASE("recv.conn.failure: time-out with a send pending too - both fail with WSAECONNABORTED, "
          "the receive is not read as stream end") {
    loopback_pair p = stalled_pair();
    overlapped_op receive({16});
    overlapped_op send({1u << 20});
    if (!time_out_connection(p, false, receive, &send)) return;
    op_result r = receive.result(p.s);
    INFO("receive: ok " << r.ok << ", " << r.bytes << " bytes");
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNABORTED");
    REQUIRE(send.wait());
    op_result s = send.result(p.s);
    CHECK(s.ok == FALSE);
    CHECK(wsa_name(s.err) == "WSAECONNABORTED");
    recv_outcome later = recv_once(p.s, 16);
    CHECK(later.r.ok == FALSE);
    CHECK(wsa_name(later.r.err) == "WSAECONNABORTED");
}

#endif // !_WIN32
