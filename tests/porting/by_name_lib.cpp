// SPDX-License-Identifier: MIT
// A library standing in for a provider that completes through ws2_32's exported
// WPUCompleteOverlappedRequest by name: the reference stays undefined here and must bind to the
// host program's export at dlopen (host_upcalls_test.cpp).
#include <sanport/compat.h>

extern "C" __attribute__((visibility("default"))) int complete_by_name(SOCKET s, LPWSAOVERLAPPED ov,
                                                                       DWORD bytes) {
    int err = 0;
    return WPUCompleteOverlappedRequest(s, ov, 0, bytes, &err) == 0 ? 0 : err;
}
