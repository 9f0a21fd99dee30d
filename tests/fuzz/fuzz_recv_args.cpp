// SPDX-License-Identifier: MIT
// libFuzzer target: argument validation of WSPRecv, WSPSend, WSPGetOverlappedResult,
// WSPRegisterMemory, WSPDeregisterMemory and WSPShutdown on a driven engine over the fake
// backend. Handles (good, INVALID_SOCKET, closed, foreign OS socket, garbage), NULL pointers,
// counts up to 2^32-1, lengths summing past 4 GiB, unknown flag bits, garbage `how` and memory
// handles. Every call's result is predicted from its arguments and must match exactly; a failed
// call touches no out-parameter and starts nothing. At the end the peer sends up to 48 bytes and
// the receives that were accepted, concatenated in posting order, must hold exactly them.
//
// Memory safety of the harness: no data is delivered while arguments are fuzzed; huge lengths
// only ever name the start of a 64-byte slot of their own, and the final phase delivers at most
// 48 bytes in all, so whatever sanport accepts is never written past its slot.
#include "tests/fuzz/fuzz_common.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/os_pair.hpp"

#include <sanport/engine.h>
#include <sanport/wsp.h>

#include <array>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

using namespace sanport::fuzz;

constexpr std::size_t max_calls = 48;
constexpr std::uint32_t slots = 8, slot_size = 64;
constexpr std::uint32_t final_budget = 48;
constexpr ULONG_PTR untouched = 0xabcdef;

struct call_rec { // an accepted WSPRecv/WSPSend
    WSAOVERLAPPED ov{};
    std::array<char, slots * slot_size> arena{};
    std::vector<WSABUF> bufs; // a copy of what was passed (the caller's array is scribbled on)
    bool is_recv = true;
    DWORD flags = 0;
    bool done = false;
    std::string data;

    std::string got() const {
        std::string out;
        std::size_t left = ov.InternalHigh;
        for (const WSABUF& b : bufs) {
            const std::size_t take = std::min<std::size_t>(left, b.len);
            if (take) out.append(b.buf, take);
            left -= take;
        }
        return out;
    }
};

struct harness {
    sanport::test::fake_rig& rig;
    SOCKET s, closed_s, foreign;
    bool overlapped_socket = true, rd_shut = false, wr_shut = false;
    std::deque<call_rec> calls; // accepted transfers, in posting order
    std::array<char, 64> regmem{};
    std::vector<HANDLE> handles; // registrations (live or not)
    std::vector<bool> live;
    std::size_t kpos = 0;

    harness(sanport::test::fake_rig& r, SOCKET mine, SOCKET gone, SOCKET os)
        : rig(r), s(mine), closed_s(gone), foreign(os) {}

    SOCKET pick_socket(std::uint8_t a, std::uint32_t garbage, bool& good) {
        SOCKET out = s;
        switch (a % 5) {
        case 1:
            out = INVALID_SOCKET;
            break;
        case 2:
            out = closed_s;
            break;
        case 3:
            out = foreign;
            break;
        case 4:
            out = static_cast<SOCKET>(garbage);
            break;
        default:
            break;
        }
        good = out == s;
        return out;
    }

    // WSPRecv (is_recv) or WSPSend with decoded arguments; b is the call's 15 argument bytes.
    void transfer(bool is_recv, reader& b) {
        bool good = false;
        const std::uint8_t hsel = b.u8();
        const std::uint8_t bsel = b.u8();
        const std::uint32_t raw_count = b.u32();
        const std::uint8_t kinds = b.u8();
        const std::uint32_t lens = b.u32();
        const std::uint8_t ptrs = b.u8();
        const DWORD flag_bits = b.u16() | (static_cast<DWORD>(b.u8()) << 16);
        const SOCKET h = pick_socket(hsel, raw_count ^ lens, good);
        call_rec& c = calls.emplace_back();
        c.is_recv = is_recv;
        std::vector<WSABUF> arr(slots);
        WSABUF* buffers = bsel % 4 == 0 ? nullptr : arr.data();
        DWORD count = raw_count;
        if (buffers && count <= sanport::max_buffer_count) count %= slots + 1;
        int want = 0;
        bool any_bytes = false;
        for (std::uint32_t i = 0; i < slots; ++i) {
            char* slot = c.arena.data() + i * slot_size;
            const std::uint8_t v = static_cast<std::uint8_t>(lens >> (8 * (i % 4)));
            switch ((kinds >> (2 * (i % 4))) & 3) {
            case 0:
                arr[i] = WSABUF{v % (slot_size + 1), slot};
                break;
            case 1:
                arr[i] = WSABUF{0, (v & 1) ? slot : nullptr};
                break;
            case 2:
                arr[i] = WSABUF{0x80000000u | (lens ^ v), slot};
                break; // sum passes 4 GiB
            default:   // must be refused: NULL or a low address with len > 0, or a wrapping range
                arr[i] = WSABUF{static_cast<ULONG>(v | 1),
                                (v & 2) ? reinterpret_cast<char*>(~std::uintptr_t{0} - (v & 0x3c))
                                        : reinterpret_cast<char*>(std::uintptr_t{v} << 4)};
                if (i < count && buffers && count <= sanport::max_buffer_count && !want && good)
                    want = -1; // WSAEFAULT, unless something earlier decides
                break;
            }
            if (i < count && arr[i].len) any_bytes = true;
        }
        // Predict: the order in which sanport checks (entry.cpp, wsp_transfer.cpp).
        DWORD flags = flag_bits & 0xffffu;
        if (bsel & 4) flags = (flag_bits >> 8) & (MSG_PEEK | MSG_WAITALL | MSG_OOB | MSG_PARTIAL);
        const bool flags_null = is_recv && (ptrs & 2);
        const bool errno_null = (ptrs & 8) != 0;
        bool use_ov = (ptrs & 4) == 0;
        if (!good)
            want = WSAENOTSOCK;
        else if (count == 0 || count > sanport::max_buffer_count)
            want = WSAEINVAL;
        else if (!buffers)
            want = WSAEFAULT;
        else if (want == -1)
            want = WSAEFAULT;
        else if (flags_null)
            want = WSAEFAULT;
        else if (is_recv && ((flags & MSG_OOB) || ((flags & MSG_PEEK) && (flags & MSG_WAITALL)) ||
                             (flags & ~DWORD{MSG_PEEK | MSG_WAITALL | MSG_PARTIAL})))
            want = WSAEINVAL;
        else if (!is_recv && flags != 0)
            want = WSAEINVAL;
        if (want == 0 && !use_ov && !errno_null) use_ov = true; // a blocking call would hang
        if (want == 0 && use_ov && !overlapped_socket)
            want = WSAEINVAL;
        else if (want == 0 && (is_recv ? rd_shut : wr_shut))
            want = WSAESHUTDOWN;

        DWORD n = 0xdeadbeef;
        DWORD flags_inout = flags;
        int err = untouched;
        c.ov.Internal = untouched;
        const std::size_t started = rig.fake->started.size();
        auto* routine = reinterpret_cast<LPWSAOVERLAPPED_COMPLETION_ROUTINE>(std::uintptr_t{1});
        auto* thread =
            reinterpret_cast<LPWSATHREADID>(static_cast<std::uintptr_t>((ptrs & 0x10) ? 8 : 0));
        LPDWORD count_out = (ptrs & 1) ? nullptr : &n;
        c.bufs.assign(arr.begin(), arr.begin() + (buffers ? std::min<DWORD>(count, slots) : 0));
        int rc;
        if (is_recv) {
            c.flags = flags;
            rc = sanport::WSPRecv(h, buffers, count, count_out, flags_null ? nullptr : &flags_inout,
                                  use_ov ? &c.ov : nullptr, routine, thread,
                                  errno_null ? nullptr : &err);
        } else {
            rc = sanport::WSPSend(h, buffers, count, count_out, flags, use_ov ? &c.ov : nullptr,
                                  routine, thread, errno_null ? nullptr : &err);
        }
        for (WSABUF& w : arr) // the array is the caller's again: sanport captured it
            w = WSABUF{0x7fffffff, reinterpret_cast<char*>(std::uintptr_t{0x10})};
        FUZZ_CHECK(rc == 0 || rc == SOCKET_ERROR, "transfer return value", rc, 0);
        const bool failed_early = errno_null || want != 0;
        if (failed_early) {
            FUZZ_CHECK(rc == SOCKET_ERROR, "accepted bad arguments", want, is_recv);
            if (!errno_null)
                FUZZ_CHECK(err == want, "wrong code", err, want);
            else
                FUZZ_CHECK(err == static_cast<int>(untouched), "NULL lpErrno: errno", err, 0);
            FUZZ_CHECK(n == 0xdeadbeef && flags_inout == flags, "out-parameter written", n, 0);
            FUZZ_CHECK(c.ov.Internal == untouched, "WSAOVERLAPPED written on failure", 0, 0);
            FUZZ_CHECK(rig.fake->started.size() == started, "failed call started I/O", 0, 0);
            if (!errno_null) {
                if (is_recv)
                    FUZZ_CHECK_RECV_CODE(err);
                else
                    FUZZ_CHECK_SEND_CODE(err);
            }
            calls.pop_back();
            return;
        }
        // Accepted: pending, or (a send of zero bytes) done at once.
        if (rc == 0) {
            FUZZ_CHECK(!is_recv && !any_bytes, "completed at once with no data", 0, 0);
            FUZZ_CHECK(!pending(c.ov) && c.ov.OffsetHigh == 0, "returned 0, not complete", 0, 0);
        } else {
            FUZZ_CHECK(err == WSA_IO_PENDING, "valid call failed", err, is_recv);
            FUZZ_CHECK(n == 0xdeadbeef && flags_inout == flags, "written while pending", n, 0);
        }
    }

    void reg(reader& b) {
        bool good = false;
        const SOCKET h = pick_socket(b.u8(), 7, good);
        const std::uint8_t psel = b.u8();
        DWORD len = b.u32();
        const DWORD flags = b.u32();
        char* p = regmem.data();
        int want = 0;
        switch (psel % 4) {
        case 0:
            len %= regmem.size() + 1;
            break; // real memory: stay inside it
        case 1:
            p = nullptr;
            break;
        case 2:
            p = reinterpret_cast<char*>(std::uintptr_t{psel} << 8);
            break;
        default:
            p = reinterpret_cast<char*>(~std::uintptr_t{0} - psel);
            len |= 0x100;
            break;
        }
        if (!good)
            want = WSAENOTSOCK;
        else if (psel % 4 != 0)
            want = WSAEFAULT;
        else if (len == 0 || flags == 0 || (flags & ~DWORD{MEM_READ | MEM_WRITE}))
            want = WSAEINVAL;
        int err = untouched;
        const HANDLE r =
            sanport::WSPRegisterMemory(h, p, len, flags, (psel & 0x80) ? nullptr : &err);
        if (psel & 0x80) {
            FUZZ_CHECK(r == nullptr && err == static_cast<int>(untouched), "NULL lpErrno", 0, 0);
            return;
        }
        if (want) {
            FUZZ_CHECK(r == nullptr && err == want, "WSPRegisterMemory code", err, want);
            return;
        }
        FUZZ_CHECK(r != nullptr || err == WSAENOBUFS, "WSPRegisterMemory refused", err, 0);
        if (r && handles.size() < 16) {
            handles.push_back(r);
            live.push_back(true);
        } else if (r) {
            FUZZ_CHECK(sanport::WSPDeregisterMemory(s, r, &err) == 0, "deregister", err, 0);
        }
    }

    void dereg(reader& b) {
        bool good = false;
        const SOCKET h = pick_socket(b.u8(), 9, good);
        const std::uint8_t hs = b.u8();
        const std::uint64_t garbage = b.u64();
        HANDLE handle = reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(garbage));
        int want = WSAEINVAL;
        std::size_t which = handles.size();
        if (hs % 3 == 1) handle = nullptr;
        if (hs % 3 == 2 && !handles.empty()) {
            which = garbage % handles.size();
            handle = handles[which];
            if (live[which]) want = 0;
        }
        if (!good) want = WSAENOTSOCK;
        int err = untouched;
        const int rc = sanport::WSPDeregisterMemory(h, handle, &err);
        if (want) {
            FUZZ_CHECK(rc == SOCKET_ERROR && err == want, "WSPDeregisterMemory code", err, want);
        } else {
            FUZZ_CHECK(rc == 0, "WSPDeregisterMemory refused a live handle", err, 0);
            live[which] = false;
        }
    }

    void shutdown(reader& b) {
        bool good = false;
        const SOCKET h = pick_socket(b.u8(), 11, good);
        const std::uint32_t how = b.u32();
        const int ihow = (how & 0x100) ? static_cast<int>(how % 3) : static_cast<int>(how);
        int err = untouched;
        const int rc = sanport::WSPShutdown(h, ihow, &err);
        int want = 0;
        if (!good)
            want = WSAENOTSOCK;
        else if (ihow != SD_RECEIVE && ihow != SD_SEND && ihow != SD_BOTH)
            want = WSAEINVAL;
        if (want) {
            FUZZ_CHECK(rc == SOCKET_ERROR && err == want, "WSPShutdown code", err, want);
            return;
        }
        FUZZ_CHECK(rc == 0, "WSPShutdown failed", err, ihow);
        if (ihow != SD_SEND) rd_shut = true;
        if (ihow != SD_RECEIVE) wr_shut = true;
    }

    void result(reader& b) {
        bool good = false;
        const SOCKET h = pick_socket(b.u8(), 13, good);
        const std::uint8_t a = b.u8();
        const std::uint8_t i = b.u8();
        WSAOVERLAPPED zero{};
        WSAOVERLAPPED* ov = nullptr;
        if (a % 3 == 1) ov = &zero;
        if (a % 3 == 2 && !calls.empty()) ov = &calls[i % calls.size()].ov;
        DWORD n = 0xdeadbeef, flags = 0xdeadbeef;
        int err = untouched;
        const BOOL ok =
            sanport::WSPGetOverlappedResult(h, ov, (a & 8) ? nullptr : &n, FALSE,
                                            (a & 16) ? nullptr : &flags, (a & 32) ? nullptr : &err);
        if (a & 32) {
            FUZZ_CHECK(!ok && err == static_cast<int>(untouched), "NULL lpErrno", 0, 0);
            return;
        }
        if (!ov || (a & 24)) {
            FUZZ_CHECK(!ok && err == WSAEFAULT, "WSPGetOverlappedResult NULL", err, 0);
            return;
        }
        if (pending(*ov)) {
            FUZZ_CHECK(!ok && err == WSA_IO_INCOMPLETE, "not WSA_IO_INCOMPLETE", err, 0);
        } else if (ov->OffsetHigh == 0) {
            FUZZ_CHECK(ok && n == ov->InternalHigh && flags == ov->Offset, "result", ok, n);
        } else {
            FUZZ_CHECK(!ok && err == static_cast<int>(ov->OffsetHigh), "result code", ok, err);
        }
        (void)good;
    }

    void snapshot() {
        for (call_rec& c : calls)
            if (!c.done && !pending(c.ov)) {
                c.done = true;
                c.data = c.is_recv ? c.got() : std::string();
                if (c.is_recv && c.ov.OffsetHigh)
                    FUZZ_CHECK_RECV_CODE(static_cast<int>(c.ov.OffsetHigh));
            }
    }

    // The peer sends; everything accepted completes; nothing was lost or consumed twice.
    void finish() {
        call_rec* v = nullptr;
        if (overlapped_socket && !rd_shut) {
            v = &calls.emplace_back();
            v->bufs = {WSABUF{slot_size, v->arena.data()}};
            DWORD n = 0, flags = 0;
            int err = 0;
            const int rc =
                sanport::WSPRecv(s, v->bufs.data(), 1, &n, &flags, &v->ov, nullptr, nullptr, &err);
            FUZZ_CHECK(rc == SOCKET_ERROR && err == WSA_IO_PENDING, "final receive", rc, err);
        }
        const std::string& stream = peer_stream();
        for (int round = 0; round < 12 && kpos < final_budget; ++round) {
            if (v && !pending(v->ov)) break;
            sanport::detail::io_request* r = rig.fake->started_recv(s);
            if (!r) break;
            const std::uint32_t n = std::min<std::uint32_t>(16, final_budget - kpos);
            const std::uint32_t placed =
                rig.fake->deliver(s, std::string_view(stream).substr(kpos, n));
            if (r->kind == sanport::detail::io_kind::recv && !(r->flags & MSG_PEEK)) kpos += placed;
            rig.e.run_once(0);
            snapshot();
        }
        int err = 0;
        FUZZ_CHECK(sanport::WSPCloseSocket(s, &err) == 0, "close", err, 0);
        snapshot();
        std::size_t pos = 0;
        for (std::size_t i = 0; i < calls.size(); ++i) {
            const call_rec& c = calls[i];
            FUZZ_CHECK(c.done, "operation never completed", i, 0);
            if (!c.is_recv || c.data.empty()) continue;
            FUZZ_CHECK(std::memcmp(c.data.data(), stream.data() + pos, c.data.size()) == 0,
                       "received bytes differ from the stream", i, pos);
            if (!(c.flags & MSG_PEEK)) pos += c.data.size();
        }
        FUZZ_CHECK(pos == kpos, "bytes lost or duplicated", pos, kpos);
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reader in(data, size);
    const std::uint8_t setup = in.u8();
    sanport::test::fake_rig rig;
    SOCKET fa = INVALID_SOCKET, fb = INVALID_SOCKET;
    FUZZ_CHECK(sanport::test::make_os_pair(fa, fb), "socketpair", 0, 0);
    int err = 0;
    const SOCKET s = rig.open(err, (setup & 1) ? 0 : WSA_FLAG_OVERLAPPED);
    const SOCKET gone = rig.open(err);
    FUZZ_CHECK(s != INVALID_SOCKET && gone != INVALID_SOCKET, "open", err, 0);
    FUZZ_CHECK(sanport::WSPCloseSocket(gone, &err) == 0, "close", err, 0);
    {
        harness h(rig, s, gone, fa);
        h.overlapped_socket = (setup & 1) == 0;
        for (std::size_t i = 0; i < max_calls && !in.done(); ++i) {
            std::array<std::uint8_t, 16> call{};
            for (auto& x : call)
                x = in.u8();
            reader b(call.data() + 1, call.size() - 1);
            switch (call[0] % 6) {
            case 0:
                h.transfer(true, b);
                break;
            case 1:
                h.transfer(false, b);
                break;
            case 2:
                h.shutdown(b);
                break;
            case 3:
                h.reg(b);
                break;
            case 4:
                h.dereg(b);
                break;
            default:
                h.result(b);
                break;
            }
        }
        h.finish();
    }
    sanport::test::close_os_socket(fa);
    sanport::test::close_os_socket(fb);
    return 0;
}
