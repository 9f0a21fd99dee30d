// SPDX-License-Identifier: MIT
// stale.*: makes the process's next descriptor a chosen number, so a test can have the OS hand
// a closed sanport socket's number to the next socket. POSIX only: it rests on "the lowest free
// number", which Windows does not promise for handles.
#pragma once

#ifndef _WIN32

#include <sanport/compat.h>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace sanport::test {

// Holds every free descriptor number below n, so that the next descriptor the process opens is
// n (POSIX: the lowest free number). Bounded by the numbers below n.
class hold_below {
public:
    explicit hold_below(SOCKET n) {
        for (;;) {
            const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            if (static_cast<SOCKET>(fd) == n) {
                ::close(fd);
                return;
            }
            held_.push_back(fd);
            REQUIRE_MESSAGE(static_cast<SOCKET>(fd) < n, "descriptor " << n << " is not free");
        }
    }
    ~hold_below() {
        for (int fd : held_)
            ::close(fd);
    }
    hold_below(const hold_below&) = delete;
    hold_below& operator=(const hold_below&) = delete;

private:
    std::vector<int> held_;
};

} // namespace sanport::test

#endif // _WIN32
