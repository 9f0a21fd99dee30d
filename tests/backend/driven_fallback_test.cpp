// SPDX-License-Identifier: MIT
// diag.messages, diag.counters: a driven engine (own_thread = false) whose io_uring is refused
// by a seccomp filter falls back to asio and says so through the message handler, as the
// default engine does, and counts the fallback. Runs in a forked child, since a seccomp filter
// cannot be removed. A kernel without seccomp filters prints "[sanport-skip] <reason>".

#include "tests/support/skip.hpp"

#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sanport::test {
namespace {

constexpr int child_skip = 77;

// io_uring_setup fails with EPERM (Docker's profile); everything else is allowed.
bool refuse_io_uring() {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

std::string heard; // the child's one thread only

void hear(void* /*context*/, const char* line) {
    heard += line;
    heard += '\n';
}

// The child's checks, as an exit code: 0 passes, child_skip skips, others name the check.
int child_checks() {
    if (!refuse_io_uring()) return child_skip;
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
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(child_checks());
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    if (code == child_skip) {
        skip("seccomp filters are not available here");
        return;
    }
    INFO("child check that failed: " << code);
    CHECK(code == 0);
}

} // namespace
} // namespace sanport::test
