// SPDX-License-Identifier: MIT
// A deterministic backend for the core's unit tests: start() only records the request; the
// test script then decides what the "kernel" did (data in any segmentation, FIN, RST, a
// cancel that races with data) and reap() hands those results back, exactly once each.
#pragma once

#include "core/backend.hpp"

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace sanport::test {

class fake_backend final : public detail::backend {
public:
    const char* name() const noexcept override { return "fake"; }
    int bind_thread() noexcept override { return 0; }
    int attach(SOCKET, void*& backend_socket) noexcept override {
        backend_socket = nullptr;
        ++attached;
        return 0;
    }
    void detach(SOCKET, void*) noexcept override { ++detached; }
    bool start(detail::io_request& request, detail::io_completion& done) noexcept override;
    void cancel(SOCKET s, void*) noexcept override;
    std::size_t max_regions() const noexcept override { return 8; }
    bool add_region(std::int32_t slot, void*, std::size_t) noexcept override;
    void remove_region(std::int32_t slot) noexcept override;
    std::size_t reap(detail::io_completion* out, std::size_t max, int timeout_ms) noexcept override;
    void wake() noexcept override { ++wakes; }

    // ---- the script ----
    // The started receive of s (or nullptr).
    detail::io_request* started_recv(SOCKET s) noexcept;
    detail::io_request* started_send(SOCKET s) noexcept;
    // The kernel fills the started receive of s with (a prefix of) data; returns bytes placed.
    std::uint32_t deliver(SOCKET s, std::string_view data);
    void deliver_eof(SOCKET s);                    // the receive returns 0
    void deliver_error(SOCKET s, int wsa);         // the receive fails with wsa
    void finish_send(SOCKET s, std::uint32_t bytes, int wsa = 0);
    // Next cancel() lets the receive win the race with these bytes instead of aborting.
    void cancel_races_with(std::string_view data) { race_data = std::string(data); }

    std::vector<detail::io_request*> started;    // every start(), in order
    std::deque<detail::io_completion> ready;     // what reap() returns next
    std::vector<std::int32_t> live_regions;
    std::string race_data;
    int attached = 0, detached = 0, wakes = 0, cancels = 0, inline_next = 0;
    std::uint32_t max_in_flight_per_socket_dir = 0;

private:
    void finish(detail::io_request* r, int wsa, std::uint32_t bytes);
    std::vector<detail::io_request*> in_flight_;
};

}  // namespace sanport::test
