// SPDX-License-Identifier: MIT
// client_util.hpp: what bench_client's three modes share -- options, fatal errors, the clock,
// the server-CPU reading, the echo payload pattern, socket set-up and the bounded blocking
// send/recv of the single-connection modes.
//
// Why header-only inline helpers: the client is two small translation units (bench_client.cpp
// for the CLI and the blocking modes, client_modes.cpp for the epoll multi mode) and must build
// with nothing but libc/libstdc++, so there is no library to put these in.
// Why a deterministic payload: a message is a pure function of (connection, sequence number,
// byte offset), so a partially written message is regenerated instead of buffered per
// connection, and an echo is checked without keeping what was sent.

#pragma once

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {

enum class Mode { pingpong, multi, stream };

struct Options {
    Mode mode = Mode::pingpong;
    const char* mode_name = "pingpong";
    uint16_t port = 0;
    in_addr host{};
    uint32_t conns = 1;
    uint32_t size = 64;
    double seconds = 2.0;
    double warmup = 0.3;
    long server_pid = 0; // 0: not given
    uint32_t inflight = 1;
    uint32_t send_size = 1048576;
    uint64_t messages = 0; // 0: time window
};

// Slack added to every deadline on top of the requested run time.
inline constexpr double kSlackSeconds = 30.0;
// Bound on any one blocking send/recv/connect of the single-connection modes.
inline constexpr double kCallTimeout = 10.0;

[[noreturn]] inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::fputs("bench_client: error: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(1);
}

inline double mono() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline uint64_t mono_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Sum of field 1 (ns on CPU) of /proc/<pid>/task/*/schedstat; 0 when no pid was given.
// Threads that exit between two readings drop out of the sum (io-wq workers are long-lived).
inline uint64_t server_cpu_ns(long pid) {
    if (pid == 0) return 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) fail("cannot open %s: %s (server dead?)", dir.c_str(), std::strerror(errno));
    uint64_t sum = 0;
    int tasks = 0;
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::string path = dir + "/" + e->d_name + "/schedstat";
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; // the thread exited meanwhile
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = '\0';
        sum += std::strtoull(buf, nullptr, 10);
        ++tasks;
    }
    closedir(d);
    if (tasks == 0) fail("no readable task in %s (server dead?)", dir.c_str());
    return sum;
}

// --- payload: bytes 0..7 are the sequence number (host order), then a fill derived from it ----

inline uint64_t mix64(uint64_t x) { // splitmix64 finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Per-connection salt, so bytes echoed on the wrong connection are caught as well.
inline uint64_t conn_key(uint32_t conn) {
    return (static_cast<uint64_t>(conn) + 1) << 40;
}

// Writes bytes [from, to) of message `seq` of the connection with salt `key` into out.
inline void gen_payload(uint8_t* out, uint64_t key, uint64_t seq, size_t from, size_t to) {
    uint8_t hdr[8];
    std::memcpy(hdr, &seq, sizeof hdr);
    size_t j = from;
    for (; j < to && j < 8; ++j)
        *out++ = hdr[j];
    const auto h = static_cast<uint8_t>(mix64(seq ^ key));
    for (; j < to; ++j)
        *out++ = static_cast<uint8_t>(h + j);
}

// Index of the first differing byte, or n when equal.
inline size_t first_diff(const uint8_t* a, const uint8_t* b, size_t n) {
    if (std::memcmp(a, b, n) == 0) return n;
    size_t i = 0;
    while (a[i] == b[i])
        ++i;
    return i;
}

// --- sockets ------------------------------------------------------------------------------------

inline void set_opt(int fd, int level, int name, const void* val, socklen_t len, const char* what) {
    if (setsockopt(fd, level, name, val, len) != 0)
        fail("setsockopt(%s): %s", what, std::strerror(errno));
}

// Non-blocking TCP socket with TCP_NODELAY and SO_LINGER {1,0} (close sends RST: no TIME_WAIT).
inline int make_socket() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", std::strerror(errno));
    int one = 1;
    set_opt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one, "TCP_NODELAY");
    linger lg{1, 0};
    set_opt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg, "SO_LINGER");
    return fd;
}

inline sockaddr_in make_addr(const Options& o) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(o.port);
    a.sin_addr = o.host;
    return a;
}

inline int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}

// --- blocking single-connection helpers (pingpong, stream) -------------------------------------

inline void set_timeouts(int fd, double snd, double rcv) {
    auto tv = [](double s) {
        timeval t{};
        t.tv_sec = static_cast<time_t>(s);
        t.tv_usec = static_cast<suseconds_t>((s - static_cast<double>(t.tv_sec)) * 1e6);
        return t;
    };
    timeval ts = tv(snd), tr = tv(rcv);
    set_opt(fd, SOL_SOCKET, SO_SNDTIMEO, &ts, sizeof ts, "SO_SNDTIMEO");
    set_opt(fd, SOL_SOCKET, SO_RCVTIMEO, &tr, sizeof tr, "SO_RCVTIMEO");
}

// One blocking connection: non-blocking connect bounded by poll, then back to blocking mode
// with SO_SNDTIMEO/SO_RCVTIMEO so that every later call is bounded too.
inline int connect_blocking(const Options& o) {
    int fd = make_socket();
    sockaddr_in a = make_addr(o);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        if (errno != EINPROGRESS) fail("connect to port %u: %s", o.port, std::strerror(errno));
        pollfd p{fd, POLLOUT, 0};
        int r = poll(&p, 1, static_cast<int>(kCallTimeout * 1000));
        if (r == 0) fail("connect to port %u: timed out after %.0f s", o.port, kCallTimeout);
        if (r < 0) fail("poll (connect): %s", std::strerror(errno));
        if (int err = socket_error(fd)) fail("connect to port %u: %s", o.port, std::strerror(err));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        fail("fcntl(O_NONBLOCK): %s", std::strerror(errno));
    set_timeouts(fd, kCallTimeout, kCallTimeout);
    return fd;
}

// Blocking send of all n bytes. Each call is bounded by SO_SNDTIMEO; a blocking send only
// returns short on that timeout (or a signal), so the whole loop is bounded from the first
// short return on (the clock is not read on the fast path).
inline void send_all(int fd, const uint8_t* p, size_t n) {
    double limit = 0;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            p += r;
            n -= static_cast<size_t>(r);
            if (n == 0) break;
            const double now = mono();
            if (limit == 0)
                limit = now + kCallTimeout;
            else if (now > limit)
                fail("send: timed out (server not reading)");
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fail("send: timed out after %.0f s (server not reading)", kCallTimeout);
        } else {
            fail("send: %s", r == 0 ? "returned 0" : std::strerror(errno));
        }
    }
}

// Blocking receive of exactly n bytes, bounded like send_all.
inline void recv_all(int fd, uint8_t* p, size_t n, const char* what) {
    double limit = 0;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= static_cast<size_t>(r);
            if (n == 0) break;
            const double now = mono();
            if (limit == 0)
                limit = now + kCallTimeout;
            else if (now > limit)
                fail("%s: timed out waiting for the server", what);
        } else if (r == 0) {
            fail("%s: server closed the connection (%zu bytes missing)", what, n);
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            fail("%s: timed out waiting for the server", what);
        } else {
            fail("%s: recv: %s", what, std::strerror(errno));
        }
    }
}

} // namespace bench
