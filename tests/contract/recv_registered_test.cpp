// SPDX-License-Identifier: MIT
// docs/contract.md rows: recv.memory.registered, recv.memory.unregistered,
// deregister.pending.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

void enable_strict(SOCKET s) {
    int err = 0;
    REQUIRE_MESSAGE(set_socket_mode(s, socket_mode::strict_registration, 1, &err) == 0,
                    "set_socket_mode(strict_registration): " << wsa_name(err));
}

HANDLE register_region(SOCKET s, char* p, std::size_t n, DWORD flags) {
    int err = 0;
    HANDLE h = sanport::WSPRegisterMemory(s, p, static_cast<DWORD>(n), flags, &err);
    REQUIRE_MESSAGE(h != nullptr, "WSPRegisterMemory: " << wsa_name(err));
    return h;
}

// One overlapped receive into [p, p + n), completed (bounded).
struct raw_recv {
    op_result r;
    int rc = 0;
    int err = 0;
};
raw_recv recv_into(SOCKET s, char* p, ULONG n, overlapped_op& op) {
    WSABUF b{n, p};
    raw_recv out;
    DWORD bytes = bytes_sentinel, flags = 0;
    out.rc = WSPRecv(s, &b, 1, &bytes, &flags, &op.ov(), nullptr, nullptr, &out.err);
    if (out.rc == 0) {
        out.r.way = op_result::how::immediate;
        out.r.ok = TRUE;
        out.r.bytes = bytes;
    } else if (out.err == WSA_IO_PENDING) {
        if (op.wait()) {
            out.r = op.result(s);
        } else {
            out.r.way = op_result::how::timed_out;
        }
    } else {
        out.r.way = op_result::how::failed_at_call;
        out.r.err = out.err;
    }
    return out;
}

} // namespace

TEST_CASE("recv.memory.registered: buffer registered with WSPRegisterMemory - MEM_READ and "
          "MEM_WRITE region, the receive works") {
    for (bool strict : {false, true}) {
        INFO("strict registration: " << strict);
        loopback_pair p = make_pair();
        if (strict) enable_strict(p.s);
        std::vector<char> region(4096, '.');
        HANDLE h = register_region(p.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
        overlapped_op op({1});
        delayed sender(20, [fd = p.peer] { try_send_all(fd, "registered"); });
        raw_recv got = recv_into(p.s, region.data() + 100, 64, op);
        sender.join();
        CHECK(got.r.ok == TRUE);
        CHECK(got.r.bytes == 10u);
        CHECK(std::string(region.data() + 100, 10) == "registered");
        CHECK(region[99] == '.');
        CHECK(region[110] == '.');
        int err = 0;
        CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == 0);
    }
}

TEST_CASE("recv.memory.registered: buffer registered with WSPRegisterMemory - a region registered "
          "without MEM_WRITE is WSAEFAULT, no data consumed") {
    loopback_pair p = make_pair();
    send_all(p.peer, "untouched");
    REQUIRE(wait_kernel_unread(p.s, 9));
    std::vector<char> region(256, '.');
    HANDLE h = register_region(p.s, region.data(), region.size(), MEM_READ);
    overlapped_op op({1});
    raw_recv got = recv_into(p.s, region.data(), 64, op);
    CHECK(got.rc == SOCKET_ERROR);
    CHECK(wsa_name(got.err) == "WSAEFAULT");
    CHECK(region[0] == '.');
    CHECK(recv_once(p.s, 16).data == "untouched");
    int err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == 0);
}

TEST_CASE("recv.memory.unregistered, depart.unregistered: buffer not registered - works through "
          "the ordinary path by default") {
    loopback_pair p = make_pair();
    std::vector<char> registered(256, '.');
    register_region(p.s, registered.data(), registered.size(), MEM_READ | MEM_WRITE);
    std::vector<char> plain(64, '.');
    overlapped_op op({1});
    send_all(p.peer, "ordinary");
    raw_recv got = recv_into(p.s, plain.data(), 64, op);
    CHECK(got.r.ok == TRUE);
    CHECK(got.r.bytes == 8u);
    CHECK(std::string(plain.data(), 8) == "ordinary");
}

TEST_CASE("recv.memory.unregistered, depart.unregistered: buffer not registered - WSAEFAULT once "
          "strict registration is on, no data consumed") {
    loopback_pair p = make_pair();
    enable_strict(p.s);
    send_all(p.peer, "guarded");
    REQUIRE(wait_kernel_unread(p.s, 7));
    std::vector<char> region(256, '.');
    register_region(p.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
    std::vector<char> plain(64, '.');

    overlapped_op op({1});
    raw_recv got = recv_into(p.s, plain.data(), 64, op);
    CHECK(got.rc == SOCKET_ERROR);
    CHECK(wsa_name(got.err) == "WSAEFAULT");

    // A buffer that runs past the end of the region is not registered either.
    overlapped_op straddle({1});
    got = recv_into(p.s, region.data() + 200, 100, straddle);
    CHECK(got.rc == SOCKET_ERROR);
    CHECK(wsa_name(got.err) == "WSAEFAULT");

    // One bad WSABUF among good ones faults the whole call.
    WSABUF mixed[2] = {{16, region.data()}, {16, plain.data()}};
    overlapped_op op3({1});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    CHECK(WSPRecv(p.s, mixed, 2, &bytes, &flags, &op3.ov(), nullptr, nullptr, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");

    overlapped_op good({1});
    got = recv_into(p.s, region.data(), 64, good);
    CHECK(got.r.ok == TRUE);
    CHECK(std::string(region.data(), got.r.bytes) == "guarded");
}

TEST_CASE("deregister.pending: WSPDeregisterMemory while a receive into it is pending - WSAEINVAL, "
          "then allowed after completion") {
    loopback_pair p = make_pair();
    std::vector<char> region(1024, '.');
    HANDLE h = register_region(p.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
    overlapped_op op({1});
    WSABUF b{64, region.data() + 10};
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    REQUIRE(WSPRecv(p.s, &b, 1, &bytes, &flags, &op.ov(), nullptr, nullptr, &err) == SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");

    err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");

    send_all(p.peer, "still mine");
    REQUIRE(op.wait());
    CHECK(op.result(p.s).bytes == 10u);
    CHECK(std::string(region.data() + 10, 10) == "still mine");
    err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == 0);
    // Once gone, the handle is unknown.
    CHECK(sanport::WSPDeregisterMemory(p.s, h, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

TEST_CASE("memory.deregister: a handle that is not a registration of this socket is WSAEINVAL "
          "and stays valid for its own") {
    loopback_pair p = make_pair();
    loopback_pair other = make_pair();
    std::vector<char> region(256);
    HANDLE other_h = register_region(other.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
    int err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, reinterpret_cast<HANDLE>(0x1234), &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(sanport::WSPDeregisterMemory(p.s, other_h, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(sanport::WSPDeregisterMemory(other.s, other_h, &err) == 0);
}

TEST_CASE("memory.register: flags without MEM_READ or MEM_WRITE are WSAEINVAL") {
    loopback_pair p = make_pair();
    std::vector<char> region(256);
    int err = 0;
    CHECK(sanport::WSPRegisterMemory(p.s, region.data(), 256, 0, &err) == nullptr);
    CHECK(wsa_name(err) == "WSAEINVAL");
}

TEST_CASE("recv.memory.registered: buffer registered with WSPRegisterMemory - 4,000 regions on one "
          "socket, receives into the first and the last work in strict mode") {
    constexpr std::size_t regions = 4000, stride = 32, size = 16;
    loopback_pair p = make_pair();
    enable_strict(p.s);
    std::vector<char> memory(regions * stride, '.');
    std::vector<HANDLE> handles;
    handles.reserve(regions);
    for (std::size_t i = 0; i < regions; ++i) {
        int err = 0;
        HANDLE h = sanport::WSPRegisterMemory(p.s, memory.data() + i * stride, size,
                                              MEM_READ | MEM_WRITE, &err);
        if (h == nullptr) {
            FAIL("WSPRegisterMemory of region " << i << " failed: " << wsa_name(err));
        }
        handles.push_back(h);
    }
    char* last = memory.data() + (regions - 1) * stride;
    char* first = memory.data();

    overlapped_op op_last({1});
    send_all(p.peer, "last-region");
    raw_recv got = recv_into(p.s, last, size, op_last);
    CHECK(got.r.ok == TRUE);
    CHECK(std::string(last, got.r.bytes) == "last-region");

    overlapped_op op_first({1});
    send_all(p.peer, "first");
    got = recv_into(p.s, first, size, op_first);
    CHECK(got.r.ok == TRUE);
    CHECK(std::string(first, got.r.bytes) == "first");

    // The gap between two regions is not registered.
    overlapped_op op_gap({1});
    got = recv_into(p.s, last - stride + size, 8, op_gap);
    CHECK(got.rc == SOCKET_ERROR);
    CHECK(wsa_name(got.err) == "WSAEFAULT");

    std::size_t failures = 0;
    for (HANDLE h : handles) {
        int err = 0;
        if (sanport::WSPDeregisterMemory(p.s, h, &err) != 0) ++failures;
    }
    CHECK(failures == 0u);
}

TEST_CASE("recv.memory.registered, recv.scatter.order: buffer registered with WSPRegisterMemory - "
          "several WSABUFs in one region, and registered mixed with plain memory, fill in order") {
    loopback_pair p = make_pair();
    std::vector<char> region(256, '.');
    register_region(p.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
    std::vector<char> plain(16, '.');
    send_all(p.peer, "0123456789ABCDEFGHIJ");
    REQUIRE(wait_kernel_unread(p.s, 20));

    WSABUF in_region[2] = {{4, region.data() + 8}, {4, region.data() + 64}};
    overlapped_op op1({1});
    DWORD bytes = bytes_sentinel, flags = 0;
    int err = 0;
    int rc = WSPRecv(p.s, in_region, 2, &bytes, &flags, &op1.ov(), nullptr, nullptr, &err);
    REQUIRE((rc == 0 || err == WSA_IO_PENDING));
    REQUIRE(op1.wait());
    CHECK(op1.result(p.s).bytes == 8u);
    CHECK(std::string(region.data() + 8, 4) == "0123");
    CHECK(std::string(region.data() + 64, 4) == "4567");

    WSABUF mixed[3] = {{3, region.data() + 128}, {5, plain.data()}, {4, region.data() + 200}};
    overlapped_op op2({1});
    rc = WSPRecv(p.s, mixed, 3, &bytes, &flags, &op2.ov(), nullptr, nullptr, &err);
    REQUIRE((rc == 0 || err == WSA_IO_PENDING));
    REQUIRE(op2.wait());
    CHECK(op2.result(p.s).bytes == 12u);
    CHECK(std::string(region.data() + 128, 3) == "89A");
    CHECK(std::string(plain.data(), 5) == "BCDEF");
    CHECK(std::string(region.data() + 200, 4) == "GHIJ");
}

TEST_CASE("recv.memory.unregistered: buffer not registered - memory whose registration was removed "
          "is WSAEFAULT in strict mode") {
    loopback_pair p = make_pair();
    enable_strict(p.s);
    std::vector<char> region(128, '.');
    HANDLE h = register_region(p.s, region.data(), region.size(), MEM_READ | MEM_WRITE);
    int err = 0;
    REQUIRE(sanport::WSPDeregisterMemory(p.s, h, &err) == 0);
    overlapped_op op({1});
    raw_recv got = recv_into(p.s, region.data(), 64, op);
    CHECK(got.rc == SOCKET_ERROR);
    CHECK(wsa_name(got.err) == "WSAEFAULT");
}
