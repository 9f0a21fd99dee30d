// SPDX-License-Identifier: MIT
// docs/contract.md rows accept.* (WSPAcceptEx: AcceptEx's model) on real loopback TCP.

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

constexpr DWORD block = sizeof(sockaddr_in6) + 16; // room for either family's address

SOCKET fresh_socket(int family = AF_INET) {
    int err = 0;
    SOCKET s = WSPSocket(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, "WSPSocket: " << wsa_name(err));
    return s;
}

void close_socket(SOCKET& s) {
    int err = 0;
    if (s != INVALID_SOCKET) WSPCloseSocket(s, &err);
    s = INVALID_SOCKET;
}

// One posted WSPAcceptEx: its accept socket, output buffer and overlapped (with an event).
struct accept_op {
    SOCKET target = INVALID_SOCKET;
    std::vector<char> output = std::vector<char>(2 * block, '\x5a');
    overlapped_op o{{1}};
    int rc = 0;
    int err = 0;
    DWORD bytes = 0xdeadbeef;

    explicit accept_op(int family = AF_INET) : target(fresh_socket(family)) {}
    ~accept_op() { close_socket(target); }

    int post(SOCKET listener, DWORD local = block, DWORD remote = block) {
        err = 0;
        rc = WSPAcceptEx(listener, target, output.data(), 0, local, remote, &bytes, &o.ov(), &err);
        return rc;
    }
    bool pending_or_done() const {
        return rc == 0 || (rc == SOCKET_ERROR && err == WSA_IO_PENDING);
    }
    // The remote address GetAcceptExSockaddrs reads from the output buffer.
    sockaddr_storage remote(int* len) {
        sockaddr* local_sa = nullptr;
        sockaddr* remote_sa = nullptr;
        int local_len = -1;
        *len = -1;
        WSPGetAcceptExSockaddrs(output.data(), 0, block, block, &local_sa, &local_len, &remote_sa,
                                len);
        sockaddr_storage out{};
        if (remote_sa && *len > 0) std::memcpy(&out, remote_sa, static_cast<std::size_t>(*len));
        return out;
    }
    sockaddr_storage local(int* len) {
        sockaddr* local_sa = nullptr;
        sockaddr* remote_sa = nullptr;
        int remote_len = -1;
        *len = -1;
        WSPGetAcceptExSockaddrs(output.data(), 0, block, block, &local_sa, len, &remote_sa,
                                &remote_len);
        sockaddr_storage out{};
        if (local_sa && *len > 0) std::memcpy(&out, local_sa, static_cast<std::size_t>(*len));
        return out;
    }
};

// Posts a on the listener, connects a client and checks the connection works both ways.
void accept_and_echo(accept_op& a, const sanport_listener& l, const std::string& text) {
    a.post(l.s);
    REQUIRE_MESSAGE(a.pending_or_done(), wsa_name(a.err));
    peer_socket client = posix_connect(l.address, l.address_len);
    REQUIRE(client != no_peer);
    REQUIRE(a.o.wait());
    CHECK(a.o.result(l.s).ok == TRUE);
    check_both_ways(a.target, client, text);
    peer_close(client);
}

} // namespace

TEST_CASE("accept.post, accept.addresses: an overlapped accept completes once through the "
          "event, the listener's queue and WSPGetOverlappedResult - the accept socket is the "
          "connection, and the addresses are both ends") {
    for (int family : {AF_INET, AF_INET6}) {
        if (family == AF_INET6 && !ipv6_loopback_available()) continue;
        CAPTURE(family);
        sanport_listener l(family);
        completion_queue cq;
        REQUIRE(cq.associate(l.s, 0xACC) == 0);
        accept_op a(family);
        a.post(l.s);
        REQUIRE_MESSAGE(a.pending_or_done(), wsa_name(a.err));
        peer_socket client = posix_connect(l.address, l.address_len);
        REQUIRE(client != no_peer);
        REQUIRE(a.o.wait());
        CHECK(a.o.event_signalled_soon());
        op_result r = a.o.result(l.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 0u);
        auto packets = dequeue_n(cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(packets[0].overlapped == &a.o.ov());
        CHECK(packets[0].key == 0xACCu);
        CHECK(packets[0].status == 0);

        int len = 0;
        const sockaddr_storage peer = a.remote(&len);
        int client_len = 0;
        const sockaddr_storage client_address = local_address(client, &client_len);
        CHECK(len == client_len);
        CHECK(peer.ss_family == family);
        CHECK(port_of(peer) == port_of(client_address));
        const sockaddr_storage me = a.local(&len);
        CHECK(len == l.address_len);
        CHECK(port_of(me) == port_of(l.address));
        check_both_ways(a.target, client, "accepted");
        CHECK(count_more(cq, 50) == 0u);
        peer_close(client);
    }
}

TEST_CASE("accept.order: several accepts on one listener take connections in posting order, "
          "each exactly once") {
    sanport_listener l;
    completion_queue cq;
    REQUIRE(cq.associate(l.s, 7) == 0);
    std::vector<std::unique_ptr<accept_op>> ops;
    for (int i = 0; i < 4; ++i) {
        ops.push_back(std::make_unique<accept_op>());
        ops.back()->post(l.s);
        REQUIRE_MESSAGE(ops.back()->pending_or_done(), wsa_name(ops.back()->err));
    }
    std::vector<peer_socket> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(posix_connect(l.address, l.address_len));
        REQUIRE(clients.back() != no_peer);
        // Accept i takes client i: the earlier ones are already taken.
        REQUIRE(ops[i]->o.wait());
        for (int j = i + 1; j < 4; ++j)
            CHECK(ops[j]->o.pending());
        int len = 0;
        int client_len = 0;
        CHECK(port_of(ops[i]->remote(&len)) == port_of(local_address(clients[i], &client_len)));
    }
    CHECK(dequeue_n(cq, 4).size() == 4u);
    CHECK(count_more(cq, 50) == 0u);
    for (int i = 0; i < 4; ++i) {
        check_both_ways(ops[i]->target, clients[i], "client " + std::to_string(i));
        peer_close(clients[i]);
    }
}

TEST_CASE("accept.close: closing the listener completes every waiting accept once with "
          "WSA_OPERATION_ABORTED - the accept sockets stay fresh and can be used again") {
    auto l = std::make_unique<sanport_listener>();
    completion_queue cq;
    REQUIRE(cq.associate(l->s, 9) == 0);
    accept_op a, b;
    a.post(l->s);
    b.post(l->s);
    REQUIRE(a.err == WSA_IO_PENDING);
    REQUIRE(b.err == WSA_IO_PENDING);
    l.reset(); // WSPCloseSocket
    for (accept_op* x : {&a, &b}) {
        REQUIRE(x->o.wait());
        CHECK(x->o.event_signalled_soon());
        CHECK(wsa_name(static_cast<int>(x->o.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
    }
    auto packets = dequeue_n(cq, 2);
    CHECK(packets.size() == 2u);
    for (const completion_entry& e : packets)
        CHECK(wsa_name(e.status) == "WSA_OPERATION_ABORTED");
    CHECK(count_more(cq, 50) == 0u);
    // The accept socket was never touched: a new listener can accept into it.
    sanport_listener l2;
    accept_and_echo(a, l2, "again");
}

TEST_CASE("accept.cancel: WSPCancelIoEx aborts a queued or a waiting accept once - the listener "
          "goes on accepting") {
    sanport_listener l;
    accept_op head, queued, next;
    head.post(l.s);
    queued.post(l.s);
    REQUIRE(head.err == WSA_IO_PENDING);
    REQUIRE(queued.err == WSA_IO_PENDING);
    int err = 0;
    REQUIRE(WSPCancelIoEx(l.s, &queued.o.ov(), &err) == 0);
    CHECK_FALSE(queued.o.pending()); // not in the kernel: done before the call returned
    CHECK(wsa_name(queued.o.result(l.s).err) == "WSA_OPERATION_ABORTED");
    REQUIRE(WSPCancelIoEx(l.s, &head.o.ov(), &err) == 0);
    REQUIRE(head.o.wait());
    CHECK(wsa_name(head.o.result(l.s).err) == "WSA_OPERATION_ABORTED");
    CHECK(WSPCancelIoEx(l.s, &head.o.ov(), &err) == SOCKET_ERROR);
    CHECK(err == static_cast<int>(ERROR_NOT_FOUND));

    accept_and_echo(next, l, "after cancel");
}

TEST_CASE("accept.target-closed: closing the accept socket aborts its waiting accept - the "
          "listener goes on accepting") {
    sanport_listener l;
    accept_op a, b;
    a.post(l.s);
    REQUIRE(a.err == WSA_IO_PENDING);
    close_socket(a.target);
    REQUIRE(a.o.wait());
    CHECK(wsa_name(static_cast<int>(a.o.ov().OffsetHigh)) == "WSA_OPERATION_ABORTED");
    accept_and_echo(b, l, "b");
}

TEST_CASE("accept.first-receive: with dwReceiveDataLength the accept completes when the first "
          "data arrived, with its count and bytes in front of the addresses - or with 0 bytes "
          "when the client closes first") {
    sanport_listener l;
    completion_queue cq;
    REQUIRE(cq.associate(l.s, 0xF1) == 0);
    constexpr DWORD first = 16;
    for (bool client_sends : {true, false}) {
        CAPTURE(client_sends);
        accept_op a;
        a.output.assign(first + 2 * block, '\x5a');
        DWORD bytes = 0;
        int err = 0;
        const int rc = WSPAcceptEx(l.s, a.target, a.output.data(), first, block, block, &bytes,
                                   &a.o.ov(), &err);
        REQUIRE(rc == SOCKET_ERROR);
        REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
        peer_socket client = posix_connect(l.address, l.address_len);
        REQUIRE(client != no_peer);
        sleep_ms(100);
        CHECK(a.o.pending()); // connected, but no data yet
        if (client_sends)
            send_all(client, "hello");
        else
            peer_shutdown_both(client);
        REQUIRE(a.o.wait());
        op_result r = a.o.result(l.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == (client_sends ? 5u : 0u));
        if (client_sends) CHECK(std::string(a.output.data(), 5) == "hello");
        auto packets = dequeue_n(cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(packets[0].key == 0xF1u);
        CHECK(packets[0].overlapped == &a.o.ov());
        CHECK(packets[0].bytes == (client_sends ? 5u : 0u));
        sockaddr* local = nullptr;
        sockaddr* remote = nullptr;
        int local_len = 0;
        int remote_len = 0;
        WSPGetAcceptExSockaddrs(a.output.data(), first, block, block, &local, &local_len, &remote,
                                &remote_len);
        int client_len = 0;
        const sockaddr_storage client_address = local_address(client, &client_len);
        CHECK(remote_len == client_len);
        REQUIRE(remote != nullptr);
        sockaddr_storage peer{};
        std::memcpy(&peer, remote, static_cast<std::size_t>(remote_len));
        CHECK(port_of(peer) == port_of(client_address));
        if (client_sends) check_both_ways(a.target, client, "and then");
        peer_close(client);
    }
    CHECK(count_more(cq, 50) == 0u);
}

#ifndef _WIN32
namespace {

// Every descriptor number the process may still open is taken (RLIMIT_NOFILE lowered to just
// above the highest one open); release() frees them and restores the limit. No doctest
// assertion runs while they are taken: sanitizers open /proc files to check some of them.
class descriptors_exhausted {
public:
    descriptors_exhausted() {
        int highest = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
            highest = std::max(highest, std::stoi(entry.path().filename().string()));
        REQUIRE(getrlimit(RLIMIT_NOFILE, &saved_) == 0);
        rlimit low = saved_;
        low.rlim_cur = static_cast<rlim_t>(highest) + 1;
        REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
        for (int fd; (fd = ::dup(0)) >= 0;)
            fillers_.push_back(fd);
        full_ = errno == EMFILE;
    }
    ~descriptors_exhausted() { release(); }
    void release() {
        for (int fd : fillers_)
            ::close(fd);
        fillers_.clear();
        setrlimit(RLIMIT_NOFILE, &saved_);
    }
    bool was_full() const { return full_; }

private:
    rlimit saved_{};
    std::vector<int> fillers_;
    bool full_ = false;
};

} // namespace

TEST_CASE("accept.fd-exhausted: out of descriptors, the accept fails with WSAEMFILE - the "
          "connection stays queued and the next accept takes it once descriptors are free") {
    sanport_listener l;
    accept_op failing, next;
    peer_socket client = posix_connect(l.address, l.address_len);
    REQUIRE(client != no_peer);
    bool full = false;
    bool completed = false;
    {
        descriptors_exhausted fds;
        full = fds.was_full();
        failing.post(l.s);
        completed = failing.rc == 0 ||
                    (failing.err == WSA_IO_PENDING && wait_done(failing.o.ov(), max_wait_ms));
        fds.release();
    }
    REQUIRE(full);
    REQUIRE_MESSAGE(completed, wsa_name(failing.err));
    op_result r = failing.o.result(l.s);
    CHECK(r.ok == FALSE);
    CHECK(wsa_name(r.err) == "WSAEMFILE");
    next.post(l.s);
    REQUIRE_MESSAGE(next.pending_or_done(), wsa_name(next.err));
    REQUIRE(next.o.wait());
    CHECK(next.o.result(l.s).ok == TRUE);
    int len = 0;
    int client_len = 0;
    CHECK(port_of(next.remote(&len)) == port_of(local_address(client, &client_len)));
    check_both_ways(next.target, client, "after EMFILE");
    peer_close(client);
}
#endif
