// SPDX-License-Identifier: MIT
// One posted WSPRecv or WSPSend, with its captured WSABUF array and fill cursor.
//
// recv.capture: the specification says "if the WSPRecv call returns without completing the data
// reception operation, the SAN service provider must capture the pointer to the array of WSABUF
// structures before returning" -- we copy the array itself (zero-length entries dropped), so the
// caller may reuse it at once.
// The copy is consumed in place: the cursor moves `buf`/`len` of the entry being filled, which
// keeps "each full before the next gets a byte" a property of the data, not of bookkeeping.
#pragma once

#include "core/backend.hpp"

#include <sanport/compat.h>

#include <cstdint>
#include <memory>

namespace sanport::detail {

// One allocation per op: this 48-byte header, then `room` buffers right after it; a one-buffer
// op is exactly one cache line (op_new takes one from a pool of aligned lines), within the memory
// budget of docs/design.md. Made by op_new only; a socket recycles its ops and replaces one whose
// room is too small for the next call (op_alloc).
struct op {
    op* next = nullptr;
    WSAOVERLAPPED* overlapped = nullptr;
    std::uint32_t capacity = 0;   // min(sum of lengths, 2^31 - 1)
    std::uint32_t bytes = 0;      // bytes transferred so far
    std::uint32_t held_back = 0;  // length cut off buffers()[trimmed] for one request
    std::int32_t fixed_slot = -1; // registered region with a kernel slot, or -1
    std::uint16_t count = 0;      // captured entries (zero-length ones dropped)
    std::uint16_t index = 0;      // first entry with room left
    std::uint16_t trimmed = 0;
    std::uint16_t room = 0;  // WSABUFs allocated after the header (1..max_buffer_count)
    std::uint16_t flags = 0; // MSG_PEEK / MSG_WAITALL (receive)
    bool no_packet = false;  // blocking call: never a completion-queue packet
    // cancel.in-flight: WSPCancelIoEx asked while the kernel held this op; its completion
    // finishes it (with the bytes moved, or aborted) instead of re-arming the rest.
    bool cancelled = false;
    // accept.first-receive: an accept's first receive, now in the accepted socket's FIFO; its
    // packet goes to the listener's queue with the listener's key (transfer.hpp's
    // listener_report).
    bool listener_packet = false;
    // recv.immediate: set while its own WSPRecv (or accept/connect call) starts it on the
    // engine thread; a completion inside that start makes the call return 0, not
    // WSA_IO_PENDING, as the specification asks (socket_state::posting_done).
    bool posting = false;

    // The captured entries, in the kernel's layout; the remaining ones start at `index`.
    kernel_buffer* buffers() noexcept { return reinterpret_cast<kernel_buffer*>(this + 1); }
    const kernel_buffer* buffers() const noexcept {
        return reinterpret_cast<const kernel_buffer*>(this + 1);
    }
    bool wants_all() const noexcept { return (flags & MSG_WAITALL) != 0; }
    bool full() const noexcept { return bytes >= capacity; }
};
static_assert(sizeof(op) == 48, "a one-buffer op fills one 64-byte line");
static_assert(sizeof(op) % alignof(kernel_buffer) == 0, "the buffers follow the header");
static_assert(sizeof(kernel_buffer) == 16, "16 bytes per captured WSABUF");
static_assert((MSG_PEEK | MSG_WAITALL) <= 0xffff, "op::flags holds them");
inline constexpr std::size_t op_alignment = 64;

// An op with room for `room` WSABUFs (at least 1), or nullptr when memory ran out.
op* op_new(std::uint32_t room) noexcept;
void op_delete(op* o) noexcept;
// fork.child: one-buffer ops come from a process-wide pool whose lock a parent thread may hold.
void forget_parent_op_pool() noexcept;
struct op_deleter {
    void operator()(op* o) const noexcept { op_delete(o); }
};
using op_ptr = std::unique_ptr<op, op_deleter>;

// Copies `in` into o (dropping zero-length entries); o's room is at least `count`. Inline: one
// non-empty buffer, the common call.
void op_capture_in_full(op& o, const WSABUF* in, std::uint32_t count) noexcept;
inline void op_capture(op& o, const WSABUF* in, std::uint32_t count) noexcept {
    if (count == 1 && in[0].len != 0) [[likely]] {
        o.index = 0;
        o.bytes = 0;
        o.held_back = 0;
        o.buffers()[0] = make_kernel_buffer(in[0].buf, in[0].len);
        o.count = 1;
        // recv.count.large: never more than 2^31 - 1 bytes in one operation.
        o.capacity = in[0].len < max_request_bytes ? static_cast<std::uint32_t>(in[0].len)
                                                   : max_request_bytes;
        return;
    }
    op_capture_in_full(o, in, count);
}

// Points `request` at the unfilled part of o: at most max_request_buffers entries and
// max_request_bytes bytes (an entry may be cut short for one request; op_advance restores it).
// Inline: one entry left that fits (every single-buffer op) needs no loop.
void op_fill_request_in_full(op& o, io_request& request) noexcept;
inline void op_fill_request(op& o, io_request& request) noexcept {
    request.buffers = o.buffers() + o.index;
    request.fixed_slot = o.fixed_slot;
    if (o.count - o.index == 1 && request.buffers->len <= o.capacity - o.bytes) [[likely]] {
        request.count = 1;
        return;
    }
    op_fill_request_in_full(o, request);
}

// n more bytes landed in the request made by op_fill_request. Inline: one entry left, not cut.
void op_advance_in_full(op& o, std::uint32_t n) noexcept;
inline void op_advance(op& o, std::uint32_t n) noexcept {
    if (o.held_back == 0 && o.count - o.index == 1) [[likely]] {
        kernel_buffer& b = o.buffers()[o.index];
        if (n <= b.len) {
            o.bytes += n;
            b.buf += n;
            b.len -= n;
            if (b.len == 0) ++o.index;
            return;
        }
    }
    op_advance_in_full(o, n);
}

// Copies up to `size` bytes from `data` into o's unfilled part without moving the cursor when
// peek is true. Returns bytes copied.
std::uint32_t op_copy_in(op& o, const char* data, std::uint32_t size, bool peek) noexcept;

// Singly linked FIFO of ops; the head is the only op the kernel ever fills.
class op_fifo {
public:
    bool empty() const noexcept { return head_ == nullptr; }
    op& front() noexcept { return *head_; }
    void push_back(op& o) noexcept {
        o.next = nullptr;
        if (tail_)
            tail_->next = &o;
        else
            head_ = &o;
        tail_ = &o;
    }
    op& pop_front() noexcept {
        op& o = *head_;
        head_ = o.next;
        if (!head_) tail_ = nullptr;
        o.next = nullptr;
        return o;
    }
    op* begin() noexcept { return head_; }
    // Unlinks o, which is in this FIFO and not its head (cancel.queued: the rest keep their
    // order). Walks the list: cancelling is rare, and FIFOs are short.
    void unlink_after_head(op& o) noexcept {
        op* prev = head_;
        while (prev->next != &o)
            prev = prev->next;
        prev->next = o.next;
        if (tail_ == &o) tail_ = prev;
        o.next = nullptr;
    }

private:
    op* head_ = nullptr;
    op* tail_ = nullptr;
};

} // namespace sanport::detail
