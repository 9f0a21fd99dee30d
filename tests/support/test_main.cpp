// SPDX-License-Identifier: MIT
// The one doctest main of every test binary. `--sanport-backend=NAME` (set by CTest for the
// contract and stress suites) forces that backend; when the kernel refuses it (seccomp,
// kernel.io_uring_disabled), the case prints [sanport-skip] with the reason and passes as
// "skipped" -- any other failure to start is a failure.
#define DOCTEST_CONFIG_IMPLEMENT
#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#ifdef _WIN32
#include <winsock2.h>
#endif

namespace {

[[maybe_unused]] bool kernel_refused(const std::string& why) {
    for (const char* code : {"EPERM", "ENOSYS", "EOPNOTSUPP"})
        if (why.find(code) != std::string::npos) return true;
    return false;
}

} // namespace

int main(int argc, char** argv) {
#ifdef _WIN32
    // The tests' own peer sockets are plain Winsock, which needs this once per process.
    WSADATA wsa_data;
    if (WSAStartup(MAKEWORD(2, 2), &wsa_data) != 0) {
        std::fprintf(stderr, "WSAStartup failed\n");
        return 1;
    }
#endif
    std::string backend;
    const std::string flag = "--sanport-backend=";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind(flag, 0) == 0) backend = arg.substr(flag.size());
    }
#ifndef SANPORT_TESTS_WITHOUT_BACKEND // defined while a build has no backend (tests/wine.cmake)
    if (!backend.empty()) {
#ifdef _WIN32
        _putenv_s("SANPORT_BACKEND", backend.c_str()); // the CRT has no setenv
#else
        setenv("SANPORT_BACKEND", backend.c_str(), 1);
#endif
        bool listing = false;
        for (int i = 1; i < argc; ++i)
            listing |= std::string(argv[i]).rfind("--list", 0) == 0;
        sanport::engine& e = sanport::default_engine();
        if (!listing && e.status() != 0) {
            if (kernel_refused(e.why())) {
                std::printf("[sanport-skip] backend %s refused by the kernel: %s\n",
                            backend.c_str(), e.why().c_str());
                return 0;
            }
            std::fprintf(stderr, "backend %s failed to start: %s\n", backend.c_str(),
                         e.why().c_str());
            return 1;
        }
    }
#endif
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    return context.run();
}
