// SPDX-License-Identifier: MIT
// Stress, accept.deliver and accept.close (docs/contract.md §8): accepts posted on a listener
// while clients connect from another thread and the listener is cancelled and closed at random
// moments. Every accept completes exactly once, a successful one holds a working connection,
// and no descriptor is left open that no socket holds.
//
// Per round: a sanport listener with 6 overlapped accepts (each into a fresh socket), one
// completion queue; a client thread connects 0..8 clients with random gaps; the test thread
// cancels one accept at a random moment, then closes the listener at another. Checked:
//  - one packet per accept (never 0, never 2), status 0 or WSA_OPERATION_ABORTED;
//  - a successful accept's socket receives the byte its client (found by port) sends;
//  - after the last round and every socket closed, /proc/self/fd lists as many descriptors as
//    before the first round.
// 60 rounds, bounded at 20 s of wall time. Plain POSIX for the clients; only 127.0.0.1.

#include "tests/support/loopback.hpp"
#include "tests/support/test_rng.hpp"

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace sanport;
using namespace sanport::test;

namespace {

constexpr int rounds = 60;
constexpr double wall_limit_s = 20.0;
constexpr int accepts_per_round = 6;
constexpr int max_clients = 8;
constexpr DWORD block = sizeof(sockaddr_in6) + 16;

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++n;
    return n;
}

struct accept_slot {
    SOCKET target = INVALID_SOCKET;
    std::vector<char> output = std::vector<char>(2 * block);
    WSAOVERLAPPED ov{};
    int packets = 0;
    int status = -1;
};

struct tally {
    int rounds = 0;
    int posted = 0;
    int delivered = 0;
    int aborted = 0;
    int cancels = 0;
    int clients = 0;
    int bytes_verified = 0;
};

unsigned short remote_port(accept_slot& a) {
    sockaddr* local = nullptr;
    sockaddr* remote = nullptr;
    int local_len = 0;
    int remote_len = 0;
    WSPGetAcceptExSockaddrs(a.output.data(), 0, block, block, &local, &local_len, &remote,
                            &remote_len);
    if (remote == nullptr || remote_len < static_cast<int>(sizeof(sockaddr_in))) return 0;
    return ntohs(reinterpret_cast<sockaddr_in*>(remote)->sin_port);
}

std::string one_round(int round, tally& t) {
    rng r(0xACCE9700ull + static_cast<std::uint64_t>(round));
    auto listener = std::make_unique<sanport_listener>();
    completion_queue cq;
    if (cq.associate(listener->s, 1) != 0) return "associate failed";
    std::vector<accept_slot> slots(accepts_per_round);
    int err = 0;
    for (accept_slot& a : slots) {
        a.target =
            WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        DWORD bytes = 0;
        const int rc = WSPAcceptEx(listener->s, a.target, a.output.data(), 0, block, block, &bytes,
                                   &a.ov, &err);
        if (rc != 0 && err != WSA_IO_PENDING) return "WSPAcceptEx: " + wsa_name(err);
        ++t.posted;
    }
    const int clients_wanted = static_cast<int>(r.below(max_clients + 1));
    const sockaddr_storage address = listener->address;
    const int address_len = listener->address_len;
    std::vector<peer_socket> clients;
    const std::uint64_t seed = r.next();
    std::thread connector([&clients, clients_wanted, address, address_len, seed] {
        rng cr(seed);
        for (int i = 0; i < clients_wanted; ++i) {
            std::this_thread::sleep_for(std::chrono::microseconds(cr.below(400)));
            peer_socket c = posix_connect(address, address_len);
            if (c != no_peer) clients.push_back(c);
        }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(r.below(1500)));
    accept_slot& victim = slots[r.below(accepts_per_round)];
    if (WSPCancelIoEx(listener->s, &victim.ov, &err) == 0) ++t.cancels;
    std::this_thread::sleep_for(std::chrono::microseconds(r.below(1500)));
    listener.reset(); // WSPCloseSocket while clients may still connect
    connector.join();
    t.clients += static_cast<int>(clients.size());

    // Exactly one packet per accept.
    for (const completion_entry& e : dequeue_n(cq, slots.size(), 5000)) {
        for (accept_slot& a : slots) {
            if (e.overlapped != &a.ov) continue;
            ++a.packets;
            a.status = e.status;
        }
    }
    count_more(cq, 20);
    std::string problem;
    std::map<unsigned short, peer_socket> by_port;
    for (peer_socket c : clients) {
        int len = 0;
        by_port[port_of(local_address(c, &len))] = c;
    }
    for (accept_slot& a : slots) {
        if (a.packets != 1 && problem.empty())
            problem = "an accept got " + std::to_string(a.packets) + " packets";
        if (a.status == 0) {
            ++t.delivered;
            auto it = by_port.find(remote_port(a));
            if (it == by_port.end()) {
                if (problem.empty()) problem = "a delivered connection has no client";
            } else {
                send_all(it->second, "x");
                recv_outcome got = recv_once(a.target, 1);
                if (got.data != "x" && problem.empty())
                    problem = "no byte on a delivered socket";
                else
                    ++t.bytes_verified;
            }
        } else if (a.status == WSA_OPERATION_ABORTED) {
            ++t.aborted;
        } else if (a.packets == 1 && problem.empty()) {
            problem = "an accept completed with " + wsa_name(a.status);
        }
        WSPCloseSocket(a.target, &err);
    }
    for (peer_socket c : clients)
        peer_close(c);
    return problem;
}

} // namespace

TEST_CASE("accept.deliver, accept.close: accepts cancelled and aborted while connections "
          "arrive complete once each, deliver working connections and leak no descriptor") {
    {
        // The default engine's own descriptors exist before the count.
        int err = 0;
        SOCKET warm =
            WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        REQUIRE(warm != INVALID_SOCKET);
        WSPCloseSocket(warm, &err);
    }
    const std::size_t before = open_descriptors();
    tally t;
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < rounds; ++round) {
        const std::string problem = one_round(round, t);
        ++t.rounds;
        REQUIRE_MESSAGE(problem.empty(), "round " << round << ": " << problem);
        const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
        if (spent.count() > wall_limit_s) break;
    }
    std::size_t after = open_descriptors();
    for (int i = 0; i < 100 && after != before; ++i) { // a closing peer may lag a moment
        sleep_ms(10);
        after = open_descriptors();
    }
    std::printf("accept race: %d rounds, %d accepts posted, %d delivered, %d aborted, %d cancels "
                "asked, %d clients, %d delivered sockets verified, descriptors leaked: %lld\n",
                t.rounds, t.posted, t.delivered, t.aborted, t.cancels, t.clients, t.bytes_verified,
                static_cast<long long>(after) - static_cast<long long>(before));
    CHECK(t.delivered + t.aborted == t.posted);
    CHECK(t.delivered > 0);
    CHECK(t.aborted > 0);
    CHECK(after == before);
}
