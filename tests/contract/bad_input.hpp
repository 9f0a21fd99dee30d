// SPDX-License-Identifier: MIT
// Helpers of the bad-input table's tests (bad_input_*_test.cpp; docs/bad-input.md).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "../support/loopback.hpp"

#ifdef _WIN32
#include <windows.h>
#else
#include <netinet/in.h>
#include <sys/mman.h>
#endif

#define BAD_INPUT(id, what) TEST_CASE("bad input " id ": " what)

namespace sanport::test::bad_input {

constexpr SOCKET garbage_socket = static_cast<SOCKET>(0x7ffffff0);

// A connected pair with "kept" queued in the kernel: a bad call that consumed it would show.
struct queued_pair {
    loopback_pair p = make_pair();
    queued_pair() {
        send_all(p.peer, "kept");
        REQUIRE(wait_kernel_unread(p.s, 4));
    }
    // The data is still all there for a good receive.
    void expect_nothing_consumed() { CHECK(recv_stream(p.s, 4) == "kept"); }
};

// WSPRecv's code: 0 on success, else the WSA code (SOCKET_ERROR checked).
// Address space of `size` bytes that costs no memory until written (mmap MAP_NORESERVE,
// VirtualAlloc on Windows); data is null if the OS refused.
struct big_region {
    char* data = nullptr;
    std::size_t size = 0;
    explicit big_region(std::size_t n) : size(n) {
#ifdef _WIN32
        data =
            static_cast<char*>(VirtualAlloc(nullptr, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
#else
        void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        data = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
#endif
    }
    ~big_region() {
#ifdef _WIN32
        if (data) VirtualFree(data, 0, MEM_RELEASE);
#else
        if (data) munmap(data, size);
#endif
    }
    big_region(const big_region&) = delete;
    big_region& operator=(const big_region&) = delete;
};

inline int recv_code(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD flags, LPWSAOVERLAPPED ov) {
    DWORD bytes = bytes_sentinel;
    int err = 0;
    const int rc = WSPRecv(s, bufs, count, &bytes, flags, ov, nullptr, nullptr, &err);
    if (rc == 0) return 0;
    CHECK(rc == SOCKET_ERROR);
    return err;
}

inline int send_code(SOCKET s, LPWSABUF bufs, DWORD count, DWORD flags, LPWSAOVERLAPPED ov) {
    DWORD bytes = bytes_sentinel;
    int err = 0;
    const int rc = WSPSend(s, bufs, count, &bytes, flags, ov, nullptr, nullptr, &err);
    if (rc == 0) return 0;
    CHECK(rc == SOCKET_ERROR);
    return err;
}

inline void expect_recv(queued_pair& q, SOCKET s, LPWSABUF bufs, DWORD count, DWORD flags,
                        const char* want) {
    overlapped_op op({16});
    DWORD f = flags;
    CHECK(wsa_name(recv_code(s, bufs ? bufs : nullptr, count, &f, &op.ov())) == want);
    CHECK_FALSE(op.event_signalled());
    q.expect_nothing_consumed();
}

} // namespace sanport::test::bad_input
