// SPDX-License-Identifier: MIT
// libFuzzer target: the public surface (WSPRecv, WSPSend, WSPGetOverlappedResult,
// WSPRegisterMemory/WSPDeregisterMemory, WSPShutdown, WSPCloseSocket, the completion queue)
// against the core on a driven engine over the deterministic fake backend. The input is a
// small program that also scripts the peer: segmentation, FIN, RST and other kernel errors,
// cancels that race with data, EOF or an error at close, WSPCancelIoEx, and sanport::timer
// starts and cancels on the socket's queue (each start ends once: a packet, or cancel() 0).
// After every step stream_model.hpp
// checks the invariants; at the end the socket is closed and every operation must have
// completed exactly once, the received bytes (posting order) being exactly what was consumed.
//
// Input: byte 0 = set-up bits (see `setup`), then ops: one opcode byte and its argument bytes.
#include "tests/fuzz/fuzz_common.hpp"
#include "tests/fuzz/stream_model.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/os_pair.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/timer.h>
#include <sanport/wsp.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <vector>

namespace {

using namespace sanport::fuzz;
using sanport::detail::io_kind;
using sanport::detail::io_request;

constexpr std::size_t max_steps = 96;
constexpr std::size_t max_ops = 32;
constexpr std::uint32_t region_size = 256;
constexpr ULONG_PTR timer_key = 0x71; // the socket's packets carry 0x5a

enum opcode : std::uint8_t {
    op_recv,
    op_send,
    op_deliver,
    op_eof,
    op_error,
    op_race,
    op_shutdown,
    op_close,
    op_result,
    op_register,
    op_deregister,
    op_reap,
    op_drain,
    op_send_done,
    op_mode,
    op_cancel,
    op_timer,
    op_count
};

struct region_rec {
    std::vector<char> mem;
    HANDLE handle = nullptr;
    DWORD flags = 0;
    std::uint32_t used = 0;
    std::uint32_t reg_len = 0;
    bool live = false;
};

// Owns what must outlive the engine: region memory and events (the rig's engine is destroyed
// first, closing anything still open, and the fake may write into region buffers until then).
struct keep_alive {
    std::deque<region_rec> regions;
    std::vector<WSAEVENT> events;
    ~keep_alive() {
        for (WSAEVENT e : events)
            WSACloseEvent(e);
    }
};

struct program {
    keep_alive& keep;
    sanport::test::fake_rig& rig;
    std::optional<sanport::completion_queue>& cq;
    SOCKET s;
    model m;
    bool rd_shutdown = false, strict = false;
    bool peer_done = false;
    // What the next cancel() (the close) races with: 0 none, 1 data, 2 EOF, 3 RST.
    int race_kind = 0;
    std::uint32_t race_bytes = 0, race_send = 0;

    // timer.cancel: each start ends exactly once, in a packet or in a cancel() that returned 0.
    std::deque<sanport::timer> timers{};
    WSAOVERLAPPED timer_ov{};
    std::uint32_t timers_started = 0, timer_packets = 0, timers_stopped = 0;

    sanport::test::fake_backend& fake() { return *rig.fake; }

    // A timer started, or an armed one cancelled, on the socket's queue.
    void timer_step(reader& in) {
        const std::uint8_t a = in.u8();
        if (!cq) return;
        if (a & 1) {
            if (timers.size() < 8) timers.emplace_back(*cq);
            for (sanport::timer& t : timers) {
                if (t.armed()) continue;
                // Due at the next drive, or never in this run (then stopped by settle_timers):
                // no input waits for a clock.
                if (t.start(a & 2 ? 0 : 60000, timer_key, &timer_ov) == 0) ++timers_started;
                return;
            }
            return;
        }
        if (timers.empty()) return;
        sanport::timer& t = timers[(a >> 1) % timers.size()];
        const bool was_armed = t.armed();
        const int rc = t.cancel();
        if (rc == 0) ++timers_stopped;
        FUZZ_CHECK(was_armed || rc == static_cast<int>(ERROR_NOT_FOUND),
                   "timer::cancel of a timer never armed returned 0", rc, 0);
    }

    // After the last step: the due timers fire, the others are stopped; every start ended
    // exactly once.
    void settle_timers() {
        rig.e.run_once(0);
        drain();
        for (sanport::timer& t : timers)
            if (t.cancel() == 0) ++timers_stopped;
        rig.e.run_once(0);
        drain();
        FUZZ_CHECK(timers_started == timer_packets + timers_stopped,
                   "a timer neither fired nor was stopped, or fired twice", timers_started,
                   timer_packets + timers_stopped);
    }

    // The peer's next n bytes land in the started receive (fake kernel). Peeks and the
    // zero-byte probe consume nothing.
    void deliver(std::uint32_t n) {
        io_request* r = fake().started_recv(s);
        const std::string& stream = peer_stream();
        if (!r || peer_done || m.kpos >= stream.size()) return;
        if (r->kind == io_kind::recv) {
            op_rec* owner = m.owner_of(r->buffers[0].buf);
            if (owner)
                FUZZ_CHECK(owner == m.first_pending(true), "kernel fills a receive not at head", 0,
                           0);
            else
                FUZZ_CHECK(m.read_ahead, "kernel receive into unknown memory", 0, 0);
        }
        n = std::min<std::uint32_t>(std::max<std::uint32_t>(n, 1),
                                    static_cast<std::uint32_t>(stream.size() - m.kpos));
        const std::uint32_t placed = fake().deliver(s, std::string_view(stream).substr(m.kpos, n));
        FUZZ_CHECK(placed <= n, "fake placed more than given", placed, n);
        if (r->kind == io_kind::recv && (r->flags & MSG_PEEK) == 0) m.kpos += placed;
    }

    // The kernel takes n bytes of the started send (n == 0 with wsa == 0: a reset, for the core).
    void send_done(std::uint32_t n, int wsa) {
        io_request* r = fake().started_send(s);
        if (!r) return;
        op_rec* owner = m.owner_of(r->buffers[0].buf);
        FUZZ_CHECK(owner && owner == m.first_pending(false), "kernel sends a send not at head", 0,
                   0);
        std::string gathered;
        for (std::uint32_t i = 0; i < r->count; ++i)
            gathered.append(r->buffers[i].buf, r->buffers[i].len);
        FUZZ_CHECK(gathered == owner->out.substr(owner->taken), "send gathers the wrong bytes",
                   owner->taken, gathered.size());
        n = wsa ? 0 : std::min<std::uint32_t>(n, static_cast<std::uint32_t>(gathered.size()));
        owner->taken += n;
        if (wsa || n == 0) m.short_ok = true;
        fake().finish_send(s, n, wsa);
    }

    void on_cancel() {
        // Runs inside WSPCloseSocket or WSPCancelIoEx (socket lock held): only the fake and the
        // model are touched.
        if (race_kind == 1) deliver(race_bytes);
        if (race_kind == 2 && !peer_done) fake().deliver_eof(s);
        if (race_kind == 3 && !peer_done) fake().deliver_error(s, WSAECONNRESET);
        // The stream ended or failed: after a cancel the socket lives on, and a MSG_WAITALL
        // receive may now end short (a close sets this itself).
        if (race_kind == 2 || race_kind == 3) peer_done = m.short_ok = true;
        if (race_send) send_done(race_send, 0);
        race_kind = 0;
        race_send = 0;
    }

    char* region_slice(std::uint8_t pick, std::uint32_t n, DWORD& flags_out, bool& registered) {
        if (keep.regions.empty()) return nullptr;
        region_rec& g = keep.regions[pick % keep.regions.size()];
        if (g.used + n > g.mem.size()) return nullptr;
        char* p = g.mem.data() + g.used;
        g.used += n;
        flags_out = g.flags;
        registered = g.live && g.used <= g.reg_len;
        return p;
    }

    void recv(reader& in) {
        const std::uint8_t nb = static_cast<std::uint8_t>(in.u8() % 4 + 1);
        std::vector<ULONG> lens;
        std::uint32_t total = 0;
        for (int i = 0; i < nb; ++i) {
            lens.push_back(in.u8() % 17);
            total += lens.back();
        }
        const std::uint8_t fl = in.u8();
        const std::uint8_t how = in.u8();
        const DWORD flags = (fl & 1 ? MSG_PEEK : 0) | (fl & 2 ? MSG_WAITALL : 0);
        WSAEVENT ev = nullptr;
        if (how & 1) keep.events.push_back(ev = WSACreateEvent());
        const bool low = (how & 2) != 0;
        posted* p = nullptr;
        DWORD region_flags = 0;
        bool in_region = false, registered = false;
        if ((how & 4) && total != 0) {
            char* base = region_slice(how >> 3, total, region_flags, registered);
            if (base) {
                p = &rig.fresh({});
                for (ULONG n : lens) {
                    p->bufs.push_back(WSABUF{n, n ? base : nullptr});
                    base += n;
                }
                in_region = true;
            }
        }
        if (!p) p = &rig.fresh(lens);
        p->ov.hEvent = reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(ev) | low);
        p->flags = flags;
        p->rc = sanport::WSPRecv(s, p->bufs.data(), static_cast<DWORD>(p->bufs.size()), &p->bytes,
                                 &p->flags, &p->ov, nullptr, nullptr, &p->err);
        op_rec& o = add(p, true, flags, ev, low, total);
        if (p->rc == SOCKET_ERROR) FUZZ_CHECK_RECV_CODE(p->err);
        int expect = 0; // codes the model can predict, in the order sanport checks them
        if (m.closed)
            expect = WSAENOTSOCK;
        else if ((flags & MSG_PEEK) && (flags & MSG_WAITALL))
            expect = WSAEINVAL;
        else if (rd_shutdown)
            expect = WSAESHUTDOWN;
        else if (in_region && registered && !(region_flags & MEM_WRITE))
            expect = WSAEFAULT;
        else if (strict && total != 0 && !(in_region && registered))
            expect = WSAEFAULT;
        if (expect) {
            FUZZ_CHECK(p->rc == SOCKET_ERROR && p->err == expect, "WSPRecv: wrong failure", p->err,
                       expect);
        }
        settle(o);
    }

    op_rec& add(posted* p, bool is_recv, DWORD flags, WSAEVENT ev, bool low, std::uint32_t cap) {
        op_rec& o = m.ops.emplace_back();
        o.p = p;
        o.is_recv = is_recv;
        o.flags = flags;
        o.event = ev;
        o.low_bit = low;
        o.capacity = cap;
        return o;
    }

    // What the call's return says about the operation.
    void settle(op_rec& o) {
        posted& p = *o.p;
        FUZZ_CHECK(p.rc == 0 || p.rc == SOCKET_ERROR, "transfer return value", p.rc, 0);
        if (p.rc == 0) {
            o.accepted = o.immediate = true;
            FUZZ_CHECK(!pending(p.ov), "returned 0 but pending", 0, 0);
            FUZZ_CHECK(p.bytes == p.ov.InternalHigh, "returned count != InternalHigh", p.bytes,
                       p.ov.InternalHigh);
            if (o.is_recv) FUZZ_CHECK(p.flags == 0, "lpFlags after an immediate receive", 0, 0);
        } else if (p.err == WSA_IO_PENDING) {
            o.accepted = true;
            FUZZ_CHECK(p.bytes == 0xdeadbeef, "count written while pending", p.bytes, 0);
            if (o.is_recv) FUZZ_CHECK(p.flags == o.flags, "lpFlags written while pending", 0, 0);
        } else {
            o.call_code = p.err;
            FUZZ_CHECK(p.ov.Internal == 0 || p.ov.Internal == static_cast<ULONG_PTR>(p.err),
                       "failed call left its WSAOVERLAPPED in progress", p.ov.Internal, p.err);
        }
    }

    void send(reader& in) {
        const std::uint32_t len = in.u8() % 33;
        const std::uint8_t how = in.u8();
        const std::uint32_t cut = len ? in.u8() % (len + 1) : 0;
        const std::string& src = peer_stream();
        const std::string data = src.substr(8192 + (m.out_total % 4096), len);
        m.out_total += len;
        posted& p = rig.fresh({cut, len - cut}); // two entries, either may be empty
        std::copy(data.begin(), data.end(), p.mem.begin());
        WSAEVENT ev = nullptr;
        if (how & 1) keep.events.push_back(ev = WSACreateEvent());
        const bool low = (how & 2) != 0;
        p.ov.hEvent = reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(ev) | low);
        p.rc = sanport::WSPSend(s, p.bufs.data(), 2, &p.bytes, 0, &p.ov, nullptr, nullptr, &p.err);
        op_rec& o = add(&p, false, 0, ev, low, len);
        o.out = data;
        if (p.rc == SOCKET_ERROR) FUZZ_CHECK_SEND_CODE(p.err);
        if (m.closed)
            FUZZ_CHECK(p.rc == SOCKET_ERROR && p.err == WSAENOTSOCK, "send after close", p.err, 0);
        settle(o);
    }

    // WSPCancelIoEx of one recorded operation, or of every one (NULL): 0 exactly when something
    // pending matched; the ones it matched may then complete short or aborted (cancel.*).
    void cancel(reader& in) {
        const std::uint8_t a = in.u8();
        const bool all = m.ops.empty() || a % 5 == 0;
        op_rec* target = all ? nullptr : &m.ops[a % m.ops.size()];
        bool any = false;
        for (op_rec& o : m.ops) {
            if (!o.accepted || !pending(o.p->ov) || (target && &o != target)) continue;
            o.cancelled = true;
            any = true;
        }
        int err = 0;
        const int rc = sanport::WSPCancelIoEx(s, target ? &target->p->ov : nullptr, &err);
        if (m.closed) {
            FUZZ_CHECK(rc == SOCKET_ERROR && err == WSAENOTSOCK, "cancel after close", rc, err);
            return;
        }
        if (any)
            FUZZ_CHECK(rc == 0, "WSPCancelIoEx missed a pending operation", rc, err);
        else
            FUZZ_CHECK(rc == SOCKET_ERROR && err == ERROR_NOT_FOUND,
                       "WSPCancelIoEx found an operation that is not pending", rc, err);
    }

    void get_result(reader& in) {
        if (m.ops.empty()) return;
        op_rec& o = m.ops[in.u8() % m.ops.size()];
        if (!o.accepted && o.p->ov.Internal == 0) return; // untouched structure: nothing to read
        DWORD n = 0xdeadbeef, flags = 0xdeadbeef;
        int err = 0;
        const BOOL ok = sanport::WSPGetOverlappedResult(s, &o.p->ov, &n, FALSE, &flags, &err);
        if (pending(o.p->ov)) {
            FUZZ_CHECK(!ok && err == WSA_IO_INCOMPLETE, "pending: not WSA_IO_INCOMPLETE", ok, err);
        } else if (o.p->ov.OffsetHigh == 0) {
            FUZZ_CHECK(ok && n == o.p->ov.InternalHigh && flags == o.p->ov.Offset,
                       "completed: WSPGetOverlappedResult disagrees", ok, n);
        } else {
            FUZZ_CHECK(!ok && err == static_cast<int>(o.p->ov.OffsetHigh),
                       "failed: WSPGetOverlappedResult disagrees", ok, err);
            if (o.is_recv) FUZZ_CHECK_RECV_CODE(err);
        }
    }

    void reg(reader& in) {
        const std::uint8_t a = in.u8();
        if (keep.regions.size() >= 4) return;
        region_rec& g = keep.regions.emplace_back();
        g.mem.assign(region_size, '\0');
        g.flags = a & 3;                                           // 0 is invalid
        const DWORD len = (a & 4) ? region_size / 2 : region_size; // only the front half, maybe
        int err = 0;
        g.handle = sanport::WSPRegisterMemory(s, g.mem.data(), len, g.flags, &err);
        if (g.handle) {
            g.live = true;
            g.reg_len = len;
            if (len != region_size) g.used = len; // slices come from the unregistered half
            FUZZ_CHECK(!m.closed && g.flags != 0, "WSPRegisterMemory accepted", g.flags, 0);
        } else {
            const int want = m.closed ? WSAENOTSOCK : WSAEINVAL;
            FUZZ_CHECK(err == want || err == WSAENOBUFS, "WSPRegisterMemory code", err, want);
            g.used = region_size; // never used by a receive
        }
    }

    void dereg(reader& in) {
        if (keep.regions.empty()) return;
        region_rec& g = keep.regions[in.u8() % keep.regions.size()];
        if (!g.handle) return;
        int err = 0;
        const int rc = sanport::WSPDeregisterMemory(s, g.handle, &err);
        if (rc == 0) {
            FUZZ_CHECK(g.live && !m.closed, "deregistered twice or after close", 0, 0);
            g.live = false;
            return;
        }
        FUZZ_CHECK(rc == SOCKET_ERROR, "WSPDeregisterMemory return value", rc, 0);
        const int want = m.closed ? WSAENOTSOCK : WSAEINVAL;
        FUZZ_CHECK(err == want, "WSPDeregisterMemory code", err, want);
        if (!g.live || m.closed) return;
        // Refused while registered: only when a pending operation uses the region.
        const char* lo = g.mem.data();
        const char* hi = lo + g.reg_len;
        bool in_use = false;
        for (op_rec& o : m.ops)
            if (o.accepted && pending(o.p->ov))
                for (const WSABUF& b : o.p->bufs)
                    if (b.len && b.buf < hi && b.buf + b.len > lo) in_use = true;
        FUZZ_CHECK(in_use, "WSPDeregisterMemory refused a region nobody uses", 0, 0);
    }

    void shutdown(std::uint8_t a) {
        static const int hows[] = {SD_RECEIVE, SD_SEND, SD_BOTH, 7};
        const int how = hows[a % 4];
        int err = 0;
        const int rc = sanport::WSPShutdown(s, how, &err);
        if (m.closed)
            FUZZ_CHECK(rc == SOCKET_ERROR && err == WSAENOTSOCK, "shutdown", err, 0);
        else if (how == 7)
            FUZZ_CHECK(rc == SOCKET_ERROR && err == WSAEINVAL, "shutdown how", err, 0);
        else
            FUZZ_CHECK(rc == 0, "WSPShutdown failed", err, how);
        if (rc == 0 && how != SD_SEND) rd_shutdown = true;
    }

    void close() {
        int err = 0;
        const int rc = sanport::WSPCloseSocket(s, &err);
        if (m.closed) {
            FUZZ_CHECK(rc == SOCKET_ERROR && err == WSAENOTSOCK, "second close", rc, err);
            return;
        }
        FUZZ_CHECK(rc == 0, "WSPCloseSocket failed", rc, err);
        m.closed = m.short_ok = true;
        FUZZ_CHECK(fake().started_recv(s) == nullptr && fake().started_send(s) == nullptr,
                   "a request left in the kernel after close", 0, 0);
        FUZZ_CHECK(fake().ready.empty(), "a completion left for a later reap", 0, 0);
    }

    void drain() {
        if (!cq) return;
        for (const sanport::completion_entry& e : sanport::test::drain(*cq)) {
            if (e.key == timer_key)
                ++timer_packets;
            else
                m.packet(e);
        }
    }

    void step(reader& in) {
        switch (in.u8() % op_count) {
        case op_recv:
            return m.ops.size() < max_ops ? recv(in) : void();
        case op_send:
            return m.ops.size() < max_ops ? send(in) : void();
        case op_deliver:
            return deliver(in.u8() % 40 + 1);
        case op_eof:
            if (!peer_done) fake().deliver_eof(s);
            peer_done = m.short_ok = true;
            return;
        case op_error: {
            static const int codes[] = {WSAECONNRESET, WSAECONNRESET, WSAETIMEDOUT, WSAECONNABORTED,
                                        WSAENETDOWN,   WSAENETRESET,  WSAEFAULT,    WSAENOBUFS};
            const int code = codes[in.u8() % 8];
            if (peer_done) return;
            fake().deliver_error(s, code);
            m.short_ok = true;
            if (code != WSAEFAULT && code != WSAENOBUFS) peer_done = true;
            return;
        }
        case op_race: {
            const std::uint8_t a = in.u8();
            race_kind = a % 4;
            race_bytes = (a >> 2) % 24 + 1;
            race_send = in.u8() % 8;
            return;
        }
        case op_shutdown:
            return shutdown(in.u8());
        case op_close:
            return close();
        case op_result:
            return get_result(in);
        case op_register:
            return reg(in);
        case op_deregister:
            return dereg(in);
        case op_reap:
            rig.e.run_once(0);
            return;
        case op_drain:
            return drain();
        case op_send_done: {
            const std::uint8_t a = in.u8();
            static const int codes[] = {0, 0, 0, 0, 0, WSAECONNRESET, WSAECONNABORTED, WSAEFAULT};
            return send_done(a >> 3, codes[a & 7]);
        }
        case op_mode: {
            const std::uint8_t a = in.u8();
            int err = 0;
            const auto mode = a & 1 ? sanport::socket_mode::strict_registration
                                    : sanport::socket_mode::report_disconnect;
            const int rc = sanport::set_socket_mode(s, mode, a >> 1 & 1, &err);
            if (rc == 0 && (a & 1)) strict = (a >> 1 & 1) != 0;
            return;
        }
        case op_cancel:
            return cancel(in);
        case op_timer:
            return timer_step(in);
        default:
            return;
        }
    }
};

// Set-up bits of byte 0.
enum setup : std::uint8_t {
    use_cq = 1,
    skip_success = 2,
    disconnect_mode = 4,
    read_ahead = 8,
    strict_mode = 16,
    keepalive = 32,
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reader in(data, size);
    const std::uint8_t bits = in.u8();
    keep_alive keep;
    sanport::test::fake_rig rig;
    std::optional<sanport::completion_queue> cq;
    int err = 0;
    const SOCKET s = rig.open(err);
    FUZZ_CHECK(s != INVALID_SOCKET, "cannot open a socket on the fake", err, 0);
    program prog{keep, rig, cq, s, {}};
    rig.fake->on_cancel = [&prog](SOCKET) { prog.on_cancel(); };
    if (bits & use_cq) {
        cq.emplace(rig.e);
        FUZZ_CHECK(cq->associate(s, 0x5a, (bits & skip_success) != 0) == 0, "associate", 0, 0);
        prog.m.cq_on = true;
        prog.m.skip_on_success = (bits & skip_success) != 0;
    }
    if (bits & disconnect_mode)
        sanport::set_socket_mode(s, sanport::socket_mode::report_disconnect, 1, &err);
    if (bits & strict_mode) {
        sanport::set_socket_mode(s, sanport::socket_mode::strict_registration, 1, &err);
        prog.strict = true;
    }
    if (bits & keepalive) sanport::test::set_keepalive(s, true);
    if (bits & read_ahead) {
        const DWORD cap = (bits >> 6) * 8 + 4;
        FUZZ_CHECK(sanport::set_socket_mode(s, sanport::socket_mode::read_ahead_bytes, cap, &err) ==
                       0,
                   "read-ahead mode", err, cap);
        prog.m.read_ahead = true;
    }
    for (std::size_t i = 0; i < max_steps && !in.done(); ++i) {
        prog.step(in);
        prog.m.check();
        FUZZ_CHECK(rig.fake->max_in_flight_per_socket_dir <= 1, "two requests in flight", 0, 0);
    }
    prog.close();
    rig.e.run_once(0);
    prog.drain();
    prog.settle_timers();
    prog.m.check_final();
    rig.fake->on_cancel = nullptr;
    return 0;
}
