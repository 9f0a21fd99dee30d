// SPDX-License-Identifier: MIT
// A child process in which io_uring_setup is refused by a seccomp filter, as container runtimes
// and systemd's SystemCallFilter refuse it: for the tests of the asio fallback. A filter cannot
// be removed, so the checks run in a forked child and report through its exit code. A kernel
// without seccomp filters makes the test print "[sanport-skip] <reason>".
#pragma once

#include "tests/support/skip.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdio>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace sanport::test {

// io_uring_setup fails with `error` (EPERM: Docker's profile, kernel.io_uring_disabled;
// ENOSYS: kernels built without it, gVisor); everything else is allowed. No architecture
// check: this filter only has to refuse one syscall in a test process, not be a boundary.
inline bool refuse_io_uring(int error) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K,
                 SECCOMP_RET_ERRNO | (static_cast<unsigned>(error) & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Runs checks() in a forked child whose io_uring_setup fails with `error`; checks returns 0 to
// pass or the number of the check that failed, which the parent reports. No doctest macro may
// run in the child.
template <class Checks> void in_child_refusing_io_uring(int error, Checks checks) {
    constexpr int child_skip = 77;
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(refuse_io_uring(error) ? checks() : child_skip);
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

} // namespace sanport::test
