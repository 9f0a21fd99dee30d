// SPDX-License-Identifier: MIT
// Capture of the transient WSABUF array and the packing cursor (see op.hpp).
#include "core/op.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace sanport::detail {

// A one-buffer op is exactly one cache line when aligned to one; malloc's 16-byte alignment
// would put it across two. Larger ops take malloc's own size classes: aligning them costs
// memory (an aligned chunk is carved out of a larger one) and saves no line.
op* op_new(std::uint32_t room) noexcept {
    if (room == 0) room = 1;
    const std::size_t size = sizeof(op) + std::size_t{room} * sizeof(kernel_buffer);
    void* raw = room == 1 ? ::operator new (size, std::align_val_t{op_alignment}, std::nothrow)
                          : ::operator new(size, std::nothrow);
    if (raw == nullptr) return nullptr;
    op* o = new (raw) op;
    o->room = static_cast<std::uint16_t>(room);
    return o;
}

void op_delete(op* o) noexcept {
    if (o == nullptr) return;
    const bool aligned = o->room == 1;
    o->~op();
    if (aligned)
        ::operator delete (static_cast<void*>(o), std::align_val_t{op_alignment});
    else
        ::operator delete(static_cast<void*>(o));
}

void op_capture_in_full(op& o, const WSABUF* in, std::uint32_t count) noexcept {
    o.index = 0;
    o.bytes = 0;
    o.held_back = 0;
    kernel_buffer* out = o.buffers();
    std::uint64_t total = 0;
    std::uint32_t j = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (in[i].len == 0) continue; // recv.scatter.order: packed "so as not to create holes"
        out[j++] = make_kernel_buffer(in[i].buf, in[i].len);
        total += in[i].len;
    }
    o.count = static_cast<std::uint16_t>(j);
    // recv.count.large: one receive never reports more than 2^31 - 1 bytes, whatever the lengths
    // add up to.
    o.capacity = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, max_request_bytes));
}

void op_fill_request_in_full(op& o, io_request& request) noexcept {
    const std::uint32_t room = o.capacity - o.bytes;
    request.buffers = o.buffers() + o.index;
    request.fixed_slot = o.fixed_slot;
    std::uint32_t n = 0;
    std::uint64_t sum = 0;
    const std::uint32_t last = std::min<std::uint32_t>(o.count, o.index + max_request_buffers);
    for (std::uint32_t i = o.index; i < last && sum < room; ++i, ++n) {
        if (sum + o.buffers()[i].len > room) {
            // Cut this entry for one request; op_advance gives the rest back.
            o.trimmed = static_cast<std::uint16_t>(i);
            o.held_back = static_cast<std::uint32_t>(sum + o.buffers()[i].len - room);
            o.buffers()[i].len -= o.held_back;
            sum = room;
            ++n;
            break;
        }
        sum += o.buffers()[i].len;
    }
    request.count = n;
}

void op_advance_in_full(op& o, std::uint32_t n) noexcept {
    if (o.held_back != 0) {
        o.buffers()[o.trimmed].len += o.held_back;
        o.held_back = 0;
    }
    o.bytes += n;
    while (n != 0 && o.index < o.count) {
        kernel_buffer& b = o.buffers()[o.index];
        const auto take = static_cast<std::uint32_t>(std::min<std::size_t>(n, b.len));
        b.buf += take;
        b.len -= take;
        n -= take;
        if (b.len == 0) ++o.index;
    }
}

std::uint32_t op_copy_in(op& o, const char* data, std::uint32_t size, bool peek) noexcept {
    std::uint32_t done = 0;
    std::uint32_t index = o.index;
    std::uint32_t room = o.capacity - o.bytes;
    size = std::min(size, room);
    while (done < size && index < o.count) {
        const kernel_buffer& b = o.buffers()[index];
        const auto take = static_cast<std::uint32_t>(std::min<std::size_t>(size - done, b.len));
        std::memcpy(b.buf, data + done, take);
        done += take;
        ++index;
    }
    if (peek) {
        o.bytes += done; // a peek completes at once; its cursor is never used again
    } else {
        op_advance(o, done);
    }
    return done;
}

} // namespace sanport::detail
