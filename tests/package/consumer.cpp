// SPDX-License-Identifier: MIT
// Links against an installed sanport and checks, through it: the version header against the
// version the package manager reported (SANPORT_EXPECTED_VERSION, given by the build), one
// public call and one compat call, and where sanport's code was loaded from (printed as
// "loaded from: PATH", which scripts/check-package.sh compares with the library it expects).
#include <sanport/version.h>
#include <sanport/wsp.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#ifdef __linux__
#include <dlfcn.h>
#endif

#define SANPORT_STR2(x) #x
#define SANPORT_STR(x) SANPORT_STR2(x)
static_assert(std::string_view(SANPORT_VERSION_STRING) ==
                  SANPORT_STR(SANPORT_VERSION_MAJOR) "." SANPORT_STR(
                      SANPORT_VERSION_MINOR) "." SANPORT_STR(SANPORT_VERSION_PATCH),
              "SANPORT_VERSION_STRING is MAJOR.MINOR.PATCH");

int main() {
    int failures = 0;
    std::printf("consumer: sanport/version.h says %s\n", SANPORT_VERSION_STRING);
#ifdef SANPORT_EXPECTED_VERSION
    if (std::strcmp(SANPORT_VERSION_STRING, SANPORT_EXPECTED_VERSION) != 0) {
        std::printf("consumer: FAIL: the package says %s\n", SANPORT_EXPECTED_VERSION);
        ++failures;
    }
#endif

    // An unknown socket must be refused with WSAENOTSOCK, through the installed library.
    int err = 0;
    WSABUF buffer{0, nullptr};
    DWORD flags = 0;
    const int r = sanport::WSPRecv(static_cast<SOCKET>(123456), &buffer, 1, nullptr, &flags,
                                   nullptr, nullptr, nullptr, &err);
    const char* name = sanport::wsa_error_name(err);
    std::printf("consumer: WSPRecv on an unknown socket -> %d %s\n", r, name);
    if (r != SOCKET_ERROR || err != WSAENOTSOCK) ++failures;

    // compat: a WSA event, created and signalled.
    WSAEVENT event = WSACreateEvent();
    if (event == WSA_INVALID_EVENT || !WSASetEvent(event) ||
        WSAWaitForMultipleEvents(1, &event, FALSE, 0, FALSE) != WSA_WAIT_EVENT_0 ||
        !WSACloseEvent(event)) {
        std::printf("consumer: FAIL: WSA event calls\n");
        ++failures;
    }

#ifdef __linux__
    // The name's text lives in sanport's read-only data: the object holding it is
    // libsanport.so when the shared library was linked, the program itself when the archive was.
    Dl_info info{};
    if (dladdr(name, &info) != 0 && info.dli_fname != nullptr)
        std::printf("consumer: loaded from: %s\n", info.dli_fname);
#endif
    return failures == 0 ? 0 : 1;
}
