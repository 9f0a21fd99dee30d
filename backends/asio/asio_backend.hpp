// SPDX-License-Identifier: MIT
// The Boost.Asio reactor backend (the Linux fallback when io_uring is refused): one io_context
// per engine, driven from the engine thread only.
//
// Invariants: readiness comes from Asio (async_wait on a posix::stream_descriptor that adopts
// the fd and releases it on detach, so the fd is never closed twice); the transfer itself is
// our own non-blocking recvmsg/sendmsg (sys::recv_now/send_now), so Asio's 64-buffer cap,
// MSG_PEEK and the WSABUF layout never matter. At most one wait per socket per direction is
// outstanding, and exactly one completion is queued per started request. (A driven engine
// whose owner keeps posting requests that finish inline is still run: completion_queue's
// dequeue sees to it, for every backend.)
#pragma once

#include "backends/asio/asio.hpp"
#include "backends/asio/asio_faults.hpp"
#include "core/backend.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

namespace sanport::detail {

// The descriptor type: on the io_context's own executor, not the polymorphic any_io_executor,
// which made every descriptor 72 bytes instead of 40 and every wait operation 128 instead of 88.
using asio_descriptor =
    boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

// Memory for the one wait operation a direction has outstanding, so that arming a wait never
// allocates: Asio frees an operation's memory before it calls the handler, so a handler that
// re-arms finds the slot free again. Larger or concurrent requests fall back to operator new.
// 88 bytes: Boost 1.74's reactive_wait_op with asio_ready_handler on asio_descriptor, x86-64.
// A larger operation (another Boost) would allocate per wait: it counts in asio_slot_oversize,
// which the fault suite checks is 0. Whether the slot is taken is kept by its direction.
struct asio_handler_slot {
    static constexpr std::size_t size = 88;
    static constexpr std::size_t align = alignof(void*);
    alignas(align) unsigned char bytes[size];
};
inline std::atomic<std::uint32_t> asio_slot_oversize{0};

// The allocator Asio finds through the handler's allocator_type/get_allocator(): the slot and
// its direction's "taken" flag.
template <class T> struct asio_slot_allocator {
    using value_type = T;
    asio_handler_slot* slot;
    bool* taken;
    asio_slot_allocator(asio_handler_slot* s, bool* t) noexcept : slot(s), taken(t) {}
    template <class U>
    asio_slot_allocator(const asio_slot_allocator<U>& other) noexcept
        : slot(other.slot), taken(other.taken) {}
    T* allocate(std::size_t n) {
        const bool fits =
            n * sizeof(T) <= asio_handler_slot::size && alignof(T) <= asio_handler_slot::align;
        if (slot != nullptr && !*taken && fits) {
            *taken = true;
            return reinterpret_cast<T*>(slot->bytes);
        }
        if (!fits) asio_slot_oversize.fetch_add(1, std::memory_order_relaxed);
        return static_cast<T*>(::operator new(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t) noexcept {
        if (slot != nullptr && reinterpret_cast<unsigned char*>(p) == slot->bytes)
            *taken = false;
        else
            ::operator delete(p);
    }
    template <class U> bool operator==(const asio_slot_allocator<U>& o) const noexcept {
        return slot == o.slot;
    }
    template <class U> bool operator!=(const asio_slot_allocator<U>& o) const noexcept {
        return slot != o.slot;
    }
};

// One direction of one socket.
struct asio_direction {
    io_request* active = nullptr; // started, not yet reported
    bool cancelled = false;       // cancel() came: the next handler reports an abort
    bool rearm_on_abort = false;  // the other direction's cancel_request() aborts this wait
    bool slot_taken = false;      // the outstanding wait's operation is in the slot
};

// What attach() makes; handed back as io_request::backend_socket (168 bytes).
// A receive waits for readiness whenever nothing is queued, so its slot is inline. A send
// waits only when the socket's send buffer is full, which many connections never see: its
// slot is made by its first wait and kept (asio_backend::arm), 88 bytes most sockets skip.
struct asio_socket {
    explicit asio_socket(boost::asio::io_context& ctx) : descriptor(ctx) {}
    asio_descriptor descriptor;
    asio_direction recv;
    asio_direction send;
    std::unique_ptr<asio_handler_slot> send_slot;
    asio_handler_slot recv_slot;
    asio_handler_slot* slot_of(const asio_direction& d) noexcept {
        return &d == &recv ? &recv_slot : send_slot.get();
    }
};

class asio_backend final : public backend {
public:
    asio_backend();
    ~asio_backend() override;
    asio_backend(const asio_backend&) = delete;
    asio_backend& operator=(const asio_backend&) = delete;

    // Tests only (asio_faults.hpp), before the engine runs; the plan outlives the backend.
    void set_fault_plan(asio_fault_plan* plan) noexcept { faults_ = plan; }

    const char* name() const noexcept override { return "asio"; }
    int bind_thread() noexcept override { return 0; }
    // The reactor is bound to no thread: a destroying thread may drive it (engine.orphan).
    bool reaps_on_any_thread() const noexcept override { return true; }
    int attach(SOCKET s, void*& backend_socket) noexcept override;
    void detach(SOCKET s, void* backend_socket) noexcept override;
    bool start(io_request& request, io_completion& done) noexcept override;
    void cancel(SOCKET s, void* backend_socket, io_request& recv,
                io_request& send) noexcept override;
    void cancel_request(io_request& request) noexcept override;
    std::size_t max_regions() const noexcept override { return 0; }
    bool add_region(std::int32_t, void*, std::size_t) noexcept override { return false; }
    void remove_region(std::int32_t) noexcept override {}
    std::size_t reap(io_completion* out, std::size_t max, int timeout_ms) noexcept override;
    void wake() noexcept override;

private:
    // One non-blocking attempt. false: nothing now (wait for readiness); true: `done` is set.
    bool attempt(io_request& request, io_completion& done) noexcept;
    int inject(const io_request& request, kernel_buffer& trimmed) noexcept;
    void arm(asio_socket& socket, asio_direction& direction) noexcept;

public:
    // The wait handler's entry (engine thread, inside reap()).
    void on_ready(asio_socket& socket, asio_direction& direction,
                  boost::system::error_code ec) noexcept;

private:
    void finish(asio_direction& direction, const io_completion& done);
    std::size_t hand_out(io_completion* out, std::size_t max) noexcept;

    boost::asio::io_context ctx_;
    // Keeps run_one() waiting when nothing is started (else it returns 0 at once).
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<io_completion> ready_; // queued by handlers, handed out by reap()
    std::size_t ready_head_ = 0;
    bool woke_ = false; // a wake() handler ran during this reap()
    asio_fault_plan* faults_ = nullptr;
    // Sockets detached while their number named another socket of this reactor (detach with
    // INVALID_SOCKET): released only when the reactor goes, see detach.
    std::mutex kept_mutex_;
    std::vector<asio_socket*> kept_;
};

} // namespace sanport::detail
