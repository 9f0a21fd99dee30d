// SPDX-License-Identifier: MIT
// The scripted backend (see fake_backend.hpp).
#include "tests/support/fake_backend.hpp"

#include <algorithm>
#include <cstring>

namespace sanport::test {

using detail::io_completion;
using detail::io_kind;
using detail::io_request;

bool fake_backend::start(io_request& request, io_completion&) noexcept {
    started.push_back(&request);
    // The seam promises one request per socket per direction: count what we see.
    std::uint32_t same = 0;
    for (io_request* r : in_flight_)
        if (r->socket == request.socket && (r->kind == io_kind::send) == (request.kind == io_kind::send)) ++same;
    max_in_flight_per_socket_dir = std::max(max_in_flight_per_socket_dir, same + 1);
    in_flight_.push_back(&request);
    return false;
}

void fake_backend::finish(io_request* r, int wsa, std::uint32_t bytes) {
    in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), r));
    ready.push_back(io_completion{r, wsa, bytes, false});
}

void fake_backend::cancel(SOCKET s, void*) noexcept {
    ++cancels;
    std::vector<io_request*> mine;
    for (io_request* r : in_flight_)
        if (r->socket == s) mine.push_back(r);
    for (io_request* r : mine) {
        if (r->kind == io_kind::recv && !race_data.empty()) {
            const std::string data = race_data;
            race_data.clear();
            deliver(s, data);
        } else {
            finish(r, WSA_OPERATION_ABORTED, 0);
        }
    }
}

bool fake_backend::add_region(std::int32_t slot, void*, std::size_t) noexcept {
    live_regions.push_back(slot);
    return true;
}

void fake_backend::remove_region(std::int32_t slot) noexcept {
    live_regions.erase(std::remove(live_regions.begin(), live_regions.end(), slot), live_regions.end());
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
    std::uint32_t done = 0;
    for (std::uint32_t i = 0; i < r->count && done < data.size(); ++i) {
        const auto take = std::min<std::size_t>(r->buffers[i].len, data.size() - done);
        std::memcpy(r->buffers[i].buf, data.data() + done, take);
        done += static_cast<std::uint32_t>(take);
    }
    finish(r, 0, done);
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

}  // namespace sanport::test
