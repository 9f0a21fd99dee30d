// SPDX-License-Identifier: MIT
// completion_paths: what one completion costs on each way into a server's code, on a driven
// io_uring engine: completion_queue::dequeue (the baseline), sanport::asio's bridge (a callback
// through the io_context's reactor and the queue's readiness handle), and sanport/coro.h's
// awaitable resumed by coro::run_once.
//
//   completion_paths <dequeue|bridge|coro> <messages>
//
// Each message is one 64-byte WSPSend on one end of a loopback TCP pair and one WSPRecv on the
// other, both sanport sockets of the engine: two completions. Run it under callgrind with two
// message counts; (Ir2 - Ir1) / (N2 - N1) is the user-space cost per message, and the
// difference from `dequeue` is the cost of the path (bench/README.md).
#include "tests/support/os_pair.hpp"

#include <sanport/asio.h>
#include <sanport/completion_queue.h>
#include <sanport/coro.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

struct pair {
    SOCKET a = INVALID_SOCKET; // sends
    SOCKET b = INVALID_SOCKET; // receives
};

bool make_pair(sanport::engine& e, pair& p) {
    int mine = -1;
    int peer = -1;
    if (!sanport::test::tcp_pair(mine, peer)) return false;
    int err = 0;
    p.a = e.adopt(static_cast<SOCKET>(mine), WSA_FLAG_OVERLAPPED, &err);
    p.b = e.adopt(static_cast<SOCKET>(peer), WSA_FLAG_OVERLAPPED, &err);
    return p.a != INVALID_SOCKET && p.b != INVALID_SOCKET;
}

char out_data[64];
char in_data[64];

long run_dequeue(sanport::completion_queue& cq, const pair& p, long messages) {
    long done = 0;
    for (long m = 0; m < messages; ++m) {
        WSAOVERLAPPED rov{};
        WSAOVERLAPPED sov{};
        WSABUF in{sizeof in_data, in_data};
        WSABUF out{sizeof out_data, out_data};
        DWORD bytes = 0;
        DWORD flags = MSG_WAITALL;
        int err = 0;
        sanport::WSPRecv(p.b, &in, 1, &bytes, &flags, &rov, nullptr, nullptr, &err);
        sanport::WSPSend(p.a, &out, 1, &bytes, 0, &sov, nullptr, nullptr, &err);
        for (int got = 0; got < 2;) {
            sanport::completion_entry batch[2];
            got += static_cast<int>(cq.dequeue(batch, 2, WSA_INFINITE));
        }
        ++done;
    }
    return done;
}

long run_bridge(boost::asio::io_context& io, sanport::asio::bridge& link, const pair& p,
                long messages) {
    long done = 0;
    for (long m = 0; m < messages; ++m) {
        int got = 0;
        auto count = [&got](const boost::system::error_code&, std::size_t) { ++got; };
        link.async_recv(p.b, boost::asio::buffer(in_data), count, MSG_WAITALL);
        link.async_send(p.a, boost::asio::buffer(out_data), count);
        while (got < 2)
            io.run_one();
        ++done;
    }
    return done;
}

sanport::coro::detached receive_one(SOCKET s, int& got) {
    WSABUF in{sizeof in_data, in_data};
    co_await sanport::coro::recv(s, &in, 1, MSG_WAITALL);
    ++got;
}
sanport::coro::detached send_one(SOCKET s, int& got) {
    WSABUF out{sizeof out_data, out_data};
    co_await sanport::coro::send(s, &out, 1);
    ++got;
}

long run_coro(sanport::completion_queue& cq, const pair& p, long messages) {
    long done = 0;
    for (long m = 0; m < messages; ++m) {
        int got = 0;
        receive_one(p.b, got); // posted first, as in the other modes
        send_one(p.a, got);
        while (got < 2)
            sanport::coro::run_once(cq, WSA_INFINITE);
        ++done;
    }
    return done;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) return std::fprintf(stderr, "usage: %s dequeue|bridge|coro N\n", argv[0]), 2;
    const std::string mode = argv[1];
    const long messages = std::atol(argv[2]);
    sanport::engine_options options;
    options.own_thread = false;
    options.backend = "io_uring";
    sanport::engine e(options);
    if (e.status() != 0) return std::fprintf(stderr, "io_uring: %s\n", e.why().c_str()), 77;
    sanport::completion_queue cq(e);
    boost::asio::io_context io;
    std::unique_ptr<sanport::asio::bridge> link;
    if (mode == "bridge") link = std::make_unique<sanport::asio::bridge>(io, cq);
    pair p;
    if (!make_pair(e, p)) return std::fprintf(stderr, "no socket pair\n"), 1;
    int rc = 0;
    if (mode == "bridge") {
        rc = link->associate(p.a) | link->associate(p.b);
    } else if (mode == "coro") {
        rc = sanport::coro::associate(cq, p.a) | sanport::coro::associate(cq, p.b);
    } else {
        rc = cq.associate(p.a, 1) | cq.associate(p.b, 2);
    }
    if (rc != 0) return std::fprintf(stderr, "associate failed\n"), 1;
    const auto began = std::chrono::steady_clock::now();
    const long done = mode == "bridge" ? run_bridge(io, *link, p, messages)
                      : mode == "coro" ? run_coro(cq, p, messages)
                                       : run_dequeue(cq, p, messages);
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - began).count();
    std::printf("completion_paths %s: %ld messages, %.0f ns per message\n", mode.c_str(), done,
                ns / static_cast<double>(done));
    return done == messages ? 0 : 1;
}
