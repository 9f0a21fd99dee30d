// SPDX-License-Identifier: MIT
// WSA error codes and the functions that name them and map OS codes onto them. On Linux it
// defines every code in wsa_codes.def as a macro, as Windows does; on both systems it checks
// each name against the list's value, so the list stays the single authority.
#pragma once

// Macros, not constants, so that `#ifdef WSAEDISCON` in ported code works as on Windows. A macro
// cannot emit #define, so they are spelled out here; the static_asserts generated from
// wsa_codes.def below fail the build if one is missing or has another value.
#ifndef _WIN32
#define WSA_INVALID_HANDLE 6
#define WSA_NOT_ENOUGH_MEMORY 8
#define WSA_INVALID_PARAMETER 87
#define WSA_OPERATION_ABORTED 995
#define WSA_IO_INCOMPLETE 996
#define WSA_IO_PENDING 997
#define ERROR_NOT_FOUND 1168
#define WSAEINTR 10004
#define WSAEBADF 10009
#define WSAEACCES 10013
#define WSAEFAULT 10014
#define WSAEINVAL 10022
#define WSAEMFILE 10024
#define WSAEWOULDBLOCK 10035
#define WSAEINPROGRESS 10036
#define WSAEALREADY 10037
#define WSAENOTSOCK 10038
#define WSAEDESTADDRREQ 10039
#define WSAEMSGSIZE 10040
#define WSAEPROTOTYPE 10041
#define WSAENOPROTOOPT 10042
#define WSAEPROTONOSUPPORT 10043
#define WSAESOCKTNOSUPPORT 10044
#define WSAEOPNOTSUPP 10045
#define WSAEPFNOSUPPORT 10046
#define WSAEAFNOSUPPORT 10047
#define WSAEADDRINUSE 10048
#define WSAEADDRNOTAVAIL 10049
#define WSAENETDOWN 10050
#define WSAENETUNREACH 10051
#define WSAENETRESET 10052
#define WSAECONNABORTED 10053
#define WSAECONNRESET 10054
#define WSAENOBUFS 10055
#define WSAEISCONN 10056
#define WSAENOTCONN 10057
#define WSAESHUTDOWN 10058
#define WSAETIMEDOUT 10060
#define WSAECONNREFUSED 10061
#define WSAEHOSTUNREACH 10065
#define WSAEPROCLIM 10067
#define WSASYSNOTREADY 10091
#define WSAVERNOTSUPPORTED 10092
#define WSANOTINITIALISED 10093
#define WSAEDISCON 10101
#define WSAEINVALIDPROCTABLE 10104
#define WSAEINVALIDPROVIDER 10105
#define WSAEPROVIDERFAILEDINIT 10106
#endif

#ifndef NO_ERROR
#define NO_ERROR 0L
#endif

// On Windows this checks the SDK's values; on Linux, the macros above.
#define SANPORT_WSA_CODE(name, value, text)                                                        \
    static_assert((name) == (value), #name " must have its Windows value " #value);
#include <sanport/compat/wsa_codes.def>

namespace sanport {

// "WSAECONNRESET", "WSA_IO_PENDING", ...; "NO_ERROR" for 0, "WSA_UNKNOWN_ERROR" otherwise.
const char* wsa_error_name(int code) noexcept;

// The code's one-line meaning from wsa_codes.def; "no error" for 0, "unknown error code" else.
const char* wsa_error_text(int code) noexcept;

// errno → WSA code for socket life-cycle calls (socket, bind, listen, accept, connect, options,
// shutdown, close). 0 stays 0; an errno the table does not list gives WSAENETDOWN.
// The table is in errno_map.cpp. On Windows both functions take a Win32/Winsock code
// (WSAGetLastError, GetLastError) instead of an errno: win32_map.cpp.
int wsa_from_errno(int sys_error) noexcept;

// errno → WSA code for a receive or send completion (docs/contract.md §4). Never returns
// WSAEINTR, WSAEINPROGRESS, WSAEOPNOTSUPP, WSAEWOULDBLOCK or WSAEMSGSIZE. ETIMEDOUT gives
// WSAETIMEDOUT, which the core turns into WSAENETRESET or WSAECONNABORTED by SO_KEEPALIVE.
// 0 stays 0; an errno the table does not list gives WSAENETDOWN.
int wsa_from_transfer_errno(int sys_error) noexcept;

} // namespace sanport
