// SPDX-License-Identifier: MIT
// Stress, cancel.queued and cancel.in-flight (docs/contract.md §4): thousands of receives posted
// on one socket, cancelled at random from two threads while the peer streams data. Every receive
// completes exactly once, and the bytes of the receives that completed, concatenated in posting
// order, are exactly the stream the peer sent (no byte lost, duplicated or reordered).
//
// Per round: one loopback pair on the default engine, 2,000 overlapped receives of 1..48 bytes
// posted at once, one completion queue. A peer thread writes a seeded byte stream in segments
// of 1..700 bytes; two canceller threads call WSPCancelIoEx on random receives (and now and
// then on all of them, lpOverlapped NULL); the test thread dequeues. After 250 ms the
// cancellers stop; what is still pending is cancelled at the end. Checked: one packet per
// receive, status 0 or WSA_OPERATION_ABORTED (aborted ones carry 0 bytes), and the stream.
// 4 rounds, bounded at 20 s of wall time. Plain POSIX for the peer; only 127.0.0.1.

#include "tests/support/loopback.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace sanport;
using namespace sanport::test;

namespace {

constexpr int rounds = 4;
constexpr std::size_t receives = 2000;
constexpr double wall_limit_s = 20.0;

struct recv_slot {
    WSAOVERLAPPED ov{};
    std::vector<char> buf;
    int packets = 0;
    int status = -1;
    DWORD bytes = 0;
};

struct tally {
    std::uint64_t operations = 0;
    std::uint64_t cancels_matched = 0;
    std::uint64_t aborted = 0;
    std::uint64_t bytes_verified = 0;
};

std::string one_round(int round, tally& t) {
    rng r(0xCA9CE100ull + static_cast<std::uint64_t>(round));
    loopback_pair p = make_pair();
    completion_queue cq;
    if (cq.associate(p.s, 0xCA) != 0) return "associate failed";
    std::vector<std::unique_ptr<recv_slot>> slots;
    for (std::size_t i = 0; i < receives; ++i) {
        auto sl = std::make_unique<recv_slot>();
        sl->buf.resize(1 + r.below(48));
        WSABUF b{static_cast<ULONG>(sl->buf.size()), sl->buf.data()};
        DWORD flags = 0;
        int err = 0;
        if (WSPRecv(p.s, &b, 1, nullptr, &flags, &sl->ov, nullptr, nullptr, &err) != 0 &&
            err != WSA_IO_PENDING)
            return "WSPRecv: " + wsa_name(err);
        slots.push_back(std::move(sl));
    }
    t.operations += receives;

    const std::string stream = pattern(256 * 1024, 0, static_cast<unsigned>(round + 1));
    std::atomic<bool> stop_peer{false}, stop_cancel{false};
    std::atomic<std::uint64_t> matched{0};
    const std::uint64_t peer_seed = r.next();
    std::thread peer([&, peer_seed] {
        rng pr(peer_seed);
        std::size_t at = 0;
        while (!stop_peer.load() && at < stream.size()) {
            const std::size_t n = std::min<std::size_t>(1 + pr.below(700), stream.size() - at);
            if (!try_send_all(p.peer, std::string_view(stream).substr(at, n), 200)) continue;
            at += n;
            std::this_thread::sleep_for(std::chrono::microseconds(pr.below(300)));
        }
    });
    auto canceller = [&](std::uint64_t seed) {
        rng cr(seed);
        while (!stop_cancel.load()) {
            int err = 0;
            WSAOVERLAPPED* ov = cr.below(500) == 0 ? nullptr : &slots[cr.below(receives)]->ov;
            if (WSPCancelIoEx(p.s, ov, &err) == 0) matched.fetch_add(1);
            std::this_thread::sleep_for(std::chrono::microseconds(cr.below(200)));
        }
    };
    std::thread c1(canceller, r.next()), c2(canceller, r.next());

    std::size_t done = 0;
    std::string problem;
    const auto start = std::chrono::steady_clock::now();
    bool final_cancel = false;
    while (done < receives && problem.empty()) {
        const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
        if (!final_cancel && spent.count() > 0.25) {
            stop_cancel.store(true);
            c1.join();
            c2.join();
            int err = 0;
            WSPCancelIoEx(p.s, nullptr, &err); // what is still pending ends now
            final_cancel = true;
        }
        if (spent.count() > 10) problem = "receives still pending after 10 s";
        completion_entry entries[64];
        const std::size_t n = cq.dequeue(entries, 64, 50);
        for (std::size_t i = 0; i < n; ++i) {
            auto* sl = reinterpret_cast<recv_slot*>(entries[i].overlapped);
            if (++sl->packets == 1) ++done;
            sl->status = entries[i].status;
            sl->bytes = entries[i].bytes;
        }
    }
    if (!final_cancel) {
        stop_cancel.store(true);
        c1.join();
        c2.join();
    }
    stop_peer.store(true);
    peer.join();
    if (count_more(cq, 20) != 0 && problem.empty()) problem = "a packet after the last receive";
    t.cancels_matched += matched.load();

    std::string got;
    for (auto& sl : slots) {
        if (sl->packets != 1 && problem.empty())
            problem = "a receive got " + std::to_string(sl->packets) + " packets";
        if (sl->status == WSA_OPERATION_ABORTED) {
            ++t.aborted;
            if (sl->bytes != 0 && problem.empty()) problem = "an aborted receive reports bytes";
        } else if (sl->status == 0) {
            got.append(sl->buf.data(), sl->bytes);
        } else if (problem.empty()) {
            problem = "a receive completed with " + wsa_name(sl->status);
        }
    }
    if (problem.empty() && got != stream.substr(0, got.size()))
        problem = "the received bytes are not the stream's first " + std::to_string(got.size());
    t.bytes_verified += got.size();
    return problem;
}

} // namespace

TEST_CASE("cancel.queued, cancel.in-flight: thousands of receives on one socket cancelled at "
          "random from two threads while data flows - each completes once, the stream is "
          "intact") {
    tally t;
    const auto start = std::chrono::steady_clock::now();
    int ran = 0;
    for (int round = 0; round < rounds; ++round) {
        const std::string problem = one_round(round, t);
        ++ran;
        REQUIRE_MESSAGE(problem.empty(), "round " << round << ": " << problem);
        const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
        if (spent.count() > wall_limit_s) break;
    }
    std::printf("cancel race: %d rounds, %llu receives, %llu cancels matched, %llu aborted, "
                "%llu bytes verified in posting order\n",
                ran, static_cast<unsigned long long>(t.operations),
                static_cast<unsigned long long>(t.cancels_matched),
                static_cast<unsigned long long>(t.aborted),
                static_cast<unsigned long long>(t.bytes_verified));
    CHECK(t.aborted > 0);
    CHECK(t.bytes_verified > 0);
    CHECK(t.aborted < t.operations);
}
