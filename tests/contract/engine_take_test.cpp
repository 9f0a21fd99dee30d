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
    WSAOVERLAPPED ov{};
    char data[16];
    WSABUF buf{sizeof data, data};
    DWORD bytes = 0;
    DWORD flags = 0;
    int err = 0;
    const int rc = WSPRecv(p.s, &buf, 1, &bytes, &flags, &ov, nullptr, nullptr, &err);
    REQUIRE((rc == 0 || err == WSA_IO_PENDING));
    send_all(p.peer, "moved");
    auto got = dequeue_n(cq, 1);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &ov);
    CHECK(got[0].bytes == 5u);
    CHECK(std::string(data, 5) == "moved");
    WSAOVERLAPPED sov{};
    char reply[] = "and back";
    WSABUF out{8, reply};
    const int src = WSPSend(p.s, &out, 1, &bytes, 0, &sov, nullptr, nullptr, &err);
    REQUIRE((src == 0 || err == WSA_IO_PENDING));
    got = dequeue_n(cq, 1);
    REQUIRE(got.size() == 1u);
    CHECK(got[0].overlapped == &sov);
    CHECK(read_exactly(p.peer, 8) == "and back");
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
    WSAOVERLAPPED ov{};
    char data[4];
    WSABUF buf{sizeof data, data};
    DWORD bytes = 0;
    DWORD flags = 0;
    int err = 0;
    REQUIRE(WSPRecv(q.s, &buf, 1, &bytes, &flags, &ov, nullptr, nullptr, &err) == SOCKET_ERROR);
    REQUIRE(err == WSA_IO_PENDING);
    CHECK(to->take(q.s) == WSAEINVAL);
    CHECK(std::string(last_error_detail()).find("under way") != std::string::npos);
    CHECK(from->counters().sockets_open == 2u); // both stayed
    CHECK(to->take(static_cast<SOCKET>(999999)) == WSAENOTSOCK);
    CHECK(WSPCloseSocket(q.s, &err) == 0);
    CHECK(ov.Internal == static_cast<ULONG_PTR>(WSA_OPERATION_ABORTED));
}
