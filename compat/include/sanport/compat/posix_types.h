// SPDX-License-Identifier: MIT
// Linux only: the Winsock scalar types, constants and structures at global scope, with the
// names, values and x64 layout of Windows, so ported provider code compiles unchanged and a
// WSAOVERLAPPED or WSABUF means the same bytes on both systems. Included by <sanport/compat.h>.
// Invariant: every size and offset below is pinned by a static_assert to the mingw-w64 x64 value.
#pragma once

#ifdef _WIN32
#error "posix_types.h is the Linux vocabulary; on Windows <sanport/compat.h> uses the SDK"
#endif

#include <cstddef>
#include <cstdint>
#include <sys/socket.h>

// ---- scalars ---------------------------------------------------------------------------------
// DWORD, ULONG and LONG are 32-bit as on Windows (LLP64), never Linux's 64-bit long.
typedef std::uint8_t BYTE;
typedef std::uint16_t WORD;
typedef std::uint32_t DWORD;
typedef std::uint32_t ULONG;
typedef std::int32_t LONG;
typedef int INT;
typedef unsigned int UINT;
typedef int BOOL;
typedef char CHAR;
typedef unsigned short WCHAR; // UTF-16 code unit; unsigned short as in mingw's headers
typedef void* PVOID;
typedef void* LPVOID;
typedef void* HANDLE;
typedef void* HWND; // only WSPAsyncSelect and WPUPostMessage name it
typedef std::uintptr_t ULONG_PTR;
typedef std::uintptr_t DWORD_PTR;
typedef std::uintptr_t UINT_PTR;
typedef std::intptr_t LONG_PTR;
typedef std::size_t SIZE_T;
typedef UINT_PTR WPARAM;
typedef LONG_PTR LPARAM;
typedef std::uintptr_t SOCKET; // the OS socket descriptor, widened as on x64 Windows
typedef unsigned int GROUP;
typedef HANDLE WSAEVENT;

typedef DWORD* LPDWORD;
typedef DWORD_PTR* PDWORD_PTR;
typedef INT* LPINT;
typedef HANDLE* LPHANDLE;
typedef WCHAR* LPWSTR;
typedef WSAEVENT* LPWSAEVENT;
typedef struct sockaddr* LPSOCKADDR;

// u_char and u_short repeat glibc's own typedefs (identical, so legal). u_long is left alone:
// glibc already defines it as the 64-bit unsigned long, which cannot be changed; use ULONG.
typedef unsigned char u_char;
typedef unsigned short u_short;

// ---- constants -------------------------------------------------------------------------------
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#define SOCKET_ERROR (-1)
#define INVALID_SOCKET ((SOCKET)(~0))
#define WSA_FLAG_OVERLAPPED 0x01
#define SD_RECEIVE 0
#define SD_SEND 1
#define SD_BOTH 2

#define WSA_INFINITE 0xFFFFFFFFu
#define WSA_WAIT_EVENT_0 0u
#define WSA_WAIT_IO_COMPLETION 0xC0u
#define WSA_WAIT_TIMEOUT 258u
#define WSA_WAIT_FAILED 0xFFFFFFFFu
#define WSA_MAXIMUM_WAIT_EVENTS 64
#define WSA_INVALID_EVENT ((WSAEVENT)NULL)

// ws2san.h: access rights of a WSPRegisterMemory region, and the "still pending" status that
// WSAOVERLAPPED.Internal holds (STATUS_PENDING).
#define MEM_READ 1
#define MEM_WRITE 2
#define MEM_READWRITE 3
#define WSS_OPERATION_IN_PROGRESS 0x00000103L

// Receive/send flags. MSG_OOB, MSG_PEEK and MSG_WAITALL keep <sys/socket.h>'s values (on Linux
// MSG_WAITALL is 0x100, on Windows 0x8): redefining them would break every POSIX call in the
// same program, and sanport only compares flags by name, never by number. MSG_PARTIAL and
// MSG_PUSH_IMMEDIATE have no Linux meaning and take the Windows values, which collide with
// Linux's MSG_MORE (0x8000) and MSG_TRUNC (0x20): never pass them through to the kernel.
#ifndef MSG_PARTIAL
#define MSG_PARTIAL 0x8000
#endif
#ifndef MSG_PUSH_IMMEDIATE
#define MSG_PUSH_IMMEDIATE 0x20
#endif

// ---- structures ------------------------------------------------------------------------------
typedef struct GUID {
    DWORD Data1;
    WORD Data2;
    WORD Data3;
    BYTE Data4[8];
} GUID, *LPGUID;

typedef struct WSABUF {
    ULONG len; // bytes in buf
    CHAR* buf;
} WSABUF, *LPWSABUF;

// ws2san.h's buffer with the handle WSPRegisterMemory returned for the region holding buf.
typedef struct WSABUFEX {
    ULONG len;
    CHAR* buf;
    HANDLE handle;
} WSABUFEX, *LPWSABUFEX;

// The anonymous struct inside the union is how Windows spells it; ported code writes
// ov.Offset directly, so it stays, with the pedantic warning silenced for this one type.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
typedef struct WSAOVERLAPPED {
    ULONG_PTR Internal;     // WSS_OPERATION_IN_PROGRESS while pending, written last on completion
    ULONG_PTR InternalHigh; // bytes transferred
    union {
        struct {
            DWORD Offset;     // sanport: the completion's flags
            DWORD OffsetHigh; // sanport: the completion's WSA error
        };
        PVOID Pointer;
    };
    HANDLE hEvent; // event to signal; low bit set = no completion-queue packet
} WSAOVERLAPPED, *LPWSAOVERLAPPED;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
typedef WSAOVERLAPPED OVERLAPPED;
typedef WSAOVERLAPPED* LPOVERLAPPED;

typedef struct WSATHREADID {
    HANDLE ThreadHandle;
    DWORD_PTR Reserved;
} WSATHREADID, *LPWSATHREADID;

typedef void (*LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
                                                   LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

#define MAX_PROTOCOL_CHAIN 7
#define WSAPROTOCOL_LEN 255

typedef struct WSAPROTOCOLCHAIN {
    int ChainLen; // 0 = layered protocol, 1 = base protocol, >1 = chain
    DWORD ChainEntries[MAX_PROTOCOL_CHAIN];
} WSAPROTOCOLCHAIN, *LPWSAPROTOCOLCHAIN;

typedef struct WSAPROTOCOL_INFOW {
    DWORD dwServiceFlags1;
    DWORD dwServiceFlags2;
    DWORD dwServiceFlags3;
    DWORD dwServiceFlags4;
    DWORD dwProviderFlags;
    GUID ProviderId;
    DWORD dwCatalogEntryId;
    WSAPROTOCOLCHAIN ProtocolChain;
    int iVersion;
    int iAddressFamily;
    int iMaxSockAddr;
    int iMinSockAddr;
    int iSocketType;
    int iProtocol;
    int iProtocolMaxOffset;
    int iNetworkByteOrder;
    int iSecurityScheme;
    DWORD dwMessageSize;
    DWORD dwProviderReserved;
    WCHAR szProtocol[WSAPROTOCOL_LEN + 1];
} WSAPROTOCOL_INFOW, *LPWSAPROTOCOL_INFOW;

typedef ULONG SERVICETYPE;

typedef struct FLOWSPEC {
    ULONG TokenRate;
    ULONG TokenBucketSize;
    ULONG PeakBandwidth;
    ULONG Latency;
    ULONG DelayVariation;
    SERVICETYPE ServiceType;
    ULONG MaxSduSize;
    ULONG MinimumPolicedSize;
} FLOWSPEC, *LPFLOWSPEC;

typedef struct QOS {
    FLOWSPEC SendingFlowspec;
    FLOWSPEC ReceivingFlowspec;
    WSABUF ProviderSpecific;
} QOS, *LPQOS;

typedef int (*LPCONDITIONPROC)(LPWSABUF lpCallerId, LPWSABUF lpCallerData, LPQOS lpSQOS,
                               LPQOS lpGQOS, LPWSABUF lpCalleeId, LPWSABUF lpCalleeData, GROUP* g,
                               DWORD_PTR dwCallbackData);

#define FD_MAX_EVENTS 10

typedef struct WSANETWORKEVENTS {
    LONG lNetworkEvents; // Windows' long, which is 32-bit there
    int iErrorCode[FD_MAX_EVENTS];
} WSANETWORKEVENTS, *LPWSANETWORKEVENTS;

// ---- layout pins (x64 Windows values, measured with mingw-w64 10) ---------------------------
static_assert(sizeof(BYTE) == 1 && sizeof(WORD) == 2 && sizeof(WCHAR) == 2);
static_assert(sizeof(DWORD) == 4 && sizeof(ULONG) == 4 && sizeof(LONG) == 4 && sizeof(INT) == 4);
static_assert(sizeof(BOOL) == 4 && sizeof(UINT) == 4 && sizeof(GROUP) == 4);
static_assert(sizeof(SOCKET) == 8 && sizeof(HANDLE) == 8 && sizeof(ULONG_PTR) == 8,
              "sanport targets 64-bit Linux only");
static_assert(sizeof(WSAEVENT) == 8 && sizeof(DWORD_PTR) == 8 && sizeof(SIZE_T) == 8);
static_assert(sizeof(GUID) == 16 && alignof(GUID) == 4);

static_assert(sizeof(WSABUF) == 16 && alignof(WSABUF) == 8);
static_assert(offsetof(WSABUF, len) == 0 && offsetof(WSABUF, buf) == 8);
static_assert(sizeof(WSABUFEX) == 24 && alignof(WSABUFEX) == 8);
static_assert(offsetof(WSABUFEX, buf) == 8 && offsetof(WSABUFEX, handle) == 16);

static_assert(sizeof(WSAOVERLAPPED) == 32 && alignof(WSAOVERLAPPED) == 8);
static_assert(offsetof(WSAOVERLAPPED, Internal) == 0);
static_assert(offsetof(WSAOVERLAPPED, InternalHigh) == 8);
static_assert(offsetof(WSAOVERLAPPED, Offset) == 16);
static_assert(offsetof(WSAOVERLAPPED, OffsetHigh) == 20);
static_assert(offsetof(WSAOVERLAPPED, Pointer) == 16);
static_assert(offsetof(WSAOVERLAPPED, hEvent) == 24);

static_assert(sizeof(WSATHREADID) == 16 && offsetof(WSATHREADID, Reserved) == 8);

static_assert(sizeof(WSAPROTOCOLCHAIN) == 32);
static_assert(sizeof(WSAPROTOCOL_INFOW) == 628 && alignof(WSAPROTOCOL_INFOW) == 4);
static_assert(offsetof(WSAPROTOCOL_INFOW, ProviderId) == 20);
static_assert(offsetof(WSAPROTOCOL_INFOW, ProtocolChain) == 40);
static_assert(offsetof(WSAPROTOCOL_INFOW, iVersion) == 72);
static_assert(offsetof(WSAPROTOCOL_INFOW, szProtocol) == 116);

static_assert(sizeof(FLOWSPEC) == 32 && sizeof(QOS) == 80);
static_assert(offsetof(QOS, ProviderSpecific) == 64);
static_assert(sizeof(WSANETWORKEVENTS) == 44);
