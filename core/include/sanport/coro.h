// SPDX-License-Identifier: MIT
// sanport/coro.h: C++20 coroutines over WSPRecv/WSPSend, without Asio.
//
//     sanport::coro::detached echo(SOCKET s) {
//         char data[4096];
//         for (;;) {
//             WSABUF buf{sizeof data, data};
//             auto r = co_await sanport::coro::recv(s, &buf, 1);
//             if (r.error != 0 || r.bytes == 0) co_return;
//             buf.len = r.bytes;
//             if ((co_await sanport::coro::send(s, &buf, 1)).error != 0) co_return;
//         }
//     }
//     ... sanport::coro::associate(cq, s); echo(s);
//     ... for (;;) sanport::coro::run_once(cq, WSA_INFINITE);
//
// How it works: co_await posts the operation with a WSAOVERLAPPED that lives in the awaiter
// (the coroutine's frame). An operation that completes inside the call resumes at once without
// suspending: the socket is associated with skip_on_success, so no packet follows. A pending
// one suspends; its packet, dequeued by run_once (or by your own loop, which hands each entry
// to dispatch), resumes the coroutine inline on the dequeuing thread. On a driven engine that is
// the owner's thread, so everything runs on one thread with no hand-off and no allocation per
// operation (the frame is the coroutine's own).
//
// Rules: associate every socket through coro::associate (the key marks sanport::coro's packets,
// skip_on_success is what makes an immediate completion safe to resume inline); the WSABUF
// array and the buffers it names stay valid until co_await returns, as with any overlapped
// call. Posting order holds as everywhere: several coroutines receiving on one socket are
// filled in the order their co_awaits posted. A suspended operation ends only by completing:
// to end it early, close the socket or WSPCancelIoEx (it resumes with WSA_OPERATION_ABORTED);
// destroying a coroutine frame with an operation pending is undefined behaviour.
// Threads: resumption happens on whichever thread dequeues; the coroutine must be written for
// that thread (on a driven engine, the owner).
#pragma once

#include <sanport/completion_queue.h>
#include <sanport/wsp.h>

#include <coroutine>
#include <cstddef>
#include <exception>

namespace sanport::coro {

// The completion key of sanport::coro's packets ("coro" in ASCII); pick other keys for yours.
inline constexpr ULONG_PTR key = 0x636f726fu;

// Associates s with cq for coroutines: key `key`, skip_on_success. 0 or associate's code.
inline int associate(completion_queue& cq, SOCKET s) {
    return cq.associate(s, key, true);
}

struct io_result {
    int error = 0;          // 0, or the operation's WSA code
    DWORD bytes = 0;        // bytes moved
    bool immediate = false; // completed inside the call: the coroutine never suspended
};

// The awaiter of one WSPRecv or WSPSend. Made by recv()/send(); co_await it once.
class operation {
public:
    operation(SOCKET s, WSABUF* buffers, DWORD count, DWORD flags, bool is_send) noexcept
        : socket_(s), buffers_(buffers), count_(count), flags_(flags), send_(is_send) {}
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;

    bool await_ready() const noexcept { return false; }
    // false: finished (immediately, or refused) without suspending.
    bool await_suspend(std::coroutine_handle<> h) noexcept {
        handle_ = h;
        DWORD bytes = 0;
        DWORD flags = flags_;
        int error = 0;
        const int rc = send_ ? WSPSend(socket_, buffers_, count_, &bytes, flags_, &overlapped_,
                                       nullptr, nullptr, &error)
                             : WSPRecv(socket_, buffers_, count_, &bytes, &flags, &overlapped_,
                                       nullptr, nullptr, &error);
        if (rc == 0) {
            result_ = {0, bytes, true};
            return false;
        }
        if (error == WSA_IO_PENDING) return true;
        result_ = {error, 0, true};
        return false;
    }
    io_result await_resume() const noexcept { return result_; }

    // The operation whose WSAOVERLAPPED a packet carries (dispatch).
    static operation* from(WSAOVERLAPPED* overlapped) noexcept {
        return reinterpret_cast<operation*>(reinterpret_cast<char*>(overlapped) -
                                            offsetof(operation, overlapped_));
    }
    void complete(const completion_entry& e) noexcept {
        result_ = {e.status, e.bytes, false};
        handle_.resume();
    }

private:
    WSAOVERLAPPED overlapped_{};
    SOCKET socket_;
    WSABUF* buffers_;
    DWORD count_;
    DWORD flags_;
    bool send_;
    io_result result_{};
    std::coroutine_handle<> handle_{};
};

inline operation recv(SOCKET s, WSABUF* buffers, DWORD count, DWORD flags = 0) noexcept {
    return operation(s, buffers, count, flags, false);
}
inline operation send(SOCKET s, WSABUF* buffers, DWORD count, DWORD flags = 0) noexcept {
    return operation(s, buffers, count, flags, true);
}

// Resumes the coroutine a packet of key `key` belongs to; false for any other packet.
inline bool dispatch(const completion_entry& e) noexcept {
    if (e.key != key || e.overlapped == nullptr) return false;
    operation::from(e.overlapped)->complete(e);
    return true;
}

// Dequeues up to 64 packets (waiting up to timeout_ms, as completion_queue::dequeue) and resumes
// their coroutines; a packet that is not a coroutine's goes to other(entry). Returns how many
// packets were dequeued (0: the time ran out or the queue was shut down).
template <class Other> std::size_t run_once(completion_queue& cq, DWORD timeout_ms, Other&& other) {
    // Raw storage: completion_entry[64]'s default member initialisers would cost 256 stores
    // per call; dequeue writes every entry it returns (an aggregate's lifetime begins here).
    alignas(completion_entry) unsigned char storage[64 * sizeof(completion_entry)];
    auto* batch = reinterpret_cast<completion_entry*>(storage);
    const std::size_t n = cq.dequeue(batch, 64, timeout_ms);
    for (std::size_t i = 0; i < n; ++i)
        if (!dispatch(batch[i])) other(batch[i]);
    return n;
}
inline std::size_t run_once(completion_queue& cq, DWORD timeout_ms) {
    return run_once(cq, timeout_ms, [](const completion_entry&) {});
}

// A coroutine that starts at once and frees itself when it ends; nobody awaits it. An
// exception that leaves it ends the process (std::terminate), as a thread's would.
struct detached {
    struct promise_type {
        detached get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
};

} // namespace sanport::coro
