// SPDX-License-Identifier: MIT
// server_common: what every benchmark server (srv_epoll, srv_asio, srv_uring, srv_sanport)
// shares, so that the servers differ only in their event loop: the command line of the bench
// spec, the RLIMIT_NOFILE raise, an identical listener (127.0.0.1, SO_REUSEADDR, backlog
// 4096), the `ready <port>` line, SIGINT/SIGTERM handling and the 16-byte sink reply.
//
// Plain C++20 and POSIX only (no liburing, no Boost), so any server can link it.

#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bench {

enum class mode { echo, sink };

struct options {
    int port = 0;                         // 0: the kernel picks
    bench::mode mode = bench::mode::echo; // --mode echo|sink
    std::size_t buffer = 65536;           // receive buffer per connection (bytes)
    int posted = 1;                       // receives posted per connection (srv_sanport only)
    std::string variant;                  // server-specific, empty = the server's default
    std::string backend;                  // srv_sanport only, empty = its default
    // srv_sanport only: wait at most this long per dequeue (default: no limit). Under valgrind
    // a thread blocked in io_uring_enter holds valgrind's lock, so the acceptor and signal
    // threads run only when the wait returns: the callgrind pass sets it.
    int poll_ms = -1;
    // srv_sanport only: --engine thread runs the engine on its own thread (the default engine's
    // model), so every WSPRecv/WSPSend of the main thread is handed to that thread.
    bool engine_thread = false;
};

// Parses the spec's command line (`--opt value` or `--opt=value`) into out; prog names the
// server in messages. Unknown options, missing or malformed values print a usage line to
// stderr and return false (the caller exits with status 2).
bool parse_options(int argc, char** argv, options& out, const char* prog);

// Prints "<prog>: <message>" to stderr and exits 1.
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Raises the RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit.
std::size_t raise_fd_limit();

// A TCP listener on 127.0.0.1:port with SO_REUSEADDR and backlog 4096 (SOMAXCONN), optionally
// non-blocking. Stores the bound port (useful with port 0) in bound_port. On error prints why
// to stderr and returns -1.
int open_listener(int port, std::uint16_t& bound_port, bool nonblocking = false);

// Prints exactly "ready <port>\n" on stdout and flushes it.
void print_ready(unsigned port);

// Blocks SIGINT and SIGTERM in the calling thread and returns that set. Call it before any
// thread is started, so every thread inherits the mask; then sigwait() on the set in a
// dedicated thread, or use make_stop_signalfd().
sigset_t block_stop_signals();

// block_stop_signals(), then a non-blocking, close-on-exec signalfd that becomes readable when
// either signal arrives. An event loop waits on it together with its sockets, so a stop is
// noticed at once even when idle, without a timeout and without the race between testing a
// flag and going to sleep.
int make_stop_signalfd();

// SIGPIPE off for the whole process: a peer that resets must not kill the server.
void ignore_sigpipe();

// TCP_NODELAY on an accepted socket (exits on failure other than a peer that already left).
void set_nodelay(int fd);

// The sink reply: uint64 bytes received, uint64 data-carrying receive completions, host order.
constexpr std::size_t sink_reply_size = 16;
void encode_sink_reply(unsigned char* out, std::uint64_t bytes, std::uint64_t receives);

// Sends the sink reply on fd (blocking or not), waiting at most 1 s for send-buffer space.
// The connection is at its end, so this is off the hot path. False if the peer went away.
bool send_sink_reply(int fd, std::uint64_t bytes, std::uint64_t receives);

// An anonymous private mapping with MAP_NORESERVE: pages cost nothing until first touched, so
// per-connection buffer slices for 10,000+ connections can be laid out up front.
char* map_region(std::size_t bytes);

// Errors a peer causes (reset, broken pipe, ...): such a connection is closed quietly.
bool is_peer_error(int err);

} // namespace bench
