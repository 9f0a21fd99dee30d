// SPDX-License-Identifier: MIT
// sanport_soak: the loop's posting and checking (see soak_driver.cpp). Receives get random
// WSABUF arrays laid out with gaps (backwards half of the time, the array itself a scratch copy
// wiped after the call); sends carry the next chunk of the endpoint's stream. Receive results
// are taken in POSTING order and every byte compared with the peer's stream.
#include "tests/soak/soak_driver.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace soak {

namespace {

// Splits `total` over `count` entries (random cut points), some moved to zero length.
void split(rng& r, std::size_t total, DWORD n, ULONG* lens) {
    std::uint32_t cuts[max_entries + 1];
    cuts[0] = 0;
    for (DWORD i = 1; i < n; ++i)
        cuts[i] = r.below(static_cast<std::uint32_t>(total + 1));
    std::sort(cuts + 1, cuts + n);
    cuts[n] = static_cast<std::uint32_t>(total);
    for (DWORD i = 0; i < n; ++i)
        lens[i] = cuts[i + 1] - cuts[i];
    for (DWORD i = 0; i + 1 < n; ++i)
        if (r.below(6) == 0) lens[i + 1] += std::exchange(lens[i], 0);
}

// Lays the entries out in o.storage with 0..15-byte gaps (backwards half of the time).
void lay_out(rng& r, op& o, const ULONG* lens) {
    std::size_t need = 16 * (o.count + 1);
    for (DWORD i = 0; i < o.count; ++i)
        need += lens[i];
    if (o.storage.size() < need) o.storage.resize(need);
    const bool backwards = r.below(2) == 0;
    std::size_t cursor = backwards ? o.storage.size() - 1 : 0; // a spare byte past each entry
    o.capacity = 0;
    for (DWORD i = 0; i < o.count; ++i) {
        const std::size_t gap = r.below(16);
        if (backwards) cursor -= lens[i] + gap;
        char* p = o.storage.data() + cursor;
        if (!backwards) cursor += lens[i] + gap;
        o.bufs[i].buf = (lens[i] == 0 && r.below(2) == 0) ? nullptr : p;
        o.bufs[i].len = lens[i];
        o.capacity += lens[i];
    }
}

} // namespace

// Posts o as a receive; false when the call refused it.
bool driver::post_recv(endpoint& ep, op& o) {
    rng& r = ep.r;
    const bool zero = r.below(64) == 0;
    o.count = 1 + r.below(max_entries);
    const std::size_t total = zero ? 0 : 1 + r.below(1u << r.below(17));
    ULONG lens[max_entries];
    split(r, total, o.count, lens);
    lay_out(r, o, lens);
    for (DWORD i = 0; i < o.count; ++i)
        if (o.bufs[i].buf) std::memset(o.bufs[i].buf, sentinel, o.bufs[i].len + 1);
    o.waitall = !zero && r.below(16) == 0;
    o.ov = WSAOVERLAPPED{};
    o.done = o.immediate = o.skip_packet = false;
    o.posted_closing = acq(ep.closing);
    WSABUF scratch[max_entries]; // the core must capture the array during the call
    std::memcpy(scratch, o.bufs, sizeof(WSABUF) * o.count);
    DWORD bytes = 0xB0B0B0B0u, flags = o.waitall ? MSG_WAITALL : 0;
    int e = 0;
    const int rc = WSPRecv(ep.s, scratch, o.count, &bytes, &flags, &o.ov, nullptr, nullptr, &e);
    std::memset(scratch, 0xEE, sizeof scratch);
    if (rc != 0 && e != WSA_IO_PENDING) return refused(ep, false, e);
    count(sh_.st.recv_posted);
    if (o.waitall) count(sh_.st.waitall);
    if (o.capacity == 0) count(sh_.st.zero_byte);
    o.outstanding = true;
    o.in_order = true;
    ep.recv_order.push_back(&o);
    if (rc == 0) immediate(ep, o, bytes);
    return true;
}

// Posts o as the next chunk of ep's stream; false when the call refused it or it is shut.
bool driver::post_send(endpoint& ep, op& o) {
    rng& r = ep.r;
    const std::size_t total = 1 + r.below(1u << r.below(16));
    o.count = 1 + r.below(4);
    ULONG lens[max_entries];
    split(r, total, o.count, lens);
    lay_out(r, o, lens);
    std::lock_guard lk(ep.send_mu);
    if (ep.send_shut) return false;
    checksum sum = ep.tx_sum;
    std::uint64_t pos = ep.send_posted;
    for (DWORD i = 0; i < o.count; ++i) {
        if (!o.bufs[i].buf) continue;
        stream_fill(ep.tx_key, pos, o.bufs[i].buf, o.bufs[i].len);
        sum.add(o.bufs[i].buf, o.bufs[i].len);
        pos += o.bufs[i].len;
    }
    o.ov = WSAOVERLAPPED{};
    o.done = o.immediate = o.skip_packet = false;
    o.posted_closing = acq(ep.closing);
    DWORD bytes = 0xB0B0B0B0u;
    int e = 0;
    const int rc = WSPSend(ep.s, o.bufs, o.count, &bytes, 0, &o.ov, nullptr, nullptr, &e);
    if (rc != 0 && e != WSA_IO_PENDING) return refused(ep, true, e);
    ep.tx_sum = sum;
    ep.send_posted = pos;
    count(sh_.st.send_posted);
    o.outstanding = true;
    if (rc == 0) immediate(ep, o, bytes);
    return true;
}

bool driver::refused(endpoint& ep, bool is_send, int e) {
    count(sh_.st.rejected);
    const char* what = is_send ? "WSPSend" : "WSPRecv";
    if (e == WSAENOTSOCK && acq(ep.closing)) return false; // the close got there first
    if (!(conn_error(e) && acq(ep.peer->abnormal)))
        err(ep, std::string(what) + " refused at the call with " + wsa_error_name(e));
    if (is_send)
        ep.tx_failed = true;
    else
        ep.rx_stop = true;
    return false;
}

// The call returned 0: its result is set already; a packet follows unless skip-on-success.
void driver::immediate(endpoint& ep, op& o, DWORD bytes) {
    count(sh_.st.immediate);
    o.immediate = true;
    o.imm_bytes = bytes;
    if (internal_of(o.ov) == in_progress)
        err(ep, "the call returned 0 but Internal is still WSS_OPERATION_IN_PROGRESS");
    if (o.ov.InternalHigh != bytes) err(ep, "the call returned 0 with a count unlike InternalHigh");
    if (ep.skip_on_success) {
        o.skip_packet = true;
        take(ep, o, bytes, static_cast<int>(o.ov.OffsetHigh));
    }
}

// Keeps ep's receives and sends posted.
void driver::refill(endpoint& ep) {
    if (acq(ep.closed) || ep.retired) return;
    if (!ep.rx_stop && !ep.rx_ended) {
        std::size_t posted = 0;
        for (op& o : ep.recvs)
            posted += o.outstanding || o.in_order;
        for (op& o : ep.recvs) {
            if (posted >= ep.recv_target || ep.rx_stop) break;
            if (o.outstanding || o.in_order) continue;
            if (!post_recv(ep, o)) break;
            ++posted;
        }
    }
    if (!ep.tx_failed) {
        bool spent = false;
        {
            std::lock_guard lk(ep.send_mu);
            spent = !ep.send_shut && ep.send_posted >= ep.budget;
        }
        if (spent) {
            half_close(sh_, ep); // the budget is spent: the peer must see the whole stream
        } else {
            std::size_t posted = 0;
            for (op& o : ep.sends)
                posted += o.outstanding;
            for (op& o : ep.sends) {
                if (posted >= ep.send_target) break;
                if (o.outstanding) continue;
                if (!post_send(ep, o)) break;
                ++posted;
            }
        }
    }
}

void driver::send_result(endpoint& ep, op& o) {
    if (o.bytes > o.capacity) err(ep, "a send reports more bytes than it posted");
    if (o.status == 0) {
        count(sh_.st.bytes_sent, o.bytes);
        if (o.bytes != o.capacity)
            err(ep, "a send completed successfully with " + std::to_string(o.bytes) + " of " +
                        std::to_string(o.capacity) + " bytes");
        return;
    }
    ep.tx_failed = true;
    if (o.status == WSA_OPERATION_ABORTED) {
        count(sh_.st.aborted);
        if (!acq(ep.closing)) err(ep, "a send aborted while its socket was not being closed");
    } else if (conn_error(o.status)) {
        count(sh_.st.conn_errors);
        if (!acq(ep.peer->abnormal))
            err(ep, std::string("a send failed with ") + wsa_error_name(o.status) +
                        " while the peer was not closed or reset");
    } else {
        err(ep, std::string("a send failed with ") + wsa_error_name(o.status));
    }
}

// Takes the receives at the head of the posting order while their results are in.
void driver::advance(endpoint& ep) {
    while (!ep.recv_order.empty() && ep.recv_order.front()->done) {
        op& o = *ep.recv_order.front();
        ep.recv_order.pop_front();
        o.in_order = false;
        o.done = false;
        if (!ep.rx_broken) verify(ep, o);
    }
}

void driver::verify(endpoint& ep, op& o) {
    const bool local = acq(ep.closing);
    const bool peer_ab = acq(ep.peer->abnormal);
    if (o.bytes > o.capacity) {
        ep.rx_broken = ep.rx_stop = true;
        return err(ep, "a receive reports more bytes than its buffers hold");
    }
    if (o.bytes > 0) {
        if (ep.rx_ended) {
            ep.rx_broken = ep.rx_stop = true;
            return err(ep, "data after the end of the stream (or after a reset) in posting order");
        }
        if (ep.expect_end && !local)
            err(ep, "data after a MSG_WAITALL receive that completed short");
        DWORD left = o.bytes;
        for (DWORD i = 0; i < o.count && left; ++i) {
            const WSABUF& b = o.bufs[i];
            if (b.len == 0) continue;
            const DWORD take_n = std::min<DWORD>(left, b.len);
            const std::size_t bad = stream_mismatch(ep.rx_key, ep.verified, b.buf, take_n);
            if (bad != take_n) {
                ep.rx_broken = ep.rx_stop = true;
                return err(ep,
                           "received byte at stream offset " + std::to_string(ep.verified + bad) +
                               " differs from the stream (entry " + std::to_string(i) + " of " +
                               std::to_string(o.count) + ", receive of " + std::to_string(o.bytes) +
                               " bytes, status " + wsa_error_name(o.status) + ")");
            }
            ep.rx_sum.add(b.buf, take_n);
            ep.verified += take_n;
            count(sh_.st.bytes_verified, take_n);
            left -= take_n;
            if (take_n < b.len && static_cast<unsigned char>(b.buf[take_n]) != sentinel &&
                stream_byte(ep.rx_key, ep.verified) != sentinel)
                err(ep, "a byte past the reported count was written");
        }
        if (o.waitall && o.status == 0 && o.bytes < o.capacity && !local) ep.expect_end = true;
    }
    if (o.status == 0 && (o.bytes > 0 || o.capacity == 0)) return;
    if (o.status == 0) return end_of_stream(ep, peer_ab);
    if (o.status == WSA_OPERATION_ABORTED) {
        count(sh_.st.aborted);
        if (!local) err(ep, "a receive aborted while its socket was not being closed");
        return;
    }
    ep.rx_ended = ep.rx_stop = true;
    if (conn_error(o.status)) {
        count(sh_.st.conn_errors);
        if (!peer_ab)
            err(ep, std::string("a receive failed with ") + wsa_error_name(o.status) +
                        " while the peer was not closed or reset");
        return;
    }
    err(ep, std::string("a receive failed with ") + wsa_error_name(o.status));
}

void driver::end_of_stream(endpoint& ep, bool peer_ab) {
    count(sh_.st.eofs);
    if (ep.rx_ended) return; // later receives see the end again
    ep.rx_ended = ep.rx_stop = true;
    endpoint& p = *ep.peer;
    bool shut = false;
    std::uint64_t fin = 0;
    checksum sum;
    {
        std::lock_guard lk(p.send_mu);
        shut = p.send_shut;
        fin = p.send_posted;
        sum = p.tx_sum;
    }
    if (shut && ep.verified == fin) {
        if (!(ep.rx_sum == sum)) return err(ep, "checksum of the received stream differs");
        sh_.st.digest.fetch_xor(mix64(sum.a ^ (sum.b << 1)), std::memory_order_relaxed);
        return;
    }
    if (peer_ab) return;
    err(ep, "a 0-byte end of stream after " + std::to_string(ep.verified) + " bytes; the peer " +
                (shut ? "half-closed after " + std::to_string(fin) + " bytes"
                      : std::string("is still sending")));
}

} // namespace soak
