// SPDX-License-Identifier: MIT
// docs/contract.md rows (section 3): startup.table, startup.cleanup, startup.embedded.

#include <doctest/doctest.h>

#include <utility>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

void check_table(const WSPPROC_TABLE& t) {
    CHECK((t.lpWSPRecv == &WSPRecv));
    CHECK((t.lpWSPSend == &WSPSend));
    CHECK((t.lpWSPGetOverlappedResult == &WSPGetOverlappedResult));
    // lpWSPSocket and lpWSPAccept are the table's own: they also mark the socket as the
    // start-ups' (startup.cleanup), and are checked by using them below.
    CHECK((t.lpWSPBind == &WSPBind));
    CHECK((t.lpWSPListen == &WSPListen));
    CHECK((t.lpWSPConnect == &WSPConnect));
    CHECK((t.lpWSPGetSockName == &WSPGetSockName));
    CHECK((t.lpWSPShutdown == &WSPShutdown));
    CHECK((t.lpWSPCloseSocket == &WSPCloseSocket));
    CHECK((t.lpWSPCleanup == &WSPCleanup));
    // Ported code calls through every slot: none may be NULL.
    const void* const* slots = reinterpret_cast<const void* const*>(&t);
    for (std::size_t i = 0; i < sizeof(WSPPROC_TABLE) / sizeof(void*); ++i) {
        INFO("WSPPROC_TABLE slot " << i);
        CHECK(slots[i] != nullptr);
    }
}

// A pending receive made through the table, completed by data from the peer.
void receive_through(const WSPPROC_TABLE& t) {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    int rc =
        t.lpWSPRecv(p.s, op.bufs(), op.count(), &bytes, &flags, &op.ov(), nullptr, nullptr, &err);
    CHECK(rc == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSA_IO_PENDING");
    send_all(p.peer, "via table");
    REQUIRE(op.wait());
    DWORD got = 0, got_flags = 0;
    CHECK(t.lpWSPGetOverlappedResult(p.s, &op.ov(), &got, FALSE, &got_flags, &err) == TRUE);
    CHECK(got == 9u);
    CHECK(op.data(9) == "via table");
}

// A connected pair whose sanport end is made through the table: WSPSocket + WSPConnect, or a
// table listener's WSPAccept.
loopback_pair table_pair(const WSPPROC_TABLE& t, bool accept) {
    loopback_pair p;
    int err = 0;
    if (!accept) {
        posix_listener listener;
        p.s =
            t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        REQUIRE_MESSAGE(p.s != INVALID_SOCKET, wsa_name(err));
        const auto* name = reinterpret_cast<const sockaddr*>(&listener.address);
        REQUIRE(t.lpWSPConnect(p.s, name, listener.address_len, nullptr, nullptr, nullptr, nullptr,
                               &err) == 0);
        p.peer = listener.accept_one();
        REQUIRE(p.peer != no_peer);
        return p;
    }
    SOCKET l =
        t.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(l != INVALID_SOCKET);
    int len = 0;
    const sockaddr_storage any = loopback_address(AF_INET, 0, &len);
    REQUIRE(t.lpWSPBind(l, reinterpret_cast<const sockaddr*>(&any), len, &err) == 0);
    REQUIRE(t.lpWSPListen(l, 4, &err) == 0);
    sockaddr_storage bound{};
    int bound_len = sizeof bound;
    REQUIRE(t.lpWSPGetSockName(l, reinterpret_cast<sockaddr*>(&bound), &bound_len, &err) == 0);
    p.peer = posix_connect(bound, bound_len);
    REQUIRE(p.peer != no_peer);
    p.s = t.lpWSPAccept(l, nullptr, nullptr, nullptr, 0, &err);
    REQUIRE_MESSAGE(p.s != INVALID_SOCKET, wsa_name(err));
    CHECK(t.lpWSPCloseSocket(l, &err) == 0);
    return p;
}

} // namespace

TEST_CASE("startup.table: WSPStartup fills the table with the sanport functions and a receive "
          "through it works") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    CHECK(data.wVersion == 0x0202);
    CHECK(data.wHighVersion == 0x0202);
    check_table(table);
    receive_through(table);
    int err = 0;
    CHECK(WSPCleanup(&err) == 0);
}

TEST_CASE("startup.table: WSPStartupEx fills the same table") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLEEX upcalls{};
    upcalls.lpWPUCompleteOverlappedRequest = &sanport::WPUCompleteOverlappedRequest;
    REQUIRE(sanport::WSPStartupEx(0x0202, &data, nullptr, &upcalls, &table) == 0);
    CHECK(data.wVersion == 0x0202);
    check_table(table);
    receive_through(table);
    int err = 0;
    CHECK(WSPCleanup(&err) == 0);
}

TEST_CASE("startup.cleanup: WSPCleanup balances each start-up, one more is WSANOTINITIALISED") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    WSPUPCALLTABLEEX upcalls_ex{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    REQUIRE(sanport::WSPStartupEx(0x0202, &data, nullptr, &upcalls_ex, &table) == 0);
    int err = 0;
    CHECK(WSPCleanup(&err) == 0);
    // Still started once: the functions keep working.
    receive_through(table);
    CHECK(WSPCleanup(&err) == 0);
    err = 0;
    CHECK(WSPCleanup(&err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSANOTINITIALISED");
}

TEST_CASE("startup.embedded: the entry points work with no start-up call at all") {
    int err = 0;
    CHECK(WSPCleanup(&err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSANOTINITIALISED");
    loopback_pair p = make_pair();
    send_all(p.peer, "embedded");
    CHECK(recv_stream(p.s, 8) == "embedded");
}

TEST_CASE("startup.cleanup: the last WSPCleanup closes every socket made through the table - "
          "each pending receive completes once with WSA_OPERATION_ABORTED, as WSACleanup does") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    loopback_pair a = table_pair(table, false), b = table_pair(table, true);
    completion_queue cq;
    REQUIRE(cq.associate(a.s, 1) == 0);
    overlapped_op ra1({16}), ra2({16}), rb({16});
    REQUIRE(ra1.recv(a.s) == SOCKET_ERROR);
    REQUIRE(ra2.recv(a.s) == SOCKET_ERROR);
    REQUIRE(rb.recv(b.s) == SOCKET_ERROR);
    int err = 0;
    CHECK(WSPCleanup(&err) == 0); // not the last: nothing closed
    sleep_ms(settle_ms);
    CHECK(ra1.pending());
    CHECK(rb.pending());
    CHECK(WSPCleanup(&err) == 0); // the last: everything closed, every receive completed
    const std::pair<overlapped_op*, SOCKET> ops[] = {{&ra1, a.s}, {&ra2, a.s}, {&rb, b.s}};
    for (const auto& [op, s] : ops) {
        CHECK_FALSE(op->pending());
        CHECK(wsa_name(op->result(s).err) == "WSA_OPERATION_ABORTED");
        CHECK(op->event_signalled()); // WSPCleanup returns after every event is set
    }
    CHECK(dequeue_n(cq, 2).size() == 2u);
    CHECK(count_more(cq) == 0u);
    overlapped_op after({16});
    after.recv(a.s);
    CHECK(wsa_name(after.err) == "WSAENOTSOCK");
    // The pairs' own close must not close a number the OS may have handed out again.
    a.s = INVALID_SOCKET;
    b.s = INVALID_SOCKET;
}

TEST_CASE("startup.cleanup: a plug-in's balanced WSPStartup and WSPCleanup leave the "
          "application's own sockets alone") {
    // The application never calls WSPStartup (startup.embedded) and has a receive pending.
    loopback_pair app = make_pair();
    overlapped_op app_recv({16});
    REQUIRE(app_recv.recv(app.s) == SOCKET_ERROR);
    // A library it loads starts up, makes a socket of its own through the table, and cleans up.
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    loopback_pair plugin = table_pair(table, false);
    overlapped_op plugin_recv({16});
    REQUIRE(plugin_recv.recv(plugin.s) == SOCKET_ERROR);
    int err = 0;
    CHECK(table.lpWSPCleanup(&err) == 0);
    // The plug-in's receive was aborted with its socket ...
    CHECK_FALSE(plugin_recv.pending());
    CHECK(wsa_name(plugin_recv.result(plugin.s).err) == "WSA_OPERATION_ABORTED");
    plugin.s = INVALID_SOCKET; // closed by the cleanup; the number may be reused
    // ... the application's is still pending and completes with its data.
    sleep_ms(settle_ms);
    CHECK(app_recv.pending());
    send_all(app.peer, "still mine");
    REQUIRE(app_recv.wait());
    CHECK(app_recv.result(app.s).bytes == 10u);
    CHECK(app_recv.data(10) == "still mine");
}
