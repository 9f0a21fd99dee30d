// SPDX-License-Identifier: MIT
// Where completion-queue packets wait for a dequeuer: a growable ring under a mutex
// (core/packet_port.cpp) on Linux, a real I/O completion port on Windows
// (backends/iocp/iocp_packet_port.cpp). Chosen by the file list, like sys.hpp.
//
// Both: FIFO; push never blocks and costs no syscall when nobody waits (ring) or one
// PostQueuedCompletionStatus (port); pop waits up to a time-out; close() makes every present and
// future pop return 0 at once.
#pragma once

#include <sanport/completion_queue.h>

#include <cstddef>
#include <memory>

namespace sanport::detail {

class packet_port {
public:
    packet_port();
    ~packet_port();
    packet_port(const packet_port&) = delete;
    packet_port& operator=(const packet_port&) = delete;

    // false when closed or out of memory (the packet is dropped).
    bool push(const completion_entry& entry) noexcept;
    // Up to max packets, oldest first; waits up to timeout_ms (-1: no limit) for the first.
    std::size_t pop(completion_entry* out, std::size_t max, int timeout_ms) noexcept;
    void close() noexcept;
    bool is_closed() const noexcept;
    // No packet waits, as far as this thread can know: a push that happened before the call
    // (in the happens-before sense) is seen; a concurrent one may not be. No lock.
    bool empty_hint() const noexcept;

private:
    struct state;
    std::unique_ptr<state> state_;
};

} // namespace sanport::detail
