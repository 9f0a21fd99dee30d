// SPDX-License-Identifier: MIT
// Rows about calls that must fail: their exact code, and that they consumed nothing.
#include "porting/suite/rows.hpp"

namespace sanport::suite::detail {

namespace {

// One WSPRecv call with the given arguments; logs and returns its code (0 on success).
int call(session& ses, SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD flags, LPWSAOVERLAPPED ov,
         bool with_errno = true) {
    DWORD bytes = untouched;
    int err = 0;
    const int rc = ses.p.lpWSPRecv(s, bufs, count, &bytes, flags, ov, nullptr, nullptr,
                                   with_errno ? &err : nullptr);
    if (!with_errno) return rc == SOCKET_ERROR ? -1 : rc;
    if (rc == 0) return 0;
    ses.codes.add(err, ses.row);
    return err;
}

void expect_code(int got, int want, const std::string& what) {
    SUITE_EXPECT(got == want, what + ": " + (got ? code(got) : std::string("succeeded")) +
                                  ", not " + code(want));
}

// The bytes the peer sent before the bad calls must all still be there.
void expect_nothing_consumed(session& ses, SOCKET s, const std::string& sent) {
    const std::string got = ses.receive_blocking(s, sent.size());
    SUITE_EXPECT(got == sent, "a failed call consumed data: afterwards got '" + got + "'");
}

} // namespace

void row_count_zero(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "kept");
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({8});
    DWORD flags = 0;
    expect_code(call(ses, c.s, r.bufs.data(), 0, &flags, &r.ov), WSAEINVAL, "dwBufferCount 0");
    expect_nothing_consumed(ses, c.s, "kept");
}

void row_bad_pointers(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "intact");
    ses.pause(ses.opts.settle_ms);
    DWORD flags = 0;
    receive& r = ses.make_receive({8});
    expect_code(call(ses, c.s, nullptr, 1, &flags, &r.ov), WSAEFAULT, "lpBuffers NULL, count 1");
    WSABUF null_buf{8, nullptr};
    expect_code(call(ses, c.s, &null_buf, 1, &flags, &r.ov), WSAEFAULT,
                "a WSABUF with buf NULL and len 8");
    expect_code(call(ses, c.s, r.bufs.data(), 1, nullptr, &r.ov), WSAEFAULT, "lpFlags NULL");
    SUITE_EXPECT(call(ses, c.s, r.bufs.data(), 1, &flags, &r.ov, false) == -1,
                 "lpErrno NULL: the call did not return SOCKET_ERROR");
    expect_nothing_consumed(ses, c.s, "intact");
}

void row_not_socket(session& ses) {
    auto c = ses.connect();
    receive& r = ses.make_receive({8});
    DWORD flags = 0;
    const SOCKET closed = c.s;
    ses.close(c.s);
    expect_code(call(ses, closed, r.bufs.data(), 1, &flags, &r.ov), WSAENOTSOCK, "a closed socket");
    expect_code(call(ses, static_cast<SOCKET>(0x7ffffff0), r.bufs.data(), 1, &flags, &r.ov),
                WSAENOTSOCK, "a socket value nobody made");
}

void row_not_overlapped(session& ses) {
    const auto c = ses.connect(0); // the accepted side inherits "no WSA_FLAG_OVERLAPPED"
    ses.send(c.peer, "sync");
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({8});
    DWORD flags = 0;
    expect_code(call(ses, c.s, r.bufs.data(), 1, &flags, &r.ov), WSAEINVAL,
                "an overlapped call on a socket made without WSA_FLAG_OVERLAPPED");
    // lpOverlapped NULL is a blocking receive on any socket.
    expect_nothing_consumed(ses, c.s, "sync");
}

void row_not_connected(session& ses) {
    receive& r = ses.make_receive({8});
    DWORD flags = 0;
    expect_code(call(ses, ses.make_socket(), r.bufs.data(), 1, &flags, &r.ov), WSAEINVAL,
                "a socket never bound");
    expect_code(call(ses, ses.bound_socket(), r.bufs.data(), 1, &flags, &r.ov), WSAENOTCONN,
                "a bound, unconnected socket");
    expect_code(call(ses, ses.listening_socket(), r.bufs.data(), 1, &flags, &r.ov), WSAENOTCONN,
                "a listening socket");
}

void row_bad_flags(session& ses) {
    const auto c = ses.connect();
    ses.send(c.peer, "flags");
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({8});
    DWORD flags = MSG_OOB;
    expect_code(call(ses, c.s, r.bufs.data(), 1, &flags, &r.ov), WSAEINVAL, "MSG_OOB");
    flags = MSG_WAITALL | MSG_PEEK;
    expect_code(call(ses, c.s, r.bufs.data(), 1, &flags, &r.ov), WSAEINVAL,
                "MSG_WAITALL | MSG_PEEK");
    expect_nothing_consumed(ses, c.s, "flags");
}

void check_codes(const code_log& log) {
    // recv.codes.never: the codes the specification lets WSPRecv give; depart.codes adds
    // WSAENOBUFS (sanport's own out-of-memory).
    static const int allowed[] = {WSAENETDOWN, WSAENOTCONN,     WSAENETRESET,
                                  WSAEFAULT,   WSAENOTSOCK,     WSAESHUTDOWN,
                                  WSAEINVAL,   WSAECONNABORTED, WSAECONNRESET,
                                  WSAEDISCON,  WSA_IO_PENDING,  WSA_OPERATION_ABORTED,
                                  WSAENOBUFS};
    std::string bad;
    for (const auto& [wsa, row] : log.seen) {
        bool ok = false;
        for (int a : allowed)
            ok = ok || a == wsa;
        if (!ok) bad += "\n      " + code(wsa) + " in " + row;
    }
    SUITE_EXPECT(bad.empty(), "WSPRecv gave codes outside the specification's list:" + bad);
}

} // namespace sanport::suite::detail
