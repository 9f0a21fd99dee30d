// SPDX-License-Identifier: MIT
// Description: io_uring refused by a seccomp filter (as container runtimes and systemd's
// SystemCallFilter do) makes make_backend("") fall back to the asio backend, with the refusal
// as the reason the core logs once; a forced io_uring still fails and never becomes asio. Runs
// in a forked child, since a seccomp filter cannot be removed. A kernel without seccomp
// filters prints "[sanport-skip] <reason>".

#include "core/backend.hpp"

#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <memory>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sanport::test {
namespace {

constexpr int child_skip = 77;

// io_uring_setup fails with EPERM; everything else is allowed. No architecture check: this
// filter only has to refuse one syscall in a test process, not to be a security boundary.
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

// The child's checks, as an exit code: 0 passes, child_skip skips, others name the check.
int child_checks() {
    if (!refuse_io_uring()) return child_skip;
    ::unsetenv("SANPORT_BACKEND");
    std::string why;
    std::unique_ptr<detail::backend> chosen = detail::make_backend("", 64, why);
    if (chosen == nullptr) return 10;
    if (std::string(chosen->name()) != "asio") return 11;
    if (why.find("io_uring unavailable") == std::string::npos) return 12;
    if (why.find("EPERM") == std::string::npos || why.find("seccomp") == std::string::npos)
        return 13;
    chosen.reset();
    if (detail::make_backend("io_uring", 64, why) != nullptr) return 14; // forced: no fallback
    if (why.find("EPERM") == std::string::npos) return 15;
    // The default engine (what WSPStartup uses) runs on the fallback and keeps the reason.
    if (std::string(running_backend()) != "asio") return 16;
    if (backend_fallback_reason().find("io_uring unavailable") == std::string::npos) return 17;
    return 0;
}

TEST_CASE("asio fallback: io_uring refused by seccomp gives the asio backend and the reason") {
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(child_checks());
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    const int code = WEXITSTATUS(status);
    if (code == child_skip) {
        std::printf("[sanport-skip] seccomp filters are not available here\n");
        return;
    }
    INFO("child check that failed: " << code);
    CHECK(code == 0);
}

} // namespace
} // namespace sanport::test
