// SPDX-License-Identifier: MIT
// sanport_soak: a bounded soak of sanport over real loopback TCP, through sanport's own API only.
//
//   sanport_soak [--seconds N] [--seed S] [--connections C] [--backend io_uring|asio]
//
// A pool of up to C connections (default 32; both ends sanport sockets on the default engine,
// associated with one completion queue) carries a checksummed, deterministic stream in each
// direction (soak.hpp). One thread dequeues and drives every socket (soak_driver.cpp); two chaos
// threads open connections and, at random moments, close, reset or half-close one end from
// their side (soak_chaos.cpp). Every operation must complete exactly once with an allowed
// result, and every received byte, taken in posting order, must continue the stream.
//
// Bounded: the run lasts --seconds (default 30), at most C connections (at most 128) with at
// most 8 receives of 64 KiB and 4 sends of 32 KiB each; no progress for 10 s (the loop, a
// socket, or a thread stuck inside one call) ends the program with status 1 and names what is
// stuck. At the end everything is closed, the queue drained, and each operation checked.
// Prints a progress line every 5 s on stderr and one summary line on stdout:
//   soak: seconds=30 backend=io_uring seed=1 ops=... bytes_verified=... errors=0
// Exit status 0 only when errors == 0; 77 (CTest's SKIP_RETURN_CODE), after a [sanport-skip]
// line, when the kernel refuses the forced backend (EPERM, ENOSYS, EOPNOTSUPP).
#include "tests/soak/soak.hpp"

#include <sanport/engine.h>

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <thread>

namespace soak {

using namespace sanport;

namespace {
const steady::time_point program_start = steady::now();
std::mutex print_mu;
shared_state* g_sh = nullptr;
} // namespace

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - program_start)
        .count();
}

void report_error(shared_state& sh, const std::string& what) {
    const std::uint64_t n = sh.st.errors.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n > 25) return;
    std::lock_guard lk(print_mu);
    std::fprintf(stderr, "soak: ERROR %llu at %.3f s (seed=%llu): %s\n",
                 static_cast<unsigned long long>(n), static_cast<double>(now_ms()) / 1000.0,
                 static_cast<unsigned long long>(sh.cfg.seed), what.c_str());
    std::fflush(stderr);
}

namespace {

void print_activity(const char* who, const activity& a) {
    std::fprintf(stderr, "soak:   %s: %s (key/id %llu) for %.1f s\n", who,
                 a.what.load(std::memory_order_acquire),
                 static_cast<unsigned long long>(a.id.load(std::memory_order_relaxed)),
                 static_cast<double>(now_ms() - a.since_ms.load(std::memory_order_relaxed)) /
                     1000.0);
}

} // namespace

void fatal_stall(shared_state& sh, const std::string& what) {
    {
        std::lock_guard lk(print_mu);
        std::fprintf(stderr, "soak: STUCK (seed=%llu, backend=%s): %s\n",
                     static_cast<unsigned long long>(sh.cfg.seed), running_backend(), what.c_str());
        print_activity("completion loop", sh.loop_act);
        print_activity("chaos thread 0", sh.chaos_act[0]);
        print_activity("chaos thread 1", sh.chaos_act[1]);
        std::printf("soak: seconds=%.0f backend=%s seed=%llu errors=%llu STUCK\n",
                    static_cast<double>(now_ms()) / 1000.0, running_backend(),
                    static_cast<unsigned long long>(sh.cfg.seed),
                    static_cast<unsigned long long>(sh.st.errors.load() + 1));
        std::fflush(stdout);
        std::fflush(stderr);
    }
    std::_Exit(1);
}

namespace {

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "sanport_soak: %s\nusage: sanport_soak [--seconds N] [--seed S] "
                 "[--connections C (1..128)] [--backend io_uring|asio]\n",
                 why);
    std::exit(2);
}

config parse(int argc, char** argv) {
    config c;
    c.seed = static_cast<std::uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count() & 0xFFFFFFFF);
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        if (a == "--seconds")
            c.seconds = std::strtod(value().c_str(), nullptr);
        else if (a == "--seed")
            c.seed = std::strtoull(value().c_str(), nullptr, 0);
        else if (a == "--connections")
            c.connections = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 0));
        else if (a == "--backend")
            c.backend = value();
        else
            usage(("unknown argument " + a).c_str());
    }
    if (!(c.seconds > 0) || c.seconds > 86400) usage("--seconds must be in (0, 86400]");
    if (c.connections < 1 || c.connections > 128) usage("--connections must be 1..128");
    if (!c.backend.empty() && c.backend != "io_uring" && c.backend != "asio")
        usage("--backend must be io_uring or asio");
    return c;
}

std::uint64_t ld(const std::atomic<std::uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
}

void print_counts(FILE* f, const char* prefix, shared_state& sh, double secs) {
    const stats& s = sh.st;
    std::fprintf(f,
                 "%s seconds=%.0f backend=%s seed=%llu ops=%llu recv_posted=%llu "
                 "recv_completed=%llu send_posted=%llu send_completed=%llu bytes_verified=%llu "
                 "bytes_sent=%llu opened=%llu closed=%llu chaos_closes=%llu resets=%llu "
                 "half_closes=%llu graceful_closes=%llu immediate=%llu aborted=%llu "
                 "conn_errors=%llu eofs=%llu waitall=%llu zero_byte=%llu rejected=%llu "
                 "connect_failures=%llu digest=%016llx errors=%llu\n",
                 prefix, secs, running_backend(), static_cast<unsigned long long>(sh.cfg.seed),
                 static_cast<unsigned long long>(ld(s.recv_completed) + ld(s.send_completed)),
                 static_cast<unsigned long long>(ld(s.recv_posted)),
                 static_cast<unsigned long long>(ld(s.recv_completed)),
                 static_cast<unsigned long long>(ld(s.send_posted)),
                 static_cast<unsigned long long>(ld(s.send_completed)),
                 static_cast<unsigned long long>(ld(s.bytes_verified)),
                 static_cast<unsigned long long>(ld(s.bytes_sent)),
                 static_cast<unsigned long long>(ld(s.opened)),
                 static_cast<unsigned long long>(ld(s.closed)),
                 static_cast<unsigned long long>(ld(s.chaos_closes)),
                 static_cast<unsigned long long>(ld(s.resets)),
                 static_cast<unsigned long long>(ld(s.half_closes)),
                 static_cast<unsigned long long>(ld(s.graceful)),
                 static_cast<unsigned long long>(ld(s.immediate)),
                 static_cast<unsigned long long>(ld(s.aborted)),
                 static_cast<unsigned long long>(ld(s.conn_errors)),
                 static_cast<unsigned long long>(ld(s.eofs)),
                 static_cast<unsigned long long>(ld(s.waitall)),
                 static_cast<unsigned long long>(ld(s.zero_byte)),
                 static_cast<unsigned long long>(ld(s.rejected)),
                 static_cast<unsigned long long>(ld(s.connect_failures)),
                 static_cast<unsigned long long>(ld(s.digest)),
                 static_cast<unsigned long long>(ld(s.errors)));
    std::fflush(f);
}

// Waits for `done` while watching for a stall; fails the run if it never comes.
void watch(shared_state& sh, const std::atomic<bool>& done, steady::time_point until,
           std::uint64_t& last_progress, steady::time_point& last_change,
           steady::time_point& next_report, const char* phase) {
    while (!done.load(std::memory_order_acquire) && steady::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        const steady::time_point now = steady::now();
        const std::uint64_t p = sh.progress.load(std::memory_order_relaxed);
        if (p != last_progress) {
            last_progress = p;
            last_change = now;
        } else if (now - last_change > std::chrono::seconds(stall_limit_s)) {
            fatal_stall(sh, std::string("no operation completed for 10 s (") + phase + ")");
        }
        // One call that never returns, while the rest goes on, is stuck too.
        const std::int64_t ms = now_ms();
        for (const activity* a : {&sh.loop_act, &sh.chaos_act[0], &sh.chaos_act[1]}) {
            const char* w = a->what.load(std::memory_order_acquire);
            if (std::strcmp(w, "sleeping") != 0 && std::strcmp(w, "done") != 0 &&
                std::strcmp(w, "completion_queue::dequeue") != 0 &&
                ms - a->since_ms.load(std::memory_order_relaxed) > stall_limit_s * 1000)
                fatal_stall(sh, std::string("a thread spent 10 s in ") + w + " (" + phase + ")");
        }
        if (now >= next_report) {
            print_counts(stderr, "soak: progress", sh, static_cast<double>(now_ms()) / 1000.0);
            next_report += std::chrono::seconds(5);
        }
    }
}

} // namespace
} // namespace soak

int main(int argc, char** argv) {
    using namespace soak;
    static shared_state sh; // lives until exit: the threads may outlive a fatal path
    g_sh = &sh;
    sh.cfg = parse(argc, argv);
    if (!sh.cfg.backend.empty()) ::setenv("SANPORT_BACKEND", sh.cfg.backend.c_str(), 1);
    const char* forced = std::getenv("SANPORT_BACKEND");
    const std::string& why = sanport::default_engine().why();
    if (sanport::default_engine().status() != 0) {
        for (const char* code : {"EPERM", "ENOSYS", "EOPNOTSUPP"}) {
            if (why.find(code) == std::string::npos) continue;
            std::printf("[sanport-skip] backend %s refused by the kernel: %s\n",
                        forced ? forced : "default", why.c_str());
            return 77;
        }
    }

    int err = 0;
    sh.listener =
        WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    if (sh.listener == INVALID_SOCKET) {
        std::fprintf(stderr, "sanport_soak: WSPSocket failed with %s (backend %s): %s\n",
                     wsa_error_name(err), forced ? forced : "default",
                     sanport::backend_fallback_reason().c_str());
        return 1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sh.listen_len = sizeof(sockaddr_storage);
    if (WSPBind(sh.listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr, &err) != 0 ||
        WSPListen(sh.listener, 256, &err) != 0 ||
        WSPGetSockName(sh.listener, reinterpret_cast<sockaddr*>(&sh.listen_addr), &sh.listen_len,
                       &err) != 0) {
        std::fprintf(stderr, "sanport_soak: listener set-up failed with %s\n", wsa_error_name(err));
        return 1;
    }
    if (forced && std::strcmp(forced, running_backend()) != 0) {
        std::fprintf(stderr, "sanport_soak: SANPORT_BACKEND=%s but %s runs\n", forced,
                     running_backend());
        return 1;
    }
    std::fprintf(stderr, "soak: starting: backend=%s seed=%llu seconds=%.0f connections=%u\n",
                 running_backend(), static_cast<unsigned long long>(sh.cfg.seed), sh.cfg.seconds,
                 sh.cfg.connections);

    sanport::completion_queue cq;
    sh.cq = &cq;
    std::thread loop([] { run_loop(*g_sh); });
    std::thread chaos0([] { run_chaos(*g_sh, 0); });
    std::thread chaos1([] { run_chaos(*g_sh, 1); });

    const steady::time_point t0 = steady::now();
    const auto end = t0 + std::chrono::duration_cast<steady::duration>(
                              std::chrono::duration<double>(sh.cfg.seconds));
    std::uint64_t last_progress = 0;
    steady::time_point last_change = t0, next_report = t0 + std::chrono::seconds(5);
    std::atomic<bool> never{false};
    watch(sh, never, end, last_progress, last_change, next_report, "running");
    const double ran = std::chrono::duration<double>(steady::now() - t0).count();

    // Stop: chaos first (no new connections, no more chaos), then the loop closes and drains.
    sh.stop_chaos.store(true, std::memory_order_release);
    const auto limit = steady::now() + std::chrono::seconds(2 * stall_limit_s);
    for (int i = 0; i < 2; ++i) {
        last_change = steady::now();
        watch(sh, sh.chaos_done[static_cast<std::size_t>(i)], limit, last_progress, last_change,
              next_report, "stopping the chaos threads");
    }
    if (!sh.chaos_done[0].load() || !sh.chaos_done[1].load())
        fatal_stall(sh, "a chaos thread did not stop");
    chaos0.join();
    chaos1.join();
    sh.stop_loop.store(true, std::memory_order_release);
    last_change = steady::now();
    watch(sh, sh.loop_done, steady::now() + std::chrono::seconds(3 * stall_limit_s), last_progress,
          last_change, next_report, "final close and drain");
    if (!sh.loop_done.load()) fatal_stall(sh, "the final close and drain did not end");
    loop.join();

    if (WSPCloseSocket(sh.listener, &err) != 0)
        report_error(sh,
                     std::string("WSPCloseSocket(listener) failed with ") + wsa_error_name(err));
    const stats& s = sh.st;
    if (ld(s.recv_posted) != ld(s.recv_completed) || ld(s.send_posted) != ld(s.send_completed))
        report_error(sh, "operations posted and completed differ: every accepted operation "
                         "must complete exactly once");
    if (ld(s.bytes_verified) == 0) report_error(sh, "no byte was verified");
    cq.shutdown();
    print_counts(stdout, "soak:", sh, ran);
    return ld(s.errors) == 0 ? 0 : 1;
}
