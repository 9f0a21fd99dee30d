// SPDX-License-Identifier: MIT
// asio_echo: an echo server written as Boost.Asio coroutines over sanport (sanport::asio).
//
// The completion queue joins the io_context through sanport::asio::bridge, which waits on the
// queue's readiness handle in the io_context's own reactor: one thread runs everything, with
// no thread of sanport's in between. Each connection is a coroutine that co_awaits
// link.async_recv and link.async_send; the acceptor co_awaits link.async_accept (WSPAcceptEx).
// The engine is driven by this thread where the backend allows it (io_uring), else it has its
// own thread (the asio backend), and the bridge works the same.
// The program serves echo_check's clients on loopback and exits 0 when every message came back
// (Linux, with g++: Asio 1.74 enables co_await only there; built otherwise, it exits 77).
#include <sanport/asio.h>

#include <boost/asio/io_context.hpp>

#include "echo_check.hpp"
#if defined(BOOST_ASIO_HAS_CO_AWAIT)
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <memory>

#if defined(BOOST_ASIO_HAS_CO_AWAIT)
namespace net = boost::asio;

namespace {

net::awaitable<void> session(sanport::asio::bridge& link, SOCKET s, int& open) {
    char data[4096];
    for (;;) {
        boost::system::error_code ec;
        const std::size_t n = co_await link.async_recv(s, net::buffer(data),
                                                       net::redirect_error(net::use_awaitable, ec));
        if (ec || n == 0) break;
        co_await link.async_send(s, net::buffer(data, n),
                                 net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
    }
    int err = 0;
    sanport::WSPCloseSocket(s, &err);
    --open;
}

net::awaitable<void> acceptor(sanport::asio::bridge& link, sanport::engine& e, SOCKET l, int& open,
                              bool& stopped) {
    for (;;) {
        int err = 0;
        const SOCKET s = e.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
        boost::system::error_code ec;
        co_await link.async_accept(l, s, net::redirect_error(net::use_awaitable, ec));
        if (ec) { // the listener closed
            sanport::WSPCloseSocket(s, &err);
            break;
        }
        link.associate(s);
        ++open;
        net::co_spawn(link.get_executor(), session(link, s, open), net::detached);
    }
    stopped = true;
}

// A driven engine where its queue can be waited on from outside, else one with its own thread.
std::unique_ptr<sanport::engine> make_engine() {
    sanport::engine_options options;
    options.own_thread = false;
    auto e = std::make_unique<sanport::engine>(options);
    if (e->status() == 0 && std::string(e->backend_name()) == "io_uring") return e;
    return std::make_unique<sanport::engine>();
}

} // namespace

int main() {
    constexpr int clients = 8;
    constexpr int messages = 200;
    auto e = make_engine();
    if (e->status() != 0) return std::fprintf(stderr, "engine: %s\n", e->why().c_str()), 1;
    sanport::completion_queue cq(*e);
    net::io_context io;
    sanport::asio::bridge link(io, cq);
    sockaddr_in addr{};
    const SOCKET listener = echo_check::listen_on(*e, addr);
    if (listener == INVALID_SOCKET || link.associate(listener) != 0) return 1;
    int open = 0;
    bool stopped = false;
    net::co_spawn(io, acceptor(link, *e, listener, open, stopped), net::detached);
    echo_check::result r;
    auto threads = echo_check::start_clients(addr, clients, messages, r);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool stopping = false;
    while (!stopped && std::chrono::steady_clock::now() < give_up) {
        io.run_for(std::chrono::milliseconds(50)); // bounded only to notice the clients' end
        if (!stopping && r.finished.load() == clients && open == 0) {
            int err = 0;
            sanport::WSPCloseSocket(listener, &err); // the acceptor's co_await ends, aborted
            stopping = true;
        }
    }
    for (auto& t : threads)
        t.join();
    std::printf("asio_echo: engine on %s\n", e->backend_name());
    return echo_check::report("asio_echo", clients, messages, r);
}
#else
int main() {
    std::printf("asio_echo: this compiler's Boost.Asio has no co_await support (g++ has)\n");
    return 77;
}
#endif
