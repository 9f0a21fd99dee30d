// SPDX-License-Identifier: MIT
// bench_memory (the counters pass): sanport's own memory per idle connection and per posted
// receive. Prints ONE JSON object on stdout; diagnostics on stderr.
// layering: internals because (a) takes sizeof of the core's and the backends' per-socket state
//
// (a) "structures": sizeof of what sanport keeps per socket (socket_state, the socket table's
//     slot, each backend's per-socket struct) and per posted receive (op: its header, then
//     16 B per WSABUF in the same allocation). Exact, but blind to malloc
//     overhead and to memory a library allocates behind our back (Asio's reactor state).
// (b) "measured": growth over many sockets, per backend, each backend in a forked child so that
//     sanport's process-wide recycled socket states (never freed) of one run cannot hide the
//     next run's growth. Two figures per step: RSS from /proc/self/statm (malloc_trim(0) is
//     called before every sample, so freed pages do not count) and live heap bytes from
//     mallinfo2 (exact for malloc'd memory, includes malloc's per-chunk overhead).
//     Each phase (idle, 1, 4 and 8 WSABUFs) runs in its own child too, on a fresh heap.
//     idle: 10,000 unconnected TCP sockets adopted into a driven engine.
//     posted: 4,000 loopback pairs, one receive (1 WSABUF of 64 B) posted on each server-side
//     socket; and 4,000 pairs each with 4 WSABUFs of 16 B, and with 8 of 8 B. Receive buffers
//     and WSAOVERLAPPEDs
//     are the caller's and are allocated before the baseline. Every socket is then closed,
//     which must complete every receive once with WSA_OPERATION_ABORTED: checked.
#include "backends/asio/asio_backend.hpp"
#include "backends/io_uring/uring_backend.hpp"
#include "core/socket_table.hpp"
#include "tests/support/os_pair.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace sanport::detail;

constexpr std::size_t idle_sockets = 10000;
constexpr std::size_t pairs = 4000;

struct sample {
    long long rss = 0, heap = 0;
};

sample take() {
    malloc_trim(0);
    sample s;
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    s.rss = static_cast<long long>(resident) * ::sysconf(_SC_PAGESIZE);
    s.heap = static_cast<long long>(mallinfo2().uordblks);
    return s;
}

std::string per(const sample& a, const sample& b, std::size_t n) {
    char out[128];
    std::snprintf(out, sizeof out, "{\"rss_bytes\": %.1f, \"heap_bytes\": %.1f}",
                  static_cast<double>(b.rss - a.rss) / static_cast<double>(n),
                  static_cast<double>(b.heap - a.heap) / static_cast<double>(n));
    return out;
}

std::string structures() {
    char out[2048];
    std::snprintf(
        out, sizeof out,
        "{\"socket_state\": %zu, \"socket_state_parts\": {\"mutex\": %zu, \"direction_x2\": %zu, "
        "\"io_request\": %zu, \"op_fifo\": %zu, "
        "\"extras_when_read_ahead_or_registration\": %zu, "
        "\"read_ahead_buffer\": \"0 unless read_ahead_bytes is set, then that many bytes\"}, "
        "\"socket_table_slot\": %zu, \"backend_socket\": {\"io_uring\": %zu, "
        "\"io_uring_parts\": {\"uring_scratch_x2\": %zu, \"msghdr_when_sendmsg_or_recvmsg\": %zu}, "
        "\"asio\": %zu, \"asio_parts\": {\"stream_descriptor\": %zu, \"receive_wait_slot\": %zu}, "
        "\"asio_reactor_descriptor_state\": null}, "
        "\"idle_total_io_uring\": %zu, \"idle_total_asio_without_reactor_state\": %zu, "
        "\"op\": %zu, \"op_parts\": {\"header\": %zu, \"bytes_per_wsabuf\": %zu}, "
        "\"region\": %zu, "
        "\"note\": \"asio_reactor_descriptor_state is allocated inside Boost.Asio (not reachable "
        "from a header); the measured asio figures include it. Ops are recycled per socket: a "
        "socket keeps its peak number of posted receives allocated until it is closed.\"}",
        sizeof(socket_state), sizeof(spin_mutex), 2 * sizeof(direction), sizeof(io_request),
        sizeof(op_fifo), sizeof(socket_extras), sizeof(std::atomic<socket_state*>),
        sizeof(uring_socket), 2 * sizeof(uring_scratch), sizeof(msghdr), sizeof(asio_socket),
        sizeof(asio_descriptor), sizeof(asio_handler_slot),
        sizeof(socket_state) + sizeof(std::atomic<socket_state*>) + sizeof(uring_socket),
        sizeof(socket_state) + sizeof(std::atomic<socket_state*>) + sizeof(asio_socket),
        sizeof(op) + sizeof(kernel_buffer), sizeof(op), sizeof(kernel_buffer), sizeof(region));
    return out;
}

// One posted-receive step: `pairs` new loopback pairs, a receive of `nbufs` WSABUFs posted on
// each adopted server side, growth per receive, then close all and check every abort.
bool posted_step(sanport::engine& e, sanport::completion_queue& cq, DWORD nbufs,
                 std::string& json) {
    std::vector<SOCKET> socks(pairs, INVALID_SOCKET);
    std::vector<int> peers(pairs, -1);
    std::vector<WSAOVERLAPPED> ovs(pairs);
    std::vector<char> data(pairs * 64, 1);
    std::vector<WSABUF> bufs(pairs * nbufs);
    for (std::size_t i = 0; i < bufs.size(); ++i)
        bufs[i] = WSABUF{64 / nbufs, data.data() + i * (64 / nbufs)};
    bool ok = true;
    int err = 0;
    for (std::size_t i = 0; i < pairs && ok; ++i) {
        int mine = -1;
        ok = sanport::test::tcp_pair(mine, peers[i]);
        if (ok) socks[i] = e.adopt(static_cast<SOCKET>(mine), WSA_FLAG_OVERLAPPED, &err);
        ok = ok && socks[i] != INVALID_SOCKET && cq.associate(socks[i], i) == 0;
    }
    if (!ok)
        std::fprintf(stderr, "bench_memory: pair/adopt failed at nbufs=%u: %s\n", nbufs,
                     std::strerror(errno));
    e.run_once(0);
    const sample before = take();
    std::size_t posted = 0;
    for (std::size_t i = 0; i < pairs && ok; ++i) {
        DWORD bytes = 0, flags = 0;
        const int rc = sanport::WSPRecv(socks[i], &bufs[i * nbufs], nbufs, &bytes, &flags, &ovs[i],
                                        nullptr, nullptr, &err);
        ok = rc == SOCKET_ERROR && err == WSA_IO_PENDING;
        posted += ok;
    }
    e.run_once(0); // the engine starts the kernel receives (io_uring: submits the SQEs)
    const sample after = take();
    json = per(before, after, pairs);
    for (SOCKET s : socks)
        if (s != INVALID_SOCKET) sanport::WSPCloseSocket(s, &err);
    const linger rst{1, 0}; // RST: no TIME_WAIT piles up over 4,000 pairs and repeated runs
    for (int p : peers) {
        if (p < 0) continue;
        ::setsockopt(p, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        ::close(p);
    }
    std::size_t aborted = 0, other = 0;
    sanport::completion_entry batch[256];
    for (int round = 0; round < 1000; ++round) {
        const std::size_t n = cq.dequeue(batch, std::size(batch), 0);
        if (n == 0) break;
        for (std::size_t k = 0; k < n; ++k)
            (batch[k].status == WSA_OPERATION_ABORTED ? aborted : other) += 1;
    }
    for (const WSAOVERLAPPED& ov : ovs)
        if (ov.Internal != static_cast<ULONG_PTR>(WSA_OPERATION_ABORTED)) ++other;
    char tail[160];
    std::snprintf(tail, sizeof tail,
                  ", \"posted\": %zu, \"aborted_packets\": %zu, \"other_results\": %zu, "
                  "\"abort_check\": %s}",
                  posted, aborted, other, ok && aborted == pairs && other == 0 ? "true" : "false");
    json.pop_back(); // reopen the object from per()
    json += tail;
    return ok && aborted == pairs && other == 0;
}

// One measured phase on one backend, in a fresh process: 0 = idle sockets, else a posted
// receive step with that many WSABUFs (a fresh heap, so RSS growth is not absorbed by holes
// that an earlier phase freed).
std::string measure(const char* backend, DWORD nbufs) {
    sanport::engine_options eo;
    eo.own_thread = false;
    eo.backend = backend;
    sanport::engine e(eo);
    if (e.status() != 0 || std::string(e.backend_name()) != backend)
        return "{\"error\": \"backend did not start\"}";
    sanport::completion_queue cq(e);
    e.run_once(0); // this thread drives the engine from now on
    std::string json;
    bool ok = true;
    if (nbufs != 0) {
        ok = posted_step(e, cq, nbufs, json);
        json.pop_back();
        json += ", \"pairs\": " + std::to_string(pairs);
    } else {
        std::vector<int> fds;
        for (std::size_t i = 0; i < idle_sockets; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) break;
            fds.push_back(fd);
        }
        std::vector<SOCKET> socks;
        socks.reserve(fds.size());
        const sample before = take();
        int err = 0;
        for (int fd : fds)
            socks.push_back(e.adopt(static_cast<SOCKET>(fd), WSA_FLAG_OVERLAPPED, &err));
        e.run_once(0);
        const sample after = take();
        std::size_t adopted = 0;
        for (SOCKET s : socks)
            adopted += s != INVALID_SOCKET;
        ok = adopted == idle_sockets;
        json = per(before, after, adopted);
        json.pop_back();
        json += ", \"sockets\": " + std::to_string(adopted);
        for (std::size_t i = 0; i < socks.size(); ++i) {
            if (socks[i] != INVALID_SOCKET)
                sanport::WSPCloseSocket(socks[i], &err);
            else
                ::close(fds[i]);
        }
    }
    return json + ", \"ok\": " + (ok ? "true" : "false") + "}";
}

// Runs measure(backend) in a child and returns its JSON (bounded: the child has 120 s).
std::string in_child(const char* backend, DWORD nbufs) {
    int fd[2];
    if (::pipe(fd) != 0) return "null";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fd[0]);
        ::alarm(120);
        const std::string out = measure(backend, nbufs);
        const bool wrote =
            ::write(fd[1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
        ::_exit(wrote ? 0 : 1);
    }
    ::close(fd[1]);
    std::string out;
    char chunk[4096];
    for (ssize_t n; pid > 0 && (n = ::read(fd[0], chunk, sizeof chunk)) > 0;)
        out.append(chunk, static_cast<std::size_t>(n));
    ::close(fd[0]);
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    if (pid <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty())
        return "{\"error\": \"child failed\"}";
    return out;
}

} // namespace

int main() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    std::string uring = "{", asio = "{";
    bool ok = true;
    for (DWORD nbufs : {0u, 1u, 4u, 8u}) {
        const char* key = nbufs == 0   ? "\"idle\": "
                          : nbufs == 1 ? ", \"posted_receive_1_wsabuf\": "
                          : nbufs == 4 ? ", \"posted_receive_4_wsabufs\": "
                                       : ", \"posted_receive_8_wsabufs\": ";
        for (auto [name, out] : {std::pair{"io_uring", &uring}, std::pair{"asio", &asio}}) {
            const std::string r = in_child(name, nbufs);
            ok = ok && r.find("\"ok\": true") != std::string::npos;
            *out += key + r;
        }
    }
    uring += "}";
    asio += "}";
    std::printf("{\"bench\": \"memory_footprint\", \"structures\": %s, \"measured\": {\"method\": "
                "\"growth / count; rss from /proc/self/statm after malloc_trim(0); heap = "
                "mallinfo2().uordblks\", \"io_uring\": %s, \"asio\": %s}, \"targets\": "
                "{\"idle_connection_bytes\": 256, \"posted_receive_bytes\": \"64 + 16 per "
                "WSABUF\"}}\n",
                structures().c_str(), uring.c_str(), asio.c_str());
    return ok ? 0 : 1;
}
