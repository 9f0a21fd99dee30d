// SPDX-License-Identifier: MIT
// Covers WSPCancelIoEx (core/wsp_cancel.cpp with recv_queue.cpp and send_queue.cpp) on a
// driven engine over the scripted fake backend: a queued op leaves its FIFO at once, the head
// the kernel holds is cancelled through cancel_request (never cancel(), which is the close's),
// a cancel that races with data keeps the bytes, a cancelled MSG_WAITALL receive is not
// re-armed, and a cancel asked after the head completed stops nothing.

#include "core/backend.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/compat.h>
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <string>

namespace {

using namespace sanport::test::unit_names;

int cancel(SOCKET s, WSAOVERLAPPED* ov) {
    int err = 0;
    return sanport::WSPCancelIoEx(s, ov, &err) == 0 ? 0 : err;
}

} // namespace

TEST_CASE("core: cancel one - a queued receive leaves the FIFO at once, the head is untouched") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {4});
    posted& b = r.recv(s, {4});
    posted& c = r.recv(s, {4});
    CHECK(cancel(s, &b.ov) == 0);
    CHECK_FALSE(b.pending());
    CHECK(b.status() == WSA_OPERATION_ABORTED);
    CHECK(b.count() == 0);
    CHECK(r.fake->request_cancels == 0); // the kernel never held it
    CHECK(r.fake->cancels == 0);
    CHECK(r.fake->deliver(s, "abcd") == 4);
    r.run();
    CHECK(a.got() == "abcd");
    CHECK(r.fake->deliver(s, "efgh") == 4); // the next start went to c, not to b
    r.run();
    CHECK(c.got() == "efgh");
}

TEST_CASE("core: cancel one - the head in the kernel is cancelled through cancel_request and "
          "completes once, the next op starts") {
    rig r;
    const SOCKET s = r.open();
    sanport::completion_queue cq(r.e);
    REQUIRE(cq.associate(s, 3) == 0);
    posted& a = r.recv(s, {4});
    posted& b = r.recv(s, {4});
    CHECK(cancel(s, &a.ov) == 0);
    CHECK(r.fake->request_cancels == 1);
    CHECK(r.fake->cancels == 0);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(a.status() == WSA_OPERATION_ABORTED);
    CHECK(b.pending());
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK(r.fake->deliver(s, "next") == 4);
    r.run();
    CHECK(b.got() == "next");
    CHECK(drain(cq).size() == 2);
    // Cancelling it again, or after it completed: nothing matches.
    CHECK(cancel(s, &a.ov) == ERROR_NOT_FOUND);
    CHECK(r.fake->request_cancels == 1);
}

TEST_CASE("core: cancel one - a cancel racing with data keeps the bytes: success, not abort") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8});
    r.fake->cancel_races_with("won");
    CHECK(cancel(s, &a.ov) == 0);
    r.run();
    CHECK(a.status() == 0);
    CHECK(a.got() == "won");
}

TEST_CASE("core: cancel one - an abort that reports bytes (IOCP) keeps them: success, and the "
          "next receive continues the stream") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8});
    posted& b = r.recv(s, {8});
    r.fake->cancel_aborts_after("kept");
    CHECK(cancel(s, &a.ov) == 0);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(a.status() == 0);
    CHECK(a.got() == "kept");
    CHECK(r.fake->deliver(s, "next") == 4);
    r.run();
    CHECK(b.got() == "next");
}

TEST_CASE("core: cancel one - a MSG_WAITALL receive with bytes ends with them, not re-armed") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {8}, MSG_WAITALL);
    CHECK(r.fake->deliver(s, "abc") == 3);
    r.run();
    REQUIRE(a.pending()); // re-armed for the other 5 bytes
    r.fake->cancel_races_with("de");
    CHECK(cancel(s, &a.ov) == 0);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(a.status() == 0);
    CHECK(a.got() == "abcde");
    CHECK(r.fake->started_recv(s) == nullptr); // nothing started after it
}

TEST_CASE("core: cancel one - a cancelled send reports what went out, the next send follows") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.send(s, "0123456789");
    posted& b = r.send(s, "tail");
    REQUIRE(r.fake->started_send(s) != nullptr);
    r.fake->finish_send(s, 4); // a short send: the core re-arms the rest
    r.run();
    REQUIRE(a.pending());
    CHECK(cancel(s, &a.ov) == 0);
    r.run();
    CHECK_FALSE(a.pending());
    CHECK(a.status() == 0);
    CHECK(a.count() == 4);
    REQUIRE(r.fake->started_send(s) != nullptr);
    r.fake->finish_send(s, 4);
    r.run();
    CHECK(b.status() == 0);
    CHECK(b.count() == 4);
}

TEST_CASE("core: cancel one - NULL cancels both directions, the socket stays open") {
    rig r;
    const SOCKET s = r.open();
    posted& a = r.recv(s, {4});
    posted& q = r.recv(s, {4});
    posted& w = r.send(s, "data");
    CHECK(cancel(s, nullptr) == 0);
    CHECK(r.fake->request_cancels == 2);
    r.run();
    for (posted* p : {&a, &q, &w}) {
        CHECK_FALSE(p->pending());
        CHECK(p->status() == WSA_OPERATION_ABORTED);
    }
    CHECK(cancel(s, nullptr) == ERROR_NOT_FOUND);
    posted& again = r.recv(s, {4});
    CHECK(r.fake->deliver(s, "more") == 4);
    r.run();
    CHECK(again.got() == "more");
}

TEST_CASE("core: cancel one - bad arguments: unknown socket, NULL lpErrno") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    CHECK(sanport::WSPCancelIoEx(s, nullptr, nullptr) == SOCKET_ERROR);
    CHECK(sanport::WSPCancelIoEx(s, nullptr, &err) == SOCKET_ERROR);
    CHECK(err == ERROR_NOT_FOUND);
    REQUIRE(sanport::WSPCloseSocket(s, &err) == 0);
    CHECK(sanport::WSPCancelIoEx(s, nullptr, &err) == SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
}
