// SPDX-License-Identifier: MIT
// server_common: option parsing, listener, signals and sink reply shared by the benchmark
// servers. See server_common.hpp for why each helper exists.

#include "server_common.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace bench {
namespace {

const char* g_prog = "server";

bool usage(const char* why, const char* arg) {
    std::fprintf(stderr, "%s: %s%s%s\n", g_prog, why, arg ? ": " : "", arg ? arg : "");
    std::fprintf(stderr,
                 "usage: %s --port P --mode echo|sink [--buffer BYTES] [--posted K] "
                 "[--variant V] [--backend B] [--poll-ms MS] [--engine driven|thread]\n",
                 g_prog);
    return false;
}

bool parse_number(const std::string& s, long lo, long hi, long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtol(s.c_str(), &end, 10);
    return errno == 0 && end != s.c_str() && *end == '\0' && out >= lo && out <= hi;
}

} // namespace

bool parse_options(int argc, char** argv, options& out, const char* prog) {
    g_prog = prog;
    options o;
    bool have_mode = false;
    for (int i = 1; i < argc; ++i) {
        std::string name = argv[i];
        std::string value;
        if (name.rfind("--", 0) != 0) return usage("unexpected argument", argv[i]);
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        } else {
            if (i + 1 >= argc) return usage("missing value for", argv[i]);
            value = argv[++i];
        }
        long v = 0;
        if (name == "--port") {
            if (!parse_number(value, 0, 65535, v)) return usage("bad --port", value.c_str());
            o.port = static_cast<int>(v);
        } else if (name == "--mode") {
            if (value == "echo")
                o.mode = mode::echo;
            else if (value == "sink")
                o.mode = mode::sink;
            else
                return usage("--mode must be echo or sink, got", value.c_str());
            have_mode = true;
        } else if (name == "--buffer") {
            // At least 32 bytes: readv_fixed splits the buffer into 16 bytes + the rest.
            if (!parse_number(value, 32, 64L << 20, v)) return usage("bad --buffer", value.c_str());
            o.buffer = static_cast<std::size_t>(v);
        } else if (name == "--posted") {
            if (!parse_number(value, 1, 1024, v)) return usage("bad --posted", value.c_str());
            o.posted = static_cast<int>(v);
        } else if (name == "--variant") {
            o.variant = value;
        } else if (name == "--backend") {
            o.backend = value;
        } else if (name == "--poll-ms") {
            if (!parse_number(value, 1, 1000, v)) return usage("bad --poll-ms", value.c_str());
            o.poll_ms = static_cast<int>(v);
        } else if (name == "--engine") {
            if (value != "driven" && value != "thread")
                return usage("--engine must be driven or thread, got", value.c_str());
            o.engine_thread = value == "thread";
        } else {
            return usage("unknown option", name.c_str());
        }
    }
    if (!have_mode) return usage("--mode is required", nullptr);
    out = o;
    return true;
}

void fail(const char* fmt, ...) {
    std::fprintf(stderr, "%s: ", g_prog);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
    std::exit(1);
}

std::size_t raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) fail("getrlimit: %s", std::strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) fail("setrlimit: %s", std::strerror(errno));
    }
    // An "unlimited" hard limit still cannot exceed fs.nr_open; cap what callers size by.
    return rl.rlim_cur > (1u << 20) ? (1u << 20) : static_cast<std::size_t>(rl.rlim_cur);
}

int open_listener(int port, std::uint16_t& bound_port, bool nonblocking) {
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    int fd = socket(AF_INET, type, 0);
    auto error = [&](const char* step) {
        std::fprintf(stderr, "%s: %s (127.0.0.1:%d): %s\n", g_prog, step, port,
                     std::strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    };
    if (fd < 0) return error("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return error("SO_REUSEADDR");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return error("bind");
    if (listen(fd, SOMAXCONN) != 0) return error("listen"); // SOMAXCONN is 4096 here
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return error("getsockname");
    bound_port = ntohs(addr.sin_port);
    return fd;
}

void print_ready(unsigned port) {
    std::printf("ready %u\n", port);
    std::fflush(stdout);
}

sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) fail("pthread_sigmask failed");
    return set;
}

int make_stop_signalfd() {
    sigset_t set = block_stop_signals();
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) fail("signalfd: %s", std::strerror(errno));
    return fd;
}

void ignore_sigpipe() {
    std::signal(SIGPIPE, SIG_IGN);
}

void set_nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 && !is_peer_error(errno))
        fail("TCP_NODELAY: %s", std::strerror(errno));
}

void encode_sink_reply(unsigned char* out, std::uint64_t bytes, std::uint64_t receives) {
    std::memcpy(out, &bytes, 8);
    std::memcpy(out + 8, &receives, 8);
}

bool send_sink_reply(int fd, std::uint64_t bytes, std::uint64_t receives) {
    unsigned char reply[sink_reply_size];
    encode_sink_reply(reply, bytes, receives);
    std::size_t off = 0;
    // Bounded: at most ~10 waits of 100 ms. 16 bytes into a send buffer that the sink never
    // used before go out on the first send in practice.
    for (int tries = 0; off < sizeof reply && tries < 10;) {
        ssize_t n = send(fd, reply + off, sizeof reply - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            poll(&p, 1, 100);
            ++tries;
        } else {
            return false;
        }
    }
    return off == sizeof reply;
}

char* map_region(std::size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("mmap %zu bytes: %s", bytes, std::strerror(errno));
    return static_cast<char*>(p);
}

bool is_peer_error(int err) {
    return err == ECONNRESET || err == EPIPE || err == ECONNABORTED || err == ETIMEDOUT ||
           err == ENOTCONN || err == EHOSTUNREACH || err == ENETUNREACH;
}

} // namespace bench
