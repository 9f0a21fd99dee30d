// SPDX-License-Identifier: MIT
// The row table and the loop that runs it: each row in its own session, a thrown row_failed
// or row_skipped (or any exception) is that row's result and the next row starts clean.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <mutex>
#include <ostream>
#include <thread>

#include "porting/suite/rows.hpp"

namespace sanport::suite {

namespace {

using detail::session;

struct row_def {
    row_info info;
    void (*run)(session&);
};

const std::vector<row_def>& table() {
    using namespace detail;
    static const std::vector<row_def> t = {
        {{"recv.pending", "recv.pending: no data yet, overlapped: SOCKET_ERROR with "
                          "WSA_IO_PENDING, counts untouched"},
         row_pending},
        {{"recv.bookkeeping", "recv.overlapped.fields: on completion InternalHigh = bytes, Offset "
                              "= flags, OffsetHigh = error, Internal last"},
         row_bookkeeping},
        {{"recv.event", "recv.notify: the event is signalled on completion, pending or at once"},
         row_event},
        {{"recv.immediate",
          "recv.immediate: data available: returns 0 with count and overlapped set, or pends"},
         row_immediate},
        {{"recv.blocking", "recv.blocking: lpOverlapped NULL: a blocking receive"}, row_blocking},
        {{"recv.scatter", "recv.scatter.order: N WSABUFs filled in array order, each full first, "
                          "zero-length skipped"},
         row_scatter},
        {{"recv.completes-early", "recv.scatter.order: completes as soon as any data arrived, not "
                                  "when all buffers are full"},
         row_completes_early},
        {{"recv.zero-byte", "recv.zero-byte: buffers of zero bytes pend until data, complete with "
                            "0, consume nothing"},
         row_zero_byte},
        {{"recv.capture", "recv.capture: the WSABUF array is captured before return"}, row_capture},
        {{"recv.many-buffers", "recv.count.large: 1,024 WSABUFs work"}, row_many_buffers},
        {{"recv.posting-order", "recv.posting-order: several receives are filled in posting order, "
                                "no byte lost or repeated"},
         row_posting_order},
        {{"recv.exactly-once",
          "recv.notify: every receive completes exactly once: one completion packet each"},
         row_exactly_once},
        {{"recv.low-bit", "recv.event.low-bit, depart.low-bit.signals: low bit of hEvent: no "
                          "completion packet, the event is still signalled"},
         row_low_bit},
        {{"result.wait",
          "result.get: WSPGetOverlappedResult: fWait FALSE gives WSA_IO_INCOMPLETE, TRUE waits"},
         row_overlapped_result},
        {{"args.count-zero", "recv.count.zero: dwBufferCount 0: WSAEINVAL, nothing consumed"},
         row_count_zero},
        {{"args.bad-pointers",
          "recv.args.fault: NULL lpBuffers, buf, lpFlags: WSAEFAULT; lpErrno NULL: SOCKET_ERROR"},
         row_bad_pointers},
        {{"args.not-socket", "recv.socket.unknown: unknown or closed SOCKET: WSAENOTSOCK"},
         row_not_socket},
        {{"args.not-overlapped", "recv.state.invalid, depart.overlapped.not-ignored: overlapped "
                                 "call on a socket without WSA_FLAG_OVERLAPPED: WSAEINVAL"},
         row_not_overlapped},
        {{"args.not-connected", "recv.state.invalid, recv.state.not-connected: not bound: "
                                "WSAEINVAL; bound or listening, not connected: WSAENOTCONN"},
         row_not_connected},
        {{"args.bad-flags", "recv.flags.invalid: MSG_OOB and MSG_WAITALL | MSG_PEEK: WSAEINVAL"},
         row_bad_flags},
        {{"conn.shutdown-receive",
          "recv.shutdown: after SD_RECEIVE new receives fail WSAESHUTDOWN; pending ones complete"},
         row_shutdown_receive},
        {{"conn.graceful-close",
          "recv.peer.close: peer closes: data first, then every receive succeeds with 0 bytes"},
         row_graceful_close},
        {{"conn.reset",
          "recv.peer.reset: peer resets: the pending and every later receive fail WSAECONNRESET"},
         row_reset},
        {{"conn.close-pending", "close.pending.abort: WSPCloseSocket completes each pending "
                                "receive once, aborted, before it returns"},
         row_close_pending},
        {{"flags.peek", "recv.peek: MSG_PEEK copies without consuming"}, row_peek},
        {{"flags.waitall",
          "recv.waitall, depart.waitall: MSG_WAITALL completes only when every buffer is full"},
         row_waitall},
        {{"send.gather",
          "send.gather: WSPSend gathers in array order and completes with every byte"},
         row_send},
        {{"memory.registered",
          "recv.memory.registered: a receive into WSPRegisterMemory'd memory works"},
         row_registered},
        {{"memory.read-only",
          "recv.memory.registered: a buffer registered without MEM_WRITE: WSAEFAULT"},
         row_read_only_region},
        {{"memory.deregister-pending",
          "deregister.pending: deregistering memory a pending receive uses: WSAEINVAL or deferred"},
         row_deregister_pending},
        {{"codes.spec-only", "recv.codes.never, depart.codes: WSPRecv never gives a code outside "
                             "the specification's list (WSAEWOULDBLOCK, ...)"},
         nullptr},
    };
    return t;
}

// A call into the provider that never returns (a blocking receive nobody completes, a
// WSPGetOverlappedResult that waits forever) would hang the whole run without naming the row:
// the watchdog names it and ends the process with status 1.
class watchdog {
public:
    watchdog(const std::string& row, DWORD limit_ms)
        : thread_([this, row, limit_ms] {
              std::unique_lock lock(mutex_);
              if (cv_.wait_for(lock, std::chrono::milliseconds(limit_ms), [this] { return done_; }))
                  return;
              std::fprintf(stdout,
                           "FAIL  %s: did not finish within %lu ms: a call into the "
                           "provider never returned\n",
                           row.c_str(), static_cast<unsigned long>(limit_ms));
              std::fflush(stdout);
              std::_Exit(1);
          }) {}
    ~watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::jthread thread_; // last: started after the members it reads, joined first
};

} // namespace

const std::vector<row_info>& rows() {
    static const std::vector<row_info> r = [] {
        std::vector<row_info> out;
        for (const row_def& d : table())
            out.push_back(d.info);
        return out;
    }();
    return r;
}

const char* outcome_name(outcome o) noexcept {
    switch (o) {
    case outcome::pass:
        return "PASS";
    case outcome::fail:
        return "FAIL";
    case outcome::skip:
        return "SKIP";
    }
    return "?";
}

std::vector<row_result> run(provider_host& host, const options& opts) {
    std::vector<row_result> results;
    detail::code_log codes;
    for (const row_def& d : table()) {
        const std::string id = d.info.id;
        if (!opts.only.empty() && id.rfind(opts.only, 0) != 0) continue;
        row_result r{id, outcome::pass, {}, 0};
        const auto start = std::chrono::steady_clock::now();
        try {
            if (host.status() != 0) detail::fail("the provider did not start: " + host.why());
            if (d.run) {
                const watchdog guard(id, 10 * opts.wait_ms + 10000);
                session ses(host, opts, codes, id);
                d.run(ses);
            } else {
                detail::check_codes(codes);
            }
        } catch (const detail::row_failed& f) {
            r.result = outcome::fail;
            r.detail = f.what;
        } catch (const detail::row_skipped& s) {
            r.result = outcome::skip;
            r.detail = s.why;
        } catch (const std::exception& e) {
            r.result = outcome::fail;
            r.detail = std::string("exception: ") + e.what();
        }
        r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                   .count();
        if (opts.progress)
            *opts.progress << outcome_name(r.result) << "  " << id
                           << (r.detail.empty() ? "" : ": " + r.detail) << std::endl;
        results.push_back(std::move(r));
    }
    return results;
}

int print_report(const std::vector<row_result>& results, std::ostream& out) {
    int counts[3] = {0, 0, 0};
    for (const row_result& r : results) {
        ++counts[static_cast<int>(r.result)];
        out << std::left << std::setw(28) << r.id << outcome_name(r.result) << std::right
            << std::setw(9) << std::fixed << std::setprecision(0) << r.ms << " ms";
        if (!r.detail.empty()) out << "  " << r.detail;
        out << '\n';
    }
    out << results.size() << " rows: " << counts[0] << " passed, " << counts[1] << " failed, "
        << counts[2] << " skipped\n";
    return counts[1];
}

} // namespace sanport::suite
