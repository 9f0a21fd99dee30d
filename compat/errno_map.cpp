// SPDX-License-Identifier: MIT
// Linux: THE errno → WSA tables, one for socket life-cycle calls and one for receive/send
// completions (errors.table, docs/contract.md §4). No OS code reaches the core any other way. Each
// table is a constexpr array sorted by errno (checked at compile time) and searched by bisection.

#include <sanport/compat.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace {

struct errno_row {
    int sys_error;
    int wsa;
    const char* note; // why, where the mapping is not the obvious namesake
};

template <std::size_t n> constexpr bool is_sorted_unique(const errno_row (&rows)[n]) {
    for (std::size_t i = 1; i < n; ++i)
        if (rows[i - 1].sys_error >= rows[i].sys_error) return false;
    return true;
}

template <std::size_t n> int look_up(const errno_row (&rows)[n], int sys_error) noexcept {
    if (sys_error == 0) return 0;
    const errno_row* row =
        std::lower_bound(std::begin(rows), std::end(rows), sys_error,
                         [](const errno_row& r, int value) { return r.sys_error < value; });
    return row != std::end(rows) && row->sys_error == sys_error ? row->wsa : WSAENETDOWN;
}

// Socket life-cycle calls (socket, bind, listen, accept, connect, get/setsockopt, shutdown):
//
//   errno            WSA code                note
//   EPERM            WSAEACCES               e.g. a firewall or seccomp refusal
//   EINTR            WSAEINTR
//   EBADF            WSAENOTSOCK             a closed handle is "not a socket" on Windows
//   EAGAIN           WSAEWOULDBLOCK          (= EWOULDBLOCK)
//   ENOMEM           WSAENOBUFS
//   EACCES           WSAEACCES
//   EFAULT           WSAEFAULT
//   EINVAL           WSAEINVAL
//   ENFILE           WSAEMFILE               Winsock has no system-wide variant
//   EMFILE           WSAEMFILE
//   EPIPE            WSAESHUTDOWN            sending after shutdown(SD_SEND)
//   ENOTSOCK         WSAENOTSOCK
//   EDESTADDRREQ     WSAEDESTADDRREQ
//   EMSGSIZE         WSAEMSGSIZE
//   EPROTOTYPE       WSAEPROTOTYPE
//   ENOPROTOOPT      WSAENOPROTOOPT
//   EPROTONOSUPPORT  WSAEPROTONOSUPPORT
//   ESOCKTNOSUPPORT  WSAESOCKTNOSUPPORT
//   EOPNOTSUPP       WSAEOPNOTSUPP           (= ENOTSUP)
//   EPFNOSUPPORT     WSAEPFNOSUPPORT
//   EAFNOSUPPORT     WSAEAFNOSUPPORT
//   EADDRINUSE       WSAEADDRINUSE
//   EADDRNOTAVAIL    WSAEADDRNOTAVAIL
//   ENETDOWN         WSAENETDOWN
//   ENETUNREACH      WSAENETUNREACH
//   ENETRESET        WSAENETRESET
//   ECONNABORTED     WSAECONNABORTED
//   ECONNRESET       WSAECONNRESET
//   ENOBUFS          WSAENOBUFS
//   EISCONN          WSAEISCONN
//   ENOTCONN         WSAENOTCONN
//   ESHUTDOWN        WSAESHUTDOWN
//   ETIMEDOUT        WSAETIMEDOUT
//   ECONNREFUSED     WSAECONNREFUSED
//   EHOSTDOWN        WSAEHOSTUNREACH         Winsock's WSAEHOSTDOWN is not in sanport's list
//   EHOSTUNREACH     WSAEHOSTUNREACH
//   EALREADY         WSAEALREADY             a second connect while one is under way
//   EINPROGRESS      WSAEWOULDBLOCK          a non-blocking connect under way: Windows says
//                                            WSAEWOULDBLOCK; WSAEINPROGRESS means a blocking
//                                            Winsock 1.1 call is running, which never happens here
//   ECANCELED        WSA_OPERATION_ABORTED
//   0                0
//   anything else    WSAENETDOWN             the provider failed in a way it cannot name
constexpr errno_row lifecycle_rows[] = {
    {EPERM, WSAEACCES, "refused by policy"},
    {EINTR, WSAEINTR, ""},
    {EBADF, WSAENOTSOCK, "closed handle"},
    {EAGAIN, WSAEWOULDBLOCK, ""},
    {ENOMEM, WSAENOBUFS, ""},
    {EACCES, WSAEACCES, ""},
    {EFAULT, WSAEFAULT, ""},
    {EINVAL, WSAEINVAL, ""},
    {ENFILE, WSAEMFILE, "no system-wide variant in Winsock"},
    {EMFILE, WSAEMFILE, ""},
    {EPIPE, WSAESHUTDOWN, "send after shutdown"},
    {ENOTSOCK, WSAENOTSOCK, ""},
    {EDESTADDRREQ, WSAEDESTADDRREQ, ""},
    {EMSGSIZE, WSAEMSGSIZE, ""},
    {EPROTOTYPE, WSAEPROTOTYPE, ""},
    {ENOPROTOOPT, WSAENOPROTOOPT, ""},
    {EPROTONOSUPPORT, WSAEPROTONOSUPPORT, ""},
    {ESOCKTNOSUPPORT, WSAESOCKTNOSUPPORT, ""},
    {EOPNOTSUPP, WSAEOPNOTSUPP, ""},
    {EPFNOSUPPORT, WSAEPFNOSUPPORT, ""},
    {EAFNOSUPPORT, WSAEAFNOSUPPORT, ""},
    {EADDRINUSE, WSAEADDRINUSE, ""},
    {EADDRNOTAVAIL, WSAEADDRNOTAVAIL, ""},
    {ENETDOWN, WSAENETDOWN, ""},
    {ENETUNREACH, WSAENETUNREACH, ""},
    {ENETRESET, WSAENETRESET, ""},
    {ECONNABORTED, WSAECONNABORTED, ""},
    {ECONNRESET, WSAECONNRESET, ""},
    {ENOBUFS, WSAENOBUFS, ""},
    {EISCONN, WSAEISCONN, ""},
    {ENOTCONN, WSAENOTCONN, ""},
    {ESHUTDOWN, WSAESHUTDOWN, ""},
    {ETIMEDOUT, WSAETIMEDOUT, ""},
    {ECONNREFUSED, WSAECONNREFUSED, ""},
    {EHOSTDOWN, WSAEHOSTUNREACH, "WSAEHOSTDOWN is not in the list"},
    {EHOSTUNREACH, WSAEHOSTUNREACH, ""},
    {EALREADY, WSAEALREADY, ""},
    {EINPROGRESS, WSAEWOULDBLOCK, "non-blocking connect, as Windows reports it"},
    {ECANCELED, WSA_OPERATION_ABORTED, ""},
};
static_assert(is_sorted_unique(lifecycle_rows), "keep lifecycle_rows sorted by errno");

// Receive and send completions (the codes WSPRecv/WSPSend may report):
//
//   errno            WSA code                note
//   EINTR            WSAENETDOWN             retried by the backend; defensive only
//   EBADF            WSAENOTSOCK
//   EAGAIN           WSAENETDOWN             re-armed by the backend; defensive only
//   ENOMEM           WSAENOBUFS
//   EFAULT           WSAEFAULT
//   EINVAL           WSAEINVAL
//   EPIPE            WSAECONNRESET           Linux's tcp_reset() reports a reset that arrives
//                                            after the peer's FIN (CLOSE_WAIT) as EPIPE; after
//                                            our own SD_SEND the core says WSAESHUTDOWN, and
//                                            after a local abort the sticky first error
//                                            (WSAECONNABORTED) answers every later call; a
//                                            receive after a delivered end of stream fails
//                                            with WSAECONNABORTED instead
//                                            (recv.peer.reset-after-end)
//   ENOTSOCK         WSAENOTSOCK
//   EMSGSIZE         WSAEINVAL               WSAEMSGSIZE is not a WSPRecv code; too many buffers
//   ENETDOWN         WSAENETDOWN
//   ENETUNREACH      WSAECONNABORTED
//   ENETRESET        WSAENETRESET
//   ECONNABORTED     WSAECONNABORTED
//   ECONNRESET       WSAECONNRESET
//   ENOBUFS          WSAENOBUFS
//   ENOTCONN         WSAENOTCONN
//   ESHUTDOWN        WSAESHUTDOWN
//   ETIMEDOUT        WSAETIMEDOUT            provisional: the core makes it WSAENETRESET when
//                                            SO_KEEPALIVE is on, else WSAECONNABORTED
//   EHOSTUNREACH     WSAECONNABORTED
//   ECANCELED        WSA_OPERATION_ABORTED
//   0                0
//   anything else    WSAENETDOWN
// Never produced: WSAEINTR, WSAEINPROGRESS, WSAEOPNOTSUPP, WSAEWOULDBLOCK, WSAEMSGSIZE.
constexpr errno_row transfer_rows[] = {
    {EINTR, WSAENETDOWN, "retried by the backend"},
    {EBADF, WSAENOTSOCK, "closed handle"},
    {EAGAIN, WSAENETDOWN, "re-armed by the backend"},
    {ENOMEM, WSAENOBUFS, ""},
    {EFAULT, WSAEFAULT, ""},
    {EINVAL, WSAEINVAL, ""},
    {EPIPE, WSAECONNRESET, "reset after the peer's FIN"},
    {ENOTSOCK, WSAENOTSOCK, ""},
    {EMSGSIZE, WSAEINVAL, "WSAEMSGSIZE is forbidden"},
    {ENETDOWN, WSAENETDOWN, ""},
    {ENETUNREACH, WSAECONNABORTED, ""},
    {ENETRESET, WSAENETRESET, ""},
    {ECONNABORTED, WSAECONNABORTED, ""},
    {ECONNRESET, WSAECONNRESET, ""},
    {ENOBUFS, WSAENOBUFS, ""},
    {ENOTCONN, WSAENOTCONN, ""},
    {ESHUTDOWN, WSAESHUTDOWN, ""},
    {ETIMEDOUT, WSAETIMEDOUT, "core decides by SO_KEEPALIVE"},
    {EHOSTUNREACH, WSAECONNABORTED, ""},
    {ECANCELED, WSA_OPERATION_ABORTED, ""},
};
static_assert(is_sorted_unique(transfer_rows), "keep transfer_rows sorted by errno");

constexpr bool never_forbidden(int wsa) {
    return wsa != WSAEINTR && wsa != WSAEINPROGRESS && wsa != WSAEOPNOTSUPP &&
           wsa != WSAEWOULDBLOCK && wsa != WSAEMSGSIZE;
}

template <std::size_t n> constexpr bool has_no_forbidden_code(const errno_row (&rows)[n]) {
    for (const errno_row& row : rows)
        if (!never_forbidden(row.wsa)) return false;
    return true;
}
// recv.codes.never: checked at compile time.
static_assert(has_no_forbidden_code(transfer_rows),
              "the specification forbids this code for WSPRecv");

} // namespace

int sanport::wsa_from_errno(int sys_error) noexcept {
    return look_up(lifecycle_rows, sys_error);
}

int sanport::wsa_from_transfer_errno(int sys_error) noexcept {
    return look_up(transfer_rows, sys_error);
}
