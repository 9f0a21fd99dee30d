// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.poster-exit. The thread that posted an operation may exit before
// it completes: the operation still completes once, with its bytes. (On IOCP the request is
// issued on the posting thread, and Wine cancels a thread's requests when it exits.)

#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("recv.poster-exit: receives posted by a thread that then exits stay pending and "
          "complete with their data, in posting order") {
    loopback_pair p = make_pair();
    overlapped_op first({4});
    overlapped_op second({4});
    std::thread poster([&] {
        first.recv(p.s);
        second.recv(p.s);
    });
    poster.join();
    CHECK(first.call_pending());
    CHECK(second.call_pending());
    sleep_ms(settle_ms); // time for an OS that cancels an exited thread's requests to do it
    CHECK(first.pending());
    CHECK(second.pending());

    send_all(p.peer, "abcdefgh");
    REQUIRE(first.wait());
    REQUIRE(second.wait());
    const op_result a = first.result(p.s);
    const op_result b = second.result(p.s);
    CHECK(a.ok == TRUE);
    CHECK(b.ok == TRUE);
    CHECK(first.data(a.bytes) + second.data(b.bytes) == "abcdefgh");
}

TEST_CASE("recv.poster-exit: a send posted by a thread that then exits completes with every "
          "byte, once the peer reads") {
    loopback_pair p = make_pair();
    const std::size_t size = 16u << 20; // more than the socket buffers hold: it stays pending
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        data[i] = static_cast<char>('a' + i % 23);
    overlapped_op op({static_cast<ULONG>(size)});
    std::thread poster([&] { op.send(p.s, data); });
    poster.join();
    REQUIRE(op.call_pending());
    sleep_ms(settle_ms);
    CHECK(op.pending());

    const std::string got = read_exactly(p.peer, size);
    CHECK(got.size() == size);
    const bool same = got == data; // not CHECK(got == data): it would print 16 MiB twice
    CHECK(same);
    REQUIRE(op.wait());
    const op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == size);
}

#ifdef _WIN32
TEST_CASE("recv.poster-exit: a request the OS aborts without sanport asking (CancelIo on the "
          "posting thread, what Wine does at thread exit) is issued again - the receive "
          "completes with its data") {
    loopback_pair p = make_pair();
    overlapped_op op({8});
    std::thread poster([&] {
        op.recv(p.s);
        // CancelIo stops the I/O this thread issued on the handle: sanport's own request.
        ::CancelIo(reinterpret_cast<HANDLE>(p.s));
    });
    poster.join();
    REQUIRE(op.call_pending());
    sleep_ms(settle_ms);
    CHECK(op.pending());
    send_all(p.peer, "intact");
    REQUIRE(op.wait());
    const op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(op.data(r.bytes) == "intact");
}
#endif
