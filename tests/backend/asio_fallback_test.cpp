// SPDX-License-Identifier: MIT
// Description: io_uring refused by a seccomp filter (as container runtimes and systemd's
// SystemCallFilter do) makes make_backend("") fall back to the asio backend, with the refusal
// as the reason the core logs once; a forced io_uring still fails and never becomes asio. Runs
// in a forked child, since a seccomp filter cannot be removed. A kernel without seccomp
// filters prints "[sanport-skip] <reason>".

#include "core/backend.hpp"
#include "tests/backend/refused_uring.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace sanport::test {
namespace {

// The key cases end to end on whatever the default engine chose: a scatter receive that pends
// and completes with the peer's bytes in order, then a close that aborts a pending receive.
int end_to_end() {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        return 20;
    int err = 0;
    const SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, 0, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    if (s == INVALID_SOCKET) return 21;
    if (WSPConnect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr, nullptr, nullptr, nullptr,
                   nullptr, &err) != 0)
        return 22;
    const int peer = ::accept(listener, nullptr, nullptr);
    if (peer < 0) return 23;
    char a[3] = {}, b[8] = {};
    WSABUF bufs[2] = {{3, a}, {8, b}};
    WSAOVERLAPPED ov{};
    DWORD flags = 0, bytes = 0;
    const int r = WSPRecv(s, bufs, 2, nullptr, &flags, &ov, nullptr, nullptr, &err);
    if (r != 0 && err != WSA_IO_PENDING) return 24;
    if (::write(peer, "abcdef", 6) != 6) return 25;
    if (!WSPGetOverlappedResult(s, &ov, &bytes, TRUE, &flags, &err)) return 26;
    if (bytes != 6 || std::string(a, 3) != "abc" || std::string(b, 3) != "def") return 27;
    WSAOVERLAPPED pending{};
    if (WSPRecv(s, bufs, 2, nullptr, &flags, &pending, nullptr, nullptr, &err) != SOCKET_ERROR ||
        err != WSA_IO_PENDING)
        return 28;
    if (WSPCloseSocket(s, &err) != 0) return 29;
    if (WSPGetOverlappedResult(s, &pending, &bytes, FALSE, &flags, &err) ||
        err != WSA_OPERATION_ABORTED)
        return 30;
    ::close(peer);
    ::close(listener);
    return 0;
}

// The child's checks, as an exit code: 0 passes, others name the check.
int child_checks(const char* name) {
    ::unsetenv("SANPORT_BACKEND");
    std::string why;
    std::unique_ptr<detail::backend> chosen = detail::make_backend("", 64, why);
    if (chosen == nullptr) return 10;
    if (std::string(chosen->name()) != "asio") return 11;
    if (why.find("io_uring unavailable") == std::string::npos) return 12;
    if (why.find(name) == std::string::npos || why.find("seccomp") == std::string::npos) return 13;
    chosen.reset();
    if (detail::make_backend("io_uring", 64, why) != nullptr) return 14; // forced: no fallback
    if (why.find(name) == std::string::npos) return 15;
    // The default engine (what WSPStartup uses) runs on the fallback and keeps the reason.
    if (std::string(running_backend()) != "asio") return 16;
    if (backend_fallback_reason().find("io_uring unavailable") == std::string::npos) return 17;
    return end_to_end();
}

void run_refused(int error, const char* name) {
    in_child_refusing_io_uring(error, [name] { return child_checks(name); });
}

TEST_CASE("asio fallback: io_uring refused with EPERM by seccomp - the asio backend runs "
          "receives and close end to end, and the reason is kept") {
    run_refused(EPERM, "EPERM");
}

TEST_CASE("asio fallback: io_uring refused with ENOSYS by seccomp - the asio backend runs "
          "receives and close end to end, and the reason is kept") {
    run_refused(ENOSYS, "ENOSYS");
}

} // namespace
} // namespace sanport::test
