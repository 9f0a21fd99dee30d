// SPDX-License-Identifier: MIT
// Covers docs/contract.md §2, WSA events: manual reset, wait-any/wait-all, time-outs, cross-thread
// wake-ups, invalid handles, and the two costs: no file descriptor per event, and no syscall for
// a set or reset nobody waits on (checked in a child process under a seccomp filter). On
// Windows the events are the kernel's: the portable cases run there too, the Linux-only ones
// (file descriptors, futex, seccomp, closing under a wait) do not.

#include "tests/support/skip.hpp"

#include <sanport/compat.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#else
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace sanport::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

#ifdef _WIN32
long current_tid() {
    return static_cast<long>(GetCurrentThreadId());
}

// Windows does not say whether a thread sleeps in a wait: a pause has to do.
void wait_until_asleep(long) {
    std::this_thread::sleep_for(milliseconds(100));
}
#else
std::size_t open_fd_count() {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        ++count;
    return count;
}

long current_tid() {
    return syscall(SYS_gettid);
}

// Blocks until thread `tid` sits in the futex syscall, so a set that follows really has to wake
// a sleeper. Where /proc does not say, a pause has to do.
void wait_until_asleep(long tid) {
    std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
    auto give_up = steady_clock::now() + std::chrono::seconds(5);
    while (steady_clock::now() < give_up) {
        std::ifstream in(path);
        long nr = -1;
        if (!(in >> nr)) break;
        if (nr == SYS_futex) return;
        std::this_thread::sleep_for(milliseconds(1));
    }
    std::this_thread::sleep_for(milliseconds(100));
}
#endif

// A thread blocked in WSAWaitForMultipleEvents; the constructor returns once it sleeps.
class sleeping_waiter {
public:
    sleeping_waiter(const WSAEVENT* events, DWORD count, BOOL wait_all, DWORD timeout_ms = 10000)
        : thread_([=, this] {
              tid_ = current_tid();
              result_ = WSAWaitForMultipleEvents(count, events, wait_all, timeout_ms, FALSE);
              has_returned_ = true;
          }) {
        while (tid_ == 0)
            std::this_thread::yield();
        wait_until_asleep(tid_);
    }
    ~sleeping_waiter() {
        if (thread_.joinable()) thread_.join();
    }

    long tid() const { return tid_; }
    bool has_returned() const { return has_returned_; }
    DWORD join() {
        thread_.join();
        return result_;
    }

private:
    std::atomic<long> tid_{0};
    std::atomic<DWORD> result_{WSA_WAIT_FAILED};
    std::atomic<bool> has_returned_{false};
    std::thread thread_; // declared last: it starts once the atomics exist
};

#ifndef _WIN32
// Runs `body` in a child whose futex syscalls kill it. Returns "ok", "futex" or the reason the
// filter could not be installed.
template <class Body> std::string run_without_futex(Body body) {
#if defined(__x86_64__)
    constexpr unsigned arch = AUDIT_ARCH_X86_64;
#else
    constexpr unsigned arch = AUDIT_ARCH_AARCH64;
#endif
    std::fflush(nullptr); // else the child could print the parent's buffered output again
    pid_t child = fork();
    if (child < 0) return "fork failed";
    if (child == 0) {
        rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
            _exit(77);
        body();
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child) return "waitpid failed";
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) return "futex";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "ok";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return "seccomp filter refused";
    return "child ended with status " + std::to_string(status);
}
#endif

} // namespace
} // namespace sanport::test

using namespace sanport::test;

TEST_CASE("compat: an event is created unset and, once set, stays set until reset") {
    WSAEVENT event = WSACreateEvent();
    REQUIRE(event != WSA_INVALID_EVENT);
    CHECK_FALSE(sanport::wsa_event_is_set(event));
    CHECK(WSAResetEvent(event) == TRUE); // resetting a reset event is fine
    CHECK(WSASetEvent(event) == TRUE);
    CHECK(WSASetEvent(event) == TRUE);
    CHECK(WSAWaitForMultipleEvents(1, &event, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0);
    CHECK(WSAWaitForMultipleEvents(1, &event, TRUE, 100, FALSE) == WSA_WAIT_EVENT_0);
    CHECK(sanport::wsa_event_is_set(event));
    CHECK(WSAResetEvent(event) == TRUE);
    CHECK_FALSE(sanport::wsa_event_is_set(event));
    CHECK(WSAWaitForMultipleEvents(1, &event, FALSE, 0, FALSE) == WSA_WAIT_TIMEOUT);
    CHECK(WSACloseEvent(event) == TRUE);
}

TEST_CASE("compat: wait-any returns the lowest signalled index") {
    WSAEVENT events[4] = {WSACreateEvent(), WSACreateEvent(), WSACreateEvent(), WSACreateEvent()};
    for (WSAEVENT event : events)
        REQUIRE(event != WSA_INVALID_EVENT);
    CHECK(WSAWaitForMultipleEvents(4, events, FALSE, 0, FALSE) == WSA_WAIT_TIMEOUT);
    WSASetEvent(events[3]);
    CHECK(WSAWaitForMultipleEvents(4, events, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0 + 3);
    WSASetEvent(events[1]);
    CHECK(WSAWaitForMultipleEvents(4, events, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0 + 1);
    CHECK(WSAWaitForMultipleEvents(4, events, FALSE, 50, FALSE) == WSA_WAIT_EVENT_0 + 1);
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
}

TEST_CASE("compat: wait-all returns only when every event is signalled") {
    WSAEVENT events[3] = {WSACreateEvent(), WSACreateEvent(), WSACreateEvent()};
    for (WSAEVENT event : events)
        REQUIRE(event != WSA_INVALID_EVENT);
    WSASetEvent(events[0]);
    WSASetEvent(events[2]);
    CHECK(WSAWaitForMultipleEvents(3, events, TRUE, 0, FALSE) == WSA_WAIT_TIMEOUT);
    CHECK(WSAWaitForMultipleEvents(3, events, TRUE, 20, FALSE) == WSA_WAIT_TIMEOUT);
    WSASetEvent(events[1]);
    CHECK(WSAWaitForMultipleEvents(3, events, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0);
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
}

TEST_CASE("compat: time-outs of 0 and 50 ms, single and multiple events, errno untouched") {
    WSAEVENT events[2] = {WSACreateEvent(), WSACreateEvent()};
    for (WSAEVENT event : events)
        REQUIRE(event != WSA_INVALID_EVENT);
    for (DWORD count : {1u, 2u}) {
        for (BOOL wait_all : {FALSE, TRUE}) {
            CAPTURE(count);
            CAPTURE(wait_all);
            CHECK(WSAWaitForMultipleEvents(count, events, wait_all, 0, FALSE) == WSA_WAIT_TIMEOUT);
            errno = EDOM;
            auto start = steady_clock::now();
            CHECK(WSAWaitForMultipleEvents(count, events, wait_all, 50, FALSE) == WSA_WAIT_TIMEOUT);
            auto elapsed = steady_clock::now() - start;
            CHECK(errno == EDOM); // the futex's ETIMEDOUT must not leak out
            CHECK(elapsed >= milliseconds(50));
            CHECK(elapsed < milliseconds(5000));
        }
    }
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
}

TEST_CASE("compat: a set from another thread wakes a sleeping waiter") {
    for (DWORD count : {1u, 3u}) {
        CAPTURE(count);
        WSAEVENT events[3] = {WSACreateEvent(), WSACreateEvent(), WSACreateEvent()};
        sleeping_waiter waiter(events, count, FALSE);
        auto start = steady_clock::now();
        std::thread([&] { WSASetEvent(events[count - 1]); }).join();
        CHECK(waiter.join() == WSA_WAIT_EVENT_0 + count - 1);
        CHECK(steady_clock::now() - start < milliseconds(5000)); // woken, not timed out
        for (WSAEVENT event : events)
            CHECK(WSACloseEvent(event) == TRUE);
    }
}

TEST_CASE("compat: a set followed at once by a reset still releases a sleeping waiter") {
    for (DWORD count : {1u, 2u}) {
        CAPTURE(count);
        WSAEVENT events[2] = {WSACreateEvent(), WSACreateEvent()};
        sleeping_waiter waiter(events, count, FALSE);
        auto start = steady_clock::now();
        WSASetEvent(events[0]);
        WSAResetEvent(events[0]);
        CHECK(waiter.join() == WSA_WAIT_EVENT_0);
        CHECK(steady_clock::now() - start < milliseconds(5000)); // woken, not timed out
        for (WSAEVENT event : events)
            CHECK(WSACloseEvent(event) == TRUE);
    }
}

TEST_CASE("compat: wait-all is woken by sets from two threads") {
    WSAEVENT events[2] = {WSACreateEvent(), WSACreateEvent()};
    sleeping_waiter waiter(events, 2, TRUE);
    std::thread([&] { WSASetEvent(events[0]); }).join();
    wait_until_asleep(waiter.tid());
    CHECK_FALSE(waiter.has_returned()); // only one of two is set
    auto start = steady_clock::now();
    std::thread([&] { WSASetEvent(events[1]); }).join();
    CHECK(waiter.join() == WSA_WAIT_EVENT_0);
    CHECK(steady_clock::now() - start < milliseconds(5000)); // woken, not timed out
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
}

TEST_CASE("compat: ping-pong between two threads loses no wake-up") {
    // Each side waits for its event, resets it and sets the other's; a lost wake-up shows as a
    // time-out. The multi-event round adds a never-set event so the shared sequence path runs.
    for (DWORD count : {1u, 2u}) {
        CAPTURE(count);
        WSAEVENT ping[2] = {WSACreateEvent(), WSACreateEvent()};
        WSAEVENT pong[2] = {WSACreateEvent(), WSACreateEvent()};
        std::atomic<int> timeouts{0};
        auto player = [&](WSAEVENT* mine, WSAEVENT* theirs, bool serves) {
            if (serves) WSASetEvent(theirs[0]);
            for (int round = 0; round < 2000; ++round) {
                if (WSAWaitForMultipleEvents(count, mine, FALSE, 5000, FALSE) != WSA_WAIT_EVENT_0)
                    ++timeouts;
                WSAResetEvent(mine[0]);
                WSASetEvent(theirs[0]);
            }
        };
        std::thread a(player, ping, pong, true);
        std::thread b(player, pong, ping, false);
        a.join();
        b.join();
        CHECK(timeouts == 0);
        for (WSAEVENT event : ping)
            CHECK(WSACloseEvent(event) == TRUE);
        for (WSAEVENT event : pong)
            CHECK(WSACloseEvent(event) == TRUE);
    }
}

// Linux only: Windows leaves a wait on a handle closed meanwhile undefined.
#ifndef _WIN32
TEST_CASE("compat: closing an event while another thread waits on it is safe") {
    WSAEVENT event = WSACreateEvent();
    sleeping_waiter waiter(&event, 1, FALSE, 200);
    CHECK(WSACloseEvent(event) == TRUE);
    CHECK(waiter.join() == WSA_WAIT_TIMEOUT); // a closed event can no longer be set
}

TEST_CASE("compat: 5000 events alive at once cost no file descriptor") {
    std::size_t fds_before = open_fd_count();
    std::vector<WSAEVENT> events;
    for (int i = 0; i < 5000; ++i) {
        events.push_back(WSACreateEvent());
        REQUIRE(events.back() != WSA_INVALID_EVENT);
    }
    for (std::size_t i = 0; i < events.size(); i += 2)
        WSASetEvent(events[i]);
    CHECK(open_fd_count() == fds_before);
    std::size_t set_count = 0;
    for (WSAEVENT event : events)
        set_count += sanport::wsa_event_is_set(event) ? 1 : 0;
    CHECK(set_count == 2500);
    CHECK(WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS, &events[1], FALSE, 0, FALSE) ==
          WSA_WAIT_EVENT_0 + 1);
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
    CHECK(open_fd_count() == fds_before);
}

TEST_CASE("compat: invalid handles and arguments give FALSE or WSA_WAIT_FAILED") {
    alignas(16) unsigned char not_an_event[64] = {};
    WSAEVENT bogus = not_an_event;
    CHECK(WSASetEvent(WSA_INVALID_EVENT) == FALSE);
    CHECK(WSAResetEvent(WSA_INVALID_EVENT) == FALSE);
    CHECK(WSACloseEvent(WSA_INVALID_EVENT) == FALSE);
    CHECK(WSASetEvent(bogus) == FALSE);
    CHECK(WSAResetEvent(bogus) == FALSE);
    CHECK(WSACloseEvent(bogus) == FALSE);
    CHECK_FALSE(sanport::wsa_event_is_set(WSA_INVALID_EVENT));

    WSAEVENT good = WSACreateEvent();
    WSASetEvent(good);
    WSAEVENT with_null[2] = {good, WSA_INVALID_EVENT};
    WSAEVENT with_bogus[2] = {good, bogus};
    std::vector<WSAEVENT> too_many(WSA_MAXIMUM_WAIT_EVENTS + 1, good);
    CHECK(WSAWaitForMultipleEvents(1, nullptr, FALSE, 0, FALSE) == WSA_WAIT_FAILED);
    CHECK(WSAWaitForMultipleEvents(0, &good, FALSE, 0, FALSE) == WSA_WAIT_FAILED);
    CHECK(WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS + 1, too_many.data(), FALSE, 0, FALSE) ==
          WSA_WAIT_FAILED);
    CHECK(WSAWaitForMultipleEvents(2, with_null, FALSE, 0, FALSE) == WSA_WAIT_FAILED);
    CHECK(WSAWaitForMultipleEvents(2, with_bogus, TRUE, 0, FALSE) == WSA_WAIT_FAILED);
    CHECK(WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS, too_many.data(), TRUE, 0, FALSE) ==
          WSA_WAIT_EVENT_0);
    CHECK(WSACloseEvent(good) == TRUE);
}

TEST_CASE("compat: set and reset with no waiter make no syscall") {
    WSAEVENT events[2] = {WSACreateEvent(), WSACreateEvent()};
    // Waits that have ended must leave no trace that would make a later set call the kernel.
    CHECK(WSAWaitForMultipleEvents(1, events, FALSE, 10, FALSE) == WSA_WAIT_TIMEOUT);
    CHECK(WSAWaitForMultipleEvents(2, events, TRUE, 10, FALSE) == WSA_WAIT_TIMEOUT);

    std::string control = run_without_futex([] {
        unsigned word = 0;
        syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    });
    if (control != "futex") {
        sanport::test::skip("cannot trap futex with seccomp here: " + control);
        for (WSAEVENT event : events)
            WSACloseEvent(event);
        return;
    }
    std::string verdict = run_without_futex([&events] {
        for (int round = 0; round < 1000; ++round) {
            for (WSAEVENT event : events) {
                WSASetEvent(event);
                WSAWaitForMultipleEvents(2, events, TRUE, 0, FALSE);
                WSAResetEvent(event);
            }
        }
    });
    CHECK(verdict == "ok");
    for (WSAEVENT event : events)
        CHECK(WSACloseEvent(event) == TRUE);
}
#endif // !_WIN32

TEST_CASE("compat: hold, then set-and-release, signals the event and keeps it usable") {
    WSAEVENT event = WSACreateEvent();
    REQUIRE(event != WSA_INVALID_EVENT);
    CHECK_FALSE(sanport::wsa_event_is_set(event));
    REQUIRE(sanport::wsa_event_hold(event));
    sanport::wsa_event_set_and_release(event);
    CHECK(sanport::wsa_event_is_set(event));
    CHECK(sanport::wsa_event_is_set(event)); // testing does not reset it
    CHECK(WSAWaitForMultipleEvents(1, &event, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0);
    CHECK(WSAResetEvent(event) == TRUE);
    CHECK_FALSE(sanport::wsa_event_is_set(event));
    CHECK(WSACloseEvent(event) == TRUE);
    CHECK_FALSE(sanport::wsa_event_hold(WSA_INVALID_EVENT));
    CHECK_FALSE(sanport::wsa_event_is_set(WSA_INVALID_EVENT));
}
