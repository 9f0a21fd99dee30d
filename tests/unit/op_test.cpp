// SPDX-License-Identifier: MIT
// Covers core/op.{hpp,cpp}: capture of the caller's WSABUF array (zero-length entries dropped,
// stored right after the op's header), op_alloc's reuse of a socket's ops, the request caps of the
// seam (max_request_buffers entries, max_request_bytes bytes, a trimmed entry restored by
// op_advance), op_copy_in packing across buffers, and MSG_PEEK leaving the cursor alone.
// Pure bookkeeping: the large-array cases use fake WSABUF pointers that are never dereferenced.

#include "core/backend.hpp"
#include "core/op.hpp"
#include "core/socket_state.hpp"
#include "core/transfer.hpp"

#include <sanport/compat.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using sanport::detail::io_request;
using sanport::detail::max_request_buffers;
using sanport::detail::max_request_bytes;
using sanport::detail::op;
using sanport::detail::op_advance;
using sanport::detail::op_alloc;
using sanport::detail::op_capture;
using sanport::detail::op_copy_in;
using sanport::detail::op_fill_request;
using sanport::detail::op_free;
using sanport::detail::op_new;
using sanport::detail::op_ptr;

// A pointer that is only compared, never dereferenced.
CHAR* fake_ptr(std::uintptr_t at) {
    return reinterpret_cast<CHAR*>(at);
}

std::uint64_t request_bytes(const io_request& r) {
    std::uint64_t sum = 0;
    for (std::uint32_t i = 0; i < r.count; ++i)
        sum += r.buffers[i].len;
    return sum;
}

} // namespace

TEST_CASE("core: op - capture drops zero-length entries and keeps array order") {
    char a[3], b[2], c[4];
    WSABUF in[] = {{0, fake_ptr(0x1000)}, {3, a}, {0, nullptr}, {2, b}, {0, a}, {4, c},
                   {0, nullptr}};
    op_ptr held(op_new(7));
    op& o = *held;
    op_capture(o, in, 7);
    CHECK(o.count == 3);
    CHECK(o.capacity == 9);
    CHECK(o.index == 0);
    CHECK(o.bytes == 0);
    CHECK(o.room >= 7);
    CHECK(o.buffers()[0].buf == a);
    CHECK(o.buffers()[0].len == 3);
    CHECK(o.buffers()[1].buf == b);
    CHECK(o.buffers()[1].len == 2);
    CHECK(o.buffers()[2].buf == c);
    CHECK(o.buffers()[2].len == 4);

    // The copy is ours: the caller may reuse its array at once.
    in[1].len = 99;
    in[1].buf = nullptr;
    CHECK(o.buffers()[0].buf == a);
    CHECK(o.buffers()[0].len == 3);

    // A request over it never names a zero-length entry.
    io_request r;
    op_fill_request(o, r);
    REQUIRE(r.count == 3);
    for (std::uint32_t i = 0; i < r.count; ++i)
        CHECK(r.buffers[i].len != 0);
}

TEST_CASE("core: op - only zero-length entries capture a zero-byte receive") {
    WSABUF in[] = {{0, nullptr}, {0, fake_ptr(0x20000)}};
    op_ptr held(op_new(2));
    op& o = *held;
    op_capture(o, in, 2);
    CHECK(o.count == 0);
    CHECK(o.capacity == 0);
    CHECK(o.full());
}

TEST_CASE("core: op - a socket reuses an op that has room for the array and replaces one that "
          "has not") {
    sanport::detail::socket_state s;
    char mem[32];
    std::vector<WSABUF> large;
    for (std::uint32_t i = 0; i < 4; ++i)
        large.push_back({2, mem + 2 * i});

    op* one = op_alloc(s, 1);
    REQUIRE(one != nullptr);
    CHECK(one->room == 1);
    op_free(s, *one);
    CHECK(op_alloc(s, 1) == one); // recycled, not allocated again
    op_free(s, *one);

    // Four entries do not fit the recycled op: it is replaced by one that holds them.
    op* four = op_alloc(s, 4);
    REQUIRE(four != nullptr);
    CHECK(four->room == 4);
    op_capture(*four, large.data(), 4);
    CHECK(four->count == 4);
    CHECK(four->capacity == 8);
    for (std::uint32_t i = 0; i < 4; ++i) {
        CHECK(four->buffers()[i].buf == mem + 2 * i);
        CHECK(four->buffers()[i].len == 2);
    }
    op_free(s, *four);
    // A smaller array reuses the larger op.
    CHECK(op_alloc(s, 2) == four);
    op_free(s, *four);

    // Two posted at once, one of each size, then freed small-first: the free list's head is
    // the small op. A four-entry call still finds the large one behind it, and the small one
    // stays for the next small call: mixed sizes allocate nothing once both exist.
    CHECK(op_alloc(s, 4) == four);
    op* small = op_alloc(s, 1); // nothing recycled is left: a new one-entry op
    REQUIRE(small != nullptr);
    CHECK(small != four);
    CHECK(small->room == 1);
    op_free(s, *four);
    op_free(s, *small); // head: small, then four
    for (int round = 0; round < 3; ++round) {
        CHECK(op_alloc(s, 4) == four);
        CHECK(op_alloc(s, 1) == small);
        op_free(s, *four);
        op_free(s, *small);
    }
    while (op* o = s.free_ops) {
        s.free_ops = o->next;
        sanport::detail::op_delete(o);
    }
}

TEST_CASE("core: op - a request names at most max_request_buffers entries") {
    static_assert(max_request_buffers == 1024);
    const std::uint32_t n = 3000;
    std::vector<WSABUF> in(n);
    for (std::uint32_t i = 0; i < n; ++i)
        in[i] = {2, fake_ptr(0x100000 + 16 * std::uintptr_t{i})};
    op_ptr held(op_new(n));
    op& o = *held;
    op_capture(o, in.data(), n);
    CHECK(o.count == n);
    CHECK(o.capacity == 2 * n);

    io_request r;
    op_fill_request(o, r);
    CHECK(r.count == max_request_buffers);
    CHECK(r.buffers == o.buffers());
    CHECK(request_bytes(r) == 2 * max_request_buffers);
    CHECK(o.held_back == 0);

    // The kernel filled all of it: the next request starts at entry 1024.
    op_advance(o, 2 * max_request_buffers);
    CHECK(o.index == max_request_buffers);
    CHECK(o.bytes == 2 * max_request_buffers);
    op_fill_request(o, r);
    CHECK(r.count == max_request_buffers);
    CHECK(r.buffers == o.buffers() + max_request_buffers);
    CHECK(r.buffers[0].buf == fake_ptr(0x100000 + 16 * std::uintptr_t{max_request_buffers}));

    // A short fill that ends inside an entry: the cursor moves inside it.
    op_advance(o, 3);
    CHECK(o.index == max_request_buffers + 1);
    CHECK(o.buffers()[o.index].len == 1);
    CHECK(o.buffers()[o.index].buf ==
          fake_ptr(0x100000 + 16 * std::uintptr_t{max_request_buffers + 1} + 1));
    op_fill_request(o, r);
    CHECK(r.count == max_request_buffers);
    CHECK(r.buffers[0].len == 1);

    // The tail: fewer than 1024 entries left.
    op_advance(o, 1 + 2 * (max_request_buffers - 1));
    CHECK(o.index == 2 * max_request_buffers + 1);
    op_fill_request(o, r);
    CHECK(r.count == n - (2 * max_request_buffers + 1));
    op_advance(o, static_cast<std::uint32_t>(request_bytes(r)));
    CHECK(o.full());
    CHECK(o.bytes == 2 * n);
    CHECK(o.index == n);
}

TEST_CASE(
    "core: op - capacity and one request stop at 2^31-1 bytes, the trimmed entry comes back") {
    static_assert(max_request_bytes == 0x7fffffffu);
    const ULONG gib = 0x40000000u; // 1 GiB each: 3 GiB in all
    WSABUF in[] = {
        {gib, fake_ptr(0x10000000)}, {gib, fake_ptr(0x60000000)}, {gib, fake_ptr(0xa0000000)}};
    op_ptr held(op_new(3));
    op& o = *held;
    op_capture(o, in, 3);
    CHECK(o.count == 3);
    CHECK(o.capacity == max_request_bytes);

    io_request r;
    op_fill_request(o, r);
    REQUIRE(r.count == 2);
    CHECK(request_bytes(r) == max_request_bytes);
    CHECK(r.buffers[0].len == gib);
    CHECK(r.buffers[1].len == gib - 1); // cut short for this one request
    CHECK(o.trimmed == 1);
    CHECK(o.held_back == 1);

    SUBCASE("a partial fill restores the trimmed entry") {
        op_advance(o, 100);
        CHECK(o.held_back == 0);
        CHECK(o.buffers()[1].len == gib);
        CHECK(o.index == 0);
        CHECK(o.buffers()[0].len == gib - 100);
        CHECK(o.buffers()[0].buf == fake_ptr(0x10000000 + 100));
        CHECK(o.bytes == 100);
        // The next request is capped again by what is left of the 2^31-1.
        op_fill_request(o, r);
        CHECK(request_bytes(r) == max_request_bytes - 100);
        op_advance(o, max_request_bytes - 100);
        CHECK(o.full());
        CHECK(o.bytes == max_request_bytes);
        CHECK(o.buffers()[1].len == 1); // the held-back byte is back, never filled
    }
    SUBCASE("a full fill ends the receive at 2^31-1") {
        op_advance(o, max_request_bytes);
        CHECK(o.held_back == 0);
        CHECK(o.full());
        CHECK(o.bytes == max_request_bytes);
        CHECK(o.index == 1);
        CHECK(o.buffers()[1].len == 1);
        CHECK(o.buffers()[1].buf == fake_ptr(0x60000000 + gib - 1));
        CHECK(o.buffers()[2].len == gib);
    }
}

TEST_CASE("core: op - a cap that falls on an entry boundary trims nothing") {
    WSABUF in[] = {{max_request_bytes, fake_ptr(0x10000000)}, {5, fake_ptr(0x20000)}};
    op_ptr held(op_new(2));
    op& o = *held;
    op_capture(o, in, 2);
    CHECK(o.capacity == max_request_bytes);
    io_request r;
    op_fill_request(o, r);
    CHECK(r.count == 1);
    CHECK(o.held_back == 0);
    CHECK(request_bytes(r) == max_request_bytes);
    op_advance(o, 10);
    CHECK(o.buffers()[0].len == max_request_bytes - 10);
    CHECK(o.buffers()[1].len == 5);
}

TEST_CASE("core: op - op_copy_in packs across buffers, each full before the next") {
    char a[3] = {}, b[4] = {}, c[5] = {};
    WSABUF in[] = {{3, a}, {0, nullptr}, {4, b}, {5, c}};
    op_ptr held(op_new(4));
    op& o = *held;
    op_capture(o, in, 4);
    CHECK(op_copy_in(o, "abcdefghij", 10, false) == 10);
    CHECK(std::string(a, 3) == "abc");
    CHECK(std::string(b, 4) == "defg");
    CHECK(std::string(c, 3) == "hij");
    CHECK(o.bytes == 10);
    CHECK(o.index == 2);
    CHECK(o.buffers()[2].len == 2);
    CHECK(o.buffers()[2].buf == c + 3);
    // Only the room left is taken.
    CHECK(op_copy_in(o, "KLMNOP", 6, false) == 2);
    CHECK(std::string(c, 5) == "hijKL");
    CHECK(o.full());
    CHECK(op_copy_in(o, "Z", 1, false) == 0);
    CHECK(std::string(c, 5) == "hijKL");
}

TEST_CASE("core: op - a second copy continues where the first stopped inside an entry") {
    char a[4] = {}, b[4] = {};
    WSABUF in[] = {{4, a}, {4, b}};
    op_ptr held(op_new(2));
    op& o = *held;
    op_capture(o, in, 2);
    CHECK(op_copy_in(o, "ab", 2, false) == 2);
    CHECK(op_copy_in(o, "cdef", 4, false) == 4);
    CHECK(std::string(a, 4) == "abcd");
    CHECK(std::string(b, 2) == "ef");
    CHECK(o.bytes == 6);
}

TEST_CASE("core: op - peek copies without moving the cursor") {
    char a[2] = {}, b[6] = {};
    WSABUF in[] = {{2, a}, {6, b}};
    op_ptr held(op_new(2));
    op& o = *held;
    op_capture(o, in, 2);
    CHECK(op_copy_in(o, "hello", 5, true) == 5);
    CHECK(std::string(a, 2) == "he");
    CHECK(std::string(b, 3) == "llo");
    CHECK(o.bytes == 5); // the count a peek reports
    CHECK(o.index == 0);
    CHECK(o.buffers()[0].buf == a);
    CHECK(o.buffers()[0].len == 2);
    CHECK(o.buffers()[1].buf == b);
    CHECK(o.buffers()[1].len == 6);
}

// One-buffer ops are one aligned line each, from a shared pool: 200 of them (several 64-line
// blocks) are distinct, aligned, and each holds its own header and buffer; a freed one is the
// next one made (except under ASan, where each is a heap allocation of its own).
TEST_CASE("core: op - one-buffer ops are distinct aligned lines, and freed lines are reused") {
    std::vector<op*> ops;
    for (std::uint32_t i = 0; i < 200; ++i) {
        op* o = sanport::detail::op_new(1);
        REQUIRE(o != nullptr);
        CHECK(reinterpret_cast<std::uintptr_t>(o) % sanport::detail::op_alignment == 0);
        CHECK(o->room == 1);
        CHECK(o->next == nullptr);
        o->bytes = i;
        o->buffers()[0].len = i;
        ops.push_back(o);
    }
    for (std::uint32_t i = 0; i < 200; ++i) { // no two lines overlap
        CHECK(ops[i]->bytes == i);
        CHECK(ops[i]->buffers()[0].len == i);
    }
    op* last = ops.back();
    ops.pop_back();
    sanport::detail::op_delete(last);
#if !defined(__SANITIZE_ADDRESS__)
    op* again = sanport::detail::op_new(1);
    CHECK(again == last);
    ops.push_back(again);
#endif
    for (op* o : ops)
        sanport::detail::op_delete(o);
}
