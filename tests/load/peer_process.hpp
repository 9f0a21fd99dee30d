// SPDX-License-Identifier: MIT
// The peer process of load_cq_test.cpp: a forked, plain-POSIX child that holds the peer ends of
// the 10,000 connections (connect, send, close) and answers commands on a pipe, so that each
// process needs 10,000 descriptors instead of 20,000. Included by that one test only.
#pragma once

// Included inside the test's anonymous namespace, after its #includes and constants (wave).

// ---- pipes -------------------------------------------------------------------------------------

// Writes all of [p, p + n); false on error.
bool write_all(int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// Reads exactly n bytes, waiting at most timeout_ms in all (timeout_ms < 0: no bound, for the
// child, whose parent's death shows as EOF). false on EOF, error or time-out.
bool read_all(int fd, void* p, std::size_t n, int timeout_ms) {
    char* c = static_cast<char*>(p);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (n > 0) {
        if (timeout_ms >= 0) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) return false;
            pollfd pfd{fd, POLLIN, 0};
            const int r = ::poll(&pfd, 1, static_cast<int>(left));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
        }
        const ssize_t got = ::read(fd, c, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        c += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

// ---- the peer process
// ----------------------------------------------------------------------------

// Commands (parent -> child), each a command byte and a 32-bit count n:
//   'C' n: open n more connections to the listener (blocking connect, one after the other);
//          answer: n 16-bit local ports, in connect order (0 where a connect failed).
//   'S' n, then n records {16-bit port, 8 message bytes}: send each message on the peer with
//          that local port; answer: the number sent (32 bits).
//   'X' 0: reset every connection (SO_LINGER {1, 0} + close), answer the number closed and exit.
// Answers go back on the other pipe. Only system calls and memory allocated before the fork.
struct command {
    char op = 0;
    std::uint32_t n = 0;
};
struct send_record {
    std::uint16_t port = 0;
    char message[message_len]{};
};

[[noreturn]] void peer_process(int in, int out, const sockaddr_in& target,
                               std::vector<int>& by_port, std::vector<std::uint16_t>& ports,
                               std::vector<send_record>& records) {
    std::uint32_t open = 0;
    for (;;) {
        command c;
        if (!read_all(in, &c, sizeof c, -1)) break; // the parent is gone
        if (c.op == 'C') {
            for (std::uint32_t i = 0; i < c.n; ++i) {
                ports[i] = 0;
                const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) continue;
                const int one = 1;
                ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                sockaddr_in local{};
                socklen_t len = sizeof local;
                if (::connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0 ||
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
                    ::close(fd);
                    continue;
                }
                ports[i] = ntohs(local.sin_port);
                by_port[ports[i]] = fd;
                ++open;
            }
            if (!write_all(out, ports.data(), c.n * sizeof ports[0])) break;
        } else if (c.op == 'S') {
            if (!read_all(in, records.data(), c.n * sizeof records[0], -1)) break;
            std::uint32_t sent = 0;
            for (std::uint32_t i = 0; i < c.n; ++i) {
                const int fd = by_port[records[i].port];
                if (fd >= 0 && ::send(fd, records[i].message, message_len, MSG_NOSIGNAL) ==
                                   static_cast<ssize_t>(message_len))
                    ++sent;
            }
            if (!write_all(out, &sent, sizeof sent)) break;
        } else {
            break; // 'X' (or garbage): close everything below
        }
    }
    // RST rather than FIN: the closed sanport ends then leave no FIN_WAIT/TIME_WAIT behind.
    const linger rst{1, 0};
    std::uint32_t closed = 0;
    for (int& fd : by_port) {
        if (fd < 0) continue;
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
        ::close(fd);
        fd = -1;
        ++closed;
    }
    (void)write_all(out, &closed, sizeof closed);
    ::_exit(closed == open ? 0 : 1); // _exit: no atexit handlers, no LeakSanitizer in the child
}

// The parent's handle on the peer process. The destructor (also on a failed REQUIRE) ends it.
class peer_process_handle {
public:
    ~peer_process_handle() { stop(true); }

    // Forks the child; false (errno set) if the OS refused.
    bool start(const sockaddr_in& target) {
        int to_child[2], from_child[2];
        if (::pipe2(to_child, O_CLOEXEC) != 0) return false;
        if (::pipe2(from_child, O_CLOEXEC) != 0) {
            ::close(to_child[0]);
            ::close(to_child[1]);
            return false;
        }
        // Everything the child uses is allocated here, before the fork.
        std::vector<int> by_port(65536, -1);
        std::vector<std::uint16_t> ports(wave);
        std::vector<send_record> records(probed);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(to_child[1]);
            ::close(from_child[0]);
            peer_process(to_child[0], from_child[1], target, by_port, ports, records);
        }
        ::close(to_child[0]);
        ::close(from_child[1]);
        to_ = to_child[1];
        from_ = from_child[0];
        if (pid_ < 0) {
            close_pipes();
            return false;
        }
        return true;
    }

    // 'C': n more connections; their local ports (the sanport ends' remote ports) in order.
    bool connect(std::uint32_t n, std::vector<std::uint16_t>& ports) {
        ports.assign(n, 0);
        const command c{'C', n};
        return write_all(to_, &c, sizeof c) &&
               read_all(from_, ports.data(), n * sizeof ports[0], child_step_ms);
    }

    // 'S': sends each record's message on its peer; returns how many were sent.
    std::uint32_t send(const std::vector<send_record>& records) {
        const command c{'S', static_cast<std::uint32_t>(records.size())};
        std::uint32_t sent = 0;
        if (!write_all(to_, &c, sizeof c) ||
            !write_all(to_, records.data(), records.size() * sizeof records[0]) ||
            !read_all(from_, &sent, sizeof sent, child_step_ms))
            return 0;
        return sent;
    }

    // 'X', then waits (bounded) for the exit. true if every peer was closed and the child
    // exited with 0. force: SIGKILL without asking (a failed test).
    bool stop(bool force = false) {
        if (pid_ <= 0) return true;
        bool ok = false;
        if (!force) {
            const command c{'X', 0};
            std::uint32_t closed = 0;
            ok = write_all(to_, &c, sizeof c) &&
                 read_all(from_, &closed, sizeof closed, child_step_ms) && closed > 0;
        }
        close_pipes(); // EOF: a child still reading commands ends too
        int status = 0;
        pid_t got = 0;
        for (int i = 0; i < child_step_ms / 10 && (got = ::waitpid(pid_, &status, WNOHANG)) == 0;
             ++i)
            sleep_ms(10);
        if (got == 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            ok = false;
        }
        pid_ = -1;
        return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }

private:
    void close_pipes() {
        if (to_ >= 0) ::close(to_);
        if (from_ >= 0) ::close(from_);
        to_ = from_ = -1;
    }
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
};
