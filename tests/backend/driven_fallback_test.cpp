// SPDX-License-Identifier: MIT
// diag.messages, diag.counters: a driven engine (own_thread = false) whose io_uring is refused
// by a seccomp filter falls back to asio and says so through the message handler, as the
// default engine does, and counts the fallback. Runs in a forked child, since a seccomp filter
// cannot be removed. A kernel without seccomp filters prints "[sanport-skip] <reason>".

#include "tests/backend/refused_uring.hpp"

#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace sanport::test {
namespace {

std::string heard; // the child's one thread only

void hear(void* /*context*/, const char* line) {
    heard += line;
    heard += '\n';
}

// The child's checks, as an exit code: 0 passes, others name the check.
int child_checks() {
    ::unsetenv("SANPORT_BACKEND");
    set_message_handler(&hear, nullptr);
    engine_options options;
    options.own_thread = false;
    engine driven(options);
    if (driven.status() != 0) return 10;
    if (std::string(driven.backend_name()) != "asio") return 11;
    if (heard.find("sanport: using the asio backend: io_uring unavailable") != 0) return 12;
    if (heard.find('\n') + 1 != heard.size()) return 13; // one line
    if (driven.counters().backend_fallbacks != 1u) return 14;
    // Silenced: a second engine says nothing, and still counts its fallback.
    set_message_handler(nullptr, nullptr);
    heard.clear();
    engine quiet(options);
    if (!heard.empty()) return 15;
    if (quiet.counters().backend_fallbacks != 1u) return 16;
    return 0;
}

TEST_CASE("diag.messages: a driven engine that falls back from io_uring says so through the "
          "handler, once, and counts it") {
    in_child_refusing_io_uring(EPERM, [] { return child_checks(); });
}

} // namespace
} // namespace sanport::test
