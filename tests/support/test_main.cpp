// SPDX-License-Identifier: MIT
// The one doctest main of every test binary. `--sanport-backend=NAME` (set by CTest for the
// contract and stress suites) forces that backend; when the kernel refuses it (seccomp,
// kernel.io_uring_disabled), the run prints [sanport-skip] with the reason and skips -- any
// other failure to start is a failure. A run in which every executed case skipped (skip(),
// tests/support/skip.hpp) and none failed exits 77, CTest's SKIP_RETURN_CODE: outside CTest a
// skip must not look like a pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include <sanport/engine.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "skip.hpp"

#ifdef _WIN32
#include <winsock2.h>
#endif

namespace {

// The exit status of a run with nothing but skips (the automake convention CTest follows).
constexpr int skipped_exit_code = 77;

// Cases executed and cases that called skip(). A case may skip from a helper thread, hence the
// atomic; the counts themselves are only touched on doctest's thread.
std::atomic<bool> current_case_skipped{false};
int cases_run = 0;
int cases_skipped = 0;

// Counts cases as doctest runs them; everything else a reporter hears is ignored.
struct skip_counter : doctest::IReporter {
    explicit skip_counter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {
        current_case_skipped.store(false);
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {
        ++cases_run;
        if (current_case_skipped.load()) ++cases_skipped;
    }
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("sanport_skip_counter", 1, skip_counter);

[[maybe_unused]] bool kernel_refused(const std::string& why) {
    for (const char* code : {"EPERM", "ENOSYS", "EOPNOTSUPP"})
        if (why.find(code) != std::string::npos) return true;
    return false;
}

} // namespace

namespace sanport::test {

void skip(const std::string& why) {
    current_case_skipped.store(true);
    std::printf("[sanport-skip] %s\n", why.c_str());
    std::fflush(stdout);
}

} // namespace sanport::test

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
                return skipped_exit_code;
            }
            std::fprintf(stderr, "backend %s failed to start: %s\n", backend.c_str(),
                         e.why().c_str());
            return 1;
        }
    }
#endif
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    const int result = context.run();
    if (result == 0 && !context.shouldExit() && cases_run > 0 && cases_skipped == cases_run)
        return skipped_exit_code;
    return result;
}
