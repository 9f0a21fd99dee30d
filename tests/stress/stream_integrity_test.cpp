// SPDX-License-Identifier: MIT
// Stress, recv.posting-order and recv.scatter.order (docs/contract.md §4): a sender
// thread writes a deterministic pseudo-random stream over loopback TCP in random segments
// (1..8192 bytes, occasional short pauses) while the sanport side keeps 256 overlapped
// receives posted per socket, each with a random scatter array (1..8 entries of 1..4096 bytes,
// some zero-length, the entries laid out backwards in memory with gaps), re-posting as the
// completion queue reports them. The receives, concatenated in POSTING order, must be exactly
// the sent stream (every byte compared, plus a position-sensitive checksum and the byte count),
// each entry filled before the next gets a byte. At least 100,000 receives per test case,
// bounded at 20 s of wall time. Variants: the default engine (own completion thread, 4 sockets
// in parallel), a driven engine (own_thread = false, everything on the test thread) and
// receive buffers inside a region registered with WSPRegisterMemory(MEM_READ | MEM_WRITE).
//
// Plain POSIX for the peer side (tests/support only for the pair, checksum and rng); only
// 127.0.0.1 is used.

#include "tests/support/checksum.hpp"
#include "tests/support/os_pair.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace sanport;

namespace {

using sanport::test::tcp_pair;

using steady = std::chrono::steady_clock;

constexpr double wall_limit_s = 20.0; // the whole test case, or it fails
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer runs this 5-10 times slower and is here to find races, not to move volume:
// a quarter of the receives keeps the case well inside its wall limit on a loaded machine.
constexpr std::uint64_t receive_target = 25000;
#else
constexpr std::uint64_t receive_target = 100000; // data-bearing receives per test case
#endif
constexpr std::size_t posted_per_socket = 256;
constexpr std::uint32_t max_entries = 8;
constexpr std::uint32_t max_entry_len = 4096;
constexpr std::size_t slot_bytes = 16384; // room per receive (entries + gaps)
constexpr unsigned char sentinel = 0xA5;  // pre-filled into every entry before posting

double seconds_since(steady::time_point t0) {
    return std::chrono::duration<double>(steady::now() - t0).count();
}

using sanport::test::rng;

// ---- the stream ------------------------------------------------------------------------------
// Byte i of the (endless) stream is table[(i % P + (i / P) * 7919) % P] for a prime P: every lap
// of the table is rotated differently, so a lost or repeated piece of any length shows, and
// producing or checking a piece is a few memcpy/memcmp runs (fast even in a Debug build).
constexpr std::size_t table_len = 1048573; // prime

const unsigned char* stream_table() {
    static const std::vector<unsigned char> table = [] {
        std::vector<unsigned char> t(table_len);
        rng r(20240611);
        for (std::size_t i = 0; i < t.size(); i += 8) {
            const std::uint64_t w = r.next();
            for (std::size_t k = 0; k < 8 && i + k < t.size(); ++k)
                t[i + k] = static_cast<unsigned char>(w >> (8 * k));
        }
        return t;
    }();
    return table.data();
}

// The longest contiguous run of stream bytes starting at `offset`, at most `want` long.
const unsigned char* stream_run(std::uint64_t offset, std::size_t want, std::size_t& len) {
    const std::uint64_t lap = offset / table_len;
    const std::size_t in_lap = static_cast<std::size_t>(offset % table_len);
    const std::size_t index = static_cast<std::size_t>((in_lap + lap * 7919) % table_len);
    len = std::min({want, table_len - index, table_len - in_lap});
    return stream_table() + index;
}

void stream_copy(std::uint64_t offset, char* out, std::size_t n) {
    while (n) {
        std::size_t len = 0;
        const unsigned char* p = stream_run(offset, n, len);
        std::memcpy(out, p, len);
        out += len;
        offset += len;
        n -= len;
    }
}

bool stream_equal(std::uint64_t offset, const char* data, std::size_t n) {
    while (n) {
        std::size_t len = 0;
        const unsigned char* p = stream_run(offset, n, len);
        if (std::memcmp(p, data, len) != 0) return false;
        data += len;
        offset += len;
        n -= len;
    }
    return true;
}

unsigned char stream_byte(std::uint64_t offset) {
    std::size_t len = 0;
    return *stream_run(offset, 1, len);
}

using sanport::test::checksum; // tests/support/checksum.hpp

// ---- loopback plumbing (plain POSIX) ---------------------------------------------------------

// ---- one receive and one socket ------------------------------------------------------------

struct slot {
    WSAOVERLAPPED ov{}; // first member: the packet's overlapped pointer is the slot
    WSABUF bufs[max_entries]{};
    DWORD count = 0;
    std::size_t capacity = 0;
    char* storage = nullptr; // slot_bytes of room
    bool posted = false;
    bool done = false;
    bool immediate = false;
    DWORD immediate_bytes = 0;
    DWORD bytes = 0;
    int status = 0;
};

struct options {
    const char* name = "default";
    std::size_t sockets = 4;
    bool driven = false; // engine{own_thread = false}, run by the test thread's dequeue
    bool registered =
        false; // receive buffers inside a WSPRegisterMemory(MEM_READ|MEM_WRITE) region
    bool skip_on_success = false;
};

struct stream_socket {
    std::size_t index = 0;
    SOCKET s = INVALID_SOCKET;
    int peer = -1;
    std::uint64_t base = 0; // where this socket's stream starts in the endless stream
    char* arena = nullptr;  // posted_per_socket * slot_bytes, page aligned
    HANDLE region = nullptr;
    std::vector<slot> slots;
    std::deque<slot*> order; // posted receives in posting order
    rng shapes{0};

    // receiver side (test thread only)
    std::uint64_t verified = 0;
    std::uint64_t receives = 0;      // completions verified, any size
    std::uint64_t data_receives = 0; // of them with bytes > 0
    std::uint64_t zero_byte_receives = 0;
    std::uint64_t immediates = 0;
    checksum received_sum;
    bool eof = false;

    // sender side
    std::thread sender;
    std::atomic<bool> sender_done{false};
    std::atomic<bool> sender_failed{false};
    std::uint64_t sent = 0; // published by sender_done (release)
    checksum sent_sum;
    std::string sender_error;

    ~stream_socket() { std::free(arena); }
};

struct shared_flags {
    std::atomic<bool> stop_sending{false}; // enough receives: senders finish and send FIN
    std::atomic<bool> abort{false};        // failure: senders leave at once
    steady::time_point deadline;
};

void sender_main(stream_socket& ss, shared_flags& flags) {
    rng r(0x5EED0000 + ss.index);
    std::vector<char> buf(8192);
    std::uint64_t off = 0;
    checksum sum;
    while (!flags.stop_sending.load(std::memory_order_acquire) &&
           !flags.abort.load(std::memory_order_acquire) && steady::now() < flags.deadline) {
        const std::size_t n = 1 + r.below(8192);
        stream_copy(ss.base + off, buf.data(), n);
        std::size_t done = 0;
        while (done < n) {
            const ssize_t w =
                ::send(ss.peer, buf.data() + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                done += static_cast<std::size_t>(w);
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (flags.abort.load(std::memory_order_acquire) || steady::now() >= flags.deadline)
                    break;
                pollfd p{ss.peer, POLLOUT, 0};
                ::poll(&p, 1, 20);
                continue;
            }
            ss.sender_error = std::string("send: ") + std::strerror(errno);
            ss.sender_failed.store(true, std::memory_order_release);
            break;
        }
        sum.add(buf.data(), done);
        off += done;
        if (done < n) break;
        if (r.below(512) == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(50 + r.below(400)));
    }
    ss.sent = off;
    ss.sent_sum = sum;
    ss.sender_done.store(true, std::memory_order_release);
    ::shutdown(ss.peer, SHUT_WR); // FIN after the last byte: the receives then see stream end
}

// Entry lengths: an exponent 0..12, then uniform below 2^e -- mostly short entries, so 100,000
// receives need ~150 MB rather than ~1 GB, but every length 1..4096 occurs.
std::uint32_t random_len(rng& r) {
    return 1 + r.below(1u << r.below(13));
}

class receiver {
public:
    receiver(const options& o, std::vector<std::unique_ptr<stream_socket>>& socks,
             completion_queue& cq)
        : opt_(o), socks_(socks), cq_(cq) {}

    std::string error; // the first failure

    void fail(const std::string& what) {
        if (error.empty()) error = what;
    }

    void post(stream_socket& ss, slot& sl) {
        rng& r = ss.shapes;
        // Mostly 1..8 entries with random lengths and a few zero-length ones; 1 in 128 is a
        // zero-byte receive (all entries empty), which must complete with 0 bytes and consume
        // nothing.
        const bool zero_byte = r.below(128) == 0;
        sl.count = 1 + r.below(max_entries);
        std::uint32_t lens[max_entries];
        std::size_t room = slot_bytes - 16 * max_entries; // gaps take at most 15 each
        sl.capacity = 0;
        for (DWORD i = 0; i < sl.count; ++i) {
            std::uint32_t len = (zero_byte || r.below(12) == 0) ? 0 : random_len(r);
            len = static_cast<std::uint32_t>(std::min<std::size_t>(len, room));
            room -= len;
            lens[i] = len;
            sl.capacity += len;
        }
        if (!zero_byte && sl.capacity == 0) { // at least one byte of room unless on purpose
            lens[0] = 1;
            sl.capacity = 1;
        }
        // Entries backwards in memory with gaps: a core that treated the array as one buffer
        // would be caught.
        std::size_t cursor = slot_bytes;
        for (DWORD i = 0; i < sl.count; ++i) {
            cursor -= lens[i] + r.below(16);
            char* p = sl.storage + cursor;
            if (lens[i] == 0 && r.below(2) == 0) p = nullptr; // allowed for an empty entry
            sl.bufs[i].buf = p;
            sl.bufs[i].len = lens[i];
            if (lens[i]) std::memset(p, sentinel, lens[i]);
        }
        sl.ov = WSAOVERLAPPED{};
        sl.done = false;
        sl.immediate = false;
        sl.posted = true;
        DWORD bytes = 0xB0B0B0B0u, flags = 0;
        int err = 0;
        // A scratch copy of the array, wiped after the call: the core must have captured it.
        WSABUF scratch[max_entries];
        std::memcpy(scratch, sl.bufs, sizeof(WSABUF) * sl.count);
        const int rc =
            WSPRecv(ss.s, scratch, sl.count, &bytes, &flags, &sl.ov, nullptr, nullptr, &err);
        std::memset(scratch, 0xEE, sizeof scratch);
        ss.order.push_back(&sl);
        if (rc == 0) {
            ++ss.immediates;
            sl.immediate = true;
            sl.immediate_bytes = bytes;
            const ULONG_PTR internal =
                std::atomic_ref<ULONG_PTR>(sl.ov.Internal).load(std::memory_order_acquire);
            if (internal == static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS))
                fail("WSPRecv returned 0 but Internal is still WSS_OPERATION_IN_PROGRESS");
            if (sl.ov.InternalHigh != bytes)
                fail("WSPRecv returned 0 with a count unlike InternalHigh");
            if (opt_.skip_on_success) { // no packet will come: it is done now
                sl.done = true;
                sl.bytes = bytes;
                sl.status = static_cast<int>(sl.ov.OffsetHigh);
            }
            return;
        }
        if (err != WSA_IO_PENDING) {
            fail(std::string("WSPRecv failed at the call with ") + wsa_error_name(err) +
                 " on socket " + std::to_string(ss.index));
            sl.posted = false;
            ss.order.pop_back();
        }
    }

    void on_packet(const completion_entry& e) {
        if (e.key >= socks_.size())
            return fail("packet with an unknown key " + std::to_string(e.key));
        stream_socket& ss = *socks_[e.key];
        slot* sl = reinterpret_cast<slot*>(e.overlapped);
        if (!sl || sl < ss.slots.data() || sl >= ss.slots.data() + ss.slots.size())
            return fail("packet for an overlapped that is not one of the socket's receives");
        if (!sl->posted || sl->done)
            return fail("second completion (or one never posted) for receive slot " +
                        std::to_string(sl - ss.slots.data()) + " of socket " +
                        std::to_string(ss.index));
        const ULONG_PTR internal =
            std::atomic_ref<ULONG_PTR>(sl->ov.Internal).load(std::memory_order_acquire);
        if (internal == static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS))
            return fail("packet while Internal is still WSS_OPERATION_IN_PROGRESS");
        if (sl->ov.InternalHigh != e.bytes) return fail("packet bytes differ from InternalHigh");
        if (static_cast<int>(sl->ov.OffsetHigh) != e.status)
            return fail("packet status differs from OffsetHigh");
        if (sl->immediate && sl->immediate_bytes != e.bytes)
            return fail("packet bytes differ from the immediate count");
        sl->done = true;
        sl->bytes = e.bytes;
        sl->status = e.status;
        advance(ss);
    }

    // Verifies and re-posts receives at the head of the posting order while they are done.
    void advance(stream_socket& ss) {
        while (error.empty() && !ss.order.empty() && ss.order.front()->done) {
            slot& sl = *ss.order.front();
            ss.order.pop_front();
            sl.posted = false;
            verify(ss, sl);
            if (!ss.eof && error.empty()) post(ss, sl);
        }
    }

    void verify(stream_socket& ss, slot& sl) {
        ++ss.receives;
        if (sl.status != 0)
            return fail(std::string("receive failed with ") + wsa_error_name(sl.status) +
                        " on socket " + std::to_string(ss.index) + " after " +
                        std::to_string(ss.verified) + " bytes");
        if (sl.bytes > sl.capacity) return fail("receive reports more bytes than its buffers hold");
        if (sl.bytes == 0) {
            if (sl.capacity == 0) {
                ++ss.zero_byte_receives;
                return;
            }
            if (!ss.eof) {
                ss.eof = true;
                if (!ss.sender_done.load(std::memory_order_acquire))
                    return fail("stream end reported while the sender is still sending, socket " +
                                std::to_string(ss.index) + " after " + std::to_string(ss.verified) +
                                " bytes");
                if (ss.verified != ss.sent)
                    return fail("stream end after " + std::to_string(ss.verified) + " of " +
                                std::to_string(ss.sent) + " bytes, socket " +
                                std::to_string(ss.index));
                if (!(ss.received_sum == ss.sent_sum))
                    return fail("checksum of the received stream differs");
            }
            return;
        }
        if (ss.eof) return fail("data after the stream end");
        ++ss.data_receives;
        DWORD left = sl.bytes;
        for (DWORD i = 0; i < sl.count; ++i) {
            const WSABUF& b = sl.bufs[i];
            if (b.len == 0) continue;
            const DWORD take = std::min<DWORD>(left, b.len);
            if (take && !stream_equal(ss.base + ss.verified, b.buf, take))
                return fail("bytes differ from the stream at offset " +
                            std::to_string(ss.verified) + " (socket " + std::to_string(ss.index) +
                            ", entry " + std::to_string(i) + " of " + std::to_string(sl.count) +
                            ")");
            ss.received_sum.add(b.buf, take);
            ss.verified += take;
            left -= take;
            // The first byte past what was reported must be untouched (unless the next stream
            // byte happens to equal the sentinel, which proves nothing either way).
            if (take < b.len && static_cast<unsigned char>(b.buf[take]) != sentinel &&
                stream_byte(ss.base + ss.verified) != sentinel)
                return fail("a byte beyond the reported count was written (entry " +
                            std::to_string(i) + ")");
        }
    }

    // Posts the first round, then dequeues until every stream ended and every receive is back.
    void run(steady::time_point deadline, std::uint64_t target, shared_flags& flags) {
        for (auto& ss : socks_)
            for (slot& sl : ss->slots)
                if (error.empty()) post(*ss, sl);
        for (auto& ss : socks_)
            advance(*ss); // skip_on_success immediates
        completion_entry batch[64];
        while (error.empty()) {
            bool finished = true;
            std::uint64_t total = 0;
            for (auto& ss : socks_) {
                finished = finished && ss->eof && ss->order.empty();
                total += ss->data_receives;
                if (ss->sender_failed.load(std::memory_order_acquire))
                    fail("sender: " + ss->sender_error);
            }
            if (finished) break;
            if (total >= target) flags.stop_sending.store(true, std::memory_order_release);
            if (steady::now() >= deadline) {
                fail("time limit reached after " + std::to_string(total) + " receives");
                break;
            }
            const std::size_t n = cq_.dequeue(batch, std::size(batch), 50);
            for (std::size_t i = 0; i < n && error.empty(); ++i)
                on_packet(batch[i]);
        }
    }

private:
    const options& opt_;
    std::vector<std::unique_ptr<stream_socket>>& socks_;
    completion_queue& cq_;
};

void run_stress(const options& opt) {
    const steady::time_point t0 = steady::now();
    std::unique_ptr<engine> own;
    if (opt.driven) {
        engine_options eo;
        eo.own_thread = false;
        own = std::make_unique<engine>(eo);
        REQUIRE_MESSAGE(own->status() == 0, "driven engine did not start: " << own->why());
    }
    engine& e = opt.driven ? *own : default_engine();
    REQUIRE(e.status() == 0);

    std::vector<std::unique_ptr<stream_socket>> socks;
    for (std::size_t i = 0; i < opt.sockets; ++i) {
        auto ss = std::make_unique<stream_socket>();
        ss->index = i;
        ss->base = i * 1000003ull;
        ss->shapes = rng(0xABCD0000 + i * 977 + (opt.driven ? 1 : 0) + (opt.registered ? 2 : 0));
        int mine = -1;
        REQUIRE(tcp_pair(mine, ss->peer));
        int err = 0;
        ss->s = e.adopt(static_cast<SOCKET>(mine), WSA_FLAG_OVERLAPPED, &err);
        if (ss->s == INVALID_SOCKET) ::close(mine);
        REQUIRE_MESSAGE(ss->s != INVALID_SOCKET, "adopt failed: " << wsa_error_name(err));
        const std::size_t arena_len = posted_per_socket * slot_bytes;
        ss->arena = static_cast<char*>(std::aligned_alloc(4096, arena_len));
        REQUIRE(ss->arena != nullptr);
        if (opt.registered) {
            ss->region = WSPRegisterMemory(ss->s, ss->arena, static_cast<DWORD>(arena_len),
                                           MEM_READ | MEM_WRITE, &err);
            REQUIRE_MESSAGE(ss->region != nullptr,
                            "WSPRegisterMemory failed: " << wsa_error_name(err));
        }
        ss->slots.resize(posted_per_socket);
        for (std::size_t k = 0; k < posted_per_socket; ++k)
            ss->slots[k].storage = ss->arena + k * slot_bytes;
        socks.push_back(std::move(ss));
    }

    std::uint64_t sent_total = 0, verified_total = 0, receives = 0, data_receives = 0,
                  zero_byte = 0, immediates = 0;
    std::string error;
    double seconds = 0;
    {
        completion_queue cq(e);
        for (auto& ss : socks)
            REQUIRE(cq.associate(ss->s, ss->index, opt.skip_on_success) == 0);
        shared_flags flags;
        flags.deadline = t0 + std::chrono::duration_cast<steady::duration>(
                                  std::chrono::duration<double>(wall_limit_s));
        const steady::time_point start = steady::now();
        for (auto& ss : socks)
            ss->sender = std::thread([&flags, p = ss.get()] { sender_main(*p, flags); });

        receiver rx(opt, socks, cq);
        rx.run(flags.deadline, receive_target, flags);
        seconds = std::chrono::duration<double>(steady::now() - start).count();
        error = rx.error;

        // Whatever happened: stop the senders, close every socket (which completes whatever is
        // still posted, so the arenas may be freed), then deregister nothing further.
        if (!error.empty()) flags.abort.store(true, std::memory_order_release);
        flags.stop_sending.store(true, std::memory_order_release);
        for (auto& ss : socks) {
            if (ss->sender.joinable()) ss->sender.join();
            if (error.empty() && ss->region) {
                int err = 0;
                const int rc = WSPDeregisterMemory(ss->s, ss->region, &err);
                CHECK_MESSAGE(rc == 0, "WSPDeregisterMemory after every receive completed: "
                                           << wsa_error_name(err));
                ss->region = nullptr;
            }
            int err = 0;
            CHECK(WSPCloseSocket(ss->s, &err) == 0);
            ::close(ss->peer);
            sent_total += ss->sent;
            verified_total += ss->verified;
            receives += ss->receives;
            data_receives += ss->data_receives;
            zero_byte += ss->zero_byte_receives;
            immediates += ss->immediates;
        }
    }
    const double rate = seconds > 0 ? static_cast<double>(receives) / seconds : 0;
    std::printf("stress: variant=%s sockets=%zu posted=%zu backend=%s immediate=%llu "
                "zero_byte=%llu sent=%llu\n",
                opt.name, opt.sockets, posted_per_socket, e.backend_name(),
                static_cast<unsigned long long>(immediates),
                static_cast<unsigned long long>(zero_byte),
                static_cast<unsigned long long>(sent_total));
    std::printf("stress: receives=%llu bytes=%llu seconds=%.2f rate=%.0f receives/s %s\n",
                static_cast<unsigned long long>(receives),
                static_cast<unsigned long long>(verified_total), seconds, rate,
                error.empty() ? "verified" : "FAILED");
    std::fflush(stdout);
    REQUIRE_MESSAGE(error.empty(), error);
    CHECK(data_receives >= receive_target);
    CHECK(verified_total == sent_total);
    CHECK(seconds_since(t0) < wall_limit_s);
}

} // namespace

TEST_CASE("stress: 4 sockets x 256 posted scatter receives on the default engine - the receives in "
          "posting order are exactly the sent stream") {
    options o;
    o.name = "default";
    o.sockets = 4;
    run_stress(o);
}

TEST_CASE(
    "stress: 4 sockets x 256 posted scatter receives on a driven engine (own_thread = "
    "false) run by the test thread with skip-on-success packets - posting order is the stream") {
    options o;
    o.name = "driven";
    o.sockets = 4;
    o.driven = true;
    o.skip_on_success = true;
    run_stress(o);
}

TEST_CASE("stress: 2 sockets x 256 posted scatter receives into WSPRegisterMemory(MEM_READ "
          "+ MEM_WRITE) regions - posting order is the stream") {
    options o;
    o.name = "registered";
    o.sockets = 2;
    o.registered = true;
    run_stress(o);
}
