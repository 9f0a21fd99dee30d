// SPDX-License-Identifier: MIT
// docs/contract.md row (section 3): wpu.complete (WPUCompleteOverlappedRequest).

#include <doctest/doctest.h>

#include <atomic>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("wpu.complete: WPUCompleteOverlappedRequest sets the bookkeeping, signals the event and "
          "queues a packet") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0x77) == 0);
    overlapped_op op({1});
    op.ov().Internal = in_progress;
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(p.s, &op.ov(), 0, 42, &err) == 0);
    CHECK_FALSE(op.pending());
    CHECK(op.ov().InternalHigh == 42u);
    CHECK(op.ov().OffsetHigh == 0u);
    CHECK(op.event_signalled()); // set before the upcall returns, on this thread
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 42u);
    auto packets = dequeue_n(cq, 1, 1000);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &op.ov());
    CHECK(packets[0].bytes == 42u);
    CHECK(packets[0].key == 0x77u);
    CHECK(packets[0].status == 0);
    CHECK(count_more(cq) == 0u);
}

TEST_CASE("wpu.complete: WPUCompleteOverlappedRequest with an error - WSPGetOverlappedResult and "
          "the packet report it") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 8) == 0);
    overlapped_op op({1});
    op.ov().Internal = in_progress;
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(p.s, &op.ov(), WSAECONNRESET, 0, &err) == 0);
    CHECK_FALSE(op.pending());
    CHECK(wsa_name(static_cast<int>(op.ov().OffsetHigh)) == "WSAECONNRESET");
    op_result r = op.result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAECONNRESET");
    auto packets = dequeue_n(cq, 1, 1000);
    REQUIRE(packets.size() == 1u);
    CHECK(wsa_name(packets[0].status) == "WSAECONNRESET");
}

TEST_CASE("wpu.complete: WPUCompleteOverlappedRequest with the low bit of hEvent - event "
          "signalled, no packet") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 9) == 0);
    overlapped_op op({1});
    op.set_low_bit();
    op.ov().Internal = in_progress;
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(p.s, &op.ov(), 0, 7, &err) == 0);
    CHECK_FALSE(op.pending());
    CHECK(op.event_signalled()); // set before the upcall returns, on this thread
    CHECK(op.result(p.s).bytes == 7u);
    CHECK(count_more(cq, 200) == 0u);
}

TEST_CASE("wpu.complete: WPUCompleteOverlappedRequest releases a waiter in "
          "WSPGetOverlappedResult") {
    loopback_pair p = make_pair();
    overlapped_op op({1});
    op.ov().Internal = in_progress;
    SOCKET s = p.s;
    WSAOVERLAPPED* ov = &op.ov();
    WSAEVENT ev = op.event();
    watchdog wd(max_wait_ms, [ov, ev] { // a broken upcall must not hang the test
        std::atomic_ref<ULONG_PTR>(ov->Internal).store(0, std::memory_order_release);
        WSASetEvent(ev);
    });
    delayed completer(50, [s, ov] {
        int e = 0;
        sanport::WPUCompleteOverlappedRequest(s, ov, 0, 3, &e);
    });
    stopwatch sw;
    op_result r = op.result(p.s, TRUE);
    completer.join();
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 3u);
    CHECK(sw.ms() >= 30.0);
    CHECK_FALSE(wd.fired());
}

TEST_CASE("wpu.complete: WPUCompleteOverlappedRequest on a socket sanport does not know fails") {
    overlapped_op op({1});
    op.ov().Internal = in_progress;
    int err = 0;
    CHECK(sanport::WPUCompleteOverlappedRequest(static_cast<SOCKET>(987654), &op.ov(), 0, 1,
                                                &err) == SOCKET_ERROR);
    CHECK(err != 0);
    CHECK(op.pending());
    op.ov().Internal = 0; // not really pending: let the destructor free it
}
