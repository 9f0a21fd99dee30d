// SPDX-License-Identifier: MIT
// docs/contract.md rows: stale.retire, stale.window (close(2) on a sanport SOCKET).
//
// Linux only: each case needs the OS to hand a closed handle's number to the next socket, which
// POSIX promises (the lowest free descriptor) and Windows does not (handle values come in no
// promised order), so the row says "Not on iocp".

#include <doctest/doctest.h>

#include "../support/loopback.hpp"
#include "hold_below.hpp"

#ifndef _WIN32

#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace sanport;
using namespace sanport::test;

namespace {

// The line sanport prints the first time it meets a stale entry (once per process).
constexpr const char* notice_text = "was closed with close()/closesocket() behind sanport's back";

// Everything the tests of this file captured from stderr, across the whole process: the line is
// printed once per process, so the count is checked over all of it.
std::string& captured() {
    static std::string all;
    return all;
}

std::size_t notice_count() {
    std::size_t n = 0;
    for (std::size_t at = captured().find(notice_text); at != std::string::npos;
         at = captured().find(notice_text, at + 1))
        ++n;
    return n;
}

// Sends fd 2 to a temporary file until stop(); what came is added to captured() and copied to
// the real stderr. Made before the handle is closed, so its own descriptors never take the
// number under test.
class stderr_capture {
public:
    stderr_capture() {
        std::fflush(stderr);
        saved_ = ::dup(2);
        file_ = std::tmpfile();
        REQUIRE(saved_ >= 0);
        REQUIRE(file_ != nullptr);
        ::dup2(::fileno(file_), 2);
    }
    ~stderr_capture() { stop(); }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    void stop() {
        if (file_ == nullptr) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        std::string text;
        std::rewind(file_);
        char chunk[512];
        for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file_)) > 0;)
            text.append(chunk, n);
        std::fclose(file_);
        file_ = nullptr;
        captured() += text;
        std::fputs(text.c_str(), stderr);
    }

private:
    int saved_ = -1;
    std::FILE* file_ = nullptr;
};

// A connected pair with two receives pending on its sanport end, which is associated with cq.
struct stale_setup {
    loopback_pair pair;
    completion_queue cq;
    std::vector<std::unique_ptr<overlapped_op>> ops;
    SOCKET old = INVALID_SOCKET;

    stale_setup() : pair(make_pair()) {
        REQUIRE(cq.associate(pair.s, 0x57A1E) == 0);
        for (int i = 0; i < 2; ++i) {
            ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{16}));
            REQUIRE(ops.back()->recv(pair.s) == SOCKET_ERROR);
            REQUIRE(wsa_name(ops.back()->err) == "WSA_IO_PENDING");
        }
        // Let the engine hand the head receive to the kernel, so the close meets it there.
        sleep_ms(settle_ms);
        // A call that takes the socket's lock, under which the engine armed that receive: it
        // orders the arming before the close below for ThreadSanitizer too (a sleep does not).
        int err = 0;
        REQUIRE(sanport::set_socket_mode(pair.s, sanport::socket_mode::report_disconnect, 0,
                                         &err) == 0);
        old = pair.s;
    }

    // close(2) behind sanport's back; the pair forgets the number, which is about to be reused.
    void close_behind_sanports_back() {
        REQUIRE(::close(static_cast<int>(old)) == 0);
        pair.s = INVALID_SOCKET;
    }

    // Each pending receive has completed exactly once, as WSPCloseSocket completes it.
    void check_completed_once() {
        std::set<WSAOVERLAPPED*> mine;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            INFO("receive " << i);
            CHECK_FALSE(ops[i]->pending());
            CHECK(ops[i]->event_signalled_soon());
            const int wsa = static_cast<int>(ops[i]->ov().OffsetHigh);
            if (ops[i]->ov().InternalHigh == 0)
                CHECK(wsa_name(wsa) == "WSA_OPERATION_ABORTED");
            else
                CHECK(wsa == 0);
            mine.insert(&ops[i]->ov());
        }
        auto packets = dequeue_n(cq, ops.size(), 2000);
        CHECK(packets.size() == ops.size());
        std::set<WSAOVERLAPPED*> seen;
        for (const completion_entry& e : packets) {
            CHECK(e.key == 0x57A1Eu);
            seen.insert(e.overlapped);
        }
        CHECK(seen == mine);
        CHECK(count_more(cq, settle_ms) == 0u);
    }
};

// Data both ways on a connected sanport socket s and its plain peer; the receive is posted
// before the data is sent, so it must be woken by the backend (a lost registration shows here).
void carries_data(SOCKET s, peer_socket peer) {
    overlapped_op in({64});
    const int rc = in.recv(s);
    REQUIRE((rc == 0 || in.call_pending()));
    sleep_ms(20);
    send_all(peer, "ping from the peer");
    op_result r = in.finish(s);
    REQUIRE(r.ok == TRUE);
    CHECK(in.data(r.bytes) == "ping from the peer");

    overlapped_op out({64});
    out.send(s, "pong from sanport");
    op_result w = out.finish(s);
    CHECK(w.ok == TRUE);
    CHECK(read_exactly(peer, 17) == "pong from sanport");
}

sockaddr* as_addr(sockaddr_storage& a) {
    return reinterpret_cast<sockaddr*>(&a);
}

} // namespace

TEST_CASE("stale.retire: close() on a sanport socket with 2 receives pending, then WSPSocket gets "
          "the same number - it succeeds, the receives complete once, the new socket works") {
    posix_listener server;
    stale_setup t;
    stderr_capture capture;
    t.close_behind_sanports_back();
    int err = 0;
    SOCKET fresh = INVALID_SOCKET;
    {
        hold_below hold(t.old);
        fresh = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    }
    capture.stop();
    REQUIRE_MESSAGE(fresh != INVALID_SOCKET, "WSPSocket failed with " << wsa_name(err));
    CHECK(fresh == t.old);
    t.check_completed_once();
    CHECK(std::string(to_string(read_until_end(t.pair.peer, 2000))) == "eof");

    REQUIRE(WSPConnect(fresh, as_addr(server.address), server.address_len, nullptr, nullptr,
                       nullptr, nullptr, &err) == 0);
    peer_socket other = server.accept_one();
    REQUIRE(other != no_peer);
    carries_data(fresh, other);
    CHECK(WSPCloseSocket(fresh, &err) == 0);
    peer_close(other);
}

TEST_CASE("stale.retire: close() on a sanport socket with 2 receives pending, then WSPAccept gets "
          "the same number - the accept succeeds and the connection carries data") {
    sanport_listener listener;
    stale_setup t;
    peer_socket client = posix_connect(listener.address, listener.address_len);
    REQUIRE(client != no_peer);
    stderr_capture capture;
    t.close_behind_sanports_back();
    int err = 0;
    SOCKET accepted = INVALID_SOCKET;
    {
        hold_below hold(t.old);
        accepted = listener.accept_one(&err);
    }
    capture.stop();
    REQUIRE_MESSAGE(accepted != INVALID_SOCKET, "WSPAccept failed with " << wsa_name(err));
    CHECK(accepted == t.old);
    t.check_completed_once();
    carries_data(accepted, client);
    CHECK(WSPCloseSocket(accepted, &err) == 0);
    peer_close(client);
}

TEST_CASE(
    "stale.retire: close() on a sanport socket with 2 receives pending, then WSPAdoptSocket "
    "of an OS socket with the same number - it succeeds and carries data, and adopting a live "
    "sanport socket is still WSAEINVAL") {
    posix_listener server;
    stale_setup t;
    int err = 0;
    CHECK(WSPAdoptSocket(t.old, WSA_FLAG_OVERLAPPED, &err) == INVALID_SOCKET);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(t.ops[0]->pending());

    stderr_capture capture;
    t.close_behind_sanports_back();
    int fd = -1;
    {
        hold_below hold(t.old);
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    REQUIRE(static_cast<SOCKET>(fd) == t.old);
    REQUIRE(::connect(fd, as_addr(server.address), static_cast<socklen_t>(server.address_len)) ==
            0);
    const SOCKET adopted = WSPAdoptSocket(static_cast<SOCKET>(fd), WSA_FLAG_OVERLAPPED, &err);
    capture.stop();
    if (adopted == INVALID_SOCKET) ::close(fd);
    REQUIRE_MESSAGE(adopted != INVALID_SOCKET, "WSPAdoptSocket failed with " << wsa_name(err));
    CHECK(adopted == t.old);
    t.check_completed_once();
    peer_socket other = server.accept_one();
    REQUIRE(other != no_peer);
    carries_data(adopted, other);
    CHECK(WSPCloseSocket(adopted, &err) == 0);
    peer_close(other);
}

TEST_CASE("stale.retire: the line on stderr appears once per process") {
    for (int round = 0; round < 2; ++round) {
        INFO("round " << round);
        stale_setup t;
        stderr_capture capture;
        t.close_behind_sanports_back();
        int err = 0;
        SOCKET fresh = INVALID_SOCKET;
        {
            hold_below hold(t.old);
            fresh = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, 0, &err);
        }
        capture.stop();
        REQUIRE_MESSAGE(fresh != INVALID_SOCKET, "WSPSocket failed with " << wsa_name(err));
        t.check_completed_once();
        CHECK(WSPCloseSocket(fresh, &err) == 0);
    }
    CHECK(notice_count() == 1u);
    CHECK(captured().find("sanport: SOCKET ") != std::string::npos);
    CHECK(captured().find("use WSPCloseSocket") != std::string::npos);
}

TEST_CASE("stale.window: a stale handle before and after another component gets its number - "
          "receives stay pending, WSPCloseSocket completes them once and does not close the "
          "other component's socket") {
    posix_listener server;
    stale_setup t;
    t.close_behind_sanports_back();
    sleep_ms(settle_ms);
    // Before the number is reused: nothing completes the pending receives...
    CHECK(t.ops[0]->pending());
    CHECK(t.ops[1]->pending());
    // ...and a new operation meets the closed descriptor.
    overlapped_op out({16});
    out.send(t.old, "lost");
    op_result w = out.finish(t.old);
    CHECK(w.ok == FALSE);
    CHECK(wsa_name(w.err) == "WSAENOTSOCK");
    if (w.way == op_result::how::completed) { // failed through its completion: one packet
        auto packets = dequeue_n(t.cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(packets[0].overlapped == &out.ov());
    }

    // Another component (not sanport) gets the number.
    int fd = -1;
    {
        hold_below hold(t.old);
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    REQUIRE(static_cast<SOCKET>(fd) == t.old);
    REQUIRE(::connect(fd, as_addr(server.address), static_cast<socklen_t>(server.address_len)) ==
            0);
    peer_socket other = server.accept_one();
    REQUIRE(other != no_peer);

    stderr_capture capture;
    int err = 0;
    CHECK(WSPCloseSocket(t.old, &err) == SOCKET_ERROR);
    capture.stop();
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    t.check_completed_once();
    // The other component's socket is still open and still its own.
    CHECK(os_socket_open(static_cast<SOCKET>(fd)));
    send_all(fd, "still mine");
    CHECK(read_exactly(other, 10) == "still mine");
    // The handle is gone for sanport.
    CHECK(WSPCloseSocket(t.old, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    CHECK(os_socket_open(static_cast<SOCKET>(fd)));
    ::close(fd);
    peer_close(other);
}

#endif // _WIN32
