// SPDX-License-Identifier: MIT
// docs/contract.md rows: diag.detail (which cause of a code), diag.messages (sanport's own
// lines go through the application's handler, or nowhere), diag.counters (per engine).

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "../support/loopback.hpp"

#ifndef _WIN32
#include <sys/socket.h>
#include <unistd.h>
#endif

using namespace sanport::test;

namespace {

std::string detail() {
    return sanport::last_error_detail();
}

// An overlapped receive with the given buffers and flags; returns the WSA code (0 = done).
int recv_code(SOCKET s, WSABUF* bufs, DWORD count, DWORD flags) {
    WSAOVERLAPPED ov{};
    DWORD bytes = 0;
    int err = 0;
    if (sanport::WSPRecv(s, bufs, count, &bytes, &flags, &ov, nullptr, nullptr, &err) == 0)
        return 0;
    return err;
}

bool wait_for(const std::function<bool()>& pred) {
    for (stopwatch clock; clock.ms() < max_wait_ms; sleep_ms(1))
        if (pred()) return true;
    return pred();
}

} // namespace

TEST_CASE("diag.detail: completion_queue::associate says which cause of WSAEINVAL or "
          "WSAENOTSOCK it was") {
    loopback_pair pair = make_pair();
    sanport::engine_options options;
    options.own_thread = false;
    sanport::engine other(options);
    REQUIRE(other.status() == 0);
    sanport::completion_queue foreign(other);
    sanport::completion_queue cq;

    CHECK(wsa_name(foreign.associate(pair.s, 1)) == "WSAEINVAL");
    const std::string another = detail();
    CHECK(another.find("another engine") != std::string::npos);

    REQUIRE(cq.associate(pair.s, 1) == 0);
    CHECK(detail() == another); // a call that succeeds leaves the sentence alone
    CHECK(wsa_name(cq.associate(pair.s, 2)) == "WSAEINVAL");
    const std::string twice = detail();
    CHECK(twice.find("already associated") != std::string::npos);
    CHECK(twice != another);

    CHECK(wsa_name(cq.associate(static_cast<SOCKET>(0x7FFFFF0), 3)) == "WSAENOTSOCK");
    CHECK(detail().find("not a sanport socket") != std::string::npos);
}

TEST_CASE("diag.detail: WSPRecv's WSAEINVAL causes each give their own sentence (not "
          "overlapped, not bound, flags, buffer count)") {
    char octet = 0;
    WSABUF one{1, &octet};

    loopback_pair plain = make_pair(pair_kind::connect, AF_INET, 0); // no WSA_FLAG_OVERLAPPED
    CHECK(wsa_name(recv_code(plain.s, &one, 1, 0)) == "WSAEINVAL");
    const std::string not_overlapped = detail();
    CHECK(not_overlapped.find("WSA_FLAG_OVERLAPPED") != std::string::npos);

    int err = 0;
    const SOCKET fresh =
        sanport::WSPSocket(AF_INET, SOCK_STREAM, 0, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(fresh != INVALID_SOCKET);
    CHECK(wsa_name(recv_code(fresh, &one, 1, 0)) == "WSAEINVAL");
    const std::string not_bound = detail();
    CHECK(not_bound.find("neither bound nor connected") != std::string::npos);
    CHECK(sanport::WSPCloseSocket(fresh, &err) == 0);

    loopback_pair pair = make_pair();
    CHECK(wsa_name(recv_code(pair.s, &one, 1, MSG_OOB)) == "WSAEINVAL");
    const std::string oob = detail();
    CHECK(oob.find("MSG_OOB") != std::string::npos);
    CHECK(wsa_name(recv_code(pair.s, &one, 1, MSG_PEEK | MSG_WAITALL)) == "WSAEINVAL");
    CHECK(detail().find("MSG_PEEK and MSG_WAITALL") != std::string::npos);
    CHECK(wsa_name(recv_code(pair.s, &one, 0, 0)) == "WSAEINVAL");
    CHECK(detail().find("dwBufferCount is 0") != std::string::npos);
    std::vector<WSABUF> many(sanport::max_buffer_count + 1, one);
    CHECK(wsa_name(recv_code(pair.s, many.data(), static_cast<DWORD>(many.size()), 0)) ==
          "WSAEINVAL");
    CHECK(detail().find("max_buffer_count") != std::string::npos);

    CHECK(not_overlapped != not_bound);
    CHECK(not_bound != oob);
}

TEST_CASE("diag.detail: WSPAccept on a socket that is not listening, and WSPSend's flags") {
    int err = 0;
    const SOCKET s =
        sanport::WSPSocket(AF_INET, SOCK_STREAM, 0, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(sanport::WSPAccept(s, nullptr, nullptr, nullptr, 0, &err) == INVALID_SOCKET);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(detail().find("not listening") != std::string::npos);
    CHECK(sanport::WSPCloseSocket(s, &err) == 0);

    loopback_pair pair = make_pair();
    char octet = 'x';
    WSABUF one{1, &octet};
    WSAOVERLAPPED ov{};
    DWORD bytes = 0;
    CHECK(sanport::WSPSend(pair.s, &one, 1, &bytes, MSG_OOB, &ov, nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(detail().find("dwFlags") != std::string::npos);
}

TEST_CASE("diag.counters: sockets open, operations pending and hand-offs move - no fallback when "
          "the backend is forced") {
    sanport::engine& e = sanport::default_engine();
    const auto start = e.counters();
    const char* forced = std::getenv("SANPORT_BACKEND");
    if (forced && *forced) CHECK(start.backend_fallbacks == 0u);

    loopback_pair pair = make_pair();
    const auto opened = e.counters();
    CHECK(opened.sockets_open == start.sockets_open + 1);
    CHECK(opened.operations_pending == start.operations_pending);

    overlapped_op a({4}), b({4});
    REQUIRE(a.recv(pair.s) == SOCKET_ERROR);
    REQUIRE(a.call_pending());
    REQUIRE(b.recv(pair.s) == SOCKET_ERROR);
    REQUIRE(b.call_pending());
    CHECK(e.counters().operations_pending == opened.operations_pending + 2);
#ifndef _WIN32
    // The receives were posted on this thread, not the engine's: its thread took them over.
    CHECK(wait_for([&] { return e.counters().handoffs > opened.handoffs; }));
#endif

    send_all(pair.peer, "abcd");
    REQUIRE(a.wait());
    CHECK(
        wait_for([&] { return e.counters().operations_pending == opened.operations_pending + 1; }));
    REQUIRE(pair.close_socket() == 0);
    const auto closed = e.counters();
    CHECK(closed.operations_pending == start.operations_pending);
    CHECK(closed.sockets_open == start.sockets_open);
    CHECK(closed.handoffs >= opened.handoffs); // never goes back
    CHECK(closed.stale_handles_retired == start.stale_handles_retired);
}

#ifndef _WIN32

namespace {

struct line_sink {
    std::mutex mutex;
    std::vector<std::string> lines;
    static void take(void* context, const char* line) {
        auto* sink = static_cast<line_sink*>(context);
        std::lock_guard lock(sink->mutex);
        sink->lines.emplace_back(line);
    }
    std::size_t count_with(const std::string& text) {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& l : lines)
            n += l.find(text) != std::string::npos ? 1 : 0;
        return n;
    }
};

// close(2) behind sanport's back, another socket takes the number, then WSPCloseSocket on the
// old handle: the stale entry is retired (WSAENOTSOCK) and the other socket is left alone.
void retire_one_stale(sanport::engine& e) {
    int err = 0;
    const SOCKET s = e.socket(AF_INET, SOCK_STREAM, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    REQUIRE(::close(static_cast<int>(s)) == 0);
    const int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(other >= 0);
    if (static_cast<SOCKET>(other) != s) {
        REQUIRE(::dup2(other, static_cast<int>(s)) == static_cast<int>(s));
        ::close(other);
    }
    CHECK(sanport::WSPCloseSocket(s, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    CHECK(os_socket_open(s)); // the other component's socket
    ::close(static_cast<int>(s));
}

// Everything written to fd 2 while fn runs.
template <class F> std::string stderr_of(F fn) {
    std::fflush(stderr);
    std::FILE* file = std::tmpfile();
    REQUIRE(file != nullptr);
    const int saved = ::dup(2);
    ::dup2(::fileno(file), 2);
    fn();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::string text;
    std::rewind(file);
    char chunk[512];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file)) > 0;)
        text.append(chunk, n);
    std::fclose(file);
    return text;
}

constexpr const char* stale_text = "behind sanport's back";

} // namespace

TEST_CASE("diag.messages: the stale-handle line goes to the installed handler, a nullptr "
          "handler silences it, and stale_handles_retired counts each retirement") {
    sanport::engine_options options;
    options.own_thread = false;
    sanport::engine e(options);
    REQUIRE(e.status() == 0);
    line_sink sink;

    sanport::set_message_handler(&line_sink::take, &sink);
    std::string err_text = stderr_of([&] { retire_one_stale(e); });
    CHECK(sink.count_with(stale_text) == 1u);
    CHECK(err_text.find(stale_text) == std::string::npos); // routed, not printed
    CHECK(e.counters().stale_handles_retired == 1u);

    sanport::set_message_handler(nullptr, nullptr);
    err_text = stderr_of([&] { retire_one_stale(e); });
    CHECK(sink.count_with(stale_text) == 1u); // the replaced handler is never called again
    CHECK(err_text.empty());
    CHECK(e.counters().stale_handles_retired == 2u);

    // Back to the default: lines go to stderr again.
    sanport::set_message_handler(&sanport::write_message_to_stderr, nullptr);
    err_text = stderr_of([&] { retire_one_stale(e); });
    CHECK(err_text.find(stale_text) != std::string::npos);
    CHECK(err_text.rfind("sanport: ", 0) == 0);
    CHECK(e.counters().stale_handles_retired == 3u);
}

#endif
