// SPDX-License-Identifier: MIT
// Covers docs/contract.md §2: Windows names, numeric values and x64 layout of the compat
// vocabulary, checked at run time too (the headers' static_asserts only guard the build), and
// the documented MSG_* choice.

#include <sanport/compat.h>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

TEST_CASE("compat: scalar types have the x64 Windows sizes") {
    CHECK(sizeof(BYTE) == 1);
    CHECK(sizeof(WORD) == 2);
    CHECK(sizeof(WCHAR) == 2);
    CHECK(sizeof(DWORD) == 4);
    CHECK(sizeof(ULONG) == 4);
    CHECK(sizeof(LONG) == 4);
    CHECK(sizeof(INT) == 4);
    CHECK(sizeof(UINT) == 4);
    CHECK(sizeof(BOOL) == 4);
    CHECK(sizeof(GROUP) == 4);
    CHECK(sizeof(SOCKET) == 8);
    CHECK(sizeof(HANDLE) == 8);
    CHECK(sizeof(WSAEVENT) == 8);
    CHECK(sizeof(ULONG_PTR) == 8);
    CHECK(sizeof(DWORD_PTR) == 8);
    CHECK(sizeof(SIZE_T) == 8);
    // DWORD and ULONG must be unsigned and 32-bit: ~0 is 4294967295, not -1 or 2^64 - 1.
    CHECK(static_cast<std::uint64_t>(static_cast<DWORD>(~0u)) == 0xFFFFFFFFull);
    CHECK(static_cast<ULONG>(-1) == 0xFFFFFFFFu);
    CHECK(static_cast<LONG>(0xFFFFFFFFu) == -1);
}

TEST_CASE("compat: WSABUF, WSABUFEX and WSATHREADID layout") {
    CHECK(sizeof(WSABUF) == 16);
    CHECK(alignof(WSABUF) == 8);
    CHECK(offsetof(WSABUF, len) == 0);
    CHECK(offsetof(WSABUF, buf) == 8);
    CHECK(sizeof(WSABUFEX) == 24);
    CHECK(offsetof(WSABUFEX, buf) == 8);
    CHECK(offsetof(WSABUFEX, handle) == 16);
    CHECK(sizeof(WSATHREADID) == 16);
    CHECK(offsetof(WSATHREADID, ThreadHandle) == 0);
    CHECK(offsetof(WSATHREADID, Reserved) == 8);
}

TEST_CASE("compat: WSAOVERLAPPED layout, with Offset and Pointer sharing bytes") {
    CHECK(sizeof(WSAOVERLAPPED) == 32);
    CHECK(alignof(WSAOVERLAPPED) == 8);
    CHECK(offsetof(WSAOVERLAPPED, Internal) == 0);
    CHECK(offsetof(WSAOVERLAPPED, InternalHigh) == 8);
    CHECK(offsetof(WSAOVERLAPPED, Offset) == 16);
    CHECK(offsetof(WSAOVERLAPPED, OffsetHigh) == 20);
    CHECK(offsetof(WSAOVERLAPPED, Pointer) == 16);
    CHECK(offsetof(WSAOVERLAPPED, hEvent) == 24);

    WSAOVERLAPPED ov{};
    ov.Offset = 0x11223344u;
    ov.OffsetHigh = 0x55667788u;
    std::uint64_t pointer_bits = 0;
    std::memcpy(&pointer_bits, &ov.Pointer, sizeof pointer_bits);
    CHECK(pointer_bits == 0x5566778811223344ull); // little-endian union, as on x64 Windows
}

TEST_CASE("compat: WSAPROTOCOL_INFOW, QOS and WSANETWORKEVENTS layout") {
    CHECK(sizeof(GUID) == 16);
    CHECK(sizeof(WSAPROTOCOL_INFOW) == 628);
    CHECK(alignof(WSAPROTOCOL_INFOW) == 4);
    CHECK(offsetof(WSAPROTOCOL_INFOW, dwProviderFlags) == 16);
    CHECK(offsetof(WSAPROTOCOL_INFOW, ProviderId) == 20);
    CHECK(offsetof(WSAPROTOCOL_INFOW, dwCatalogEntryId) == 36);
    CHECK(offsetof(WSAPROTOCOL_INFOW, ProtocolChain) == 40);
    CHECK(offsetof(WSAPROTOCOL_INFOW, iVersion) == 72);
    CHECK(offsetof(WSAPROTOCOL_INFOW, iSecurityScheme) == 104);
    CHECK(offsetof(WSAPROTOCOL_INFOW, dwMessageSize) == 108);
    CHECK(offsetof(WSAPROTOCOL_INFOW, szProtocol) == 116);
    CHECK(sizeof(FLOWSPEC) == 32);
    CHECK(sizeof(QOS) == 80);
    CHECK(offsetof(QOS, ReceivingFlowspec) == 32);
    CHECK(offsetof(QOS, ProviderSpecific) == 64);
    CHECK(sizeof(WSANETWORKEVENTS) == 44);
}

TEST_CASE("compat: ws2spi tables have the x64 Windows sizes and slot offsets") {
    CHECK(sizeof(WSPDATA) == 516);
    CHECK(alignof(WSPDATA) == 2);
    CHECK(sizeof(WSPPROC_TABLE) == 240);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPAccept) == 0);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPAddressToString) == 8);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPCloseSocket) == 48);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPGetOverlappedResult) == 88);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPGetQOSByName) == 120);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPRecv) == 152);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPSend) == 184);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPShutdown) == 216);
    CHECK(offsetof(WSPPROC_TABLE, lpWSPStringToAddress) == 232);
    CHECK(sizeof(WSPUPCALLTABLE) == 120);
    CHECK(offsetof(WSPUPCALLTABLE, lpWPUCloseEvent) == 0);
    CHECK(offsetof(WSPUPCALLTABLE, lpWPUSetEvent) == 96);
    CHECK(offsetof(WSPUPCALLTABLE, lpWPUCloseThread) == 112);
    CHECK(sizeof(WSPUPCALLTABLEEX) == 128);
    CHECK(offsetof(WSPUPCALLTABLEEX, lpWPUCloseThread) == 112);
    CHECK(offsetof(WSPUPCALLTABLEEX, lpWPUCompleteOverlappedRequest) == 120);
}

TEST_CASE("compat: constants have their Windows values") {
    CHECK(SOCKET_ERROR == -1);
    CHECK(INVALID_SOCKET == static_cast<SOCKET>(~std::uintptr_t{0}));
    CHECK(INVALID_SOCKET == 0xFFFFFFFFFFFFFFFFull);
    CHECK(TRUE == 1);
    CHECK(FALSE == 0);
    CHECK(WSA_FLAG_OVERLAPPED == 0x01);
    CHECK(SD_RECEIVE == 0);
    CHECK(SD_SEND == 1);
    CHECK(SD_BOTH == 2);
    CHECK(WSA_INFINITE == 0xFFFFFFFFu);
    CHECK(WSA_WAIT_EVENT_0 == 0u);
    CHECK(WSA_WAIT_TIMEOUT == 258u);
    CHECK(WSA_WAIT_FAILED == 0xFFFFFFFFu);
    CHECK(WSA_WAIT_IO_COMPLETION == 0xC0u);
    CHECK(WSA_MAXIMUM_WAIT_EVENTS == 64);
    CHECK(WSA_INVALID_EVENT == nullptr);
    CHECK(MEM_READ == 1);
    CHECK(MEM_WRITE == 2);
    CHECK(MEM_READWRITE == (MEM_READ | MEM_WRITE));
    CHECK(WSS_OPERATION_IN_PROGRESS == 0x103);
    CHECK(MSG_PARTIAL == 0x8000);
    CHECK(MSG_PUSH_IMMEDIATE == 0x20);
}

TEST_CASE("compat: MSG_PEEK, MSG_WAITALL and MSG_OOB keep the platform values") {
    CHECK(MSG_OOB == 0x1);
    CHECK(MSG_PEEK == 0x2);
#ifdef _WIN32
    CHECK(MSG_WAITALL == 0x8); // the SDK's own value
#else
    // The documented choice: <sys/socket.h>'s values, not Windows' (MSG_WAITALL is 0x8 there).
    CHECK(MSG_WAITALL == 0x100);
#endif
    // None of them may alias a Windows-only flag sanport interprets itself.
    CHECK((MSG_PARTIAL & (MSG_OOB | MSG_PEEK | MSG_WAITALL)) == 0);
    CHECK((MSG_PUSH_IMMEDIATE & (MSG_OOB | MSG_PEEK | MSG_WAITALL)) == 0);
}

TEST_CASE("compat: every WSA code has its Windows value") {
    CHECK(WSA_INVALID_HANDLE == 6);
    CHECK(WSA_NOT_ENOUGH_MEMORY == 8);
    CHECK(WSA_INVALID_PARAMETER == 87);
    CHECK(WSA_OPERATION_ABORTED == 995);
    CHECK(WSA_IO_INCOMPLETE == 996);
    CHECK(WSA_IO_PENDING == 997);
    CHECK(WSAEINTR == 10004);
    CHECK(WSAEBADF == 10009);
    CHECK(WSAEACCES == 10013);
    CHECK(WSAEFAULT == 10014);
    CHECK(WSAEINVAL == 10022);
    CHECK(WSAEMFILE == 10024);
    CHECK(WSAEWOULDBLOCK == 10035);
    CHECK(WSAEINPROGRESS == 10036);
    CHECK(WSAEALREADY == 10037);
    CHECK(WSAENOTSOCK == 10038);
    CHECK(WSAEDESTADDRREQ == 10039);
    CHECK(WSAEMSGSIZE == 10040);
    CHECK(WSAEPROTOTYPE == 10041);
    CHECK(WSAENOPROTOOPT == 10042);
    CHECK(WSAEPROTONOSUPPORT == 10043);
    CHECK(WSAESOCKTNOSUPPORT == 10044);
    CHECK(WSAEOPNOTSUPP == 10045);
    CHECK(WSAEPFNOSUPPORT == 10046);
    CHECK(WSAEAFNOSUPPORT == 10047);
    CHECK(WSAEADDRINUSE == 10048);
    CHECK(WSAEADDRNOTAVAIL == 10049);
    CHECK(WSAENETDOWN == 10050);
    CHECK(WSAENETUNREACH == 10051);
    CHECK(WSAENETRESET == 10052);
    CHECK(WSAECONNABORTED == 10053);
    CHECK(WSAECONNRESET == 10054);
    CHECK(WSAENOBUFS == 10055);
    CHECK(WSAEISCONN == 10056);
    CHECK(WSAENOTCONN == 10057);
    CHECK(WSAESHUTDOWN == 10058);
    CHECK(WSAETIMEDOUT == 10060);
    CHECK(WSAECONNREFUSED == 10061);
    CHECK(WSAEHOSTUNREACH == 10065);
    CHECK(WSAEPROCLIM == 10067);
    CHECK(WSASYSNOTREADY == 10091);
    CHECK(WSAVERNOTSUPPORTED == 10092);
    CHECK(WSANOTINITIALISED == 10093);
    CHECK(WSAEDISCON == 10101);
    CHECK(WSAEINVALIDPROCTABLE == 10104);
    CHECK(WSAEINVALIDPROVIDER == 10105);
    CHECK(WSAEPROVIDERFAILEDINIT == 10106);
}

TEST_CASE("compat: WSA codes are macros so ported code can test them with ifdef") {
    bool all_defined = true;
#if !defined(WSAEDISCON) || !defined(WSA_IO_PENDING) || !defined(WSAECONNRESET) ||                 \
    !defined(WSAEMSGSIZE) || !defined(WSANOTINITIALISED) || !defined(WSS_OPERATION_IN_PROGRESS)
    all_defined = false;
#endif
    CHECK(all_defined);
}
