// SPDX-License-Identifier: MIT
// recv_immediate (workload (f), bench/README.md): the cost of ONE overlapped WSPRecv of 64 bytes
// that completes at once because the bytes are already queued on a loopback TCP socket.
//
// Timed per iteration, the way a server sees it: post WSPRecv, then obtain the completion. The
// server here is the tuned IOCP pattern on a driven engine (own_thread = false): the socket is
// associated with skip_on_success (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS), so a 0 return is the
// completion; WSA_IO_PENDING is followed by completion_queue::dequeue with timeout 0 (the
// server knows work is there; dequeue runs the engine itself: one io_uring_enter that submits
// the RECV and reaps its CQE). We do not use run_once + WSPGetOverlappedResult: a server with
// thousands of sockets learns of completions from the queue, not by polling each WSAOVERLAPPED.
//
// Data stays queued without timing the sender: the peer writes up to 256 KiB of 64-byte
// messages (non-blocking, big socket buffers), and under PauseTiming refills when fewer than
// 64 bytes are known to be ready. Every receive is checked: exactly 64 bytes, right content.
// References in the same binary: recv(2) of 64 B, recvmsg(2) with 16 + 48 B iovecs, and a raw
// liburing RECV on a SINGLE_ISSUER|DEFER_TASKRUN ring (what a hand-written server pays).
// layering: internals because the registered case reports whether the region got a kernel
// fixed buffer, which only the socket's registry knows
#include "core/socket_table.hpp"
#include "tests/support/os_pair.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <liburing.h>

#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <linux/sockios.h>
#include <memory>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

constexpr std::size_t msg_len = 64;
constexpr std::size_t pattern_msgs = 4096;
constexpr std::size_t pattern_len = pattern_msgs * msg_len; // 256 KiB, also the refill target
constexpr int socket_buffer = 2 << 20;

// The byte stream the peer sends: message k (k mod 4096) = 8-byte k, then a k-derived fill.
const char* pattern() {
    static const std::unique_ptr<char[]> p = [] {
        auto b = std::make_unique<char[]>(pattern_len);
        for (std::size_t k = 0; k < pattern_msgs; ++k) {
            char* m = b.get() + k * msg_len;
            const std::uint64_t seq = k;
            std::memcpy(m, &seq, sizeof seq);
            for (std::size_t j = sizeof seq; j < msg_len; ++j)
                m[j] = static_cast<char>((k * 7 + j) & 0xff);
        }
        return b;
    }();
    return p.get();
}

// One loopback pair: `mine` is received from (by sanport or by the syscall references), `peer`
// writes. Tracks bytes written and consumed so that readiness needs no syscall per receive.
struct feed {
    int mine = -1, peer = -1;
    std::uint64_t written = 0, consumed = 0;
    std::uint64_t ready = 0; // bytes known to be receivable without waiting

    bool open() {
        if (!sanport::test::tcp_pair(mine, peer)) return false;
        return ::setsockopt(mine, SOL_SOCKET, SO_RCVBUF, &socket_buffer, sizeof socket_buffer) ==
                   0 &&
               ::setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &socket_buffer, sizeof socket_buffer) == 0;
    }
    // Called with timing paused. Tops the stream up to 256 KiB outstanding, then waits (bounded,
    // 2 s) until at least one message is past the peer's send queue, i.e. in the receiver's.
    bool refill() {
        while (written - consumed < pattern_len) {
            const std::size_t off = written % pattern_len;
            const std::size_t want =
                std::min(pattern_len - off, pattern_len - (written - consumed));
            const ssize_t n = ::send(peer, pattern() + off, want, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n <= 0) break; // send buffer full: what is in flight will do
            written += static_cast<std::uint64_t>(n);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        do {
            int unsent = 0;
            if (::ioctl(peer, SIOCOUTQNSD, &unsent) != 0) return false;
            ready = written - consumed - static_cast<std::uint64_t>(unsent);
            if (ready >= msg_len) return true;
            ::poll(nullptr, 0, 1);
        } while (std::chrono::steady_clock::now() < deadline);
        return false;
    }
    const char* expected() const { return pattern() + consumed % pattern_len; }
    void consume() {
        consumed += msg_len;
        ready -= msg_len;
    }
    void close() {
        if (peer >= 0) ::close(peer);
        peer = -1;
    }
};

// Refills the receiver outside the timed region when fewer than one message is queued.
bool keep_fed(benchmark::State& state, feed& f) {
    if (f.ready >= msg_len) return true;
    state.PauseTiming();
    const bool ok = f.refill();
    state.ResumeTiming();
    if (!ok) state.SkipWithError("refill: no data reached the receiver");
    return ok;
}

// Receive buffers: 1 x 64 B, or 16 B + 48 B apart (a real gather), inside one page that the
// registered variants register as a whole.
struct buffers {
    alignas(4096) char page[4096];
    WSABUF wsa[2];
    DWORD count = 1;
    explicit buffers(int n) : count(static_cast<DWORD>(n)) {
        if (n == 1) {
            wsa[0] = WSABUF{64, page};
        } else {
            wsa[0] = WSABUF{16, page};
            wsa[1] = WSABUF{48, page + 128};
        }
    }
    bool matches(const char* want) const {
        if (count == 1) return std::memcmp(wsa[0].buf, want, 64) == 0;
        return std::memcmp(wsa[0].buf, want, 16) == 0 &&
               std::memcmp(wsa[1].buf, want + 16, 48) == 0;
    }
};

struct config {
    int nbufs;
    bool registered;
    bool read_ahead;
    const char* backend;
};

void bm_wsprecv(benchmark::State& state, config c) {
    sanport::engine_options eo;
    eo.own_thread = false;
    eo.backend = c.backend;
    sanport::engine e(eo);
    if (e.status() != 0 || std::strcmp(e.backend_name(), c.backend) != 0)
        return state.SkipWithError(("engine: " + e.why()).c_str());
    sanport::completion_queue cq(e);
    feed f;
    if (!f.open()) return state.SkipWithError("loopback pair failed");
    int err = 0;
    const SOCKET s = e.adopt(static_cast<SOCKET>(f.mine), WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        f.close();
        ::close(f.mine);
        return state.SkipWithError("adopt failed");
    }
    auto buf = std::make_unique<buffers>(c.nbufs);
    sanport::completion_entry entry;
    // This thread built the engine, so it owns it; the first dequeue binds it as the driver, so
    // WSPRecv starts kernel work itself (no hand-off) and post_command (registration) runs
    // inline.
    bool ok = cq.associate(s, 1, true) == 0 && cq.dequeue(&entry, 1, 0) == 0;
    if (ok && c.read_ahead)
        ok = sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, 65536, &err) == 0;
    if (ok && c.registered)
        ok = sanport::WSPRegisterMemory(s, buf->page, sizeof buf->page, MEM_WRITE, &err) != nullptr;
    if (ok && c.registered) {
        // Say whether the region went live as a kernel fixed buffer (READ_FIXED/READV_FIXED).
        sanport::detail::socket_ref ref = sanport::detail::socket_table::instance().find(s);
        std::lock_guard lock(ref->mutex);
        state.counters["fixed"] =
            ref->extras &&
            ref->extras->regions.check(buf->wsa, buf->count, MEM_WRITE, false).fixed_slot >= 0;
    }
    if (!ok) {
        state.SkipWithError("set-up (associate, mode, registration) failed");
        sanport::WSPCloseSocket(s, &err);
        return f.close();
    }
    WSAOVERLAPPED ov{};
    for (auto _ : state) {
        if (!keep_fed(state, f)) break;
        DWORD bytes = 0, flags = 0;
        const int rc =
            sanport::WSPRecv(s, buf->wsa, buf->count, &bytes, &flags, &ov, nullptr, nullptr, &err);
        if (rc != 0) {
            if (err != WSA_IO_PENDING) {
                state.SkipWithError("WSPRecv failed");
                break;
            }
            std::size_t got = cq.dequeue(&entry, 1, 0);
            if (got == 0) got = cq.dequeue(&entry, 1, 2000); // not expected: data is queued
            if (got == 0 || entry.overlapped != &ov || entry.status != 0) {
                state.SkipWithError("no completion, or a failed one");
                break;
            }
            bytes = entry.bytes;
        }
        if (bytes != msg_len || !buf->matches(f.expected())) {
            state.SkipWithError("receive: wrong length or content");
            break;
        }
        f.consume();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    sanport::WSPCloseSocket(s, &err);
    f.close();
}

// The syscall references: the same feed and checks, the socket read directly.
template <int NIov> void bm_syscall(benchmark::State& state) {
    feed f;
    if (!f.open()) return state.SkipWithError("loopback pair failed");
    auto buf = std::make_unique<buffers>(NIov);
    iovec iov[2];
    for (int i = 0; i < NIov; ++i)
        iov[i] = iovec{buf->wsa[i].buf, buf->wsa[i].len};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = NIov;
    for (auto _ : state) {
        if (!keep_fed(state, f)) break;
        const ssize_t n =
            NIov == 1 ? ::recv(f.mine, iov[0].iov_base, msg_len, 0) : ::recvmsg(f.mine, &msg, 0);
        if (n != static_cast<ssize_t>(msg_len) || !buf->matches(f.expected())) {
            state.SkipWithError("receive: wrong length or content");
            break;
        }
        f.consume();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    f.close();
    ::close(f.mine);
}

// What a tuned hand-written server pays for the same receive (the "raw liburing" reference):
// SINGLE_ISSUER|DEFER_TASKRUN ring, one RECV SQE, one io_uring_enter that submits and reaps.
void bm_uring_raw(benchmark::State& state) {
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (io_uring_queue_init_params(64, &ring, &p) != 0)
        return state.SkipWithError("io_uring_queue_init_params refused");
    feed f;
    if (!f.open()) {
        io_uring_queue_exit(&ring);
        return state.SkipWithError("loopback pair failed");
    }
    auto buf = std::make_unique<buffers>(1);
    for (auto _ : state) {
        if (!keep_fed(state, f)) break;
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        io_uring_prep_recv(sqe, f.mine, buf->page, msg_len, 0);
        io_uring_submit_and_get_events(&ring);
        io_uring_cqe* cqe = nullptr;
        int res = -1;
        if (io_uring_peek_cqe(&ring, &cqe) == 0 || io_uring_wait_cqe(&ring, &cqe) == 0) {
            res = cqe->res;
            io_uring_cqe_seen(&ring, cqe);
        }
        if (res != static_cast<int>(msg_len) || !buf->matches(f.expected())) {
            state.SkipWithError("receive: wrong length or content");
            break;
        }
        f.consume();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    f.close();
    ::close(f.mine);
    io_uring_queue_exit(&ring);
}

} // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RegisterBenchmark("BM_recv_syscall", bm_syscall<1>);
    benchmark::RegisterBenchmark("BM_recvmsg_2iov", bm_syscall<2>);
    benchmark::RegisterBenchmark("BM_io_uring_recv_raw", bm_uring_raw);
    for (const char* backend : {"io_uring", "asio"}) {
        for (int nbufs : {1, 2}) {
            for (bool reg : {false, true}) {
                const std::string name = "BM_WSPRecv/buffers:" + std::to_string(nbufs) +
                                         "/registered:" + (reg ? "1" : "0") + "/backend:" + backend;
                benchmark::RegisterBenchmark(name.c_str(), bm_wsprecv,
                                             config{nbufs, reg, false, backend});
            }
        }
        for (int nbufs : {1, 2}) {
            const std::string name =
                "BM_WSPRecv_read_ahead/buffers:" + std::to_string(nbufs) + "/backend:" + backend;
            benchmark::RegisterBenchmark(name.c_str(), bm_wsprecv,
                                         config{nbufs, false, true, backend});
        }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
