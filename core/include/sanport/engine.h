// SPDX-License-Identifier: MIT
// sanport/engine.h: who runs the OS side of overlapped operations.
//
// An engine owns one backend (io_uring, Boost.Asio or IOCP), the sockets made on it and the
// thread that reaps the kernel's completions. Two ways to run one:
//  - the default engine: started by the first WSP call, with its own completion thread;
//  - an engine a server owns with `own_thread = false`, driven from the server's one thread
//    (completion_queue::dequeue or engine::run_once). Everything then happens on that thread:
//    no hand-off, no wake-up syscall, no lock contention.
//
// Ownership of a driven engine (engine.owner in docs/contract.md): its owner is the thread that
// constructed it, unless another thread calls take_ownership() before the engine was first
// driven. Only the owner drives it (io_uring binds the ring to one thread). From any other
// thread, a call that would have to drive fails at once instead of waiting for the owner:
// run_once returns -1 and dequeue returns 0, both with last_error_detail() saying why. On the
// owner, every call that waits (a blocking WSPRecv/WSPSend, WSPGetOverlappedResult with fWait)
// drives the engine while it waits (engine.owner.waits). From another thread, a blocking
// WSPRecv/WSPSend on a socket with nothing of that direction pending is served on the calling
// thread, without the engine (engine.other-thread.blocking); with something pending it fails
// at once with WSAEINVAL (engine.other-thread.busy). Other calls from other threads are
// allowed and handed to the owner, whose next drive carries them out: WSPCloseSocket from
// another thread returns at once and the socket's pending operations complete then
// (close.other-thread). Destroying the engine on a thread that is not its owner (for example
// after the owner exited) completes every pending operation, aborted (engine.orphan).
//
// Lifetime (engine.lifetime in docs/contract.md): destroying an engine closes every socket
// still open on it, so each pending operation completes exactly once (aborted), then stops
// its thread and releases the ring or reactor. Its SOCKET values and memory handles are
// unknown afterwards. A completion_queue made on it may outlive it and is then shut down.
//
// fork() (fork.child, fork.parent-engine): in the child, every SOCKET of the parent is unknown
// (WSAENOTSOCK; its descriptor stays open, a plain one) and the first call that needs the
// default engine starts a fresh one. Engines the parent made, and their completion queues, are
// inert there: calls fail at once (WSAENETDOWN, or 0 packets) and destroying them leaks their
// state without touching threads, rings or locks that did not survive the fork.
#pragma once

#include <sanport/compat.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sanport {

namespace detail {
class engine_impl;
class backend;
} // namespace detail

struct engine_options {
    bool own_thread = true;      // false: the owner drives it with run_once/dequeue
    unsigned queue_depth = 4096; // kernel submission queue entries (io_uring)
    std::string backend;         // "", "io_uring", "asio", "iocp"; "" reads SANPORT_BACKEND
};

class engine {
public:
    explicit engine(const engine_options& options = {});
    ~engine();
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // 0 when the backend started, else WSAENETDOWN; why() says what the OS refused.
    int status() const noexcept;
    const std::string& why() const noexcept;
    // "io_uring", "asio", "iocp" (or "fake" in sanport's unit tests); "" if none started.
    const char* backend_name() const noexcept;

    // Driven engines only, from the one driving thread: reap and dispatch completions, waiting
    // up to timeout_ms (0 = poll, WSA_INFINITE) for at least one. Returns how many kernel
    // completions were handled, or -1 if called on the wrong thread or after stop().
    int run_once(DWORD timeout_ms);
    // Driven engines: makes the calling thread the owner, if nobody drove the engine yet (an
    // engine built on one thread and run by another). 0, or WSAEINVAL when another thread
    // already drove it, or the engine runs its own thread.
    int take_ownership() noexcept;
    // Wakes a waiting run_once/dequeue from any thread.
    void wake() noexcept;

    // diag.counters: what a server can log about this engine. Callable from any thread; it
    // locks each socket briefly, so call it now and then, not per operation.
    struct counters_snapshot {
        // Snapshots (may change while they are read): sockets open on the engine, and
        // receives and sends accepted (WSA_IO_PENDING) and not completed yet.
        std::uint64_t sockets_open = 0;
        std::uint64_t operations_pending = 0;
        // Exact: 1 when the preferred backend (io_uring) was refused and another runs.
        std::uint64_t backend_fallbacks = 0;
        // Exact: entries of sockets closed behind sanport's back and retired (stale.retire).
        std::uint64_t stale_handles_retired = 0;
        // Exact up to the engine's last drive: requests another thread handed to the engine
        // thread (a socket kicked to start or cancel a request, a command such as a close).
        std::uint64_t handoffs = 0;
    };
    counters_snapshot counters() const;

    // Sockets on this engine (WSPSocket and WSPAdoptSocket use the default engine).
    SOCKET socket(int af, int type, int protocol, DWORD flags, LPINT lpErrno);
    SOCKET adopt(SOCKET os_socket, DWORD flags, LPINT lpErrno);

    // engine.take: moves s, a socket of another engine, into this one (the engine-per-core
    // pattern: accept on one engine, serve on another); s keeps its value. Any thread. Only an
    // idle socket moves: nothing queued or in the kernel, no data read ahead, no registered
    // memory, not associated with a completion queue (associate it with one of this engine's
    // afterwards). 0, WSAENOTSOCK, WSAENETDOWN (this engine did not start), WSAEINVAL with
    // last_error_detail() saying what holds it, or the new backend's refusal (WSAENOBUFS); on
    // Windows every move is refused (a socket stays with its first completion port for life),
    // so make the socket on the engine that will serve it. Call it from the thread that owns
    // the socket's calls: a call on the socket racing the move (a post, a registration) may
    // land on either engine.
    int take(SOCKET s);

    detail::engine_impl& impl() noexcept { return *impl_; }
    // For sanport's own tests: an engine on a backend built by the caller (driven mode).
    explicit engine(std::unique_ptr<detail::backend> backend);

private:
    std::shared_ptr<detail::engine_impl> impl_;
};

// diag.detail: why the calling thread's last failing sanport call failed, where one code has
// several causes (a socket of another engine or one already associated, a listener that is not
// listening, a receive on a socket made without WSA_FLAG_OVERLAPPED, a wrong thread for a driven
// engine, ...): a fixed English sentence, "" when no failing call on this thread gave one.
// Like WSAGetLastError, a call that succeeds leaves it alone, and a failing call whose code has
// one cause may leave an older sentence in place: it describes the last *failing* call that
// gave one, so read it right after the failure you are explaining.
const char* last_error_detail() noexcept;

// diag.messages: the rare lines sanport says on its own (the backend it fell back to, a stale
// handle retired, ...): one line at a time, without a trailing newline, starting "sanport: ".
// By default they go to stderr (write_message_to_stderr). set_message_handler routes them to
// `handler(context, line)`, or silences them with nullptr; callable from any thread at any time.
// Lines are delivered one at a time, on the thread that says them (any thread, the engine's
// included), so the handler must be thread-safe, return promptly and not call sanport; once
// set_message_handler returns, the previous handler is never called again.
using message_handler = void (*)(void* context, const char* line);
void set_message_handler(message_handler handler, void* context) noexcept;
void write_message_to_stderr(void* context, const char* line);

// The embedded default engine, started on first use (own completion thread).
engine& default_engine();

// Name of the backend the default engine runs, and, once, why it is not the preferred one
// ("" when io_uring started). Starting the default engine says that reason once (diag.messages),
// and so does every other engine that falls back.
const char* running_backend();
const std::string& backend_fallback_reason();

} // namespace sanport
