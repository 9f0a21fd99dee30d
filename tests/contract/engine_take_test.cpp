// SPDX-License-Identifier: MIT
// docs/contract.md row engine.take: an idle socket moves from one engine to another (the
// engine-per-core pattern) and keeps its value; a busy one is refused.

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {
bool moves_supported(engine& e) {
    return std::strcmp(e.backend_name(), "iocp") != 0;
}
} // namespace

TEST_CASE("engine.take: a connected socket moves to another engine and is served there") {
    auto from = driven_engine();
    auto to = driven_engine();
    watchdog dog(60000, [] { hung("engine.take"); });
    posix_listener listener;
    adopted_pair p;
    adopt_pair(*from, listener, p);
    if (!moves_supported(*to)) {
        CHECK(to->take(p.s) == WSAEINVAL);
        CHECK(std::string(last_error_detail()).find("completion port") != std::string::npos);
        return;
    }
    CHECK(from->counters().sockets_open == 1u);
    REQUIRE(to->take(p.s) == 0);
    CHECK(to->take(p.s) == 0); // already there
    CHECK(from->counters().sockets_open == 0u);
    CHECK(to->counters().sockets_open == 1u);

    completion_queue cq(*to);
    REQUIRE(cq.associate(p.s, 3) == 0);
    overlapped_op r({16});
    REQUIRE((r.recv(p.s) == 0 || r.call_pending()));
    send_all(p.peer, "moved");
    auto got = dequeue_n(cq, 1);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &r.ov());
    CHECK(got[0].bytes == 5u);
    CHECK(r.data(5) == "moved");
    overlapped_op w({8});
    REQUIRE((w.send(p.s, "and back") == 0 || w.call_pending()));
    got = dequeue_n(cq, 1);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &w.ov());
    CHECK(read_exactly(p.peer, 8) == "and back");
    int err = 0;
    CHECK(WSPCloseSocket(p.s, &err) == 0);
    CHECK(to->counters().sockets_open == 0u);
}

TEST_CASE("engine.take: a socket with an operation under way or a queue association is refused, "
          "an unknown one is not a socket") {
    auto from = driven_engine();
    auto to = driven_engine();
    watchdog dog(60000, [] { hung("engine.take: refused"); });
    posix_listener listener;
    adopted_pair p;
    adopt_pair(*from, listener, p);
    completion_queue cq(*from);
    REQUIRE(cq.associate(p.s, 1) == 0);
    CHECK(to->take(p.s) == WSAEINVAL);
    CHECK(std::string(last_error_detail()).find("completion queue") != std::string::npos);

    adopted_pair q;
    adopt_pair(*from, listener, q);
    overlapped_op r({4});
    REQUIRE(r.recv(q.s) == SOCKET_ERROR);
    REQUIRE(r.err == WSA_IO_PENDING);
    CHECK(to->take(q.s) == WSAEINVAL);
    CHECK(std::string(last_error_detail()).find("under way") != std::string::npos);
    CHECK(from->counters().sockets_open == 2u); // both stayed
    CHECK(to->take(static_cast<SOCKET>(999999)) == WSAENOTSOCK);
    int err = 0;
    CHECK(WSPCloseSocket(q.s, &err) == 0);
    CHECK(r.ov().Internal == static_cast<ULONG_PTR>(WSA_OPERATION_ABORTED));
}
