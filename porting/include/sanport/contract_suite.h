// SPDX-License-Identifier: MIT
// sanport/contract_suite.h: docs/contract.md §4 as a suite that runs against any provider's proc
// table. Each row is one rule of that section, named by a stable id ("recv.posting-order"); a run
// reports pass, fail (with what was seen) or skip (with what the provider lacks) per row.
//
// The suite drives the provider only through its table, over loopback TCP: two of the
// provider's sockets connected with WSPSocket/WSPBind/WSPListen/WSPConnect/WSPAccept, the peer's
// bytes sent with its WSPSend, a reset made with WSPSetSockOpt(SO_LINGER {1, 0}) and
// WSPCloseSocket. Completions are watched through the WSAOVERLAPPED (polled, never trusting the
// event), the event, and a sanport completion queue the host associates with the socket.
// The sanport-suite program (porting/tool) runs it from the command line.
#pragma once

#include <sanport/compat.h>

#include <iosfwd>
#include <string>
#include <vector>

namespace sanport {
class provider_host;
}

namespace sanport::suite {

enum class outcome { pass, fail, skip };

struct row_info {
    const char* id;       // "recv.posting-order"
    const char* contract; // the docs/contract.md §4 rule it checks, in its words
};

struct row_result {
    std::string id;
    outcome result = outcome::fail;
    std::string detail; // why it failed or was skipped; empty on a pass
    double ms = 0;      // wall time of the row
};

struct options {
    std::string only;                 // run rows whose id starts with this ("" = all)
    DWORD wait_ms = 3000;             // how long a row waits for a completion that must come
    DWORD settle_ms = 150;            // how long it watches for one that must not
    std::ostream* progress = nullptr; // one line per row as it finishes, when set
};

// Every row, in run order.
const std::vector<row_info>& rows();
// Runs the rows on the host's provider (which must have started: status() == 0).
std::vector<row_result> run(provider_host& host, const options& opts = {});
// A table: id, PASS/FAIL/SKIP, detail; then the totals. Returns the number of failures.
int print_report(const std::vector<row_result>& results, std::ostream& out);
const char* outcome_name(outcome o) noexcept;

} // namespace sanport::suite
