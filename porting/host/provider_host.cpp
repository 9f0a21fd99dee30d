// SPDX-License-Identifier: MIT
// provider_host: start-up and clean-up of a provider, the SAN extensions, and association of
// its sockets with a completion queue.
#include <sanport/completion_queue.h>
#include <sanport/provider_host.h>

#include <cstring>

#include "porting/host/handle_table.hpp"
#include "porting/host/library.hpp"

#ifndef _WIN32
#include <netinet/in.h>
#endif

namespace sanport {

namespace {

// What the switch hands WSPStartup about the protocol: one TCP/IPv4 stream entry. Providers
// read dwCatalogEntryId to pass back in WPUCreateSocketHandle.
constexpr DWORD catalog_entry_id = 1001;

WSAPROTOCOL_INFOW protocol_info() noexcept {
    WSAPROTOCOL_INFOW info{};
    info.dwCatalogEntryId = catalog_entry_id;
    info.iVersion = 2;
    info.iAddressFamily = AF_INET;
    info.iMaxSockAddr = 16;
    info.iMinSockAddr = 16;
    info.iSocketType = SOCK_STREAM;
    info.iProtocol = IPPROTO_TCP;
    return info;
}

template <class F> F extension(const WSPPROC_TABLE& procs, SOCKET s, GUID id) noexcept {
    if (!procs.lpWSPIoctl) return nullptr;
    void* fn = nullptr;
    DWORD returned = 0;
    int err = 0;
    if (procs.lpWSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn, sizeof fn,
                         &returned, nullptr, nullptr, nullptr, &err) != 0 ||
        returned != sizeof fn)
        return nullptr;
    F out = nullptr;
    std::memcpy(&out, &fn, sizeof out);
    return out;
}

} // namespace

provider_host::provider_host(LPWSPSTARTUPEX entry) {
    start(entry, nullptr);
}

provider_host::provider_host(LPWSPSTARTUP entry) {
    start(nullptr, entry);
}

std::unique_ptr<provider_host> provider_host::load(const std::string& library_path) {
    std::unique_ptr<provider_host> host(new provider_host);
    std::string error;
    host->library_ = detail::host::open_library(library_path, error);
    if (!host->library_) {
        host->why_ = "cannot load " + library_path + ": " + error;
        return host;
    }
    auto ex =
        reinterpret_cast<LPWSPSTARTUPEX>(detail::host::find_symbol(host->library_, "WSPStartupEx"));
    auto plain =
        reinterpret_cast<LPWSPSTARTUP>(detail::host::find_symbol(host->library_, "WSPStartup"));
    if (!ex && !plain) {
        host->why_ = library_path + " exports neither WSPStartupEx nor WSPStartup";
        return host;
    }
    host->start(ex, ex ? nullptr : plain);
    return host;
}

int provider_host::start(LPWSPSTARTUPEX ex, LPWSPSTARTUP plain) noexcept {
    if (!ex && !plain) {
        why_ = "no start-up function";
        return status_ = WSAEINVAL;
    }
    WSAPROTOCOL_INFOW info = protocol_info();
    // Providers keep the pointer they are given: one table for the life of the process.
    static WSPUPCALLTABLEEX shared_upcalls = upcall_table_ex();
    status_ = ex ? ex(0x0202, &data_, &info, &shared_upcalls, &procs_)
                 : plain(0x0202, &data_, &info, upcall_table(), &procs_);
    started_ = status_ == 0;
    if (!started_) {
        why_ = std::string(ex ? "WSPStartupEx" : "WSPStartup") + " returned " +
               std::string(wsa_error_name(status_));
        std::memset(&procs_, 0, sizeof procs_);
    }
    return status_;
}

provider_host::~provider_host() {
    if (started_ && procs_.lpWSPCleanup) {
        int err = 0;
        procs_.lpWSPCleanup(&err);
    }
    // The library stays mapped (see library.hpp): a provider's threads may outlive WSPCleanup.
}

LPFN_WSPREGISTERMEMORY provider_host::register_memory(SOCKET s) const noexcept {
    return extension<LPFN_WSPREGISTERMEMORY>(procs_, s, GUID WSAID_REGISTERMEMORY);
}

LPFN_WSPDEREGISTERMEMORY provider_host::deregister_memory(SOCKET s) const noexcept {
    return extension<LPFN_WSPDEREGISTERMEMORY>(procs_, s, GUID WSAID_DEREGISTERMEMORY);
}

int provider_host::associate(completion_queue& q, SOCKET s, ULONG_PTR key) noexcept {
    auto& table = detail::host::handle_table::instance();
    if (table.is_handle(s)) return table.associate(s, q.shared_impl(), key);
    return q.associate(s, key);
}

} // namespace sanport
