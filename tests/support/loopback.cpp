// SPDX-License-Identifier: MIT
// Loopback pairs and bounded helpers for the contract suite (see loopback.hpp). Setup failures
// fail the running test case through doctest; nothing here waits without a deadline.

#include "loopback.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "peer_os.hpp"

namespace sanport::test {

namespace {

using namespace os;

using clock = std::chrono::steady_clock;

int remaining_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool poll_for(peer_socket fd, short events, int timeout_ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int n = os_poll(fd, events, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (!interrupted(last_error())) return false;
    }
}

void set_rcvbuf(peer_socket fd, int bytes) {
    if (bytes > 0) set_int_option(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

void set_nodelay(peer_socket fd) {
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

// Operations destroyed while pending live here for the rest of the process: reachable, so
// LeakSanitizer stays quiet, and never freed, so a late completion writes into live memory.
std::mutex graveyard_mutex;
std::vector<void*>* graveyard = new std::vector<void*>;

} // namespace

// ---- small things -----------------------------------------------------------------------------

std::string pattern(std::size_t n, std::size_t offset, unsigned seed) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t x = (offset + i) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        out[i] = alphabet[x % 62];
    }
    return out;
}

// ---- addresses and plain sockets ----------------------------------------------------------------

sockaddr_storage loopback_address(int family, unsigned short port, int* len) {
    sockaddr_storage ss{};
    if (family == AF_INET6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        *len = sizeof(sockaddr_in6);
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons(port);
        *len = sizeof(sockaddr_in);
    }
    return ss;
}

unsigned short port_of(const sockaddr_storage& address) {
    if (address.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

sockaddr_storage local_address(peer_socket fd, int* len) {
    sockaddr_storage ss{};
    socklen_t n = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &n) != 0) n = 0;
    *len = static_cast<int>(n);
    return ss;
}

bool ipv6_loopback_available() {
    peer_socket fd = new_socket(AF_INET6);
    if (fd == no_peer) return false;
    int len = 0;
    sockaddr_storage ss = loopback_address(AF_INET6, 0, &len);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) == 0;
    close_socket_now(fd);
    return ok;
}

posix_listener::posix_listener(int family, int rcvbuf, int backlog) {
    fd = new_socket(family);
    REQUIRE_MESSAGE(fd != no_peer, errno_text("socket"));
    set_rcvbuf(fd, rcvbuf);
    int len = 0;
    sockaddr_storage ss = loopback_address(family, 0, &len);
    REQUIRE_MESSAGE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) == 0,
                    errno_text("bind"));
    REQUIRE_MESSAGE(::listen(fd, backlog) == 0, errno_text("listen"));
    address = local_address(fd, &address_len);
}

posix_listener::~posix_listener() {
    peer_close(fd);
}

peer_socket posix_listener::accept_one(int timeout_ms) {
    if (!poll_for(fd, POLLIN, timeout_ms)) return no_peer;
    peer_socket peer = accept_socket(fd);
    if (peer != no_peer) set_nonblocking(peer);
    return peer;
}

sanport_listener::sanport_listener(int family, DWORD flags, int backlog) {
    int err = 0;
    s = WSPSocket(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, flags, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, "WSPSocket: " << wsa_name(err));
    sockaddr_storage ss = loopback_address(family, 0, &address_len);
    REQUIRE_MESSAGE(WSPBind(s, reinterpret_cast<sockaddr*>(&ss), address_len, &err) == 0,
                    "WSPBind: " << wsa_name(err));
    REQUIRE_MESSAGE(WSPListen(s, backlog, &err) == 0, "WSPListen: " << wsa_name(err));
    address_len = sizeof address;
    REQUIRE_MESSAGE(WSPGetSockName(s, reinterpret_cast<sockaddr*>(&address), &address_len, &err) ==
                        0,
                    "WSPGetSockName: " << wsa_name(err));
}

sanport_listener::~sanport_listener() {
    int err = 0;
    if (s != INVALID_SOCKET) WSPCloseSocket(s, &err);
}

SOCKET sanport_listener::accept_one(int* err, int timeout_ms) {
    if (!poll_for(static_cast<peer_socket>(s), POLLIN, timeout_ms)) {
        *err = 0;
        return INVALID_SOCKET;
    }
    return WSPAccept(s, nullptr, nullptr, nullptr, 0, err);
}

peer_socket posix_connect(const sockaddr_storage& address, int address_len, int rcvbuf) {
    peer_socket fd = new_socket(address.ss_family);
    if (fd == no_peer) return no_peer;
    set_rcvbuf(fd, rcvbuf);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address),
                  static_cast<socklen_t>(address_len)) != 0) {
        close_socket_now(fd);
        return no_peer;
    }
    return fd;
}

void peer_close(peer_socket fd) {
    if (fd != no_peer) close_socket_now(fd);
}

void peer_shutdown_both(peer_socket fd) {
    if (fd != no_peer) ::shutdown(fd, shut_both);
}

bool under_wine() {
#ifdef _WIN32
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != nullptr;
#else
    return false;
#endif
}

bool skip_under_wine(const char* why) {
    if (!under_wine()) return false;
    skip(std::string("under Wine: ") + why);
    return true;
}

void peer_reset(peer_socket fd) {
    if (fd == no_peer) return;
    linger l{};
    l.l_onoff = 1;
    l.l_linger = 0;
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&l), sizeof l);
    close_socket_now(fd);
}

bool os_socket_open(SOCKET s) {
    return is_open_socket(static_cast<peer_socket>(s));
}

bool set_send_buffer(SOCKET s, int bytes) {
    return set_int_option(static_cast<peer_socket>(s), SOL_SOCKET, SO_SNDBUF, bytes);
}

// ---- loopback pairs --------------------------------------------------------------------------

const char* to_string(pair_kind kind) {
    static const char* const names[] = {"connect", "accept", "adopt"};
    return names[static_cast<int>(kind)];
}

loopback_pair::loopback_pair(loopback_pair&& other) noexcept
    : s(std::exchange(other.s, INVALID_SOCKET)), peer(std::exchange(other.peer, no_peer)) {}

loopback_pair::~loopback_pair() {
    close_socket();
    close_peer();
}

int loopback_pair::close_socket() {
    if (s == INVALID_SOCKET) return WSAENOTSOCK;
    int err = 0;
    int rc = WSPCloseSocket(s, &err);
    s = INVALID_SOCKET;
    return rc == 0 ? 0 : err;
}

void loopback_pair::close_peer() {
    peer_close(peer);
    peer = no_peer;
}

void loopback_pair::shutdown_peer_write() {
    if (peer != no_peer) ::shutdown(peer, shut_write);
}

void loopback_pair::reset_peer() {
    peer_reset(peer);
    peer = no_peer;
}

loopback_pair make_pair(const pair_options& options) {
    loopback_pair pair;
    int err = 0;
    switch (options.kind) {
    case pair_kind::connect: {
        posix_listener listener(options.family, options.peer_rcvbuf);
        pair.s =
            WSPSocket(options.family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, options.flags, &err);
        REQUIRE_MESSAGE(pair.s != INVALID_SOCKET, "WSPSocket: " << wsa_name(err));
        int len = 0;
        sockaddr_storage local = loopback_address(options.family, 0, &len);
        REQUIRE_MESSAGE(WSPBind(pair.s, reinterpret_cast<sockaddr*>(&local), len, &err) == 0,
                        "WSPBind: " << wsa_name(err));
        REQUIRE_MESSAGE(WSPConnect(pair.s, reinterpret_cast<sockaddr*>(&listener.address),
                                   listener.address_len, nullptr, nullptr, nullptr, nullptr,
                                   &err) == 0,
                        "WSPConnect: " << wsa_name(err));
        pair.peer = listener.accept_one();
        REQUIRE_MESSAGE(pair.peer != no_peer, errno_text("accept"));
        break;
    }
    case pair_kind::accept: {
        sanport_listener listener(options.family, options.flags);
        pair.peer = posix_connect(listener.address, listener.address_len, options.peer_rcvbuf);
        REQUIRE_MESSAGE(pair.peer != no_peer, errno_text("connect"));
        pair.s = listener.accept_one(&err);
        REQUIRE_MESSAGE(pair.s != INVALID_SOCKET, "WSPAccept: " << wsa_name(err));
        break;
    }
    case pair_kind::adopt: {
        posix_listener listener(options.family, options.peer_rcvbuf);
        peer_socket fd = posix_connect(listener.address, listener.address_len);
        REQUIRE_MESSAGE(fd != no_peer, errno_text("connect"));
        pair.peer = listener.accept_one();
        if (pair.peer == no_peer) peer_close(fd);
        REQUIRE_MESSAGE(pair.peer != no_peer, errno_text("accept"));
        pair.s = WSPAdoptSocket(static_cast<SOCKET>(fd), options.flags, &err);
        if (pair.s == INVALID_SOCKET) peer_close(fd);
        REQUIRE_MESSAGE(pair.s != INVALID_SOCKET, "WSPAdoptSocket: " << wsa_name(err));
        break;
    }
    }
    set_nodelay(pair.peer);
    set_nonblocking(pair.peer);
    return pair;
}

// ---- the peer's side -------------------------------------------------------------------------

bool try_send_all(peer_socket fd, std::string_view bytes, int timeout_ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    std::size_t done = 0;
    while (done < bytes.size()) {
        long long n = peer_send(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        int code = n < 0 ? last_error() : 0;
        if (n < 0 && interrupted(code)) continue;
        if (!(n < 0 && would_block(code))) {
            std::fprintf(stderr, "sanport test: %s\n", errno_text("peer send").c_str());
            return false;
        }
        if (!poll_for(fd, POLLOUT, remaining_ms(deadline))) {
            std::fprintf(stderr,
                         "sanport test: peer send: %zu of %zu bytes went out before the time "
                         "limit\n",
                         done, bytes.size());
            return false;
        }
    }
    return true;
}

void send_all(peer_socket fd, std::string_view bytes, int timeout_ms) {
    REQUIRE_MESSAGE(try_send_all(fd, bytes, timeout_ms),
                    "the peer could not send " << bytes.size() << " bytes (see stderr)");
}

namespace {

// Reads up to `limit` bytes (kept in *out when given) until the limit, EOF, an
// error or the deadline.
peer_end read_bounded(peer_socket fd, std::size_t limit, int timeout_ms, std::string* out,
                      std::size_t* total) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    char chunk[65536];
    while (*total < limit) {
        if (!poll_for(fd, POLLIN, remaining_ms(deadline))) return peer_end::timeout;
        long long got = peer_recv(fd, chunk, std::min(sizeof chunk, limit - *total));
        if (got == 0) return peer_end::eof;
        int code = got < 0 ? last_error() : 0;
        if (got < 0 && !interrupted(code) && !would_block(code)) return peer_end::reset;
        if (got < 0) continue;
        *total += static_cast<std::size_t>(got);
        if (out) out->append(chunk, static_cast<std::size_t>(got));
    }
    return peer_end::timeout;
}

} // namespace

std::string read_exactly(peer_socket fd, std::size_t n, int timeout_ms) {
    std::string out;
    std::size_t total = 0;
    read_bounded(fd, n, timeout_ms, &out, &total);
    return out;
}

const char* to_string(peer_end end) {
    static const char* const names[] = {"eof", "reset", "timeout"};
    return names[static_cast<int>(end)];
}

peer_end read_until_end(peer_socket fd, int timeout_ms, std::size_t* discarded) {
    std::size_t total = 0;
    peer_end end = read_bounded(fd, SIZE_MAX, timeout_ms, nullptr, &total);
    if (discarded) *discarded = total;
    return end;
}

long kernel_unread_bytes(SOCKET s) {
    return unread_bytes(static_cast<peer_socket>(s));
}

namespace {

template <class Done> bool poll_until(int timeout_ms, Done done) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (clock::now() >= deadline) return false;
        sleep_ms(1);
    }
    return true;
}

} // namespace

bool wait_kernel_unread(SOCKET s, std::size_t n, int timeout_ms) {
    return poll_until(timeout_ms, [&] {
        long have = kernel_unread_bytes(s);
        return have >= 0 && static_cast<std::size_t>(have) >= n;
    });
}

bool wait_read_ahead_filled(SOCKET s, int timeout_ms) {
    if (!poll_until(timeout_ms, [&] { return kernel_unread_bytes(s) == 0; })) return false;
    sleep_ms(200); // the kernel handed the bytes over; let the engine thread take them in
    return true;
}

// ---- overlapped bookkeeping --------------------------------------------------------------------

bool wait_done(const WSAOVERLAPPED& ov, int timeout_ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    WSAEVENT event = real_event(ov.hEvent);
    for (;;) {
        if (!is_pending(ov)) return true;
        int left = remaining_ms(deadline);
        if (left <= 0) return !is_pending(ov);
        DWORD slice = static_cast<DWORD>(std::min(left, 20));
        if (event != WSA_INVALID_EVENT &&
            WSAWaitForMultipleEvents(1, &event, FALSE, slice, FALSE) == WSA_WAIT_EVENT_0) {
            // Signalled: Internal must already be final; poll briefly in case it is not yet.
            std::this_thread::yield();
            if (is_pending(ov)) sleep_ms(1);
        } else if (event == WSA_INVALID_EVENT) {
            sleep_ms(1);
        }
    }
}

op_result get_result(SOCKET s, WSAOVERLAPPED& ov, BOOL fWait) {
    op_result r{op_result::how::completed, FALSE, bytes_sentinel, 0xF1F1F1F1u, 0};
    r.ok = WSPGetOverlappedResult(s, &ov, &r.bytes, fWait, &r.flags, &r.err);
    if (r.ok) r.err = 0;
    return r;
}

overlapped_op::overlapped_op(std::vector<ULONG> lengths, char fill) : st_(new state) {
    st_->event = WSACreateEvent();
    REQUIRE_MESSAGE(st_->event != WSA_INVALID_EVENT, "WSACreateEvent failed");
    st_->ov.hEvent = st_->event;
    st_->storage.reserve(lengths.size());
    for (ULONG len : lengths) {
        // One spare byte after each buffer, to catch a write past its end.
        st_->storage.emplace_back(static_cast<std::size_t>(len) + 1, fill);
        WSABUF b;
        b.len = len;
        b.buf = st_->storage.back().data();
        st_->bufs.push_back(b);
    }
}

overlapped_op::~overlapped_op() {
    if (!st_) return;
    if (is_pending(st_->ov)) {
        std::fprintf(stderr,
                     "sanport test: an overlapped operation was destroyed while pending; its "
                     "memory is kept so the engine cannot write into freed memory\n");
        std::lock_guard lock(graveyard_mutex);
        graveyard->push_back(st_.release());
        return;
    }
    WSACloseEvent(st_->event);
}

void overlapped_op::set_low_bit(bool on) {
    auto value = reinterpret_cast<std::uintptr_t>(st_->event);
    st_->ov.hEvent = reinterpret_cast<HANDLE>(on ? (value | 1u) : value);
}

std::size_t overlapped_op::capacity() const {
    std::size_t total = 0;
    for (const WSABUF& b : st_->bufs)
        total += b.len;
    return total;
}

int overlapped_op::recv(SOCKET s, DWORD flags_in) {
    std::vector<WSABUF> copy = st_->bufs; // freed on return: the core must have captured it
    bytes = bytes_sentinel;
    flags = flags_in;
    err = 0;
    rc = WSPRecv(s, copy.empty() ? nullptr : copy.data(), static_cast<DWORD>(copy.size()), &bytes,
                 &flags, &st_->ov, nullptr, nullptr, &err);
    return rc;
}

int overlapped_op::send(SOCKET s, std::string_view data_to_send) {
    REQUIRE(data_to_send.size() <= capacity());
    std::size_t done = 0;
    for (std::size_t i = 0; i < st_->bufs.size(); ++i) {
        std::size_t n = std::min<std::size_t>(st_->bufs[i].len, data_to_send.size() - done);
        std::memcpy(st_->storage[i].data(), data_to_send.data() + done, n);
        done += n;
    }
    std::vector<WSABUF> copy = st_->bufs;
    bytes = bytes_sentinel;
    flags = 0;
    err = 0;
    rc = WSPSend(s, copy.empty() ? nullptr : copy.data(), static_cast<DWORD>(copy.size()), &bytes,
                 0, &st_->ov, nullptr, nullptr, &err);
    return rc;
}

op_result overlapped_op::finish(SOCKET s, int timeout_ms) {
    op_result r;
    if (rc == 0) {
        r.way = op_result::how::immediate;
        r.ok = TRUE;
        r.bytes = bytes;
        r.flags = flags;
        return r;
    }
    if (!call_pending()) {
        r.way = op_result::how::failed_at_call;
        r.err = err;
        return r;
    }
    if (!wait(timeout_ms)) {
        r.way = op_result::how::timed_out;
        r.err = WSA_IO_INCOMPLETE;
        return r;
    }
    return result(s, FALSE);
}

std::string overlapped_op::data(std::size_t n) const {
    std::string out;
    for (std::size_t i = 0; i < st_->bufs.size() && out.size() < n; ++i) {
        std::size_t take = std::min<std::size_t>(st_->bufs[i].len, n - out.size());
        out.append(st_->storage[i].data(), take);
    }
    return out;
}

std::string overlapped_op::buffer(std::size_t i) const {
    return std::string(st_->storage.at(i).data(), st_->bufs.at(i).len);
}

recv_outcome recv_once(SOCKET s, ULONG capacity, DWORD flags, int timeout_ms) {
    overlapped_op op({capacity});
    op.recv(s, flags);
    recv_outcome out;
    out.r = op.finish(s, timeout_ms);
    if (out.r.ok) out.data = op.data(std::min<std::size_t>(out.r.bytes, capacity));
    return out;
}

void check_both_ways(SOCKET s, peer_socket peer, const std::string& text) {
    send_all(peer, text);
    CHECK(recv_stream(s, text.size()) == text);
    overlapped_op out({static_cast<ULONG>(text.size())});
    out.send(s, text);
    CHECK(out.finish(s).ok == TRUE);
    CHECK(read_exactly(peer, text.size()) == text);
}

std::string recv_stream(SOCKET s, std::size_t n, int timeout_ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string out;
    while (out.size() < n) {
        int left = remaining_ms(deadline);
        if (left <= 0) break;
        ULONG want = static_cast<ULONG>(std::min<std::size_t>(n - out.size(), 1u << 20));
        recv_outcome got = recv_once(s, want, 0, left);
        if (!got.r.ok || got.r.bytes == 0) break;
        out += got.data;
    }
    return out;
}

// ---- completion queues -----------------------------------------------------------------------

std::vector<completion_entry> dequeue_n(completion_queue& cq, std::size_t n, int timeout_ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<completion_entry> out;
    completion_entry batch[64];
    for (int left; out.size() < n && (left = remaining_ms(deadline)) > 0;) {
        std::size_t got =
            cq.dequeue(batch, std::min<std::size_t>(64, n - out.size()), static_cast<DWORD>(left));
        out.insert(out.end(), batch, batch + got);
        if (got == 0 && cq.is_shut_down()) break;
    }
    return out;
}

std::size_t count_more(completion_queue& cq, int ms) {
    auto deadline = clock::now() + std::chrono::milliseconds(ms);
    std::size_t total = 0, got = 1;
    completion_entry batch[64];
    for (int left; got != 0 && (left = remaining_ms(deadline)) > 0; total += got)
        got = cq.dequeue(batch, 64, static_cast<DWORD>(left));
    return total;
}

bool overlapped_op::event_signalled_soon(int timeout_ms) const {
    WSAEVENT e = st_->event;
    return WSAWaitForMultipleEvents(1, &e, TRUE, static_cast<DWORD>(timeout_ms), FALSE) ==
           WSA_WAIT_EVENT_0;
}

} // namespace sanport::test
