// SPDX-License-Identifier: MIT
// Covers core/registry.{hpp,cpp}: WSPRegisterMemory's per-socket lookup. Binary search over
// thousands of regions (every one found, the last added too), fixed_slot only when every buffer
// lies in one region with a live kernel slot, MEM_WRITE needed for receives and MEM_READ for
// sends (WSAEFAULT otherwise), overlapping registrations where one grants access, strict mode,
// remove/contains/take_all; and the same rules reached through WSPRecv on a driven engine over
// the fake backend (fixed slot in the request, WSAEFAULT before anything is queued).

#include "core/registry.hpp"
#include "tests/support/fake_backend.hpp"

#include <sanport/compat.h>
#include <sanport/wsp.h>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using sanport::detail::buffer_check;
using sanport::detail::region;
using sanport::detail::registry;
using sanport::test::posted;

void setup(region& r, char* base, std::size_t length, DWORD flags, std::int32_t live = -1) {
    r.base = base;
    r.length = length;
    r.flags = flags;
    r.slot = live;
    r.live_slot.store(live);
}

// The rig of tests/support/fake_backend.hpp, with a socket that must open.
struct rig : sanport::test::fake_rig {
    SOCKET open() {
        int err = 0;
        const SOCKET s = fake_rig::open(err);
        REQUIRE_MESSAGE(s != INVALID_SOCKET, sanport::wsa_error_name(err));
        return s;
    }
};

buffer_check check1(const registry& reg, char* p, ULONG len, DWORD needed, bool strict) {
    WSABUF b{len, p};
    return reg.check(&b, 1, needed, strict);
}

} // namespace

TEST_CASE("core: registry - lookup among thousands of regions finds each one, the last too") {
    constexpr std::size_t n = 4000;
    constexpr std::size_t size = 64;
    std::vector<char> mem(n * size + 64);
    std::vector<region> regions(n);
    registry reg;
    // Added in a scrambled (deterministic) order, so the sort matters.
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (k * 2654435761u) % n; // a permutation: gcd(2654435761, 4000) == 1
        setup(regions[i], mem.data() + i * size, size, MEM_READ | MEM_WRITE,
              static_cast<std::int32_t>(i % 8));
        reg.add(&regions[i]);
    }
    for (std::size_t i = 0; i < n; ++i)
        REQUIRE(reg.contains(&regions[i]));

    for (std::size_t i : {std::size_t{0}, std::size_t{1}, n / 2, n - 2, n - 1}) {
        CAPTURE(i);
        const buffer_check c = check1(reg, mem.data() + i * size + 8, 32, MEM_WRITE, true);
        CHECK(c.wsa == 0);
        CHECK(c.fixed_slot == static_cast<std::int32_t>(i % 8));
        // The whole region, to the last byte.
        const buffer_check whole = check1(reg, mem.data() + i * size, size, MEM_WRITE, true);
        CHECK(whole.wsa == 0);
        CHECK(whole.fixed_slot == static_cast<std::int32_t>(i % 8));
    }
    std::size_t found = 0;
    for (std::size_t i = 0; i < n; ++i)
        found += check1(reg, mem.data() + i * size + 63, 1, MEM_WRITE, true).wsa == 0 ? 1 : 0;
    CHECK(found == n);

    // Past the end of the last region, and straddling two regions: neither is registered.
    CHECK(check1(reg, mem.data() + n * size, 8, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + (n - 1) * size + 60, 8, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 60, 8, MEM_WRITE, true).wsa == WSAEFAULT);
    // Non-strict: ordinary path, no fixed slot.
    const buffer_check loose = check1(reg, mem.data() + 60, 8, MEM_WRITE, false);
    CHECK(loose.wsa == 0);
    CHECK(loose.fixed_slot == -1);
}

TEST_CASE("core: registry - fixed_slot only when every buffer lies in one live region") {
    std::vector<char> mem(1024);
    region a, b, dead;
    setup(a, mem.data(), 256, MEM_WRITE, 3);
    setup(b, mem.data() + 256, 256, MEM_WRITE, 5);
    setup(dead, mem.data() + 512, 256, MEM_WRITE, -1); // slot not (yet) taken by the kernel
    registry reg;
    reg.add(&b);
    reg.add(&dead);
    reg.add(&a);

    WSABUF in_a[] = {
        {16, mem.data()}, {0, nullptr}, {32, mem.data() + 100}, {56, mem.data() + 200}};
    buffer_check c = reg.check(in_a, 4, MEM_WRITE, false);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 3);

    WSABUF in_b[] = {{16, mem.data() + 256}, {16, mem.data() + 400}};
    c = reg.check(in_b, 2, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 5);

    WSABUF a_and_b[] = {{16, mem.data()}, {16, mem.data() + 300}};
    c = reg.check(a_and_b, 2, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == -1);

    char outside[16];
    WSABUF a_and_unregistered[] = {{16, mem.data()}, {16, outside}};
    c = reg.check(a_and_unregistered, 2, MEM_WRITE, false);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == -1);
    WSABUF unregistered_and_a[] = {{16, outside}, {16, mem.data()}};
    c = reg.check(unregistered_and_a, 2, MEM_WRITE, false);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == -1);

    WSABUF in_dead[] = {{16, mem.data() + 600}};
    c = reg.check(in_dead, 1, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == -1);

    // Becomes live (the engine thread stored the slot): now fixed.
    dead.live_slot.store(7);
    c = reg.check(in_dead, 1, MEM_WRITE, true);
    CHECK(c.fixed_slot == 7);
}

TEST_CASE("core: registry - a receive needs MEM_WRITE, a send MEM_READ") {
    std::vector<char> mem(512);
    region ro, wo;
    setup(ro, mem.data(), 256, MEM_READ, 1);
    setup(wo, mem.data() + 256, 256, MEM_WRITE, 2);
    registry reg;
    reg.add(&ro);
    reg.add(&wo);

    // Read-only region: a receive into it is WSAEFAULT, strict or not.
    CHECK(check1(reg, mem.data() + 10, 20, MEM_WRITE, false).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 10, 20, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 10, 20, MEM_READ, true).wsa == 0);
    // Write-only region: a send from it is WSAEFAULT.
    CHECK(check1(reg, mem.data() + 300, 20, MEM_READ, false).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 300, 20, MEM_READ, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 300, 20, MEM_WRITE, true).wsa == 0);

    // One refused buffer fails the whole array, wherever it is.
    WSABUF mixed[] = {{20, mem.data() + 300}, {20, mem.data() + 10}};
    CHECK(reg.check(mixed, 2, MEM_WRITE, false).wsa == WSAEFAULT);
}

TEST_CASE("core: registry - overlapping regions: one that grants access is enough") {
    std::vector<char> mem(1024);
    region ro, rw, big_rw, small_ro;
    setup(ro, mem.data(), 100, MEM_READ, 1);                  // [0, 100) read-only
    setup(rw, mem.data() + 50, 100, MEM_READ | MEM_WRITE, 2); // [50, 150) read-write
    registry reg;
    reg.add(&ro);
    reg.add(&rw);

    buffer_check c = check1(reg, mem.data() + 60, 20, MEM_WRITE, false);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 2);
    c = check1(reg, mem.data() + 10, 20, MEM_WRITE, false); // only the read-only one holds it
    CHECK(c.wsa == WSAEFAULT);
    c = check1(reg, mem.data() + 10, 20, MEM_READ, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 1);

    // A big writable region and a small read-only one inside it, registered later (so the
    // backward scan meets the refusing one first).
    setup(big_rw, mem.data() + 200, 800, MEM_WRITE, 4); // [200, 1000)
    setup(small_ro, mem.data() + 900, 50, MEM_READ, 6); // [900, 950)
    reg.add(&big_rw);
    reg.add(&small_ro);
    c = check1(reg, mem.data() + 910, 20, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 4);
    c = check1(reg, mem.data() + 960, 20, MEM_WRITE, true); // after the small one, in the big one
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 4);

    // Two buffers both inside the big region: one slot for both, even though the second one
    // also lies in the small region.
    WSABUF both[] = {{20, mem.data() + 300}, {20, mem.data() + 910}};
    c = reg.check(both, 2, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 4);
}

TEST_CASE("core: registry - a region registered twice with different rights") {
    std::vector<char> mem(256);
    region ro, rw;
    setup(ro, mem.data(), 256, MEM_READ, -1);
    setup(rw, mem.data(), 256, MEM_WRITE, 3);
    registry reg;
    reg.add(&rw);
    reg.add(&ro); // same base, added later
    const buffer_check c = check1(reg, mem.data() + 5, 10, MEM_WRITE, true);
    CHECK(c.wsa == 0);
    CHECK(c.fixed_slot == 3);
    CHECK(check1(reg, mem.data() + 5, 10, MEM_READ, true).wsa == 0);
    REQUIRE(reg.remove(&rw));
    CHECK(check1(reg, mem.data() + 5, 10, MEM_WRITE, false).wsa == WSAEFAULT);
}

TEST_CASE(
    "core: registry - strict mode refuses unregistered buffers, zero-length entries are skipped") {
    std::vector<char> all_mem(160);
    char* mem_base = all_mem.data() + 16;
    char other[32];
    region r;
    setup(r, mem_base, 128, MEM_READ | MEM_WRITE, -1);
    registry reg;

    // Empty registry.
    CHECK(check1(reg, other, 32, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, other, 32, MEM_WRITE, false).wsa == 0);
    CHECK(check1(reg, other, 32, MEM_WRITE, false).fixed_slot == -1);

    reg.add(&r);
    CHECK(check1(reg, mem_base, 128, MEM_WRITE, true).wsa == 0);
    CHECK(check1(reg, other, 32, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem_base + 120, 16, MEM_WRITE, true).wsa == WSAEFAULT); // runs past the end
    CHECK(check1(reg, mem_base - 8, 16, MEM_WRITE, true).wsa == WSAEFAULT);   // starts before

    WSABUF with_empty[] = {{0, other}, {16, mem_base}, {0, nullptr}};
    const buffer_check c = reg.check(with_empty, 3, MEM_WRITE, true);
    CHECK(c.wsa == 0);
}

TEST_CASE("core: registry - remove, contains and take_all") {
    std::vector<char> mem(300);
    region a, b, c, stranger;
    setup(a, mem.data(), 100, MEM_WRITE);
    setup(b, mem.data() + 100, 100, MEM_WRITE);
    setup(c, mem.data() + 200, 100, MEM_WRITE);
    registry reg;
    CHECK(reg.empty());
    reg.add(&a);
    reg.add(&b);
    reg.add(&c);
    CHECK_FALSE(reg.empty());
    CHECK(reg.contains(&a));
    CHECK(reg.contains(&b));
    CHECK(reg.contains(&c));
    CHECK_FALSE(reg.contains(&stranger));

    CHECK(reg.remove(&b));
    CHECK_FALSE(reg.contains(&b));
    CHECK_FALSE(reg.remove(&b));
    CHECK_FALSE(reg.remove(&stranger));
    CHECK(check1(reg, mem.data() + 150, 10, MEM_WRITE, true).wsa == WSAEFAULT);
    CHECK(check1(reg, mem.data() + 50, 10, MEM_WRITE, true).wsa == 0);
    CHECK(check1(reg, mem.data() + 250, 10, MEM_WRITE, true).wsa == 0);

    std::vector<region*> all = reg.take_all();
    CHECK(all.size() == 2);
    CHECK(reg.empty());
    CHECK_FALSE(reg.contains(&a));
    CHECK(check1(reg, mem.data() + 50, 10, MEM_WRITE, true).wsa == WSAEFAULT);
    // The registry works again after take_all.
    reg.add(&b);
    CHECK(check1(reg, mem.data() + 150, 10, MEM_WRITE, true).wsa == 0);
}

TEST_CASE("core: registry - through WSPRecv: fixed slot for the backend, MEM_WRITE required") {
    rig r;
    const SOCKET s = r.open();
    std::vector<char> rw(4096), ro(4096);
    int err = 0;
    HANDLE h_rw = sanport::WSPRegisterMemory(s, rw.data(), 4096, MEM_READ | MEM_WRITE, &err);
    REQUIRE(h_rw != nullptr);
    HANDLE h_ro = sanport::WSPRegisterMemory(s, ro.data(), 4096, MEM_READ, &err);
    REQUIRE(h_ro != nullptr);
    CHECK(r.fake->live_regions.size() == 2);

    // Into the writable region: the request names its kernel slot.
    posted& p = r.fresh({});
    p.bufs = {WSABUF{100, rw.data()}, WSABUF{100, rw.data() + 1000}};
    p.rc =
        sanport::WSPRecv(s, p.bufs.data(), 2, &p.bytes, &p.flags, &p.ov, nullptr, nullptr, &p.err);
    REQUIRE(p.pending_result());
    REQUIRE(r.fake->started_recv(s) != nullptr);
    CHECK(r.fake->started_recv(s)->fixed_slot >= 0);
    // In use by a pending receive: deregistration is refused.
    CHECK(sanport::WSPDeregisterMemory(s, h_rw, &err) == SOCKET_ERROR);
    CHECK(err == WSAEINVAL);

    // Into the read-only region: WSAEFAULT at once, nothing queued or started.
    const std::size_t started = r.fake->started.size();
    posted& bad = r.fresh({});
    bad.bufs = {WSABUF{10, ro.data()}};
    bad.rc = sanport::WSPRecv(s, bad.bufs.data(), 1, &bad.bytes, &bad.flags, &bad.ov, nullptr,
                              nullptr, &bad.err);
    CHECK(bad.rc == SOCKET_ERROR);
    CHECK(bad.err == WSAEFAULT);

    CHECK(r.fake->deliver(s, "fixed") == 5);
    r.run();
    CHECK(p.status() == 0);
    CHECK(std::string(rw.data(), 5) == "fixed");
    CHECK(r.fake->started.size() == started); // the bad one never reached the backend
    CHECK(sanport::WSPDeregisterMemory(s, h_rw, &err) == 0);
    CHECK(sanport::WSPDeregisterMemory(s, h_ro, &err) == 0);
    r.run();
    CHECK(r.fake->live_regions.empty());
}

TEST_CASE("core: registry - through WSPRecv: strict registration refuses unregistered buffers") {
    rig r;
    const SOCKET s = r.open();
    int err = 0;
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::strict_registration, 1, &err) == 0);
    posted& p = r.recv(s, {8});
    CHECK(p.rc == SOCKET_ERROR);
    CHECK(p.err == WSAEFAULT);
    CHECK(r.fake->started.empty());
    REQUIRE(sanport::set_socket_mode(s, sanport::socket_mode::strict_registration, 0, &err) == 0);
    posted& q = r.recv(s, {8});
    CHECK(q.pending_result());
}
