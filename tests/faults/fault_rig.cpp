// SPDX-License-Identifier: MIT
#include "tests/faults/fault_rig.hpp"

#include "tests/support/os_pair.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sanport::test {

namespace {

using clock_type = std::chrono::steady_clock;

// A code after which the stream is over: the connection failed.
bool is_final(int code) {
    return code == WSAECONNRESET || code == WSAECONNABORTED;
}

std::atomic<long> signals_handled{0};
extern "C" void on_storm_signal(int) {
    signals_handled.fetch_add(1, std::memory_order_relaxed);
}
} // namespace

signal_storm::signal_storm() : at_start_(signals_handled.load()) {
    struct sigaction action {};
    action.sa_handler = on_storm_signal; // no SA_RESTART: the kernel returns EINTR
    REQUIRE(::sigaction(SIGUSR1, &action, &before_) == 0);
    const pthread_t target = ::pthread_self();
    signaller_ = std::thread([this, target] {
        while (!stop_.load()) {
            ::pthread_kill(target, SIGUSR1);
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
    });
}

signal_storm::~signal_storm() {
    stop_ = true;
    signaller_.join();
    ::sigaction(SIGUSR1, &before_, nullptr);
}

long signal_storm::handled() const {
    return signals_handled.load() - at_start_;
}

void check_intact(const stream_outcome& o, std::size_t total) {
    CHECK_FALSE(o.timed_out);
    CHECK(o.bad_packets == 0);
    CHECK(o.missing_packets == 0);
    REQUIRE(o.got.size() == total);
    CHECK(o.got == pattern(total)); // nothing lost, duplicated or reordered
}

std::string recv_op::got() const {
    std::string all;
    std::size_t left = count();
    for (const WSABUF& b : bufs) {
        const std::size_t n = std::min<std::size_t>(left, b.len);
        all.append(b.buf, n);
        left -= n;
    }
    return all;
}

int stream_outcome::errors() const {
    int n = 0;
    for (const auto& [code, times] : codes)
        if (code != 0) n += times;
    return n;
}

int stream_outcome::times(int code) const {
    const auto at = codes.find(code);
    return at == codes.end() ? 0 : at->second;
}

fault_rig::fault_rig(std::unique_ptr<detail::backend> backend) : e(std::move(backend)) {
    e.run_once(0); // binds this thread as the engine thread
}

fault_rig::~fault_rig() {
    for (const auto& [s, fd] : peers_) {
        int err = 0;
        WSPCloseSocket(s, &err);
    }
    drive(20);
    for (const auto& [s, fd] : peers_)
        ::close(fd);
}

SOCKET fault_rig::open() {
    int mine = -1, other = -1;
    REQUIRE_MESSAGE(tcp_pair(mine, other), "loopback TCP pair: errno ", errno);
    int err = 0;
    const SOCKET s = e.adopt(static_cast<SOCKET>(mine), WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        ::close(mine);
        ::close(other);
    }
    REQUIRE_MESSAGE(s != INVALID_SOCKET, wsa_error_name(err));
    peers_[s] = other;
    REQUIRE(cq.associate(s, static_cast<ULONG_PTR>(s)) == 0);
    return s;
}

int fault_rig::peer(SOCKET s) const {
    return peers_.at(s);
}

void fault_rig::use_registered_arena(SOCKET s, std::size_t size) {
    arena_.assign(size, '\0');
    int err = 0;
    const HANDLE h =
        sanport::WSPRegisterMemory(s, arena_.data(), static_cast<DWORD>(size), MEM_READWRITE, &err);
    REQUIRE_MESSAGE(h != nullptr, "WSPRegisterMemory: " << wsa_error_name(err));
}

recv_op& fault_rig::post(SOCKET s, const std::vector<ULONG>& lens) {
    recv_op& op = *ops_.emplace_back(std::make_unique<recv_op>());
    std::size_t total = 0;
    for (ULONG n : lens)
        total += n;
    char* base = nullptr;
    if (!arena_.empty()) {
        if (arena_at_ + total > arena_.size()) arena_at_ = 0;
        base = arena_.data() + arena_at_;
        arena_at_ += total;
    } else {
        op.mem.assign(total, '\0');
        base = op.mem.data();
    }
    std::size_t at = 0;
    for (ULONG n : lens) {
        op.bufs.push_back(WSABUF{n, base + at});
        at += n;
    }
    op.rc = WSPRecv(s, op.bufs.data(), static_cast<DWORD>(op.bufs.size()), &op.bytes, &op.flags,
                    &op.ov, nullptr, nullptr, &op.err);
    return op;
}

void fault_rig::drive(int ms) {
    const auto deadline = clock_type::now() + std::chrono::milliseconds(ms);
    completion_entry batch[32];
    do {
        const std::size_t n = cq.dequeue(batch, 32, 5);
        for (std::size_t i = 0; i < n; ++i) {
            if (batch[i].overlapped != nullptr)
                ++reinterpret_cast<recv_op*>(batch[i].overlapped)->packets;
        }
    } while (clock_type::now() < deadline);
}

std::string fault_rig::send_through(SOCKET s, std::size_t total, int& code, int& packets) {
    const int fd = peer(s);
    std::string read;
    std::thread reader([fd, total, &read] { read = read_exactly(fd, total, 10000); });
    const std::string data = pattern(total);
    std::vector<WSABUF> bufs;
    const std::size_t part = total / 4 + 1;
    for (std::size_t at = 0; at < total; at += part)
        bufs.push_back(WSABUF{static_cast<ULONG>(std::min(part, total - at)),
                              const_cast<char*>(data.data() + at)});
    WSAOVERLAPPED ov{};
    DWORD bytes = 0;
    int err = 0;
    const int rc = WSPSend(s, bufs.data(), static_cast<DWORD>(bufs.size()), &bytes, 0, &ov, nullptr,
                           nullptr, &err);
    packets = 0;
    code = rc == 0 || err == WSA_IO_PENDING ? 0 : err;
    const auto deadline = clock_type::now() + std::chrono::seconds(10);
    completion_entry batch[32];
    while ((rc == 0 || err == WSA_IO_PENDING) && packets == 0 && clock_type::now() < deadline) {
        const std::size_t n = cq.dequeue(batch, 32, 20);
        for (std::size_t i = 0; i < n; ++i)
            if (batch[i].overlapped == &ov) ++packets;
    }
    if (packets != 0) {
        code = static_cast<int>(ov.OffsetHigh);
    } else if (rc == 0 || err == WSA_IO_PENDING) {
        // It never finished: close the socket, so it completes (aborted) before ov goes away.
        code = WSAETIMEDOUT;
        int ignored = 0;
        WSPCloseSocket(s, &ignored);
        for (int i = 0; i < 400 && packets == 0; ++i) {
            const std::size_t n = cq.dequeue(batch, 32, 5);
            for (std::size_t j = 0; j < n; ++j)
                if (batch[j].overlapped == &ov) ++packets;
        }
        packets = 0; // not the send's own completion
    }
    const std::size_t n = cq.dequeue(batch, 32, 20); // a second packet would be a bug
    for (std::size_t i = 0; i < n; ++i)
        if (batch[i].overlapped == &ov) ++packets;
    if (code != 0) ::shutdown(fd, SHUT_RDWR); // not every byte will come: free the reader
    reader.join();
    return read;
}

stream_outcome fault_rig::stream(SOCKET s, std::size_t total, std::uint32_t seed, int depth,
                                 std::uint32_t chunk_max, int pause_us) {
    stream_outcome out;
    const int fd = peer(s);
    std::thread sender([fd, total, chunk_max, pause_us, seed] {
        rng chunks(seed ^ 0x5eedu);
        for (std::size_t at = 0; at < total;) {
            const std::size_t n = std::min<std::size_t>(total - at, 1 + chunks.below(chunk_max));
            if (!try_send_all(fd, pattern(n, at))) return; // shut down by the check: it gave up
            at += n;
            if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
        }
    });
    rng shapes(seed);
    std::deque<recv_op*> pending; // queued a packet that has not come yet, in posting order
    bool ended = false;
    auto settle = [&](recv_op& op) {
        const int code = op.code();
        ++out.codes[code];
        if (code == 0)
            out.got += op.got();
        else if (is_final(code))
            ended = true;
    };
    auto take_packets = [&](int wait_ms) {
        completion_entry batch[32];
        const std::size_t n = cq.dequeue(batch, 32, static_cast<DWORD>(wait_ms));
        for (std::size_t i = 0; i < n; ++i) {
            auto* op = reinterpret_cast<recv_op*>(batch[i].overlapped);
            if (op == nullptr) continue;
            ++op->packets;
            const auto at = std::find(pending.begin(), pending.end(), op);
            if (at == pending.end()) { // a second packet, or one for a failed post
                ++out.bad_packets;
                continue;
            }
            if (at != pending.begin()) ++out.bad_packets; // out of posting order
            pending.erase(at);
            settle(*op);
        }
    };
    const auto deadline = clock_type::now() + std::chrono::seconds(10);
    while (!ended && out.got.size() < total) {
        if (clock_type::now() >= deadline) {
            out.timed_out = true;
            break;
        }
        while (!ended && static_cast<int>(pending.size()) < depth) {
            std::vector<ULONG> lens(1 + shapes.below(4));
            for (ULONG& n : lens)
                n = 1 + shapes.below(2048);
            recv_op& op = post(s, lens);
            ++out.receives;
            if (op.queued_packet())
                pending.push_back(&op);
            else
                settle(op);
        }
        take_packets(20);
    }
    if (ended || out.timed_out) ::shutdown(fd, SHUT_RDWR); // unblock the sender
    sender.join();
    // What is still posted completes once: with the failure, or with bytes past `total` (none
    // are sent), or it stays pending and the rig's close aborts it.
    const auto drain_until = clock_type::now() + std::chrono::milliseconds(ended ? 2000 : 50);
    while (clock_type::now() < drain_until && (!ended || !pending.empty()))
        take_packets(5);
    if (ended) out.missing_packets = static_cast<int>(pending.size());
    return out;
}

} // namespace sanport::test
