// SPDX-License-Identifier: MIT
// WSAGetLastError/WSASetLastError on Linux: one value per thread, as on Windows (where it is
// the thread's GetLastError). Only the Windows-typed extension functions set it.
#include <sanport/compat.h>

namespace {
constinit thread_local int last_error = 0;
} // namespace

int WSAGetLastError(void) noexcept {
    return last_error;
}

void WSASetLastError(int iError) noexcept {
    last_error = iError;
}
