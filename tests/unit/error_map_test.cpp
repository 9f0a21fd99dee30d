// SPDX-License-Identifier: MIT
// Covers CONTRACT sections 2 and 4: every row of the errno → WSA tables (life-cycle and
// transfer), the five codes WSPRecv never returns, and a name and meaning for every code in
// wsa_codes.def. The expected rows are written out here, independently of errno_map.cpp.

#include <doctest/doctest.h>
#include <sanport/compat.h>

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

}  // namespace

TEST_CASE("compat: wsa_from_errno maps every life-cycle row") {
    const expected_row rows[] = {
        {EPERM, WSAEACCES},          {EINTR, WSAEINTR},
        {EBADF, WSAENOTSOCK},        {EAGAIN, WSAEWOULDBLOCK},
        {EWOULDBLOCK, WSAEWOULDBLOCK}, {ENOMEM, WSAENOBUFS},
        {EACCES, WSAEACCES},         {EFAULT, WSAEFAULT},
        {EINVAL, WSAEINVAL},         {ENFILE, WSAEMFILE},
        {EMFILE, WSAEMFILE},         {EPIPE, WSAESHUTDOWN},
        {ENOTSOCK, WSAENOTSOCK},     {EDESTADDRREQ, WSAEDESTADDRREQ},
        {EMSGSIZE, WSAEMSGSIZE},     {EPROTOTYPE, WSAEPROTOTYPE},
        {ENOPROTOOPT, WSAENOPROTOOPT}, {EPROTONOSUPPORT, WSAEPROTONOSUPPORT},
        {ESOCKTNOSUPPORT, WSAESOCKTNOSUPPORT}, {EOPNOTSUPP, WSAEOPNOTSUPP},
        {ENOTSUP, WSAEOPNOTSUPP},    {EPFNOSUPPORT, WSAEPFNOSUPPORT},
        {EAFNOSUPPORT, WSAEAFNOSUPPORT}, {EADDRINUSE, WSAEADDRINUSE},
        {EADDRNOTAVAIL, WSAEADDRNOTAVAIL}, {ENETDOWN, WSAENETDOWN},
        {ENETUNREACH, WSAENETUNREACH}, {ENETRESET, WSAENETRESET},
        {ECONNABORTED, WSAECONNABORTED}, {ECONNRESET, WSAECONNRESET},
        {ENOBUFS, WSAENOBUFS},       {EISCONN, WSAEISCONN},
        {ENOTCONN, WSAENOTCONN},     {ESHUTDOWN, WSAESHUTDOWN},
        {ETIMEDOUT, WSAETIMEDOUT},   {ECONNREFUSED, WSAECONNREFUSED},
        {EHOSTDOWN, WSAEHOSTUNREACH}, {EHOSTUNREACH, WSAEHOSTUNREACH},
        {EALREADY, WSAEALREADY},     {EINPROGRESS, WSAEWOULDBLOCK},
        {ECANCELED, WSA_OPERATION_ABORTED}, {0, 0},
        // Not in the table: the generic provider failure.
        {ENOENT, WSAENETDOWN},       {EIO, WSAENETDOWN},
        {-1, WSAENETDOWN},           {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CAPTURE(std::strerror(row.sys_error));
        CHECK(std::string(sanport::wsa_error_name(sanport::wsa_from_errno(row.sys_error))) ==
              sanport::wsa_error_name(row.wsa));
    }
}

TEST_CASE("compat: wsa_from_errno never yields WSAEINPROGRESS") {
    for (int sys_error = 0; sys_error <= 133; ++sys_error) {
        CAPTURE(sys_error);
        CHECK(sanport::wsa_from_errno(sys_error) != WSAEINPROGRESS);
    }
}

TEST_CASE("compat: wsa_from_transfer_errno maps every transfer row") {
    const expected_row rows[] = {
        {EINTR, WSAENETDOWN},        {EBADF, WSAENOTSOCK},
        {EAGAIN, WSAENETDOWN},       {ENOMEM, WSAENOBUFS},
        {EFAULT, WSAEFAULT},         {EINVAL, WSAEINVAL},
        {EPIPE, WSAECONNRESET},       {ENOTSOCK, WSAENOTSOCK},
        {EMSGSIZE, WSAEINVAL},       {ENETDOWN, WSAENETDOWN},
        {ENETUNREACH, WSAECONNABORTED}, {ENETRESET, WSAENETRESET},
        {ECONNABORTED, WSAECONNABORTED}, {ECONNRESET, WSAECONNRESET},
        {ENOBUFS, WSAENOBUFS},       {ENOTCONN, WSAENOTCONN},
        {ESHUTDOWN, WSAESHUTDOWN},   {ETIMEDOUT, WSAETIMEDOUT},
        {EHOSTUNREACH, WSAECONNABORTED}, {ECANCELED, WSA_OPERATION_ABORTED},
        {0, 0},
        // Not in the table: the generic provider failure.
        {EOPNOTSUPP, WSAENETDOWN},   {EINPROGRESS, WSAENETDOWN},
        {EACCES, WSAENETDOWN},       {EIO, WSAENETDOWN},
        {-1, WSAENETDOWN},           {100000, WSAENETDOWN},
    };
    for (const expected_row& row : rows) {
        CAPTURE(row.sys_error);
        CAPTURE(std::strerror(row.sys_error));
        CHECK(std::string(
                  sanport::wsa_error_name(sanport::wsa_from_transfer_errno(row.sys_error))) ==
              sanport::wsa_error_name(row.wsa));
    }
}

TEST_CASE("compat: wsa_from_transfer_errno never returns a code the seed forbids for WSPRecv") {
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
    CHECK(sizeof(def_rows) / sizeof(def_rows[0]) == 47);
    std::set<int> values;
    std::set<std::string> names;
    for (const def_row& row : def_rows) {
        CAPTURE(row.name);
        CHECK(std::string(sanport::wsa_error_name(row.value)) == row.name);
        CHECK(std::string(sanport::wsa_error_text(row.value)) == row.text);
        CHECK(std::strlen(row.text) > 0);
        CHECK(values.insert(row.value).second);  // no value listed twice
        CHECK(names.insert(row.name).second);
    }
}

TEST_CASE("compat: wsa_error_name for well-known codes, zero and unknown codes") {
    CHECK(std::string(sanport::wsa_error_name(WSAECONNRESET)) == "WSAECONNRESET");
    CHECK(std::string(sanport::wsa_error_name(10054)) == "WSAECONNRESET");
    CHECK(std::string(sanport::wsa_error_name(WSA_IO_PENDING)) == "WSA_IO_PENDING");
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
