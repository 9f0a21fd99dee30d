// SPDX-License-Identifier: MIT
// Rows: §3 start-up (WSPStartup, WSPStartupEx, WSPCleanup; calls through WSPPROC_TABLE).

#include <doctest/doctest.h>

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

TEST_CASE("proc table: WSPStartup fills the table with the sanport functions and a receive "
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

TEST_CASE("proc table: WSPStartupEx fills the same table") {
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

TEST_CASE("proc table: WSPCleanup balances each start-up, one more is WSANOTINITIALISED") {
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

TEST_CASE("proc table: the entry points work with no start-up call at all") {
    int err = 0;
    CHECK(WSPCleanup(&err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSANOTINITIALISED");
    loopback_pair p = make_pair();
    send_all(p.peer, "embedded");
    CHECK(recv_stream(p.s, 8) == "embedded");
}
