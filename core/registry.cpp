// SPDX-License-Identifier: MIT
// Registration lookups (see registry.hpp). Overlapping registrations are allowed, as on Windows
// (the same buffer may be registered several times); a buffer is usable if any region that
// holds it grants the access the operation needs.
#include "core/registry.hpp"

#include <algorithm>

namespace sanport::detail {

namespace {
bool holds(const region& r, const char* p, std::size_t n) noexcept {
    return p >= r.base && n <= r.length && static_cast<std::size_t>(p - r.base) <= r.length - n;
}
} // namespace

void registry::add(region* r) {
    auto at = std::upper_bound(by_base_.begin(), by_base_.end(), r->base,
                               [](const char* b, const region* x) { return b < x->base; });
    by_base_.insert(at, r);
    max_length_ = std::max(max_length_, r->length);
}

bool registry::remove(region* r) noexcept {
    auto at = std::find(by_base_.begin(), by_base_.end(), r);
    if (at == by_base_.end()) return false;
    by_base_.erase(at);
    return true;
}

bool registry::contains(const region* r) const noexcept {
    return std::find(by_base_.begin(), by_base_.end(), r) != by_base_.end();
}

// recv.memory.registered, recv.memory.unregistered: which region, if any, grants a request's
// buffers, and whether it grants the access the request needs (MEM_WRITE to receive).
buffer_check registry::check_in_full(const WSABUF* buffers, DWORD count, DWORD needed,
                                     bool strict) const noexcept {
    buffer_check out;
    const region* common = nullptr;
    bool all_in_common = true;
    for (DWORD i = 0; i < count; ++i) {
        const char* p = buffers[i].buf;
        const std::size_t n = buffers[i].len;
        if (n == 0) continue;
        const region* granted = nullptr;
        bool refused = false;
        // Regions are sorted by base: walk back from the last one starting at or before p,
        // until no region could reach p any more.
        auto it = std::upper_bound(by_base_.begin(), by_base_.end(), p,
                                   [](const char* b, const region* x) { return b < x->base; });
        while (it != by_base_.begin()) {
            const region* r = *--it;
            if (static_cast<std::size_t>(p - r->base) >= max_length_) break;
            if (!holds(*r, p, n)) continue;
            if ((r->flags & needed) != 0) {
                if (!granted || r == common) granted = r;
                if (r == common) break;
            } else {
                refused = true;
            }
        }
        if (!granted) {
            // recv.memory.unregistered, depart.unregistered: the specification's "The switch
            // registered each buffer" -- only strict mode holds callers to it.
            if (refused || strict) {
                out.wsa = WSAEFAULT;
                return out;
            }
            all_in_common = false;
            continue;
        }
        if (!common)
            common = granted;
        else if (granted != common)
            all_in_common = false;
    }
    if (common && all_in_common) out.fixed_slot = common->live_slot.load(std::memory_order_acquire);
    return out;
}

std::vector<region*> registry::take_all() noexcept {
    std::vector<region*> all;
    all.swap(by_base_);
    max_length_ = 0;
    return all;
}

} // namespace sanport::detail
