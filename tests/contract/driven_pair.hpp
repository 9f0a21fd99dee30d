// SPDX-License-Identifier: MIT
// Shared by the driven-engine contract tests (engine.owner*, engine.other-thread*): a driven
// engine, a connected OS socket adopted into it, and a hang reported as a failure.
#pragma once

#include "tests/support/loopback.hpp"

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace sanport::test {

inline std::unique_ptr<sanport::engine> driven_engine() {
    sanport::engine_options options;
    options.own_thread = false;
    auto e = std::make_unique<sanport::engine>(options);
    REQUIRE(e->status() == 0);
    return e;
}

// A hang is a failure: say which case hung and end the process (CTest reports it failed).
[[noreturn]] inline void hung(const char* what) {
    std::fprintf(stderr, "hung: %s\n", what);
    std::fflush(stderr);
    std::_Exit(3);
}

// A connected OS socket adopted into `e`, and its plain peer (closed by the destructor).
struct adopted_pair {
    SOCKET s = INVALID_SOCKET;
    peer_socket peer = no_peer;
    adopted_pair() = default;
    adopted_pair(const adopted_pair&) = delete;
    adopted_pair& operator=(const adopted_pair&) = delete;
    ~adopted_pair() { peer_close(peer); }
};

inline void adopt_pair(sanport::engine& e, posix_listener& listener, adopted_pair& p) {
    const peer_socket os = posix_connect(listener.address, listener.address_len);
    REQUIRE(os != no_peer);
    p.peer = listener.accept_one();
    REQUIRE(p.peer != no_peer);
    int err = 0;
    p.s = e.adopt(static_cast<SOCKET>(os), WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(p.s != INVALID_SOCKET, wsa_name(err));
}

// A driven engine, a completion queue on it, and one adopted pair (not associated yet).
struct driven_queue_pair {
    std::unique_ptr<sanport::engine> e = driven_engine();
    sanport::completion_queue cq{*e};
    posix_listener listener;
    adopted_pair p;
    driven_queue_pair() { adopt_pair(*e, listener, p); }
};

} // namespace sanport::test
