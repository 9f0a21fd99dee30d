// SPDX-License-Identifier: MIT
// Linux WSA events: manual-reset events as heap objects waited on with the raw futex syscall.
// Invariants: an event owns no file descriptor (thousands are ordinary, one per posted
// receive); setting or resetting an event nobody waits on is a few atomic operations and no
// syscall; a waiter that registers before it sleeps can never miss a set (Dekker-style, all
// seq_cst, and the futex re-checks the word in the kernel).

#include <sanport/compat.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <ctime>
#include <linux/futex.h>
#include <new>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

constexpr std::uint32_t live_magic = 0x53504556u; // "SPEV"
constexpr std::uint32_t dead_magic = 0x44454144u; // "DEAD": catches most double closes

struct event_object {
    std::atomic<std::uint32_t> magic{live_magic};
    // The futex word. Bit 0 is "signalled"; the upper bits count sets, so a waiter that saw the
    // event unsignalled can tell a set happened even if a reset followed before it woke up.
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::uint32_t> waiter_count{0};       // single-event waits asleep on `word`
    std::atomic<std::uint32_t> multi_waiter_count{0}; // multi-event waits that include it
    std::atomic<std::uint32_t> ref_count{1};          // the handle, plus each wait under way
};

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the futex word must be a plain 32-bit integer");

// One futex word for every wait on several events: a set bumps it, but only when the event
// has a multi-event waiter, so the common single-event path never touches it.
std::atomic<std::uint32_t> multi_sequence{0};

constexpr std::uint32_t signalled_bit = 1u;
constexpr std::uint32_t one_set = 2u; // increment of the set counter in the upper bits

event_object* event_from(WSAEVENT handle) noexcept {
    if (handle == nullptr || reinterpret_cast<std::uintptr_t>(handle) % alignof(event_object))
        return nullptr;
    auto* event = static_cast<event_object*>(handle);
    return event->magic.load(std::memory_order_relaxed) == live_magic ? event : nullptr;
}

void release(event_object* event) noexcept {
    if (event->ref_count.fetch_sub(1, std::memory_order_acq_rel) == 1) delete event;
}

std::uint32_t* futex_word(std::atomic<std::uint32_t>& word) noexcept {
    return reinterpret_cast<std::uint32_t*>(&word);
}

// The helpers promise to leave errno alone, and the futex syscall reports through it.
class errno_guard {
public:
    errno_guard() noexcept : saved_(errno) {}
    ~errno_guard() { errno = saved_; }
    errno_guard(const errno_guard&) = delete;
    errno_guard& operator=(const errno_guard&) = delete;

private:
    int saved_;
};

void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
    errno_guard keep_errno;
    syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

bool has_passed(const timespec& deadline) noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now); // vDSO: no syscall
    return now.tv_sec > deadline.tv_sec ||
           (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

// Sleeps while `word` still holds `expected`; false once the absolute CLOCK_MONOTONIC
// `deadline` (nullptr: none) has passed. Spurious returns are fine: callers re-check. The clock
// is read again because a word that keeps changing makes the kernel return at once (EAGAIN)
// without ever looking at the deadline.
bool futex_wait_until(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      const timespec* deadline) noexcept {
    errno_guard keep_errno;
    long rc = syscall(SYS_futex, futex_word(word), FUTEX_WAIT_BITSET_PRIVATE, expected, deadline,
                      nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return false;
    return deadline == nullptr || !has_passed(*deadline);
}

timespec deadline_after(DWORD timeout_ms) noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_sec += static_cast<time_t>(timeout_ms / 1000u);
    now.tv_nsec += static_cast<long>(timeout_ms % 1000u) * 1000000L;
    if (now.tv_nsec >= 1000000000L) {
        now.tv_sec += 1;
        now.tv_nsec -= 1000000000L;
    }
    return now;
}

constexpr DWORD not_yet = WSA_WAIT_TIMEOUT;

// The wait's verdict on a snapshot of the words: WSA_WAIT_EVENT_0 + index, or not_yet. A word
// that moved away from its (unsignalled) value at the start of the wait was set meanwhile.
DWORD check_events(event_object* const* events, const std::uint32_t* start, DWORD count,
                   bool wait_all) noexcept {
    for (DWORD i = 0; i < count; ++i) {
        std::uint32_t word = events[i]->word.load(std::memory_order_seq_cst);
        bool is_set = (word & signalled_bit) != 0;
        if (wait_all && !is_set) return not_yet;
        if (!wait_all && (is_set || (start != nullptr && word != start[i])))
            return WSA_WAIT_EVENT_0 + i;
    }
    return wait_all ? WSA_WAIT_EVENT_0 : not_yet;
}

DWORD wait_single(event_object* event, const timespec* deadline) noexcept {
    std::uint32_t start = event->word.load(std::memory_order_seq_cst);
    if (start & signalled_bit) return WSA_WAIT_EVENT_0;
    event->waiter_count.fetch_add(1, std::memory_order_seq_cst);
    DWORD result = not_yet;
    for (bool in_time = true;;) {
        if (event->word.load(std::memory_order_seq_cst) != start) {
            result = WSA_WAIT_EVENT_0;
            break;
        }
        if (!in_time) break;
        in_time = futex_wait_until(event->word, start, deadline);
    }
    event->waiter_count.fetch_sub(1, std::memory_order_seq_cst);
    return result;
}

DWORD wait_multiple(event_object* const* events, DWORD count, bool wait_all,
                    const timespec* deadline) noexcept {
    for (DWORD i = 0; i < count; ++i)
        events[i]->multi_waiter_count.fetch_add(1, std::memory_order_seq_cst);
    // Snapshots taken after registering: any set from here on either shows in a word or
    // bumps multi_sequence before our next check.
    std::uint32_t start[WSA_MAXIMUM_WAIT_EVENTS];
    for (DWORD i = 0; i < count; ++i)
        start[i] = events[i]->word.load(std::memory_order_seq_cst);
    DWORD result = not_yet;
    for (bool in_time = true;;) {
        std::uint32_t sequence = multi_sequence.load(std::memory_order_seq_cst);
        result = check_events(events, start, count, wait_all);
        if (result != not_yet || !in_time) break;
        in_time = futex_wait_until(multi_sequence, sequence, deadline);
    }
    for (DWORD i = 0; i < count; ++i)
        events[i]->multi_waiter_count.fetch_sub(1, std::memory_order_seq_cst);
    return result;
}

} // namespace

WSAEVENT WSACreateEvent(void) noexcept {
    auto* event = new (std::nothrow) event_object;
    return event != nullptr ? static_cast<WSAEVENT>(event) : WSA_INVALID_EVENT;
}

BOOL WSACloseEvent(WSAEVENT hEvent) noexcept {
    event_object* event = event_from(hEvent);
    std::uint32_t expected = live_magic;
    if (event == nullptr || !event->magic.compare_exchange_strong(expected, dead_magic))
        return FALSE;
    release(event);
    return TRUE;
}

BOOL WSASetEvent(WSAEVENT hEvent) noexcept {
    event_object* event = event_from(hEvent);
    if (event == nullptr) return FALSE;
    std::uint32_t word = event->word.load(std::memory_order_relaxed);
    do {
        if (word & signalled_bit) return TRUE; // whoever set it has already woken the waiters
    } while (!event->word.compare_exchange_weak(word, word + one_set + signalled_bit,
                                                std::memory_order_seq_cst,
                                                std::memory_order_relaxed));
    // Nobody registered means nobody can be asleep on this event: no syscall.
    if (event->waiter_count.load(std::memory_order_seq_cst) != 0) futex_wake_all(event->word);
    if (event->multi_waiter_count.load(std::memory_order_seq_cst) != 0) {
        multi_sequence.fetch_add(1, std::memory_order_seq_cst);
        futex_wake_all(multi_sequence);
    }
    return TRUE;
}

BOOL WSAResetEvent(WSAEVENT hEvent) noexcept {
    event_object* event = event_from(hEvent);
    if (event == nullptr) return FALSE;
    event->word.fetch_and(~signalled_bit, std::memory_order_seq_cst);
    return TRUE;
}

DWORD WSAWaitForMultipleEvents(DWORD cEvents, const WSAEVENT* lphEvents, BOOL fWaitAll,
                               DWORD dwTimeout, BOOL /*fAlertable: no APCs on Linux*/) noexcept {
    if (lphEvents == nullptr || cEvents == 0 || cEvents > WSA_MAXIMUM_WAIT_EVENTS)
        return WSA_WAIT_FAILED;
    // Each event is pinned for the whole wait, so a close from another thread cannot free it
    // under us; the wait then simply runs to its time-out, as the event can no longer be set.
    event_object* events[WSA_MAXIMUM_WAIT_EVENTS];
    for (DWORD i = 0; i < cEvents; ++i) {
        events[i] = event_from(lphEvents[i]);
        if (events[i] == nullptr) {
            for (DWORD j = 0; j < i; ++j)
                release(events[j]);
            return WSA_WAIT_FAILED;
        }
        events[i]->ref_count.fetch_add(1, std::memory_order_relaxed);
    }
    bool wait_all = fWaitAll != FALSE;
    DWORD result = check_events(events, nullptr, cEvents, wait_all);
    if (result == not_yet && dwTimeout != 0) {
        timespec deadline{};
        if (dwTimeout != WSA_INFINITE) deadline = deadline_after(dwTimeout);
        const timespec* until = dwTimeout == WSA_INFINITE ? nullptr : &deadline;
        result = cEvents == 1 ? wait_single(events[0], until)
                              : wait_multiple(events, cEvents, wait_all, until);
    }
    for (DWORD i = 0; i < cEvents; ++i)
        release(events[i]);
    return result;
}

bool sanport::wsa_event_is_set(WSAEVENT event) noexcept {
    event_object* object = event_from(event);
    return object != nullptr && (object->word.load(std::memory_order_acquire) & signalled_bit) != 0;
}

bool sanport::wsa_event_hold(WSAEVENT event) noexcept {
    event_object* object = event_from(event);
    if (object == nullptr) return false;
    object->ref_count.fetch_add(1, std::memory_order_acq_rel);
    return true;
}

void sanport::wsa_event_set_and_release(WSAEVENT event) noexcept {
    auto* object = static_cast<event_object*>(event);
    // Closed meanwhile: nobody can wait on it any more, so there is nothing to signal.
    if (object->magic.load(std::memory_order_acquire) == live_magic) WSASetEvent(event);
    release(object);
}
