// SPDX-License-Identifier: MIT
// Registered memory (ws2san.h): WSPRegisterMemory and WSPDeregisterMemory, which the switch
// fetches through WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER).
//
// A real SAN provider pins the pages and hands the NIC a key. Over TCP there is nothing to
// pin, so a registration here is bookkeeping that keeps the rules observable: a receive into
// a region registered without MEM_WRITE is WSAEFAULT, and a region a pending receive uses
// cannot be deregistered. Unregistered buffers work (depart.unregistered: servers that are not a
// switch post ordinary memory).
#include <atomic>
#include <new>

#include "san_provider.hpp"

namespace san_provider {

namespace {

// Handles are numbers, never pointers: a stale or foreign handle is just an unknown key.
// Never 0, which is the failure value.
std::atomic<std::uintptr_t> next_handle{1};

bool holds(const memory_region& r, const char* p, std::size_t n) noexcept {
    return p >= r.base && n <= r.length && static_cast<std::size_t>(p - r.base) <= r.length - n;
}

bool overlaps(const memory_region& r, const char* p, std::size_t n) noexcept {
    return n != 0 && p < r.base + r.length && p + n > r.base;
}

} // namespace

// Overlapping registrations are allowed, as on Windows: a buffer is refused only when some
// region holds it without granting `access` and none holding it grants it.
int check_registered(const san_socket& s, const WSABUF* buffers, DWORD count,
                     DWORD access) noexcept {
    if (s.regions.empty()) return 0;
    for (DWORD i = 0; i < count; ++i) {
        if (buffers[i].len == 0) continue;
        bool granted = false;
        bool refused = false;
        for (const auto& [handle, r] : s.regions) {
            if (!holds(r, buffers[i].buf, buffers[i].len)) continue;
            if (r.access & access)
                granted = true;
            else
                refused = true;
        }
        if (refused && !granted) return WSAEFAULT;
    }
    return 0;
}

HANDLE WSPAPI wsp_register_memory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                                  LPINT lpErrno) {
    if (!lpErrno) return nullptr;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa), nullptr;
    // No memory to describe: a NULL (or low) address, an empty or wrapping length.
    const auto p = reinterpret_cast<std::uintptr_t>(lpBuffer);
    if (p < lowest_valid_address || dwBufferLength == 0 || p + dwBufferLength < p)
        return fail(lpErrno, WSAEFAULT), nullptr;
    if (dwFlags == 0 || (dwFlags & ~DWORD{MEM_READ | MEM_WRITE}))
        return fail(lpErrno, WSAEINVAL), nullptr;
    const std::uintptr_t handle = next_handle.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(sock->mutex);
    if (sock->closing) return fail(lpErrno, WSAENOTSOCK), nullptr;
    try {
        sock->regions.emplace(
            handle, memory_region{static_cast<const char*>(lpBuffer), dwBufferLength, dwFlags});
    } catch (const std::bad_alloc&) {
        return fail(lpErrno, WSAENOBUFS), nullptr;
    }
    return reinterpret_cast<HANDLE>(handle);
}

// deregister.pending: WSPDeregisterMemory's reference page gives WSAEINVAL when the memory "is
// currently used by a transfer".
// Refused rather than deferred: the caller keeps control of its buffer, and retries after the
// receive completed. Sends are synchronous here, so only queued receives can hold a region.
int WSPAPI wsp_deregister_memory(SOCKET s, HANDLE lpHandle, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    int wsa = 0;
    socket_ptr sock = find_socket(s, &wsa);
    if (!sock) return fail(lpErrno, wsa);
    std::lock_guard lock(sock->mutex);
    // Handles belong to the socket that registered them: another socket's is unknown here.
    auto it = sock->regions.find(reinterpret_cast<std::uintptr_t>(lpHandle));
    if (it == sock->regions.end()) return fail(lpErrno, WSAEINVAL);
    for (const request_ptr& r : sock->receives) {
        for (const WSABUF& b : r->buffers) {
            if (overlaps(it->second, b.buf, b.len)) return fail(lpErrno, WSAEINVAL);
        }
    }
    sock->regions.erase(it);
    return 0;
}

} // namespace san_provider
