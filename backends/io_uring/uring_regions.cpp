// SPDX-License-Identifier: MIT
// Registered memory (WSPRegisterMemory) as io_uring fixed buffers.
//
// Invariant: one sparse table of uring_region_slots entries, registered on the first
// add_region; entries are set and cleared in place with io_uring_register_buffers_update_tag,
// so a slot number the core holds stays the kernel's buf_index. If the kernel refuses the
// table, max_regions() becomes 0 and every region takes the ordinary path.

#include "backends/io_uring/uring_backend.hpp"

#include <sys/uio.h>

namespace sanport::detail {

namespace {

constexpr std::size_t uring_region_slots = 1024;
// The kernel refuses a single fixed buffer above 1 GiB (io_buffer_validate).
constexpr std::size_t uring_region_max_bytes = std::size_t{1} << 30;

} // namespace

std::size_t uring_backend::max_regions() const noexcept {
    if (setup_error_ != 0 || !has_read_fixed_ || table_refused_) return 0;
    return uring_region_slots;
}

bool uring_backend::add_region(std::int32_t slot, void* base, std::size_t length) noexcept {
    if (slot < 0 || static_cast<std::size_t>(slot) >= max_regions()) return false;
    if (base == nullptr || length == 0 || length > uring_region_max_bytes) return false;
    if (!table_registered_) {
        // Lazily: a server that never registers memory never pins a table (5.19+).
        if (io_uring_register_buffers_sparse(&ring_, uring_region_slots) < 0) {
            table_refused_ = true;
            return false;
        }
        table_registered_ = true;
    }
    iovec region{base, length};
    __u64 tag = 0; // no tag: the kernel need not tell us when it lets go of the pages
    // Fails with -ENOMEM under RLIMIT_MEMLOCK, -EFAULT for memory it cannot pin, ...
    return io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(slot), &region, &tag,
                                                1) == 1;
}

void uring_backend::remove_region(std::int32_t slot) noexcept {
    if (!table_registered_ || slot < 0 || static_cast<std::size_t>(slot) >= uring_region_slots)
        return;
    // An empty iovec clears the entry; a request still using it keeps its own reference.
    iovec empty{nullptr, 0};
    __u64 tag = 0;
    io_uring_register_buffers_update_tag(&ring_, static_cast<unsigned>(slot), &empty, &tag, 1);
}

} // namespace sanport::detail
