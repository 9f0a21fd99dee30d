// SPDX-License-Identifier: MIT
// The descriptors of cq.readiness (core/sys.hpp): an eventfd as the signal, a timerfd on the
// monotonic clock (std::chrono::steady_clock's, in libstdc++ and libc++) as the deadline, and
// an epoll set that joins them into the one descriptor a loop waits on.
#include "core/sys.hpp"

#include <sanport/compat.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace sanport::detail::sys {

namespace {

int opened(int fd, int& out) noexcept {
    if (fd < 0) return wsa_from_errno(errno);
    out = fd;
    return 0;
}

// Reads whatever the descriptor holds (an eventfd's count, a timerfd's expirations); a
// descriptor with nothing to read answers EAGAIN, which is the cleared state.
void drain(int fd) noexcept {
    std::uint64_t value = 0;
    while (::read(fd, &value, sizeof value) < 0 && errno == EINTR) {
    }
}

} // namespace

int signal_open(int& fd) noexcept {
    return opened(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), fd);
}

void signal_raise(int fd) noexcept {
    const std::uint64_t one = 1;
    // EAGAIN only when the count would overflow: it is readable then anyway.
    while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

void signal_clear(int fd) noexcept {
    drain(fd);
}

int deadline_open(int& fd) noexcept {
    return opened(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), fd);
}

void deadline_arm(int fd, std::int64_t deadline_ns) noexcept {
    itimerspec spec{};
    if (deadline_ns > 0 && deadline_ns != std::numeric_limits<std::int64_t>::max()) {
        spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000);
    }
    // All zero disarms. A deadline already past fires at once (TFD_TIMER_ABSTIME).
    ::timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void deadline_clear(int fd) noexcept {
    drain(fd);
}

int set_open(int& fd) noexcept {
    return opened(::epoll_create1(EPOLL_CLOEXEC), fd);
}

int set_add(int set, int fd) noexcept {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return ::epoll_ctl(set, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : wsa_from_errno(errno);
}

void close_descriptor(int fd) noexcept {
    if (fd >= 0) ::close(fd);
}

} // namespace sanport::detail::sys
