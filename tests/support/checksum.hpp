// SPDX-License-Identifier: MIT
// A position-sensitive checksum of a byte stream (Fletcher-style) for the tests that move a lot
// of data (stress, soak): equal for the same bytes however they were split into receives.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sanport::test {

struct checksum {
    std::uint64_t a = 1, b = 0;
    void add(const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            a += static_cast<unsigned char>(p[i]);
            b += a;
        }
    }
    bool operator==(const checksum&) const = default;
};

} // namespace sanport::test
