// SPDX-License-Identifier: MIT
// epoll_echo: a driven engine run from a plain epoll loop, with no thread of sanport's.
//
// The completion queue's readiness handle (cq.readiness) goes into the loop's epoll set like
// any socket; the loop could hold the application's own descriptors next to it. When it is
// readable, dequeue_ready drives the engine once and hands back what completed; the protocol
// is "call it until it returns fewer than asked for". The set is edge-triggered here to show
// that the handle gives a fresh edge for whatever a drain leaves behind.
// The program serves echo_check's clients on loopback and exits 0 when every message came
// back (Linux; the handle needs io_uring for a driven engine, SANPORT_BACKEND=asio exits 77).
#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <chrono>
#include <cstdio>
#include <sys/epoll.h>
#include <unistd.h>

#include "echo_check.hpp"

int main() {
    constexpr int clients = 8;
    constexpr int messages = 200;
    sanport::engine_options options;
    options.own_thread = false; // this thread drives it: it is the loop's thread
    sanport::engine e(options);
    if (e.status() != 0) return std::fprintf(stderr, "engine: %s\n", e.why().c_str()), 1;
    sanport::completion_queue cq(e);
    int ready = -1;
    if (const int wsa = cq.readiness_handle(ready)) {
        std::printf("epoll_echo: no readiness handle (%s): %s\n", sanport::wsa_error_name(wsa),
                    sanport::last_error_detail());
        return 77;
    }
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, ready, &ev) != 0) return std::perror("epoll"), 1;

    sockaddr_in addr{};
    const SOCKET listener = echo_check::listen_on(e, addr);
    echo_check::echo_service service(e, cq, listener);
    if (listener == INVALID_SOCKET || !service.start(4)) return 1;
    echo_check::result r;
    auto threads = echo_check::start_clients(addr, clients, messages, r);

    // The loop: wait, then drain. The 100 ms bound is only for noticing that the clients are
    // done; nothing sanport needs depends on it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    long wakeups = 0;
    bool stopping = false;
    while (!service.stopped() && std::chrono::steady_clock::now() < give_up) {
        epoll_event got{};
        if (::epoll_wait(ep, &got, 1, 100) == 1) ++wakeups; // EINTR, time-outs: drain anyway
        sanport::completion_entry batch[16];
        for (std::size_t n = 16; n == 16;) {
            n = cq.dequeue_ready(batch, 16);
            for (std::size_t i = 0; i < n; ++i)
                service.handle(batch[i]);
        }
        if (!stopping && r.finished.load() == clients && service.open() == 0) {
            service.stop(); // its accepts complete, aborted, through the same loop
            stopping = true;
        }
    }
    for (auto& t : threads)
        t.join();
    ::close(ep);
    std::printf("epoll_echo: %ld wake-ups of the loop\n", wakeups);
    return echo_check::report("epoll_echo", clients, messages, r);
}
