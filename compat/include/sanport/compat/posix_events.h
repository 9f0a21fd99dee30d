// SPDX-License-Identifier: MIT
// Linux only: the five WSA event functions at global scope, with Windows semantics. Events are
// manual-reset, created non-signalled, cost no file descriptor, and WSASetEvent/WSAResetEvent on
// an event nobody waits on make no syscall. Failures return FALSE/WSA_WAIT_FAILED and, unlike
// Windows, record no last-error value anywhere (errno is left as it was).
#pragma once

#include <sanport/compat/posix_types.h>

// A new manual-reset event, not signalled; WSA_INVALID_EVENT when out of memory.
WSAEVENT WSACreateEvent(void) noexcept;

// Frees the event; FALSE for WSA_INVALID_EVENT or a handle that is not a live event. A wait
// already under way on it keeps the event alive until that wait returns.
BOOL WSACloseEvent(WSAEVENT hEvent) noexcept;

// Signals the event and releases every waiter; it stays signalled until WSAResetEvent.
BOOL WSASetEvent(WSAEVENT hEvent) noexcept;

// Returns the event to non-signalled.
BOOL WSAResetEvent(WSAEVENT hEvent) noexcept;

// Waits until one (fWaitAll FALSE) or all (TRUE) of cEvents events are signalled, or dwTimeout
// milliseconds pass (0 polls, WSA_INFINITE never expires). Returns WSA_WAIT_EVENT_0 + the lowest
// signalled index (wait-any), WSA_WAIT_EVENT_0 (wait-all), WSA_WAIT_TIMEOUT, or WSA_WAIT_FAILED
// for cEvents 0 or above WSA_MAXIMUM_WAIT_EVENTS, a NULL array or an invalid handle.
// A set that happens while the call waits satisfies a wait-any even if the event is reset again
// before the waiter runs, as SetEvent releases waiters on Windows. fAlertable is ignored: there
// are no APCs on Linux.
DWORD WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT* lphEvents, BOOL fWaitAll,
                               DWORD dwTimeout, BOOL fAlertable) noexcept;
