// SPDX-License-Identifier: MIT
// pool_echo: a thread pool on one completion queue, as an I/O completion port server runs.
//
// An engine with its own completion thread; four worker threads dequeue from one queue whose
// concurrency value is 2 (cq.pool: IOCP's NumberOfConcurrentThreads). At most two run at a
// time between returning from dequeue and calling it again; the others wait, and the one that
// waited last is released first. The echo itself needs no lock: a connection has one operation
// at a time, so its packets never run on two threads at once.
// The program serves echo_check's clients on loopback and exits 0 when every message came back
// and the limit held. Linux and Windows alike.
#include <sanport/completion_queue.h>
#include <sanport/engine.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "echo_check.hpp"

int main() {
    constexpr int clients = 8;
    constexpr int messages = 200;
    constexpr unsigned concurrency = 2;
    sanport::engine e; // its own completion thread: any thread may dequeue
    if (e.status() != 0) return std::fprintf(stderr, "engine: %s\n", e.why().c_str()), 1;
    sanport::completion_queue cq(e);
    if (cq.set_concurrency(concurrency) != 0) return 1;
    sockaddr_in addr{};
    const SOCKET listener = echo_check::listen_on(e, addr);
    echo_check::echo_service service(e, cq, listener);
    if (listener == INVALID_SOCKET || !service.start(4)) return 1;

    std::atomic<bool> done{false};
    std::atomic<int> running{0};
    std::atomic<int> most{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back([&] {
            sanport::completion_entry batch[4];
            while (!done.load()) {
                const std::size_t n = cq.dequeue(batch, 4, 100);
                if (n == 0) continue;
                const int now = running.fetch_add(1) + 1; // from dequeue's return ...
                for (int seen = most.load();
                     now > seen && !most.compare_exchange_weak(seen, now);) {
                }
                for (std::size_t i = 0; i < n; ++i)
                    service.handle(batch[i]);
                running.fetch_sub(1); // ... to the next call: the span the limit counts
            }
        });
    }
    echo_check::result r;
    auto threads = echo_check::start_clients(addr, clients, messages, r);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool stopping = false;
    while (!service.stopped() && std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!stopping && r.finished.load() == clients && service.open() == 0) {
            service.stop();
            stopping = true;
        }
    }
    done.store(true);
    for (auto& t : workers)
        t.join();
    for (auto& t : threads)
        t.join();
    std::printf("pool_echo: at most %d of 4 threads ran at once (concurrency %u)\n", most.load(),
                concurrency);
    const int status = echo_check::report("pool_echo", clients, messages, r);
    return status != 0 || most.load() > static_cast<int>(concurrency) ? 1 : 0;
}
