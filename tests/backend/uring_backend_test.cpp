// SPDX-License-Identifier: MIT
// Description: the io_uring backend driven directly through core/backend.hpp on loopback TCP:
// recv and scatter, recv_probe, FIN, RST, cancel, send gather, fixed buffers, wake, batching,
// thread binding, make_backend. A kernel that refuses io_uring (EPERM/ENOSYS/EOPNOTSUPP) makes
// each case print "[sanport-skip] <reason>" and return; any other setup failure fails it.

#include "backends/io_uring/uring_backend.hpp"
#include "tests/support/skip.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <set>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace sanport::test {
namespace {

using detail::io_completion;
using detail::io_kind;
using detail::io_request;
using detail::kernel_buffer;
using detail::uring_backend;
using std::chrono::milliseconds;

// A connected loopback TCP pair made with plain POSIX calls; `server` is the accepted end.
struct tcp_pair {
    int client = -1, server = -1;
    tcp_pair() {
        const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        auto* name = reinterpret_cast<sockaddr*>(&address);
        REQUIRE(::bind(listener, name, size) == 0);
        REQUIRE(::listen(listener, 1) == 0);
        REQUIRE(::getsockname(listener, name, &size) == 0);
        client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(client, name, size) == 0);
        server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        REQUIRE(server >= 0);
        ::close(listener);
    }
    ~tcp_pair() {
        if (client >= 0) ::close(client);
        if (server >= 0) ::close(server);
    }
    tcp_pair(const tcp_pair&) = delete;
    tcp_pair& operator=(const tcp_pair&) = delete;
    void write_client(const std::string& text) const {
        REQUIRE(::send(client, text.data(), text.size(), MSG_NOSIGNAL) == ssize_t(text.size()));
    }
    void close_client() {
        ::close(client);
        client = -1;
    }
};

bool kernel_refused(int sys_error) {
    return sys_error == EPERM || sys_error == ENOSYS || sys_error == EOPNOTSUPP;
}

// A bound backend, or the reason the kernel refused io_uring.
struct ring {
    std::unique_ptr<uring_backend> backend = std::make_unique<uring_backend>(256);
    std::string skip;
    ring() {
        const int sys_error = backend->setup_error();
        if (kernel_refused(sys_error)) {
            skip = std::string("io_uring refused by the kernel: ") + backend->setup_step() + ": " +
                   std::strerror(sys_error);
            return;
        }
        REQUIRE(sys_error == 0);
        REQUIRE(backend->bind_thread() == 0);
    }
    // Reaps until `want` completions arrived or `limit_ms` passed.
    std::vector<io_completion> reap(std::size_t want, int limit_ms = 5000) {
        std::vector<io_completion> got;
        const auto deadline = std::chrono::steady_clock::now() + milliseconds(limit_ms);
        io_completion batch[128];
        while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
            const std::size_t n = backend->reap(batch, 128, 100);
            got.insert(got.end(), batch, batch + n);
        }
        return got;
    }
    io_completion one() {
        const std::vector<io_completion> got = reap(1);
        REQUIRE(got.size() == 1);
        return got[0];
    }
    std::size_t poll(int timeout_ms = 0) {
        io_completion out[8];
        return backend->reap(out, 8, timeout_ms);
    }
};

void expect(const io_completion& done, int wsa, std::uint32_t bytes) {
    CHECK(done.wsa == wsa);
    CHECK(done.bytes == bytes);
}

#define SANPORT_SKIP_IF_REFUSED(r)                                                                 \
    if (!(r).skip.empty()) {                                                                       \
        skip((r).skip);                                                                            \
        return;                                                                                    \
    }

// One socket attached to the backend (detached at scope end) and requests on it.
struct attached {
    uring_backend& backend;
    SOCKET socket;
    void* state = nullptr;
    attached(uring_backend& b, int fd) : backend(b), socket(static_cast<SOCKET>(fd)) {
        REQUIRE(backend.attach(socket, state) == 0);
    }
    ~attached() { backend.detach(socket, state); }
    io_request request(io_kind kind, const kernel_buffer* buffers, std::uint32_t count,
                       std::int32_t slot = -1) const {
        io_request r;
        r.socket = socket;
        r.backend_socket = state;
        r.kind = kind;
        r.buffers = buffers;
        r.count = count;
        r.fixed_slot = static_cast<std::int16_t>(slot);
        return r;
    }
    // As the core does: a direction keeps one request and points it at the next buffers, so
    // what the backend keeps in it (the "more is queued" hint) carries over.
    static void aim(io_request& r, const kernel_buffer* buffers, std::uint32_t count) {
        r.buffers = buffers;
        r.count = static_cast<std::uint16_t>(count);
    }
    // Starts a request that must pend: without the "data is queued" hint of a previous
    // receive, io_uring never completes one inline.
    void start(io_request& request) const {
        io_completion inline_done;
        REQUIRE_FALSE(backend.start(request, inline_done));
    }
};

TEST_CASE("io_uring backend: recv completes with data and scatters into 2 buffers in order") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    MESSAGE("setup: " << r.backend->describe()
                      << "; sizeof(uring_socket) = " << sizeof(detail::uring_socket));
    tcp_pair pair;
    attached s(*r.backend, pair.server);
    char a[4] = {}, b[8] = {};
    kernel_buffer buffers[2] = {{a, sizeof a}, {b, sizeof b}};
    io_request request = s.request(io_kind::recv, buffers, 2);
    s.start(request);
    CHECK(r.poll() == 0); // submitted, nothing there yet
    pair.write_client("0123456789AB");
    io_completion done = r.one();
    CHECK(done.request == &request);
    expect(done, 0, 12);
    CHECK(std::string(a, 4) == "0123");
    CHECK(std::string(b, 8) == "456789AB");

    // That receive filled every buffer, so the next one is tried at once with recvmsg and,
    // data being queued, completes inline; it fills its buffer too, so the hint stays.
    pair.write_client("0123456789");
    kernel_buffer small{a, sizeof a};
    attached::aim(request, &small, 1);
    io_completion inline_done;
    REQUIRE(r.backend->start(request, inline_done));
    CHECK(inline_done.request == &request);
    expect(inline_done, 0, 4);
    CHECK(inline_done.more_data);
    CHECK(std::string(a, 4) == "0123");
    // A direct receive that leaves room says the socket is drained: the next one takes the ring.
    kernel_buffer big{b, sizeof b};
    attached::aim(request, &big, 1);
    REQUIRE(r.backend->start(request, inline_done));
    expect(inline_done, 0, 6);
    CHECK_FALSE(inline_done.more_data);

    // A one-buffer ring RECV that leaves data behind says so (IORING_CQE_F_SOCK_NONEMPTY).
    io_request partial = s.request(io_kind::recv, &small, 1);
    s.start(partial);
    CHECK(r.poll() == 0);
    pair.write_client("0123456789");
    done = r.one();
    CHECK(done.bytes == 4);
    CHECK(done.more_data);
}

// A vectored receive is a READV over the op's own array. On an O_NONBLOCK socket a kernel may
// answer it -EAGAIN instead of waiting (6.18 waits; the fault suite forces the -EAGAIN, whose
// retry is a RECVMSG with POLL_FIRST over the same array): either way it waits for data.
TEST_CASE("io_uring backend: a 2-buffer recv on an O_NONBLOCK socket waits for data") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    tcp_pair pair;
    REQUIRE(::fcntl(pair.server, F_SETFL, ::fcntl(pair.server, F_GETFL) | O_NONBLOCK) == 0);
    attached s(*r.backend, pair.server);
    char a[3] = {}, b[5] = {};
    kernel_buffer buffers[2] = {{a, sizeof a}, {b, sizeof b}};
    io_request request = s.request(io_kind::recv, buffers, 2);
    s.start(request);
    for (int i = 0; i < 5; ++i)
        CHECK(r.poll(10) == 0); // retried once, then parked in the kernel: nothing reported
    pair.write_client("abcdefgh");
    const io_completion done = r.one();
    CHECK(done.request == &request);
    expect(done, 0, 8);
    CHECK(std::string(a, 3) == "abc");
    CHECK(std::string(b, 5) == "defgh");
}

TEST_CASE("io_uring backend: recv_probe reports 1 without consuming, then 0 after FIN, as recv") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    tcp_pair pair;
    attached s(*r.backend, pair.server);
    char peek = 0;
    kernel_buffer buffer{&peek, 1};
    io_request probe = s.request(io_kind::recv_probe, &buffer, 1);
    s.start(probe);
    pair.write_client("x");
    io_completion done = r.one();
    expect(done, 0, 1);
    char byte = 0;
    REQUIRE(::recv(pair.server, &byte, 1, MSG_DONTWAIT) == 1); // still there: not consumed
    CHECK(byte == 'x');
    REQUIRE(::shutdown(pair.client, SHUT_WR) == 0);
    s.start(probe);
    done = r.one();
    expect(done, 0, 0);
    // A plain recv after the FIN: {wsa 0, bytes 0}; the core decides it is the end.
    io_request request = s.request(io_kind::recv, &buffer, 1);
    s.start(request);
    done = r.one();
    CHECK(done.request == &request);
    expect(done, 0, 0);
}

TEST_CASE("io_uring backend: a reset by the peer is WSAECONNRESET") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    tcp_pair pair;
    attached s(*r.backend, pair.server);
    char data[16];
    kernel_buffer buffer{data, sizeof data};
    io_request request = s.request(io_kind::recv, &buffer, 1);
    s.start(request);
    CHECK(r.poll() == 0);
    const linger abortive{1, 0};
    REQUIRE(::setsockopt(pair.client, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive) == 0);
    pair.close_client();
    const io_completion done = r.one();
    expect(done, WSAECONNRESET, 0);
}

TEST_CASE("io_uring backend: cancel of a pending recv yields exactly one aborted completion") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    tcp_pair armed_pair, fresh_pair;
    attached armed(*r.backend, armed_pair.server), fresh(*r.backend, fresh_pair.server);
    char x[8], y[8];
    kernel_buffer bx{x, sizeof x}, by{y, sizeof y};
    io_request first = armed.request(io_kind::recv, &bx, 1);
    armed.start(first);
    CHECK(r.poll() == 0); // `first` is armed in the kernel
    io_request second = fresh.request(io_kind::recv, &by, 1);
    fresh.start(second); // `second` is cancelled in the same submission that starts it
    io_request idle;     // each socket's other direction: nothing started
    r.backend->cancel(armed.socket, armed.state, first, idle);
    r.backend->cancel(fresh.socket, fresh.state, second, idle);
    const std::vector<io_completion> got = r.reap(2);
    REQUIRE(got.size() == 2);
    for (const io_completion& c : got)
        expect(c, WSA_OPERATION_ABORTED, 0);
    CHECK(got[0].request != got[1].request);
    CHECK(r.poll(100) == 0); // the cancels' own CQEs are never reported

    // After the descriptor is closed too (close alone never ends an io_uring recv).
    tcp_pair closed_pair;
    attached closed(*r.backend, closed_pair.server);
    io_request third = closed.request(io_kind::recv, &bx, 1);
    closed.start(third);
    CHECK(r.poll() == 0);
    ::close(closed_pair.server);
    closed_pair.server = -1;
    r.backend->cancel(closed.socket, closed.state, third, idle);
    expect(r.one(), WSA_OPERATION_ABORTED, 0);
}

TEST_CASE("io_uring backend: send of 3 buffers arrives in order, beside a pending recv") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    tcp_pair pair;
    attached s(*r.backend, pair.server);
    char in[8];
    kernel_buffer inbound{in, sizeof in};
    io_request receive = s.request(io_kind::recv, &inbound, 1);
    s.start(receive); // both directions in flight on one socket
    char p1[] = "abc", p2[] = "defg", p3[] = "hi";
    kernel_buffer parts[3] = {{p1, 3}, {p2, 4}, {p3, 2}};
    io_request send = s.request(io_kind::send, parts, 3);
    s.start(send);
    io_completion done = r.one();
    CHECK(done.request == &send);
    expect(done, 0, 9);
    char out[16] = {};
    REQUIRE(::recv(pair.client, out, sizeof out, MSG_WAITALL | MSG_DONTWAIT) == 9);
    CHECK(std::string(out, 9) == "abcdefghi");
    pair.write_client("z");
    done = r.one();
    CHECK(done.request == &receive);
    CHECK(done.bytes == 1);
}

TEST_CASE("io_uring backend: a fixed-buffer recv lands in the registered memory") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    REQUIRE(r.backend->max_regions() > 0);
    constexpr std::size_t region_size = 64 * 1024;
    std::unique_ptr<char, decltype(&std::free)> region(
        static_cast<char*>(std::aligned_alloc(4096, region_size)), &std::free);
    char* base = region.get();
    std::memset(base, 0, region_size);
    if (!r.backend->add_region(0, base, region_size)) {
        skip("the kernel refused to register 64 KiB (RLIMIT_MEMLOCK?)");
        return;
    }
    tcp_pair pair;
    attached s(*r.backend, pair.server);

    // READ_FIXED. An empty slot (7) proves the fixed path is taken: only a fixed read fails
    // with EFAULT on memory that is valid; it consumes nothing. 32 bytes of room for 16 sent:
    // a receive that fills its buffers would make the next one a direct recvmsg (the hint).
    kernel_buffer one{base + 100, 32};
    io_request wrong_slot = s.request(io_kind::recv, &one, 1, 7);
    s.start(wrong_slot);
    pair.write_client("fixed-read-16byt");
    CHECK(r.one().wsa == WSAEFAULT);
    io_request fixed = s.request(io_kind::recv, &one, 1, 0);
    s.start(fixed);
    io_completion done = r.one();
    expect(done, 0, 16);
    CHECK(std::string(base + 100, 16) == "fixed-read-16byt");

    // READV_FIXED (6.15+): two buffers inside slot 0; RECVMSG where the kernel lacks it.
    kernel_buffer two[2] = {{base + 1000, 4}, {base + 2000, 8}};
    pair.write_client("ABCDEFGHIJKL");
    if (r.backend->readv_fixed_supported()) {
        io_request vector_wrong = s.request(io_kind::recv, two, 2, 7);
        s.start(vector_wrong);
        CHECK(r.one().wsa == WSAEFAULT);
    } else {
        MESSAGE("READV_FIXED not probed: the 2-buffer case takes RECVMSG");
    }
    io_request vector = s.request(io_kind::recv, two, 2, 0);
    s.start(vector);
    done = r.one();
    expect(done, 0, 12);
    CHECK(std::string(base + 1000, 4) == "ABCD");
    CHECK(std::string(base + 2000, 8) == "EFGHIJKL");

    // On an O_NONBLOCK socket READ_FIXED fails with -EAGAIN: re-armed inside, never reported.
    REQUIRE(::fcntl(pair.server, F_SETFL, ::fcntl(pair.server, F_GETFL) | O_NONBLOCK) == 0);
    s.start(fixed);
    CHECK(r.poll(50) == 0);
    pair.write_client("nonblocking-read");
    done = r.one();
    expect(done, 0, 16);
    CHECK(std::string(base + 100, 16) == "nonblocking-read");
    r.backend->remove_region(0);
}

TEST_CASE("io_uring backend: wake from another thread ends a reap without a time limit") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    // Rescue: were wake() lost, data for a pending recv would end the reap and fail the case
    // instead of hanging it.
    tcp_pair pair;
    attached s(*r.backend, pair.server);
    char data[4];
    kernel_buffer buffer{data, sizeof data};
    io_request rescue = s.request(io_kind::recv, &buffer, 1);
    s.start(rescue);
    for (int round = 0; round < 2; ++round) { // twice: the wake READ is re-armed
        std::atomic<bool> woken{false};
        std::thread waker([&] {
            std::this_thread::sleep_for(milliseconds(30));
            r.backend->wake();
            for (int i = 0; i < 50 && !woken.load(); ++i)
                std::this_thread::sleep_for(milliseconds(100));
            if (!woken.load()) (void)::send(pair.client, "r", 1, MSG_NOSIGNAL);
        });
        io_completion out[4];
        const std::size_t n = r.backend->reap(out, 4, -1);
        woken = true;
        waker.join();
        CHECK(n == 0);
    }
}

TEST_CASE("io_uring backend: 64 sockets with one recv each are all collected, each once") {
    ring r;
    SANPORT_SKIP_IF_REFUSED(r);
    constexpr int sockets = 64;
    std::vector<std::unique_ptr<tcp_pair>> pairs;
    std::vector<std::unique_ptr<attached>> states;
    std::vector<io_request> requests(sockets);
    std::vector<char> data(sockets);
    std::vector<kernel_buffer> buffers(sockets);
    for (int i = 0; i < sockets; ++i) {
        pairs.push_back(std::make_unique<tcp_pair>());
        states.push_back(std::make_unique<attached>(*r.backend, pairs.back()->server));
        buffers[i] = kernel_buffer{&data[i], 1};
        requests[i] = states.back()->request(io_kind::recv, &buffers[i], 1);
        states.back()->start(requests[i]);
    }
    CHECK(r.poll() == 0); // all 64 submitted by one poll
    for (auto& pair : pairs)
        pair->write_client("!");
    std::this_thread::sleep_for(milliseconds(20));
    // More than the kernel's 20 deferred task-work items per pass (6.13+): a reap hands out
    // what one enter ran, the next reaps the rest; every request comes back exactly once.
    std::set<io_request*> seen;
    std::size_t total = 0, reaps = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (total < sockets && std::chrono::steady_clock::now() < deadline) {
        io_completion out[128];
        const std::size_t n = r.backend->reap(out, 128, 1000);
        ++reaps;
        for (std::size_t i = 0; i < n; ++i) {
            expect(out[i], 0, 1);
            seen.insert(out[i].request);
        }
        total += n;
    }
    MESSAGE("64 completions in " << reaps << " reaps");
    CHECK(total == sockets);
    CHECK(seen.size() == total);
    CHECK(r.poll() == 0); // nothing twice
}

TEST_CASE("io_uring backend: a ring built on one thread runs on the thread that binds it") {
    std::unique_ptr<uring_backend> backend;
    std::thread([&] { backend = std::make_unique<uring_backend>(64); }).join();
    if (kernel_refused(backend->setup_error())) {
        skip(std::string("io_uring refused: ") + std::strerror(backend->setup_error()));
        return;
    }
    REQUIRE(backend->setup_error() == 0);
    tcp_pair pair;
    attached s(*backend, pair.server); // attach: any thread
    char data[4];
    kernel_buffer buffer{data, sizeof data};
    io_request request = s.request(io_kind::recv, &buffer, 1);
    int bound = -1;
    std::size_t reaped = 0;
    io_completion out[2];
    std::thread engine([&] { // SINGLE_ISSUER binds to this thread when the ring is enabled
        bound = backend->bind_thread();
        if (bound != 0) return;
        io_completion inline_done;
        if (backend->start(request, inline_done)) return;
        (void)::send(pair.client, "ok", 2, MSG_NOSIGNAL);
        for (int i = 0; i < 50 && reaped == 0; ++i)
            reaped = backend->reap(out, 2, 100);
    });
    engine.join();
    REQUIRE(bound == 0);
    REQUIRE(reaped == 1);
    CHECK(out[0].bytes == 2);
}

TEST_CASE("io_uring backend: make_backend picks io_uring and names what it cannot start") {
    std::string why;
    std::unique_ptr<detail::backend> chosen = detail::make_backend("", 64, why);
    if (chosen == nullptr && why.find("refused") != std::string::npos) {
        skip(why);
        return;
    }
    if (chosen != nullptr && std::string(chosen->name()) == "asio" && !why.empty()) {
        skip("io_uring refused, fell back to asio: " + why);
        return;
    }
    REQUIRE(chosen != nullptr);
    CHECK(std::string(chosen->name()) == "io_uring");
    std::unique_ptr<detail::backend> forced_asio = detail::make_backend("asio", 64, why);
    REQUIRE(forced_asio != nullptr); // the Boost.Asio reactor backend exists
    CHECK(std::string(forced_asio->name()) == "asio");
    CHECK(why.empty());
    CHECK(detail::make_backend("iocp", 64, why) == nullptr);
    CHECK(why.find("Windows") != std::string::npos);
    CHECK(detail::make_backend("epoll", 64, why) == nullptr);
    CHECK(why == "unknown SANPORT_BACKEND value 'epoll' (use io_uring, asio or iocp)");
}

} // namespace
} // namespace sanport::test
