// SPDX-License-Identifier: MIT
// Rows about one receive: pending vs immediate, the WSAOVERLAPPED bookkeeping, the event,
// blocking receives, scatter order, early completion, zero-byte receives, WSABUF capture.
#include <string>
#include <thread>

#include "porting/suite/rows.hpp"

namespace sanport::suite::detail {

namespace {

std::string pattern(std::size_t n, char first = 'a') {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>(first + i % 26);
    return s;
}

} // namespace

void row_pending(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({32});
    const int rc = r.post(ses, c.s);
    SUITE_EXPECT(rc == SOCKET_ERROR,
                 "WSPRecv with no data returned " + std::to_string(rc) + ", not SOCKET_ERROR");
    SUITE_EXPECT(r.err == WSA_IO_PENDING,
                 "WSPRecv with no data failed with " + code(r.err) + ", not WSA_IO_PENDING");
    SUITE_EXPECT(r.count_out == untouched, "*lpNumberOfBytesRecvd was written on a pending call");
    SUITE_EXPECT(!r.done(), "Internal is not WSS_OPERATION_IN_PROGRESS while pending");
    ses.expect_pending(r, "a receive with no data sent");
    ses.send(c.peer, "x");
    ses.await(r, "the pending receive after 1 byte arrived");
    SUITE_EXPECT(r.error() == 0 && r.data() == "x", "the pending receive did not get the byte");
}

void row_bookkeeping(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({64});
    r.post(ses, c.s);
    const std::string msg = "bookkeeping!";
    ses.send(c.peer, msg);
    ses.await(r, "the receive");
    SUITE_EXPECT(r.error() == 0, "OffsetHigh holds " + code(r.error()) + " on a success");
    SUITE_EXPECT(r.bytes() == msg.size(),
                 "InternalHigh is " + std::to_string(r.bytes()) + ", 12 bytes were sent");
    SUITE_EXPECT(r.ov.Offset == 0, "Offset (flags) is " + std::to_string(r.ov.Offset));
    SUITE_EXPECT(r.data() == msg, "the buffer holds '" + r.data() + "'");
    DWORD bytes = 0, flags = 1;
    int err = 0;
    const BOOL ok = ses.p.lpWSPGetOverlappedResult(c.s, &r.ov, &bytes, FALSE, &flags, &err);
    SUITE_EXPECT(ok == TRUE,
                 "WSPGetOverlappedResult on the completed receive failed with " + code(err));
    SUITE_EXPECT(bytes == msg.size() && flags == 0, "WSPGetOverlappedResult reported " +
                                                        std::to_string(bytes) + " bytes, flags " +
                                                        std::to_string(flags));
}

void row_event(session& ses) {
    const auto c = ses.connect();
    receive& pending = ses.make_receive({16});
    pending.post(ses, c.s);
    ses.send(c.peer, "ev");
    ses.await(pending, "the receive");
    SUITE_EXPECT(pending.event_set(ses.opts.wait_ms),
                 "the event of a completed pending receive was not signalled");
    // Data already there: completes at once or later; the event is signalled either way.
    ses.send(c.peer, "now");
    ses.pause(ses.opts.settle_ms);
    receive& at_once = ses.make_receive({16});
    at_once.post(ses, c.s);
    ses.await(at_once, "the receive of buffered data");
    SUITE_EXPECT(at_once.event_set(ses.opts.wait_ms),
                 "the event of a receive of buffered data was not signalled");
}

void row_immediate(session& ses) {
    const auto c = ses.connect();
    completion_queue q;
    ses.associate(q, c.s, 1);
    ses.send(c.peer, "abc");
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({16});
    const int rc = r.post(ses, c.s);
    if (rc == 0) {
        SUITE_EXPECT(r.count_out == 3, "returned 0 with *lpNumberOfBytesRecvd = " +
                                           std::to_string(r.count_out) + ", 3 were there");
        SUITE_EXPECT(r.done() && r.bytes() == 3,
                     "returned 0 but the WSAOVERLAPPED does not show a 3-byte completion");
    } else {
        SUITE_EXPECT(r.err == WSA_IO_PENDING,
                     "WSPRecv with data waiting failed with " + code(r.err));
        ses.await(r, "the receive of data already there");
    }
    SUITE_EXPECT(r.error() == 0 && r.data() == "abc", "got '" + r.data() + "', not 'abc'");
    // Returning 0 does not excuse the notifications: Windows signals the event and queues the
    // packet for an immediate success too (recv.immediate).
    SUITE_EXPECT(r.event_set(ses.opts.wait_ms), "the event was not signalled");
    ses.expect_one_packet(q, &r.ov, rc == 0 ? "a receive that completed at once" : "the receive");
}

void row_blocking(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "blocking");
    SUITE_EXPECT(ses.receive_blocking(c.s, 8) == "blocking", "a blocking receive of buffered data");
    // And one that has to wait for the peer.
    std::jthread later = ses.send_later(c.peer, "late");
    const std::string got = ses.receive_blocking(c.s, 4);
    later.join();
    SUITE_EXPECT(got == "late", "a blocking receive that waited got '" + got + "'");
}

void row_scatter(session& ses) {
    const auto c = ses.connect();
    const std::string msg = "0123456789ABCDEFGH"; // exactly fills 4 + 0 + 6 + 8
    ses.send(c.peer, msg);
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({4, 0, 6, 8});
    r.post(ses, c.s);
    ses.await(r, "the scatter receive");
    SUITE_EXPECT(r.error() == 0, "failed with " + code(r.error()));
    SUITE_EXPECT(r.bytes() >= 1 && r.bytes() <= msg.size(),
                 "reported " + std::to_string(r.bytes()) + " bytes");
    SUITE_EXPECT(r.data() == msg.substr(0, r.bytes()),
                 "buffers read in array order hold '" + r.data() +
                     "' ('~' = never written): "
                     "not filled in order, each full before the next, without holes");
}

void row_completes_early(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({100, 100});
    r.post(ses, c.s);
    ses.send(c.peer, "ten bytes!");
    ses.await(r, "a 200-byte receive after 10 bytes arrived (it must not wait for full buffers)");
    SUITE_EXPECT(r.error() == 0 && r.data() == "ten bytes!", "got '" + r.data() + "'");
}

void row_zero_byte(session& ses) {
    const auto c = ses.connect();
    receive& zero = ses.make_receive({0});
    const int rc = zero.post(ses, c.s);
    SUITE_EXPECT(rc == SOCKET_ERROR && zero.err == WSA_IO_PENDING,
                 "a zero-byte receive with no data did not pend (" + code(zero.err) + ")");
    ses.expect_pending(zero, "a zero-byte receive with no data");
    ses.send(c.peer, "Q");
    ses.await(zero, "a zero-byte receive after data arrived");
    SUITE_EXPECT(zero.error() == 0 && zero.bytes() == 0, "completed with " +
                                                             std::to_string(zero.bytes()) +
                                                             " bytes, " + code(zero.error()));
    SUITE_EXPECT(ses.receive_blocking(c.s, 1) == "Q", "the zero-byte receive consumed data");
}

void row_capture(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({8, 8});
    // Post from a copy of the array, then scribble over it: the provider must have its own.
    std::vector<WSABUF> transient = r.bufs;
    std::vector<char> decoy(64, 'D');
    r.flags_io = 0;
    r.rc = ses.p.lpWSPRecv(c.s, transient.data(), 2, &r.count_out, &r.flags_io, &r.ov, nullptr,
                           nullptr, &r.err);
    SUITE_EXPECT(r.rc == 0 || r.err == WSA_IO_PENDING, "WSPRecv failed with " + code(r.err));
    for (WSABUF& b : transient)
        b = WSABUF{static_cast<ULONG>(decoy.size()), decoy.data()};
    transient.clear();
    transient.shrink_to_fit();
    ses.send(c.peer, "captured");
    ses.await(r, "the receive");
    SUITE_EXPECT(decoy == std::vector<char>(64, 'D'),
                 "bytes went to the array's new contents: the WSABUF array was not captured");
    SUITE_EXPECT(r.data() == std::string("captured").substr(0, r.bytes()) && r.bytes() > 0,
                 "the original buffers hold '" + r.data() + "'");
}

void row_many_buffers(session& ses) {
    const auto c = ses.connect();
    constexpr std::size_t n = 1024;
    const std::string msg = pattern(n, 'A');
    ses.send(c.peer, msg);
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive(std::vector<ULONG>(n, 1));
    const int rc = r.post(ses, c.s);
    SUITE_EXPECT(rc == 0 || r.err == WSA_IO_PENDING,
                 "WSPRecv with 1,024 WSABUFs failed with " + code(r.err));
    ses.await(r, "the 1,024-buffer receive");
    SUITE_EXPECT(r.error() == 0 && r.bytes() >= 1, "completed with " + code(r.error()));
    SUITE_EXPECT(r.data() == msg.substr(0, r.bytes()), "1,024 one-byte buffers out of order");
    const std::string rest = ses.receive_blocking(c.s, n - r.bytes());
    SUITE_EXPECT(r.data() + rest == msg, "bytes lost or repeated after a 1,024-buffer receive");
}

} // namespace sanport::suite::detail
