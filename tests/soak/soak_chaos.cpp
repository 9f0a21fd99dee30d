// SPDX-License-Identifier: MIT
// sanport_soak: the byte streams, the descriptor guard, and the two chaos threads. A chaos
// thread keeps the pool at --connections (each a loopback pair of two sanport sockets: WSPSocket
// + WSPBind + WSPConnect on one side, WSPAccept on the other), and at random moments picks a
// live connection (each gets at most one chaos action) and, on one of its ends, calls
// WSPCloseSocket while its receives and sends are posted, resets it (SO_LINGER {1, 0} on the
// SOCKET, which is the OS socket, then WSPCloseSocket) or half-closes it (WSPShutdown SD_SEND).
#include "tests/soak/soak.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <thread>

namespace soak {

using namespace sanport;

// ---- streams -----------------------------------------------------------------------------------

void stream_fill(std::uint64_t key, std::uint64_t pos, char* out, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        const std::uint64_t w = mix64(key + (pos + i) / 8);
        for (unsigned b = static_cast<unsigned>((pos + i) % 8); b < 8 && i < n; ++b, ++i)
            out[i] = static_cast<char>(w >> (8 * b));
    }
}

std::size_t stream_mismatch(std::uint64_t key, std::uint64_t pos, const char* data, std::size_t n) {
    std::size_t i = 0;
    while (i < n) {
        const std::uint64_t w = mix64(key + (pos + i) / 8);
        for (unsigned b = static_cast<unsigned>((pos + i) % 8); b < 8 && i < n; ++b, ++i)
            if (data[i] != static_cast<char>(w >> (8 * b))) return i;
    }
    return n;
}

unsigned char stream_byte(std::uint64_t key, std::uint64_t pos) {
    return static_cast<unsigned char>(mix64(key + pos / 8) >> (8 * (pos % 8)));
}

// ---- guard and activity ------------------------------------------------------------------------

void fd_guard::lock_shared() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [this] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
}
void fd_guard::unlock_shared() {
    std::lock_guard lk(m_);
    if (--readers_ == 0) cv_.notify_all();
}
void fd_guard::lock() {
    std::unique_lock lk(m_);
    ++writers_waiting_;
    cv_.wait(lk, [this] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
}
void fd_guard::unlock() {
    std::lock_guard lk(m_);
    writer_ = false;
    cv_.notify_all();
}

void activity::set(const char* w, std::uint64_t i) {
    id.store(i, std::memory_order_relaxed);
    since_ms.store(now_ms(), std::memory_order_relaxed);
    what.store(w, std::memory_order_release);
}

// ---- close and half-close ----------------------------------------------------------------------

bool close_endpoint(shared_state& sh, endpoint& ep, bool reset, bool abnormal, activity& act) {
    if (ep.close_claimed.exchange(true, std::memory_order_acq_rel)) return false;
    if (abnormal) ep.abnormal.store(true, std::memory_order_release);
    ep.closing.store(true, std::memory_order_release);
    if (reset) {
        const linger lg{1, 0};
        if (::setsockopt(static_cast<int>(ep.s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
            report_error(sh, "setsockopt(SO_LINGER) on connection " + std::to_string(ep.conn->id) +
                                 ": " + std::strerror(errno));
    }
    act.set(reset ? "WSPCloseSocket (reset)" : "WSPCloseSocket", ep.id);
    int err = 0;
    ep.close_rc = WSPCloseSocket(ep.s, &err);
    ep.close_err = err;
    act.set("after WSPCloseSocket", ep.id);
    ep.closed.store(true, std::memory_order_release);
    if (ep.close_rc != 0)
        report_error(sh, "WSPCloseSocket of connection " + std::to_string(ep.conn->id) + " side " +
                             std::to_string(ep.side) + " failed with " + wsa_error_name(err));
    return true;
}

bool half_close(shared_state& sh, endpoint& ep) {
    std::lock_guard lk(ep.send_mu);
    if (ep.send_shut || ep.closed.load(std::memory_order_acquire)) return false;
    ep.send_shut = true;
    int err = 0;
    if (WSPShutdown(ep.s, SD_SEND, &err) != 0) {
        // Acceptable only if a close of this end, or of its peer, is under way.
        if (!ep.closing.load(std::memory_order_acquire) &&
            !ep.peer->abnormal.load(std::memory_order_acquire))
            report_error(sh, "WSPShutdown(SD_SEND) on connection " + std::to_string(ep.conn->id) +
                                 " side " + std::to_string(ep.side) + " failed with " +
                                 wsa_error_name(err));
    }
    sh.st.half_closes.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// ---- new connections ---------------------------------------------------------------------------

namespace {

// Failures the machine can cause (ports, descriptors, memory): counted, not errors.
bool resource_error(int e) {
    return e == WSAEADDRINUSE || e == WSAEADDRNOTAVAIL || e == WSAENOBUFS || e == WSAEMFILE;
}

void setup_endpoint(shared_state& sh, connection& c, int side, SOCKET s) {
    endpoint& ep = c.ep[side];
    ep.id = c.id * 2 + static_cast<std::uint64_t>(side);
    ep.side = side;
    ep.conn = &c;
    ep.peer = &c.ep[1 - side];
    ep.s = s;
    ep.r = rng(mix64(sh.cfg.seed ^ mix64(ep.id + 0x50A4)));
    ep.tx_key = stream_key(sh.cfg.seed, c.id, side);
    ep.rx_key = stream_key(sh.cfg.seed, c.id, 1 - side);
    ep.skip_on_success = ep.r.below(4) == 0;
    ep.recv_target = 1 + ep.r.below(max_recvs);
    ep.send_target = 1 + ep.r.below(max_sends);
    const unsigned e = 12 + ep.r.below(13); // 4 KiB .. 32 MiB, log-uniform
    ep.budget = (1ull << e) + ep.r.below(1u << e);
    for (op& o : ep.sends)
        o.is_send = true;
}

} // namespace

bool open_connection(shared_state& sh, activity& act) {
    auto c = std::make_shared<connection>();
    c->id = sh.next_conn.fetch_add(1, std::memory_order_relaxed);
    SOCKET a = INVALID_SOCKET, b = INVALID_SOCKET;
    int err = 0;
    const char* step = "WSPSocket";
    {
        act.set("fd guard (exclusive)", c->id);
        std::lock_guard g(sh.guard);
        act.set("WSPSocket", c->id);
        a = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
        if (a != INVALID_SOCKET) {
            sockaddr_in local{};
            local.sin_family = AF_INET;
            local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            step = "WSPBind";
            act.set(step, c->id);
            if (WSPBind(a, reinterpret_cast<sockaddr*>(&local), sizeof local, &err) == 0) {
                step = "WSPConnect";
                act.set(step, c->id);
                if (WSPConnect(a, reinterpret_cast<sockaddr*>(&sh.listen_addr), sh.listen_len,
                               nullptr, nullptr, nullptr, nullptr, &err) == 0) {
                    step = "WSPAccept";
                    act.set(step, c->id);
                    sockaddr_storage from{};
                    int from_len = sizeof from;
                    b = WSPAccept(sh.listener, reinterpret_cast<sockaddr*>(&from), &from_len,
                                  nullptr, 0, &err);
                    sockaddr_storage mine{};
                    int mine_len = sizeof mine;
                    if (b != INVALID_SOCKET &&
                        (WSPGetSockName(a, reinterpret_cast<sockaddr*>(&mine), &mine_len, &err) !=
                             0 ||
                         from_len != mine_len || std::memcmp(&from, &mine, mine_len) != 0))
                        report_error(sh, "WSPAccept returned a connection other than the one "
                                         "just connected (connection " +
                                             std::to_string(c->id) + ")");
                }
            }
        }
        if (b == INVALID_SOCKET && a != INVALID_SOCKET) {
            int e2 = 0;
            WSPCloseSocket(a, &e2);
        }
    }
    act.set("after connect", c->id);
    if (b == INVALID_SOCKET) {
        sh.st.connect_failures.fetch_add(1, std::memory_order_relaxed);
        if (!resource_error(err))
            report_error(sh, std::string(step) + " failed with " + wsa_error_name(err) +
                                 " (connection " + std::to_string(c->id) + ")");
        return false;
    }
    setup_endpoint(sh, *c, 0, a);
    setup_endpoint(sh, *c, 1, b);
    for (endpoint& ep : c->ep)
        if (const int rc = sh.cq->associate(ep.s, ep.id, ep.skip_on_success))
            report_error(sh, "completion_queue::associate failed with " +
                                 std::string(wsa_error_name(rc)));
    sh.st.opened.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lk(sh.reg_mu);
    sh.live.push_back(c);
    sh.inbox.push_back(c);
    return true;
}

// ---- the chaos threads -------------------------------------------------------------------------

void run_chaos(shared_state& sh, int index) {
    rng r(mix64(sh.cfg.seed + 0xC4A05000ull + static_cast<std::uint64_t>(index)));
    activity& act = sh.chaos_act[static_cast<std::size_t>(index)];
    while (!sh.stop_chaos.load(std::memory_order_acquire)) {
        act.set("sleeping");
        std::this_thread::sleep_for(std::chrono::microseconds(r.below(50000)));
        std::shared_ptr<connection> c;
        {
            std::lock_guard lk(sh.reg_mu);
            if (sh.live.size() < sh.cfg.connections) {
                // Replace closed connections (opens are bounded by the closes).
            } else {
                c = sh.live[r.below(static_cast<std::uint32_t>(sh.live.size()))];
            }
        }
        if (!c) {
            if (!open_connection(sh, act))
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            sh.progress.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (c->chaos_claimed.exchange(true, std::memory_order_acq_rel)) continue;
        endpoint& ep = c->ep[r.below(2)];
        const std::uint32_t action = r.below(10);
        act.set("fd guard (shared)", ep.id);
        sh.guard.lock_shared();
        if (!ep.closed.load(std::memory_order_acquire)) {
            if (action < 4) {
                if (close_endpoint(sh, ep, false, true, act))
                    sh.st.chaos_closes.fetch_add(1, std::memory_order_relaxed);
            } else if (action < 7) {
                if (close_endpoint(sh, ep, true, true, act))
                    sh.st.resets.fetch_add(1, std::memory_order_relaxed);
            } else {
                act.set("WSPShutdown(SD_SEND)", ep.id);
                half_close(sh, ep);
            }
        }
        sh.guard.unlock_shared();
        sh.progress.fetch_add(1, std::memory_order_relaxed);
    }
    act.set("done");
    sh.chaos_done[static_cast<std::size_t>(index)].store(true, std::memory_order_release);
}

} // namespace soak
