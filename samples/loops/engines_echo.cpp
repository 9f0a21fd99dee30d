// SPDX-License-Identifier: MIT
// engines_echo: engine per core. N driven engines, each run by a thread of its own through its
// own completion queue; nothing is shared between them on the data path.
//
//   engines_echo [--engines N] [--clients C] [--messages M]
//
// Engine 0's thread also accepts: WSPAcceptEx on a listener of engine 0. Each connection goes,
// in turn, to an engine: engine::take moves the idle socket there (it keeps its SOCKET value),
// and a packet posted to that engine's queue tells its thread to serve it. From then on every
// operation of the connection runs on that one thread, with no lock and no hand-off. (On Linux
// the other way in is one SO_REUSEPORT listener per engine; on Windows a socket stays with the
// first completion port it met, so take() refuses and engine 0 serves everything.)
// The program serves echo_check's clients on loopback, prints the messages per second and
// exits 0 when every message came back.
#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "echo_check.hpp"

namespace {

constexpr ULONG_PTR hand_over_key = 1; // a packet whose overlapped names a moved connection

struct core_engine {
    std::unique_ptr<sanport::engine> e;
    std::unique_ptr<sanport::completion_queue> cq;
    std::unique_ptr<echo_check::echo_service> service;
};

} // namespace

int main(int argc, char** argv) {
    int engines = 2;
    int clients = 8;
    int messages = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--engines") == 0) engines = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
        if (std::strcmp(argv[i], "--messages") == 0) messages = std::atoi(argv[i + 1]);
    }
    if (engines < 1 || clients < 1 || messages < 1) return std::fprintf(stderr, "bad option\n"), 2;
    std::vector<core_engine> cores(static_cast<std::size_t>(engines));
    for (auto& c : cores) {
        sanport::engine_options options;
        options.own_thread = false; // its thread takes ownership before it first drives it
        c.e = std::make_unique<sanport::engine>(options);
        if (c.e->status() != 0) return std::fprintf(stderr, "engine: %s\n", c.e->why().c_str()), 1;
        c.cq = std::make_unique<sanport::completion_queue>(*c.e);
    }
    std::atomic<bool> done{false};
    std::atomic<int> moved{0};
    std::promise<sockaddr_in> listening;
    int next = 0;
    // Engine 0's thread: a connection for engine k is moved, then announced on k's queue.
    const auto give_away = [&](SOCKET s) {
        const auto k = static_cast<std::size_t>(next++ % engines);
        if (k == 0 || cores[k].e->take(s) != 0) return false; // served here
        cores[k].cq->post(0, hand_over_key, reinterpret_cast<WSAOVERLAPPED*>(new SOCKET(s)));
        moved.fetch_add(1);
        return true;
    };
    std::atomic<int> ready{0};
    sockaddr_in listener_address{}; // written by engine 0's thread before it counts itself ready
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < cores.size(); ++k) {
        threads.emplace_back([&, k] {
            core_engine& c = cores[k];
            c.e->take_ownership();
            sockaddr_in addr{};
            const SOCKET l = k == 0 ? echo_check::listen_on(*c.e, addr) : INVALID_SOCKET;
            c.service = std::make_unique<echo_check::echo_service>(*c.e, *c.cq, l);
            if (k == 0) {
                c.service->give_away = give_away;
                if (l == INVALID_SOCKET || !c.service->start(4)) std::exit(1);
                listener_address = addr;
            }
            // The clients start once every engine's service exists (hand-overs need them).
            if (ready.fetch_add(1) + 1 == engines) listening.set_value(listener_address);
            sanport::completion_entry batch[16];
            // Once the clients are done, engine 0 closes its listener and drains the accepts
            // that completes (aborted): their WSAOVERLAPPEDs live in the service, which must
            // not go while sanport still holds them.
            bool stopping = false;
            for (;;) {
                if (done.load()) {
                    if (k != 0 || c.service->stopped()) break;
                    if (!stopping) c.service->stop();
                    stopping = true;
                }
                const std::size_t n = c.cq->dequeue(batch, 16, 50);
                for (std::size_t i = 0; i < n; ++i) {
                    if (batch[i].key == hand_over_key) {
                        auto* s = reinterpret_cast<SOCKET*>(batch[i].overlapped);
                        c.service->serve(*s);
                        delete s;
                    } else {
                        c.service->handle(batch[i]);
                    }
                }
            }
        });
    }
    const sockaddr_in addr = listening.get_future().get();
    echo_check::result r;
    const auto began = std::chrono::steady_clock::now();
    auto client_threads = echo_check::start_clients(addr, clients, messages, r);
    for (auto& t : client_threads)
        t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    done.store(true);
    for (auto& t : threads)
        t.join();
    std::printf("engines_echo: %d engines, %d of %d connections moved, %.0f messages/s\n", engines,
                moved.load(), clients, static_cast<double>(r.echoed.load()) / seconds);
    return echo_check::report("engines_echo", clients, messages, r);
}
