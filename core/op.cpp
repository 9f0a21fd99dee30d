// SPDX-License-Identifier: MIT
// Capture of the transient WSABUF array and the packing cursor (see op.hpp).
#include "core/op.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace sanport::detail {

bool op_capture(op& o, const WSABUF* in, std::uint32_t count) noexcept {
    o.index = 0;
    o.bytes = 0;
    o.held_back = 0;
    if (count <= op_inline_buffers) { // the common shapes: one pass, no spill decision
        std::uint64_t total = 0;
        std::uint32_t j = 0;
        for (std::uint32_t i = 0; i < count; ++i) {
            if (in[i].len == 0) continue; // recv.scatter.order: packed "so as not to create holes"
            o.inline_buffers[j++] = in[i];
            total += in[i].len;
        }
        o.buffers = o.inline_buffers;
        o.count = j;
        o.capacity = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, max_request_bytes));
        return true;
    }
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < count; ++i)
        kept += in[i].len != 0 ? 1 : 0;
    if (kept <= op_inline_buffers) {
        o.buffers = o.inline_buffers;
    } else {
        if (o.spill_capacity < kept) {
            // Grows once to the largest array this op slot has seen, then is reused.
            o.spill.reset(new (std::nothrow) WSABUF[kept]);
            if (!o.spill) {
                o.spill_capacity = 0;
                return false;
            }
            o.spill_capacity = kept;
        }
        o.buffers = o.spill.get();
    }
    std::uint64_t total = 0;
    std::uint32_t j = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (in[i].len == 0) continue; // packed "so as not to create holes", as above
        o.buffers[j++] = in[i];
        total += in[i].len;
    }
    o.count = kept;
    // recv.count.large: one receive never reports more than 2^31 - 1 bytes, whatever the lengths
    // add up to.
    o.capacity = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, max_request_bytes));
    return true;
}

void op_fill_request(op& o, io_request& request) noexcept {
    std::uint32_t room = o.capacity - o.bytes;
    request.buffers = o.buffers + o.index;
    request.fixed_slot = o.fixed_slot;
    if (o.count - o.index == 1 && o.buffers[o.index].len <= room) { // one entry, no cut
        request.count = 1;
        return;
    }
    std::uint32_t n = 0;
    std::uint64_t sum = 0;
    const std::uint32_t last = std::min(o.count, o.index + max_request_buffers);
    for (std::uint32_t i = o.index; i < last && sum < room; ++i, ++n) {
        if (sum + o.buffers[i].len > room) {
            // Cut this entry for one request; op_advance gives the rest back.
            o.trimmed = i;
            o.held_back = static_cast<std::uint32_t>(sum + o.buffers[i].len - room);
            o.buffers[i].len -= o.held_back;
            sum = room;
            ++n;
            break;
        }
        sum += o.buffers[i].len;
    }
    request.count = n;
}

void op_advance(op& o, std::uint32_t n) noexcept {
    if (o.held_back != 0) {
        o.buffers[o.trimmed].len += o.held_back;
        o.held_back = 0;
    }
    o.bytes += n;
    while (n != 0 && o.index < o.count) {
        WSABUF& b = o.buffers[o.index];
        const std::uint32_t take = std::min<std::uint32_t>(n, b.len);
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
        const WSABUF& b = o.buffers[index];
        const std::uint32_t take = std::min<std::uint32_t>(size - done, b.len);
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
