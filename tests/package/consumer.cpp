// SPDX-License-Identifier: MIT
// Links against the installed sanport and makes one real call through it.
#include <sanport/wsp.h>

#include <cstdio>

int main() {
    int err = 0;
    WSABUF buffer{0, nullptr};
    DWORD flags = 0;
    // An unknown socket must be refused with WSAENOTSOCK, through the installed library.
    const int r = sanport::WSPRecv(static_cast<SOCKET>(123456), &buffer, 1, nullptr, &flags,
                                   nullptr, nullptr, nullptr, &err);
    std::printf("consumer: WSPRecv on an unknown socket -> %d %s\n", r,
                sanport::wsa_error_name(err));
    return r == SOCKET_ERROR && err == WSAENOTSOCK ? 0 : 1;
}
