// SPDX-License-Identifier: MIT
// The Boost.Asio reactor backend: attach, start, cancel, reap, wake.
//
// Invariant: start() tries the transfer (or accept) inline first and reports it at once when the
// kernel had something to say; only "nothing now" (WSAEWOULDBLOCK) arms an async_wait, whose
// handler retries and re-arms until the kernel answers, or reports WSA_OPERATION_ABORTED once after
// cancel(). Handlers run on the engine thread inside reap() and only queue completions.

#include "backends/asio/asio_backend.hpp"

#include "backends/asio/asio_make.hpp"
#include "core/sys.hpp"

#include <sanport/compat.h>

#include <cerrno>
#include <chrono>
#include <new>
#include <utility>

namespace sanport::detail {

namespace {

// One reap() hands out at most this many queued completions without growing the queue.
constexpr std::size_t asio_ready_reserve = 256;

} // namespace

asio_backend::asio_backend() : work_(boost::asio::make_work_guard(ctx_)) {
    ready_.reserve(asio_ready_reserve);
}

asio_backend::~asio_backend() {
    work_.reset();
    // Every socket is closed by now: deregistering by number can no longer hit a live one.
    for (asio_socket* socket : kept_) {
        socket->descriptor.release();
        delete socket;
    }
}

namespace {

// The wait handler: which socket and direction became ready, and where its operation lives.
struct asio_ready_handler {
    using allocator_type = asio_slot_allocator<void>;
    asio_backend* backend;
    asio_socket* socket;
    asio_direction* direction;
    allocator_type get_allocator() const noexcept {
        return allocator_type(socket->slot_of(*direction), &direction->slot_taken);
    }
    void operator()(const boost::system::error_code& ec) const noexcept {
        backend->on_ready(*socket, *direction, ec);
    }
};

} // namespace

int asio_backend::attach(SOCKET s, void*& backend_socket) noexcept {
    auto* socket = new (std::nothrow) asio_socket(ctx_);
    if (socket == nullptr) return WSAENOBUFS;
    boost::system::error_code ec;
    // Registers the fd with the reactor (epoll_ctl ADD); the reactor locks, so any thread.
    socket->descriptor.assign(static_cast<int>(s), ec);
    if (ec) {
        delete socket;
        return ec.value() == ENOMEM ? WSAENOBUFS : wsa_from_transfer_errno(ec.value());
    }
    backend_socket = socket;
    return 0;
}

void asio_backend::detach(SOCKET s, void* backend_socket) noexcept {
    auto* socket = static_cast<asio_socket*>(backend_socket);
    if (socket == nullptr) return;
    if (s == INVALID_SOCKET) {
        // The number names another socket of this reactor now: release() deregisters by number
        // (epoll_ctl DEL) and would take that socket's registration, and destroying an open
        // descriptor closes it. Keep it until the reactor goes (a mistake's path: stale.retire).
        std::lock_guard lock(kept_mutex_);
        kept_.push_back(socket);
        return;
    }
    // Deregisters from epoll while the fd is still open, and hands it back unclosed: the core
    // closes it right after.
    socket->descriptor.release();
    delete socket;
}

// The fault seam: a WSA code to answer for the kernel (WSAEWOULDBLOCK: readiness that found
// nothing), or 0 to go on to the kernel, over `trimmed` when it is a short transfer.
int asio_backend::inject(const io_request& request, kernel_buffer& trimmed) noexcept {
    asio_fault_plan& plan = *faults_;
    // EINTR is never delivered: recv_now/send_now retry it in their loop, so it changes nothing.
    if (plan.failed_transfers > 0 && plan.fail_errno > 0 && plan.fail_errno != EINTR) {
        --plan.failed_transfers;
        ++plan.injected.failed_transfers;
        return plan.fail_errno == EAGAIN ? WSAEWOULDBLOCK
                                         : wsa_from_transfer_errno(plan.fail_errno);
    }
    if (plan.short_transfers > 0 && plan.short_bytes > 0 && request.kind != io_kind::recv_probe) {
        --plan.short_transfers;
        ++plan.injected.short_transfers;
        trimmed = request.buffers[0];
        if (trimmed.len > plan.short_bytes) trimmed.len = plan.short_bytes;
    }
    return 0;
}

bool asio_backend::attempt(io_request& request, io_completion& done) noexcept {
    const kernel_buffer* buffers = request.buffers;
    std::uint32_t count = request.count;
    DWORD bytes = 0;
    int wsa = 0;
    kernel_buffer trimmed{};
    if (request.kind == io_kind::accept) {
        // The fault seam stands in for transfers only: an injected count is no descriptor.
        SOCKET accepted = INVALID_SOCKET;
        wsa = sys::accept_now(request.socket, accepted);
        if (wsa == WSAEWOULDBLOCK) return false;
        done = io_completion{&request, wsa, wsa == 0 ? static_cast<std::uint32_t>(accepted) : 0u,
                             false};
        return true;
    }
    if (request.kind == io_kind::connect) { // asked again after each readiness
        const connect_target& t = *request.connect;
        wsa = sys::connect_now(request.socket, reinterpret_cast<const sockaddr*>(t.address),
                               t.length);
        if (wsa == WSAEWOULDBLOCK) return false;
        done = io_completion{&request, wsa, 0, false};
        return true;
    }
    if (faults_ != nullptr) [[unlikely]] {
        if (const int injected = inject(request, trimmed); injected == WSAEWOULDBLOCK) {
            return false;
        } else if (injected != 0) {
            done = io_completion{&request, injected, 0, false};
            return true;
        }
        if (trimmed.buf != nullptr) {
            buffers = &trimmed;
            count = 1;
        }
    }
    switch (request.kind) {
    case io_kind::recv:
        wsa = sys::recv_now(request.socket, buffers, count, request.flags, bytes);
        break;
    case io_kind::recv_probe: {
        // A byte of this call's own: the request's may be shared by every socket.
        char peeked = 0;
        const kernel_buffer probe = make_kernel_buffer(&peeked, 1);
        wsa = sys::recv_now(request.socket, &probe, 1, MSG_PEEK, bytes);
        break;
    }
    case io_kind::send:
        wsa = sys::send_now(request.socket, buffers, count, bytes);
        break;
    case io_kind::accept: // above
    case io_kind::connect:
        break;
    }
    if (wsa == WSAEWOULDBLOCK) return false;
    done = io_completion{&request, wsa, wsa == 0 ? static_cast<std::uint32_t>(bytes) : 0u, false};
    return true;
}

bool asio_backend::start(io_request& request, io_completion& done) noexcept {
    if (is_malformed(request) || request.backend_socket == nullptr) {
        done = io_completion{&request, WSAEINVAL, 0, false}; // the core never does this
        return true;
    }
    auto* socket = static_cast<asio_socket*>(request.backend_socket);
    asio_direction& direction = on_send_side(request.kind) ? socket->send : socket->recv;
    if (attempt(request, done)) return true;
    direction.active = &request;
    direction.cancelled = false;
    arm(*socket, direction);
    return false;
}

void asio_backend::arm(asio_socket& socket, asio_direction& direction) noexcept {
    const auto what = &direction == &socket.send ? boost::asio::posix::descriptor_base::wait_write
                                                 : boost::asio::posix::descriptor_base::wait_read;
    // The operation goes into direction.slot (see asio_slot_allocator): no allocation, also
    // when armed from start(), outside run(), where Asio's own recycling does not apply. The
    // send slot is made here the first time (without memory, each wait allocates instead).
    if (&direction == &socket.send && !socket.send_slot)
        socket.send_slot.reset(new (std::nothrow) asio_handler_slot);
    socket.descriptor.async_wait(what, asio_ready_handler{this, &socket, &direction});
}

void asio_backend::finish(asio_direction& direction, const io_completion& done) {
    direction.active = nullptr;
    direction.cancelled = false;
    direction.rearm_on_abort = false;
    ready_.push_back(done);
}

void asio_backend::on_ready(asio_socket& socket, asio_direction& direction,
                            boost::system::error_code ec) noexcept {
    io_request* request = direction.active;
    if (request == nullptr) return; // cannot happen: one wait per started request
    if (faults_ != nullptr && faults_->failed_waits > 0 && faults_->wait_errno > 0) [[unlikely]] {
        --faults_->failed_waits;
        ++faults_->injected.failed_waits;
        ec = boost::system::error_code(faults_->wait_errno, boost::system::system_category());
    }
    // cancel_request() of the other direction aborted this wait as well: wait again.
    const bool rearm = std::exchange(direction.rearm_on_abort, false);
    if (!direction.cancelled && rearm && ec == boost::asio::error::operation_aborted) {
        arm(socket, direction);
        return;
    }
    if (direction.cancelled || ec == boost::asio::error::operation_aborted) {
        finish(direction, io_completion{request, WSA_OPERATION_ABORTED, 0, false});
        return;
    }
    io_completion done{};
    if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::interrupted) {
        // A reactor failure (EPOLLERR is reported as readiness, not here): report it as is.
        const int wsa = ec.category() == boost::system::system_category()
                            ? wsa_from_transfer_errno(ec.value())
                            : WSAENETDOWN;
        finish(direction, io_completion{request, wsa, 0, false});
        return;
    }
    if (attempt(*request, done)) {
        finish(direction, done);
        return;
    }
    arm(socket, direction); // spurious readiness, or someone else took the data: wait again
}

void asio_backend::cancel(SOCKET, void* backend_socket, io_request&, io_request&) noexcept {
    auto* socket = static_cast<asio_socket*>(backend_socket);
    bool any = false;
    for (asio_direction* d : {&socket->recv, &socket->send}) {
        if (d->active == nullptr) continue;
        // Also covers a wait that already completed and whose handler is still queued.
        d->cancelled = true;
        any = true;
    }
    if (!any) return;
    boost::system::error_code ec;
    socket->descriptor.cancel(ec); // pending waits complete with operation_aborted
}

void asio_backend::cancel_request(io_request& request) noexcept {
    auto* socket = static_cast<asio_socket*>(request.backend_socket);
    const bool send = on_send_side(request.kind);
    asio_direction& d = send ? socket->send : socket->recv;
    if (d.active != &request) return;
    d.cancelled = true;
    // Asio cancels a descriptor's waits together: the other direction's wait, if any, comes
    // back aborted too, and on_ready arms it again instead of reporting an abort.
    asio_direction& other = send ? socket->recv : socket->send;
    if (other.active != nullptr && !other.cancelled) other.rearm_on_abort = true;
    boost::system::error_code ec;
    socket->descriptor.cancel(ec);
}

std::size_t asio_backend::hand_out(io_completion* out, std::size_t max) noexcept {
    std::size_t n = 0;
    while (n < max && ready_head_ < ready_.size())
        out[n++] = ready_[ready_head_++];
    if (ready_head_ == ready_.size()) {
        ready_.clear();
        ready_head_ = 0;
    }
    return n;
}

std::size_t asio_backend::reap(io_completion* out, std::size_t max, int timeout_ms) noexcept {
    using clock = std::chrono::steady_clock;
    if (max == 0) return 0;
    if (ready_head_ < ready_.size()) return hand_out(out, max);
    woke_ = false;
    if (ctx_.stopped()) ctx_.restart();
    if (timeout_ms == 0) {
        ctx_.poll();
        return hand_out(out, max);
    }
    const clock::time_point deadline =
        timeout_ms > 0 ? clock::now() + std::chrono::milliseconds(timeout_ms) : clock::time_point{};
    for (;;) {
        const std::size_t ran = timeout_ms < 0 ? ctx_.run_one() : ctx_.run_one_until(deadline);
        if (ran > 0) ctx_.poll(); // everything else that is ready, without waiting
        if (ready_head_ < ready_.size() || woke_ || ran == 0) break;
        if (timeout_ms > 0 && clock::now() >= deadline) break;
        // Only a re-armed wait ran (spurious readiness): no answer yet for a waiting caller.
    }
    if (ctx_.stopped()) ctx_.restart();
    return hand_out(out, max);
}

void asio_backend::wake() noexcept {
    // post() is thread-safe and interrupts the reactor's epoll_wait.
    boost::asio::post(ctx_, [this] { woke_ = true; });
}

std::unique_ptr<backend> make_asio_backend(std::string& why_not) {
    try {
        return std::make_unique<asio_backend>();
    } catch (const std::exception& e) {
        why_not = std::string("asio backend unavailable: ") + e.what();
        return nullptr;
    }
}

} // namespace sanport::detail
