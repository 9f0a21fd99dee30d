// SPDX-License-Identifier: MIT
// docs/contract.md rows cancel.queued, cancel.in-flight, cancel.all, cancel.not-found
// (WSPCancelIoEx: CancelIoEx's model for one operation or every one of a socket).

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

int cancel(SOCKET s, WSAOVERLAPPED* ov, int& err) {
    err = 0;
    return WSPCancelIoEx(s, ov, &err);
}

// The data of the receives that completed successfully, in posting order.
std::string joined(std::vector<std::unique_ptr<overlapped_op>>& ops, SOCKET s) {
    std::string all;
    for (auto& o : ops) {
        op_result r = o->result(s);
        if (r.ok) all += o->data(r.bytes);
    }
    return all;
}

} // namespace

TEST_CASE("cancel.queued: cancelling a receive queued behind another - it completes at once "
          "with WSA_OPERATION_ABORTED and 0 bytes, the others keep posting order") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 0xCA) == 0);
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int i = 0; i < 3; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{4}));
        REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
        REQUIRE(ops.back()->call_pending());
    }
    int err = 0;
    REQUIRE(cancel(p.s, &ops[1]->ov(), err) == 0);
    // Not in the kernel: done before the call returned.
    CHECK_FALSE(ops[1]->pending());
    CHECK(ops[1]->event_signalled_soon());
    op_result r = ops[1]->result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
    CHECK(r.bytes == 0u);
    CHECK(ops[0]->pending());
    CHECK(ops[2]->pending());

    send_all(p.peer, "abcdefgh");
    REQUIRE(ops[0]->wait());
    REQUIRE(ops[2]->wait());
    CHECK(ops[0]->data(4) == "abcd");
    CHECK(ops[2]->data(4) == "efgh");
    auto packets = dequeue_n(cq, 3);
    REQUIRE(packets.size() == 3u);
    int aborted = 0;
    for (const completion_entry& e : packets) {
        if (e.overlapped == &ops[1]->ov()) {
            ++aborted;
            CHECK(wsa_name(e.status) == "WSA_OPERATION_ABORTED");
            CHECK(e.bytes == 0u);
        }
    }
    CHECK(aborted == 1);
    CHECK(count_more(cq, 100) == 0u);
}

TEST_CASE("cancel.in-flight: cancelling the receive the kernel holds - it completes once, "
          "aborted, and the next receive gets every byte") {
    loopback_pair p = make_pair();
    overlapped_op head({16}), next({16});
    REQUIRE(head.recv(p.s) == SOCKET_ERROR);
    REQUIRE(next.recv(p.s) == SOCKET_ERROR);
    sleep_ms(20); // let the head reach the kernel
    int err = 0;
    REQUIRE(cancel(p.s, &head.ov(), err) == 0);
    REQUIRE(head.wait());
    op_result r = head.result(p.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
    CHECK(r.bytes == 0u);
    CHECK(next.pending());
    send_all(p.peer, "after the cancel");
    REQUIRE(next.wait());
    CHECK(next.result(p.s).ok == TRUE);
    CHECK(next.data(16) == "after the cancel");
    // The send direction was not touched.
    overlapped_op out({8});
    out.send(p.s, "still up");
    CHECK(out.finish(p.s).ok == TRUE);
    CHECK(read_exactly(p.peer, 8) == "still up");
}

TEST_CASE("cancel.in-flight: cancelling a send the kernel holds - it reports exactly what went "
          "out, and the stream goes on right after those bytes") {
    pair_options options;
    options.peer_rcvbuf = 65536;
    loopback_pair p = make_pair(options);
    set_send_buffer(p.s, 65536);
    const std::size_t total = 8u << 20;
    const std::string big = pattern(total, 0, 21);
    overlapped_op op({static_cast<ULONG>(total)});
    op.send(p.s, big);
    REQUIRE(op.call_pending());
    overlapped_op tail({4});
    tail.send(p.s, "TAIL");
    REQUIRE(tail.call_pending());
    sleep_ms(settle_ms);
    int err = 0;
    REQUIRE(cancel(p.s, &op.ov(), err) == 0);
    REQUIRE(op.wait());
    op_result r = op.result(p.s);
    CHECK(r.bytes < total);
    if (r.bytes == 0) {
        CHECK(wsa_name(r.err) == "WSA_OPERATION_ABORTED");
    } else {
        CHECK(r.ok == TRUE); // a short success: what reached the kernel
    }
    // The peer sees exactly the bytes reported, then the next send.
    const std::string got = read_exactly(p.peer, r.bytes + 4);
    REQUIRE(got.size() == r.bytes + 4);
    CHECK(got.compare(0, r.bytes, big, 0, r.bytes) == 0);
    CHECK(got.substr(r.bytes) == "TAIL");
    CHECK(tail.finish(p.s).ok == TRUE);
}

TEST_CASE("cancel.in-flight: cancels racing with data - every byte is in exactly one completed "
          "receive, in order") {
    loopback_pair p = make_pair();
    std::string sent;
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int round = 0; round < 200; ++round) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{8}));
        overlapped_op& a = *ops.back();
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{8}));
        overlapped_op& b = *ops.back();
        a.recv(p.s);
        REQUIRE((a.rc == 0 || a.call_pending()));
        b.recv(p.s);
        REQUIRE((b.rc == 0 || b.call_pending()));
        const std::string chunk = pattern(5, sent.size(), 3);
        send_all(p.peer, chunk);
        sent += chunk;
        int err = 0;
        // Odd rounds cancel the first receive, even rounds every receive of the socket.
        if (cancel(p.s, (round % 2) ? &a.ov() : nullptr, err) != 0)
            CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
        REQUIRE(a.wait());
        if (b.pending() && cancel(p.s, &b.ov(), err) != 0)
            CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
        REQUIRE(b.wait());
    }
    std::string got = joined(ops, p.s);
    // Whatever no receive took is still in the socket: read it with one more receive.
    if (got.size() < sent.size()) got += recv_stream(p.s, sent.size() - got.size());
    CHECK(got.size() == sent.size());
    CHECK(got == sent);
}

TEST_CASE("cancel.all: a NULL overlapped cancels every pending operation of the socket once, "
          "the socket stays usable") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 7) == 0);
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int i = 0; i < 4; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{16}));
        REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
    }
    int err = 0;
    REQUIRE(cancel(p.s, nullptr, err) == 0);
    for (auto& o : ops) {
        REQUIRE(o->wait());
        CHECK(wsa_name(o->result(p.s).err) == "WSA_OPERATION_ABORTED");
    }
    CHECK(dequeue_n(cq, 4).size() == 4u);
    CHECK(count_more(cq, 100) == 0u);
    // Nothing is left to cancel, and the socket still receives.
    CHECK(cancel(p.s, nullptr, err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
    send_all(p.peer, "alive");
    recv_outcome o = recv_once(p.s, 16);
    CHECK(o.data == "alive");
}

TEST_CASE("cancel.not-found: a completed operation, another socket's operation, an unknown "
          "socket - ERROR_NOT_FOUND or WSAENOTSOCK, and nothing changes") {
    loopback_pair p = make_pair();
    loopback_pair other = make_pair();
    overlapped_op done({8});
    REQUIRE(done.recv(p.s) == SOCKET_ERROR);
    send_all(p.peer, "12345678");
    REQUIRE(done.wait());
    int err = 0;
    CHECK(cancel(p.s, &done.ov(), err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
    CHECK(done.result(p.s).ok == TRUE); // its result is untouched

    // Pending on `other`: cancelling it through p.s finds nothing and leaves it pending.
    overlapped_op theirs({8});
    REQUIRE(theirs.recv(other.s) == SOCKET_ERROR);
    CHECK(cancel(p.s, &theirs.ov(), err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "ERROR_NOT_FOUND");
    sleep_ms(20);
    CHECK(theirs.pending());
    send_all(other.peer, "theirs!!");
    REQUIRE(theirs.wait());
    CHECK(theirs.data(8) == "theirs!!");

    const SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    CHECK(cancel(old, nullptr, err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    CHECK(WSPCancelIoEx(other.s, nullptr, nullptr) == SOCKET_ERROR); // api.errno
}

TEST_CASE("cancel.in-flight: cancelling one direction leaves the other's operation in the "
          "kernel untouched - a waiting send completes, a waiting receive still gets its data") {
    pair_options options;
    options.peer_rcvbuf = 65536;
    loopback_pair p = make_pair(options);
    set_send_buffer(p.s, 65536);
    const std::size_t total = 4u << 20;
    const std::string big = pattern(total, 0, 33);
    overlapped_op out({static_cast<ULONG>(total)});
    out.send(p.s, big);
    REQUIRE(out.call_pending());
    overlapped_op in({16});
    REQUIRE(in.recv(p.s) == SOCKET_ERROR);
    sleep_ms(settle_ms); // both in the kernel (or its reactor): the send waits for room
    int err = 0;
    REQUIRE(WSPCancelIoEx(p.s, &in.ov(), &err) == 0);
    REQUIRE(in.wait());
    CHECK(wsa_name(in.result(p.s).err) == "WSA_OPERATION_ABORTED");
    CHECK(out.pending());
    CHECK(read_exactly(p.peer, total) == big); // the send goes on to its last byte
    REQUIRE(out.wait());
    CHECK(out.result(p.s).ok == TRUE);

    // And the other way round: a send cancelled while a receive waits.
    overlapped_op out2({static_cast<ULONG>(total)});
    out2.send(p.s, big);
    REQUIRE(out2.call_pending());
    overlapped_op in2({16});
    REQUIRE(in2.recv(p.s) == SOCKET_ERROR);
    sleep_ms(settle_ms);
    REQUIRE(WSPCancelIoEx(p.s, &out2.ov(), &err) == 0);
    REQUIRE(out2.wait());
    const DWORD went = out2.result(p.s).bytes;
    CHECK(in2.pending());
    send_all(p.peer, "receive");
    REQUIRE(in2.wait());
    CHECK(in2.data(7) == "receive");
    CHECK(read_exactly(p.peer, went) == big.substr(0, went));
}

TEST_CASE("cancel.in-flight: on a driven engine, the owner's cancel reaches the kernel at once "
          "and its dequeue returns the aborted receive") {
    auto e = driven_engine();
    posix_listener listener;
    adopted_pair p;
    adopt_pair(*e, listener, p);
    completion_queue cq(*e);
    REQUIRE(cq.associate(p.s, 0xD1) == 0);
    watchdog dog(20000, [] { hung("cancel.in-flight on a driven engine"); });
    overlapped_op head({8}), next({8});
    REQUIRE(head.recv(p.s) == SOCKET_ERROR);
    REQUIRE(next.recv(p.s) == SOCKET_ERROR);
    completion_entry got[4];
    CHECK(cq.dequeue(got, 4, 20) == 0u); // the head reaches the kernel
    int err = 0;
    REQUIRE(WSPCancelIoEx(p.s, &head.ov(), &err) == 0);
    REQUIRE(cq.dequeue(got, 4, 5000) == 1u);
    CHECK(got[0].overlapped == &head.ov());
    CHECK(wsa_name(got[0].status) == "WSA_OPERATION_ABORTED");
    send_all(p.peer, "next one");
    REQUIRE(cq.dequeue(got, 4, 5000) == 1u);
    CHECK(got[0].overlapped == &next.ov());
    CHECK(got[0].bytes == 8u);
    CHECK(next.data(8) == "next one");
}
