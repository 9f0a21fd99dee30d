// SPDX-License-Identifier: MIT
// Description: every answer the io_uring backend can get from the kernel, delivered on purpose
// through its fault seam (backends/io_uring/uring_faults.hpp) on a real ring and real loopback
// TCP: short reads, -EAGAIN and -EINTR results, -EINTR from io_uring_enter (injected, and from
// real signals), -ENOMEM/-ENOBUFS, a full submission queue, a completion queue overflow,
// -ECANCELED nobody asked for, a reset, and a receive that completes after its close began.
// Each: the bytes in posting order equal the bytes sent, each receive is reported once, the
// code is the one docs/reliability.md names, and the socket goes on where docs/contract.md §4
// says so.
// A kernel that refuses io_uring makes each case print "[sanport-skip] <reason>" and return.

#include "backends/io_uring/uring_backend.hpp"
#include "tests/faults/fault_cases.hpp"
#include "tests/support/skip.hpp"

#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

namespace sanport::test {
namespace {

using detail::uring_backend;
using detail::uring_fault_plan;

// A ring with the plan installed, or nullptr after printing the skip marker.
std::unique_ptr<uring_backend> ring(uring_fault_plan& plan, unsigned depth = 256) {
    auto backend = std::make_unique<uring_backend>(depth);
    const int e = backend->setup_error();
    if (e == EPERM || e == ENOSYS || e == EOPNOTSUPP) {
        skip(std::string("io_uring refused: ") + std::strerror(e) + " (" + backend->setup_step() +
             ")");
        return nullptr;
    }
    REQUIRE_MESSAGE(e == 0, "io_uring setup failed at " << backend->setup_step() << ": "
                                                        << std::strerror(e));
    backend->set_fault_plan(&plan);
    return backend;
}

#define RIG_OR_SKIP(name, plan, ...)                                                               \
    auto name##_backend = ring(plan, ##__VA_ARGS__);                                               \
    if (!name##_backend) return;                                                                   \
    fault_rig name(std::move(name##_backend))

TEST_CASE("io_uring fault: short reads (ordinary and registered buffers) lose nothing") {
    for (const bool registered : {false, true}) {
        CAPTURE(registered);
        uring_fault_plan plan;
        RIG_OR_SKIP(rig, plan);
        const SOCKET s = rig.open();
        if (registered) rig.use_registered_arena(s, 1 << 20);
        plan.short_transfers = 400;
        plan.short_bytes = 7;
        const stream_outcome o = rig.stream(s, 96 * 1024, 11);
        check_intact(o, 96 * 1024);
        CHECK(o.errors() == 0);
        CHECK(plan.injected.short_transfers == 400);
    }
}

TEST_CASE("io_uring fault: short sends carry on until every byte is sent, in order") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    short_sends_case(rig, plan);
}

TEST_CASE("io_uring fault: -EAGAIN and -EINTR results are re-armed and never reported") {
    for (const int e : {EAGAIN, EINTR}) {
        CAPTURE(e);
        uring_fault_plan plan;
        RIG_OR_SKIP(rig, plan);
        failed_transfers_case(rig, plan, e, 200, 0, 12);
    }
}

TEST_CASE(
    "io_uring fault: -ENOMEM and -ENOBUFS end that receive with WSAENOBUFS, the stream goes on") {
    for (const int e : {ENOMEM, ENOBUFS}) {
        CAPTURE(e);
        uring_fault_plan plan;
        RIG_OR_SKIP(rig, plan);
        failed_transfers_case(rig, plan, e, 25, WSAENOBUFS, 13);
    }
}

TEST_CASE(
    "io_uring fault: -ECANCELED nobody asked for ends that receive with WSA_OPERATION_ABORTED") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    failed_transfers_case(rig, plan, ECANCELED, 10, WSA_OPERATION_ABORTED, 14);
}

TEST_CASE("io_uring fault: -ECONNRESET fails the receive, those queued behind it and later ones") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    reset_case(rig, plan, 15);
}

TEST_CASE("io_uring fault: -EINTR from io_uring_enter is answered by entering again") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    plan.enter_eintr = 300;
    const stream_outcome o = rig.stream(s, 64 * 1024, 16, 3, 512, 200);
    check_intact(o, 64 * 1024);
    CHECK(o.errors() == 0);
    CHECK(plan.injected.enter_eintr == 300);
}

TEST_CASE("io_uring fault: real signals interrupting the wait lose nothing") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    stream_outcome o;
    long handled = 0;
    {
        signal_storm storm; // the engine sleeps in its wait between the slow chunks
        o = rig.stream(s, 32 * 1024, 17, 3, 256, 1000);
        handled = storm.handled();
    }
    check_intact(o, 32 * 1024);
    CHECK(o.errors() == 0);
    MESSAGE("signals handled " << handled << ", io_uring_enter returned -EINTR "
                               << plan.observed.enter_eintr << " times");
    CHECK(plan.observed.enter_eintr > 0); // the fault really happened
}

TEST_CASE("io_uring fault: a full submission queue defers requests and re-arms to the next reap") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    plan.sq_full = 600; // two in a row defeat next_sqe's submit-and-retry
    plan.failed_transfers = 100;
    plan.fail_errno = EAGAIN; // re-arms take SQEs too
    const stream_outcome o = rig.stream(s, 64 * 1024, 18);
    check_intact(o, 64 * 1024);
    CHECK(o.errors() == 0);
    CHECK(plan.injected.sq_full == 600);
    CHECK(plan.observed.deferred > 0);
}

TEST_CASE("io_uring fault: a close under a full submission queue still aborts each receive once") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET a = rig.open();
    const SOCKET b = rig.open();
    int err = 0;
    // a: no room for its receive, and it is closed before any reap: the kernel never sees it.
    plan.sq_full = 2; // two in a row defeat next_sqe's submit-and-retry
    recv_op& never_submitted = rig.post(a, {100});
    REQUIRE(never_submitted.err == WSA_IO_PENDING);
    CHECK(plan.observed.deferred == 1);
    REQUIRE(WSPCloseSocket(a, &err) == 0);
    // b: its receive is in the kernel, but the cancel finds no room: the next reap issues it.
    recv_op& submitted = rig.post(b, {100});
    REQUIRE(submitted.err == WSA_IO_PENDING);
    rig.drive(20);
    CHECK(submitted.packets == 0);
    plan.sq_full = 2;
    REQUIRE(WSPCloseSocket(b, &err) == 0);
    rig.drive(200);
    CHECK(plan.observed.deferred == 2);
    for (recv_op* op : {&never_submitted, &submitted}) {
        CHECK(op->packets == 1);
        CHECK(op->code() == WSA_OPERATION_ABORTED);
    }
}

TEST_CASE("io_uring fault: a re-arm left waiting for room is aborted once by a close") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    plan.failed_transfers = 1;
    plan.fail_errno = EAGAIN;
    recv_op& op = rig.post(s, {100});
    REQUIRE(op.err == WSA_IO_PENDING);
    plan.sq_full = 2;  // the re-arm after the -EAGAIN finds no room, even after a submit
    rig.e.run_once(0); // one reap: the NOP's -EAGAIN comes back and its re-arm is owed
    REQUIRE(plan.injected.failed_transfers == 1);
    REQUIRE(plan.observed.deferred == 1);
    int err = 0;
    REQUIRE(WSPCloseSocket(s, &err) == 0);
    rig.drive(100);
    CHECK(op.packets == 1);
    CHECK(op.code() == WSA_OPERATION_ABORTED);
}

TEST_CASE("io_uring fault: a wake() is not lost while the SQ has no room for the wake READ") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    recv_op& rescue = rig.post(s, {16}); // bytes sent to it end a wait that no wake ends
    REQUIRE(rescue.err == WSA_IO_PENDING);
    rig.drive(10);
    // After the first wake the wake READ is re-armed twice (end of harvest, start of the next
    // reap), and both find no room, even after a submit.
    plan.sq_full = 4;
    std::atomic<int> returned{0};
    std::atomic<bool> lost{false};
    std::thread waker([&] {
        for (int round = 1; round <= 2; ++round) {
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
            while (returned.load() < round && std::chrono::steady_clock::now() < give_up) {
                rig.e.wake(); // a no-op until the engine thread is asleep: repeat
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            if (returned.load() < round) {
                lost = true;
                try_send_all(rig.peer(s), "0123456789abcdef");
                return;
            }
        }
    });
    for (int round = 0; round < 2; ++round) {
        rig.e.run_once(WSA_INFINITE);
        returned.fetch_add(1);
    }
    waker.join();
    CHECK_FALSE(lost.load());
    CHECK(plan.injected.sq_full == 4);
}

TEST_CASE("io_uring fault: a completion queue overflow loses no completion") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan, 8); // 8 SQEs, 16 CQEs
    constexpr int sockets = 64;
    std::vector<SOCKET> s(sockets);
    std::vector<recv_op*> ops(sockets);
    for (int i = 0; i < sockets; ++i)
        s[i] = rig.open();
    for (int i = 0; i < sockets; ++i) {
        const std::string data = pattern(100, static_cast<std::size_t>(i) * 100);
        send_all(rig.peer(s[i]), data);
    }
    plan.stalled_reaps = 4;
    for (int i = 0; i < sockets; ++i)
        ops[i] = &rig.post(s[i], {100});
    rig.drive(300);
    for (int i = 0; i < sockets; ++i) {
        CAPTURE(i);
        CHECK(ops[i]->packets == 1);
        CHECK(ops[i]->code() == 0);
        CHECK(ops[i]->got() == pattern(100, static_cast<std::size_t>(i) * 100));
    }
    MESSAGE("reaps that saw IORING_SQ_CQ_OVERFLOW: " << plan.observed.cq_overflow);
    CHECK(plan.observed.cq_overflow > 0); // the fault really happened
}

TEST_CASE("io_uring fault: a receive that completes after its close began keeps its bytes") {
    uring_fault_plan plan;
    RIG_OR_SKIP(rig, plan);
    const SOCKET s = rig.open();
    plan.hold_recv_until_cancel = true;
    recv_op& op = rig.post(s, {64, 64});
    REQUIRE(op.err == WSA_IO_PENDING);
    const std::string data = pattern(90);
    send_all(rig.peer(s), data);
    for (int i = 0; i < 100 && plan.injected.held_recv == 0; ++i)
        rig.drive(5);
    REQUIRE(plan.injected.held_recv == 1); // the kernel moved the bytes; sanport has not heard
    CHECK(op.packets == 0);
    int err = 0;
    REQUIRE(WSPCloseSocket(s, &err) == 0);
    rig.drive(100);
    CHECK(op.packets == 1);
    CHECK(op.code() == 0); // bytes the kernel placed are never dropped, even after a close
    CHECK(op.got() == data);
}

} // namespace
} // namespace sanport::test
