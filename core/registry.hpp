// SPDX-License-Identifier: MIT
// Registered memory of one socket (WSPRegisterMemory / WSPDeregisterMemory).
//
// Regions are kept sorted by base address, so the per-receive lookup is a binary search that
// stays cheap with thousands of regions. A region may also own a kernel slot (io_uring fixed
// buffer): the slot is usable only once the engine thread made it live (`live_slot` >= 0).
#pragma once

#include <sanport/compat.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sanport::detail {

struct region {
    char* base = nullptr;
    std::size_t length = 0;
    DWORD flags = 0;                         // MEM_READ | MEM_WRITE
    std::int32_t slot = -1;                  // kernel slot reserved for it, or -1
    std::atomic<std::int32_t> live_slot{-1}; // set by the engine thread when the kernel took it
};

// The result of checking an operation's buffers against the registrations.
struct buffer_check {
    int wsa = 0;                  // 0 or WSAEFAULT
    std::int32_t fixed_slot = -1; // every buffer inside one region with a live kernel slot
};

class registry {
public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    void add(region* r);
    // false if r is not a region of this registry.
    bool remove(region* r) noexcept;
    bool contains(const region* r) const noexcept;
    // Receive buffers need MEM_WRITE, send buffers MEM_READ. strict: unregistered → WSAEFAULT.
    // Inline when nothing is registered and the socket is not strict: every buffer is plain.
    buffer_check check(const WSABUF* buffers, DWORD count, DWORD needed,
                       bool strict) const noexcept {
        if (!strict && (!table_ || table_->by_base.empty())) [[likely]]
            return {};
        return check_in_full(buffers, count, needed, strict);
    }
    // Takes every region out (socket close); the caller disposes of them.
    std::vector<region*> take_all() noexcept;
    bool empty() const noexcept { return !table_ || table_->by_base.empty(); }

private:
    buffer_check check_in_full(const WSABUF* buffers, DWORD count, DWORD needed,
                               bool strict) const noexcept;

    struct table {
        std::vector<region*> by_base;
        std::size_t max_length = 0; // bounds the backward scan over overlapping regions
    };
    // Made by the first add(): most sockets never register memory, and an idle socket then
    // carries one pointer instead of the table's 32 bytes.
    std::unique_ptr<table> table_;
};

} // namespace sanport::detail
