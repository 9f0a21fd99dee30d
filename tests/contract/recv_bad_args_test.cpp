// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.args.fault, recv.ignored-args.

#include <doctest/doctest.h>

#include <atomic>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// Data sits in the kernel when a bad call is made, so a call that consumed it would show.
loopback_pair pair_with_queued(const char* text, std::size_t n) {
    loopback_pair p = make_pair();
    send_all(p.peer, std::string_view(text, n));
    REQUIRE(wait_kernel_unread(p.s, n));
    return p;
}

// The bad call must fail at once with WSAEFAULT and leave the overlapped, event and queue alone.
void expect_fault(SOCKET s, overlapped_op& op, completion_queue& cq, LPWSABUF bufs, DWORD count,
                  LPDWORD lpFlags) {
    op.ov().Internal = 0x5555;
    DWORD bytes = bytes_sentinel;
    int err = 0;
    int rc = WSPRecv(s, bufs, count, &bytes, lpFlags, &op.ov(), nullptr, nullptr, &err);
    CHECK(rc == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
    CHECK(bytes == bytes_sentinel);
    CHECK(op.ov().Internal == 0x5555u);
    CHECK_FALSE(op.event_signalled());
    CHECK(count_more(cq, 50) == 0u);
    op.ov().Internal = 0;
}

} // namespace

TEST_CASE("recv.args.fault: lpBuffers NULL with count > 0 - WSAEFAULT, nothing queued, no data "
          "consumed") {
    loopback_pair p = pair_with_queued("intact", 6);
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 1) == 0);
    overlapped_op op({8});
    DWORD flags = 0;
    expect_fault(p.s, op, cq, nullptr, 1, &flags);
    expect_fault(p.s, op, cq, nullptr, 3, &flags);
    CHECK(recv_once(p.s, 16).data == "intact");
}

TEST_CASE("recv.args.fault: a buf NULL with len > 0 - WSAEFAULT, nothing queued, no data "
          "consumed") {
    loopback_pair p = pair_with_queued("intact", 6);
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 1) == 0);
    overlapped_op op({8});
    char ok[8];
    WSABUF first_bad[2] = {{8, nullptr}, {8, ok}};
    WSABUF second_bad[2] = {{8, ok}, {8, nullptr}};
    DWORD flags = 0;
    expect_fault(p.s, op, cq, first_bad, 2, &flags);
    expect_fault(p.s, op, cq, second_bad, 2, &flags);
    CHECK(recv_once(p.s, 16).data == "intact");
}

TEST_CASE("recv.args.fault, recv.scatter.order: a buf NULL with len 0 - not a fault, the entry is "
          "skipped") {
    loopback_pair p = pair_with_queued("fine", 4);
    char ok[8];
    WSABUF bufs[2] = {{0, nullptr}, {8, ok}};
    overlapped_op op({1});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, bufs, 2, &bytes, &flags, &op.ov(), nullptr, nullptr, &err);
    REQUIRE((rc == 0 || err == WSA_IO_PENDING));
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 4u);
    CHECK(std::string(ok, 4) == "fine");
}

TEST_CASE("recv.args.fault: lpFlags NULL - WSAEFAULT, nothing queued, no data consumed") {
    loopback_pair p = pair_with_queued("intact", 6);
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 1) == 0);
    overlapped_op op({8});
    expect_fault(p.s, op, cq, op.bufs(), op.count(), nullptr);
    CHECK(recv_once(p.s, 16).data == "intact");
}

TEST_CASE("recv.args.fault: bad arguments - WSAEFAULT at once also when the receive would have "
          "pended, and no ghost receive is left") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 1) == 0);
    overlapped_op op({8});
    DWORD flags = 0;
    expect_fault(p.s, op, cq, nullptr, 1, &flags);
    expect_fault(p.s, op, cq, op.bufs(), op.count(), nullptr);
    // If a bad call had left something posted, it would take these bytes first.
    overlapped_op good({16});
    REQUIRE(good.recv(p.s) == SOCKET_ERROR);
    REQUIRE(wsa_name(good.err) == "WSA_IO_PENDING");
    send_all(p.peer, "all mine");
    REQUIRE(good.wait());
    CHECK(good.result(p.s).bytes == 8u);
    CHECK(good.data(8) == "all mine");
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &good.ov());
    CHECK(count_more(cq) == 0u);
}

TEST_CASE("recv.args.fault: lpNumberOfBytesRecvd NULL on an overlapped call - accepted, the result "
          "comes through WSPGetOverlappedResult") {
    loopback_pair p = make_pair();
    overlapped_op op({16});
    DWORD flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, op.bufs(), op.count(), nullptr, &flags, &op.ov(), nullptr, nullptr, &err);
    CHECK((rc == 0 || err == WSA_IO_PENDING));
    send_all(p.peer, "no count");
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 8u);
    CHECK(op.data(8) == "no count");

    // With data already queued (it may complete at once) it is just as fine.
    send_all(p.peer, "again");
    REQUIRE(wait_kernel_unread(p.s, 5));
    overlapped_op second({16});
    rc = WSPRecv(p.s, second.bufs(), second.count(), nullptr, &flags, &second.ov(), nullptr,
                 nullptr, &err);
    CHECK((rc == 0 || err == WSA_IO_PENDING));
    REQUIRE(second.wait());
    CHECK(second.result(p.s).bytes == 5u);
    CHECK(second.data(5) == "again");
}

TEST_CASE("recv.args.fault: lpErrno NULL - SOCKET_ERROR, nothing else touched, no data consumed") {
    loopback_pair p = pair_with_queued("intact", 6);
    overlapped_op op({16});
    op.ov().Internal = 0x5555;
    DWORD bytes = bytes_sentinel, flags = 0;
    CHECK(WSPRecv(p.s, op.bufs(), op.count(), &bytes, &flags, &op.ov(), nullptr, nullptr,
                  nullptr) == SOCKET_ERROR);
    CHECK(bytes == bytes_sentinel);
    CHECK(flags == 0u);
    CHECK(op.ov().Internal == 0x5555u);
    CHECK(op.buffer(0) == std::string(16, '.'));
    CHECK_FALSE(op.event_signalled());
    op.ov().Internal = 0;
    CHECK(recv_once(p.s, 16).data == "intact");
}

namespace {

std::atomic<int> routine_calls{0};
void completion_routine(DWORD, DWORD, LPWSAOVERLAPPED, DWORD) {
    ++routine_calls;
}

} // namespace

TEST_CASE("recv.ignored-args: lpCompletionRoutine, lpThreadId - ignored, the receive completes "
          "through its event") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 3) == 0);
    overlapped_op op({16});
    WSATHREADID thread_id{};
    thread_id.ThreadHandle = reinterpret_cast<HANDLE>(0x1234);
    thread_id.Reserved = 42;
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, op.bufs(), op.count(), &bytes, &flags, &op.ov(), &completion_routine,
                     &thread_id, &err);
    CHECK(rc == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSA_IO_PENDING");
    send_all(p.peer, "routine");
    REQUIRE(op.wait());
    CHECK(op.event_signalled_soon());
    CHECK(op.result(p.s).bytes == 7u);
    auto packets = dequeue_n(cq, 1);
    REQUIRE(packets.size() == 1u);
    CHECK(packets[0].overlapped == &op.ov());
    sleep_ms(50);
    CHECK(routine_calls.load() == 0);
    CHECK(thread_id.Reserved == 42u);
}
