// SPDX-License-Identifier: MIT
// The scripted backend (see fake_backend.hpp).
#include "tests/support/fake_backend.hpp"

#include "tests/support/os_pair.hpp"

#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace sanport::test {

using detail::io_completion;
using detail::io_kind;
using detail::io_request;

bool fake_backend::start(io_request& request, io_completion& done) noexcept {
    started.push_back(&request);
    if (inline_next > 0 && request.kind == io_kind::send) {
        // Like IOCP's skip-on-success or a reactor's speculative send: all bytes, at once.
        --inline_next;
        std::uint32_t bytes = 0;
        for (std::uint32_t i = 0; i < request.count; ++i)
            bytes += request.buffers[i].len;
        done = io_completion{&request, 0, bytes, false};
        return true;
    }
    // The seam promises one request per socket per direction: count what we see.
    std::uint32_t same = 0;
    for (io_request* r : in_flight_)
        if (r->socket == request.socket &&
            (r->kind == io_kind::send) == (request.kind == io_kind::send))
            ++same;
    max_in_flight_per_socket_dir = std::max(max_in_flight_per_socket_dir, same + 1);
    in_flight_.push_back(&request);
    return false;
}

void fake_backend::finish(io_request* r, int wsa, std::uint32_t bytes) {
    in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), r));
    ready.push_back(io_completion{r, wsa, bytes, false});
}

void fake_backend::cancel(SOCKET s, void*, io_request&, io_request&) noexcept {
    ++cancels;
    if (on_cancel) on_cancel(s);
    std::vector<io_request*> mine;
    for (io_request* r : in_flight_)
        if (r->socket == s) mine.push_back(r);
    for (io_request* r : mine)
        stop(*r);
}

void fake_backend::cancel_request(io_request& r) noexcept {
    ++request_cancels;
    if (on_cancel) on_cancel(r.socket); // may finish r (or the other direction) first
    if (std::find(in_flight_.begin(), in_flight_.end(), &r) != in_flight_.end()) stop(r);
}

void fake_backend::stop(io_request& r) {
    if (r.kind == io_kind::recv && !race_data.empty()) {
        const std::string data = race_data;
        race_data.clear();
        deliver(r.socket, data);
    } else if (r.kind == io_kind::recv && !abort_data.empty()) {
        const std::string data = abort_data;
        abort_data.clear();
        finish(&r, WSA_OPERATION_ABORTED, place(r, data));
    } else {
        finish(&r, WSA_OPERATION_ABORTED, 0);
    }
}

bool fake_backend::add_region(std::int32_t slot, void*, std::size_t) noexcept {
    live_regions.push_back(slot);
    return true;
}

void fake_backend::remove_region(std::int32_t slot) noexcept {
    live_regions.erase(std::remove(live_regions.begin(), live_regions.end(), slot),
                       live_regions.end());
}

std::size_t fake_backend::reap(io_completion* out, std::size_t max, int) noexcept {
    std::size_t n = 0;
    while (n < max && !ready.empty()) {
        out[n++] = ready.front();
        ready.pop_front();
    }
    return n;
}

io_request* fake_backend::started_recv(SOCKET s) noexcept {
    for (io_request* r : in_flight_)
        if (r->socket == s && r->kind != io_kind::send) return r;
    return nullptr;
}

io_request* fake_backend::started_send(SOCKET s) noexcept {
    for (io_request* r : in_flight_)
        if (r->socket == s && r->kind == io_kind::send) return r;
    return nullptr;
}

std::uint32_t fake_backend::deliver(SOCKET s, std::string_view data) {
    io_request* r = started_recv(s);
    if (!r) return 0;
    if (r->kind == io_kind::recv_probe) {
        finish(r, 0, data.empty() ? 0 : 1);
        return 0;
    }
    const std::uint32_t done = place(*r, data);
    finish(r, 0, done);
    return done;
}

std::uint32_t fake_backend::place(io_request& r, std::string_view data) {
    std::uint32_t done = 0;
    for (std::uint32_t i = 0; i < r.count && done < data.size(); ++i) {
        const auto take = std::min<std::size_t>(r.buffers[i].len, data.size() - done);
        std::memcpy(r.buffers[i].buf, data.data() + done, take);
        done += static_cast<std::uint32_t>(take);
    }
    return done;
}

void fake_backend::deliver_eof(SOCKET s) {
    if (io_request* r = started_recv(s)) finish(r, 0, 0);
}

void fake_backend::deliver_error(SOCKET s, int wsa) {
    if (io_request* r = started_recv(s)) finish(r, wsa, 0);
}

void fake_backend::finish_send(SOCKET s, std::uint32_t bytes, int wsa) {
    if (io_request* r = started_send(s)) finish(r, wsa, bytes);
}

// ---- fake_rig ----

bool posted::pending() const {
    return std::atomic_ref<ULONG_PTR>(const_cast<ULONG_PTR&>(ov.Internal)).load() ==
           WSS_OPERATION_IN_PROGRESS;
}

std::string posted::got() const {
    std::string out;
    std::size_t left = count();
    for (const WSABUF& b : bufs) {
        const std::size_t take = std::min<std::size_t>(left, b.len);
        if (take) out.append(b.buf, take);
        left -= take;
    }
    return out;
}

bool posted::owns(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return !mem.empty() && c >= mem.data() && c < mem.data() + mem.size();
}

namespace {
std::unique_ptr<detail::backend> make_fake(fake_backend*& out) {
    auto b = std::make_unique<fake_backend>();
    out = b.get();
    return b;
}
} // namespace

fake_rig::fake_rig() : e(make_fake(fake)) {
    e.run_once(0);
}

fake_rig::~fake_rig() {
    for (SOCKET peer : peers_)
        close_os_socket(peer);
}

SOCKET fake_rig::open(int& err, DWORD flags) {
    SOCKET mine = INVALID_SOCKET, peer = INVALID_SOCKET;
    err = 0;
    if (!make_os_pair(mine, peer)) {
        err = WSAENETDOWN;
        return INVALID_SOCKET;
    }
    peers_.push_back(peer);
    const SOCKET s = e.adopt(mine, flags, &err);
    if (s == INVALID_SOCKET) close_os_socket(mine);
    return s;
}

SOCKET fake_rig::open() {
    int err = 0;
    const SOCKET s = open(err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, sanport::wsa_error_name(err));
    return s;
}

posted& fake_rig::fresh(const std::vector<ULONG>& lens, WSAEVENT event) {
    posted& p = *ops_.emplace_back(std::make_unique<posted>());
    std::size_t total = 0;
    for (ULONG n : lens)
        total += n;
    p.mem.assign(total, '\0');
    std::size_t at = 0;
    for (ULONG n : lens) {
        p.bufs.push_back(WSABUF{n, n ? p.mem.data() + at : nullptr});
        at += n;
    }
    p.ov.hEvent = event;
    return p;
}

posted& fake_rig::recv(SOCKET s, const std::vector<ULONG>& lens, DWORD flags, WSAEVENT event) {
    posted& p = fresh(lens, event);
    p.flags = flags;
    p.rc = WSPRecv(s, p.bufs.data(), static_cast<DWORD>(p.bufs.size()), &p.bytes, &p.flags, &p.ov,
                   nullptr, nullptr, &p.err);
    return p;
}

posted& fake_rig::send(SOCKET s, std::string_view data, WSAEVENT event) {
    posted& p = fresh({static_cast<ULONG>(data.size())}, event);
    std::copy(data.begin(), data.end(), p.mem.begin());
    p.rc = WSPSend(s, p.bufs.data(), 1, &p.bytes, 0, &p.ov, nullptr, nullptr, &p.err);
    return p;
}

std::vector<completion_entry> drain(completion_queue& cq) {
    std::vector<completion_entry> all;
    completion_entry batch[64];
    while (const std::size_t n = cq.dequeue(batch, 64, 0))
        all.insert(all.end(), batch, batch + n);
    return all;
}

bool signalled(WSAEVENT event) {
    return WSAWaitForMultipleEvents(1, &event, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0;
}

} // namespace sanport::test
