// SPDX-License-Identifier: MIT
// echo_check.hpp: what the event-loop samples (epoll_echo, asio_echo, pool_echo) share - a
// loopback listener on an engine, and the clients each sample runs against itself to check
// its own echo: every client connects, sends `messages` numbered 64-byte messages one at a
// time, reads each one back and compares it, then closes. The clients use blocking calls on
// the default engine, on threads of their own, so they never wait for the server's loop.
#pragma once

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>
#ifndef _WIN32 // on Windows, <sanport/wsp.h> brings winsock2.h and ws2tcpip.h
#include <arpa/inet.h>
#include <netinet/in.h>
#endif

namespace echo_check {

// A listening socket of engine `e` on 127.0.0.1, an ephemeral port; INVALID_SOCKET on failure.
inline SOCKET listen_on(sanport::engine& e, sockaddr_in& addr) {
    int err = 0;
    const SOCKET l = e.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
    if (l == INVALID_SOCKET) return l;
    addr = sockaddr_in{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof addr;
    if (sanport::WSPBind(l, reinterpret_cast<sockaddr*>(&addr), len, &err) == 0 &&
        sanport::WSPListen(l, SOMAXCONN, &err) == 0 &&
        sanport::WSPGetSockName(l, reinterpret_cast<sockaddr*>(&addr), &len, &err) == 0)
        return l;
    std::fprintf(stderr, "listener: %s\n", sanport::wsa_error_name(err));
    sanport::WSPCloseSocket(l, &err);
    return INVALID_SOCKET;
}

struct result {
    std::atomic<int> finished{0}; // clients done, passed or not
    std::atomic<int> failed{0};
    std::atomic<long> echoed{0}; // messages that came back intact
};

inline bool all_bytes(SOCKET s, char* data, DWORD size, bool send) {
    for (DWORD done = 0; done < size;) {
        WSABUF buf{size - done, data + done};
        DWORD n = 0;
        DWORD flags = 0;
        int err = 0;
        const int rc =
            send ? sanport::WSPSend(s, &buf, 1, &n, 0, nullptr, nullptr, nullptr, &err)
                 : sanport::WSPRecv(s, &buf, 1, &n, &flags, nullptr, nullptr, nullptr, &err);
        if (rc != 0 || n == 0) return false;
        done += n;
    }
    return true;
}

inline void one_client(const sockaddr_in addr, int id, int messages, result& r) {
    int err = 0;
    const SOCKET s = sanport::WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, 0, &err);
    bool ok = s != INVALID_SOCKET &&
              sanport::WSPConnect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, nullptr,
                                  nullptr, nullptr, nullptr, &err) == 0;
    for (int m = 0; ok && m < messages; ++m) {
        char out[64];
        char in[64];
        std::snprintf(out, sizeof out, "client %d message %d", id, m);
        std::memset(out + std::strlen(out), '.', sizeof out - std::strlen(out));
        ok = all_bytes(s, out, sizeof out, true) && all_bytes(s, in, sizeof in, false) &&
             std::memcmp(in, out, sizeof out) == 0;
        if (ok) r.echoed.fetch_add(1);
    }
    if (!ok) r.failed.fetch_add(1);
    if (s != INVALID_SOCKET) sanport::WSPCloseSocket(s, &err);
    r.finished.fetch_add(1);
}

// Starts the clients; join the threads once r.finished reached `clients`.
inline std::vector<std::thread> start_clients(const sockaddr_in& addr, int clients, int messages,
                                              result& r) {
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
        threads.emplace_back(one_client, addr, i, messages, std::ref(r));
    return threads;
}

// The sample's last line, and its exit status: 0 when every message came back.
inline int report(const char* sample, int clients, int messages, result& r) {
    const long want = static_cast<long>(clients) * messages;
    std::printf("%s: %d clients, %ld of %ld messages echoed, %d failed\n", sample, clients,
                r.echoed.load(), want, r.failed.load());
    return r.echoed.load() == want && r.failed.load() == 0 ? 0 : 1;
}

// The IOCP-style echo both epoll_echo and pool_echo run: WSPAcceptEx keeps `accepts` accepts
// posted on the listener (key 0); each connection (key: its address) alternates one WSPRecv and
// one WSPSend of what came, so a connection has one operation at a time and handle() may run on
// several threads at once for different packets without a lock.
class echo_service {
public:
    echo_service(sanport::engine& e, sanport::completion_queue& cq, SOCKET listener)
        : engine_(e), cq_(cq), listener_(listener) {}
    echo_service(const echo_service&) = delete;
    echo_service& operator=(const echo_service&) = delete;

    bool start(int accepts) {
        if (cq_.associate(listener_, 0) != 0) return false;
        slots_.resize(static_cast<std::size_t>(accepts));
        for (auto& a : slots_)
            if (!post_accept(a)) return false;
        return true;
    }
    // Closing the listener completes the posted accepts, aborted; handle() counts them.
    void stop() {
        int err = 0;
        sanport::WSPCloseSocket(listener_, &err);
    }
    bool stopped() const { return aborted_.load() == static_cast<int>(slots_.size()); }
    int open() const { return open_.load(); }
    // Where an accepted connection goes: give_away(s) true means another engine took it.
    std::function<bool(SOCKET)> give_away;

    // Serves s (a connected socket of this service's engine) from now on.
    void serve(SOCKET s) {
        auto* c = new connection;
        c->s = s;
        open_.fetch_add(1);
        if (cq_.associate(c->s, reinterpret_cast<ULONG_PTR>(c)) != 0 || !post(c)) close(c);
    }

    void handle(const sanport::completion_entry& p) {
        if (p.key == 0) return accepted(*reinterpret_cast<accept_slot*>(p.overlapped), p.status);
        auto* c = reinterpret_cast<connection*>(p.key);
        if (p.status != 0 || (!c->sending && p.bytes == 0)) return close(c); // error or end
        c->sending = !c->sending;
        if (c->sending) c->length = p.bytes; // echo what came
        if (!post(c)) close(c);
    }

private:
    static constexpr DWORD room = sizeof(sockaddr_in6) + 16;
    struct accept_slot {
        WSAOVERLAPPED ov{}; // first: a packet's overlapped is the slot
        SOCKET s = INVALID_SOCKET;
        char addresses[2 * room];
    };
    struct connection {
        WSAOVERLAPPED ov{};
        SOCKET s = INVALID_SOCKET;
        bool sending = false;
        DWORD length = 0;
        char data[4096];
    };

    bool post_accept(accept_slot& a) {
        int err = 0;
        a.s = engine_.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
        if (a.s == INVALID_SOCKET) return false;
        DWORD bytes = 0;
        if (sanport::WSPAcceptEx(listener_, a.s, a.addresses, 0, room, room, &bytes, &a.ov, &err) ==
                0 ||
            err == WSA_IO_PENDING)
            return true;                    // one packet follows
        sanport::WSPCloseSocket(a.s, &err); // the listener is closing: no packet
        return false;
    }
    void accepted(accept_slot& a, int status) {
        int err = 0;
        if (status != 0) { // the listener closed: this slot is done
            sanport::WSPCloseSocket(a.s, &err);
            aborted_.fetch_add(1);
            return;
        }
        if (!give_away || !give_away(a.s)) serve(a.s);
        if (!post_accept(a)) aborted_.fetch_add(1);
    }
    // The next operation of c: the echo of its last receive, or the next receive.
    bool post(connection* c) {
        WSABUF buf{c->sending ? c->length : static_cast<ULONG>(sizeof c->data), c->data};
        DWORD bytes = 0;
        DWORD flags = 0;
        int err = 0;
        const int rc =
            c->sending
                ? sanport::WSPSend(c->s, &buf, 1, &bytes, 0, &c->ov, nullptr, nullptr, &err)
                : sanport::WSPRecv(c->s, &buf, 1, &bytes, &flags, &c->ov, nullptr, nullptr, &err);
        return rc == 0 || err == WSA_IO_PENDING; // either way one packet follows
    }
    void close(connection* c) {
        int err = 0;
        sanport::WSPCloseSocket(c->s, &err);
        delete c;
        open_.fetch_sub(1);
    }

    sanport::engine& engine_;
    sanport::completion_queue& cq_;
    SOCKET listener_;
    std::vector<accept_slot> slots_;
    std::atomic<int> open_{0};
    std::atomic<int> aborted_{0};
};

} // namespace echo_check
