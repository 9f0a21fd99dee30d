// SPDX-License-Identifier: MIT
// engine.other-thread.blocking, engine.other-thread.busy: a blocking WSPRecv/WSPSend
// (lpOverlapped NULL) on a driven engine's socket, from a thread that is not the owner, while
// the owner does not drive (it waits in a join). With nothing of that direction in flight the
// call is served on its own thread with the ring path's results; otherwise it fails at once.
// Every case runs under a watchdog that ends the process (a failure) instead of hanging CI.
#include "tests/contract/driven_pair.hpp"
#include "tests/support/loopback.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

using namespace sanport::test;

namespace {

// What one blocking call returned (filled on the calling thread, checked on the test's).
struct blocking_result {
    int rc = -2;
    int err = 0;
    DWORD bytes = bytes_sentinel;
    std::string data;
    std::string why;
};

blocking_result blocking_recv(SOCKET s, ULONG capacity, DWORD flags = 0) {
    blocking_result out;
    std::string buf(capacity, '.');
    WSABUF wb{capacity, buf.data()};
    out.rc = sanport::WSPRecv(s, &wb, 1, &out.bytes, &flags, nullptr, nullptr, nullptr, &out.err);
    if (out.rc == 0) out.data = buf.substr(0, out.bytes);
    out.why = sanport::last_error_detail();
    return out;
}

// By reference: an 8 MiB copy on the calling thread could outlast a test's settle_ms.
blocking_result blocking_send(SOCKET s, const std::string& data) {
    blocking_result out;
    WSABUF wb{static_cast<ULONG>(data.size()), const_cast<char*>(data.data())}; // only read
    out.rc = sanport::WSPSend(s, &wb, 1, &out.bytes, 0, nullptr, nullptr, nullptr, &out.err);
    out.why = sanport::last_error_detail();
    return out;
}

// The peer ends its sending side (FIN) and can still read.
void peer_shutdown_send(peer_socket fd) {
#ifdef _WIN32
    ::shutdown(fd, SD_SEND);
#else
    ::shutdown(fd, SHUT_WR);
#endif
}

// Runs fn on a new thread and joins it: the owner (this thread) waits outside sanport.
template <class F> void on_other_thread(const char* what, F fn) {
    watchdog dog(max_wait_ms, [what] { hung(what); });
    std::thread other(fn);
    other.join();
}

} // namespace

TEST_CASE("engine.other-thread.blocking: a blocking WSPRecv and WSPSend from a thread that is not "
          "the owner are served on that thread, with the ring path's results") {
    auto e = driven_engine(); // this thread owns it and never drives it in this case
    posix_listener listener;
    adopted_pair pair;
    adopt_pair(*e, listener, pair);
    blocking_result first, peeked, peeked_again, whole, sent, end, end_again;
    on_other_thread("blocking calls on a thread that is not the owner", [&] {
        // Data that arrives while the call waits.
        delayed later(settle_ms, [&] { try_send_all(pair.peer, "ping!"); });
        first = blocking_recv(pair.s, 16);
        later.join();
        // recv.peek: copied, not consumed.
        try_send_all(pair.peer, "abc");
        peeked = blocking_recv(pair.s, 16, MSG_PEEK);
        peeked_again = blocking_recv(pair.s, 2, MSG_PEEK);
        // recv.waitall: the call goes on until the buffer is full, across segments.
        delayed rest(settle_ms, [&] { try_send_all(pair.peer, "defgh"); });
        whole = blocking_recv(pair.s, 8, MSG_WAITALL);
        rest.join();
        sent = blocking_send(pair.s, "pong");
        // recv.peer.close: the end is 0 bytes, every time.
        peer_shutdown_send(pair.peer);
        end = blocking_recv(pair.s, 16);
        end_again = blocking_recv(pair.s, 16);
    });
    CHECK(first.rc == 0);
    CHECK(first.data == "ping!");
    CHECK(peeked.rc == 0);
    CHECK(peeked.data == "abc");
    CHECK(peeked_again.data == "ab");
    CHECK(whole.rc == 0);
    CHECK(whole.bytes == 8);
    CHECK(whole.data == "abcdefgh");
    CHECK(sent.rc == 0);
    CHECK(sent.bytes == 4);
    CHECK(read_exactly(pair.peer, 4) == "pong");
    CHECK(end.rc == 0);
    CHECK(end.bytes == 0);
    CHECK(end_again.rc == 0);
    CHECK(end_again.bytes == 0);
    // The owner still drives the engine afterwards: an overlapped receive goes through the ring.
    overlapped_op op({16});
    op.recv(pair.s);
    const op_result r = op.finish(pair.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == 0);
}

TEST_CASE("engine.other-thread.blocking: a reset met on the calling thread is sticky, as on the "
          "ring (recv.peer.reset)") {
    // Served on the caller: the call waits with a receive posted (iocp: an overlapped peek),
    // so the reset meets it under Wine too.
    auto e = driven_engine();
    posix_listener listener;
    adopted_pair pair;
    adopt_pair(*e, listener, pair);
    blocking_result data, reset, again, send_after;
    on_other_thread("a reset met on the calling thread", [&] {
        try_send_all(pair.peer, "last");
        data = blocking_recv(pair.s, 16);
        delayed later(settle_ms, [&] {
            peer_reset(pair.peer);
            pair.peer = no_peer;
        });
        reset = blocking_recv(pair.s, 16);
        later.join();
        again = blocking_recv(pair.s, 16);
        send_after = blocking_send(pair.s, "x");
    });
    CHECK(data.data == "last");
    CHECK(reset.rc == SOCKET_ERROR);
    CHECK(wsa_name(reset.err) == "WSAECONNRESET");
    CHECK(again.rc == SOCKET_ERROR);
    CHECK(wsa_name(again.err) == "WSAECONNRESET");
    CHECK(send_after.rc == SOCKET_ERROR);
    CHECK(wsa_name(send_after.err) == "WSAECONNRESET");
}

TEST_CASE("engine.other-thread.busy: from a thread that is not the owner, a blocking call fails "
          "at once with WSAEINVAL and a reason when that direction has operations pending") {
    auto e = driven_engine();
    sanport::completion_queue cq(*e);
    posix_listener listener;
    adopted_pair pair;
    adopt_pair(*e, listener, pair);
    REQUIRE(cq.associate(pair.s, 7) == 0);
    // More than the socket buffers hold, so the send is still in flight on every backend
    // (iocp issues it on this thread, and it may finish there at once when it is small).
    const std::string big(16u << 20, 'q');
    overlapped_op pending_recv({16}), pending_send({static_cast<ULONG>(big.size())});
    pending_recv.recv(pair.s);
    REQUIRE(pending_recv.call_pending());
    pending_send.send(pair.s, big);
    REQUIRE(pending_send.call_pending());
    REQUIRE(pending_send.pending());
    blocking_result r, s;
    on_other_thread("a blocking call with operations pending", [&] {
        r = blocking_recv(pair.s, 16);
        s = blocking_send(pair.s, "more");
    });
    CHECK(r.rc == SOCKET_ERROR);
    CHECK(wsa_name(r.err) == "WSAEINVAL");
    CHECK(r.why.find("owner") != std::string::npos);
    CHECK(s.rc == SOCKET_ERROR);
    CHECK(wsa_name(s.err) == "WSAEINVAL");
    CHECK(s.why.find("owner") != std::string::npos);
    // Nothing was lost: the owner's drive completes both, the send once the peer reads it.
    watchdog dog(max_wait_ms, [] { hung("the owner's drive after a refused blocking call"); });
    send_all(pair.peer, "hi");
    const op_result got = pending_recv.result(pair.s, TRUE); // the owner drives while it waits
    CHECK(got.ok == TRUE);
    CHECK(pending_recv.data(got.bytes) == "hi");
    std::string sent;
    std::thread reader([&] { sent = read_exactly(pair.peer, big.size()); });
    const op_result wrote = pending_send.result(pair.s, TRUE);
    reader.join();
    CHECK(wrote.ok == TRUE);
    CHECK(wrote.bytes == big.size());
    const bool same = sent == big; // not CHECK(sent == big): it would print 16 MiB twice
    CHECK(same);
}

TEST_CASE("engine.other-thread.blocking: WSPCloseSocket ends a blocking receive or send served on "
          "its caller - the call fails with WSA_OPERATION_ABORTED and the close returns at once") {
    for (const bool close_on_owner : {true, false}) {
        for (const bool sending : {false, true}) {
            CAPTURE(close_on_owner);
            CAPTURE(sending);
            auto e = driven_engine();
            posix_listener listener(AF_INET, 4096);
            adopted_pair pair;
            adopt_pair(*e, listener, pair);
            if (sending) REQUIRE(set_send_buffer(pair.s, 4096));
            blocking_result blocked;
            std::atomic<bool> returned{false};
            watchdog dog(max_wait_ms, [] { hung("a blocking call served on its caller, closed"); });
            // A send far larger than both socket buffers waits for room that never comes. Made
            // here: filling 8 MiB on the caller under TSan could outlast settle_ms, and a close
            // before the call began would read WSAENOTSOCK instead of an abort.
            const std::string payload(sending ? 8u << 20 : 0u, 'z');
            std::thread caller([&] {
                blocked = sending ? blocking_send(pair.s, payload) : blocking_recv(pair.s, 64);
                returned = true;
            });
            sleep_ms(settle_ms);
            REQUIRE_FALSE(returned.load());
            int rc = -2, err = 0;
            stopwatch took;
            if (close_on_owner) {
                rc = sanport::WSPCloseSocket(pair.s, &err);
            } else {
                std::thread closer([&] { rc = sanport::WSPCloseSocket(pair.s, &err); });
                closer.join();
            }
            caller.join();
            CHECK(rc == 0);
            CHECK(took.ms() < 2000);
            CHECK(blocked.rc == SOCKET_ERROR);
            CHECK(wsa_name(blocked.err) == "WSA_OPERATION_ABORTED");
            CHECK_FALSE(os_socket_open(pair.s));
        }
    }
}
