// SPDX-License-Identifier: MIT
// docs/contract.md rows connect.* (WSPConnectEx: ConnectEx's model) on real loopback TCP.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// A fresh overlapped socket bound to the loopback address of `family`.
SOCKET bound_socket(int family = AF_INET) {
    int err = 0;
    SOCKET s = WSPSocket(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, "WSPSocket: " << wsa_name(err));
    int len = 0;
    sockaddr_storage any = loopback_address(family, 0, &len);
    REQUIRE_MESSAGE(WSPBind(s, reinterpret_cast<sockaddr*>(&any), len, &err) == 0,
                    "WSPBind: " << wsa_name(err));
    return s;
}

struct connect_op {
    SOCKET s;
    overlapped_op o{{1}};
    std::string data;
    int rc = 0;
    int err = 0;
    DWORD bytes = 0xdeadbeef;

    explicit connect_op(int family = AF_INET) : s(bound_socket(family)) {}
    ~connect_op() {
        int e = 0;
        if (s != INVALID_SOCKET) WSPCloseSocket(s, &e);
    }
    int post(const sockaddr_storage& to, int len, std::string first = {}) {
        data = std::move(first);
        err = 0;
        rc = WSPConnectEx(s, reinterpret_cast<const sockaddr*>(&to), len,
                          data.empty() ? nullptr : data.data(), static_cast<DWORD>(data.size()),
                          &bytes, &o.ov(), &err);
        return rc;
    }
    bool pending_or_done() const {
        return rc == 0 || (rc == SOCKET_ERROR && err == WSA_IO_PENDING);
    }
    void close() {
        int e = 0;
        WSPCloseSocket(s, &e);
        s = INVALID_SOCKET;
    }
};

// A port nobody listens on: a listener's, closed again.
sockaddr_storage refusing_address(int* len) {
    posix_listener gone;
    *len = gone.address_len;
    return gone.address;
}

} // namespace

TEST_CASE("connect.post: an overlapped connect completes once through the event, the socket's "
          "queue and WSPGetOverlappedResult - the socket is then connected") {
    for (int family : {AF_INET, AF_INET6}) {
        if (family == AF_INET6 && !ipv6_loopback_available()) continue;
        CAPTURE(family);
        posix_listener l(family);
        connect_op c(family);
        completion_queue cq;
        REQUIRE(cq.associate(c.s, 0xC0) == 0);
        c.post(l.address, l.address_len);
        REQUIRE_MESSAGE(c.pending_or_done(), wsa_name(c.err));
        REQUIRE(c.o.wait());
        CHECK(c.o.event_signalled_soon());
        op_result r = c.o.result(c.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 0u);
        auto packets = dequeue_n(cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(packets[0].key == 0xC0u);
        CHECK(packets[0].status == 0);
        peer_socket peer = l.accept_one();
        REQUIRE(peer != no_peer);
        check_both_ways(c.s, peer, "connected");
        int err = 0;
        CHECK(c.post(l.address, l.address_len) == SOCKET_ERROR);
        CHECK(wsa_name(c.err) == "WSAEISCONN");
        CHECK(WSPShutdown(c.s, SD_SEND, &err) == 0); // Windows needs the connect context
        CHECK(read_until_end(peer) == peer_end::eof);
        peer_close(peer);
    }
}

TEST_CASE("connect.send-data: the first data goes out once connected - the connect completes "
          "with its byte count") {
    posix_listener l;
    connect_op c;
    const std::string hello = pattern(100000);
    c.post(l.address, l.address_len, hello);
    REQUIRE_MESSAGE(c.pending_or_done(), wsa_name(c.err));
    peer_socket peer = l.accept_one();
    REQUIRE(peer != no_peer);
    CHECK(read_exactly(peer, hello.size()) == hello);
    REQUIRE(c.o.wait());
    op_result r = c.o.result(c.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == hello.size());
    check_both_ways(c.s, peer, "after");
    peer_close(peer);
}

TEST_CASE("connect.refused: a refused connect completes once with WSAECONNREFUSED - on Linux "
          "the socket stays bound and may connect again") {
    int len = 0;
    const sockaddr_storage nobody = refusing_address(&len);
    connect_op c;
    c.post(nobody, len);
    REQUIRE_MESSAGE(c.pending_or_done(), wsa_name(c.err));
    REQUIRE(c.o.wait());
    op_result r = c.o.result(c.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNREFUSED");
#ifndef _WIN32 // Winsock wants a socket whose connect failed closed, not connected again
    posix_listener l;
    overlapped_op again({1});
    int err = 0;
    DWORD bytes = 0;
    const int rc = WSPConnectEx(c.s, reinterpret_cast<const sockaddr*>(&l.address), l.address_len,
                                nullptr, 0, &bytes, &again.ov(), &err);
    REQUIRE((rc == 0 || err == WSA_IO_PENDING));
    REQUIRE(again.wait());
    CHECK(again.result(c.s).ok == TRUE);
    peer_socket peer = l.accept_one();
    REQUIRE(peer != no_peer);
    check_both_ways(c.s, peer, "second try");
    peer_close(peer);
#endif
}

namespace {

// A connect the peer's kernel leaves under way: its listener's queue is full, so the SYN is
// dropped and retried for seconds. False (with a message) when the connect finished anyway.
bool connect_stays_pending(connect_op& c, posix_listener& full, peer_socket& first) {
    first = posix_connect(full.address, full.address_len); // takes the one queue place
    REQUIRE(first != no_peer);
    c.post(full.address, full.address_len);
    REQUIRE_MESSAGE(c.pending_or_done(), wsa_name(c.err));
    sleep_ms(100);
    if (!c.o.pending()) MESSAGE("the kernel completed the connect to a full queue");
    return c.o.pending();
}

} // namespace

TEST_CASE("connect.close: closing a socket whose connect is under way completes it once with "
          "WSA_OPERATION_ABORTED") {
    posix_listener full(AF_INET, 0, 0);
    connect_op c;
    completion_queue cq;
    REQUIRE(cq.associate(c.s, 5) == 0);
    peer_socket first = no_peer;
    if (connect_stays_pending(c, full, first)) {
        c.close();
        REQUIRE(c.o.wait());
        CHECK(c.o.event_signalled_soon());
        CHECK(wsa_name(static_cast<int>(c.o.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
        auto packets = dequeue_n(cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(wsa_name(packets[0].status) == "WSA_OPERATION_ABORTED");
        CHECK(count_more(cq, 50) == 0u);
    }
    peer_close(first);
}

TEST_CASE("connect.cancel: WSPCancelIoEx aborts a connect under way once - the socket stays "
          "bound and may connect elsewhere") {
    posix_listener full(AF_INET, 0, 0);
    connect_op c;
    peer_socket first = no_peer;
    if (connect_stays_pending(c, full, first)) {
        int err = 0;
        REQUIRE(WSPCancelIoEx(c.s, &c.o.ov(), &err) == 0);
        REQUIRE(c.o.wait());
        CHECK(wsa_name(c.o.result(c.s).err) == "WSA_OPERATION_ABORTED");
        CHECK(WSPCancelIoEx(c.s, &c.o.ov(), &err) == SOCKET_ERROR);
        CHECK(err == static_cast<int>(ERROR_NOT_FOUND));
    }
    peer_close(first);
}
