// SPDX-License-Identifier: MIT
// srv_uring: the "tuned raw liburing" reference server of the bench harness, i.e. what an
// author who knows io_uring writes by hand.
//
// Why it is built this way:
// - Ring flags SINGLE_ISSUER|DEFER_TASKRUN: completions are run when this thread enters the
//   ring instead of interrupting it with task work (and, in this VM, with cross-vCPU IPIs). It
//   measured +30% over a plain ring in multi-connection echo. Older kernels fall back to
//   COOP_TASKRUN, then to a plain ring; stderr says which one is used.
// - One receive in flight per connection: several receives on one stream socket are not
//   ordered by io_uring, and echo needs order anyway (receive, send those bytes, receive).
// - One io_uring_submit_and_wait() per loop turn submits everything queued and sleeps until a
//   completion; CQEs are then reaped in one batch (for_each_cqe + cq_advance). Steady state is
//   well under one syscall per message.
// - Per-connection state in a vector indexed by fd (the fd travels in user_data); buffers are
//   slices of one MAP_NORESERVE region, so untouched connections cost no memory and no message
//   allocates.
// - --variant readv_fixed: receive with IORING_OP_READV_FIXED (kernel 6.15+, no liburing 2.3
//   helper, prepared raw) into two iovecs (16 bytes + the rest): the 2-WSABUF shape sanport
//   submits. Every connection's slice of the region is a registered buffer (buffer index = fd).
//   The table is registered sparse and each slice is registered the first time its fd is used:
//   registering the whole region up front would pin (fault in) 1 GiB before the first client.
// - --variant recv_fixed_file: RECV and SEND on registered files (IOSQE_FIXED_FILE, slot = fd,
//   registered at accept, cleared before close): what a registered file table would save a
//   server that already runs at raw liburing's cost (docs/design.md, "The hot path").
// - --variant recv_multishot (echo only): one multishot RECV per connection into a ring of
//   provided buffers (IORING_REGISTER_PBUF_RING), each buffer echoed from and then given back:
//   what multishot receive would save a server at raw liburing's cost (docs/design.md).
// - SIGINT/SIGTERM: a signalfd polled through the ring, so an idle server stops at once.

#include <liburing.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <vector>

#include "server_common.hpp"

namespace {

constexpr unsigned queue_depth = 4096;
constexpr unsigned cq_depth = 32768;    // 10,000 connections, each with one op in flight
constexpr unsigned op_readv_fixed = 60; // IORING_OP_READV_FIXED on 6.15+ (not in liburing 2.3)
constexpr unsigned max_registered = 1u << 14; // kernel limit on registered buffers

enum op_kind : std::uint64_t { op_accept = 1, op_recv = 2, op_send = 3, op_stop = 4 };

std::uint64_t tag(int fd, op_kind op) {
    return (static_cast<std::uint64_t>(fd) << 8) | op;
}

struct conn {
    std::uint64_t bytes = 0;    // sink: bytes received
    std::uint64_t receives = 0; // sink: receive completions that carried data
    std::uint32_t send_off = 0; // echo: bytes [send_off, send_len) of the buffer still to send
    std::uint32_t send_len = 0;
    iovec iov[2]{}; // readv_fixed: must stay valid while the receive is in flight
    // recv_multishot: provided buffers received and not yet echoed, oldest first.
    std::uint16_t pending_bid[8]{};
    std::uint32_t pending_len[8]{};
    std::uint8_t pending_head = 0, pending_n = 0;
    bool ended = false; // the stream ended: close once the queued echoes went out
};
constexpr unsigned provided_buffers = 16384; // one per connection in flight, and then some
constexpr std::uint32_t provided_size = 2048;

class server {
public:
    server(const bench::options& opt, bool readv_fixed, bool fixed_files, bool multishot,
           std::size_t max_fds);
    ~server() { std::free(br_); } // the provided-buffer ring (LeakSanitizer checks the exit)
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    void run(int listen_fd, int stop_fd);

private:
    char* buf(int fd) { return region_ + static_cast<std::size_t>(fd) * opt_.buffer; }
    io_uring_sqe* get_sqe();
    void post_accept();
    void post_recv(int fd);
    void post_send(int fd);
    void on_accept(int res);
    void on_recv(int fd, int res, unsigned cqe_flags);
    void setup_provided_buffers();
    void on_recv_multishot(int fd, int res, unsigned cqe_flags);
    void on_send_multishot(int fd, int res);
    char* provided(unsigned bid) { return bufs_ + static_cast<std::size_t>(bid) * provided_size; }
    void on_send(int fd, int res);
    void close_conn(int fd);
    void fixed(io_uring_sqe* sqe) const {
        if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE; // fd is then the slot, slot = fd
    }

    bench::options opt_;
    bool readv_fixed_;
    bool fixed_files_;
    bool multishot_;
    io_uring_buf_ring* br_ = nullptr;
    char* bufs_ = nullptr;
    io_uring ring_{};
    std::vector<conn> conns_;
    std::vector<std::uint8_t> registered_; // readv_fixed: slice of fd already registered
    char* region_;
    int listen_fd_ = -1;
    bool stop_ = false;
};

server::server(const bench::options& opt, bool readv_fixed, bool fixed_files, bool multishot,
               std::size_t max_fds)
    : opt_(opt), readv_fixed_(readv_fixed), fixed_files_(fixed_files), multishot_(multishot),
      conns_(max_fds), region_(bench::map_region(max_fds * opt.buffer)) {
    struct ring_setup {
        unsigned flags;
        const char* name;
    };
    const ring_setup setups[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single_issuer|defer_taskrun"},
        {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop_taskrun|taskrun_flag"},
        {0, "plain"}};
    int ret = -EINVAL;
    for (const ring_setup& s : setups) {
        io_uring_params p{};
        p.flags = s.flags | IORING_SETUP_CQSIZE;
        p.cq_entries = cq_depth;
        ret = io_uring_queue_init_params(queue_depth, &ring_, &p);
        if (ret == 0) {
            std::fprintf(stderr, "srv_uring: ring setup %s, variant %s\n", s.name,
                         readv_fixed   ? "readv_fixed"
                         : fixed_files ? "recv_fixed_file"
                         : multishot   ? "recv_multishot"
                                       : "recv");
            break;
        }
        std::fprintf(stderr, "srv_uring: ring setup %s refused: %s\n", s.name, strerror(-ret));
    }
    if (ret != 0) bench::fail("io_uring_queue_init_params failed");
    if (multishot_) setup_provided_buffers();
    if (fixed_files_) {
        ret = io_uring_register_files_sparse(&ring_, static_cast<unsigned>(max_fds));
        if (ret < 0) bench::fail("io_uring_register_files_sparse: %s", strerror(-ret));
    }
    if (!readv_fixed_) return;

    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    bool ok = probe && io_uring_opcode_supported(probe, op_readv_fixed);
    if (probe) io_uring_free_probe(probe);
    if (!ok) bench::fail("IORING_OP_READV_FIXED (%u) not supported by this kernel", op_readv_fixed);
    std::size_t slots = max_fds < max_registered ? max_fds : max_registered;
    registered_.assign(slots, 0);
    ret = io_uring_register_buffers_sparse(&ring_, static_cast<unsigned>(slots));
    if (ret < 0) bench::fail("io_uring_register_buffers_sparse: %s", strerror(-ret));
}

io_uring_sqe* server::get_sqe() {
    // A full SQ is drained by submitting; bounded so a broken ring cannot spin forever.
    for (int i = 0; i < 1000; ++i) {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        int ret = io_uring_submit(&ring_);
        if (ret < 0 && ret != -EBUSY && ret != -EAGAIN && ret != -EINTR)
            bench::fail("io_uring_submit: %s", strerror(-ret));
    }
    bench::fail("submission queue stays full");
}

void server::post_accept() {
    io_uring_sqe* sqe = get_sqe();
    // Accepted sockets stay blocking: io_uring then polls for readiness itself, while an
    // O_NONBLOCK socket would hand -EAGAIN back to us.
    io_uring_prep_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag(listen_fd_, op_accept));
}

void server::post_recv(int fd) {
    io_uring_sqe* sqe = get_sqe();
    if (readv_fixed_) {
        // Raw prep: opcode, fd, addr = iovec array, len = iovec count, offset 0 (sockets
        // reject other positions), buf_index = the registered buffer the iovecs point into.
        io_uring_prep_rw(op_readv_fixed, sqe, fd, conns_[fd].iov, 2, 0);
        sqe->buf_index = static_cast<std::uint16_t>(fd);
    } else if (multishot_) {
        io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 0;
    } else {
        io_uring_prep_recv(sqe, fd, buf(fd), opt_.buffer, 0);
        fixed(sqe);
    }
    io_uring_sqe_set_data64(sqe, tag(fd, op_recv));
}

void server::post_send(int fd) {
    conn& c = conns_[fd];
    io_uring_sqe* sqe = get_sqe();
    char* from = multishot_ ? provided(c.pending_bid[c.pending_head]) : buf(fd);
    io_uring_prep_send(sqe, fd, from + c.send_off, c.send_len - c.send_off, MSG_NOSIGNAL);
    fixed(sqe);
    io_uring_sqe_set_data64(sqe, tag(fd, op_send));
}

void server::on_accept(int res) {
    post_accept(); // keep one accept in flight
    if (res < 0) {
        if (res == -EINTR || res == -EAGAIN || bench::is_peer_error(-res)) return;
        bench::fail("accept: %s", strerror(-res));
    }
    int fd = res;
    if (static_cast<std::size_t>(fd) >= conns_.size() ||
        (readv_fixed_ && static_cast<std::size_t>(fd) >= registered_.size())) {
        std::fprintf(stderr, "srv_uring: fd %d beyond the connection table, closed\n", fd);
        close(fd);
        return;
    }
    bench::set_nodelay(fd);
    if (fixed_files_) {
        const int ret = io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &fd, 1);
        if (ret < 0) bench::fail("register file %d: %s", fd, strerror(-ret));
    }
    conn& c = conns_[fd];
    c = conn{};
    if (readv_fixed_) {
        if (!registered_[fd]) {
            iovec slice{buf(fd), opt_.buffer};
            __u64 no_tag = 0;
            int ret = io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(fd),
                                                           &slice, &no_tag, 1);
            if (ret < 0) bench::fail("register buffer %d: %s", fd, strerror(-ret));
            registered_[fd] = 1;
        }
        c.iov[0] = iovec{buf(fd), 16}; // the 2-WSABUF shape: a 16-byte header + the rest
        c.iov[1] = iovec{buf(fd) + 16, opt_.buffer - 16};
    }
    post_recv(fd);
}

void server::close_conn(int fd) {
    if (fixed_files_) { // the table holds a reference: the peer sees the close only once cleared
        int none = -1;
        io_uring_register_files_update(&ring_, static_cast<unsigned>(fd), &none, 1);
    }
    close(fd);
}

void server::setup_provided_buffers() {
    void* mem = nullptr;
    if (posix_memalign(&mem, 4096, provided_buffers * sizeof(io_uring_buf)) != 0)
        bench::fail("provided buffer ring: out of memory");
    br_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
    reg.ring_entries = provided_buffers;
    reg.bgid = 0;
    const int ret = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (ret < 0) bench::fail("io_uring_register_buf_ring: %s", strerror(-ret));
    bufs_ = bench::map_region(std::size_t{provided_buffers} * provided_size);
    const int mask = io_uring_buf_ring_mask(provided_buffers);
    for (unsigned i = 0; i < provided_buffers; ++i)
        io_uring_buf_ring_add(br_, provided(i), provided_size, static_cast<unsigned short>(i), mask,
                              static_cast<int>(i));
    io_uring_buf_ring_advance(br_, static_cast<int>(provided_buffers));
}

void server::on_recv_multishot(int fd, int res, unsigned cqe_flags) {
    conn& c = conns_[fd];
    if (res > 0) {
        if (c.pending_n == std::size(c.pending_bid)) bench::fail("fd %d: echo queue full", fd);
        const unsigned at = (c.pending_head + c.pending_n) % std::size(c.pending_bid);
        c.pending_bid[at] = static_cast<std::uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
        c.pending_len[at] = static_cast<std::uint32_t>(res);
        if (c.pending_n++ == 0) {
            c.send_off = 0;
            c.send_len = c.pending_len[c.pending_head];
            post_send(fd);
        }
    }
    if (res > 0 || res == -ENOBUFS || res == -EINTR || res == -EAGAIN) {
        if (!(cqe_flags & IORING_CQE_F_MORE)) post_recv(fd); // the kernel ended it: arm again
        return;
    }
    if (res < 0 && !bench::is_peer_error(-res))
        std::fprintf(stderr, "srv_uring: receive on fd %d: %s\n", fd, strerror(-res));
    c.ended = true;
    if (c.pending_n == 0) close_conn(fd);
}

void server::on_send_multishot(int fd, int res) {
    conn& c = conns_[fd];
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        c.ended = true; // the queued buffers are given back below, one per call, as they go
        res = static_cast<int>(c.send_len - c.send_off);
    }
    c.send_off += res > 0 ? static_cast<std::uint32_t>(res) : 0;
    if (c.send_off < c.send_len) return post_send(fd);
    // Echoed: the buffer goes back to the kernel's ring.
    io_uring_buf_ring_add(br_, provided(c.pending_bid[c.pending_head]), provided_size,
                          c.pending_bid[c.pending_head], io_uring_buf_ring_mask(provided_buffers),
                          0);
    io_uring_buf_ring_advance(br_, 1);
    c.pending_head = static_cast<std::uint8_t>((c.pending_head + 1) % std::size(c.pending_bid));
    if (--c.pending_n != 0) {
        c.send_off = 0;
        c.send_len = c.pending_len[c.pending_head];
        return post_send(fd);
    }
    if (c.ended) close_conn(fd);
}

void server::on_recv(int fd, int res, unsigned cqe_flags) {
    if (multishot_) return on_recv_multishot(fd, res, cqe_flags);
    conn& c = conns_[fd];
    if (res > 0) {
        if (opt_.mode == bench::mode::sink) {
            c.bytes += static_cast<std::uint64_t>(res);
            ++c.receives;
            post_recv(fd);
        } else {
            c.send_off = 0;
            c.send_len = static_cast<std::uint32_t>(res);
            post_send(fd);
        }
        return;
    }
    if (res == -EINTR || res == -EAGAIN) {
        post_recv(fd);
        return;
    }
    if (res == 0 && opt_.mode == bench::mode::sink)
        bench::send_sink_reply(fd, c.bytes, c.receives); // once per connection, off the hot path
    else if (res < 0 && !bench::is_peer_error(-res))
        std::fprintf(stderr, "srv_uring: receive on fd %d: %s\n", fd, strerror(-res));
    close_conn(fd); // no operation of fd is in flight any more
}

void server::on_send(int fd, int res) {
    if (multishot_) return on_send_multishot(fd, res);
    conn& c = conns_[fd];
    if (res >= 0 || res == -EINTR || res == -EAGAIN) {
        c.send_off += res > 0 ? static_cast<std::uint32_t>(res) : 0;
        if (c.send_off < c.send_len)
            post_send(fd); // short send: the rest, then receive
        else
            post_recv(fd);
        return;
    }
    if (!bench::is_peer_error(-res))
        std::fprintf(stderr, "srv_uring: send on fd %d: %s\n", fd, strerror(-res));
    close_conn(fd);
}

void server::run(int listen_fd, int stop_fd) {
    listen_fd_ = listen_fd;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, stop_fd, POLLIN);
    io_uring_sqe_set_data64(sqe, tag(stop_fd, op_stop));
    post_accept();
    while (!stop_) {
        int ret = io_uring_submit_and_wait(&ring_, 1);
        if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
            bench::fail("io_uring_submit_and_wait: %s", strerror(-ret));
        unsigned head;
        unsigned seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            std::uint64_t data = io_uring_cqe_get_data64(cqe);
            int fd = static_cast<int>(data >> 8);
            switch (static_cast<op_kind>(data & 0xff)) {
            case op_accept:
                on_accept(cqe->res);
                break;
            case op_recv:
                on_recv(fd, cqe->res, cqe->flags);
                break;
            case op_send:
                on_send(fd, cqe->res);
                break;
            case op_stop:
                stop_ = true;
                break;
            }
        }
        io_uring_cq_advance(&ring_, seen);
    }
}

} // namespace

int main(int argc, char** argv) {
    bench::options opt;
    if (!bench::parse_options(argc, argv, opt, "srv_uring")) return 2;
    const bool readv_fixed = opt.variant == "readv_fixed";
    const bool fixed_files = opt.variant == "recv_fixed_file";
    const bool multishot = opt.variant == "recv_multishot";
    if (!readv_fixed && !fixed_files && !multishot && !opt.variant.empty() && opt.variant != "recv")
        bench::fail("--variant must be recv, readv_fixed, recv_fixed_file or recv_multishot, "
                    "got %s",
                    opt.variant.c_str());
    if (multishot && opt.mode != bench::mode::echo)
        bench::fail("--variant recv_multishot serves echo only");
    if (!opt.backend.empty() || opt.posted != 1)
        bench::fail("--backend and --posted K>1 are not supported by srv_uring");
    std::size_t max_fds = bench::raise_fd_limit();
    bench::ignore_sigpipe();
    int stop_fd = bench::make_stop_signalfd();
    std::uint16_t port = 0;
    int listen_fd = bench::open_listener(opt.port, port, false);
    if (listen_fd < 0) return 1;
    server srv(opt, readv_fixed, fixed_files, multishot, max_fds);
    bench::print_ready(port);
    srv.run(listen_fd, stop_fd);
    return 0;
}
