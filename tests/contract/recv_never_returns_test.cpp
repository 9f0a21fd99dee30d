// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.codes.never (codes the specification says a SAN provider never
// returns), depart.codes, errors.table.

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#ifndef _WIN32 // O_NONBLOCK and signals: the two Linux-only cases below
#include <csignal>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

struct observed {
    std::string what;
    int code;
};

// recv.codes.never's list, and depart.codes's: WSAETIMEDOUT never (a time-out is
// WSAECONNABORTED), WSAENOBUFS only when sanport's own memory runs out, which no path here does.
bool forbidden(int code) {
    return code == WSAEINTR || code == WSAEINPROGRESS || code == WSAEOPNOTSUPP ||
           code == WSAEWOULDBLOCK || code == WSAEMSGSIZE || code == WSAETIMEDOUT ||
           code == WSAENOBUFS;
}

// Operations left pending on purpose; declared before the pairs so they outlive them.
using keep_list = std::vector<std::unique_ptr<overlapped_op>>;

// Records the code of an overlapped receive: at the call, or from its completion. One that
// is still pending goes to `keep`, to be aborted when its pair closes.
void record_overlapped(std::vector<observed>& seen, keep_list& keep, const std::string& what,
                       SOCKET s, std::vector<ULONG> lengths, DWORD flags = 0, bool wait = true) {
    auto op = std::make_unique<overlapped_op>(std::move(lengths));
    op->recv(s, flags);
    if (op->rc == SOCKET_ERROR && op->err != WSA_IO_PENDING) {
        seen.push_back({what + " (at the call)", op->err});
        return;
    }
    if (op->rc == 0) return;
    if (wait && op->wait(2000)) {
        op_result r = op->result(s);
        if (!r.ok) seen.push_back({what + " (completion)", r.err});
        return;
    }
    keep.push_back(std::move(op));
}

void record_blocking(std::vector<observed>& seen, const std::string& what, SOCKET s,
                     DWORD flags = 0) {
    char buf[16];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = 0;
    int err = 0;
    if (WSPRecv(s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err) != 0)
        seen.push_back({what + " (blocking)", err});
}

void check_none_forbidden(const std::vector<observed>& seen) {
    for (const observed& o : seen) {
        INFO(o.what << " returned " << wsa_name(o.code));
        CHECK_FALSE(forbidden(o.code));
        CHECK(wsa_name(o.code) != "WSA_UNKNOWN_ERROR");
    }
}

#ifndef _WIN32
void on_signal(int) {}
#endif

} // namespace

TEST_CASE("recv.codes.never, depart.codes, errors.table: never returns the forbidden codes - "
          "across the error paths of every row") {
    std::vector<observed> seen;
    keep_list keep;
    record_overlapped(seen, keep, "unknown socket", static_cast<SOCKET>(987654), {8});
    record_blocking(seen, "unknown socket", static_cast<SOCKET>(987654));
    {
        int err = 0;
        SOCKET s =
            WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        REQUIRE(s != INVALID_SOCKET);
        record_overlapped(seen, keep, "not bound", s, {8});
        record_blocking(seen, "not bound", s);
        int len = 0;
        sockaddr_storage a = loopback_address(AF_INET, 0, &len);
        REQUIRE(WSPBind(s, reinterpret_cast<sockaddr*>(&a), len, &err) == 0);
        record_overlapped(seen, keep, "bound, not connected", s, {8});
        REQUIRE(WSPListen(s, 4, &err) == 0);
        record_overlapped(seen, keep, "listening", s, {8});
        record_blocking(seen, "listening", s);
        WSPCloseSocket(s, &err);
    }
    {
        loopback_pair p = make_pair(pair_kind::connect, AF_INET, 0);
        record_overlapped(seen, keep, "not overlapped", p.s, {8});
    }
    {
        loopback_pair p = make_pair();
        record_overlapped(seen, keep, "no buffers", p.s, {}, 0, false);
        record_overlapped(seen, keep, "MSG_OOB", p.s, {8}, MSG_OOB);
        record_overlapped(seen, keep, "MSG_WAITALL with MSG_PEEK", p.s, {8},
                          MSG_WAITALL | MSG_PEEK);
        record_overlapped(seen, keep, "MSG_PARTIAL", p.s, {8}, MSG_PARTIAL, false);
        record_overlapped(seen, keep, "unknown flag 0x40000", p.s, {8}, 0x40000, false);
        std::vector<ULONG> too_many(max_buffer_count + 1, 1);
        record_overlapped(seen, keep, "too many buffers", p.s, too_many);
        int err = 0;
        REQUIRE(set_socket_mode(p.s, socket_mode::strict_registration, 1, &err) == 0);
        record_overlapped(seen, keep, "strict registration", p.s, {8});
    }
    {
        loopback_pair p = make_pair();
        int err = 0;
        REQUIRE(WSPShutdown(p.s, SD_RECEIVE, &err) == 0);
        record_overlapped(seen, keep, "after SD_RECEIVE", p.s, {8});
        record_blocking(seen, "after SD_RECEIVE", p.s);
    }
    {
        loopback_pair p = make_pair();
        overlapped_op pending({8});
        REQUIRE(pending.recv(p.s) == SOCKET_ERROR);
        p.reset_peer();
        REQUIRE(pending.wait());
        op_result r = pending.result(p.s);
        if (!r.ok) seen.push_back({"reset while pending", r.err});
        record_overlapped(seen, keep, "after reset", p.s, {8});
        record_blocking(seen, "after reset", p.s);
    }
    {
        loopback_pair p = make_pair();
        int err = 0;
        REQUIRE(set_socket_mode(p.s, socket_mode::report_disconnect, 1, &err) == 0);
        p.close_peer();
        record_overlapped(seen, keep, "after FIN, report_disconnect", p.s, {8});
        record_blocking(seen, "after FIN, report_disconnect", p.s);
    }
    {
        loopback_pair p = make_pair();
        overlapped_op pending({8});
        REQUIRE(pending.recv(p.s) == SOCKET_ERROR);
        SOCKET old = p.s;
        REQUIRE(p.close_socket() == 0);
        op_result r = pending.result(old);
        if (!r.ok) seen.push_back({"closed while pending", r.err});
        record_overlapped(seen, keep, "after close", old, {8});
    }
    CHECK(seen.size() >= 15u);
    check_none_forbidden(seen);
}

// Linux-only: O_NONBLOCK is a POSIX descriptor flag (Winsock's FIONBIO needs a case of its own).
#ifndef _WIN32
TEST_CASE("recv.codes.never: never returns WSAEWOULDBLOCK - an O_NONBLOCK socket still pends or "
          "blocks") {
    loopback_pair p = make_pair();
    int fd = static_cast<int>(p.s);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    overlapped_op op({8});
    op.recv(p.s);
    CHECK(op.rc == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(p.peer, "first");
    REQUIRE(op.wait());
    CHECK(op.result(p.s).bytes == 5u);

    watchdog wd(max_wait_ms, [peer = p.peer] { peer_shutdown_both(peer); });
    delayed sender(50, [peer = p.peer] { try_send_all(peer, "second"); });
    char buf[16];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = 0, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err);
    sender.join();
    INFO("blocking WSPRecv returned " << rc << " / " << wsa_name(err));
    CHECK(rc == 0);
    CHECK(bytes == 6u);
    CHECK(std::string(buf, 6) == "second");
}
#endif // !_WIN32

// Linux-only: interrupts the blocking call with SIGUSR1 (sigaction, pthread_kill); Windows has
// no signals that interrupt a wait.
#ifndef _WIN32
TEST_CASE("recv.codes.never: never returns WSAEINTR - a signal during a blocking receive is not "
          "reported") {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: the kernel call is interrupted
    struct sigaction old {};
    REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);

    loopback_pair p = make_pair();
    pthread_t self = ::pthread_self();
    watchdog wd(max_wait_ms, [peer = p.peer] { peer_shutdown_both(peer); });
    delayed interrupter(30, [self, peer = p.peer] {
        for (int i = 0; i < 3; ++i) {
            ::pthread_kill(self, SIGUSR1);
            sleep_ms(10);
        }
        sleep_ms(30);
        try_send_all(peer, "after signals");
    });
    char buf[32];
    WSABUF b{sizeof buf, buf};
    DWORD bytes = 0, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, &b, 1, &bytes, &flags, nullptr, nullptr, nullptr, &err);
    interrupter.join();
    INFO("blocking WSPRecv returned " << rc << " / " << wsa_name(err));
    CHECK(rc == 0);
    CHECK(bytes == 13u);
    CHECK(std::string(buf, 13) == "after signals");

    // The same for WSPGetOverlappedResult waiting on a pending receive.
    overlapped_op op({32});
    REQUIRE(op.recv(p.s) == SOCKET_ERROR);
    delayed interrupter2(30, [self, peer = p.peer] {
        ::pthread_kill(self, SIGUSR1);
        sleep_ms(30);
        try_send_all(peer, "again");
    });
    op_result r = op.result(p.s, TRUE);
    interrupter2.join();
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 5u);
    ::sigaction(SIGUSR1, &old, nullptr);
}
#endif // !_WIN32
