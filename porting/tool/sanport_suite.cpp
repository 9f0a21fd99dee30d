// SPDX-License-Identifier: MIT
// sanport-suite: runs docs/contract.md §4's rows against a provider and prints one line per row.
//
//   sanport-suite --provider ./libmyprovider.so    a provider library (dlopen / LoadLibrary)
//   sanport-suite --sanport                         sanport's own WSPStartupEx
//   options: --row PREFIX  --list  --wait-ms N  --settle-ms N
// Exit status: 0 when no row failed, 1 when one did, 2 for a usage or start-up error, 77 when
// the kernel refuses the backend (nothing ran).
#include <sanport/contract_suite.h>
#include <sanport/engine.h>
#include <sanport/provider_host.h>
#include <sanport/wsp.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

namespace {

int usage() {
    std::cerr << "usage: sanport-suite (--provider LIBRARY | --sanport) [--row PREFIX] "
                 "[--wait-ms N] [--settle-ms N] [--list]\n";
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string library;
    bool own = false, list = false;
    sanport::suite::options opts;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--provider" && has_value)
            library = argv[++i];
        else if (a == "--sanport")
            own = true;
        else if (a == "--row" && has_value)
            opts.only = argv[++i];
        else if (a == "--wait-ms" && has_value)
            opts.wait_ms = static_cast<DWORD>(std::atoi(argv[++i]));
        else if (a == "--settle-ms" && has_value)
            opts.settle_ms = static_cast<DWORD>(std::atoi(argv[++i]));
        else if (a == "--list")
            list = true;
        else
            return usage();
    }
    if (list) {
        for (const auto& r : sanport::suite::rows())
            std::cout << r.id << "  " << r.contract << '\n';
        return 0;
    }
    if (library.empty() == !own) return usage();
    if (sanport::default_engine().status() != 0) {
        // A backend forced with SANPORT_BACKEND that this kernel refuses: skipped (status 77,
        // CTest's SKIP_RETURN_CODE), not failed and not passed. For --provider too: a provider
        // built on sanport reads the same variable. Any other start-up failure is a failure.
        const std::string& why = sanport::default_engine().why();
        for (const char* code : {"EPERM", "ENOSYS", "EOPNOTSUPP"}) {
            if (why.find(code) == std::string::npos) continue;
            std::cout << "[sanport-skip] sanport's backend was refused by the kernel: " << why
                      << '\n';
            return 77;
        }
        std::cerr << "sanport-suite: sanport's backend did not start: " << why << '\n';
        return 1;
    }
    std::unique_ptr<sanport::provider_host> host =
        own ? std::make_unique<sanport::provider_host>(&sanport::WSPStartupEx)
            : sanport::provider_host::load(library);
    if (host->status() != 0) {
        std::cerr << "sanport-suite: " << host->why() << '\n';
        return 2;
    }
    std::cout << "provider: " << (own ? "sanport (WSPStartupEx)" : library) << '\n';
    const auto results = sanport::suite::run(*host, opts);
    return sanport::suite::print_report(results, std::cout) == 0 ? 0 : 1;
}
