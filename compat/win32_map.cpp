// SPDX-License-Identifier: MIT
// Windows: THE Win32/Winsock error → WSA code tables, the counterpart of errno_map.cpp
// (errors.table, docs/contract.md §4). The argument is what WSAGetLastError, GetLastError or a
// completion's WSAGetOverlappedResult/GetQueuedCompletionStatus reported. Winsock codes in
// wsa_codes.def pass through; the rows below rename the Win32 (NTSTATUS-derived) codes that
// overlapped socket I/O reports and the Winsock codes sanport's contract does not allow. Same
// policy as Linux: 0 stays 0, anything unknown is WSAENETDOWN.

#include <sanport/compat.h>

#include <algorithm>
#include <iterator>

namespace {

// What Wine reports for a receive pending when its socket is closed; mingw-w64's winerror.h
// lacks the name (the SDK has it).
constexpr int handles_closed = 676; // ERROR_HANDLES_CLOSED

struct win32_row {
    int sys_error;
    int wsa;
    const char* note; // why, where the mapping is not the obvious namesake
};

template <std::size_t n> constexpr bool is_sorted_unique(const win32_row (&rows)[n]) {
    for (std::size_t i = 1; i < n; ++i)
        if (rows[i - 1].sys_error >= rows[i].sys_error) return false;
    return true;
}

// The codes sanport names (wsa_codes.def): the only ones that may pass through unchanged, so
// that wsa_error_name() can name every result.
constexpr bool is_listed(int code) {
    switch (code) {
#define SANPORT_WSA_CODE(name, value, text) case value:
#include <sanport/compat/wsa_codes.def>
        return true;
    default:
        return false;
    }
}

template <std::size_t n> constexpr bool results_are_listed(const win32_row (&rows)[n]) {
    for (const win32_row& row : rows)
        if (!is_listed(row.wsa)) return false;
    return true;
}

constexpr bool never_forbidden(int wsa) {
    return wsa != WSAEINTR && wsa != WSAEINPROGRESS && wsa != WSAEOPNOTSUPP &&
           wsa != WSAEWOULDBLOCK && wsa != WSAEMSGSIZE;
}

template <std::size_t n> constexpr bool has_no_forbidden_code(const win32_row (&rows)[n]) {
    for (const win32_row& row : rows)
        if (!never_forbidden(row.wsa)) return false;
    return true;
}

template <std::size_t n>
const win32_row* find_row(const win32_row (&rows)[n], int sys_error) noexcept {
    const win32_row* row =
        std::lower_bound(std::begin(rows), std::end(rows), sys_error,
                         [](const win32_row& r, int value) { return r.sys_error < value; });
    return row != std::end(rows) && row->sys_error == sys_error ? row : nullptr;
}

// Socket life-cycle calls (socket, bind, listen, accept, connect, get/setsockopt, shutdown):
//
//   Win32 / Winsock code            WSA code               note
//   ERROR_INVALID_HANDLE       6    WSAENOTSOCK            a closed handle is "not a socket"
//   ERROR_NOT_ENOUGH_MEMORY    8    WSAENOBUFS
//   ERROR_NETNAME_DELETED     64    WSAECONNRESET          AFD's name for a reset connection
//   ERROR_INVALID_PARAMETER   87    WSAEINVAL              Winsock's spelling for socket calls
//   ERROR_SEM_TIMEOUT        121    WSAETIMEDOUT           an overlapped connect timing out
//   ERROR_HANDLES_CLOSED     676    WSA_OPERATION_ABORTED  Wine: socket closed under the call
//   ERROR_OPERATION_ABORTED  995    WSA_OPERATION_ABORTED  (same value)
//   ERROR_NOACCESS           998    WSAEFAULT              a buffer is not valid user memory
//   ERROR_CONNECTION_REFUSED 1225   WSAECONNREFUSED
//   ERROR_GRACEFUL_DISCONNECT 1226  WSAEDISCON
//   ERROR_NETWORK_UNREACHABLE 1231  WSAENETUNREACH
//   ERROR_HOST_UNREACHABLE   1232   WSAEHOSTUNREACH
//   ERROR_PORT_UNREACHABLE   1234   WSAECONNREFUSED        nobody listens on that port
//   ERROR_CONNECTION_ABORTED 1236   WSAECONNABORTED
//   ERROR_NO_SYSTEM_RESOURCES 1450  WSAENOBUFS
//   ERROR_TIMEOUT            1460   WSAETIMEDOUT
//   WSAEINPROGRESS          10036   WSAEWOULDBLOCK         as on Linux: WSAEINPROGRESS means a
//                                                          blocking Winsock 1.1 call is running,
//                                                          which sanport never reports
//   WSAEHOSTDOWN            10064   WSAEHOSTUNREACH        WSAEHOSTDOWN is not in sanport's list
//   any code in wsa_codes.def       itself
//   0                               0
//   anything else                   WSAENETDOWN            the provider failed in a way it
//                                                          cannot name
constexpr win32_row lifecycle_rows[] = {
    {ERROR_INVALID_HANDLE, WSAENOTSOCK, "closed handle"},
    {ERROR_NOT_ENOUGH_MEMORY, WSAENOBUFS, ""},
    {ERROR_NETNAME_DELETED, WSAECONNRESET, "AFD's reset"},
    {ERROR_INVALID_PARAMETER, WSAEINVAL, ""},
    {ERROR_SEM_TIMEOUT, WSAETIMEDOUT, "overlapped connect time-out"},
    {handles_closed, WSA_OPERATION_ABORTED, "Wine: closed under the call"},
    {ERROR_OPERATION_ABORTED, WSA_OPERATION_ABORTED, ""},
    {ERROR_NOACCESS, WSAEFAULT, ""},
    {ERROR_CONNECTION_REFUSED, WSAECONNREFUSED, ""},
    {ERROR_GRACEFUL_DISCONNECT, WSAEDISCON, ""},
    {ERROR_NETWORK_UNREACHABLE, WSAENETUNREACH, ""},
    {ERROR_HOST_UNREACHABLE, WSAEHOSTUNREACH, ""},
    {ERROR_PORT_UNREACHABLE, WSAECONNREFUSED, "no listener"},
    {ERROR_CONNECTION_ABORTED, WSAECONNABORTED, ""},
    {ERROR_NO_SYSTEM_RESOURCES, WSAENOBUFS, ""},
    {ERROR_TIMEOUT, WSAETIMEDOUT, ""},
    {WSAEINPROGRESS, WSAEWOULDBLOCK, "never a blocking 1.1 call, as on Linux"},
    {WSAEHOSTDOWN, WSAEHOSTUNREACH, "WSAEHOSTDOWN is not in the list"},
};
static_assert(is_sorted_unique(lifecycle_rows), "keep lifecycle_rows sorted by code");
static_assert(results_are_listed(lifecycle_rows), "every result must be in wsa_codes.def");

// Receive and send completions (the codes WSPRecv/WSPSend may report):
//
//   Win32 / Winsock code            WSA code               note
//   ERROR_INVALID_HANDLE       6    WSAENOTSOCK
//   ERROR_NOT_ENOUGH_MEMORY    8    WSAENOBUFS
//   ERROR_NETNAME_DELETED     64    WSAECONNRESET          how a RST completes an overlapped
//                                                          receive
//   ERROR_INVALID_PARAMETER   87    WSAEINVAL
//   ERROR_SEM_TIMEOUT        121    WSAETIMEDOUT           provisional: the core makes it
//                                                          WSAENETRESET when SO_KEEPALIVE is
//                                                          on, else WSAECONNABORTED
//   ERROR_HANDLES_CLOSED     676    WSA_OPERATION_ABORTED  Wine: socket closed under a pending
//                                                          receive
//   ERROR_OPERATION_ABORTED  995    WSA_OPERATION_ABORTED  CancelIoEx or closesocket
//   ERROR_NOACCESS           998    WSAEFAULT
//   ERROR_GRACEFUL_DISCONNECT 1226  WSAEDISCON
//   ERROR_NETWORK_UNREACHABLE 1231  WSAECONNABORTED        as ENETUNREACH on Linux
//   ERROR_HOST_UNREACHABLE   1232   WSAECONNABORTED        as EHOSTUNREACH on Linux
//   ERROR_CONNECTION_ABORTED 1236   WSAECONNABORTED
//   ERROR_NO_SYSTEM_RESOURCES 1450  WSAENOBUFS
//   ERROR_TIMEOUT            1460   WSAETIMEDOUT           provisional, as ERROR_SEM_TIMEOUT
//   WSAEINTR                10004   WSAENETDOWN            forbidden; defensive only
//   WSAEWOULDBLOCK          10035   WSAENETDOWN            forbidden; the backend re-arms
//   WSAEINPROGRESS          10036   WSAENETDOWN            forbidden; defensive only
//   WSAEMSGSIZE             10040   WSAEINVAL              forbidden, as EMSGSIZE on Linux
//   WSAEOPNOTSUPP           10045   WSAENETDOWN            forbidden
//   WSAENETUNREACH          10051   WSAECONNABORTED        as ENETUNREACH on Linux
//   WSAEHOSTDOWN            10064   WSAECONNABORTED        not in the list
//   WSAEHOSTUNREACH         10065   WSAECONNABORTED        as EHOSTUNREACH on Linux
//   any other code in wsa_codes.def itself
//   0                               0
//   anything else                   WSAENETDOWN
// Never produced: WSAEINTR, WSAEINPROGRESS, WSAEOPNOTSUPP, WSAEWOULDBLOCK, WSAEMSGSIZE.
constexpr win32_row transfer_rows[] = {
    {ERROR_INVALID_HANDLE, WSAENOTSOCK, "closed handle"},
    {ERROR_NOT_ENOUGH_MEMORY, WSAENOBUFS, ""},
    {ERROR_NETNAME_DELETED, WSAECONNRESET, "RST on an overlapped receive"},
    {ERROR_INVALID_PARAMETER, WSAEINVAL, ""},
    {ERROR_SEM_TIMEOUT, WSAETIMEDOUT, "core decides by SO_KEEPALIVE"},
    {handles_closed, WSA_OPERATION_ABORTED, "Wine: closed under a receive"},
    {ERROR_OPERATION_ABORTED, WSA_OPERATION_ABORTED, ""},
    {ERROR_NOACCESS, WSAEFAULT, ""},
    {ERROR_GRACEFUL_DISCONNECT, WSAEDISCON, ""},
    {ERROR_NETWORK_UNREACHABLE, WSAECONNABORTED, ""},
    {ERROR_HOST_UNREACHABLE, WSAECONNABORTED, ""},
    {ERROR_CONNECTION_ABORTED, WSAECONNABORTED, ""},
    {ERROR_NO_SYSTEM_RESOURCES, WSAENOBUFS, ""},
    {ERROR_TIMEOUT, WSAETIMEDOUT, "core decides by SO_KEEPALIVE"},
    {WSAEINTR, WSAENETDOWN, "forbidden"},
    {WSAEWOULDBLOCK, WSAENETDOWN, "forbidden; re-armed by the backend"},
    {WSAEINPROGRESS, WSAENETDOWN, "forbidden"},
    {WSAEMSGSIZE, WSAEINVAL, "forbidden"},
    {WSAEOPNOTSUPP, WSAENETDOWN, "forbidden"},
    {WSAENETUNREACH, WSAECONNABORTED, ""},
    {WSAEHOSTDOWN, WSAECONNABORTED, "not in the list"},
    {WSAEHOSTUNREACH, WSAECONNABORTED, ""},
};
static_assert(is_sorted_unique(transfer_rows), "keep transfer_rows sorted by code");
static_assert(results_are_listed(transfer_rows), "every result must be in wsa_codes.def");
// recv.codes.never: checked at compile time.
static_assert(has_no_forbidden_code(transfer_rows),
              "the specification forbids this code for WSPRecv");

} // namespace

int sanport::wsa_from_errno(int sys_error) noexcept {
    if (sys_error == 0) return 0;
    if (const win32_row* row = find_row(lifecycle_rows, sys_error)) return row->wsa;
    return is_listed(sys_error) ? sys_error : WSAENETDOWN;
}

int sanport::wsa_from_transfer_errno(int sys_error) noexcept {
    if (sys_error == 0) return 0;
    if (const win32_row* row = find_row(transfer_rows, sys_error)) return row->wsa;
    // The forbidden codes all have rows above; the check keeps that true if one is added to
    // wsa_codes.def without a row.
    return is_listed(sys_error) && never_forbidden(sys_error) ? sys_error : WSAENETDOWN;
}
