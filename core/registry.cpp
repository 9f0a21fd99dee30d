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
    if (!table_) table_ = std::make_unique<table>();
    std::vector<region*>& by_base = table_->by_base;
    auto at = std::upper_bound(by_base.begin(), by_base.end(), r->base,
                               [](const char* b, const region* x) { return b < x->base; });
    by_base.insert(at, r);
    table_->max_length = std::max(table_->max_length, r->length);
}

bool registry::remove(region* r) noexcept {
    if (!table_) return false;
    std::vector<region*>& by_base = table_->by_base;
    auto at = std::find(by_base.begin(), by_base.end(), r);
    if (at == by_base.end()) return false;
    by_base.erase(at);
    return true;
}

bool registry::contains(const region* r) const noexcept {
    return table_ &&
           std::find(table_->by_base.begin(), table_->by_base.end(), r) != table_->by_base.end();
}

// recv.memory.registered, recv.memory.unregistered: which region, if any, grants a request's
// buffers, and whether it grants the access the request needs (MEM_WRITE to receive).
buffer_check registry::check_in_full(const WSABUF* buffers, DWORD count, DWORD needed,
                                     bool strict) const noexcept {
    buffer_check out;
    static const table none;
    const std::vector<region*>& by_base = table_ ? table_->by_base : none.by_base;
    const std::size_t max_length = table_ ? table_->max_length : 0;
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
        auto it = std::upper_bound(by_base.begin(), by_base.end(), p,
                                   [](const char* b, const region* x) { return b < x->base; });
        while (it != by_base.begin()) {
            const region* r = *--it;
            if (static_cast<std::size_t>(p - r->base) >= max_length) break;
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
    if (table_) {
        all.swap(table_->by_base);
        table_->max_length = 0;
    }
    return all;
}

} // namespace sanport::detail
