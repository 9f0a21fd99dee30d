// SPDX-License-Identifier: MIT
// make_backend: which backend an engine gets, from SANPORT_BACKEND's value (or "" for the best
// available). Invariant: a backend that cannot start yields nullptr and a reason naming what
// the OS refused; a forced backend never silently becomes another one. Unforced, an io_uring
// that the kernel or a policy refuses (EPERM, ENOSYS, EOPNOTSUPP, EINVAL) gives the asio
// backend plus the refusal as the reason, which the core logs once.

#include "backends/asio/asio_make.hpp"
#include "backends/io_uring/uring_backend.hpp"
#include "core/backend.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace sanport::detail {

namespace {

std::string errno_words(int sys_error) {
    const char* name = ::strerrorname_np(sys_error); // thread-safe, unlike strerror
    const char* text = ::strerrordesc_np(sys_error);
    std::string words = name != nullptr ? name : "errno " + std::to_string(sys_error);
    if (text != nullptr) words += std::string(" (") + text + ")";
    return words;
}

std::string uring_refusal(const uring_backend& attempt) {
    const int sys_error = attempt.setup_error();
    const std::string step = attempt.setup_step();
    if (step.rfind("probe: ", 0) == 0)
        return "io_uring unavailable: the kernel lacks " + step.substr(7) + " (too old)";
    std::string why = "io_uring unavailable: " + step + " failed with " + errno_words(sys_error);
    switch (sys_error) {
    case EPERM:
    case ENOSYS:
    case EOPNOTSUPP:
        why += "; io_uring is refused here: a seccomp filter (container runtime, systemd "
               "SystemCallFilter) or the sysctl kernel.io_uring_disabled (1 = only the group "
               "in kernel.io_uring_group, 2 = nobody)";
        break;
    case ENOMEM:
        why += "; lower queue_depth, or raise RLIMIT_MEMLOCK (kernels before 5.12 charge "
               "the rings to it)";
        break;
    case EMFILE:
    case ENFILE:
        why += "; out of file descriptors";
        break;
    default:
        break;
    }
    return why;
}

// io_uring, or nullptr with why_not set; `refused` says the kernel or a policy turned
// io_uring away for good (not a resource shortage that a smaller ring could fix).
std::unique_ptr<backend> make_uring(unsigned queue_depth, std::string& why_not, bool& refused) {
    auto attempt = std::make_unique<uring_backend>(queue_depth);
    if (const int sys_error = attempt->setup_error(); sys_error != 0) {
        why_not = uring_refusal(*attempt);
        refused = sys_error == EPERM || sys_error == ENOSYS || sys_error == EOPNOTSUPP ||
                  sys_error == EINVAL;
        return nullptr;
    }
    return attempt;
}

} // namespace

// backend.choice: io_uring, else the Boost.Asio reactor with the reason said once; a forced
// backend that cannot start is an error, never a fallback.
std::unique_ptr<backend> make_backend(const std::string& forced, unsigned queue_depth,
                                      std::string& why_not) {
    why_not.clear();
    bool refused = false;
    if (forced.empty()) {
        std::unique_ptr<backend> chosen = make_uring(queue_depth, why_not, refused);
        if (chosen != nullptr || !refused) return chosen;
        // io_uring is refused here (seccomp, io_uring_disabled, too old a kernel): the Asio
        // reactor takes over, and why_not stays set for the core's one "using the asio
        // backend: ..." line.
        std::string asio_why;
        chosen = make_asio_backend(asio_why);
        if (chosen == nullptr) why_not += "; " + asio_why;
        return chosen;
    }
    if (forced == "io_uring") return make_uring(queue_depth, why_not, refused);
    if (forced == "asio") return make_asio_backend(why_not);
    if (forced == "iocp") {
        // This file is the Linux choice; on Windows backends/iocp/iocp_select.cpp chooses.
        why_not = "the iocp backend exists only on Windows; on Linux use io_uring or asio";
        return nullptr;
    }
    why_not = "unknown SANPORT_BACKEND value '" + forced + "' (use io_uring, asio or iocp)";
    return nullptr;
}

} // namespace sanport::detail
