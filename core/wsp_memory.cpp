// SPDX-License-Identifier: MIT
// WSPRegisterMemory / WSPDeregisterMemory (ws2san.h).
//
// The specification: "Typically during connection setup time, the switch calls the SAN service
// provider's
// WSPRegisterMemory extension function to preregister all memory for the buffer array." A
// region gets a kernel slot (io_uring fixed buffer) when the backend has one free; the engine
// thread makes it live, and retires it again, in the order the calls were made.
#include "core/diag.hpp"
#include "core/engine_impl.hpp"
#include "core/entry.hpp"
#include "core/socket_table.hpp"

#include <sanport/wsp.h>

#include <new>

namespace sanport {

using namespace detail;

namespace {

bool overlaps(const op_fifo& ops_in, const region& r) noexcept {
    auto& ops = const_cast<op_fifo&>(ops_in);
    for (op* o = ops.begin(); o; o = o->next) {
        for (std::uint32_t i = o->index; i < o->count; ++i) {
            const char* p = o->buffers()[i].buf;
            if (p < r.base + r.length && p + o->buffers()[i].len > r.base) return true;
        }
    }
    return false;
}

void retire(engine_impl& e, region* r) {
    if (r->slot < 0) {
        delete r;
        return;
    }
    e.post_command([&e, r] {
        if (r->live_slot.load(std::memory_order_relaxed) >= 0) e.io().remove_region(r->slot);
        e.release_slot(r->slot);
        delete r;
    });
}

} // namespace

// memory.register
HANDLE WSPRegisterMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                         LPINT lpErrno) {
    if (!lpErrno) return nullptr;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK), nullptr;
    const auto p = reinterpret_cast<std::uintptr_t>(lpBuffer);
    if (p < lowest_valid_address || p + dwBufferLength < p)
        return fail(lpErrno, WSAEFAULT), nullptr;
    if (dwBufferLength == 0)
        return fail(lpErrno, failed_because(WSAEINVAL, "dwBufferLength is 0")), nullptr;
    if (dwFlags == 0 || (dwFlags & ~DWORD{MEM_READ | MEM_WRITE}))
        return fail(lpErrno, failed_because(WSAEINVAL, "dwFlags is not a combination of "
                                                       "MEM_READ and MEM_WRITE")),
               nullptr;
    auto* r = new (std::nothrow) region;
    if (!r) return fail(lpErrno, WSAENOBUFS), nullptr;
    r->base = static_cast<char*>(lpBuffer);
    r->length = dwBufferLength;
    r->flags = dwFlags;
    engine_impl& e = *sock->engine;
    {
        std::lock_guard lock(sock->mutex);
        if (sock->closing) {
            delete r;
            return fail(lpErrno, WSAENOTSOCK), nullptr;
        }
        socket_extras* x = sock->make_extras();
        if (!x) {
            delete r;
            return fail(lpErrno, WSAENOBUFS), nullptr;
        }
        try {
            x->regions.add(r);
            update_check_registration(*sock);
        } catch (...) {
            delete r;
            return fail(lpErrno, WSAENOBUFS), nullptr;
        }
        r->slot = e.reserve_slot();
    }
    if (r->slot >= 0) {
        // Only receive targets (MEM_WRITE) gain from a fixed buffer; the kernel pins the pages.
        e.post_command([&e, r] {
            if (e.io().add_region(r->slot, r->base, r->length))
                r->live_slot.store(r->slot, std::memory_order_release);
        });
    }
    return static_cast<HANDLE>(r);
}

// memory.deregister, deregister.pending
int WSPDeregisterMemory(SOCKET s, HANDLE lpHandle, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    socket_ref sock = socket_table::instance().find(s);
    if (!sock) return fail(lpErrno, WSAENOTSOCK);
    auto* r = static_cast<region*>(lpHandle);
    {
        std::lock_guard lock(sock->mutex);
        // The pointer is only compared until the registry confirms it is one of ours.
        if (!r || !sock->extras || !sock->extras->regions.contains(r))
            return fail(lpErrno, failed_because(WSAEINVAL, "the handle is not a registration "
                                                           "of this socket"));
        // deregister.pending: WSPDeregisterMemory's reference page gives WSAEINVAL when the
        // memory "is currently used by a transfer". Refusing, rather than deferring, keeps the
        // caller's buffer its own.
        if (overlaps(sock->recv.ops, *r) || overlaps(sock->send.ops, *r))
            return fail(lpErrno, failed_because(WSAEINVAL, "the registered memory is used by a "
                                                           "pending receive or send"));
        sock->extras->regions.remove(r);
        update_check_registration(*sock);
    }
    retire(*sock->engine, r);
    return 0;
}

} // namespace sanport

namespace sanport::detail {

// Socket close: every registration of the socket goes with it.
void retire_regions(engine_impl& e, registry& regions) {
    for (region* r : regions.take_all())
        retire(e, r);
}

} // namespace sanport::detail
