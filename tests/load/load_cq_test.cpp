// SPDX-License-Identifier: MIT
// Load: 10,000 connections, each with 2 overlapped receives pending, all associated with ONE
// completion queue on the default engine; then stopped with everything pending, the way a
// library user stops: WSPCloseSocket on half the sockets from one thread while another calls
// the last WSPCleanup, which closes every socket still open (they were accepted through the
// start-up's proc table, so they are the start-ups').
//
// Checked:
//  - every connection works: 1,000 random peers each send a distinct 8-byte message, and
//    exactly 1,000 packets arrive, each for the FIRST receive posted on that socket (posting
//    order), with that message; no other packet comes;
//  - every one of the 19,000 receives still pending when the closes start completes exactly
//    once, with WSA_OPERATION_ABORTED and 0 bytes; none of the 1,000 completed ones gets a
//    second packet; once the closes returned, no WSAOVERLAPPED is still in progress;
//  - everything the test owns is freed (the asan preset's LeakSanitizer checks at exit).
// Printed: sanport's memory per connection (heap and RSS growth from before the first
// connection to after the last receive was posted, divided by 10,000) and the phase timings.
//
// The peer ends live in a forked child process, not in this one: 10,000 pairs in one process
// need 20,000 descriptors, and the usual hard RLIMIT_NOFILE is exactly 20,000 (also on the CI
// machine), which leaves no room for the listener, io_uring or Asio's epoll, and stdio. With
// the peers in a child, each process needs 10,000 + a few. The child is plain POSIX (connect,
// send, close) and never calls sanport; it answers commands on a pipe. A side benefit: the
// peers' user-space memory is not in this process's figures.

#include "tests/support/loopback.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h> // peer_process.hpp
#include <signal.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifdef __SANITIZE_ADDRESS__
// Under ASan, malloc is ASan's and mallinfo2 knows nothing of it (gcc ships no header for this).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

using namespace sanport;
using namespace sanport::test;

namespace {

constexpr std::size_t connections = 10000;
constexpr std::size_t recvs_per_connection = 2;
constexpr std::size_t pending_total = connections * recvs_per_connection;
constexpr std::size_t probed = 1000;      // connections that receive a message
constexpr std::size_t wave = 500;         // connections opened per wave (< the backlog)
constexpr int listen_backlog = 1024;      // the kernel caps it at net.core.somaxconn
constexpr rlim_t fd_margin = 64;          // listener, io_uring/epoll, eventfds, pipes, stdio
constexpr int child_step_ms = 20000;      // bound on each answer of the peer process
constexpr int completion_wait_ms = 20000; // bound on collecting the packets of a phase
constexpr std::size_t message_len = 8;
constexpr std::uint64_t seed = 0x10AD10AD5EEDull;

// One posted receive: its WSAOVERLAPPED (no event: hEvent NULL, so a packet and no event to
// allocate) and its buffer. Receive k of connection i is slot i * 2 + k.
struct recv_slot {
    WSAOVERLAPPED ov{};
    char buf[16]{};
};

// ---- measuring ---------------------------------------------------------------------------------

struct mem_sample {
    long long rss = 0;  // resident bytes (/proc/self/statm)
    long long heap = 0; // live malloc'd bytes
};

mem_sample take_sample() {
    mem_sample s;
#ifdef __SANITIZE_ADDRESS__
    s.heap = static_cast<long long>(__sanitizer_get_current_allocated_bytes());
#else
    malloc_trim(0); // freed pages do not count (as bench/memory_footprint.cpp does)
    s.heap = static_cast<long long>(mallinfo2().uordblks);
#endif
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(f);
    }
    s.rss = static_cast<long long>(resident) * ::sysconf(_SC_PAGESIZE);
    return s;
}

double per_connection(long long before, long long after) {
    return static_cast<double>(after - before) / static_cast<double>(connections);
}

#include "peer_process.hpp"

// Closes (through WSPCloseSocket) whatever sanport sockets are still open when it goes, also
// on a failed REQUIRE, before the receive slots they point at are freed.
struct open_sockets {
    std::vector<SOCKET> s;
    ~open_sockets() {
        int err = 0;
        for (SOCKET& h : s)
            if (h != INVALID_SOCKET) {
                WSPCloseSocket(h, &err);
                h = INVALID_SOCKET;
            }
    }
};

double seconds_since(const stopwatch& w) {
    return w.ms() / 1000.0;
}

// The message of connection i: 8 bytes, distinct per connection.
void message_of(std::size_t i, char* out) {
    // Seven decimal digits (connections stay far below 10^7); the buffer has room for any
    // size_t, so the compiler sees no truncation.
    char tmp[32];
    std::snprintf(tmp, sizeof tmp, "L%07zu", i % 10000000u);
    std::memcpy(out, tmp, message_len);
}

} // namespace

TEST_CASE("load: 10,000 connections with 2 receives pending each on one completion queue - data "
          "arrives in posting order - closing half from one thread while the last WSPCleanup "
          "closes the rest completes every pending receive exactly once") {
    // ---- descriptors ---------------------------------------------------------------------------
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    const rlim_t needed = connections + fd_margin;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < needed) {
        skip("RLIMIT_NOFILE hard limit " + std::to_string(lim.rlim_max) + " < " +
             std::to_string(needed) + " (10,000 connections per process + margin)");
        return;
    }
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        REQUIRE_MESSAGE(::setrlimit(RLIMIT_NOFILE, &lim) == 0,
                        "setrlimit: " << std::strerror(errno));
    }

    const stopwatch total;
    // Everything the test itself needs is allocated before the memory baseline, so that the
    // growth measured is sanport's. Declaration order matters for a failed REQUIRE: sockets
    // close (sock) before the slots they point at go, and the queue goes last.
    completion_queue cq;
    std::vector<recv_slot> slots(pending_total);
    std::vector<std::uint16_t> remote_port(connections, 0);
    std::vector<std::uint16_t> wave_ports;
    wave_ports.reserve(wave);
    open_sockets sock;
    sock.s.assign(connections, INVALID_SOCKET);

    // The listener: sanport's (the accepted sockets are sanport's then), on 127.0.0.1.
    int err = 0;
    sanport_listener listener(AF_INET, WSA_FLAG_OVERLAPPED, listen_backlog);
    const auto& target = reinterpret_cast<const sockaddr_in&>(listener.address);

    peer_process_handle peers;
    REQUIRE_MESSAGE(peers.start(target), "fork: " << std::strerror(errno));

    // The sockets are accepted through a start-up's proc table, so they are the start-ups' and
    // the last WSPCleanup below closes them (startup.cleanup).
    WSPDATA data{};
    WSPPROC_TABLE table{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, WSPUPCALLTABLE{}, &table) == 0);

    // ---- open 10,000 connections, in waves ------------------------------------------------------
    const mem_sample before = take_sample();
    const stopwatch open_time;
    for (std::size_t base = 0; base < connections; base += wave) {
        const auto n = static_cast<std::uint32_t>(std::min(wave, connections - base));
        REQUIRE_MESSAGE(peers.connect(n, wave_ports),
                        "the peer process did not open its connections (wave at " << base << ")");
        for (std::uint32_t k = 0; k < n; ++k) {
            REQUIRE_MESSAGE(wave_ports[k] != 0, "peer connect " << base + k << " failed");
            // The peer's connect returned: the connection is in the accept queue already.
            const SOCKET s = table.lpWSPAccept(listener.s, nullptr, nullptr, nullptr, 0, &err);
            REQUIRE_MESSAGE(s != INVALID_SOCKET,
                            "WSPAccept " << base + k << ": "
                                         << (err != 0 ? wsa_name(err) : "no connection to accept"));
            const std::size_t i = base + k;
            sock.s[i] = s;
            sockaddr_in peer{};
            socklen_t plen = sizeof peer;
            REQUIRE(::getpeername(static_cast<int>(s), reinterpret_cast<sockaddr*>(&peer), &plen) ==
                    0);
            remote_port[i] = ntohs(peer.sin_port);
            REQUIRE_MESSAGE(cq.associate(s, i) == 0, "associate " << i);
        }
    }
    const double open_s = seconds_since(open_time);
    const mem_sample opened = take_sample();

    // ---- 2 receives pending on each ------------------------------------------------------------
    const stopwatch post_time;
    std::size_t not_pending = 0;
    for (std::size_t i = 0; i < connections; ++i)
        for (std::size_t k = 0; k < recvs_per_connection; ++k) {
            recv_slot& r = slots[i * recvs_per_connection + k];
            WSABUF b{sizeof r.buf, r.buf};
            DWORD bytes = 0, flags = 0;
            const int rc = WSPRecv(sock.s[i], &b, 1, &bytes, &flags, &r.ov, nullptr, nullptr, &err);
            not_pending += !(rc == SOCKET_ERROR && err == WSA_IO_PENDING);
        }
    REQUIRE_MESSAGE(not_pending == 0,
                    not_pending << " WSPRecv calls did not return WSA_IO_PENDING");
    const double post_s = seconds_since(post_time);
    sleep_ms(settle_ms); // the engine thread starts the kernel receives
    const mem_sample posted = take_sample();
    CHECK(count_more(cq, 0) == 0); // nothing completed without data

    // The OS sockets' own memory (socket buffers, TCP state) is kernel memory: it is in neither
    // figure. RSS counts this process's user-space pages only; the peers live in the child.
    std::printf("load: connections=%zu pending=%zu heap_per_conn=%.1f rss_per_conn=%.1f "
                "(idle: heap_per_conn=%.1f rss_per_conn=%.1f; per posted receive: heap=%.1f) "
                "backend=%s heap_source=%s\n",
                connections, pending_total, per_connection(before.heap, posted.heap),
                per_connection(before.rss, posted.rss), per_connection(before.heap, opened.heap),
                per_connection(before.rss, opened.rss),
                static_cast<double>(posted.heap - opened.heap) / static_cast<double>(pending_total),
                running_backend(),
#ifdef __SANITIZE_ADDRESS__
                "asan_allocated_bytes"
#else
                "mallinfo2"
#endif
    );
    std::fflush(stdout);

    // ---- 1,000 random connections receive a message
    // ----------------------------------------------
    const stopwatch probe_time;
    rng r(seed);
    std::vector<std::size_t> order(connections);
    for (std::size_t i = 0; i < connections; ++i)
        order[i] = i;
    for (std::size_t i = 0; i < probed; ++i) // partial Fisher-Yates: the first `probed` are random
        std::swap(order[i], order[i + r.below(static_cast<std::uint32_t>(connections - i))]);
    std::vector<char> chosen(connections, 0);
    std::vector<send_record> records(probed);
    for (std::size_t j = 0; j < probed; ++j) {
        chosen[order[j]] = 1;
        records[j].port = remote_port[order[j]];
        message_of(order[j], records[j].message);
    }
    REQUIRE(peers.send(records) == probed);
    const std::vector<completion_entry> got = dequeue_n(cq, probed, completion_wait_ms);
    CHECK_MESSAGE(got.size() == probed, "packets for the messages: " << got.size());
    std::vector<unsigned> packets(pending_total, 0);
    std::size_t wrong = 0;
    std::string first_wrong;
    const auto note = [&](const std::string& what) {
        if (wrong++ == 0) first_wrong = what;
    };
    const auto slot_of = [&](const WSAOVERLAPPED* ov) -> std::ptrdiff_t {
        const auto* p = reinterpret_cast<const char*>(ov);
        const auto* first = reinterpret_cast<const char*>(slots.data());
        if (p < first || p >= first + pending_total * sizeof(recv_slot)) return -1;
        if ((p - first) % static_cast<std::ptrdiff_t>(sizeof(recv_slot)) != 0) return -1;
        return (p - first) / static_cast<std::ptrdiff_t>(sizeof(recv_slot));
    };
    for (const completion_entry& e : got) {
        const std::ptrdiff_t at = slot_of(e.overlapped);
        if (at < 0) {
            note("a packet for an overlapped the test never posted");
            continue;
        }
        ++packets[static_cast<std::size_t>(at)];
        const std::size_t i = static_cast<std::size_t>(at) / recvs_per_connection;
        char expect[message_len];
        message_of(i, expect);
        if (e.key != i)
            note("packet key " + std::to_string(e.key) + " for a receive of connection " +
                 std::to_string(i));
        else if (!chosen[i])
            note("a packet on connection " + std::to_string(i) + ", which was sent nothing");
        else if (static_cast<std::size_t>(at) % recvs_per_connection != 0)
            note("connection " + std::to_string(i) +
                 ": the SECOND posted receive completed first (posting order broken)");
        else if (e.status != 0 || e.bytes != message_len)
            note("connection " + std::to_string(i) + ": status " + wsa_name(e.status) + ", bytes " +
                 std::to_string(e.bytes));
        else if (std::memcmp(slots[static_cast<std::size_t>(at)].buf, expect, message_len) != 0)
            note("connection " + std::to_string(i) + ": wrong bytes");
    }
    for (std::size_t i = 0; i < pending_total; ++i)
        if (packets[i] > 1) note("two packets for one receive");
    CHECK_MESSAGE(wrong == 0, wrong << " wrong packets; first: " << first_wrong);
    const std::size_t probe_wrong = wrong;
    const std::size_t probe_extra = count_more(cq, settle_ms);
    CHECK_MESSAGE(probe_extra == 0, probe_extra << " packets beyond the 1,000 messages");
    // Every other receive is still pending.
    std::size_t still_pending = 0;
    for (std::size_t i = 0; i < pending_total; ++i)
        still_pending += is_pending(slots[i].ov);
    CHECK(still_pending == pending_total - probed);
    const double probe_s = seconds_since(probe_time);

    // ---- stop with everything pending, as a library user stops: one thread closes the first
    // half with WSPCloseSocket while another calls the last WSPCleanup, which closes whatever is
    // still open (the two race over the first half; a socket the other got first is
    // WSAENOTSOCK, nothing else is allowed).
    const stopwatch close_time;
    std::atomic<std::size_t> close_failures{0};
    const auto closer = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to; ++i) {
            int e = 0;
            if (WSPCloseSocket(sock.s[i], &e) != 0 && e != WSAENOTSOCK) close_failures.fetch_add(1);
        }
    };
    int cleanup_err = 0;
    int cleanup_rc = 0;
    std::thread first_half(closer, std::size_t{0}, connections / 2);
    std::thread cleanup([&] { cleanup_rc = WSPCleanup(&cleanup_err); });
    first_half.join();
    cleanup.join();
    for (SOCKET& h : sock.s)
        h = INVALID_SOCKET; // all closed: never close a number the OS may have handed out again
    const double close_s = seconds_since(close_time);
    CHECK_MESSAGE(cleanup_rc == 0, "WSPCleanup failed with " << wsa_name(cleanup_err));
    CHECK_MESSAGE(close_failures.load() == 0, close_failures.load() << " WSPCloseSocket failed");
    // WSPCloseSocket and WSPCleanup return only when every operation they closed completed.
    std::size_t still_in_progress = 0;
    for (std::size_t i = 0; i < pending_total; ++i)
        still_in_progress += is_pending(slots[i].ov);
    CHECK_MESSAGE(still_in_progress == 0,
                  still_in_progress << " receives still WSS_OPERATION_IN_PROGRESS after the "
                                       "closes and WSPCleanup returned");

    const std::size_t expected_aborts = pending_total - probed;
    const std::vector<completion_entry> aborts = dequeue_n(cq, expected_aborts, completion_wait_ms);
    CHECK_MESSAGE(aborts.size() == expected_aborts, "abort packets: " << aborts.size());
    wrong = 0;
    first_wrong.clear();
    for (const completion_entry& e : aborts) {
        const std::ptrdiff_t at = slot_of(e.overlapped);
        if (at < 0) {
            note("an abort packet for an overlapped the test never posted");
            continue;
        }
        const auto a = static_cast<std::size_t>(at);
        if (++packets[a] > 1) note("a second packet for receive " + std::to_string(a));
        if (e.status != WSA_OPERATION_ABORTED || e.bytes != 0)
            note("receive " + std::to_string(a) + " ended with " + wsa_name(e.status) + ", " +
                 std::to_string(e.bytes) + " bytes (expected WSA_OPERATION_ABORTED, 0)");
        if (e.key != a / recvs_per_connection) note("abort packet with the wrong key");
    }
    const std::size_t extra = count_more(cq, settle_ms);
    std::size_t never = 0;
    for (std::size_t i = 0; i < pending_total; ++i)
        never += packets[i] == 0;
    CHECK_MESSAGE(wrong == 0, wrong << " wrong abort packets; first: " << first_wrong);
    CHECK_MESSAGE(never == 0, never << " receives never got a packet");
    CHECK_MESSAGE(extra == 0, extra << " packets after every receive had its one");
    const double collect_s = seconds_since(close_time);

    // ---- the peers
    // ---------------------------------------------------------------------------------
    CHECK_MESSAGE(peers.stop(), "the peer process did not close its connections and exit");

    std::printf("load: open=%.2fs post=%.2fs probe=%.2fs close=%.2fs close+collect=%.2fs "
                "total=%.2fs packets=%zu aborted=%zu %s\n",
                open_s, post_s, probe_s, close_s, collect_s, seconds_since(total), got.size(),
                aborts.size(),
                probe_wrong == 0 && probe_extra == 0 && got.size() == probed && wrong == 0 &&
                        never == 0 && extra == 0 && aborts.size() == expected_aborts &&
                        still_in_progress == 0 && close_failures.load() == 0
                    ? "verified"
                    : "FAILED");
    std::fflush(stdout);
}
