// SPDX-License-Identifier: MIT
// Rows about ws2san.h memory registration, reached as the switch reaches it: WSPIoctl with
// SIO_GET_EXTENSION_FUNCTION_POINTER.
#include "porting/suite/rows.hpp"

namespace sanport::suite::detail {

namespace {

struct extensions {
    LPFN_WSPREGISTERMEMORY reg;
    LPFN_WSPDEREGISTERMEMORY dereg;
};

extensions get(session& ses, SOCKET s) {
    extensions x{ses.host.register_memory(s), ses.host.deregister_memory(s)};
    if (!x.reg || !x.dereg)
        fail("WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) gives no WSAID_REGISTERMEMORY / "
             "WSAID_DEREGISTERMEMORY: the switch registers every buffer through them");
    return x;
}

HANDLE register_region(const extensions& x, SOCKET s, receive& r, DWORD flags) {
    int err = 0;
    HANDLE h = x.reg(s, r.bufs[0].buf, r.bufs[0].len, flags, &err);
    if (!h) fail("WSPRegisterMemory failed with " + code(err));
    return h;
}

} // namespace

void row_registered(session& ses) {
    const auto c = ses.connect();
    const extensions x = get(ses, c.s);
    receive& r = ses.make_receive({4096});
    HANDLE h = register_region(x, c.s, r, MEM_READ | MEM_WRITE);
    r.post(ses, c.s);
    ses.send(c.peer, "registered");
    ses.await(r, "a receive into registered memory");
    SUITE_EXPECT(r.error() == 0 && r.data() == "registered", "got '" + r.data() + "'");
    int err = 0;
    SUITE_EXPECT(x.dereg(c.s, h, &err) == 0, "WSPDeregisterMemory failed with " + code(err));
}

void row_read_only_region(session& ses) {
    const auto c = ses.connect();
    const extensions x = get(ses, c.s);
    ses.send(c.peer, "ro");
    ses.pause(ses.opts.settle_ms);
    receive& r = ses.make_receive({256});
    HANDLE h = register_region(x, c.s, r, MEM_READ);
    const int rc = r.post(ses, c.s);
    SUITE_EXPECT(rc == SOCKET_ERROR && r.err == WSAEFAULT,
                 "a receive into a region registered without MEM_WRITE: " +
                     (rc == 0 ? std::string("succeeded") : code(r.err)) + ", not WSAEFAULT");
    SUITE_EXPECT(ses.receive_blocking(c.s, 2) == "ro", "the refused receive consumed data");
    int err = 0;
    x.dereg(c.s, h, &err);
}

void row_deregister_pending(session& ses) {
    const auto c = ses.connect();
    const extensions x = get(ses, c.s);
    receive& r = ses.make_receive({128});
    HANDLE h = register_region(x, c.s, r, MEM_READ | MEM_WRITE);
    r.post(ses, c.s);
    int err = 0;
    const int rc = x.dereg(c.s, h, &err);
    SUITE_EXPECT(rc == 0 || err == WSAEINVAL,
                 "WSPDeregisterMemory of a region a pending receive uses: " + code(err) +
                     " (refuse with WSAEINVAL, or defer)");
    ses.send(c.peer, "safe");
    ses.await(r, "the receive whose region was deregistered");
    SUITE_EXPECT(r.error() == 0 && r.data() == "safe", "got '" + r.data() + "'");
    if (rc != 0) {
        SUITE_EXPECT(x.dereg(c.s, h, &err) == 0,
                     "WSPDeregisterMemory after the receive completed: " + code(err));
    }
}

} // namespace sanport::suite::detail
