// SPDX-License-Identifier: MIT
// docs/contract.md rows coro.resume and coro.immediate: sanport/coro.h's awaitables for
// WSPRecv/WSPSend, resumed by the dequeuing thread of a driven engine.

#include <sanport/coro.h>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "driven_pair.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

struct echo_state {
    int messages = 0;
    int sent = 0;
    int suspensions = 0;
    bool ended = false;
    int error = 0;
};

// Echoes until the peer ends the stream, counting the co_awaits that suspended.
coro::detached echo(SOCKET s, echo_state& st) {
    char data[256];
    for (;;) {
        WSABUF buf{sizeof data, data};
        const coro::io_result r = co_await coro::recv(s, &buf, 1);
        if (!r.immediate) ++st.suspensions;
        if (r.error != 0 || r.bytes == 0) {
            st.error = r.error;
            break;
        }
        ++st.messages;
        buf.len = r.bytes;
        const coro::io_result w = co_await coro::send(s, &buf, 1);
        if (!w.immediate) ++st.suspensions;
        if (w.error != 0 || w.bytes != r.bytes) {
            st.error = w.error != 0 ? w.error : -1;
            break;
        }
        ++st.sent;
    }
    st.ended = true;
}

// Several coroutines posting receives on one socket: each records what it got, in turn.
coro::detached take(SOCKET s, std::vector<std::string>& out, std::size_t index) {
    char data[4];
    WSABUF buf{sizeof data, data};
    const coro::io_result r = co_await coro::recv(s, &buf, 1, MSG_WAITALL);
    if (r.error == 0) out[index].assign(data, r.bytes);
}

void drive_until(completion_queue& cq, const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i)
        coro::run_once(cq, 20, [](const completion_entry&) { FAIL("a packet not a coroutine's"); });
}

} // namespace

TEST_CASE("coro.resume: a coroutine echo on a driven engine, resumed by run_once on the owner") {
    driven_queue_pair t;
    auto& [e, cq, listener, p] = t;
    watchdog dog(60000, [] { hung("coro.resume"); });
    REQUIRE(coro::associate(cq, p.s) == 0);
    echo_state st;
    echo(p.s, st);
    CHECK_FALSE(st.ended); // nothing arrived yet: suspended in its first receive
    CHECK(st.messages == 0);
    int k = 0;
    for (const std::string text : {"alpha", "beta", "gamma"}) {
        send_all(p.peer, text);
        ++k;
        drive_until(cq, [&] { return st.sent == k; });
        REQUIRE(st.sent == k);
        CHECK(read_exactly(p.peer, text.size()) == text);
    }
    CHECK(st.suspensions >= 3); // each receive waited for data that was not there yet
    peer_shutdown_both(p.peer);
    drive_until(cq, [&] { return st.ended; });
    CHECK(st.ended);
    CHECK(st.error == 0);
    CHECK(st.messages == 3);
}

TEST_CASE("coro.resume: several coroutines receiving on one socket are filled in the order "
          "they posted") {
    driven_queue_pair t;
    auto& [e, cq, listener, p] = t;
    watchdog dog(60000, [] { hung("coro.resume: order"); });
    REQUIRE(coro::associate(cq, p.s) == 0);
    std::vector<std::string> got(5);
    for (std::size_t i = 0; i < got.size(); ++i)
        take(p.s, got, i);
    send_all(p.peer, "00001111222233334444");
    drive_until(cq, [&] { return !got.back().empty(); });
    for (std::size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == std::string(4, static_cast<char>('0' + i)));
}

TEST_CASE("coro.immediate: an operation that completes inside its call never suspends and "
          "queues no packet") {
    driven_queue_pair t;
    auto& [e, cq, listener, p] = t;
    watchdog dog(60000, [] { hung("coro.immediate"); });
    REQUIRE(coro::associate(cq, p.s) == 0);
    completion_entry none[1];
    CHECK(cq.dequeue(none, 1, 0) == 0); // the first drive makes this thread the owner
    // A receive of data already queued: a backend may complete it inside the call (the asio
    // backend tries the socket at once; io_uring when its last receive left data behind).
    int immediate = 0;
    int received = 0;
    for (int i = 0; i < 20; ++i) {
        send_all(p.peer, "x");
        REQUIRE(wait_kernel_unread(p.s, 1));
        auto one = [](SOCKET s, int& imm, int& done) -> coro::detached {
            char data[1];
            WSABUF buf{1, data};
            const coro::io_result r = co_await coro::recv(s, &buf, 1);
            if (r.error == 0 && r.bytes == 1 && data[0] == 'x') ++done;
            if (r.immediate) ++imm;
        };
        const int before = immediate;
        one(p.s, immediate, received);
        if (immediate != before) {
            // Finished inside the call: the coroutine ran to its end before `one` returned,
            // and no packet may follow (it would resume a frame that is gone).
            CHECK(received == i + 1);
            CHECK(cq.dequeue(none, 1, 0) == 0);
        } else {
            drive_until(cq, [&] { return received == i + 1; });
        }
        REQUIRE(received == i + 1);
    }
    MESSAGE(immediate << " of 20 receives completed inside the call on "
                      << std::string(e->backend_name()));
    if (std::string(e->backend_name()) == "asio") CHECK(immediate > 0);
}
