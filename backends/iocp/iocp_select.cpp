// SPDX-License-Identifier: MIT
// make_backend on Windows: which backend an engine gets, from SANPORT_BACKEND's value (or ""
// for the best available). IOCP is the only one here. Invariant, as on Linux: a backend that
// cannot start yields nullptr and a reason naming what the OS refused; a forced backend never
// silently becomes another one.

#include "backends/iocp/iocp_backend.hpp"
#include "core/backend.hpp"

#include <memory>
#include <string>

namespace sanport::detail {

namespace {

// "WSAStartup failed with 10091 (...)": FormatMessage knows Win32 and Winsock codes alike.
std::string error_words(int error) {
    std::string words = std::to_string(error);
    char text[256] = {};
    const DWORD n =
        ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                         static_cast<DWORD>(error), 0, text, sizeof text, nullptr);
    std::string message(text, n);
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                                message.back() == ' ' || message.back() == '.'))
        message.pop_back();
    if (!message.empty()) words += " (" + message + ")";
    return words;
}

std::unique_ptr<backend> make_iocp(unsigned queue_depth, std::string& why_not) {
    auto attempt = std::make_unique<iocp_backend>(queue_depth);
    if (attempt->setup_error() != 0) {
        why_not = std::string("iocp unavailable: ") + attempt->setup_step() + " failed with " +
                  error_words(attempt->setup_error());
        return nullptr;
    }
    return attempt;
}

} // namespace

std::unique_ptr<backend> make_backend(const std::string& forced, unsigned queue_depth,
                                      std::string& why_not) {
    why_not.clear();
    if (forced.empty() || forced == "iocp") return make_iocp(queue_depth, why_not);
    if (forced == "io_uring" || forced == "asio") {
        why_not = "the " + forced + " backend exists only on Linux; on Windows use iocp";
        return nullptr;
    }
    why_not = "unknown SANPORT_BACKEND value '" + forced + "' (use io_uring, asio or iocp)";
    return nullptr;
}

} // namespace sanport::detail
