// SPDX-License-Identifier: MIT
// recv_counters: what one steady-state overlapped receive costs.
//
// 64 loopback TCP sockets, 8 overlapped 64-byte receives posted on each, all associated with
// one completion queue; a peer thread writes 64-byte messages round-robin into the 64 peer
// sockets (one blocking send(2) each). The receiving thread dequeues packets in batches and
// re-posts each receive at once. Measured, after a warm-up of 10,000 receives:
//   (a) allocations per receive: a counting global operator new (every variant), all threads;
//   (b) syscalls per receive: not counted here -- run under `strace -f -c`
//       (scripts/measure_syscalls.sh) and divide by receives_total, which this program prints
//       together with peer_sends (the peer thread's sendto calls, to subtract);
//   (c) receives per second in the steady-state window.
// Modes: default (the default engine, own completion thread) and --driven (an engine with
// own_thread = false run by the receiving thread through completion_queue::dequeue).
// Bounded: --receives N total (default 200,000) and 20 s of wall time. Only 127.0.0.1.
//
// Output:
//   counters: mode=default receives=N allocs_per_recv=X seconds=S rate=R/s
//   counters: mode=default receives_total=T peer_sends=P warmup=W allocs=A frees=F
//   bytes_allocated=B backend=...

#include "tests/support/os_pair.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <new>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

// ---- counting allocator ------------------------------------------------------------------------
namespace {

using sanport::test::tcp_pair;

std::atomic<std::uint64_t> g_allocs{0};
std::atomic<std::uint64_t> g_frees{0};
std::atomic<std::uint64_t> g_bytes{0};

void* counted_alloc(std::size_t n, std::size_t align, bool nothrow) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    g_bytes.fetch_add(n, std::memory_order_relaxed);
    if (n == 0) n = 1;
    void* p = nullptr;
    if (align <= alignof(std::max_align_t)) {
        p = std::malloc(n);
    } else {
        const std::size_t rounded = (n + align - 1) / align * align;
        p = std::aligned_alloc(align, rounded);
    }
    if (!p && !nothrow) throw std::bad_alloc();
    return p;
}

void counted_free(void* p) noexcept {
    if (!p) return;
    g_frees.fetch_add(1, std::memory_order_relaxed);
    std::free(p);
}

} // namespace

void* operator new(std::size_t n) {
    return counted_alloc(n, 0, false);
}
void* operator new[](std::size_t n) {
    return counted_alloc(n, 0, false);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n, 0, true);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return counted_alloc(n, 0, true);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return counted_alloc(n, static_cast<std::size_t>(a), false);
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return counted_alloc(n, static_cast<std::size_t>(a), false);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_alloc(n, static_cast<std::size_t>(a), true);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_alloc(n, static_cast<std::size_t>(a), true);
}
void operator delete(void* p) noexcept {
    counted_free(p);
}
void operator delete[](void* p) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    counted_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    counted_free(p);
}

// ---- the bench
// -----------------------------------------------------------------------------------
namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t socket_count = 64;
constexpr std::size_t posted_per_socket = 8;
constexpr std::size_t message_len = 64;
constexpr double wall_limit_s = 20.0;

struct receive {
    WSAOVERLAPPED ov{};
    char buf[message_len];
    WSABUF wsabuf{};
    std::size_t socket = 0;
};

int usage() {
    std::fprintf(stderr, "usage: recv_counters [--driven] [--receives N] [--warmup N]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    bool driven = false;
    std::uint64_t total_target = 200000;
    std::uint64_t warmup = 10000;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--driven")
            driven = true;
        else if (a == "--receives" && i + 1 < argc)
            total_target = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--warmup" && i + 1 < argc)
            warmup = std::strtoull(argv[++i], nullptr, 10);
        else
            return usage();
    }
    if (warmup >= total_target) return usage();
    const char* mode = driven ? "driven" : "default";

    std::unique_ptr<sanport::engine> own;
    if (driven) {
        sanport::engine_options eo;
        eo.own_thread = false;
        own = std::make_unique<sanport::engine>(eo);
    }
    sanport::engine& e = driven ? *own : sanport::default_engine();
    if (e.status() != 0) {
        std::fprintf(stderr, "recv_counters: engine did not start: %s\n", e.why().c_str());
        return 1;
    }

    std::vector<SOCKET> socks(socket_count, INVALID_SOCKET);
    std::vector<int> peers(socket_count, -1);
    auto recvs = std::make_unique<receive[]>(socket_count * posted_per_socket);
    int rc = 0;
    {
        sanport::completion_queue cq(e);
        for (std::size_t i = 0; i < socket_count; ++i) {
            int mine = -1;
            if (!tcp_pair(mine, peers[i])) {
                std::fprintf(stderr, "recv_counters: loopback pair failed: %s\n",
                             std::strerror(errno));
                return 1;
            }
            int err = 0;
            socks[i] = e.adopt(static_cast<SOCKET>(mine), WSA_FLAG_OVERLAPPED, &err);
            if (socks[i] == INVALID_SOCKET || cq.associate(socks[i], i) != 0) {
                std::fprintf(stderr, "recv_counters: adopt/associate failed: %s\n",
                             sanport::wsa_error_name(err));
                return 1;
            }
        }

        std::uint64_t received = 0;
        bool failed = false;
        auto post = [&](receive& r) {
            r.ov = WSAOVERLAPPED{};
            r.wsabuf = WSABUF{static_cast<ULONG>(message_len), r.buf};
            DWORD bytes = 0, flags = 0;
            int err = 0;
            const int prc = sanport::WSPRecv(socks[r.socket], &r.wsabuf, 1, &bytes, &flags, &r.ov,
                                             nullptr, nullptr, &err);
            if (prc != 0 && err != WSA_IO_PENDING) {
                std::fprintf(stderr, "recv_counters: WSPRecv failed: %s\n",
                             sanport::wsa_error_name(err));
                failed = true;
            }
        };
        for (std::size_t i = 0; i < socket_count * posted_per_socket; ++i) {
            recvs[i].socket = i / posted_per_socket;
            post(recvs[i]);
        }

        const steady::time_point t0 = steady::now();
        const steady::time_point deadline =
            t0 + std::chrono::seconds(static_cast<int>(wall_limit_s));
        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> peer_sends{0};
        // Bytes the peer may have in flight: enough to keep every posted receive busy, bounded
        // so the run ends with every sent message received.
        const std::uint64_t messages = total_target;
        std::thread peer([&] {
            char msg[message_len];
            std::memset(msg, 'm', sizeof msg);
            std::uint64_t sent = 0, calls = 0;
            std::size_t i = 0;
            while (sent < messages && !stop.load(std::memory_order_relaxed)) {
                std::size_t off = 0;
                while (off < message_len && !stop.load(std::memory_order_relaxed)) {
                    ++calls;
                    const ssize_t w = ::send(peers[i], msg + off, message_len - off, MSG_NOSIGNAL);
                    if (w > 0)
                        off += static_cast<std::size_t>(w);
                    else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                        stop.store(true);
                        break;
                    }
                }
                ++sent;
                i = (i + 1) % socket_count;
            }
            peer_sends.store(calls, std::memory_order_release);
        });

        std::uint64_t bytes_received = 0;
        std::uint64_t a0 = 0, f0 = 0, b0 = 0, r0 = 0;
        steady::time_point w0{};
        bool in_window = false;
        const std::uint64_t total_bytes = total_target * message_len;
        sanport::completion_entry batch[128];
        while (!failed && bytes_received < total_bytes && steady::now() < deadline) {
            const std::size_t n = cq.dequeue(batch, std::size(batch), 100);
            for (std::size_t k = 0; k < n; ++k) {
                receive& r = *reinterpret_cast<receive*>(batch[k].overlapped);
                if (batch[k].status != 0 || batch[k].bytes == 0) {
                    std::fprintf(stderr, "recv_counters: receive ended with %s, %u bytes\n",
                                 sanport::wsa_error_name(batch[k].status), batch[k].bytes);
                    failed = true;
                    break;
                }
                ++received;
                bytes_received += batch[k].bytes;
                post(r);
            }
            if (!in_window && received >= warmup) {
                in_window = true;
                w0 = steady::now();
                r0 = received;
                a0 = g_allocs.load();
                f0 = g_frees.load();
                b0 = g_bytes.load();
            }
        }
        const steady::time_point w1 = steady::now();
        const std::uint64_t a1 = g_allocs.load(), f1 = g_frees.load(), b1 = g_bytes.load();
        stop.store(true);
        peer.join();

        const std::uint64_t window = in_window ? received - r0 : 0;
        const double secs = in_window ? std::chrono::duration<double>(w1 - w0).count() : 0;
        const double per = window ? static_cast<double>(a1 - a0) / static_cast<double>(window) : 0;
        std::printf(
            "counters: mode=%s receives=%llu allocs_per_recv=%.4f seconds=%.3f rate=%.0f/s\n", mode,
            static_cast<unsigned long long>(window), per, secs, secs > 0 ? window / secs : 0.0);
        std::printf("counters: mode=%s receives_total=%llu peer_sends=%llu warmup=%llu allocs=%llu "
                    "frees=%llu "
                    "bytes_allocated=%llu backend=%s%s\n",
                    mode, static_cast<unsigned long long>(received),
                    static_cast<unsigned long long>(peer_sends.load()),
                    static_cast<unsigned long long>(warmup),
                    static_cast<unsigned long long>(a1 - a0),
                    static_cast<unsigned long long>(f1 - f0),
                    static_cast<unsigned long long>(b1 - b0), e.backend_name(),
                    bytes_received < total_bytes ? " INCOMPLETE(time limit or failure)" : "");
        std::fflush(stdout);
        if (failed || !in_window) rc = 1;

        for (SOCKET s : socks) {
            int err = 0;
            sanport::WSPCloseSocket(s, &err);
        }
        for (int p : peers)
            ::close(p);
    }
    return rc;
}
