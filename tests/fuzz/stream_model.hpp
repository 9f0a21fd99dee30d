// SPDX-License-Identifier: MIT
// The model behind fuzz_recv_stream: one record per posted operation, what the peer sent, and
// the checks run after every step (exactly-once completion, posting order, stream integrity).
#pragma once

#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace sanport::fuzz {

using sanport::test::posted;

// One WSPRecv/WSPSend the program made, and what the model knows about it.
struct op_rec {
    posted* p = nullptr;
    bool is_recv = true;
    DWORD flags = 0; // the call's flags (MSG_PEEK / MSG_WAITALL)
    WSAEVENT event = nullptr;
    bool low_bit = false;
    std::uint32_t capacity = 0;
    bool accepted = false;  // returned 0 or WSA_IO_PENDING: it must complete exactly once
    bool immediate = false; // returned 0
    int call_code = 0;      // SOCKET_ERROR's code (not WSA_IO_PENDING)
    // First seen completed: the published result and (receives) the bytes, frozen.
    bool done = false;
    ULONG_PTR internal = 0;
    ULONG_PTR high = 0;
    DWORD offset = 0, offset_high = 0;
    std::string data;
    int packets = 0;
    std::string out;         // send: the bytes it gathers
    std::uint32_t taken = 0; // send: bytes the fake kernel took of it
    bool cancelled = false;  // WSPCancelIoEx matched it while pending: it may end short

    bool owns(const void* q) const {
        const char* c = static_cast<const char*>(q);
        for (const WSABUF& b : p->bufs)
            if (b.len && c >= b.buf && c < b.buf + b.len) return true;
        return false;
    }
};

struct model {
    std::deque<op_rec> ops;
    std::size_t kpos = 0;    // peer stream bytes the fake kernel consumed (not peeked)
    bool short_ok = false;   // EOF, an error or the close happened: MSG_WAITALL may end short
    bool read_ahead = false; // bytes may legally be dropped at close (read-ahead buffer)
    bool cq_on = false, skip_on_success = false;
    bool closed = false;
    std::size_t out_total = 0; // bytes of all sends posted

    bool wants_packet(const op_rec& o) const {
        return cq_on && !o.low_bit && !(o.immediate && skip_on_success);
    }

    op_rec* owner_of(const void* q) {
        for (op_rec& o : ops)
            if (o.accepted && o.owns(q)) return &o;
        return nullptr;
    }

    // The first accepted operation of a direction that is still pending (by its WSAOVERLAPPED).
    op_rec* first_pending(bool recv) {
        for (op_rec& o : ops)
            if (o.accepted && o.is_recv == recv && pending(o.p->ov)) return &o;
        return nullptr;
    }

    // After every step: each accepted operation is pending or completed exactly once, with a
    // result that never changes; receives completed in posting order carry the stream.
    void check() {
        for (std::size_t i = 0; i < ops.size(); ++i) {
            op_rec& o = ops[i];
            const WSAOVERLAPPED& ov = o.p->ov;
            if (!o.accepted) {
                FUZZ_CHECK(o.packets == 0, "a failed call produced a packet", i, o.call_code);
                if (o.event) FUZZ_CHECK(!test::signalled(o.event), "failed call signalled", i, 0);
                continue;
            }
            if (pending(ov)) {
                FUZZ_CHECK(!o.done, "completed operation became pending again", i, 0);
                FUZZ_CHECK(o.packets == 0, "packet for a pending operation", i, 0);
                FUZZ_CHECK(!closed, "operation pending after WSPCloseSocket returned", i, 0);
                if (o.event) FUZZ_CHECK(!test::signalled(o.event), "pending op signalled", i, 0);
                continue;
            }
            if (!o.done) {
                first_completion(i, o);
                continue;
            }
            FUZZ_CHECK(ov.Internal == o.internal && ov.InternalHigh == o.high &&
                           ov.Offset == o.offset && ov.OffsetHigh == o.offset_high,
                       "completed operation written again", i, ov.OffsetHigh);
            if (o.is_recv && (o.flags & MSG_PEEK) == 0)
                FUZZ_CHECK(o.p->got() == o.data, "buffer written after completion", i, 0);
            FUZZ_CHECK(o.packets <= 1, "more than one packet", i, o.packets);
        }
        check_recv_order();
    }

    void first_completion(std::size_t i, op_rec& o) {
        const WSAOVERLAPPED& ov = o.p->ov;
        o.done = true;
        o.internal = ov.Internal;
        o.high = ov.InternalHigh;
        o.offset = ov.Offset;
        o.offset_high = ov.OffsetHigh;
        const int status = static_cast<int>(ov.OffsetHigh);
        FUZZ_CHECK(ov.Internal == static_cast<ULONG_PTR>(status), "Internal != OffsetHigh", i,
                   status);
        FUZZ_CHECK(ov.Offset == 0, "completion flags on a stream socket", i, ov.Offset);
        if (o.event) FUZZ_CHECK(test::signalled(o.event), "completed, event not signalled", i, 0);
        if (o.is_recv) {
            if (status != 0) FUZZ_CHECK_RECV_CODE(status);
            FUZZ_CHECK(status != WSA_IO_PENDING, "completed with WSA_IO_PENDING", i, 0);
            FUZZ_CHECK(ov.InternalHigh <= o.capacity, "more bytes than buffers", i,
                       ov.InternalHigh);
            FUZZ_CHECK(status == 0 || ov.InternalHigh == 0, "error with bytes", i, status);
            if ((o.flags & MSG_WAITALL) && status == 0 && ov.InternalHigh < o.capacity)
                FUZZ_CHECK(short_ok || o.cancelled, "MSG_WAITALL completed short", i,
                           ov.InternalHigh);
            o.data = o.p->got();
        } else {
            if (status != 0) FUZZ_CHECK_SEND_CODE(status);
            FUZZ_CHECK(ov.InternalHigh == o.taken, "send count != bytes the kernel took", i,
                       ov.InternalHigh);
            FUZZ_CHECK(status != 0 || o.taken == o.out.size() || o.cancelled,
                       "send completed short", i, o.taken);
        }
    }

    // Completed receives in posting order: no bytes after a still-pending one, and their bytes
    // (MSG_PEEK ones looking at the same place) are exactly the peer stream from its start.
    std::size_t check_recv_order() {
        std::size_t pos = 0;
        bool gap = false;
        const std::string& stream = peer_stream();
        for (std::size_t i = 0; i < ops.size(); ++i) {
            op_rec& o = ops[i];
            if (!o.is_recv || !o.accepted) continue;
            if (!o.done) {
                gap = true;
                continue;
            }
            const std::size_t n = static_cast<std::size_t>(o.high);
            if (n == 0) continue;
            FUZZ_CHECK(!gap, "bytes delivered past a pending receive", i, n);
            FUZZ_CHECK(pos + n <= kpos || (o.flags & MSG_PEEK), "more bytes than the peer sent", i,
                       pos + n);
            FUZZ_CHECK(std::memcmp(o.data.data(), stream.data() + pos, n) == 0,
                       "received bytes differ from the stream (hole, duplicate, order)", i, pos);
            if ((o.flags & MSG_PEEK) == 0) pos += n;
        }
        return pos;
    }

    // Every WSPRecv/WSPSend that was accepted completed, once, and nothing was dropped.
    void check_final() {
        check();
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const op_rec& o = ops[i];
            if (!o.accepted) continue;
            FUZZ_CHECK(o.done, "operation never completed", i, 0);
            FUZZ_CHECK(o.packets == (wants_packet(o) ? 1 : 0), "wrong number of packets", i,
                       o.packets);
        }
        const std::size_t pos = check_recv_order();
        if (std::getenv("SANPORT_FUZZ_TRACE")) trace(pos);
        if (!read_ahead) FUZZ_CHECK(pos == kpos, "received bytes dropped", pos, kpos);
    }

    void trace(std::size_t pos) const {
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const op_rec& o = ops[i];
            std::fprintf(stderr,
                         "op %zu %s flags=%lu cap=%u accepted=%d immediate=%d code=%d "
                         "status=%lu bytes=%lu packets=%d\n",
                         i, o.is_recv ? "recv" : "send", static_cast<unsigned long>(o.flags),
                         o.capacity, o.accepted, o.immediate, o.call_code,
                         static_cast<unsigned long>(o.offset_high),
                         static_cast<unsigned long>(o.high), o.packets);
        }
        std::fprintf(stderr, "received %zu of %zu consumed\n", pos, kpos);
    }

    // A completion-queue packet: one of ours, completed, matching its WSAOVERLAPPED.
    void packet(const completion_entry& e) {
        for (std::size_t i = 0; i < ops.size(); ++i) {
            op_rec& o = ops[i];
            if (&o.p->ov != e.overlapped) continue;
            FUZZ_CHECK(!pending(o.p->ov), "packet before completion", i, 0);
            FUZZ_CHECK(e.status == static_cast<int>(o.p->ov.OffsetHigh), "packet status", i,
                       e.status);
            FUZZ_CHECK(e.bytes == o.p->ov.InternalHigh, "packet bytes", i, e.bytes);
            FUZZ_CHECK(e.key == 0x5a, "packet key", i, e.key);
            ++o.packets;
            FUZZ_CHECK(o.packets <= 1, "operation completed twice (second packet)", i, 0);
            FUZZ_CHECK(wants_packet(o), "packet nobody asked for", i, o.low_bit);
            return;
        }
        FUZZ_CHECK(false, "packet for an unknown WSAOVERLAPPED", 0, 0);
    }
};

} // namespace sanport::fuzz
