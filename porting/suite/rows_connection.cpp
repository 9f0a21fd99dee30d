// SPDX-License-Identifier: MIT
// Rows about the connection's life: SD_RECEIVE, the peer's graceful close and reset, closing
// with receives pending; and the flags MSG_PEEK and MSG_WAITALL; and WSPSend.
#include <sanport/completion_queue.h>

#include "porting/suite/rows.hpp"

namespace sanport::suite::detail {

void row_shutdown_receive(session& ses) {
    const auto c = ses.connect();
    receive& before = ses.make_receive({16});
    before.post(ses, c.s);
    int err = 0;
    SUITE_EXPECT(ses.p.lpWSPShutdown(c.s, SD_RECEIVE, &err) == 0,
                 "WSPShutdown(SD_RECEIVE) failed with " + code(err));
    ses.send(c.peer, "still");
    ses.await(before, "a receive posted before SD_RECEIVE");
    SUITE_EXPECT(before.error() == 0 && before.data() == "still",
                 "a receive pending at SD_RECEIVE was not completed with its data (" +
                     code(before.error()) + ", '" + before.data() + "')");
    ses.send(c.peer, "more");
    ses.pause(ses.opts.settle_ms);
    receive& after = ses.make_receive({16});
    const int rc = after.post(ses, c.s);
    SUITE_EXPECT(rc == SOCKET_ERROR && after.err == WSAESHUTDOWN,
                 "a receive after SD_RECEIVE (with data queued): " +
                     (rc == 0 ? std::string("succeeded") : code(after.err)) + ", not WSAESHUTDOWN");
}

void row_graceful_close(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "last words");
    int err = 0;
    SUITE_EXPECT(ses.p.lpWSPShutdown(c.peer, SD_SEND, &err) == 0,
                 "the peer's WSPShutdown(SD_SEND) failed with " + code(err));
    std::string got;
    for (int i = 0; i < 16; ++i) {
        receive& r = ses.make_receive({64});
        r.post(ses, c.s);
        ses.await(r, "a receive after the peer's graceful close");
        SUITE_EXPECT(r.error() == 0, "a receive at the stream's end failed with " +
                                         code(r.error()) + " (a graceful end is 0 bytes)");
        if (r.bytes() == 0) break;
        got += r.data();
    }
    SUITE_EXPECT(got == "last words", "the data before the end arrived as '" + got + "'");
    receive& again = ses.make_receive({64});
    again.post(ses, c.s);
    ses.await(again, "a second receive after the end");
    SUITE_EXPECT(again.error() == 0 && again.bytes() == 0,
                 "a second receive after the end: " + code(again.error()) + ", " +
                     std::to_string(again.bytes()) + " bytes");
}

void row_reset(session& ses) {
    const auto c = ses.connect();
    receive& pending = ses.make_receive({16});
    pending.post(ses, c.s);
    // Let the receive reach the OS first: Wine reports a reset as WSAECONNRESET only to a
    // receive already pending in its server, and a graceful end otherwise.
    ses.pause(ses.opts.settle_ms);
    ses.abort(c.peer);
    ses.await(pending, "a receive pending when the peer reset");
    SUITE_EXPECT(pending.error() == WSAECONNRESET,
                 "the pending receive completed with " + code(pending.error()) + ", " +
                     std::to_string(pending.bytes()) + " bytes, not WSAECONNRESET");
    receive& later = ses.make_receive({16});
    const int rc = later.post(ses, c.s);
    if (rc == SOCKET_ERROR && later.err == WSA_IO_PENDING) {
        ses.await(later, "a receive after the reset");
        later.err = later.error();
    }
    SUITE_EXPECT(later.err == WSAECONNRESET,
                 "a receive after the reset: " + code(later.err) +
                     ", not WSAECONNRESET again (the reset is sticky, as on Windows)");
}

void row_close_pending(session& ses) {
    const auto c = ses.connect();
    completion_queue q;
    ses.associate(q, c.s, 9);
    const std::vector<receive*> posted = ses.post_receives(c.s, 3, 16);
    ses.close(c.s);
    for (std::size_t i = 0; i < posted.size(); ++i) {
        receive& r = *posted[i];
        const std::string which = "receive " + std::to_string(i + 1) + " of 3";
        SUITE_EXPECT(r.done(), which + " was still pending when WSPCloseSocket returned");
        if (r.error()) ses.codes.add(r.error(), ses.row);
        SUITE_EXPECT(r.error() == WSA_OPERATION_ABORTED,
                     which + " completed with " + code(r.error()) + ", not WSA_OPERATION_ABORTED");
        SUITE_EXPECT(r.event_set(ses.opts.wait_ms), which + ": event not signalled");
        DWORD bytes = 0, flags = 0;
        int err = 0;
        const BOOL ok = ses.p.lpWSPGetOverlappedResult(c.s, &r.ov, &bytes, FALSE, &flags, &err);
        SUITE_EXPECT(ok == FALSE && err == WSA_OPERATION_ABORTED,
                     "WSPGetOverlappedResult after close, " + which + ": " + code(err));
    }
    completion_entry e[8];
    std::size_t packets = 0;
    for (int i = 0; i < 50 && packets < 3; ++i)
        packets += q.dequeue(e + packets, 8 - packets, 10);
    packets += q.dequeue(e + packets, 8 - packets, ses.opts.settle_ms); // a fourth must not come
    SUITE_EXPECT(packets == 3,
                 std::to_string(packets) + " completion packets for 3 aborted receives");
}

void row_peek(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "peekaboo");
    ses.pause(ses.opts.settle_ms);
    receive& peek = ses.make_receive({16});
    peek.post(ses, c.s, MSG_PEEK);
    ses.await(peek, "a MSG_PEEK receive");
    SUITE_EXPECT(peek.error() == 0 && peek.bytes() > 0 &&
                     peek.data() == std::string("peekaboo").substr(0, peek.bytes()),
                 "MSG_PEEK got '" + peek.data() + "' (" + code(peek.error()) + ")");
    SUITE_EXPECT(ses.receive_blocking(c.s, 8) == "peekaboo", "MSG_PEEK consumed the data");
}

void row_waitall(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({4, 6});
    r.post(ses, c.s, MSG_WAITALL);
    ses.send(c.peer, "12345");
    ses.expect_pending(r, "MSG_WAITALL with 5 of 10 bytes");
    ses.send(c.peer, "67890");
    ses.await(r, "MSG_WAITALL after all 10 bytes");
    SUITE_EXPECT(r.error() == 0 && r.data() == "1234567890",
                 "MSG_WAITALL got '" + r.data() + "' (" + code(r.error()) + ")");
}

void row_send(session& ses) {
    const auto c = ses.connect();
    completion_queue q;
    ses.associate(q, c.peer, 3);
    char a[] = "ab", b[] = "cdef";
    WSABUF bufs[3] = {{2, a}, {0, b}, {4, b}};
    WSAOVERLAPPED ov{};
    const WSAEVENT event = WSACreateEvent(); // kept apart: a broken provider may clear hEvent
    ov.hEvent = event;
    DWORD sent = untouched;
    int err = 0;
    const int rc = ses.p.lpWSPSend(c.peer, bufs, 3, &sent, 0, &ov, nullptr, nullptr, &err);
    const bool ok_call = rc == 0 || err == WSA_IO_PENDING;
    std::string got = ok_call ? ses.receive_blocking(c.s, 6) : std::string();
    DWORD bytes = 0, flags = 0;
    const BOOL done =
        ok_call && ses.p.lpWSPGetOverlappedResult(c.peer, &ov, &bytes, TRUE, &flags, &err);
    WSACloseEvent(event);
    SUITE_EXPECT(ok_call, "an overlapped WSPSend failed with " + code(err));
    SUITE_EXPECT(got == "abcdef", "the gathered send arrived as '" + got + "'");
    SUITE_EXPECT(done == TRUE && bytes == 6,
                 "the send completed with " + std::to_string(bytes) + " bytes (" + code(err) + ")");
    // Also when it returned 0 at once: Windows queues the packet for an immediate success.
    ses.expect_one_packet(q, &ov, rc == 0 ? "a send that completed at once" : "a pending send");
}

} // namespace sanport::suite::detail
