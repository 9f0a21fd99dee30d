// SPDX-License-Identifier: MIT
// WSA code → its name and one-line meaning, for logs and test failures. Both switches are
// generated from wsa_codes.def, so a code added there is named everywhere at once. Portable:
// the same file serves Linux and Windows.

#include <sanport/compat.h>

const char* sanport::wsa_error_name(int code) noexcept {
    switch (code) {
    case 0:
        return "NO_ERROR";
#define SANPORT_WSA_CODE(name, value, text)                                                        \
    case value:                                                                                    \
        return #name;
#include <sanport/compat/wsa_codes.def>
    default:
        return "WSA_UNKNOWN_ERROR";
    }
}

const char* sanport::wsa_error_text(int code) noexcept {
    switch (code) {
    case 0:
        return "no error";
#define SANPORT_WSA_CODE(name, value, text)                                                        \
    case value:                                                                                    \
        return text;
#include <sanport/compat/wsa_codes.def>
    default:
        return "unknown error code";
    }
}
