// SPDX-License-Identifier: MIT
// Rows about several receives and their notifications: posting order, exactly one completion
// each (counted on a completion queue), the low bit of hEvent, WSPGetOverlappedResult.
#include <sanport/completion_queue.h>

#include <map>
#include <thread>

#include "porting/suite/rows.hpp"

namespace sanport::suite::detail {

namespace {

std::string stream(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('0' + (i * 7) % 75);
    return s;
}

} // namespace

void row_posting_order(session& ses) {
    const auto c = ses.connect();
    const std::vector<ULONG> sizes = {3, 5, 1, 7, 2, 64};
    std::vector<receive*> posted;
    for (ULONG size : sizes) {
        receive& r = ses.make_receive({size});
        const int rc = r.post(ses, c.s);
        SUITE_EXPECT(rc == 0 || r.err == WSA_IO_PENDING, "WSPRecv failed with " + code(r.err));
        posted.push_back(&r);
    }
    const std::string msg = stream(82); // 3 + 5 + 1 + 7 + 2 + 64
    ses.send(c.peer, msg);
    std::string joined;
    for (std::size_t i = 0; i < posted.size(); ++i) {
        ses.await(*posted[i], "posted receive " + std::to_string(i + 1));
        SUITE_EXPECT(posted[i]->error() == 0, "receive " + std::to_string(i + 1) + " failed with " +
                                                  code(posted[i]->error()));
        joined += posted[i]->data();
    }
    joined += ses.receive_blocking(c.s, msg.size() - joined.size());
    SUITE_EXPECT(joined == msg, "the receives' bytes in posting order are not the sent stream:\n"
                                "      sent '" +
                                    msg + "'\n       got '" + joined + "'");
}

void row_exactly_once(session& ses) {
    const auto c = ses.connect();
    completion_queue q;
    ses.associate(q, c.s, 77);
    const std::vector<receive*> posted = ses.post_receives(c.s, 8, 16);
    ses.send(c.peer, stream(128));
    for (receive* r : posted)
        ses.await(*r, "one of 8 posted receives");
    const std::vector<completion_entry> packets = ses.collect(q, posted.size());
    std::map<WSAOVERLAPPED*, int> seen;
    for (const completion_entry& e : packets) {
        ++seen[e.overlapped];
        SUITE_EXPECT(e.key == 77, "a packet carries key " + std::to_string(e.key) + ", not 77");
    }
    for (std::size_t i = 0; i < posted.size(); ++i) {
        const int n = seen[&posted[i]->ov];
        SUITE_EXPECT(n == 1, "receive " + std::to_string(i + 1) + " queued " + std::to_string(n) +
                                 " completion packets (must be exactly 1)");
    }
    SUITE_EXPECT(packets.size() == posted.size(),
                 std::to_string(packets.size()) + " packets for 8 receives");
}

void row_low_bit(session& ses) {
    const auto c = ses.connect();
    completion_queue q;
    ses.associate(q, c.s, 5);
    receive& r = ses.make_receive({16});
    r.ov.hEvent = reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(r.event) | 1u);
    r.post(ses, c.s);
    ses.send(c.peer, "quiet");
    ses.await(r, "a receive with the low bit of hEvent set");
    SUITE_EXPECT(r.event_set(ses.opts.wait_ms),
                 "the event (low bit cleared) was not signalled: Win32 still signals it");
    DWORD bytes = 0, flags = 0;
    int err = 0;
    SUITE_EXPECT(ses.p.lpWSPGetOverlappedResult(c.s, &r.ov, &bytes, FALSE, &flags, &err) == TRUE &&
                     bytes == 5,
                 "WSPGetOverlappedResult did not report the 5 bytes (" + code(err) + ")");
    const std::vector<completion_entry> packets = ses.collect(q, 0);
    SUITE_EXPECT(packets.empty(), std::to_string(packets.size()) +
                                      " completion packet(s) queued despite the low bit of hEvent");
}

void row_overlapped_result(session& ses) {
    const auto c = ses.connect();
    receive& r = ses.make_receive({16});
    r.post(ses, c.s);
    DWORD bytes = untouched, flags = 0;
    int err = 0;
    BOOL ok = ses.p.lpWSPGetOverlappedResult(c.s, &r.ov, &bytes, FALSE, &flags, &err);
    SUITE_EXPECT(ok == FALSE && err == WSA_IO_INCOMPLETE,
                 "fWait=FALSE on a pending receive: not FALSE with WSA_IO_INCOMPLETE (" +
                     code(err) + ")");
    std::jthread later = ses.send_later(c.peer, "wait");
    err = 0;
    ok = ses.p.lpWSPGetOverlappedResult(c.s, &r.ov, &bytes, TRUE, &flags, &err);
    later.join();
    SUITE_EXPECT(ok == TRUE, "fWait=TRUE returned FALSE with " + code(err));
    SUITE_EXPECT(bytes == 4 && r.data() == "wait",
                 "fWait=TRUE reported " + std::to_string(bytes) + " bytes");
}

} // namespace sanport::suite::detail
