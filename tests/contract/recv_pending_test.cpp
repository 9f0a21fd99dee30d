// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.pending, recv.overlapped.fields.

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("recv.pending: no data yet, overlapped - SOCKET_ERROR with WSA_IO_PENDING, count and "
          "flags untouched, completes later") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        overlapped_op op({16});

        CHECK(op.recv(p.s) == SOCKET_ERROR);
        CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
        CHECK(op.bytes == bytes_sentinel);
        CHECK(op.flags == 0u);

        sleep_ms(settle_ms);
        CHECK(op.pending());
        CHECK_FALSE(op.event_signalled());

        send_all(p.peer, "xyz");
        REQUIRE(op.wait());
        CHECK(op.event_signalled_soon());
        op_result r = op.result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 3u);
        CHECK(r.flags == 0u);
        CHECK(op.data(3) == "xyz");
        CHECK(op.buffer(0).substr(3) == std::string(13, '.'));
        // The caller's count variable belongs to the call, not to the completion.
        CHECK(op.bytes == bytes_sentinel);
    }
}

TEST_CASE("recv.pending: no data yet, overlapped - lpFlags keeps the caller's value while "
          "pending") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    CHECK(op.recv(p.s, MSG_PEEK) == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
    CHECK(op.flags == static_cast<DWORD>(MSG_PEEK));
    CHECK(op.bytes == bytes_sentinel);
    send_all(p.peer, "peek");
    REQUIRE(op.wait());
    CHECK(op.flags == static_cast<DWORD>(MSG_PEEK));
    CHECK(op.result(p.s).bytes == 4u);
    CHECK(op.data(4) == "peek");
}

TEST_CASE("recv.overlapped.fields: WSAOVERLAPPED bookkeeping - Internal is 0x103 while pending, "
          "then InternalHigh bytes, Offset flags, OffsetHigh error") {
    loopback_pair p = make_pair();
    overlapped_op op({32});
    op.ov().InternalHigh = 0x7777;
    op.ov().Offset = 0x1111;
    op.ov().OffsetHigh = 0x2222;

    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    CHECK(internal_of(op.ov()) == in_progress);
    sleep_ms(settle_ms);
    CHECK(internal_of(op.ov()) == in_progress);

    send_all(p.peer, "bookkeeping");
    REQUIRE(op.wait());
    CHECK(internal_of(op.ov()) != in_progress);
    CHECK(op.ov().InternalHigh == 11u);
    CHECK(op.ov().Offset == 0u);
    CHECK(op.ov().OffsetHigh == 0u);
    CHECK(op.data(11) == "bookkeeping");
}

TEST_CASE("recv.overlapped.fields: WSAOVERLAPPED bookkeeping - a failed receive stores its WSA "
          "error in OffsetHigh and 0 in InternalHigh") {
    loopback_pair p = make_pair();
    overlapped_op op({32});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
    CHECK(internal_of(op.ov()) == in_progress);

    p.reset_peer();
    REQUIRE(op.wait());
    CHECK(internal_of(op.ov()) != in_progress);
    CHECK(op.ov().InternalHigh == 0u);
    CHECK(wsa_name(static_cast<int>(op.ov().OffsetHigh)) == "WSAECONNRESET");
    CHECK(op.event_signalled_soon());
}

TEST_CASE("recv.overlapped.fields: WSAOVERLAPPED bookkeeping - Internal is written last, so a "
          "reader that sees it final also sees the count and the data") {
    loopback_pair p = make_pair();
    for (int round = 0; round < 20; ++round) {
        INFO("round " << round);
        overlapped_op op({64});
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");

        std::atomic<bool> seen{false};
        ULONG_PTR seen_bytes = 0;
        std::string seen_data;
        std::thread reader([&] {
            stopwatch sw;
            while (sw.ms() < max_wait_ms) {
                if (!is_pending(op.ov())) { // acquire load of Internal
                    seen_bytes = op.ov().InternalHigh;
                    seen_data = op.data(6);
                    seen = true;
                    return;
                }
            }
        });
        std::string expected = pattern(6, static_cast<std::size_t>(round) * 6);
        send_all(p.peer, expected);
        reader.join();
        REQUIRE(seen.load());
        CHECK(seen_bytes == 6u);
        CHECK(seen_data == expected);
    }
}

TEST_CASE("recv.overlapped.fields: WSAOVERLAPPED bookkeeping - one WSAOVERLAPPED reused for the "
          "next receive goes back to 0x103 and reports the new result") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        WSAResetEvent(op.event());
        REQUIRE(op.recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op.err) == "WSA_IO_PENDING");
        CHECK(internal_of(op.ov()) == in_progress);
        CHECK_FALSE(op.event_signalled());
        const std::string text = pattern(static_cast<std::size_t>(round) + 3, 100 * round);
        send_all(p.peer, text);
        REQUIRE(op.wait());
        op_result r = op.result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == text.size());
        CHECK(op.data(text.size()) == text);
    }
}
