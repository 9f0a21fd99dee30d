// SPDX-License-Identifier: MIT
// What a suite row works with: the provider's table, sockets it made (closed when the row
// ends), receives it posted (freed only after those sockets are closed, so a provider that
// completes late never writes into freed memory), and the codes WSPRecv gave.
#pragma once

#include <sanport/completion_queue.h>
#include <sanport/contract_suite.h>
#include <sanport/provider_host.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sanport::suite::detail {

struct row_failed {
    std::string what;
};
struct row_skipped {
    std::string why;
};
[[noreturn]] void fail(const std::string& what);
[[noreturn]] void skip(const std::string& why);
std::string code(int wsa); // "WSAEINVAL (10022)"

#define SUITE_EXPECT(cond, msg)                                                                    \
    do {                                                                                           \
        if (!(cond)) ::sanport::suite::detail::fail(std::string(msg));                             \
    } while (0)

// Every code WSPRecv returned or completed with during a run, with the row that saw it.
struct code_log {
    std::mutex mutex;
    std::vector<std::pair<int, std::string>> seen;
    void add(int wsa, const std::string& row);
};

constexpr DWORD untouched = 0xDEADBEEFu; // *lpNumberOfBytesRecvd before a call
constexpr char fill_byte = '\x7e';       // receive memory before a call: holes show as '~'

class session;

// One overlapped receive with its own memory, WSABUF array and event.
class receive {
public:
    receive(const std::vector<ULONG>& lengths, bool with_event);
    ~receive();
    receive(const receive&) = delete;
    receive& operator=(const receive&) = delete;

    int post(session& ses, SOCKET s, DWORD flags = 0); // the call's return value
    bool done() const noexcept;                        // Internal != WSS_OPERATION_IN_PROGRESS
    bool wait(DWORD ms) const;                         // polls Internal: never trusts the event
    DWORD bytes() const noexcept { return static_cast<DWORD>(ov.InternalHigh); }
    int error() const noexcept { return static_cast<int>(ov.OffsetHigh); }
    // The first bytes() bytes, read across the WSABUFs in array order.
    std::string data() const;
    bool event_set(DWORD ms) const; // the event became signalled within ms

    WSAOVERLAPPED ov{};
    std::vector<std::vector<char>> memory;
    std::vector<WSABUF> bufs;
    WSAEVENT event = WSA_INVALID_EVENT;
    DWORD count_out = untouched; // *lpNumberOfBytesRecvd
    DWORD flags_io = 0;          // *lpFlags
    int rc = 0;
    int err = 0;
};

class session {
public:
    session(provider_host& host, const options& opts, code_log& codes, std::string row);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    provider_host& host;
    const WSPPROC_TABLE& p;
    const options& opts;
    code_log& codes;
    const std::string row;

    struct pair {
        SOCKET s;    // the side the row receives on (accepted)
        SOCKET peer; // the side that sends, shuts down, resets (connected)
    };
    SOCKET make_socket(DWORD flags = WSA_FLAG_OVERLAPPED);
    SOCKET bound_socket(DWORD flags = WSA_FLAG_OVERLAPPED);
    SOCKET listening_socket(DWORD flags = WSA_FLAG_OVERLAPPED);
    // A connected pair over 127.0.0.1; `flags` is the listener's, which the accepted s inherits.
    pair connect(DWORD flags = WSA_FLAG_OVERLAPPED);
    void send(SOCKET s, const std::string& bytes); // blocking WSPSend until all are sent
    // Sends `bytes` from another thread after settle_ms, for rows that must be waiting first.
    // The thread joins when it goes out of scope, also when the row fails.
    std::jthread send_later(SOCKET s, std::string bytes);
    void close(SOCKET s); // WSPCloseSocket; fails the row on error
    void abort(SOCKET s); // SO_LINGER {1, 0} and close: the peer sees a reset
    // Blocking receives until `n` bytes or the stream ends.
    std::string receive_blocking(SOCKET s, std::size_t n);
    receive& make_receive(const std::vector<ULONG>& lengths, bool with_event = true);
    // n receives of `length` bytes each, posted on s in order.
    std::vector<receive*> post_receives(SOCKET s, std::size_t n, ULONG length);
    // Associates s with q through the host (fails the row if it cannot).
    void associate(completion_queue& q, SOCKET s, ULONG_PTR key);
    // Packets from q until `want` arrived or wait_ms passed, then any more within settle_ms.
    std::vector<completion_entry> collect(completion_queue& q, std::size_t want);
    // Fails the row unless q holds exactly one packet for ov (within wait_ms).
    void expect_one_packet(completion_queue& q, const WSAOVERLAPPED* ov, const std::string& what);
    // Waits for r to complete (fails the row naming `what` if it does not within wait_ms) and
    // logs its completion code.
    void await(const receive& r, const std::string& what);
    // Fails the row if r completes within settle_ms.
    void expect_pending(const receive& r, const std::string& what);
    void pause(DWORD ms) const;

private:
    std::vector<SOCKET> sockets_;
    std::deque<std::unique_ptr<receive>> receives_;
};

} // namespace sanport::suite::detail
