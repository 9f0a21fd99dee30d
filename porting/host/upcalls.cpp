// SPDX-License-Identifier: MIT
// sanport's WSPUPCALLTABLE(EX): what a provider calls back into the switch for.
//
// Events are sanport's WSA events (manual-reset, no file descriptor each); socket handles come
// from the host's handle table; WPUCompleteOverlappedRequest does the core's bookkeeping and
// feeds the completion queue. The upcalls a SAN data path never needs (window messages, APCs,
// select) fail with WSAEOPNOTSUPP and say so once (diag.messages), so a port that relies on one
// finds out at the call, not from a hang.
#include "core/diag.hpp"
#include "core/transfer.hpp"

#include <sanport/provider_host.h>
#include <sanport/wsp.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "porting/host/handle_table.hpp"

namespace sanport {

namespace {

using detail::host::handle_table;

int fail(LPINT lpErrno, int wsa) noexcept {
    if (lpErrno) *lpErrno = wsa;
    return SOCKET_ERROR;
}

// One line per missing upcall, the first time a provider calls it.
void say_missing(std::atomic<bool>& said, const char* name) noexcept {
    if (!said.exchange(true))
        detail::say("sanport: the provider called %s, which sanport's host does not implement "
                    "(the call fails); see docs/porting.md",
                    name);
}

WSAEVENT WSPAPI create_event(LPINT lpErrno) {
    WSAEVENT e = WSACreateEvent();
    if (e == WSA_INVALID_EVENT && lpErrno) *lpErrno = WSA_NOT_ENOUGH_MEMORY;
    return e;
}

BOOL WSPAPI close_event(WSAEVENT e, LPINT lpErrno) {
    if (WSACloseEvent(e)) return TRUE;
    if (lpErrno) *lpErrno = WSA_INVALID_HANDLE;
    return FALSE;
}

BOOL WSPAPI set_event(WSAEVENT e, LPINT lpErrno) {
    if (WSASetEvent(e)) return TRUE;
    if (lpErrno) *lpErrno = WSA_INVALID_HANDLE;
    return FALSE;
}

BOOL WSPAPI reset_event(WSAEVENT e, LPINT lpErrno) {
    if (WSAResetEvent(e)) return TRUE;
    if (lpErrno) *lpErrno = WSA_INVALID_HANDLE;
    return FALSE;
}

// The catalog entry says which provider owns the handle; no upcall ever asks for it back, so
// the host does not keep it.
SOCKET WSPAPI create_socket_handle(DWORD, DWORD_PTR context, LPINT lpErrno) {
    int wsa = 0;
    const SOCKET s = handle_table::instance().create(context, wsa);
    if (s == INVALID_SOCKET && lpErrno) *lpErrno = wsa;
    return s;
}

int WSPAPI close_socket_handle(SOCKET s, LPINT lpErrno) {
    const int wsa = handle_table::instance().close(s);
    return wsa ? fail(lpErrno, wsa) : 0;
}

int WSPAPI query_socket_handle_context(SOCKET s, PDWORD_PTR lpContext, LPINT lpErrno) {
    if (!lpContext) return fail(lpErrno, WSAEFAULT);
    DWORD_PTR context = 0;
    if (const int wsa = handle_table::instance().query(s, context)) return fail(lpErrno, wsa);
    *lpContext = context;
    return 0;
}

// An IFS provider's own OS handle is already a socket here: it stays what it is.
SOCKET WSPAPI modify_ifs_handle(DWORD, SOCKET proposed, LPINT lpErrno) {
    if (proposed == INVALID_SOCKET && lpErrno) *lpErrno = WSAEINVAL;
    return proposed;
}

// Winsock 2 has no blocking hooks (WSASetBlockingHook is gone): no callback, which providers
// read as "block without calling anything".
int WSPAPI query_blocking_callback(DWORD, LPBLOCKINGCALLBACK* lplpfnCallback,
                                   PDWORD_PTR lpdwContext, LPINT lpErrno) {
    if (!lplpfnCallback || !lpdwContext) return fail(lpErrno, WSAEFAULT);
    *lplpfnCallback = nullptr;
    *lpdwContext = 0;
    return 0;
}

int WSPAPI fd_is_set(SOCKET, fd_set*) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUFDIsSet");
    return 0;
}

int WSPAPI get_provider_path(LPGUID, WCHAR*, LPINT, LPINT lpErrno) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUGetProviderPath");
    return fail(lpErrno, WSAEOPNOTSUPP);
}

BOOL WSPAPI post_message(HWND, UINT, WPARAM, LPARAM) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUPostMessage");
    return FALSE;
}

int WSPAPI queue_apc(LPWSATHREADID, LPWSAUSERAPC, DWORD_PTR, LPINT lpErrno) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUQueueApc");
    return fail(lpErrno, WSAEOPNOTSUPP);
}

int WSPAPI open_current_thread(LPWSATHREADID, LPINT lpErrno) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUOpenCurrentThread");
    return fail(lpErrno, WSAEOPNOTSUPP);
}

int WSPAPI close_thread(LPWSATHREADID, LPINT lpErrno) {
    static std::atomic<bool> said{false};
    say_missing(said, "WPUCloseThread");
    return fail(lpErrno, WSAEOPNOTSUPP);
}

int WSPAPI complete_request(SOCKET s, LPWSAOVERLAPPED ov, DWORD error, DWORD bytes, LPINT lpErrno) {
    return host_complete_overlapped_request(s, ov, error, bytes, lpErrno);
}

WSPUPCALLTABLEEX make_table() noexcept {
    WSPUPCALLTABLEEX t{};
    t.lpWPUCloseEvent = close_event;
    t.lpWPUCloseSocketHandle = close_socket_handle;
    t.lpWPUCreateEvent = create_event;
    t.lpWPUCreateSocketHandle = create_socket_handle;
    t.lpWPUFDIsSet = fd_is_set;
    t.lpWPUGetProviderPath = get_provider_path;
    t.lpWPUModifyIFSHandle = modify_ifs_handle;
    t.lpWPUPostMessage = post_message;
    t.lpWPUQueryBlockingCallback = query_blocking_callback;
    t.lpWPUQuerySocketHandleContext = query_socket_handle_context;
    t.lpWPUQueueApc = queue_apc;
    t.lpWPUResetEvent = reset_event;
    t.lpWPUSetEvent = set_event;
    t.lpWPUOpenCurrentThread = open_current_thread;
    t.lpWPUCloseThread = close_thread;
    t.lpWPUCompleteOverlappedRequest = complete_request;
    return t;
}

} // namespace

int host_complete_overlapped_request(SOCKET s, LPWSAOVERLAPPED ov, DWORD dwError,
                                     DWORD cbTransferred, LPINT lpErrno) {
    if (!lpErrno) return SOCKET_ERROR;
    std::shared_ptr<detail::completion_queue_impl> queue;
    ULONG_PTR key = 0;
    if (!handle_table::instance().route(s, queue, key))
        return sanport::WPUCompleteOverlappedRequest(s, ov, dwError, cbTransferred, lpErrno);
    if (!ov) return fail(lpErrno, WSAEFAULT);
    // hEvent is read before the result is published: after that the caller may reuse ov.
    const bool no_packet = (reinterpret_cast<std::uintptr_t>(ov->hEvent) & 1u) != 0;
    detail::complete_overlapped(nullptr, ov, static_cast<int>(dwError), cbTransferred);
    if (queue && !no_packet) queue->post({ov, cbTransferred, key, static_cast<int>(dwError)});
    return 0;
}

const WSPUPCALLTABLEEX& upcall_table_ex() noexcept {
    static const WSPUPCALLTABLEEX table = make_table();
    return table;
}

WSPUPCALLTABLE upcall_table() noexcept {
    const WSPUPCALLTABLEEX& ex = upcall_table_ex();
    WSPUPCALLTABLE t{};
    // WSPUPCALLTABLE is WSPUPCALLTABLEEX without its last entry (pinned in compat).
    static_assert(sizeof(WSPUPCALLTABLE) + sizeof(void*) == sizeof(WSPUPCALLTABLEEX));
    std::memcpy(&t, &ex, sizeof t);
    return t;
}

} // namespace sanport

#ifndef _WIN32
// ws2_32's export, for providers that call it by name (compat declares it on Linux).
extern "C" __attribute__((visibility("default"))) int
WPUCompleteOverlappedRequest(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                             DWORD cbTransferred, LPINT lpErrno) {
    return sanport::host_complete_overlapped_request(s, lpOverlapped, dwError, cbTransferred,
                                                     lpErrno);
}
#endif
