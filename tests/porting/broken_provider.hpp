// SPDX-License-Identifier: MIT
// A deliberately broken SAN provider: samples/san_provider with one fault put in front of it,
// so the suite can prove that it catches each fault, by the row named for it.
//  - out_of_order: two receives posted close together are handed to the sample swapped, so the
//    second posted is filled first;
//  - holes: a receive with several WSABUFs is handed over with each length halved, so bytes
//    land in the next buffer while the one before is not full;
//  - would_block: a receive that pends returns WSAEWOULDBLOCK instead of WSA_IO_PENDING;
//  - twice: every completion is reported to the switch two times;
//  - no_event: completions are reported with hEvent cleared, so the event is never signalled.
#pragma once

#include <sanport/compat.h>

namespace sanport::test::broken {

enum class fault { none, out_of_order, holes, would_block, twice, no_event };

// Takes effect at the next startup().
void set_fault(fault f) noexcept;

// The broken provider's WSPStartupEx.
int WSPAPI startup(WORD version, LPWSPDATA data, LPWSAPROTOCOL_INFOW info,
                   LPWSPUPCALLTABLEEX upcalls, LPWSPPROC_TABLE procs);

} // namespace sanport::test::broken
