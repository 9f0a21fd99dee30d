// SPDX-License-Identifier: MIT
// srv_epoll: the classic readiness baseline of the bench harness, written the way a
// server author would without sanport: one thread, epoll in level-triggered mode, non-blocking
// sockets, recv(2)/send(2).
//
// Why it is built this way:
// - Level-triggered, one recv per readiness event: that is one "receive completion" per
//   event, the same unit the completion-based servers count, and it needs no drain loop.
// - One receive buffer per connection (--buffer bytes), as a slice of one MAP_NORESERVE
//   region indexed by fd: 10,000 connections cost only the pages they touch.
// - Echo: send the bytes just received. A short send keeps the unsent tail in the buffer and
//   switches the socket to EPOLLOUT only, so no new data is read over it (one receive in
//   flight, like the other servers); reading resumes when the tail is drained.
// - SIGINT/SIGTERM arrive through a signalfd in the same epoll set: no timeout, no race.

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "server_common.hpp"

namespace {

struct conn {
    bool open = false;
    std::uint32_t pending_off = 0; // echo: unsent bytes are buf[pending_off, pending_len)
    std::uint32_t pending_len = 0;
    std::uint64_t bytes = 0;    // sink: bytes received
    std::uint64_t receives = 0; // sink: receive completions that carried data
};

class server {
public:
    server(const bench::options& opt, std::size_t max_fds)
        : opt_(opt), conns_(max_fds), region_(bench::map_region(max_fds * opt.buffer)) {}

    void run(int listen_fd, int stop_fd);

private:
    char* buf(int fd) { return region_ + static_cast<std::size_t>(fd) * opt_.buffer; }
    void ctl(int op, int fd, std::uint32_t events);
    void accept_some(int listen_fd);
    void on_readable(int fd);
    void on_writable(int fd);
    bool send_pending(int fd); // true when drained, false when still pending or closed
    void close_conn(int fd);

    bench::options opt_;
    std::vector<conn> conns_;
    char* region_;
    int ep_ = -1;
};

void server::ctl(int op, int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(ep_, op, fd, &ev) != 0) bench::fail("epoll_ctl: %s", std::strerror(errno));
}

void server::accept_some(int listen_fd) {
    // Bounded batch: level-triggered epoll reports the listener again if more are queued.
    for (int i = 0; i < 256; ++i) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                bench::is_peer_error(errno))
                return;
            bench::fail("accept4: %s", std::strerror(errno));
        }
        if (static_cast<std::size_t>(fd) >= conns_.size()) bench::fail("fd %d out of range", fd);
        bench::set_nodelay(fd);
        conns_[fd] = conn{};
        conns_[fd].open = true;
        ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
    }
}

void server::close_conn(int fd) {
    conns_[fd].open = false;
    close(fd); // also removes it from the epoll set (no dup'ed descriptors exist)
}

bool server::send_pending(int fd) {
    conn& c = conns_[fd];
    while (c.pending_off < c.pending_len) {
        ssize_t n = send(fd, buf(fd) + c.pending_off, c.pending_len - c.pending_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.pending_off += static_cast<std::uint32_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return false;
        } else {
            if (!bench::is_peer_error(errno)) bench::fail("send: %s", std::strerror(errno));
            close_conn(fd);
            return false;
        }
    }
    c.pending_off = c.pending_len = 0;
    return true;
}

void server::on_readable(int fd) {
    conn& c = conns_[fd];
    if (c.pending_len != 0) return; // stale event: waiting for EPOLLOUT
    ssize_t n = recv(fd, buf(fd), opt_.buffer, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        if (!bench::is_peer_error(errno)) bench::fail("recv: %s", std::strerror(errno));
        close_conn(fd);
        return;
    }
    if (n == 0) {
        if (opt_.mode == bench::mode::sink) bench::send_sink_reply(fd, c.bytes, c.receives);
        close_conn(fd);
        return;
    }
    if (opt_.mode == bench::mode::sink) {
        c.bytes += static_cast<std::uint64_t>(n);
        ++c.receives;
        return;
    }
    c.pending_off = 0;
    c.pending_len = static_cast<std::uint32_t>(n);
    if (!send_pending(fd) && conns_[fd].open) ctl(EPOLL_CTL_MOD, fd, EPOLLOUT);
}

void server::on_writable(int fd) {
    if (conns_[fd].pending_len == 0) return; // stale event for a recycled fd
    if (send_pending(fd)) ctl(EPOLL_CTL_MOD, fd, EPOLLIN);
}

void server::run(int listen_fd, int stop_fd) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) bench::fail("epoll_create1: %s", std::strerror(errno));
    ctl(EPOLL_CTL_ADD, listen_fd, EPOLLIN);
    ctl(EPOLL_CTL_ADD, stop_fd, EPOLLIN);
    constexpr int max_events = 256;
    epoll_event events[max_events];
    for (;;) {
        int n = epoll_wait(ep_, events, max_events, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            bench::fail("epoll_wait: %s", std::strerror(errno));
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            std::uint32_t ev = events[i].events;
            if (fd == stop_fd) return;
            if (fd == listen_fd) {
                accept_some(listen_fd);
                continue;
            }
            if (!conns_[fd].open) continue; // closed earlier in this batch
            // EPOLLERR/EPOLLHUP: let recv/send report what happened (data may still be queued).
            if (conns_[fd].pending_len != 0) {
                if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(fd);
            } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(fd);
            }
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    bench::options opt;
    if (!bench::parse_options(argc, argv, opt, "srv_epoll")) return 2;
    if (!opt.variant.empty() || !opt.backend.empty() || opt.posted != 1)
        bench::fail("--variant, --backend and --posted K>1 are not supported by srv_epoll");
    std::size_t max_fds = bench::raise_fd_limit();
    bench::ignore_sigpipe();
    int stop_fd = bench::make_stop_signalfd();
    std::uint16_t port = 0;
    int listen_fd = bench::open_listener(opt.port, port, true);
    if (listen_fd < 0) return 1;
    server srv(opt, max_fds);
    bench::print_ready(port);
    srv.run(listen_fd, stop_fd);
    return 0;
}
