// SPDX-License-Identifier: MIT
// client_modes.cpp: bench_client's multi mode -- N connections (up to 10,000), each with
// --inflight echo messages of --size bytes in flight, one thread, one epoll set.
//
// Phases: connect in waves of kWave (connect, send one message on each, wait for every echo of
// the wave) so the server's listen backlog never overflows; top every connection up to
// --inflight messages; run --warmup seconds; then the measured window (--seconds, or until
// --messages echoes). msgs = echoes fully received and checked inside the window.
//
// Why this shape (the client core saturates first at 1,000+ connections, so it must be cheap):
// - level-triggered epoll with EPOLLIN always armed and one recv(2) per readiness event: no
//   extra recv that only returns EAGAIN, as edge-triggered would need. EPOLLOUT is armed only
//   while a write is stuck (rare: messages are small), so no epoll_ctl in the steady state.
// - one large event array (up to 16384), one shared receive buffer and one shared write buffer.
// - per connection 40 bytes of state and no per-message allocation: a message is a pure
//   function of (connection, sequence, offset), so partial writes are regenerated and echoes
//   are checked byte for byte without keeping a copy of what was sent.
// - the messages due after a read (one per completed echo) go out in one send(2) right away.

#include <algorithm>
#include <sys/epoll.h>
#include <vector>

#include "client_util.hpp"

namespace bench {

namespace {

constexpr uint32_t kWave = 256;        // connections opened at a time
constexpr double kWaveTimeout = 10.0;  // bound on one wave
constexpr double kStallSeconds = 5.0;  // longest time without any echo
constexpr size_t kBufBytes = 1u << 16; // shared read/write buffer size (at least one message)

struct Conn {
    int fd = -1;
    uint32_t roff = 0; // bytes of message rseq received so far
    uint32_t woff = 0; // bytes of message wseq written so far
    bool connecting = false;
    bool out_armed = false;
    uint64_t rseq = 0; // messages fully echoed
    uint64_t wseq = 0; // messages fully written
    uint64_t qseq = 0; // messages due to be written (wseq <= qseq)
};
static_assert(sizeof(Conn) <= 40, "per-connection state stays compact");

class Multi {
public:
    explicit Multi(const Options& o)
        : o_(o), conns_(o.conns), evs_(std::clamp<uint32_t>(o.conns, 64, 16384)),
          rbuf_(std::max<size_t>(kBufBytes, o.size)), wbuf_(rbuf_.size()), exp_(o.size) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) fail("epoll_create1: %s", std::strerror(errno));
    }

    int run() {
        const double c0 = mono();
        const double connect_deadline = c0 + kSlackSeconds + 0.005 * o_.conns;
        for (uint32_t first = 0; first < o_.conns; first += kWave) {
            const uint32_t last = std::min(o_.conns, first + kWave);
            for (uint32_t i = first; i < last; ++i)
                open_conn(i);
            const double d = std::min(mono() + kWaveTimeout, connect_deadline);
            loop(d, true, "connect wave", [&] { return done_ == last; });
        }
        const double connect_seconds = mono() - c0;
        std::fprintf(stderr, "bench_client: %u connections up in %.3f s\n", o_.conns,
                     connect_seconds);

        refill_ = true; // from now on every completed echo queues the next message
        for (uint32_t i = 0; i < o_.conns; ++i) {
            conns_[i].qseq = conns_[i].rseq + o_.inflight;
            flush(i);
        }
        const double warm_end = mono() + o_.warmup;
        loop(warm_end, false, "warmup", [] { return false; });

        const uint64_t cpu0 = server_cpu_ns(o_.server_pid);
        const double t0 = mono();
        const uint64_t done0 = done_;
        if (o_.messages) {
            stop_at_ = done0 + o_.messages;
            loop(t0 + o_.seconds + kSlackSeconds, true, "--messages echoes",
                 [&] { return done_ >= stop_at_; });
        } else {
            loop(t0 + o_.seconds, false, "window", [] { return false; });
        }
        const double t1 = mono();
        const uint64_t cpu = server_cpu_ns(o_.server_pid) - cpu0;
        const uint64_t msgs = done_ - done0;
        for (Conn& c : conns_)
            close(c.fd); // SO_LINGER {1,0}: RST
        close(ep_);
        if (msgs == 0) fail("multi: no echo completed in the measured window");

        const double secs = t1 - t0;
        std::printf("{\"mode\":\"multi\",\"conns\":%u,\"msgs\":%llu,\"seconds\":%.6f,"
                    "\"msgs_per_s\":%.1f,\"server_cpu_ns\":%llu,\"server_cpu_ns_per_msg\":%.1f,"
                    "\"connect_seconds\":%.6f}\n",
                    o_.conns, static_cast<unsigned long long>(msgs), secs,
                    static_cast<double>(msgs) / secs, static_cast<unsigned long long>(cpu),
                    static_cast<double>(cpu) / static_cast<double>(msgs), connect_seconds);
        return 0;
    }

private:
    void ctl(int op, uint32_t i, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u32 = i;
        if (epoll_ctl(ep_, op, conns_[i].fd, &ev) != 0)
            fail("epoll_ctl (connection %u): %s", i, std::strerror(errno));
    }

    void open_conn(uint32_t i) {
        Conn& c = conns_[i];
        c.fd = make_socket();
        sockaddr_in a = make_addr(o_);
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
            ctl(EPOLL_CTL_ADD, i, EPOLLIN);
            start(i);
        } else if (errno == EINPROGRESS) {
            c.connecting = true;
            ctl(EPOLL_CTL_ADD, i, EPOLLOUT);
        } else {
            fail("connect (connection %u) to port %u: %s", i, o_.port, std::strerror(errno));
        }
    }

    void start(uint32_t i) { // connected: send the wave's one message
        conns_[i].qseq = 1;
        flush(i);
    }

    // Runs the event loop until done() or the deadline (an error if deadline_is_error). Any
    // phase in which no echo completes for kStallSeconds fails: the server has stalled.
    template <class Done>
    void loop(double deadline, bool deadline_is_error, const char* what, Done done) {
        uint64_t seen = done_;
        double last_progress = mono();
        while (!done()) {
            const double now = mono();
            if (done_ != seen) {
                seen = done_;
                last_progress = now;
            } else if (now - last_progress > kStallSeconds) {
                fail("multi: no echo for %.0f s in %s (%llu echoes so far): server stalled?",
                     kStallSeconds, what, static_cast<unsigned long long>(done_));
            }
            const double left = deadline - now;
            if (left <= 0) {
                if (!deadline_is_error) return;
                fail("multi: timed out in %s (%llu echoes so far)", what,
                     static_cast<unsigned long long>(done_));
            }
            const double wait_s = std::min(left, kStallSeconds - (now - last_progress));
            const int ms = static_cast<int>(std::clamp(wait_s * 1000.0 + 1.0, 1.0, 1000.0));
            int n = epoll_wait(ep_, evs_.data(), static_cast<int>(evs_.size()), ms);
            if (n < 0) {
                if (errno == EINTR) continue;
                fail("epoll_wait: %s", std::strerror(errno));
            }
            for (int k = 0; k < n && done_ < stop_at_; ++k)
                on_event(evs_[k].data.u32, evs_[k].events);
        }
    }

    void on_event(uint32_t i, uint32_t ev) {
        Conn& c = conns_[i];
        if (c.connecting) {
            if (int err = socket_error(c.fd))
                fail("connect (connection %u) to port %u: %s", i, o_.port, std::strerror(err));
            c.connecting = false;
            ctl(EPOLL_CTL_MOD, i, EPOLLIN);
            start(i);
            return;
        }
        if (ev & EPOLLIN) {
            read_once(i);
        } else if (ev & (EPOLLERR | EPOLLHUP)) {
            int err = socket_error(c.fd);
            fail("connection %u: %s", i, err ? std::strerror(err) : "hung up by the server");
        }
        if ((ev & EPOLLOUT) && c.out_armed) flush(i);
    }

    void read_once(uint32_t i) {
        Conn& c = conns_[i];
        ssize_t n = recv(c.fd, rbuf_.data(), rbuf_.size(), MSG_DONTWAIT);
        if (n == 0)
            fail("connection %u: server closed the connection (after %llu echoes)", i,
                 static_cast<unsigned long long>(c.rseq));
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            fail("connection %u: recv: %s", i, std::strerror(errno));
        }
        const uint64_t before = c.rseq;
        consume(i, rbuf_.data(), static_cast<size_t>(n));
        if (refill_ && c.rseq != before && done_ < stop_at_) {
            c.qseq += c.rseq - before;
            flush(i);
        }
    }

    // Checks n echoed bytes against what was sent on connection i and counts whole echoes.
    void consume(uint32_t i, const uint8_t* p, size_t n) {
        Conn& c = conns_[i];
        const uint64_t key = conn_key(i);
        while (n > 0) {
            const size_t take = std::min<size_t>(n, o_.size - c.roff);
            const size_t limit = c.rseq < c.wseq ? o_.size : (c.rseq == c.wseq ? c.woff : 0);
            if (c.roff + take > limit)
                fail("connection %u: server sent back more bytes than were sent", i);
            gen_payload(exp_.data(), key, c.rseq, c.roff, c.roff + take);
            const size_t d = first_diff(p, exp_.data(), take);
            if (d != take)
                fail("connection %u: echo mismatch in message %llu at byte %zu: expected 0x%02x, "
                     "got 0x%02x",
                     i, static_cast<unsigned long long>(c.rseq), c.roff + d, exp_[d], p[d]);
            c.roff += static_cast<uint32_t>(take);
            p += take;
            n -= take;
            if (c.roff == o_.size) {
                c.roff = 0;
                ++c.rseq;
                if (++done_ == stop_at_) return; // --messages reached: ignore the rest
            }
        }
    }

    // Writes what is due on connection i (messages wseq..qseq-1, from offset woff) with as few
    // send(2) calls as the socket allows; arms EPOLLOUT only while the socket is full.
    void flush(uint32_t i) {
        Conn& c = conns_[i];
        const uint64_t key = conn_key(i);
        while (c.wseq < c.qseq) {
            size_t len = 0;
            uint64_t s = c.wseq;
            size_t off = c.woff;
            while (s < c.qseq && len < wbuf_.size()) {
                const size_t take = std::min<size_t>(o_.size - off, wbuf_.size() - len);
                gen_payload(wbuf_.data() + len, key, s, off, off + take);
                len += take;
                off += take;
                if (off == o_.size) {
                    off = 0;
                    ++s;
                }
            }
            ssize_t r = send(c.fd, wbuf_.data(), len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                if (errno == EINTR) continue;
                fail("connection %u: send: %s", i, std::strerror(errno));
            }
            uint64_t pos = c.woff + static_cast<uint64_t>(r);
            c.wseq += pos / o_.size;
            c.woff = static_cast<uint32_t>(pos % o_.size);
            if (static_cast<size_t>(r) < len) break; // socket full
        }
        const bool want_out = c.wseq < c.qseq;
        if (want_out != c.out_armed) {
            c.out_armed = want_out;
            ctl(EPOLL_CTL_MOD, i, want_out ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
        }
    }

    const Options& o_;
    std::vector<Conn> conns_;
    std::vector<epoll_event> evs_;
    std::vector<uint8_t> rbuf_, wbuf_, exp_;
    int ep_ = -1;
    uint64_t done_ = 0;             // echoes completed, all phases
    uint64_t stop_at_ = UINT64_MAX; // --messages: stop when done_ reaches this
    bool refill_ = false;           // queue the next message when an echo completes
};

} // namespace

int run_multi(const Options& o) {
    Multi m(o);
    return m.run();
}

} // namespace bench
