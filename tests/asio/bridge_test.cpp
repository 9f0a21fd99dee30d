// SPDX-License-Identifier: MIT
// sanport::asio (sanport/asio.h): completion tokens over a completion queue, on a plain
// boost::asio::io_context. Registered once per backend: on io_uring the bridge serves a driven
// engine; the asio backend cannot hand a driven engine's readiness out (cq.readiness.none), so
// there it serves an engine with its own thread.

#include <sanport/asio.h>
#include <sanport/engine.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include "tests/contract/driven_pair.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace sanport;
using namespace sanport::test;
namespace net = boost::asio;

namespace {

// Driven where the backend allows a readiness handle for it, else with its own thread.
std::unique_ptr<engine> bridge_engine() {
    engine_options options;
    options.own_thread = false;
    auto e = std::make_unique<engine>(options);
    REQUIRE(e->status() == 0);
    if (std::strcmp(e->backend_name(), "io_uring") == 0) return e;
    e = std::make_unique<engine>();
    REQUIRE(e->status() == 0);
    return e;
}

// Runs io until done() or 10 s.
void run_until(net::io_context& io, const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < until) {
        io.run_for(std::chrono::milliseconds(20));
        io.restart();
    }
}

struct bridged {
    std::unique_ptr<engine> e = bridge_engine();
    completion_queue cq{*e};
    net::io_context io;
    sanport::asio::bridge link{io, cq};
    posix_listener listener;
    adopted_pair p;
    bridged() {
        adopt_pair(*e, listener, p);
        REQUIRE(link.associate(p.s) == 0);
    }
};

} // namespace

TEST_CASE("bridge: callbacks - three async_recv outstanding on one socket complete in the order "
          "they were started") {
    bridged t;
    watchdog dog(60000, [] { hung("bridge: callbacks"); });
    char bufs[3][8] = {};
    std::vector<int> order;
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 3; ++i) {
        t.link.async_recv(t.p.s, net::buffer(bufs[i]),
                          [&, i](const boost::system::error_code& ec, std::size_t n) {
                              CHECK_FALSE(ec);
                              order.push_back(i);
                              sizes.push_back(n);
                          });
    }
    send_all(t.p.peer, std::string(8, 'a'));
    run_until(t.io, [&] { return order.size() == 1; });
    send_all(t.p.peer, std::string(8, 'b') + std::string(8, 'c'));
    run_until(t.io, [&] { return order.size() == 3; });
    REQUIRE(order.size() == 3u);
    CHECK(order == std::vector<int>{0, 1, 2});
    CHECK(std::string(bufs[0], 8) == std::string(8, 'a'));
    CHECK(std::string(bufs[1], 8) == std::string(8, 'b'));
    CHECK(std::string(bufs[2], 8) == std::string(8, 'c'));
}

TEST_CASE("bridge: a handler runs on its own executor (a strand), and a failure at once is "
          "posted, never run inside the call") {
    bridged t;
    watchdog dog(60000, [] { hung("bridge: executor"); });
    auto strand = net::make_strand(t.io);
    bool on_strand = false;
    bool done = false;
    char data[4];
    t.link.async_send(
        t.p.s, net::buffer("ping", 4),
        net::bind_executor(strand, [&](const boost::system::error_code& ec, std::size_t n) {
            CHECK_FALSE(ec);
            CHECK(n == 4u);
            on_strand = strand.running_in_this_thread();
            done = true;
        }));
    run_until(t.io, [&] { return done; });
    CHECK(on_strand);
    CHECK(read_exactly(t.p.peer, 4) == "ping");

    // Data already there: the receive may finish inside its call; its handler still runs
    // only from the io_context, never inside async_recv.
    send_all(t.p.peer, "now");
    REQUIRE(wait_kernel_unread(t.p.s, 3));
    bool received = false;
    t.link.async_recv(t.p.s, net::buffer(data, 3),
                      [&](const boost::system::error_code& ec, std::size_t n) {
                          CHECK_FALSE(ec);
                          CHECK(n == 3u);
                          received = true;
                      });
    CHECK_FALSE(received);
    run_until(t.io, [&] { return received; });
    CHECK(received);

    bool failed = false;
    boost::system::error_code got;
    t.link.async_recv(static_cast<SOCKET>(999999), net::buffer(data),
                      [&](const boost::system::error_code& ec, std::size_t) {
                          got = ec;
                          failed = true;
                      });
    CHECK_FALSE(failed);
    run_until(t.io, [&] { return failed; });
    CHECK(got.value() == WSAENOTSOCK);
    CHECK(got == std::errc::not_a_socket);
    CHECK(got.category() == sanport::asio::category());
}

TEST_CASE("bridge: a cancelled receive completes with boost::asio::error::operation_aborted") {
    bridged t;
    watchdog dog(60000, [] { hung("bridge: cancel"); });
    char data[4];
    boost::system::error_code got;
    bool done = false;
    t.link.async_recv(t.p.s, net::buffer(data),
                      [&](const boost::system::error_code& ec, std::size_t) {
                          got = ec;
                          done = true;
                      });
    t.io.poll();
    t.io.restart();
    int err = 0;
    REQUIRE(WSPCancelIoEx(t.p.s, nullptr, &err) == 0);
    run_until(t.io, [&] { return done; });
    REQUIRE(done);
    CHECK(got == net::error::operation_aborted);
    CHECK(got.category() != sanport::asio::category()); // Asio's own code, as its sockets give
}

TEST_CASE("bridge: use_future - the io_context runs on another thread, the caller waits on a "
          "future") {
    engine e; // its own thread: any thread may run the io_context
    REQUIRE(e.status() == 0);
    watchdog dog(60000, [] { hung("bridge: use_future"); });
    completion_queue cq(e);
    net::io_context io;
    sanport::asio::bridge link(io, cq);
    posix_listener listener;
    adopted_pair p;
    adopt_pair(e, listener, p);
    REQUIRE(link.associate(p.s) == 0);
    std::thread runner([&] { io.run(); }); // the bridge's wait keeps run() going
    struct stop_runner {
        net::io_context& io;
        std::thread& t;
        ~stop_runner() {
            io.stop();
            t.join();
        }
    } stopper{io, runner};
    char data[5];
    // Initiated on this thread, which does not run the io_context: allowed with an engine
    // that has its own thread.
    std::future<std::size_t> f = link.async_recv(p.s, net::buffer(data), net::use_future);
    send_all(p.peer, "hello");
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    CHECK(f.get() == 5u);
    CHECK(std::string(data, 5) == "hello");
}

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
TEST_CASE("bridge: use_awaitable - a coroutine accepts, then echoes until the peer ends") {
    auto e = bridge_engine();
    completion_queue cq(*e);
    net::io_context io;
    sanport::asio::bridge link(io, cq);
    watchdog dog(60000, [] { hung("bridge: use_awaitable"); });
    int err = 0;
    SOCKET ls = e->socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(ls != INVALID_SOCKET);
    int len = 0;
    sockaddr_storage addr = loopback_address(AF_INET, 0, &len);
    REQUIRE(WSPBind(ls, reinterpret_cast<sockaddr*>(&addr), len, &err) == 0);
    REQUIRE(WSPListen(ls, 4, &err) == 0);
    REQUIRE(WSPGetSockName(ls, reinterpret_cast<sockaddr*>(&addr), &len, &err) == 0);
    REQUIRE(link.associate(ls) == 0);
    SOCKET as = e->socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(as != INVALID_SOCKET);
    std::size_t echoed = 0;
    bool ended = false;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
            co_await link.async_accept(ls, as, net::use_awaitable);
            CHECK(link.associate(as) == 0);
            char data[64];
            for (;;) {
                boost::system::error_code ec;
                const std::size_t n = co_await link.async_recv(
                    as, net::buffer(data), net::redirect_error(net::use_awaitable, ec));
                if (ec || n == 0) break;
                echoed += co_await link.async_send(as, net::buffer(data, n), net::use_awaitable);
            }
            ended = true;
        },
        net::detached);
    const peer_socket client = posix_connect(addr, len);
    REQUIRE(client != no_peer);
    send_all(client, "over the bridge");
    run_until(io, [&] { return echoed == 15; });
    CHECK(read_exactly(client, 15) == "over the bridge");
    peer_close(client);
    run_until(io, [&] { return ended; });
    CHECK(ended);
    WSPCloseSocket(as, &err);
    WSPCloseSocket(ls, &err);
}
#endif
