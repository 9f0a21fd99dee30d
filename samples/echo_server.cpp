// SPDX-License-Identifier: MIT
// echo_server: a TCP echo service on sanport's overlapped WSPRecv/WSPSend and a completion queue.
//
//   echo_server [--port N] [--host 127.0.0.1] [--seconds S] [--posted K]
//
// Every overlapped operation here lives the life an I/O-completion-port server knows:
//   1. post:   WSPRecv/WSPSend get a buffer and a WSAOVERLAPPED that must stay put until...
//   2. answer: 0 (done at once) or SOCKET_ERROR with WSA_IO_PENDING (done later). Either way
//              exactly one packet reaches the completion queue, because we did not associate
//              with skip_on_success. Any other answer is an error and produces no packet.
//   3. packet: cq.dequeue() hands back {overlapped, bytes, key, status}; the key says which
//              connection, the overlapped which operation.
//   4. re-post: the received buffer goes out as a WSPSend; when that completes, the same buffer
//              and WSAOVERLAPPED are posted as the next WSPRecv.
// Linux only (POSIX signals). Stop it with Ctrl-C or kill -TERM; it prints one summary line.
#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

// One buffer and one WSAOVERLAPPED that alternate: receive into it, send it back, receive again.
// `ov` comes first, so the WSAOVERLAPPED* of a packet is the slot's own address (Windows code
// spells this CONTAINING_RECORD).
struct slot {
    WSAOVERLAPPED ov{};  // hEvent stays NULL: no event, and a completion-queue packet
    enum class state { idle, receiving, received, sending } st = state::idle;
    std::uint64_t seq = 0;  // which receive of the connection this was, in posting order
    DWORD bytes = 0;
    int status = 0;
    char buf[16384];
};

// Per-connection context; its address is the completion key of the socket.
struct connection {
    SOCKET s = INVALID_SOCKET;
    std::mutex mutex;  // the acceptor posts the first receives while packets may already arrive
    std::unique_ptr<slot[]> slots;
    unsigned slot_count = 0;
    std::uint64_t next_post = 0;  // seq of the next receive we post
    std::uint64_t next_echo = 0;  // seq of the next receive whose bytes go back out
    int outstanding = 0;          // operations posted whose packet has not been handled yet
    bool closed = false;
};

struct server {
    sanport::completion_queue cq;  // on the default engine, which runs its own thread
    std::mutex live_mutex;
    std::unordered_set<connection*> live;  // so shutdown can close what is still open
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> connections{0};
    std::uint64_t bytes = 0, messages = 0;  // main loop only
};

void report(const char* what, int wsa) {
    std::fprintf(stderr, "echo_server: %s: %s (%s)\n", what, sanport::wsa_error_name(wsa),
                 sanport::wsa_error_text(wsa));
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

// Step 1 and 2 for a receive. The WSABUF array may live on the stack: sanport captures it; the
// buffer and the WSAOVERLAPPED may not, they belong to sanport until the packet comes back.
bool post_recv(connection& c, slot& sl) {
    sl.seq = c.next_post++;
    sl.st = slot::state::receiving;
    WSABUF wsabuf{sizeof sl.buf, sl.buf};
    DWORD flags = 0, received = 0;
    int err = 0;
    const int r = sanport::WSPRecv(c.s, &wsabuf, 1, &received, &flags, &sl.ov, nullptr, nullptr, &err);
    if (r == 0 || err == WSA_IO_PENDING) {  // done at once or later: a packet will come
        ++c.outstanding;
        return true;
    }
    sl.st = slot::state::idle;
    if (err != WSAECONNRESET && err != WSAECONNABORTED) report("WSPRecv", err);
    return false;
}

// An overlapped send completes once every byte is in the kernel; sanport keeps a per-socket
// FIFO, so sends leave in the order they were posted.
bool post_send(connection& c, slot& sl) {
    sl.st = slot::state::sending;
    WSABUF wsabuf{sl.bytes, sl.buf};
    DWORD sent = 0;
    int err = 0;
    const int r = sanport::WSPSend(c.s, &wsabuf, 1, &sent, 0, &sl.ov, nullptr, nullptr, &err);
    if (r == 0 || err == WSA_IO_PENDING) {
        ++c.outstanding;
        return true;
    }
    sl.st = slot::state::idle;
    if (err != WSAECONNRESET && err != WSAECONNABORTED) report("WSPSend", err);
    return false;
}

// With K receives posted, bytes fill them in posting order but their packets may be dequeued
// in any order. So a finished receive waits for its turn (seq == next_echo) before it is echoed.
void echo_in_order(server& srv, connection& c) {
    while (!c.closed) {
        slot* next = nullptr;
        for (unsigned i = 0; i < c.slot_count; ++i)
            if (c.slots[i].st == slot::state::received && c.slots[i].seq == c.next_echo) next = &c.slots[i];
        if (!next) return;
        ++c.next_echo;
        if (next->status != 0 || next->bytes == 0) {  // 0 bytes: the peer closed; or an error
            const int st = next->status;
            if (st != 0 && st != WSAECONNRESET && st != WSAECONNABORTED) report("receive", st);
            next->st = slot::state::idle;
            return close_connection(c);
        }
        ++srv.messages;
        if (!post_send(c, *next)) return close_connection(c);
    }
}

// Step 3: one packet. Returns true when the context may be freed (closed, nothing pending).
bool on_packet(server& srv, connection& c, const sanport::completion_entry& e) {
    std::lock_guard lock(c.mutex);
    slot& sl = *reinterpret_cast<slot*>(e.overlapped);
    --c.outstanding;
    if (c.closed) {
        sl.st = slot::state::idle;  // aborted by the close, or finished just before it
    } else if (sl.st == slot::state::receiving) {
        sl.st = slot::state::received;
        sl.bytes = e.bytes;
        sl.status = e.status;
        echo_in_order(srv, c);
    } else if (e.status == 0) {  // a send finished: step 4, the buffer becomes a receive again
        srv.bytes += e.bytes;
        if (!post_recv(c, sl)) close_connection(c);
    } else {
        if (e.status != WSAECONNRESET && e.status != WSAECONNABORTED) report("send", e.status);
        sl.st = slot::state::idle;
        close_connection(c);
    }
    return c.closed && c.outstanding == 0;
}

void free_connection(server& srv, connection* c) {
    {
        std::lock_guard lock(srv.live_mutex);
        srv.live.erase(c);
    }
    delete c;
}

// The acceptor: a blocking WSPAccept loop. An accepted socket inherits WSA_FLAG_OVERLAPPED and
// the default engine from the listener. (The zero-hand-off variant makes the sockets on a
// `sanport::engine{{.own_thread = false}}` with engine.socket() and lets cq.dequeue drive it.)
void accept_loop(server& srv, SOCKET listener, unsigned posted) {
    while (!srv.stopping.load()) {
        int err = 0;
        const SOCKET s = sanport::WSPAccept(listener, nullptr, nullptr, nullptr, 0, &err);
        if (s == INVALID_SOCKET) {
            if (srv.stopping.load()) return;  // the listener was closed under us
            report("WSPAccept", err);
            if (err == WSAENOTSOCK || err == WSAEINVAL) return;
            continue;
        }
        const int one = 1;  // SOCKET is the OS descriptor: socket options work as usual
        setsockopt(static_cast<int>(s), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* c = new connection;
        c->s = s;
        c->slot_count = posted;
        c->slots = std::make_unique<slot[]>(posted);
        {
            std::lock_guard lock(srv.live_mutex);
            srv.live.insert(c);
        }
        srv.connections.fetch_add(1);
        // Every completion of s now reaches srv.cq with the key `c`.
        if (const int wsa = srv.cq.associate(s, reinterpret_cast<ULONG_PTR>(c))) {
            report("associate", wsa);
            close_connection(*c);
            free_connection(srv, c);
            continue;
        }
        bool free_now = false;
        {
            std::lock_guard lock(c->mutex);
            for (unsigned i = 0; i < posted && !c->closed; ++i)
                if (!post_recv(*c, c->slots[i])) close_connection(*c);
            free_now = c->closed && c->outstanding == 0;  // nothing posted, no packet will come
        }
        if (free_now) free_connection(srv, c);
    }
}

struct options {
    unsigned port = 7000;
    const char* host = "127.0.0.1";
    double seconds = 0;  // 0: until a signal
    unsigned posted = 1;
};

bool parse(int argc, char** argv, options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* v = argv[i + 1];
        if (!std::strcmp(argv[i], "--port")) o.port = static_cast<unsigned>(std::atoi(v));
        else if (!std::strcmp(argv[i], "--host")) o.host = v;
        else if (!std::strcmp(argv[i], "--seconds")) o.seconds = std::atof(v);
        else if (!std::strcmp(argv[i], "--posted")) o.posted = static_cast<unsigned>(std::atoi(v));
        else return false;
    }
    return argc % 2 == 1 && o.port <= 65535 && o.posted >= 1 && o.posted <= 64;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    if (!parse(argc, argv, opt)) {
        std::fprintf(stderr, "usage: echo_server [--port N] [--host 127.0.0.1] [--seconds S] [--posted K]\n");
        return 2;
    }
    // Block SIGINT/SIGTERM before any thread exists (sanport's engine thread included), so they
    // are delivered only to the sigwait thread below. A handler could not safely call cq.post.
    // A non-interactive shell starts background jobs with SIGINT ignored; restore the default
    // so `kill -INT` stops the server (a blocked signal is then held for sigwait).
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(opt.port));
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        std::fprintf(stderr, "echo_server: bad --host %s\n", opt.host);
        return 2;
    }
    int err = 0;
    const SOCKET listener = sanport::WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                               WSA_FLAG_OVERLAPPED, &err);
    if (listener == INVALID_SOCKET) {
        report("WSPSocket", err);
        return 1;
    }
    const int one = 1;
    setsockopt(static_cast<int>(listener), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int len = sizeof addr;
    if (sanport::WSPBind(listener, reinterpret_cast<sockaddr*>(&addr), len, &err) != 0 ||
        sanport::WSPListen(listener, SOMAXCONN, &err) != 0 ||
        sanport::WSPGetSockName(listener, reinterpret_cast<sockaddr*>(&addr), &len, &err) != 0) {
        report("listen", err);
        sanport::WSPCloseSocket(listener, &err);
        return 1;
    }
    std::printf("echo_server: listening on %s:%u\n", opt.host, ntohs(addr.sin_port));
    std::fflush(stdout);  // a script waits for this line

    auto srv = std::make_unique<server>();
    // Key 0 is never a connection (keys are context addresses): it is the stop packet.
    std::atomic<bool> signalled{false};
    std::thread signal_thread([&] {
        int sig = 0;
        sigwait(&stop_signals, &sig);
        signalled.store(true);
        srv->cq.post(0, 0, nullptr);
    });
    std::thread acceptor(accept_loop, std::ref(*srv), listener, opt.posted);

    // The main loop: dequeue in batches, handle each packet, free contexts whose last packet came.
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    sanport::completion_entry entries[64];
    bool stop = false;
    while (!stop && (opt.seconds <= 0 || elapsed() < opt.seconds)) {
        const std::size_t n = srv->cq.dequeue(entries, 64, 100);  // 0: 100 ms passed
        for (std::size_t i = 0; i < n; ++i) {
            if (entries[i].key == 0) {
                stop = true;
                continue;
            }
            auto* c = reinterpret_cast<connection*>(entries[i].key);
            if (on_packet(*srv, *c, entries[i])) free_connection(*srv, c);
        }
    }

    // Shutdown: stop accepting (closing the listener wakes the blocked WSPAccept), close every
    // connection, then drain: each close queued one packet per operation it completed.
    srv->stopping.store(true);
    sanport::WSPCloseSocket(listener, &err);
    acceptor.join();
    std::vector<connection*> idle;  // closed with nothing pending: no packet will come for them
    {
        std::lock_guard lock(srv->live_mutex);
        for (connection* c : srv->live) {
            std::lock_guard conn_lock(c->mutex);
            close_connection(*c);
            if (c->outstanding == 0) idle.push_back(c);
        }
    }
    for (connection* c : idle) free_connection(*srv, c);
    const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
        {
            std::lock_guard lock(srv->live_mutex);
            if (srv->live.empty() || std::chrono::steady_clock::now() > drain_until) break;
        }
        const std::size_t n = srv->cq.dequeue(entries, 64, 100);
        for (std::size_t i = 0; i < n; ++i) {
            if (entries[i].key == 0) continue;
            auto* c = reinterpret_cast<connection*>(entries[i].key);
            if (on_packet(*srv, *c, entries[i])) free_connection(*srv, c);
        }
    }
    // Every socket is closed, so nothing is in flight any more: what is left may be freed.
    for (connection* c : srv->live) delete c;
    srv->live.clear();

    if (!signalled.load()) pthread_kill(signal_thread.native_handle(), SIGTERM);  // wake it
    signal_thread.join();
    std::printf("echo_server: connections=%llu bytes=%llu messages=%llu elapsed=%.2fs\n",
                static_cast<unsigned long long>(srv->connections.load()),
                static_cast<unsigned long long>(srv->bytes),
                static_cast<unsigned long long>(srv->messages), elapsed());
    return 0;
}
