// SPDX-License-Identifier: MIT
// Windows: sanport's three WSA event helpers on real Win32 events. The kernel already keeps an
// event alive while a handle to it is open, so hold/release need no reference count of ours.

#include <sanport/compat.h>

bool sanport::wsa_event_is_set(WSAEVENT event) noexcept {
    // A zero timeout tests the state without waiting; on a manual-reset event (WSACreateEvent
    // makes those) the test does not reset it. An invalid handle gives WAIT_FAILED: false.
    return event != WSA_INVALID_EVENT && WaitForSingleObject(event, 0) == WAIT_OBJECT_0;
}

bool sanport::wsa_event_hold(WSAEVENT event) noexcept {
    // Nothing to pin: the caller's open handle keeps the event alive, and a set on a handle
    // closed meanwhile fails harmlessly in WSASetEvent.
    return event != WSA_INVALID_EVENT;
}

void sanport::wsa_event_set_and_release(WSAEVENT event) noexcept {
    if (event != WSA_INVALID_EVENT) WSASetEvent(event);
}
