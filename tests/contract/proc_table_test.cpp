// SPDX-License-Identifier: MIT
// docs/contract.md rows (section 3): startup.table, startup.cleanup, startup.embedded.

#include <doctest/doctest.h>

#include <utility>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

void check_table(const WSPPROC_TABLE& t) {
    CHECK((t.lpWSPRecv == &WSPRecv));
    CHECK((t.lpWSPSend == &WSPSend));
    CHECK((t.lpWSPGetOverlappedResult == &WSPGetOverlappedResult));
    CHECK((t.lpWSPSocket == &WSPSocket));
    CHECK((t.lpWSPBind == &WSPBind));
    CHECK((t.lpWSPListen == &WSPListen));
    CHECK((t.lpWSPAccept == &WSPAccept));
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

TEST_CASE("startup.cleanup: the last WSPCleanup closes every open socket - each pending receive "
          "completes once with WSA_OPERATION_ABORTED, as WSACleanup does") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    loopback_pair a = make_pair(), b = make_pair();
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
