// SPDX-License-Identifier: MIT
// sanport/asio.h (target sanport::asio, Linux): sanport's operations with Boost.Asio
// completion tokens - callbacks, use_future, use_awaitable - on an io_context of yours.
//
//     boost::asio::io_context io;
//     sanport::completion_queue cq(engine);
//     sanport::asio::bridge link(io, cq);        // cq's readiness handle in io's reactor
//     link.associate(s);
//     std::size_t n = co_await link.async_recv(s, boost::asio::buffer(data),
//                                              boost::asio::use_awaitable);
//
// How it works: the bridge waits on the queue's readiness handle (completion_queue.h,
// cq.readiness) with a posix::stream_descriptor, so the io_context's own reactor wakes for
// sanport's completions: no thread of the bridge's, no hop per completion. When the handle is
// readable the bridge drains the queue (dequeue_ready) and completes each operation's handler
// on the handler's associated executor (the io_context's unless the token says otherwise),
// inline when that executor allows it. An operation that completes inside its call, or fails
// at once, is posted to that executor: a handler never runs inside the initiating call.
// Posting order holds, as everywhere in sanport: several async_recv outstanding on one socket
// are filled, and complete, in the order they were started - which Asio's own sockets do not
// promise.
//
// Threads: on a driven engine (own_thread = false) the io_context must run on the engine's
// owner thread, and the bridge be made there; everything then runs on that one thread. With an
// engine that has its own thread, any threads may run the io_context and any thread may start
// operations. On a driven engine, start them on the owner (a WSPRecv there submits nothing
// until the next drive, which the readiness handle triggers).
// The bridge keeps one wait pending on the io_context, so io.run() returns only once the bridge
// is destroyed (or io.stop()), as with a listening socket. Lifetime: the bridge must outlive
// every operation started through it and the io_context's last run; close the sockets (their
// operations complete with operation_aborted) and let the handlers run before destroying it. The
// queue must outlive the bridge; the bridge does not own it, and the queue's other packets (post(),
// timers) go to set_other_handler's function. Cancellation: close the socket, or
// sanport::WSPCancelIoEx. With Boost 1.77 or newer a token's cancellation slot is connected to
// WSPCancelIoEx; Debian's Boost is 1.74, so that branch is compiled out here and untested. Errors:
// an aborted operation (a close, a cancel) reports boost::asio::error::operation_aborted, as Asio's
// own sockets do; any other failure a boost::system::error_code in sanport::asio::category() with
// the WSA code as value, which compares equal to its std::errc condition for the usual socket
// errors (WSAECONNRESET == std::errc::connection_reset).
#pragma once

#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/version.hpp>

#include <cerrno>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#if BOOST_VERSION >= 107700
#include <boost/asio/associated_cancellation_slot.hpp>
#endif

namespace sanport::asio {

namespace detail {

// Boost 1.74's error_category has a protected non-virtual destructor; categories are never
// deleted through it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class wsa_category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "sanport.wsa"; }
    std::string message(int code) const override { return sanport::wsa_error_text(code); }
    boost::system::error_condition default_error_condition(int code) const noexcept override {
        switch (code) {
        case WSA_OPERATION_ABORTED:
            return {ECANCELED, boost::system::generic_category()};
        case WSAECONNRESET:
            return {ECONNRESET, boost::system::generic_category()};
        case WSAECONNABORTED:
            return {ECONNABORTED, boost::system::generic_category()};
        case WSAECONNREFUSED:
            return {ECONNREFUSED, boost::system::generic_category()};
        case WSAETIMEDOUT:
            return {ETIMEDOUT, boost::system::generic_category()};
        case WSAENOTCONN:
            return {ENOTCONN, boost::system::generic_category()};
        case WSAESHUTDOWN:
            return {ESHUTDOWN, boost::system::generic_category()};
        case WSAEINVAL:
            return {EINVAL, boost::system::generic_category()};
        case WSAENOTSOCK:
            return {ENOTSOCK, boost::system::generic_category()};
        case WSAENOBUFS:
            return {ENOBUFS, boost::system::generic_category()};
        default:
            return {code, *this};
        }
    }
    // boost::asio::error::operation_aborted is ECANCELED in the system category.
    bool equivalent(const boost::system::error_code& other, int code) const noexcept override {
        if (code == WSA_OPERATION_ABORTED && other == boost::asio::error::operation_aborted)
            return true;
        return *this == other.category() && code == other.value();
    }
};
#pragma GCC diagnostic pop

// What every operation in flight is: its WSAOVERLAPPED (the packet names it) and how to finish.
struct op_base {
    WSAOVERLAPPED overlapped{};
    SOCKET socket = INVALID_SOCKET; // what a cancellation slot cancels on
    void (*finish)(op_base* self, int wsa, std::size_t bytes, bool post) = nullptr;
    // AcceptEx's address room (both addresses, IPv6-sized), for accepts only.
    char addresses[2 * (28 + 16)] = {};
    static op_base* from(WSAOVERLAPPED* ov) noexcept { return reinterpret_cast<op_base*>(ov); }
};

} // namespace detail

inline const boost::system::error_category& category() noexcept {
    static const detail::wsa_category instance;
    return instance;
}
// What a handler gets for a WSA code: an aborted operation reports Asio's own
// operation_aborted, as Asio's sockets do (handlers test `ec == operation_aborted`); every
// other failure keeps its WSA code, in category().
inline boost::system::error_code make_error_code(int wsa) noexcept {
    if (wsa == WSA_OPERATION_ABORTED) return boost::asio::error::operation_aborted;
    return {wsa, category()};
}

// One completion queue seen from one io_context. Not copyable, not movable (operations in
// flight point at it).
class bridge {
public:
    // The completion key of the bridge's packets; associate sockets through associate().
    static constexpr ULONG_PTR key = 0x6173696fu; // "asio"

    // Waits on cq's readiness handle; throws boost::system::system_error when the queue has
    // none (Windows, or a driven engine on the asio backend: completion_queue.h says why).
    bridge(boost::asio::io_context& io, completion_queue& cq)
        : io_(io), cq_(cq), state_(std::make_shared<shared>(io)) {
        int fd = -1;
        if (const int wsa = cq.readiness_handle(fd))
            throw boost::system::system_error(make_error_code(wsa), last_error_detail());
        state_->descriptor.assign(fd);
        state_->cq = &cq;
        arm(state_);
    }
    ~bridge() {
        state_->cq = nullptr;
        boost::system::error_code ignored;
        state_->descriptor.cancel(ignored);
        state_->descriptor.release(); // the queue owns and closes the descriptor
    }
    bridge(const bridge&) = delete;
    bridge& operator=(const bridge&) = delete;

    boost::asio::io_context::executor_type get_executor() noexcept { return io_.get_executor(); }

    // Associates s with the queue for the bridge (key `key`, skip on success). 0 or the code.
    int associate(SOCKET s) { return cq_.associate(s, key, true); }
    // Receives the queue's packets that are not the bridge's (post(), timers).
    void set_other_handler(std::function<void(const completion_entry&)> fn) {
        state_->other = std::move(fn);
    }

    // void(error_code, std::size_t bytes). flags: MSG_PEEK, MSG_WAITALL (WSPRecv's).
    template <class MutableBuffers, class Token>
    auto async_recv(SOCKET s, const MutableBuffers& buffers, Token&& token, DWORD flags = 0) {
        return start(std::forward<Token>(token), s, [s, buffers, flags](detail::op_base& o) {
            WSABUF wsabufs[max_buffers];
            const DWORD n = to_wsabufs(buffers, wsabufs);
            DWORD bytes = 0;
            DWORD f = flags;
            int err = 0;
            if (WSPRecv(s, wsabufs, n, &bytes, &f, &o.overlapped, nullptr, nullptr, &err) == 0)
                return result{0, bytes};
            return result{err, 0};
        });
    }
    // void(error_code, std::size_t bytes): every byte is sent, or the error says why not.
    template <class ConstBuffers, class Token>
    auto async_send(SOCKET s, const ConstBuffers& buffers, Token&& token) {
        return start(std::forward<Token>(token), s, [s, buffers](detail::op_base& o) {
            WSABUF wsabufs[max_buffers];
            const DWORD n = to_wsabufs(buffers, wsabufs);
            DWORD bytes = 0;
            int err = 0;
            if (WSPSend(s, wsabufs, n, &bytes, 0, &o.overlapped, nullptr, nullptr, &err) == 0)
                return result{0, bytes};
            return result{err, 0};
        });
    }
    // void(error_code, std::size_t): the next connection of `listener` (associated with this
    // bridge) becomes `accepted`, a fresh WSPSocket of the listener's engine (WSPAcceptEx).
    template <class Token> auto async_accept(SOCKET listener, SOCKET accepted, Token&& token) {
        // A cancellation slot cancels through the listener: the waiting accept is its operation.
        return start(std::forward<Token>(token), listener,
                     [listener, accepted](detail::op_base& o) {
                         DWORD bytes = 0;
                         int err = 0;
                         const DWORD room = sizeof o.addresses / 2;
                         if (WSPAcceptEx(listener, accepted, o.addresses, 0, room, room, &bytes,
                                         &o.overlapped, &err) == 0)
                             return result{0, 0};
                         return result{err, 0};
                     });
    }
    // void(error_code, std::size_t): connects s (associated, bound: WSPConnectEx needs a bound
    // socket; bind it to port 0 of its family first) to `name`.
    template <class Token>
    auto async_connect(SOCKET s, const sockaddr* name, int namelen, Token&& token) {
        return start(std::forward<Token>(token), s, [s, name, namelen](detail::op_base& o) {
            DWORD bytes = 0;
            int err = 0;
            if (WSPConnectEx(s, name, namelen, nullptr, 0, &bytes, &o.overlapped, &err) == 0)
                return result{0, 0};
            return result{err, 0};
        });
    }

private:
    static constexpr DWORD max_buffers = 64; // as Asio's own sockets: the first 64 buffers
    struct result {
        int wsa; // 0: done at once; WSA_IO_PENDING; else the failure
        DWORD bytes;
    };
    struct shared {
        explicit shared(boost::asio::io_context& io) : descriptor(io) {}
        boost::asio::posix::stream_descriptor descriptor;
        completion_queue* cq = nullptr; // nullptr once the bridge is gone
        std::function<void(const completion_entry&)> other;
    };

    template <class Buffers> static DWORD to_wsabufs(const Buffers& buffers, WSABUF* out) {
        DWORD n = 0;
        auto it = boost::asio::buffer_sequence_begin(buffers);
        const auto end = boost::asio::buffer_sequence_end(buffers);
        for (; it != end && n < max_buffers; ++it, ++n) {
            const auto b = boost::asio::buffer(*it);
            out[n].buf = const_cast<char*>(static_cast<const char*>(b.data()));
            out[n].len = static_cast<ULONG>(b.size());
        }
        return n;
    }

    // The drain: every ready packet, until dequeue_ready returns less than a batch (the
    // readiness protocol), then the next wait.
    static void arm(const std::shared_ptr<shared>& st) {
        st->descriptor.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                                  [st](const boost::system::error_code& ec) {
                                      if (ec || st->cq == nullptr) return;
                                      arm(st); // first: a throwing handler must not stop it
                                      drain(*st);
                                  });
    }
    // A handler that throws does not lose the rest of its batch: every packet taken is
    // finished, then the first exception leaves run() (the wait is re-armed by then).
    static void drain(shared& st) {
        // Raw storage, not completion_entry[64]: its default member initialisers cost 256
        // stores per drain (about 300 instructions per message, callgrind), and dequeue_ready
        // writes every entry it returns. An aggregate's lifetime begins in such storage.
        alignas(completion_entry) unsigned char storage[64 * sizeof(completion_entry)];
        auto* batch = reinterpret_cast<completion_entry*>(storage);
        std::size_t n = 0;
        std::exception_ptr first;
        do {
            n = st.cq->dequeue_ready(batch, 64);
            for (std::size_t i = 0; i < n; ++i) {
                try {
                    if (batch[i].key == key && batch[i].overlapped != nullptr) {
                        detail::op_base* op = detail::op_base::from(batch[i].overlapped);
                        op->finish(op, batch[i].status, batch[i].bytes, false);
                    } else if (st.other) {
                        st.other(batch[i]);
                    }
                } catch (...) {
                    if (!first) first = std::current_exception();
                }
            }
        } while (n == 64 && st.cq != nullptr && !first);
        if (first) std::rethrow_exception(first);
    }

    template <class Handler> struct pending_op final : detail::op_base {
        using executor_type =
            boost::asio::associated_executor_t<Handler, boost::asio::io_context::executor_type>;
        pending_op(Handler&& h, const boost::asio::io_context::executor_type& fallback)
            : handler(std::move(h)), work(boost::asio::get_associated_executor(handler, fallback)) {
        }
        Handler handler;
        boost::asio::executor_work_guard<executor_type> work;

        using alloc_type = typename std::allocator_traits<
            boost::asio::associated_allocator_t<Handler>>::template rebind_alloc<pending_op>;
        // Frees the op, then runs the handler on its executor: at once where that executor
        // allows (dispatch), or queued (post) for a completion inside the initiating call.
        static void complete(detail::op_base* base, int wsa, std::size_t bytes, bool post) {
            auto* self = static_cast<pending_op*>(base);
#if BOOST_VERSION >= 107700
            boost::asio::get_associated_cancellation_slot(self->handler).clear();
#endif
            Handler h = std::move(self->handler);
            auto work_guard = std::move(self->work);
            alloc_type alloc(boost::asio::get_associated_allocator(h));
            std::allocator_traits<alloc_type>::destroy(alloc, self);
            std::allocator_traits<alloc_type>::deallocate(alloc, self, 1);
            const auto ec = wsa == 0 ? boost::system::error_code{} : make_error_code(wsa);
            auto ex = work_guard.get_executor();
            auto call = [h = std::move(h), ec, bytes]() mutable { h(ec, bytes); };
            if (post)
                boost::asio::post(ex, std::move(call));
            else
                boost::asio::dispatch(ex, std::move(call));
        }
    };

    template <class Token, class Call> auto start(Token&& token, SOCKET s, Call call) {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this, s, call](auto handler) mutable {
                using H = decltype(handler);
                using O = pending_op<H>;
                typename O::alloc_type alloc(boost::asio::get_associated_allocator(handler));
                O* o = std::allocator_traits<typename O::alloc_type>::allocate(alloc, 1);
                std::allocator_traits<typename O::alloc_type>::construct(
                    alloc, o, std::move(handler), io_.get_executor());
                o->finish = &O::complete;
                o->socket = s;
                connect_cancellation(*o);
                const result r = call(*o);
                if (r.wsa != WSA_IO_PENDING) O::complete(o, r.wsa, r.bytes, true);
            },
            token);
    }

    template <class O> static void connect_cancellation(O& o) {
#if BOOST_VERSION >= 107700
        auto slot = boost::asio::get_associated_cancellation_slot(o.handler);
        if (slot.is_connected())
            slot.assign([s = o.socket, ov = &o.overlapped](boost::asio::cancellation_type) {
                int err = 0;
                sanport::WSPCancelIoEx(s, ov, &err); // ERROR_NOT_FOUND once it completed
            });
#else
        static_cast<void>(o);
#endif
    }

    boost::asio::io_context& io_;
    completion_queue& cq_;
    std::shared_ptr<shared> state_;
};

} // namespace sanport::asio
