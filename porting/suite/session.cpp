// SPDX-License-Identifier: MIT
#include "porting/suite/session.hpp"

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <netinet/in.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

namespace sanport::suite::detail {

void fail(const std::string& what) {
    throw row_failed{what};
}
void skip(const std::string& why) {
    throw row_skipped{why};
}

std::string code(int wsa) {
    return std::string(wsa_error_name(wsa)) + " (" + std::to_string(wsa) + ")";
}

void code_log::add(int wsa, const std::string& row) {
    std::lock_guard lock(mutex);
    seen.emplace_back(wsa, row);
}

// ---- receive ----------------------------------------------------------------------------------

receive::receive(const std::vector<ULONG>& lengths, bool with_event) {
    memory.reserve(lengths.size());
    for (ULONG len : lengths) {
        memory.emplace_back(len, fill_byte);
        bufs.push_back(WSABUF{len, memory.back().data()});
    }
    if (with_event) event = WSACreateEvent();
    ov.hEvent = event;
}

receive::~receive() {
    if (event != WSA_INVALID_EVENT) WSACloseEvent(event);
}

int receive::post(session& ses, SOCKET s, DWORD flags) {
    flags_io = flags;
    err = 0;
    rc = ses.p.lpWSPRecv(s, bufs.data(), static_cast<DWORD>(bufs.size()), &count_out, &flags_io,
                         &ov, nullptr, nullptr, &err);
    if (rc == SOCKET_ERROR) ses.codes.add(err, ses.row);
    return rc;
}

bool receive::done() const noexcept {
    return std::atomic_ref<const ULONG_PTR>(ov.Internal).load(std::memory_order_acquire) !=
           static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS);
}

bool receive::wait(DWORD ms) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::string receive::data() const {
    std::string out;
    std::size_t left = bytes();
    for (const WSABUF& b : bufs) {
        const std::size_t take = std::min<std::size_t>(left, b.len);
        out.append(b.buf, take);
        left -= take;
    }
    return out;
}

bool receive::event_set(DWORD ms) const {
    if (event == WSA_INVALID_EVENT) return false;
    WSAEVENT e = event;
    return WSAWaitForMultipleEvents(1, &e, TRUE, ms, FALSE) == WSA_WAIT_EVENT_0;
}

// ---- session ----------------------------------------------------------------------------------

session::session(provider_host& h, const options& o, code_log& c, std::string r)
    : host(h), p(h.procs()), opts(o), codes(c), row(std::move(r)) {}

session::~session() {
    // Sockets first: closing completes what is still posted, then the memory may go.
    for (auto it = sockets_.rbegin(); it != sockets_.rend(); ++it) {
        int err = 0;
        p.lpWSPCloseSocket(*it, &err);
    }
    receives_.clear();
}

SOCKET session::make_socket(DWORD flags) {
    int err = 0;
    const SOCKET s = p.lpWSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, flags, &err);
    if (s == INVALID_SOCKET) fail("WSPSocket failed with " + code(err));
    sockets_.push_back(s);
    return s;
}

SOCKET session::bound_socket(DWORD flags) {
    const SOCKET s = make_socket(flags);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = 0;
    if (p.lpWSPBind(s, reinterpret_cast<sockaddr*>(&a), sizeof a, &err) != 0)
        fail("WSPBind to 127.0.0.1:0 failed with " + code(err));
    return s;
}

SOCKET session::listening_socket(DWORD flags) {
    const SOCKET s = bound_socket(flags);
    int err = 0;
    if (p.lpWSPListen(s, 8, &err) != 0) fail("WSPListen failed with " + code(err));
    return s;
}

session::pair session::connect(DWORD flags) {
    const SOCKET listener = listening_socket(flags);
    sockaddr_in a{};
    int len = sizeof a;
    int err = 0;
    if (p.lpWSPGetSockName(listener, reinterpret_cast<sockaddr*>(&a), &len, &err) != 0)
        fail("WSPGetSockName failed with " + code(err));
    const SOCKET peer = make_socket(WSA_FLAG_OVERLAPPED);
    // Accept on its own thread: a SAN transport's connect may need the passive side waiting.
    SOCKET s = INVALID_SOCKET;
    int accept_err = 0;
    std::jthread acceptor(
        [&] { s = p.lpWSPAccept(listener, nullptr, nullptr, nullptr, 0, &accept_err); });
    const int connected = p.lpWSPConnect(peer, reinterpret_cast<sockaddr*>(&a), len, nullptr,
                                         nullptr, nullptr, nullptr, &err);
    if (connected != 0) close(listener); // wakes the acceptor
    acceptor.join();
    if (connected != 0) fail("WSPConnect to the listener failed with " + code(err));
    if (s == INVALID_SOCKET) fail("WSPAccept failed with " + code(accept_err));
    sockets_.push_back(s);
    close(listener);
    return {s, peer};
}

void session::send(SOCKET s, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        WSABUF b{static_cast<ULONG>(bytes.size() - done), const_cast<char*>(bytes.data() + done)};
        DWORD sent = 0;
        int err = 0;
        if (p.lpWSPSend(s, &b, 1, &sent, 0, nullptr, nullptr, nullptr, &err) != 0)
            fail("the peer's blocking WSPSend failed with " + code(err));
        if (sent == 0) fail("the peer's blocking WSPSend sent 0 bytes");
        done += sent;
    }
}

std::jthread session::send_later(SOCKET s, std::string bytes) {
    return std::jthread([this, s, bytes = std::move(bytes)] {
        pause(opts.settle_ms);
        WSABUF b{static_cast<ULONG>(bytes.size()), const_cast<char*>(bytes.data())};
        DWORD sent = 0;
        int err = 0;
        p.lpWSPSend(s, &b, 1, &sent, 0, nullptr, nullptr, nullptr, &err); // the row checks
    });
}

void session::close(SOCKET s) {
    const auto it = std::find(sockets_.begin(), sockets_.end(), s);
    if (it != sockets_.end()) sockets_.erase(it);
    int err = 0;
    if (p.lpWSPCloseSocket(s, &err) != 0) fail("WSPCloseSocket failed with " + code(err));
}

void session::abort(SOCKET s) {
    struct linger l {};
    l.l_onoff = 1;
    l.l_linger = 0;
    int err = 0;
    if (!p.lpWSPSetSockOpt ||
        p.lpWSPSetSockOpt(s, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&l),
                          static_cast<int>(sizeof l), &err) != 0)
        skip("the provider's WSPSetSockOpt refused SO_LINGER {1, 0} (" + code(err) +
             "), so the suite cannot make the peer reset the connection");
    close(s);
}

std::string session::receive_blocking(SOCKET s, std::size_t n) {
    std::string out;
    while (out.size() < n) {
        std::vector<char> buf(n - out.size());
        WSABUF b{static_cast<ULONG>(buf.size()), buf.data()};
        DWORD got = untouched, flags = 0;
        int err = 0;
        const int rc = p.lpWSPRecv(s, &b, 1, &got, &flags, nullptr, nullptr, nullptr, &err);
        if (rc != 0) {
            codes.add(err, row);
            fail("a blocking WSPRecv failed with " + code(err));
        }
        if (got == 0) break;
        if (got > b.len) fail("a blocking WSPRecv reported more bytes than its buffer holds");
        out.append(buf.data(), got);
    }
    return out;
}

receive& session::make_receive(const std::vector<ULONG>& lengths, bool with_event) {
    receives_.push_back(std::make_unique<receive>(lengths, with_event));
    return *receives_.back();
}

void session::await(const receive& r, const std::string& what) {
    if (!r.wait(opts.wait_ms))
        fail(what + ": not completed after " + std::to_string(opts.wait_ms) + " ms");
    if (r.error() != 0) codes.add(r.error(), row);
}

void session::expect_pending(const receive& r, const std::string& what) {
    if (r.wait(opts.settle_ms))
        fail(what + ": completed (" + std::to_string(r.bytes()) + " bytes, " + code(r.error()) +
             ") when it had to stay pending");
}

std::vector<receive*> session::post_receives(SOCKET s, std::size_t n, ULONG length) {
    std::vector<receive*> posted;
    for (std::size_t i = 0; i < n; ++i) {
        receive& r = make_receive({length});
        r.post(*this, s);
        posted.push_back(&r);
    }
    return posted;
}

void session::associate(completion_queue& q, SOCKET s, ULONG_PTR key) {
    if (const int wsa = host.associate(q, s, key))
        fail("cannot associate the socket with a completion queue: " + code(wsa));
}

std::vector<completion_entry> session::collect(completion_queue& q, std::size_t want) {
    std::vector<completion_entry> got;
    completion_entry batch[16];
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.wait_ms);
    while (got.size() < want && std::chrono::steady_clock::now() < until) {
        const std::size_t n = q.dequeue(batch, 16, 20);
        got.insert(got.end(), batch, batch + n);
    }
    const auto settle =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.settle_ms);
    while (std::chrono::steady_clock::now() < settle) {
        const std::size_t n = q.dequeue(batch, 16, 10);
        got.insert(got.end(), batch, batch + n);
    }
    return got;
}

void session::expect_one_packet(completion_queue& q, const WSAOVERLAPPED* ov,
                                const std::string& what) {
    const std::vector<completion_entry> packets = collect(q, 1);
    std::size_t mine = 0;
    for (const completion_entry& e : packets)
        mine += e.overlapped == ov ? 1 : 0;
    if (mine != 1)
        fail(what + ": " + std::to_string(mine) + " completion packets (must be exactly 1)");
}

void session::pause(DWORD ms) const {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

} // namespace sanport::suite::detail
