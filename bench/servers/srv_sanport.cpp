// SPDX-License-Identifier: MIT
// srv_sanport: the benchmark server on sanport, written the way an IOCP server author would.
//
//   srv_sanport --port P --mode echo|sink [--buffer B] [--posted K] [--backend io_uring|asio]
//               [--engine driven|thread]
//
// One driven engine (own_thread = false) and one completion queue, run by the main thread:
// posting, reaping and completing happen on that thread, with no hand-off. --engine thread
// gives the engine its own thread instead (the default engine's model), to measure what the
// hand-off of each call to that thread costs. Receives and sends
// are WSPRecv/WSPSend with a WSAOVERLAPPED and no event, so every completion is a queue packet.
// Two other threads only feed the queue, as PostQueuedCompletionStatus would on Windows:
//   - the acceptor: accept(2), then cq.post(fd, accept_key): the main thread adopts the socket
//     (WSPAdoptSocket), associates it and posts its receives;
//   - the signal thread: SIGINT/SIGTERM become cq.post(0, stop_key).
// echo: receive into the slot's buffer, WSPSend the bytes back, receive again (--posted 1).
// sink: K receives stay posted per connection; each completion is counted and re-posted at once.
//   On end of stream the 16-byte reply {bytes, receives} goes out by WSPSend, then the socket
//   is closed; the context is freed once every one of its operations has completed.
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <signal.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "server_common.hpp"

namespace {

constexpr ULONG_PTR stop_key = 1;
constexpr ULONG_PTR accept_key = 2;

struct connection;

// One posted operation: its WSAOVERLAPPED comes first, so a packet's overlapped is the slot.
struct slot {
    WSAOVERLAPPED ov{};
    connection* conn = nullptr;
    char* buf = nullptr;
    bool sending = false;
};

struct connection {
    SOCKET s = INVALID_SOCKET;
    std::vector<slot> slots; // never resized once posted: sanport holds their addresses
    slot reply;              // sink mode: the 16-byte {bytes, receives} answer
    std::uint64_t reply_data[2] = {0, 0};
    std::unique_ptr<char[]> buffers; // slots.size() receive buffers; untouched pages cost nothing
    std::uint64_t bytes = 0, receives = 0;
    int outstanding = 0; // posted operations whose packet has not been handled yet
    bool closed = false, eof = false;
};

struct server {
    bench::options opt;
    sanport::engine engine;
    sanport::completion_queue cq{engine};
    server(const bench::options& o, const sanport::engine_options& eo) : opt(o), engine(eo) {}
};

void close_connection(connection& c) {
    if (c.closed) return;
    c.closed = true;
    int err = 0;
    sanport::WSPCloseSocket(c.s, &err); // completes what is pending: their packets follow
}

// A receive into the slot's whole buffer, or a send of `len` bytes from it. Either way exactly
// one packet follows (0 = done at once, WSA_IO_PENDING = later); anything else is an error.
bool post(connection& c, slot& sl, bool send, ULONG len) {
    sl.sending = send;
    WSABUF b{len, sl.buf};
    DWORD count = 0, flags = 0;
    int err = 0;
    const int r =
        send ? sanport::WSPSend(c.s, &b, 1, &count, 0, &sl.ov, nullptr, nullptr, &err)
             : sanport::WSPRecv(c.s, &b, 1, &count, &flags, &sl.ov, nullptr, nullptr, &err);
    if (r == 0 || err == WSA_IO_PENDING) {
        ++c.outstanding;
        return true;
    }
    if (err != WSAECONNRESET && err != WSAECONNABORTED && err != WSAESHUTDOWN)
        std::fprintf(stderr, "srv_sanport: %s: %s\n", send ? "WSPSend" : "WSPRecv",
                     sanport::wsa_error_name(err));
    return false;
}

void adopt(server& srv, int fd) {
    int err = 0;
    const SOCKET s = srv.engine.adopt(static_cast<SOCKET>(fd), WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) {
        std::fprintf(stderr, "srv_sanport: WSPAdoptSocket: %s\n", sanport::wsa_error_name(err));
        ::close(fd);
        return;
    }
    auto* c = new connection;
    c->s = s;
    c->slots.resize(static_cast<std::size_t>(srv.opt.posted));
    c->buffers.reset(new char[c->slots.size() * srv.opt.buffer]); // not zeroed on purpose
    for (std::size_t i = 0; i < c->slots.size(); ++i) {
        c->slots[i].conn = c;
        c->slots[i].buf = c->buffers.get() + i * srv.opt.buffer;
    }
    c->reply.conn = c;
    c->reply.buf = reinterpret_cast<char*>(c->reply_data);
    if (const int wsa = srv.cq.associate(s, reinterpret_cast<ULONG_PTR>(c))) {
        std::fprintf(stderr, "srv_sanport: associate: %s\n", sanport::wsa_error_name(wsa));
        close_connection(*c);
    }
    for (slot& sl : c->slots)
        if (!c->closed && !post(*c, sl, false, static_cast<ULONG>(srv.opt.buffer)))
            close_connection(*c);
    if (c->closed && c->outstanding == 0) delete c;
}

// One packet of a connection. Returns true when the context may be freed.
bool on_packet(server& srv, const sanport::completion_entry& e) {
    auto& sl = *reinterpret_cast<slot*>(e.overlapped);
    connection& c = *sl.conn;
    --c.outstanding;
    const auto buffer = static_cast<ULONG>(srv.opt.buffer);
    if (c.closed) return c.outstanding == 0;
    if (&sl == &c.reply) { // sink: the answer is out, the connection is done
        close_connection(c);
    } else if (e.status != 0) {
        close_connection(c); // a reset peer, or our own close
    } else if (sl.sending) { // echo: the bytes are back out; the buffer receives again
        if (!post(c, sl, false, buffer)) close_connection(c);
    } else if (e.bytes == 0) { // end of stream
        if (srv.opt.mode == bench::mode::sink && !c.eof) {
            c.eof = true;
            c.reply_data[0] = c.bytes;
            c.reply_data[1] = c.receives;
            if (!post(c, c.reply, true, sizeof c.reply_data)) close_connection(c);
        } else if (srv.opt.mode == bench::mode::echo) {
            close_connection(c);
        }
    } else if (srv.opt.mode == bench::mode::echo) {
        if (!post(c, sl, true, e.bytes)) close_connection(c);
    } else { // sink: count, and keep K receives posted
        c.bytes += e.bytes;
        ++c.receives;
        if (!c.eof && !post(c, sl, false, buffer)) close_connection(c);
    }
    return c.closed && c.outstanding == 0;
}

void accept_loop(server& srv, int listener) {
    for (;;) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) { // wait for a close rather than spin
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            return; // the listener was shut down: the server is stopping
        }
        bench::set_nodelay(fd);
        if (srv.cq.post(static_cast<DWORD>(fd), accept_key, nullptr) != 0) {
            ::close(fd);
            return;
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    bench::options opt;
    if (!bench::parse_options(argc, argv, opt, "srv_sanport")) return 2;
    if (opt.mode == bench::mode::echo && opt.posted != 1) {
        std::fprintf(stderr, "srv_sanport: echo mode keeps one receive posted (--posted 1)\n");
        return 2;
    }
    bench::raise_fd_limit();
    bench::ignore_sigpipe();
    const sigset_t stop_signals = bench::block_stop_signals(); // before any thread starts

    sanport::engine_options eo;
    eo.own_thread = opt.engine_thread;
    eo.backend = opt.backend;
    auto srv = std::make_unique<server>(opt, eo);
    if (srv->engine.status() != 0) {
        std::fprintf(stderr, "srv_sanport: no backend: %s\n", srv->engine.why().c_str());
        return 1;
    }
    std::uint16_t port = 0;
    const int listener = bench::open_listener(opt.port, port);
    if (listener < 0) return 1;

    std::thread signals([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        srv->cq.post(0, stop_key, nullptr);
    });
    std::thread acceptor([&] { accept_loop(*srv, listener); });
    bench::print_ready(port);

    std::vector<sanport::completion_entry> batch(256);
    for (bool stop = false; !stop;) {
        const DWORD wait = opt.poll_ms > 0 ? static_cast<DWORD>(opt.poll_ms) : WSA_INFINITE;
        const std::size_t n = srv->cq.dequeue(batch.data(), batch.size(), wait);
        if (n == 0 && srv->cq.is_shut_down()) break;
        // Under valgrind (--poll-ms) one thread runs at a time and a drive that returns to the
        // kernel at once can keep the acceptor from ever running: an idle turn gives way.
        if (n == 0 && opt.poll_ms > 0) std::this_thread::yield();
        for (std::size_t i = 0; i < n; ++i) {
            const sanport::completion_entry& e = batch[i];
            if (e.key == stop_key)
                stop = true;
            else if (e.key == accept_key)
                adopt(*srv, static_cast<int>(e.bytes));
            else if (on_packet(*srv, e))
                delete reinterpret_cast<slot*>(e.overlapped)->conn;
        }
    }
    ::shutdown(listener, SHUT_RDWR); // wakes the acceptor
    acceptor.join();
    signals.detach(); // it already returned from sigwait
    ::close(listener);
    std::fflush(stdout);
    std::_Exit(0); // the spec asks for a quick exit, not a drain of 10,000 connections
}
