// SPDX-License-Identifier: MIT
// The public engine (sanport/engine.h): backend choice, the default engine, socket creation.
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace sanport {

using namespace detail;

namespace {

thread_local const char* error_detail = "";

} // namespace

namespace detail {
void set_error_detail(const char* why) noexcept {
    error_detail = why;
}
} // namespace detail

// engine.owner, diag.detail: the reason of this thread's last failing call that gave one.
const char* last_error_detail() noexcept {
    return error_detail;
}

namespace {

std::string forced_backend(const engine_options& options) {
    if (!options.backend.empty()) return options.backend;
    const char* env = std::getenv("SANPORT_BACKEND");
    return env ? std::string(env) : std::string();
}

constexpr int sock_stream = 1; // SOCK_STREAM on Linux and Windows alike

} // namespace

engine::engine(const engine_options& options) {
    std::string why;
    auto b = make_backend(forced_backend(options), options.queue_depth, why);
    impl_ = std::make_shared<engine_impl>(std::move(b), std::move(why), options.own_thread);
    // diag.messages: every engine that fell back says so once, driven ones included.
    if (impl_->status() == 0 && !impl_->why().empty())
        say("sanport: using the %s backend: %s", impl_->backend_name(), impl_->why().c_str());
}

engine::engine(std::unique_ptr<backend> b)
    : impl_(std::make_shared<engine_impl>(std::move(b), std::string(), false)) {}

engine::~engine() {
    // fork.parent-engine: its threads, ring and lock holders are the parent's. Leak it all on
    // purpose (a queue may hold it too): nothing of it is stopped, joined, locked or freed.
    if (impl_->from_parent()) {
        static_cast<void>(new std::shared_ptr<engine_impl>(std::move(impl_)));
        return;
    }
    // Close what the owner left open, so every operation still completes exactly once.
    if (impl_->status() == 0) {
        if (!impl_->has_own_thread()) {
            // Never driven: the destroying thread may drive it now (engine.owner). Driven by
            // another thread, maybe one that exited: drive it no more (engine.orphan).
            impl_->take_ownership();
            if (!impl_->can_drive()) impl_->orphan();
        }
        for (SOCKET s : impl_->sockets()) {
            int err = 0;
            WSPCloseSocket(s, &err);
        }
        // Closes other threads left to the owner (close.other-thread) finish here.
        impl_->finish_pending_closes();
    }
    // Completion queues may outlive it: they are shut down, and keep only an inert engine.
    impl_->retire();
}

int engine::status() const noexcept {
    return impl_->from_parent() ? WSAENETDOWN : impl_->status();
}
const std::string& engine::why() const noexcept {
    return impl_->why();
}
const char* engine::backend_name() const noexcept {
    return impl_->backend_name();
}

int engine::take_ownership() noexcept {
    if (impl_->from_parent()) return set_error_detail(parent_engine_detail), WSAENETDOWN;
    return impl_->take_ownership();
}

int engine::run_once(DWORD timeout_ms) {
    if (impl_->from_parent()) return set_error_detail(parent_engine_detail), -1;
    return impl_->run_once(timeout_ms == WSA_INFINITE ? -1 : static_cast<int>(timeout_ms));
}

void engine::wake() noexcept {
    if (impl_->status() == 0 && !impl_->from_parent()) impl_->wake_if_sleeping();
}

// diag.counters
engine::counters_snapshot engine::counters() const {
    counters_snapshot c;
    c.backend_fallbacks = impl_->status() == 0 && !impl_->why().empty() ? 1 : 0;
    c.stale_handles_retired = impl_->stale_retired.load(std::memory_order_relaxed);
    c.handoffs = impl_->handoffs();
    if (impl_->status() != 0 || impl_->from_parent()) return c;
    for (SOCKET s : impl_->sockets()) {
        const socket_ref sock = socket_table::instance().find(s);
        if (!sock || sock->engine != impl_.get()) continue; // closed meanwhile
        ++c.sockets_open;
        std::lock_guard lock(sock->mutex);
        for (op* o = sock->recv.ops.begin(); o; o = o->next)
            ++c.operations_pending;
        for (op* o = sock->send.ops.begin(); o; o = o->next)
            ++c.operations_pending;
    }
    return c;
}

SOCKET engine::socket(int af, int type, int protocol, DWORD flags, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    if (impl_->from_parent())
        return set_error_detail(parent_engine_detail), fail(lpErrno, WSAENETDOWN), INVALID_SOCKET;
    if (impl_->status() != 0) return fail(lpErrno, WSAENETDOWN), INVALID_SOCKET;
    // The specification: Windows Sockets Direct does not handle datagram sockets.
    if (type != sock_stream) return fail(lpErrno, WSAESOCKTNOSUPPORT), INVALID_SOCKET;
    SOCKET os = INVALID_SOCKET;
    if (const int wsa = sys::open_socket(af, type, protocol, os))
        return fail(lpErrno, wsa), INVALID_SOCKET;
    int wsa = 0;
    const SOCKET s =
        register_socket(*impl_, os, (flags & WSA_FLAG_OVERLAPPED) != 0, conn_state::fresh, af, wsa);
    if (s == INVALID_SOCKET) {
        sys::close(os);
        return fail(lpErrno, wsa), INVALID_SOCKET;
    }
    return s;
}

SOCKET engine::adopt(SOCKET os_socket, DWORD flags, LPINT lpErrno) {
    if (!lpErrno) return INVALID_SOCKET;
    if (impl_->from_parent())
        return set_error_detail(parent_engine_detail), fail(lpErrno, WSAENETDOWN), INVALID_SOCKET;
    if (impl_->status() != 0) return fail(lpErrno, WSAENETDOWN), INVALID_SOCKET;
    sys::socket_facts facts;
    if (const int wsa = sys::inspect(os_socket, facts)) return fail(lpErrno, wsa), INVALID_SOCKET;
    if (!facts.is_stream) return fail(lpErrno, WSAESOCKTNOSUPPORT), INVALID_SOCKET;
    const conn_state state = facts.listening   ? conn_state::listening
                             : facts.connected ? conn_state::connected
                             : facts.bound     ? conn_state::bound
                                               : conn_state::fresh;
    if (state == conn_state::connected) sys::prepare(os_socket);
    int wsa = 0;
    // stale.retire: adopting a number sanport still holds retires a stale entry.
    const SOCKET s = register_socket(*impl_, os_socket, (flags & WSA_FLAG_OVERLAPPED) != 0, state,
                                     facts.family, wsa, true);
    if (s == INVALID_SOCKET) return fail(lpErrno, wsa), INVALID_SOCKET;
    return s;
}

namespace {

struct default_state {
    engine* e = nullptr;
    std::string fallback;
};

// Never destroyed: sockets may still be used while static objects are torn down. A forked
// child empties the slot (fork.child) and its first call starts its own default engine.
constinit std::atomic<default_state*> default_slot{nullptr};
// Held while one thread starts the default engine; a flag, not a mutex, so that the fork
// handler can release it when the forking happened while another thread held it.
constinit std::atomic<bool> default_starting{false};

default_state& start_default() {
    while (default_starting.exchange(true, std::memory_order_acquire))
        std::this_thread::yield();
    default_state* d = default_slot.load(std::memory_order_acquire);
    if (!d) {
        d = new default_state;
        d->e = new engine(engine_options{});
        // The constructor said which backend runs when the preferred one was refused.
        if (d->e->status() != 0)
            say("sanport: no backend could start: %s", d->e->why().c_str());
        else
            d->fallback = d->e->why();
        default_slot.store(d, std::memory_order_release);
    }
    default_starting.store(false, std::memory_order_release);
    return *d;
}

default_state& the_default() {
    default_state* d = default_slot.load(std::memory_order_acquire);
    return d ? *d : start_default();
}

// fork.child: runs in the child, on its only thread, before fork() returns there. Only plain
// atomic stores: the parent's table, default engine and waiters are left as they are (leaked),
// since the threads that could finish with them, or that hold their locks, do not exist here.
void on_fork_child() {
    process_generation.fetch_add(1, std::memory_order_relaxed);
    socket_table::forget_parent();
    forget_parent_waiters();
    forget_parent_route();
    forget_parent_op_pool();
    default_slot.store(nullptr, std::memory_order_relaxed);
    default_starting.store(false, std::memory_order_relaxed);
}

constinit std::atomic<bool> fork_watched{false};

} // namespace

namespace detail {
void watch_fork() noexcept {
    if (fork_watched.load(std::memory_order_relaxed)) return;
    if (!fork_watched.exchange(true, std::memory_order_acq_rel)) sys::at_fork_child(&on_fork_child);
}
} // namespace detail

// startup.embedded: the first call of any entry point starts it.
engine& default_engine() {
    return *the_default().e;
}
const char* running_backend() {
    return default_engine().backend_name();
}
const std::string& backend_fallback_reason() {
    return the_default().fallback;
}

} // namespace sanport
