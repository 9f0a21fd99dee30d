// SPDX-License-Identifier: MIT
// echo_client: drives any TCP echo server and checks every byte that comes back.
//
//   echo_client --port N [--host 127.0.0.1] [--connections C] [--messages M] [--size S]
//               [--pipeline P] [--timeout T]
//
// Each of C connections sends M messages of S bytes, at most P of them not yet echoed, and
// reads the echo with overlapped WSPRecv. One application thread does everything through one
// completion queue, and every operation goes through the same four steps:
//   1. post:    WSPRecv/WSPSend with a buffer and a WSAOVERLAPPED, both sanport's until step 3;
//   2. answer:  0 (completed at once) or SOCKET_ERROR + WSA_IO_PENDING (completes later);
//               both mean "one packet will come"; any other code is an error and none comes;
//   3. packet:  cq.dequeue returns {overlapped, bytes, key, status};
//   4. re-post: the receive buffer, once checked, is posted again; a free send slot takes the
//               next message.
// Exit code 0 only if every byte came back as sent, in order, within T seconds (default 30).
// Errors are printed with their WSA name (sanport::wsa_error_name) and, for a call that failed,
// sanport::last_error_detail().
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#ifndef _WIN32 // on Windows, <sanport/wsp.h> brings winsock2.h and ws2tcpip.h
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

namespace {

struct options {
    unsigned port = 0;
    const char* host = "127.0.0.1";
    unsigned connections = 1;
    std::uint64_t messages = 1000;
    DWORD size = 64;
    unsigned pipeline = 1;
    double timeout = 30;
};
options opt;

// Byte i of message m on connection c: differs between connections, messages and positions,
// so a byte delivered to the wrong connection, out of order or twice is caught.
char pattern(unsigned c, std::uint64_t m, DWORD i) {
    return static_cast<char>(c * 131u + m * 31u + i * 7u + (i >> 8));
}

// A connection's context; its address is the completion key. The packet's WSAOVERLAPPED* says
// which operation finished: &recv_ov, or one of send_ov (message m uses entry m % P).
struct connection {
    WSAOVERLAPPED recv_ov{}; // hEvent NULL: no event, a completion-queue packet
    unsigned id = 0;
    SOCKET s = INVALID_SOCKET;
    std::vector<WSAOVERLAPPED> send_ov; // one per pipeline slot
    std::vector<char> send_buf;         // pipeline * size bytes; must stay put while sending
    std::vector<bool> send_busy;
    std::vector<char> recv_buf;
    std::uint64_t sent = 0;     // messages posted with WSPSend
    std::uint64_t received = 0; // bytes echoed back and verified
    int outstanding = 0;        // operations posted whose packet has not come yet
    bool closed = false;
};

// A call that just failed may say which of its code's causes it was (last_error_detail); a
// completion's status has no such sentence.
bool failed(const connection& c, const char* what, int wsa, bool call = true) {
    const char* detail = call ? sanport::last_error_detail() : "";
    std::fprintf(stderr, "echo_client: connection %u: %s: %s (%s)%s%s\n", c.id, what,
                 sanport::wsa_error_name(wsa), sanport::wsa_error_text(wsa), *detail ? ": " : "",
                 detail);
    return false;
}

// Post a receive for whatever arrives next. 0 and WSA_IO_PENDING both mean "a packet will
// come": this socket did not ask for skip_on_success, so immediate completions queue one too.
bool post_recv(connection& c) {
    WSABUF b{static_cast<ULONG>(c.recv_buf.size()), c.recv_buf.data()};
    DWORD flags = 0, got = 0;
    int err = 0;
    if (sanport::WSPRecv(c.s, &b, 1, &got, &flags, &c.recv_ov, nullptr, nullptr, &err) != 0 &&
        err != WSA_IO_PENDING)
        return failed(c, "WSPRecv", err);
    ++c.outstanding;
    return true;
}

// Send while the pipeline has room: message m may go once message m - P is fully echoed and
// its slot's previous send has completed (the buffer belongs to sanport until then).
bool pump_sends(connection& c) {
    const std::uint64_t echoed = c.received / opt.size;
    while (c.sent < opt.messages && c.sent < echoed + opt.pipeline) {
        const std::size_t k = c.sent % opt.pipeline;
        if (c.send_busy[k]) break;
        char* msg = c.send_buf.data() + k * opt.size;
        for (DWORD i = 0; i < opt.size; ++i)
            msg[i] = pattern(c.id, c.sent, i);
        WSABUF b{opt.size, msg};
        DWORD sent = 0;
        int err = 0;
        if (sanport::WSPSend(c.s, &b, 1, &sent, 0, &c.send_ov[k], nullptr, nullptr, &err) != 0 &&
            err != WSA_IO_PENDING)
            return failed(c, "WSPSend", err);
        c.send_busy[k] = true;
        ++c.outstanding;
        ++c.sent;
    }
    return true;
}

// One packet. Checks the echoed bytes against the pattern at their stream position.
bool on_packet(connection& c, const sanport::completion_entry& e) {
    --c.outstanding;
    const std::uint64_t total = opt.messages * opt.size;
    if (e.overlapped != &c.recv_ov) { // a send finished: its slot is free again
        c.send_busy[static_cast<std::size_t>(e.overlapped - c.send_ov.data())] = false;
        if (e.status != 0) return failed(c, "send", e.status, false);
        return pump_sends(c);
    }
    if (e.status != 0) return failed(c, "receive", e.status, false);
    if (e.bytes == 0) {
        // 0 bytes is the end of the stream: the server closed before echoing everything.
        std::fprintf(stderr,
                     "echo_client: connection %u: server closed after %" PRIu64 " of %" PRIu64
                     " bytes\n",
                     c.id, c.received, total);
        return false;
    }
    // A receive completes as soon as some data arrived, not when the buffer is full: e.bytes
    // may end in the middle of a message. The stream offset tells which byte is which.
    for (DWORD k = 0; k < e.bytes; ++k) {
        const std::uint64_t at = c.received + k;
        const std::uint64_t m = at / opt.size;
        const DWORD i = static_cast<DWORD>(at % opt.size);
        if (at >= total || c.recv_buf[k] != pattern(c.id, m, i)) {
            std::fprintf(stderr,
                         "echo_client: connection %u: mismatch at byte %" PRIu64
                         " (message %" PRIu64 ")\n",
                         c.id, at, m);
            return false;
        }
    }
    c.received += e.bytes;
    if (c.received < total && !post_recv(c)) return false; // re-post: the life cycle again
    return pump_sends(c);
}

bool parse(int argc, char** argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* a = argv[i];
        const char* v = argv[i + 1];
        if (!std::strcmp(a, "--port"))
            opt.port = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(a, "--host"))
            opt.host = v;
        else if (!std::strcmp(a, "--connections"))
            opt.connections = std::atoi(v);
        else if (!std::strcmp(a, "--messages"))
            opt.messages = std::strtoull(v, nullptr, 10);
        else if (!std::strcmp(a, "--size"))
            opt.size = static_cast<DWORD>(std::atol(v));
        else if (!std::strcmp(a, "--pipeline"))
            opt.pipeline = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(a, "--timeout"))
            opt.timeout = std::atof(v);
        else
            return false;
    }
    return argc % 2 == 1 && opt.port >= 1 && opt.port <= 65535 && opt.connections >= 1 &&
           opt.connections <= 60000 && opt.messages >= 1 && opt.messages <= 1000000000 &&
           opt.size >= 1 && opt.size <= (1u << 20) && opt.pipeline >= 1 && opt.pipeline <= 1024 &&
           opt.timeout > 0;
}

} // namespace

int main(int argc, char** argv) {
    if (!parse(argc, argv)) {
        std::fprintf(stderr, "usage: echo_client --port N [--host 127.0.0.1] [--connections C] "
                             "[--messages M] [--size S] [--pipeline P] [--timeout T]\n");
        return 2;
    }
#ifdef _WIN32
    WSADATA wsa_data; // Winsock for inet_pton and htons; sanport's engine starts its own
    if (WSAStartup(MAKEWORD(2, 2), &wsa_data) != 0) return 1;
#endif
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        std::fprintf(stderr, "echo_client: bad --host %s\n", opt.host);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };

    // Contexts are declared after the queue, so they are freed first; the queue only holds
    // their addresses, and every socket is closed (all operations completed) before that.
    sanport::completion_queue cq; // on the default engine
    std::vector<std::unique_ptr<connection>> conns;
    bool ok = true;
    for (unsigned id = 0; id < opt.connections && ok; ++id) {
        auto c = std::make_unique<connection>();
        c->id = id;
        c->send_ov.resize(opt.pipeline);
        c->send_buf.resize(std::size_t{opt.pipeline} * opt.size);
        c->send_busy.assign(opt.pipeline, false);
        // Room for the whole pipeline's echo, within [4 KiB, 256 KiB].
        c->recv_buf.resize(std::clamp<std::size_t>(c->send_buf.size(), 4096, 256 * 1024));
        // WSPConnect blocks; WSA_FLAG_OVERLAPPED is what lets the transfers be posted. Each
        // socket is associated with the queue, key = its context, before anything is posted.
        int err = 0;
        c->s = sanport::WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                  WSA_FLAG_OVERLAPPED, &err);
        if (c->s == INVALID_SOCKET) {
            ok = failed(*c, "WSPSocket", err);
            c->closed = true;
        } else if (sanport::WSPConnect(c->s, reinterpret_cast<sockaddr*>(&addr), sizeof addr,
                                       nullptr, nullptr, nullptr, nullptr, &err) != 0) {
            ok = failed(*c, "WSPConnect", err);
        } else if ((err = cq.associate(c->s, reinterpret_cast<ULONG_PTR>(c.get()))) != 0) {
            ok = failed(*c, "associate", err);
        } else {
            const int one = 1; // small request/response messages: no Nagle delay
#ifdef _WIN32
            setsockopt(c->s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one),
                       sizeof one);
#else
            setsockopt(static_cast<int>(c->s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
            ok = post_recv(*c) && pump_sends(*c); // first post of the life cycle
        }
        conns.push_back(std::move(c));
    }

    // The loop: packets in batches of up to 64 (the 100 ms time-out only serves --timeout). A
    // connection whose echo is complete and which has nothing pending is closed; the server
    // then sees its receive complete with 0 bytes, the end of the stream.
    std::size_t done = 0;
    sanport::completion_entry entries[64];
    while (ok && done < conns.size()) {
        if (elapsed() > opt.timeout) {
            std::fprintf(stderr,
                         "echo_client: timed out after %.0f s (%zu of %zu connections done)"
                         "\n",
                         opt.timeout, done, conns.size());
            ok = false;
            break;
        }
        const std::size_t n = cq.dequeue(entries, 64, 100);
        for (std::size_t i = 0; i < n && ok; ++i) {
            connection& c = *reinterpret_cast<connection*>(entries[i].key);
            ok = on_packet(c, entries[i]);
            if (ok && c.received == opt.messages * opt.size && c.outstanding == 0 && !c.closed) {
                int err = 0;
                c.closed = true;
                ++done;
                if (sanport::WSPCloseSocket(c.s, &err) != 0) ok = failed(c, "WSPCloseSocket", err);
            }
        }
    }
    // On failure some sockets are still open, with operations pending. WSPCloseSocket
    // completes each of them (WSA_OPERATION_ABORTED) before it returns, so the contexts and
    // their buffers may be freed right after; their packets are never read.
    for (auto& c : conns) {
        int err = 0;
        if (!c->closed) sanport::WSPCloseSocket(c->s, &err);
    }
    const double seconds = elapsed();
    if (!ok) {
        std::fprintf(stderr, "echo_client: FAILED after %.2fs\n", seconds);
        return 1;
    }
    const std::uint64_t messages = std::uint64_t{opt.connections} * opt.messages;
    // messages: sent, echoed back whole and checked byte by byte (the exit code says the same).
    std::printf("echo_client: backend=%s connections=%u messages=%" PRIu64 " bytes=%" PRIu64
                " verified=yes elapsed=%.2fs rate=%.0f msgs/s\n",
                sanport::running_backend(), opt.connections, messages, messages * opt.size, seconds,
                static_cast<double>(messages) / seconds);
    return 0;
}
