// SPDX-License-Identifier: MIT
// bench_client: the one load client used against every benchmark server.
//
//   bench_client --port P --mode pingpong|multi|stream [--host 127.0.0.1] [--conns N]
//                [--size 64] [--seconds 2] [--warmup 0.3] [--server-pid PID] [--inflight 1]
//                [--send-size 1048576] [--messages N]
//
// Prints exactly one JSON line on stdout at the end; progress and errors go to stderr; exit 0
// on success, 1 on any error. This file holds the CLI and the two blocking single-connection
// modes (pingpong, stream); multi (epoll, up to 10,000 connections) is in client_modes.cpp.
//
// Why one client for all servers: every server is driven by the same code with the same
// syscall pattern, so differences in msgs/s and server CPU belong to the servers. Why blocking
// send/recv for pingpong and stream: that is the cheapest possible client for one connection
// (no readiness step), so the client adds the least to the measured round trip. Why SIGALRM on
// top of per-call deadlines: a run can never hang, whatever the server does.

#include <algorithm>
#include <arpa/inet.h>
#include <cmath>
#include <csignal>
#include <sys/resource.h>
#include <vector>

#include "client_util.hpp"

namespace bench {
int run_multi(const Options& o); // client_modes.cpp
}

using namespace bench;

namespace {

constexpr size_t kMaxSamples = 4u << 20; // pingpong RTT samples kept (16 MiB of uint32 ns)
constexpr uint32_t kMaxSize = 64u << 20; // --size / --send-size upper bound

int run_pingpong(const Options& o) {
    int fd = connect_blocking(o);
    std::vector<uint8_t> sbuf(o.size), rbuf(o.size);
    std::vector<uint32_t> rtt(kMaxSamples); // allocated and touched before the window
    const uint64_t key = conn_key(0);
    uint64_t seq = 0;
    auto round_trip = [&]() -> uint64_t {
        gen_payload(sbuf.data(), key, seq, 0, o.size);
        uint64_t t0 = mono_ns();
        send_all(fd, sbuf.data(), o.size);
        recv_all(fd, rbuf.data(), o.size, "pingpong echo");
        uint64_t t1 = mono_ns();
        size_t d = first_diff(sbuf.data(), rbuf.data(), o.size);
        if (d != o.size)
            fail("pingpong echo mismatch: seq %llu byte %zu: sent 0x%02x, got 0x%02x",
                 static_cast<unsigned long long>(seq), d, sbuf[d], rbuf[d]);
        ++seq;
        return t1 - t0;
    };
    const double warm_end = mono() + o.warmup;
    while (mono() < warm_end)
        round_trip();

    const uint64_t cpu0 = server_cpu_ns(o.server_pid);
    const uint64_t t0 = mono_ns();
    const auto end = t0 + static_cast<uint64_t>(o.seconds * 1e9);
    const auto deadline = end + static_cast<uint64_t>(kSlackSeconds * 1e9);
    uint64_t n = 0, now = t0;
    while (o.messages ? n < o.messages : now < end) {
        if (now >= deadline)
            fail("pingpong: %llu round trips not done in time",
                 static_cast<unsigned long long>(o.messages));
        uint64_t d = round_trip();
        if (n < kMaxSamples) rtt[n] = static_cast<uint32_t>(std::min<uint64_t>(d, UINT32_MAX));
        ++n;
        now = mono_ns();
    }
    const uint64_t t1 = now;
    const uint64_t cpu = server_cpu_ns(o.server_pid) - cpu0;
    close(fd);
    if (n == 0) fail("pingpong: no round trip completed in the window");

    const size_t m = std::min<uint64_t>(n, kMaxSamples);
    auto pct = [&](double p) {
        size_t idx = static_cast<size_t>(std::ceil(p * static_cast<double>(m))) - 1;
        idx = std::min(idx, m - 1);
        std::nth_element(rtt.begin(), rtt.begin() + static_cast<long>(idx),
                         rtt.begin() + static_cast<long>(m));
        return static_cast<double>(rtt[idx]) / 1e3;
    };
    const double p50 = pct(0.50), p99 = pct(0.99);
    const double secs = static_cast<double>(t1 - t0) / 1e9;
    std::printf("{\"mode\":\"pingpong\",\"conns\":1,\"msgs\":%llu,\"seconds\":%.6f,"
                "\"msgs_per_s\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"server_cpu_ns\":%llu,"
                "\"server_cpu_ns_per_msg\":%.1f}\n",
                static_cast<unsigned long long>(n), secs, static_cast<double>(n) / secs, p50, p99,
                static_cast<unsigned long long>(cpu),
                static_cast<double>(cpu) / static_cast<double>(n));
    return 0;
}

int run_stream(const Options& o) {
    int fd = connect_blocking(o);
    std::vector<uint8_t> buf(o.send_size);
    gen_payload(buf.data(), conn_key(0), 0, 0, o.send_size); // filled once
    const uint64_t cpu0 = server_cpu_ns(o.server_pid);
    const double t0 = mono();
    const double end = t0 + o.seconds, deadline = end + kSlackSeconds;
    uint64_t bytes = 0, sends = 0;
    for (double now = t0; o.messages ? sends < o.messages : now < end; now = mono()) {
        if (now >= deadline)
            fail("stream: %llu sends not done in time",
                 static_cast<unsigned long long>(o.messages));
        send_all(fd, buf.data(), o.send_size);
        bytes += o.send_size;
        ++sends;
    }
    if (shutdown(fd, SHUT_WR) != 0) fail("shutdown(SHUT_WR): %s", std::strerror(errno));
    // The server may still be draining megabytes: wait for the reply up to the run's deadline.
    set_timeouts(fd, kCallTimeout, std::clamp(deadline - mono(), 1.0, kSlackSeconds));
    uint64_t reply[2];
    recv_all(fd, reinterpret_cast<uint8_t*>(reply), sizeof reply, "stream reply");
    const double t1 = mono();
    const uint64_t cpu = server_cpu_ns(o.server_pid) - cpu0;
    uint8_t extra;
    ssize_t r = recv(fd, &extra, 1, 0);
    if (r > 0) fail("stream reply: more than 16 bytes");
    if (r < 0) fail("stream reply: no EOF after the 16 bytes: %s", std::strerror(errno));
    close(fd);
    if (reply[0] != bytes)
        fail("stream reply: server counted %llu bytes, %llu were sent",
             static_cast<unsigned long long>(reply[0]), static_cast<unsigned long long>(bytes));
    if (reply[1] == 0) fail("stream reply: server reports 0 receives");

    const double secs = t1 - t0;
    const double dcpu = static_cast<double>(cpu);
    std::printf("{\"mode\":\"stream\",\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.4f,"
                "\"server_receives\":%llu,\"server_cpu_ns\":%llu,\"server_cpu_ns_per_64k\":%.1f,"
                "\"server_cpu_ns_per_recv\":%.1f}\n",
                static_cast<unsigned long long>(bytes), secs,
                static_cast<double>(bytes) / secs / 1e9, static_cast<unsigned long long>(reply[1]),
                static_cast<unsigned long long>(cpu), dcpu / (static_cast<double>(bytes) / 65536.0),
                dcpu / static_cast<double>(reply[1]));
    return 0;
}

[[noreturn]] void usage(int code) {
    std::fputs("usage: bench_client --port P --mode pingpong|multi|stream [--host 127.0.0.1]\n"
               "         [--conns N] [--size 64] [--seconds 2] [--warmup 0.3] [--server-pid PID]\n"
               "         [--inflight 1] [--send-size 1048576] [--messages N]\n",
               code == 0 ? stdout : stderr);
    std::exit(code);
}

double parse_num(const char* opt, const char* s, double lo, double hi) {
    char* e = nullptr;
    errno = 0;
    double v = std::strtod(s, &e);
    if (errno != 0 || e == s || *e != '\0' || !(v >= lo && v <= hi))
        fail("%s: bad value '%s' (expected %g..%g)", opt, s, lo, hi);
    return v;
}

uint64_t parse_int(const char* opt, const char* s, uint64_t lo, uint64_t hi) {
    char* e = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &e, 10);
    if (errno != 0 || e == s || *e != '\0' || s[0] == '-' || v < lo || v > hi)
        fail("%s: bad value '%s' (expected an integer %llu..%llu)", opt, s,
             static_cast<unsigned long long>(lo), static_cast<unsigned long long>(hi));
    return v;
}

Options parse(int argc, char** argv) {
    Options o;
    bool have_mode = false, have_conns = false;
    const char* host = "127.0.0.1";
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) usage(0);
        if (i + 1 >= argc) {
            std::fprintf(stderr, "bench_client: error: %s needs a value or is unknown\n", a);
            usage(1);
        }
        const char* v = argv[++i];
        if (!std::strcmp(a, "--port"))
            o.port = static_cast<uint16_t>(parse_int(a, v, 1, 65535));
        else if (!std::strcmp(a, "--mode")) {
            have_mode = true;
            o.mode_name = v;
            if (!std::strcmp(v, "pingpong"))
                o.mode = Mode::pingpong;
            else if (!std::strcmp(v, "multi"))
                o.mode = Mode::multi;
            else if (!std::strcmp(v, "stream"))
                o.mode = Mode::stream;
            else
                fail("--mode: unknown mode '%s'", v);
        } else if (!std::strcmp(a, "--host"))
            host = v;
        else if (!std::strcmp(a, "--conns")) {
            have_conns = true;
            o.conns = static_cast<uint32_t>(parse_int(a, v, 1, 1000000));
        } else if (!std::strcmp(a, "--size"))
            o.size = static_cast<uint32_t>(parse_int(a, v, 8, kMaxSize));
        else if (!std::strcmp(a, "--seconds"))
            o.seconds = parse_num(a, v, 0.001, 86400);
        else if (!std::strcmp(a, "--warmup"))
            o.warmup = parse_num(a, v, 0, 3600);
        else if (!std::strcmp(a, "--server-pid"))
            o.server_pid = static_cast<long>(parse_int(a, v, 1, 1u << 30));
        else if (!std::strcmp(a, "--inflight"))
            o.inflight = static_cast<uint32_t>(parse_int(a, v, 1, 4096));
        else if (!std::strcmp(a, "--send-size"))
            o.send_size = static_cast<uint32_t>(parse_int(a, v, 1, kMaxSize));
        else if (!std::strcmp(a, "--messages"))
            o.messages = parse_int(a, v, 1, UINT64_MAX);
        else {
            std::fprintf(stderr, "bench_client: error: unknown option %s\n", a);
            usage(1);
        }
    }
    if (o.port == 0 || !have_mode) {
        std::fputs("bench_client: error: --port and --mode are required\n", stderr);
        usage(1);
    }
    if (inet_pton(AF_INET, host, &o.host) != 1) fail("--host: '%s' is not an IPv4 address", host);
    if ((ntohl(o.host.s_addr) >> 24) != 127) fail("--host: only loopback (127.0.0.0/8) is allowed");
    if (o.mode == Mode::multi) {
        if (!have_conns) o.conns = 64;
    } else if (o.conns != 1) {
        fail("--conns: %s uses exactly 1 connection", o.mode_name);
    }
    return o;
}

// Raises RLIMIT_NOFILE's soft limit to the hard limit (10,000 connections need it).
void raise_nofile(const Options& o) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) fail("getrlimit: %s", std::strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) fail("setrlimit(NOFILE): %s", std::strerror(errno));
    }
    if (rl.rlim_cur != RLIM_INFINITY && o.conns + 64 > rl.rlim_cur)
        fail("--conns %u needs more file descriptors than RLIMIT_NOFILE allows (%llu)", o.conns,
             static_cast<unsigned long long>(rl.rlim_cur));
}

extern "C" void on_alarm(int) {
    static const char msg[] = "bench_client: error: overall deadline passed, giving up\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

} // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    raise_nofile(o);
    std::signal(SIGPIPE, SIG_IGN);
    // Last-resort bound on the whole run, above every per-phase deadline.
    // Phases fail with their own message first; this fires a few seconds after the latest.
    double budget = o.warmup + o.seconds + kSlackSeconds + kCallTimeout;
    if (o.mode == Mode::multi) budget += kSlackSeconds + 0.005 * o.conns; // connect phase
    std::signal(SIGALRM, on_alarm);
    alarm(static_cast<unsigned>(std::ceil(budget)));
    switch (o.mode) {
    case Mode::pingpong:
        return run_pingpong(o);
    case Mode::stream:
        return run_stream(o);
    case Mode::multi:
        return run_multi(o);
    }
    return 1;
}
