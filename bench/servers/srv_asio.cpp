// SPDX-License-Identifier: MIT
// srv_asio: the Boost.Asio reference server of the bench harness: the portable
// fallback a server author would pick instead of sanport (Debian's Boost 1.74, epoll reactor).
//
// Written the way the Asio examples teach it: one io_context run by one thread, async_accept,
// a session object owned by shared_ptr captured in the completion handlers, async_read_some
// into the session's buffer, async_write of exactly the bytes received, then read again.
//
// Handler allocation: no custom allocator. A typical author does not write one, and Asio 1.74
// already recycles the memory of small handlers through a per-thread cache
// (thread_info_base), so the steady state does not call malloc per operation anyway.
//
// Why the rest:
// - The listener comes from server_common (assigned to the acceptor) so every server listens
//   identically (127.0.0.1, SO_REUSEADDR, backlog 4096).
// - io_context(1): the concurrency hint an author gives for a single-threaded loop.
// - The receive buffer is allocated per session (--buffer bytes, left uninitialised), so idle
//   connections only cost the pages they touch.
// - SIGINT/SIGTERM through asio::signal_set: the loop is woken at once, even when idle.

#include <cstdint>
#include <memory>
#include <utility> // before Boost: 1.74's asio/awaitable.hpp uses std::exchange without it

#include "server_common.hpp"

#define BOOST_ASIO_NO_DEPRECATED
#include <boost/asio.hpp>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket socket, const bench::options& opt)
        : socket_(std::move(socket)), mode_(opt.mode), size_(opt.buffer),
          buffer_(std::make_unique_for_overwrite<char[]>(opt.buffer)) {}

    void start() { read(); }

private:
    void read() {
        socket_.async_read_some(
            asio::buffer(buffer_.get(), size_),
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                self->on_read(ec, n);
            });
    }

    void on_read(boost::system::error_code ec, std::size_t n) {
        if (ec) {
            if (ec == asio::error::eof && mode_ == bench::mode::sink) send_reply();
            return; // eof or reset: the last shared_ptr goes away and the socket closes
        }
        if (mode_ == bench::mode::sink) {
            bytes_ += n;
            ++receives_;
            read();
            return;
        }
        asio::async_write(socket_, asio::buffer(buffer_.get(), n),
                          [self = shared_from_this()](boost::system::error_code wec, std::size_t) {
                              if (!wec) self->read();
                          });
    }

    void send_reply() {
        bench::encode_sink_reply(reply_, bytes_, receives_);
        asio::async_write(socket_, asio::buffer(reply_),
                          [self = shared_from_this()](boost::system::error_code, std::size_t) {
                              boost::system::error_code ignored;
                              self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                          });
    }

    tcp::socket socket_;
    bench::mode mode_;
    std::size_t size_;
    std::unique_ptr<char[]> buffer_;
    std::uint64_t bytes_ = 0;
    std::uint64_t receives_ = 0;
    unsigned char reply_[bench::sink_reply_size]{};
};

class server {
public:
    server(asio::io_context& io, int listen_fd, const bench::options& opt)
        : acceptor_(io, tcp::v4(), listen_fd), opt_(opt) {}

    void accept() {
        acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
            if (!ec) {
                boost::system::error_code ignored;
                socket.set_option(tcp::no_delay(true), ignored);
                std::make_shared<session>(std::move(socket), opt_)->start();
            } else if (ec == asio::error::operation_aborted) {
                return;
            } else if (ec != asio::error::connection_aborted && ec != asio::error::interrupted &&
                       ec != asio::error::connection_reset) {
                bench::fail("accept: %s", ec.message().c_str());
            }
            accept();
        });
    }

private:
    tcp::acceptor acceptor_;
    bench::options opt_;
};

} // namespace

int main(int argc, char** argv) {
    bench::options opt;
    if (!bench::parse_options(argc, argv, opt, "srv_asio")) return 2;
    if (!opt.variant.empty() || !opt.backend.empty() || opt.posted != 1)
        bench::fail("--variant, --backend and --posted K>1 are not supported by srv_asio");
    bench::raise_fd_limit();
    bench::ignore_sigpipe();
    std::uint16_t port = 0;
    int listen_fd = bench::open_listener(opt.port, port, false);
    if (listen_fd < 0) return 1;

    asio::io_context io(1);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](boost::system::error_code, int) { io.stop(); });
    server srv(io, listen_fd, opt);
    srv.accept();
    bench::print_ready(port);
    io.run();
    return 0;
}
