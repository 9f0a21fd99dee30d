// SPDX-License-Identifier: MIT
// The engine loop and the hand-off from other threads (see engine_impl.hpp).
#include "core/engine_impl.hpp"

#include "core/completion_queue_impl.hpp"
#include "core/socket_table.hpp"
#include "core/sys.hpp"
#include "core/transfer.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace sanport::detail {

namespace {

// engine.orphan: what stays of a backend once its ring or reactor was released on a thread
// that is not the owner. Nothing reaches the OS any more: a start fails at once, and reap hands
// back, once each, the requests that were in flight, aborted - only for sockets whose close
// began, so no other socket reads them as its own cancel.
class inert_backend final : public backend {
public:
    explicit inert_backend(std::size_t regions) : regions_(regions) {}
    const char* name() const noexcept override { return "closed"; }
    int bind_thread() noexcept override { return 0; }
    int attach(SOCKET, void*&) noexcept override { return WSAENETDOWN; }
    void detach(SOCKET, void*) noexcept override {}
    bool start(io_request& request, io_completion& done) noexcept override {
        done = io_completion{&request, WSAENETDOWN, 0, false};
        return true;
    }
    void cancel(SOCKET, void*, io_request&, io_request&) noexcept override {}
    void cancel_request(io_request&) noexcept override {}
    std::size_t max_regions() const noexcept override { return regions_; }
    bool add_region(std::int32_t, void*, std::size_t) noexcept override { return false; }
    void remove_region(std::int32_t) noexcept override {}
    std::size_t reap(io_completion* out, std::size_t max, int) noexcept override {
        std::size_t n = 0;
        for (auto it = aborted.begin(); it != aborted.end() && n < max;) {
            auto* s = static_cast<socket_state*>(it->request->owner);
            bool closing = false;
            {
                std::lock_guard lock(s->mutex);
                closing = s->closing;
            }
            if (!closing) {
                ++it;
                continue;
            }
            out[n++] = *it;
            it = aborted.erase(it);
        }
        return n;
    }
    void wake() noexcept override {}

    std::vector<io_completion> aborted;

private:
    std::size_t regions_;
};

} // namespace

engine_impl::engine_impl(std::unique_ptr<backend> b, std::string why_not, bool own_thread)
    : backend_(std::move(b)), why_(std::move(why_not)), own_thread_(own_thread),
      started_(backend_ != nullptr),
      starts_anywhere_(backend_ != nullptr && backend_->starts_on_any_thread()) {
    watch_fork();
    if (backend_) slots_.assign(backend_->max_regions(), 0);
    if (!own_thread) owner_ = std::this_thread::get_id(); // engine.owner
    if (backend_ && own_thread) thread_ = std::thread([this] { thread_main(); });
}

engine_impl::~engine_impl() {
    stop();
    // The ring may still name the signal (signal_completions): it keeps its own reference.
    sys::close_descriptor(ready_signal_);
    sys::close_descriptor(ready_deadline_);
}

void engine_impl::stop() {
    if (stopping_.exchange(true)) return;
    if (thread_.joinable()) {
        backend_->wake();
        thread_.join();
    }
}

void engine_impl::thread_main() {
    driver_.store(std::this_thread::get_id(), std::memory_order_release);
    while (!stopping_.load(std::memory_order_acquire))
        run_once(-1);
}

int engine_impl::take_ownership() noexcept {
    if (own_thread_) {
        set_error_detail("engine::take_ownership: the engine runs its own thread");
        return WSAEINVAL;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    const std::thread::id me = std::this_thread::get_id();
    const std::thread::id current = driver_.load(std::memory_order_acquire);
    if (current == std::thread::id{}) {
        owner_ = me;
        return 0;
    }
    if (current == me) return 0;
    set_error_detail("engine::take_ownership: another thread already drove the engine");
    return WSAEINVAL;
}

void engine_impl::add_queue(const std::shared_ptr<completion_queue_impl>& q) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(queues_, [](const auto& w) { return w.expired(); });
    queues_.push_back(q);
}

void engine_impl::retire() {
    stop();
    // Commands the engine's thread stopped before running (the regions the closes above
    // retired) run here, while the backend is still there: each frees what it owns.
    std::vector<std::function<void()>> leftover;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        leftover.swap(commands_);
    }
    for (auto& fn : leftover)
        fn();
    timers_.clear(); // timer.engine-gone: nothing fires any more
    std::vector<std::weak_ptr<completion_queue_impl>> queues;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queues.swap(queues_);
    }
    for (const auto& w : queues)
        if (auto q = w.lock()) q->shutdown();
    // No thread drives any more (stopping_ is set, so can_drive() is false and nobody sleeps
    // in reap): the ring or reactor and its descriptors can go now, not with the last queue.
    backend_.reset();
}

bool engine_impl::can_drive() noexcept {
    if (!started_ || stopping_.load(std::memory_order_acquire)) return false;
    if (own_thread_) return on_engine_thread();
    // Read first: once claimed, every call would otherwise pay a locked compare-exchange.
    const std::thread::id me = std::this_thread::get_id();
    const std::thread::id current = driver_.load(std::memory_order_acquire);
    if (current == me) return true;
    if (current != std::thread::id{}) return false;
    // Not driven yet: only the owner binds, under the lock take_ownership takes.
    std::lock_guard<std::mutex> lock(mutex_);
    if (owner_ != me || driver_.load(std::memory_order_relaxed) != std::thread::id{}) return false;
    driver_.store(me, std::memory_order_release);
    return true;
}

void engine_impl::bind_thread_once() {
    if (bound_.load(std::memory_order_acquire)) return;
    backend_->bind_thread();
    bound_.store(true, std::memory_order_release);
}

int engine_impl::run_once(int timeout_ms) {
    if (!can_drive()) {
        set_error_detail(
            !started_ || stopping_.load(std::memory_order_acquire) ? "engine::run_once: the engine "
                                                                     "did not start or stopped"
            : own_thread_ ? "engine::run_once: the engine runs its own thread"
                          : "engine::run_once: the engine is driven by another thread (its "
                            "owner); call engine::take_ownership() before it is first driven");
        return -1;
    }
    bind_thread_once();
    if (outside_) begin_outside_drive();
    drain_commands();
    drain_kicks();
    // timer.fire: the wait ends at the nearest deadline. The generation is read first, so a
    // timer armed earlier by another thread after the clamp is seen below.
    const std::uint32_t timers_seen = timers_.generation();
    timeout_ms = timers_.clamp(timeout_ms);
    if (timeout_ms != 0 && direct_sink_filled()) timeout_ms = 0; // the dequeue has its packets
    if (timeout_ms != 0) {
        // Dekker pair with kick()/post_command()/arm_timer(): either they see us asleep and
        // wake us, or we see their work here and do not sleep.
        sleeping_.store(true, std::memory_order_seq_cst);
        const std::uint32_t packets = packets_.load(std::memory_order_seq_cst);
        if (kicks_.load(std::memory_order_seq_cst) ||
            commands_pending_.load(std::memory_order_seq_cst) ||
            stopping_.load(std::memory_order_seq_cst) || packets != packets_seen_ ||
            timers_.generation() != timers_seen)
            timeout_ms = 0;
        packets_seen_ = packets;
    }
    const std::size_t n = reap_and_dispatch(timeout_ms);
    if (n != 0) bump_completion_generation();
    timers_.fire_due();
    drain_kicks();
    finish_ready_closes();
    if (outside_) end_outside_drive(n == std::size(batch_));
    return static_cast<int>(n);
}

std::size_t engine_impl::reap_and_dispatch(int timeout_ms) {
    const std::size_t n = backend_->reap(batch_, std::size(batch_), timeout_ms);
    sleeping_.store(false, std::memory_order_relaxed);
    // Waiters (WSPGetOverlappedResult, a closer waiting for busy == 0) re-check after one bump
    // per batch: a seq_cst increment per completion was a locked instruction per completion.
    set_generation_bumps_deferred(true);
    for (std::size_t i = 0; i < n; ++i)
        dispatch(batch_[i]);
    set_generation_bumps_deferred(false);
    return n;
}

void engine_impl::dispatch(const io_completion& c) {
    auto* s = static_cast<socket_state*>(c.request->owner);
    std::lock_guard lock(s->mutex);
    if (c.request == &s->recv.request) {
        if (c.request->kind == io_kind::accept) [[unlikely]]
            accept_done(*s, c);
        else
            recv_done(*s, c);
    } else if (c.request->kind == io_kind::connect) [[unlikely]] {
        connect_done(*s, c);
    } else {
        send_done(*s, c);
    }
    // A closer that reads busy == 0 takes s->mutex before it recycles s (finish_close), so the
    // unlock below is still ours. run_once bumps the completion generation after the batch,
    // which wakes that closer.
    busy_add(*s, -1);
}

void engine_impl::wake_if_sleeping() noexcept {
    if (sleeping_.load(std::memory_order_seq_cst))
        backend_->wake();
    else
        nudge(); // cq.readiness: the owner may wait in a loop of its own
}

void engine_impl::note_packet() noexcept {
    // The same Dekker pair as kick(): the increment, then the look at sleeping_.
    packets_.fetch_add(1, std::memory_order_seq_cst);
    wake_if_sleeping();
}

void engine_impl::kick(socket_state& s) {
    if (!s.kick_queued) {
        s.kick_queued = true;
        s.refs.fetch_add(1, std::memory_order_acq_rel); // the kick list holds a reference
        socket_state* head = kicks_.load(std::memory_order_relaxed);
        do {
            s.next_kick = head;
        } while (!kicks_.compare_exchange_weak(head, &s, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
    }
    wake_if_sleeping();
}

void engine_impl::drain_kicks() {
    if (!kicks_.load(std::memory_order_relaxed)) return; // the usual case: no locked exchange
    socket_state* list = kicks_.exchange(nullptr, std::memory_order_acquire);
    std::uint64_t handed = 0;
    // The list is LIFO; order between sockets does not matter, within a socket the FIFO does.
    while (list) {
        ++handed;
        socket_state* s = list;
        list = s->next_kick;
        {
            std::lock_guard lock(s->mutex);
            s->kick_queued = false;
            s->next_kick = nullptr;
            if (s->cancel_wanted) {
                s->cancel_wanted = false;
                if (s->recv.in_flight || s->send.in_flight)
                    backend_->cancel(s->handle(), s->backend_socket(), s->recv.request,
                                     s->send.request);
            }
            if (std::exchange(s->recv.cancel_wanted, false)) cancel_head_request(*s, s->recv);
            if (std::exchange(s->send.cancel_wanted, false)) cancel_head_request(*s, s->send);
            if (std::exchange(s->recv.start_wanted, false)) recv_start(*s);
            if (std::exchange(s->send.start_wanted, false)) send_start(*s);
        }
        socket_ref release(s); // drops the kick list's reference
    }
    handoffs_.store(handoffs_.load(std::memory_order_relaxed) + handed, std::memory_order_relaxed);
}

void engine_impl::want_recv_start(socket_state& s) {
    if (starts_here()) return recv_start(s);
    s.recv.start_wanted = true;
    kick(s);
}

void engine_impl::want_send_start(socket_state& s) {
    if (starts_here()) return send_start(s);
    s.send.start_wanted = true;
    kick(s);
}

void engine_impl::want_cancel(socket_state& s) {
    if (on_engine_thread()) {
        if (s.recv.in_flight || s.send.in_flight) {
            backend_->cancel(s.handle(), s.backend_socket(), s.recv.request, s.send.request);
            nudge(); // cq.readiness: submitted by the next drive
        }
        return;
    }
    s.cancel_wanted = true;
    kick(s);
}

int engine_impl::arm_timer(timer_state& t, std::int64_t deadline_ns,
                           const completion_entry& packet) noexcept {
    if (const int wsa = timers_.arm(t, deadline_ns, packet)) return wsa;
    wake_if_sleeping(); // the driver may sleep past the new deadline (run_once's Dekker pair)
    return 0;
}

void engine_impl::want_cancel_request(socket_state& s, direction& d) {
    if (on_engine_thread()) return cancel_head_request(s, d);
    d.cancel_wanted = true;
    kick(s);
}

void engine_impl::cancel_head_request(socket_state& s, direction& d) noexcept {
    // The head may have completed (and another started) since the cancel was asked for: only
    // a head still marked cancelled, still in the kernel, is stopped.
    if (head_in_kernel(s, d) && !d.ops.empty() && d.ops.front().cancelled) {
        backend_->cancel_request(d.request);
        nudge(); // cq.readiness: submitted by the next drive
    }
}

void engine_impl::post_command(std::function<void()> fn) {
    if (on_engine_thread()) return fn();
    {
        std::lock_guard lock(mutex_);
        commands_.push_back(std::move(fn));
    }
    commands_pending_.store(true, std::memory_order_seq_cst);
    wake_if_sleeping();
}

void engine_impl::drain_commands() {
    // Read first: the usual case (no command) then costs no locked exchange per run_once.
    if (!commands_pending_.load(std::memory_order_relaxed)) return;
    if (!commands_pending_.exchange(false, std::memory_order_acq_rel)) return;
    std::vector<std::function<void()>> todo;
    {
        std::lock_guard lock(mutex_);
        todo.swap(commands_);
    }
    handoffs_.store(handoffs_.load(std::memory_order_relaxed) + todo.size(),
                    std::memory_order_relaxed);
    for (auto& fn : todo)
        fn();
}

std::int32_t engine_impl::reserve_slot() noexcept {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i]) {
            slots_[i] = 1;
            return static_cast<std::int32_t>(i);
        }
    }
    return -1;
}

void engine_impl::release_slot(std::int32_t slot) noexcept {
    std::lock_guard lock(mutex_);
    if (slot >= 0 && static_cast<std::size_t>(slot) < slots_.size()) slots_[slot] = 0;
}

void engine_impl::link(socket_state& s) {
    std::lock_guard lock(mutex_);
    s.engine_prev = nullptr;
    s.engine_next = sockets_;
    if (sockets_) sockets_->engine_prev = &s;
    sockets_ = &s;
}

void engine_impl::unlink(socket_state& s) {
    std::lock_guard lock(mutex_);
    if (s.engine_prev)
        s.engine_prev->engine_next = s.engine_next;
    else if (sockets_ == &s)
        sockets_ = s.engine_next;
    if (s.engine_next) s.engine_next->engine_prev = s.engine_prev;
    s.engine_prev = s.engine_next = nullptr;
}

std::vector<SOCKET> engine_impl::sockets() {
    std::lock_guard lock(mutex_);
    std::vector<SOCKET> all;
    for (socket_state* s = sockets_; s; s = s->engine_next) {
        // A close already left to the owner is finished by finish_pending_closes; its number
        // may name another socket by now (stale.retire.driven), which a close here would end.
        const bool closing_later = std::any_of(
            closes_.begin(), closes_.end(), [s](const pending_close& c) { return c.socket == s; });
        if (!closing_later) all.push_back(s->handle());
    }
    return all;
}

void engine_impl::wait_until(const std::function<bool()>& pred) {
    // engine.owner.waits: the engine's thread, or a driven engine's owner (also before its
    // first drive, which binds it), drives while it waits. No other thread ever drives: the ring
    // binds to one thread (SINGLE_ISSUER), and a closer or blocking caller would steal it.
    if (can_drive()) {
        while (!pred())
            run_once(10);
        return;
    }
    // Another thread drives: completions bump the generation counter, so wait on it.
    auto& generation = completion_generation();
    while (!pred()) {
        const std::uint32_t seen = generation.load(std::memory_order_acquire);
        if (pred()) return;
        wait_completion_generation(seen);
    }
}

} // namespace sanport::detail

namespace sanport::detail {

bool engine_impl::owner_elsewhere() noexcept {
    return !own_thread_ && started_ && !stopping_.load(std::memory_order_acquire) && !can_drive();
}

void engine_impl::close_later(socket_state& s, std::function<void()> finish) {
    {
        std::lock_guard lock(mutex_);
        closes_.push_back({&s, std::move(finish)});
    }
    // The owner finishes it at the end of its next drive; make sure that drive comes.
    commands_pending_.store(true, std::memory_order_seq_cst);
    wake_if_sleeping();
}

void engine_impl::finish_ready_closes() {
    if (finishing_closes_) return;
    std::vector<pending_close> ready;
    {
        std::lock_guard lock(mutex_);
        if (closes_.empty()) return;
        std::erase_if(closes_, [&](pending_close& c) {
            if (c.socket->busy.load(std::memory_order_acquire) != 0 ||
                c.socket->refs.load(std::memory_order_acquire) > 1)
                return false;
            ready.push_back(std::move(c));
            return true;
        });
    }
    finishing_closes_ = true;
    for (auto& c : ready)
        c.finish();
    finishing_closes_ = false;
}

void engine_impl::finish_pending_closes() {
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (closes_.empty()) return;
        }
        if (!can_drive()) return; // not the owner: nothing to do but leave them (never here)
        run_once(10);
    }
}

void engine_impl::orphan() {
    if (own_thread_ || !backend_) return;
    if (backend_->reaps_on_any_thread()) {
        // A completion port is bound to no thread: this one becomes the driver, and the closes
        // that follow cancel and reap every request as the owner would, bytes included. Its
        // requests must be reaped, never dropped: the OS still writes into their OVERLAPPEDs.
        std::lock_guard lock(mutex_);
        owner_ = std::this_thread::get_id();
        driver_.store(owner_, std::memory_order_release);
        return;
    }
    auto inert = std::make_unique<inert_backend>(backend_->max_regions());
    inert_backend* dead = inert.get();
    std::unique_ptr<backend> released;
    {
        std::lock_guard lock(mutex_);
        released = std::move(backend_);
        backend_ = std::move(inert);
        owner_ = std::this_thread::get_id();
        driver_.store(owner_, std::memory_order_release);
        bound_.store(true, std::memory_order_release);
    }
    // Closing the ring makes the kernel cancel every request and wait for it; Asio's reactor
    // drops its waits unrun. Either way none of them is ever reported.
    const backend::socket_freer free_socket = released->freer();
    released.reset();
    std::vector<socket_state*> all;
    {
        std::lock_guard lock(mutex_);
        for (socket_state* s = sockets_; s; s = s->engine_next)
            all.push_back(s);
    }
    for (socket_state* s : all) {
        std::lock_guard lock(s->mutex);
        // What the released backend attached: the inert one's detach cannot free it.
        if (free_socket != nullptr && s->backend_socket() != nullptr)
            free_socket(s->backend_socket());
        s->set_backend_socket(nullptr);
        bind_requests(*s);
        if (s->recv.in_flight)
            dead->aborted.push_back({&s->recv.request, WSA_OPERATION_ABORTED, 0, false});
        if (s->send.in_flight)
            dead->aborted.push_back({&s->send.request, WSA_OPERATION_ABORTED, 0, false});
    }
}

} // namespace sanport::detail
