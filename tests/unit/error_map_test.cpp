// SPDX-License-Identifier: MIT
// Covers docs/contract.md §2 and §4: every row of the errno → WSA tables (life-cycle and
// transfer), the five codes WSPRecv never returns, and a name and meaning for every code in
// wsa_codes.def. The expected rows are written out here, independently of errno_map.cpp (on
// Windows: of win32_map.cpp, whose input is a Win32/Winsock code rather than an errno).

#include <sanport/compat.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string>

namespace {

struct expected_row {
    int sys_error;
    int wsa;
};

struct def_row {
    const char* name;
    int value;
    const char* text;
};

const def_row def_rows[] = {
#define SANPORT_WSA_CODE(name, value, text) {#name, value, text},
#include <sanport/compat/wsa_codes.def>
};

} // namespace

#ifndef _WIN32
TEST_CASE("compat: wsa_from_errno maps every life-cycle row") {
    const expected_row rows[] = {
        {EPERM, WSAEACCES},
        {EINTR, WSAEINTR},
        {EBADF, WSAENOTSOCK},
        {EAGAIN, WSAEWOULDBLOCK},
        {EWOULDBLOCK, WSAEWOULDBLOCK},
        {ENOMEM, WSAENOBUFS},
        {EACCES, WSAEACCES},
        {EFAULT, WSAEFAULT},
        {EINVAL, WSAEINVAL},
        {ENFILE, WSAEMFILE},
        {EMFILE, WSAEMFILE},
        {EPIPE, WSAESHUTDOWN},
        {ENOTSOCK, WSAENOTSOCK},
        {EDESTADDRREQ, WSAEDESTADDRREQ},
        {EMSGSIZE, WSAEMSGSIZE},
        {EPROTOTYPE, WSAEPROTOTYPE},
        {ENOPROTOOPT, WSAENOPROTOOPT},
        {EPROTONOSUPPORT, WSAEPROTONOSUPPORT},
        {ESOCKTNOSUPPORT, WSAESOCKTNOSUPPORT},
        {EOPNOTSUPP, WSAEOPNOTSUPP},
        {ENOTSUP, WSAEOPNOTSUPP},
        {EPFNOSUPPORT, WSAEPFNOSUPPORT},
        {EAFNOSUPPORT, WSAEAFNOSUPPORT},
        {EADDRINUSE, WSAEADDRINUSE},
        {EADDRNOTAVAIL, WSAEADDRNOTAVAIL},
        {ENETDOWN, WSAENETDOWN},
        {ENETUNREACH, WSAENETUNREACH},
        {ENETRESET, WSAENETRESET},
        {ECONNABORTED, WSAECONNABORTED},
        {ECONNRESET, WSAECONNRESET},
        {ENOBUFS, WSAENOBUFS},
        {EISCONN, WSAEISCONN},
        {ENOTCONN, WSAENOTCONN},
        {ESHUTDOWN, WSAESHUTDOWN},
        {ETIMEDOUT, WSAETIMEDOUT},
        {ECONNREFUSED, WSAECONNREFUSED},
        {EHOSTDOWN, WSAEHOSTUNREACH},
        {EHOSTUNREACH, WSAEHOSTUNREACH},
        {EALREADY, WSAEALREADY},
        {EINPROGRESS, WSAEWOULDBLOCK},
        {ECANCELED, WSA_OPERATION_ABORTED},
        {0, 0},
        // Not in the table: the generic provider failure.
        {ENOENT, WSAENETDOWN},
        {EIO, WSAENETDOWN},
        {-1, WSAENETDOWN},
        {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CAPTURE(std::strerror(row.sys_error));
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_errno(row.sys_error))) ==
              sanport::wsa_error_name(row.wsa));
    }
}

#endif // !_WIN32

TEST_CASE("compat: wsa_from_errno never yields WSAEINPROGRESS") {
    for (int sys_error = 0; sys_error <= 133; ++sys_error) {
        CAPTURE(sys_error);
        CHECK(sanport::wsa_from_errno(sys_error) != WSAEINPROGRESS);
    }
}

#ifndef _WIN32
TEST_CASE("compat: wsa_from_transfer_errno maps every transfer row") {
    const expected_row rows[] = {
        {EINTR, WSAENETDOWN},
        {EBADF, WSAENOTSOCK},
        {EAGAIN, WSAENETDOWN},
        {ENOMEM, WSAENOBUFS},
        {EFAULT, WSAEFAULT},
        {EINVAL, WSAEINVAL},
        {EPIPE, WSAECONNRESET},
        {ENOTSOCK, WSAENOTSOCK},
        {EMSGSIZE, WSAEINVAL},
        {ENETDOWN, WSAENETDOWN},
        {ENETUNREACH, WSAECONNABORTED},
        {ENETRESET, WSAENETRESET},
        {ECONNABORTED, WSAECONNABORTED},
        {ECONNRESET, WSAECONNRESET},
        {ENOBUFS, WSAENOBUFS},
        {ENOTCONN, WSAENOTCONN},
        {ESHUTDOWN, WSAESHUTDOWN},
        {ETIMEDOUT, WSAETIMEDOUT},
        {EHOSTUNREACH, WSAECONNABORTED},
        {ECANCELED, WSA_OPERATION_ABORTED},
        {0, 0},
        // Not in the table: the generic provider failure.
        {EOPNOTSUPP, WSAENETDOWN},
        {EINPROGRESS, WSAENETDOWN},
        {EACCES, WSAENETDOWN},
        {EIO, WSAENETDOWN},
        {-1, WSAENETDOWN},
        {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CAPTURE(std::strerror(row.sys_error));
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_transfer_errno(
                  row.sys_error))) == sanport::wsa_error_name(row.wsa));
    }
}

#endif // !_WIN32

#ifdef _WIN32
// On Windows the argument is what WSAGetLastError/GetLastError or a completion reported.
TEST_CASE("compat: wsa_from_errno maps every Win32 life-cycle row") {
    const expected_row rows[] = {
        {6, WSAENOTSOCK},
        {8, WSAENOBUFS},
        {64, WSAECONNRESET},
        {87, WSAEINVAL},
        {121, WSAETIMEDOUT},
        {676, WSA_OPERATION_ABORTED},
        {995, WSA_OPERATION_ABORTED},
        {998, WSAEFAULT},
        {1225, WSAECONNREFUSED},
        {1226, WSAEDISCON},
        {1231, WSAENETUNREACH},
        {1232, WSAEHOSTUNREACH},
        {1234, WSAECONNREFUSED},
        {1236, WSAECONNABORTED},
        {1450, WSAENOBUFS},
        {1460, WSAETIMEDOUT},
        {WSAEINPROGRESS, WSAEWOULDBLOCK},
        {WSAEHOSTDOWN, WSAEHOSTUNREACH},
        {0, 0},
        // Winsock codes sanport knows pass through.
        {WSAEINTR, WSAEINTR},
        {WSAEWOULDBLOCK, WSAEWOULDBLOCK},
        {WSAEADDRINUSE, WSAEADDRINUSE},
        {WSAECONNRESET, WSAECONNRESET},
        {WSAEMSGSIZE, WSAEMSGSIZE},
        {WSA_IO_PENDING, WSA_IO_PENDING},
        {WSANOTINITIALISED, WSANOTINITIALISED},
        // Neither in the table nor known: the generic provider failure.
        {2, WSAENETDOWN},
        {10000, WSAENETDOWN},
        {-1, WSAENETDOWN},
        {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_errno(row.sys_error))) ==
              sanport::wsa_error_name(row.wsa));
    }
}

TEST_CASE("compat: wsa_from_transfer_errno maps every Win32 transfer row") {
    const expected_row rows[] = {
        {6, WSAENOTSOCK},
        {8, WSAENOBUFS},
        {64, WSAECONNRESET},
        {87, WSAEINVAL},
        {121, WSAETIMEDOUT},
        {676, WSA_OPERATION_ABORTED},
        {995, WSA_OPERATION_ABORTED},
        {998, WSAEFAULT},
        {1226, WSAEDISCON},
        {1231, WSAECONNABORTED},
        {1232, WSAECONNABORTED},
        {1236, WSAECONNABORTED},
        {1450, WSAENOBUFS},
        {1460, WSAETIMEDOUT},
        {WSAEINTR, WSAENETDOWN},
        {WSAEWOULDBLOCK, WSAENETDOWN},
        {WSAEINPROGRESS, WSAENETDOWN},
        {WSAEMSGSIZE, WSAEINVAL},
        {WSAEOPNOTSUPP, WSAENETDOWN},
        {WSAENETUNREACH, WSAECONNABORTED},
        {WSAEHOSTDOWN, WSAECONNABORTED},
        {WSAEHOSTUNREACH, WSAECONNABORTED},
        {0, 0},
        // Winsock codes sanport knows pass through.
        {WSAECONNRESET, WSAECONNRESET},
        {WSAECONNABORTED, WSAECONNABORTED},
        {WSAENETRESET, WSAENETRESET},
        {WSAESHUTDOWN, WSAESHUTDOWN},
        {WSAENOTCONN, WSAENOTCONN},
        {WSAETIMEDOUT, WSAETIMEDOUT},
        {WSAEDISCON, WSAEDISCON},
        {WSAEFAULT, WSAEFAULT},
        // Neither in the table nor known: the generic provider failure.
        {2, WSAENETDOWN},
        {1225, WSAENETDOWN},
        {-1, WSAENETDOWN},
        {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_transfer_errno(
                  row.sys_error))) == sanport::wsa_error_name(row.wsa));
    }
}

TEST_CASE("compat: over the Win32 and Winsock ranges, no forbidden or unnamed result") {
    for (int range : {0, 10000}) {
        for (int code = range; code <= range + 2000; ++code) {
            CAPTURE(code);
            const int lifecycle = sanport::wsa_from_errno(code);
            const int transfer = sanport::wsa_from_transfer_errno(code);
            CHECK(lifecycle != WSAEINPROGRESS);
            CHECK(transfer != WSAEINTR);
            CHECK(transfer != WSAEINPROGRESS);
            CHECK(transfer != WSAEOPNOTSUPP);
            CHECK(transfer != WSAEWOULDBLOCK);
            CHECK(transfer != WSAEMSGSIZE);
            CHECK((code == 0 || transfer != 0));
            CHECK(std::string(sanport::wsa_error_name(lifecycle)) != "WSA_UNKNOWN_ERROR");
            CHECK(std::string(sanport::wsa_error_name(transfer)) != "WSA_UNKNOWN_ERROR");
        }
    }
}
#endif // _WIN32

TEST_CASE("compat: wsa_from_transfer_errno never returns a code the specification forbids") {
    for (int sys_error = 1; sys_error <= 133; ++sys_error) {
        CAPTURE(sys_error);
        int wsa = sanport::wsa_from_transfer_errno(sys_error);
        CAPTURE(sanport::wsa_error_name(wsa));
        CHECK(wsa != WSAEINTR);
        CHECK(wsa != WSAEINPROGRESS);
        CHECK(wsa != WSAEOPNOTSUPP);
        CHECK(wsa != WSAEWOULDBLOCK);
        CHECK(wsa != WSAEMSGSIZE);
        CHECK(wsa != 0);
    }
}

TEST_CASE("compat: both tables give a known WSA code for every errno") {
    for (int sys_error = 0; sys_error <= 133; ++sys_error) {
        CAPTURE(sys_error);
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_errno(sys_error))) !=
              "WSA_UNKNOWN_ERROR");
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_transfer_errno(sys_error))) !=
              "WSA_UNKNOWN_ERROR");
    }
}

TEST_CASE("compat: wsa_error_name and wsa_error_text cover every code in wsa_codes.def") {
    CHECK(sizeof(def_rows) / sizeof(def_rows[0]) == 48);
    std::set<int> values;
    std::set<std::string> names;
    for (const def_row& row : def_rows) {
        CAPTURE(row.name);
        CHECK(std::string(sanport::wsa_error_name(row.value)) == row.name);
        CHECK(std::string(sanport::wsa_error_text(row.value)) == row.text);
        CHECK(std::strlen(row.text) > 0);
        CHECK(values.insert(row.value).second); // no value listed twice
        CHECK(names.insert(row.name).second);
    }
}

TEST_CASE("compat: wsa_error_name for well-known codes, zero and unknown codes") {
    CHECK(std::string(sanport::wsa_error_name(WSAECONNRESET)) == "WSAECONNRESET");
    CHECK(std::string(sanport::wsa_error_name(10054)) == "WSAECONNRESET");
    CHECK(std::string(sanport::wsa_error_name(WSA_IO_PENDING)) == "WSA_IO_PENDING");
    CHECK(std::string(sanport::wsa_error_name(ERROR_NOT_FOUND)) == "ERROR_NOT_FOUND");
    CHECK(std::string(sanport::wsa_error_name(WSAEDISCON)) == "WSAEDISCON");
    CHECK(std::string(sanport::wsa_error_name(0)) == "NO_ERROR");
    CHECK(std::string(sanport::wsa_error_name(10000)) == "WSA_UNKNOWN_ERROR");
    CHECK(std::string(sanport::wsa_error_name(-1)) == "WSA_UNKNOWN_ERROR");
    CHECK(std::string(sanport::wsa_error_name(WSS_OPERATION_IN_PROGRESS)) == "WSA_UNKNOWN_ERROR");
    CHECK(std::string(sanport::wsa_error_text(0)) == "no error");
    CHECK(std::string(sanport::wsa_error_text(12345)) == "unknown error code");
    CHECK(std::string(sanport::wsa_error_text(WSAECONNRESET)) ==
          "the connection was reset by the peer");
}
