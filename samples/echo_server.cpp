// SPDX-License-Identifier: MIT
// echo_server: a TCP echo service on sanport's overlapped WSPRecv/WSPSend and a completion queue.
//
//   echo_server [--port N] [--host 127.0.0.1] [--seconds S] [--posted K] [--exit-after N]
//               [--wait-ms M]
//
// Every overlapped operation here lives the life an I/O-completion-port server knows:
//   1. post:    WSPRecv/WSPSend get a buffer and a WSAOVERLAPPED that must stay put until 3.
//   2. answer:  0 (done at once) or SOCKET_ERROR with WSA_IO_PENDING (done later). Either way
//               exactly one packet reaches the completion queue, because we did not associate
//               with skip_on_success. Any other answer is an error and produces no packet.
//   3. packet:  cq.dequeue() hands back {overlapped, bytes, key, status}; the key says which
//               connection, the overlapped which operation.
//   4. re-post: the received buffer goes out as a WSPSend; when that completes, the same buffer
//               and WSAOVERLAPPED are posted as the next WSPRecv.
// Connections arrive the same way: WSPAcceptEx (AcceptEx's model) keeps a few overlapped
// accepts posted on the listener, each into a socket made beforehand; an accept's packet is a
// new connection, and its slot is posted again. One thread does everything.
// Stop it with Ctrl-C (or kill -TERM on Linux), --seconds S, or --exit-after N (once N
// connections have come and gone); it prints one summary line. Linux and Windows alike.
// --wait-ms M bounds each dequeue wait (default 100), which is how late --seconds is noticed.
// Shutting down is the graceful recipe of docs/design.md: stop accepting, close, drain the
// packets the closes queued under a deadline timer, then destroy.
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/timer.h>
#include <sanport/wsp.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>
#ifndef _WIN32 // on Windows, <sanport/wsp.h> brings winsock2.h and ws2tcpip.h
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#endif

namespace {

// One buffer and one WSAOVERLAPPED that alternate: receive into it, send it back, receive again.
// `ov` comes first, so the WSAOVERLAPPED* of a packet is the slot's own address (Windows code
// spells this CONTAINING_RECORD).
struct slot {
    WSAOVERLAPPED ov{}; // hEvent stays NULL: no event, and a completion-queue packet
    enum class state { idle, receiving, received, sending } st = state::idle;
    std::uint64_t seq = 0; // which receive of the connection this was, in posting order
    DWORD bytes = 0;
    int status = 0;
    char buf[16384];
};

// Per-connection context; its address is the completion key of the socket.
struct connection {
    connection(SOCKET sock, unsigned posted) : s(sock), slots(posted) {}
    SOCKET s;
    std::vector<slot> slots;     // never resized: sanport holds their addresses
    std::uint64_t next_post = 0; // seq of the next receive we post
    std::uint64_t next_echo = 0; // seq of the next receive whose bytes go back out
    int outstanding = 0;         // operations posted whose packet was not handled yet
    bool closed = false;
};

// One overlapped accept: its WSAOVERLAPPED first (a packet's overlapped is the slot), the
// socket the connection will be, and the room WSPAcceptEx writes both addresses into.
constexpr DWORD address_room = sizeof(sockaddr_in6) + 16;
struct accept_slot {
    WSAOVERLAPPED ov{};
    SOCKET s = INVALID_SOCKET;
    char addresses[2 * address_room];
};
constexpr int accepts_posted = 4;
// Completion keys: a connection's is its context's address; these two are never one.
constexpr ULONG_PTR stop_key = 0, listener_key = 1, deadline_key = 2;

// A driven engine: no completion thread of its own. The main loop's cq.dequeue runs it, so
// posting, reaping and completing all happen on that one thread, with no hand-off and no
// wake-up syscall, and no connection is ever touched by two threads: none needs a lock.
sanport::engine_options driven_engine() {
    sanport::engine_options o;
    o.own_thread = false;
    return o;
}

struct server {
    sanport::engine engine{driven_engine()};
    sanport::completion_queue cq{engine};
    SOCKET listener = INVALID_SOCKET;
    unsigned posted = 1; // receives per connection (--posted)
    std::vector<accept_slot> accepts = std::vector<accept_slot>(accepts_posted);
    int accepts_outstanding = 0; // posted accepts whose packet was not handled yet
    bool accepting = true;
    std::unordered_set<connection*> live; // so shutdown can close what is still open
    std::uint64_t connections = 0;
    std::uint64_t finished = 0; // connections closed and freed (--exit-after)
    // Main loop only. A receive completion is not a message: TCP keeps no message boundaries,
    // so one completion may carry part of a message or several.
    std::uint64_t bytes = 0, receive_completions = 0;
};

// A peer that resets or vanishes is ordinary for a server: only other codes are worth a line.
// A call that just failed may say which of its code's causes it was (last_error_detail); a
// completion's status has no such sentence.
void report(const char* what, int wsa, bool call = true) {
    if (wsa == WSAECONNRESET || wsa == WSAECONNABORTED) return;
    const char* detail = call ? sanport::last_error_detail() : "";
    std::fprintf(stderr, "echo_server: %s: %s (%s)%s%s\n", what, sanport::wsa_error_name(wsa),
                 sanport::wsa_error_text(wsa), *detail ? ": " : "", detail);
}

// Closing completes every operation of the socket before WSPCloseSocket returns: pending ones
// with WSA_OPERATION_ABORTED (or their bytes, if the kernel had filled them). Their packets are
// queued, so the context lives on until `outstanding` drops to zero.
void close_connection(connection& c) {
    if (c.closed) return;
    c.closed = true;
    int err = 0;
    if (sanport::WSPCloseSocket(c.s, &err) != 0) report("WSPCloseSocket", err);
}

// Steps 1 and 2, a receive or a send of the slot's buffer. The WSABUF may live on the stack
// (sanport copies the array); the buffer and the WSAOVERLAPPED belong to sanport until the
// packet comes back. A send completes once every byte is in the kernel, and sends on one
// socket leave in posting order.
bool post(connection& c, slot& sl, slot::state what) {
    sl.st = what;
    DWORD count = 0, flags = 0;
    int err = 0, r = 0;
    if (what == slot::state::receiving) {
        sl.seq = c.next_post++;
        WSABUF b{sizeof sl.buf, sl.buf};
        r = sanport::WSPRecv(c.s, &b, 1, &count, &flags, &sl.ov, nullptr, nullptr, &err);
    } else {
        WSABUF b{sl.bytes, sl.buf};
        r = sanport::WSPSend(c.s, &b, 1, &count, 0, &sl.ov, nullptr, nullptr, &err);
    }
    if (r == 0 || err == WSA_IO_PENDING) { // done at once or later: a packet will come
        ++c.outstanding;
        return true;
    }
    sl.st = slot::state::idle;
    report(what == slot::state::receiving ? "WSPRecv" : "WSPSend", err);
    return false;
}

// With K receives posted, bytes fill them in posting order but their packets may be dequeued
// in any order. So a finished receive waits for its turn (seq == next_echo) before it is echoed.
void echo_in_order(server& srv, connection& c) {
    while (!c.closed) {
        slot* next = nullptr;
        for (slot& sl : c.slots)
            if (sl.st == slot::state::received && sl.seq == c.next_echo) next = &sl;
        if (!next) return;
        ++c.next_echo;
        if (next->status != 0 || next->bytes == 0) { // 0 bytes: the peer closed; or an error
            if (next->status != 0) report("receive", next->status, false);
            next->st = slot::state::idle;
            return close_connection(c);
        }
        ++srv.receive_completions;
        if (!post(c, *next, slot::state::sending)) return close_connection(c);
    }
}

// Step 0: a new connection posts its first receives. Returns true when the context may be
// freed (closed, nothing pending).
bool start_connection(connection& c) {
    for (slot& sl : c.slots)
        if (!c.closed && !post(c, sl, slot::state::receiving)) close_connection(c);
    return c.closed && c.outstanding == 0;
}

// Step 3: one packet. Returns true when the context may be freed (closed, nothing pending).
bool on_packet(server& srv, connection& c, const sanport::completion_entry& e) {
    slot& sl = *reinterpret_cast<slot*>(e.overlapped);
    --c.outstanding;
    if (c.closed) {
        sl.st = slot::state::idle; // aborted by the close, or finished just before it
    } else if (sl.st == slot::state::receiving) {
        sl.st = slot::state::received;
        sl.bytes = e.bytes;
        sl.status = e.status;
        echo_in_order(srv, c);
    } else if (e.status == 0) { // a send finished: step 4, the buffer becomes a receive again
        srv.bytes += e.bytes;
        if (!post(c, sl, slot::state::receiving)) close_connection(c);
    } else {
        report("send", e.status, false);
        sl.st = slot::state::idle;
        close_connection(c);
    }
    return c.closed && c.outstanding == 0;
}

void free_connection(server& srv, connection* c) {
    srv.live.erase(c);
    delete c;
    ++srv.finished;
}

// SOCKET is the OS descriptor: socket options work as usual (Winsock takes a const char*).
void set_option(SOCKET s, int level, int name) {
    const int one = 1;
#ifdef _WIN32
    setsockopt(s, level, name, reinterpret_cast<const char*>(&one), sizeof one);
#else
    setsockopt(static_cast<int>(s), level, name, &one, sizeof one);
#endif
}

// An accept slot's socket is made beforehand, on the listener's engine, and posted; its
// packet comes when a connection arrived (or the listener closed).
bool post_accept(server& srv, accept_slot& a) {
    int err = 0;
    a.s = srv.engine.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
    if (a.s == INVALID_SOCKET) {
        report("WSPSocket", err);
        return false;
    }
    DWORD bytes = 0;
    if (sanport::WSPAcceptEx(srv.listener, a.s, a.addresses, 0, address_room, address_room, &bytes,
                             &a.ov, &err) == 0 ||
        err == WSA_IO_PENDING) {
        ++srv.accepts_outstanding;
        return true;
    }
    report("WSPAcceptEx", err);
    sanport::WSPCloseSocket(a.s, &err);
    a.s = INVALID_SOCKET;
    return false;
}

// An accept's packet: status 0 means a.s is a connected socket now. It gets its own context
// and key, and the slot is posted again with a new socket.
void on_accept(server& srv, accept_slot& a, int status) {
    --srv.accepts_outstanding;
    const SOCKET s = a.s;
    a.s = INVALID_SOCKET;
    int err = 0;
    if (status != 0) { // WSA_OPERATION_ABORTED: the listener closed; WSAEMFILE: out of fds
        if (status != WSA_OPERATION_ABORTED) report("accept", status, false);
        sanport::WSPCloseSocket(s, &err);
    } else {
        set_option(s, IPPROTO_TCP, TCP_NODELAY);
        auto* c = new connection(s, srv.posted);
        srv.live.insert(c);
        ++srv.connections;
        if (const int wsa = srv.cq.associate(s, reinterpret_cast<ULONG_PTR>(c)); wsa != 0) {
            report("associate", wsa);
            close_connection(*c);
            free_connection(srv, c);
        } else if (start_connection(*c)) {
            free_connection(srv, c);
        }
    }
    if (srv.accepting) post_accept(srv, a);
}

// One batch from cq.dequeue, by key: the stop packet, an accept, a connection's operation.
// Returns true if the stop packet was in the batch.
bool handle_batch(server& srv, const sanport::completion_entry* entries, std::size_t n) {
    bool stop = false;
    for (std::size_t i = 0; i < n; ++i) {
        const sanport::completion_entry& e = entries[i];
        if (e.key == stop_key || e.key == deadline_key) {
            stop = true;
        } else if (e.key == listener_key) {
            on_accept(srv, *reinterpret_cast<accept_slot*>(e.overlapped), e.status);
        } else {
            auto* c = reinterpret_cast<connection*>(e.key);
            if (on_packet(srv, *c, e)) free_connection(srv, c);
        }
    }
    return stop;
}

// The graceful shutdown (docs/design.md, "Shutting a server down"): nothing pending is dropped
// silently. 1. Stop accepting: closing the listener completes each posted accept once,
// aborted. 2. Close every connection: WSPCloseSocket completes its operations before it
// returns (aborted, or with their bytes), each with a packet. 3. Drain those packets so every
// context is freed by the code that owns it, under a deadline timer in case something never
// answers. 4. Destroy what is left, then the queue and the engine (server's members, in
// reverse order).
void shut_down(server& srv, sanport::completion_entry* entries, std::size_t max) {
    int err = 0;
    srv.accepting = false;
    sanport::WSPCloseSocket(srv.listener, &err);
    for (connection* c : srv.live)
        close_connection(*c);
    sanport::timer deadline(srv.cq);
    deadline.start(2000, deadline_key, nullptr);
    bool expired = false;
    while (!expired && (srv.accepts_outstanding > 0 || !srv.live.empty())) {
        const std::size_t n = srv.cq.dequeue(entries, max, WSA_INFINITE);
        for (std::size_t i = 0; i < n; ++i)
            expired = expired || entries[i].key == deadline_key;
        handle_batch(srv, entries, n);
    }
    deadline.cancel();
    if (expired) std::fprintf(stderr, "echo_server: shutdown deadline passed\n");
    for (connection* c : srv.live)
        delete c; // only after the deadline: their operations completed in WSPCloseSocket
    srv.live.clear();
}

struct options {
    unsigned port = 7000;
    const char* host = "127.0.0.1";
    double seconds = 0; // 0: until a signal
    unsigned posted = 1;
    unsigned exit_after = 0; // 0: never; else once that many connections have closed
    unsigned wait_ms = 100;  // one dequeue's wait; bounds how late --seconds is noticed
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* v = argv[i + 1];
        if (!std::strcmp(argv[i], "--port"))
            o.port = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(argv[i], "--host"))
            o.host = v;
        else if (!std::strcmp(argv[i], "--seconds"))
            o.seconds = std::atof(v);
        else if (!std::strcmp(argv[i], "--posted"))
            o.posted = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(argv[i], "--exit-after"))
            o.exit_after = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(argv[i], "--wait-ms"))
            o.wait_ms = static_cast<unsigned>(std::atoi(v));
        else
            return false;
    }
    return argc % 2 == 1 && o.port <= 65535 && o.posted >= 1 && o.posted <= 64 && o.wait_ms >= 1 &&
           o.wait_ms <= 1000;
}

// The listening socket, bound to host:port (port 0: the kernel picks one, read back into addr).
SOCKET open_listener(server& srv, const options& opt, sockaddr_in& addr) {
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        std::fprintf(stderr, "echo_server: --host %s is not an IPv4 address\n", opt.host);
        return INVALID_SOCKET;
    }
    int err = 0;
    const SOCKET l =
        srv.engine.socket(AF_INET, SOCK_STREAM, IPPROTO_TCP, WSA_FLAG_OVERLAPPED, &err);
    if (l == INVALID_SOCKET) {
        report("WSPSocket", err);
        return INVALID_SOCKET;
    }
#ifndef _WIN32 // on Windows SO_REUSEADDR would let another socket take over the port
    set_option(l, SOL_SOCKET, SO_REUSEADDR);
#endif
    int len = sizeof addr;
    if (sanport::WSPBind(l, reinterpret_cast<sockaddr*>(&addr), len, &err) == 0 &&
        sanport::WSPListen(l, SOMAXCONN, &err) == 0 &&
        sanport::WSPGetSockName(l, reinterpret_cast<sockaddr*>(&addr), &len, &err) == 0)
        return l;
    report("listen", err);
    sanport::WSPCloseSocket(l, &err);
    return INVALID_SOCKET;
}

#ifdef _WIN32
// Ctrl-C on Windows runs this handler on a new thread, where cq.post is safe. (Wine cannot
// deliver Ctrl-C to a program started from a Linux shell: there, use --seconds/--exit-after.)
sanport::completion_queue* stop_queue = nullptr;
BOOL WINAPI on_ctrl(DWORD) {
    stop_queue->post(0, 0, nullptr);
    return TRUE;
}
#endif

} // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse(argc, argv, opt)) {
        std::fprintf(stderr, "usage: echo_server [--port N] [--host 127.0.0.1] [--seconds S] "
                             "[--posted K] [--exit-after N] [--wait-ms M]\n");
        return 2;
    }
#ifdef _WIN32
    WSADATA wsa_data; // Winsock for inet_pton and htons; sanport's engine starts its own
    if (WSAStartup(MAKEWORD(2, 2), &wsa_data) != 0) return 1;
#else
    // Block SIGINT/SIGTERM before any thread exists (sanport's engine thread included), so they
    // wait for the sigwait thread below: a signal handler could not safely call cq.post. A
    // non-interactive shell starts background jobs with SIGINT ignored; restore the default
    // so `kill -INT` stops the server.
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
#endif

    auto srv = std::make_unique<server>();
    if (srv->engine.status() != 0) {
        std::fprintf(stderr, "echo_server: no backend: %s\n", srv->engine.why().c_str());
        return 1;
    }
    sockaddr_in addr{};
    const SOCKET listener = open_listener(*srv, opt, addr);
    if (listener == INVALID_SOCKET) return 1;
    std::printf("echo_server: listening on %s:%u (%s backend)\n", opt.host, ntohs(addr.sin_port),
                srv->engine.backend_name());
    std::fflush(stdout); // a script waits for this line

#ifdef _WIN32
    stop_queue = &srv->cq;
    SetConsoleCtrlHandler(on_ctrl, TRUE);
#else
    std::atomic<bool> signalled{false};
    std::thread signal_thread([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        signalled.store(true);
        srv->cq.post(0, 0, nullptr); // the stop packet, handled in order with the others
    });
#endif
    srv->listener = listener;
    srv->posted = opt.posted;
    // The accepts' packets come with the listener's key.
    if (const int wsa = srv->cq.associate(listener, listener_key); wsa != 0) {
        report("associate", wsa);
        return 1;
    }
    for (accept_slot& a : srv->accepts)
        post_accept(*srv, a);

    // The main loop: dequeue in batches, handle each packet, free contexts whose last packet
    // came. The time-out (--wait-ms) only serves the --seconds check.
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    sanport::completion_entry entries[64];
    bool stop = false;
    while (!stop && (opt.seconds <= 0 || elapsed() < opt.seconds) &&
           (opt.exit_after == 0 || srv->finished < opt.exit_after))
        stop = handle_batch(*srv, entries, srv->cq.dequeue(entries, 64, opt.wait_ms));

    shut_down(*srv, entries, 64);

#ifdef _WIN32
    SetConsoleCtrlHandler(on_ctrl, FALSE);
#else
    if (!signalled.load()) pthread_kill(signal_thread.native_handle(), SIGINT); // wake it
    signal_thread.join();
#endif
    std::printf("echo_server: connections=%" PRIu64 " bytes=%" PRIu64
                " receive_completions=%" PRIu64 " elapsed=%.2fs\n",
                srv->connections, srv->bytes, srv->receive_completions, elapsed());
    return 0;
}
