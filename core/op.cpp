// SPDX-License-Identifier: MIT
// Capture of the transient WSABUF array and the packing cursor (see op.hpp).
#include "core/op.hpp"

#include "core/spin_mutex.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>

namespace sanport::detail {

namespace {

// One-buffer ops (nearly all of them) come from blocks of 64 lines: exactly one line each,
// aligned, with no allocator header. An aligned operator new of 64 bytes takes an 80-112 byte
// chunk, depending on where the alignment falls. A freed line goes back to this pool for any
// socket; blocks are kept for the life of the process, like socket states.
// The pool's lock is taken only when a socket's own free list has no op that fits: the
// steady state recycles per socket and never comes here.
// Under AddressSanitizer every op is a heap allocation of its own, so a use after free of an
// op is still reported.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool pooled = false;
#else
constexpr bool pooled = true;
#endif
constexpr std::size_t block_lines = 64;

struct line_pool {
    spin_mutex mutex;
    void* free = nullptr; // linked through each free line's first word
};
constinit line_pool pool;

void* take_line() noexcept {
    {
        std::lock_guard lock(pool.mutex);
        if (void* line = pool.free) {
            pool.free = *static_cast<void**>(line);
            return line;
        }
    }
    auto* block = static_cast<char*>(
        ::operator new (block_lines* op_alignment, std::align_val_t{op_alignment}, std::nothrow));
    if (block == nullptr) return nullptr;
    // Line 0 is the caller's; 1..63 are linked in order and spliced in under one lock.
    for (std::size_t i = 1; i + 1 < block_lines; ++i)
        *reinterpret_cast<void**>(block + i * op_alignment) = block + (i + 1) * op_alignment;
    std::lock_guard lock(pool.mutex);
    *reinterpret_cast<void**>(block + (block_lines - 1) * op_alignment) = pool.free;
    pool.free = block + op_alignment;
    return block;
}

void give_line(void* line) noexcept {
    std::lock_guard lock(pool.mutex);
    *static_cast<void**>(line) = pool.free;
    pool.free = line;
}

} // namespace

void forget_parent_op_pool() noexcept {
    // fork.child: a parent thread may have held the lock mid-update; the old lines are leaked.
    new (&pool) line_pool{};
}

// A one-buffer op is exactly one cache line, from the pool above; malloc's 16-byte alignment
// would put it across two. Larger ops take malloc's own size classes: aligning them costs
// memory and saves no line.
op* op_new(std::uint32_t room) noexcept {
    if (room == 0) room = 1;
    const std::size_t size = sizeof(op) + std::size_t{room} * sizeof(kernel_buffer);
    void* raw = nullptr;
    if (room == 1)
        raw = pooled ? take_line()
                     : ::operator new (size, std::align_val_t{op_alignment}, std::nothrow);
    else
        raw = ::operator new(size, std::nothrow);
    if (raw == nullptr) return nullptr;
    op* o = new (raw) op;
    o->room = static_cast<std::uint16_t>(room);
    return o;
}

void op_delete(op* o) noexcept {
    if (o == nullptr) return;
    const bool line = o->room == 1;
    o->~op();
    if (!line)
        ::operator delete(static_cast<void*>(o));
    else if (pooled)
        give_line(o);
    else
        ::operator delete (static_cast<void*>(o), std::align_val_t{op_alignment});
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
