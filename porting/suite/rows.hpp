// SPDX-License-Identifier: MIT
// The rows, by file: rows_receive.cpp (one receive), rows_order.cpp (several receives and
// their notifications), rows_arguments.cpp (bad calls), rows_connection.cpp (shutdown, peer
// close and reset, close with receives pending, flags, send), rows_memory.cpp (registration).
#pragma once

#include "porting/suite/session.hpp"

namespace sanport::suite::detail {

void row_pending(session&);
void row_bookkeeping(session&);
void row_event(session&);
void row_immediate(session&);
void row_blocking(session&);
void row_scatter(session&);
void row_completes_early(session&);
void row_zero_byte(session&);
void row_capture(session&);
void row_many_buffers(session&);

void row_posting_order(session&);
void row_exactly_once(session&);
void row_low_bit(session&);
void row_overlapped_result(session&);

void row_count_zero(session&);
void row_bad_pointers(session&);
void row_not_socket(session&);
void row_not_overlapped(session&);
void row_not_connected(session&);
void row_bad_flags(session&);

void row_shutdown_receive(session&);
void row_graceful_close(session&);
void row_reset(session&);
void row_close_pending(session&);
void row_peek(session&);
void row_waitall(session&);
void row_send(session&);

void row_registered(session&);
void row_read_only_region(session&);
void row_deregister_pending(session&);

// The codes every row logged, checked last (the runner calls it with the whole run's log).
void check_codes(const code_log& log);

} // namespace sanport::suite::detail
