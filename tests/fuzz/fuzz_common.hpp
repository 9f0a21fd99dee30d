// SPDX-License-Identifier: MIT
// Shared pieces of the libFuzzer targets (tests/fuzz): the input reader, the allowed and
// forbidden WSA codes of the specification, the deterministic peer stream, and the failure report.
// A failed invariant prints one line and aborts, which libFuzzer records as a crash.
#pragma once

#include <sanport/compat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

namespace sanport::fuzz {

[[noreturn]] inline void fail_at(const char* what, const char* file, int line, long long a,
                                 long long b) {
    std::fprintf(stderr, "sanport fuzz invariant failed: %s (%lld, %lld) at %s:%d\n", what, a, b,
                 file, line);
    std::abort();
}

// FUZZ_CHECK(cond, "what", a, b): a and b are printed (codes, counts, indices).
#define FUZZ_CHECK(cond, what, a, b)                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ::sanport::fuzz::fail_at(what, __FILE__, __LINE__, static_cast<long long>(a),          \
                                     static_cast<long long>(b));                                   \
    } while (0)

// Reads the input front to back; past the end everything is 0 (the program then stops).
class reader {
public:
    reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
    bool done() const noexcept { return p_ == end_; }
    std::uint8_t u8() noexcept { return p_ == end_ ? 0 : *p_++; }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }
    std::uint32_t u32() noexcept {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i)
            v |= static_cast<std::uint32_t>(u8()) << (8 * i);
        return v;
    }
    std::uint64_t u64() noexcept { return u32() | (static_cast<std::uint64_t>(u32()) << 32); }

private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

inline bool one_of(int code, std::initializer_list<int> codes) {
    for (int c : codes)
        if (c == code) return true;
    return false;
}

// The specification's list, plus WSAENOBUFS (depart.codes: sanport out of memory).
inline bool recv_code_allowed(int code) {
    return one_of(code, {WSAENETDOWN, WSAENOTCONN, WSAENETRESET, WSAEFAULT, WSAENOTSOCK,
                         WSAESHUTDOWN, WSAEINVAL, WSAECONNABORTED, WSAECONNRESET, WSAEDISCON,
                         WSA_IO_PENDING, WSA_OPERATION_ABORTED, WSAENOBUFS});
}

// The specification's "does not support" list, and WSAETIMEDOUT (recv.codes.never).
inline bool recv_code_forbidden(int code) {
    return one_of(
        code, {WSAEINTR, WSAEINPROGRESS, WSAEOPNOTSUPP, WSAEWOULDBLOCK, WSAEMSGSIZE, WSAETIMEDOUT});
}

// WSPSend mirrors WSPRecv (docs/contract.md §4), without the receive-only WSAEDISCON.
inline bool send_code_allowed(int code) {
    return code != WSAEDISCON && recv_code_allowed(code);
}

#define FUZZ_CHECK_RECV_CODE(code)                                                                 \
    do {                                                                                           \
        const int fuzz_code_ = (code);                                                             \
        FUZZ_CHECK(::sanport::fuzz::recv_code_allowed(fuzz_code_) &&                               \
                       !::sanport::fuzz::recv_code_forbidden(fuzz_code_),                          \
                   "WSPRecv code outside the specification's list", fuzz_code_, 0);                \
    } while (0)

#define FUZZ_CHECK_SEND_CODE(code)                                                                 \
    do {                                                                                           \
        const int fuzz_code_ = (code);                                                             \
        FUZZ_CHECK(::sanport::fuzz::send_code_allowed(fuzz_code_) &&                               \
                       !::sanport::fuzz::recv_code_forbidden(fuzz_code_),                          \
                   "WSPSend code outside the list", fuzz_code_, 0);                                \
    } while (0)

// The peer's byte stream: deterministic and without short periods, so a hole, a duplicate or a
// reordering shows up as a mismatch.
inline const std::string& peer_stream() {
    static const std::string s = [] {
        std::string out(1u << 14, '\0');
        std::uint32_t x = 0x2545f491u;
        for (char& c : out) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            c = static_cast<char>(x >> 24);
        }
        return out;
    }();
    return s;
}

inline bool pending(const WSAOVERLAPPED& ov) {
    return __atomic_load_n(&ov.Internal, __ATOMIC_ACQUIRE) ==
           static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS);
}

} // namespace sanport::fuzz
