// SPDX-License-Identifier: MIT
// The stress tests' random numbers: a splitmix64 counter, so a seed printed by a failing run
// replays it exactly, on every platform (std:: distributions differ between libraries).
#pragma once

#include <cstdint>

namespace sanport::test {

inline std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

struct rng {
    std::uint64_t state;
    explicit rng(std::uint64_t seed) : state(seed) {}
    std::uint64_t next() { return mix64(state++); }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

} // namespace sanport::test
