// SPDX-License-Identifier: MIT
// user_data values of internal SQEs. A request's user_data is its io_request pointer, whose
// low three bits are 0 (alignof(io_request) == 8); any CQE with a low bit set is internal.
#pragma once

#include "core/backend.hpp"

#include <cstdint>

namespace sanport::detail {

static_assert(alignof(io_request) >= 8, "low-bit tags need 8-aligned io_request pointers");

inline constexpr std::uint64_t uring_tag_mask = 7;
inline constexpr std::uint64_t uring_tag_cancel = 1; // an ASYNC_CANCEL's own CQE
inline constexpr std::uint64_t uring_tag_wake = 2;   // the eventfd READ that wake() ends
// liburing's own LIBURING_UDATA_TIMEOUT (all ones, pre-5.11 kernels) is tagged too: ignored.

} // namespace sanport::detail
