// SPDX-License-Identifier: MIT
// Linux only: the ws2spi.h / ws2san.h subset a SAN provider is written against: WSPDATA, the
// LPWSP*/LPWPU* function-pointer types, WSPPROC_TABLE, WSPUPCALLTABLE(EX) and the start-up and
// memory-registration entry types. Parameter lists are mingw-w64's ws2spi.h, verbatim in
// meaning; no calling-convention keyword, since x64 has one. Sizes and offsets are pinned below.
#pragma once

#include <sanport/compat/posix_types.h>

#include <sys/select.h>
#include <sys/time.h>

#define WSPDESCRIPTION_LEN 255

typedef struct WSPDATA {
    WORD wVersion;
    WORD wHighVersion;
    WCHAR szDescription[WSPDESCRIPTION_LEN + 1];
} WSPDATA, *LPWSPDATA;

// ---- the 30 service provider entry points, in WSPPROC_TABLE order -----------------------------
// fd_set and struct timeval are the platform's: WSPSelect is never implemented by sanport and
// exists only so the table has Windows' shape.
typedef SOCKET (*LPWSPACCEPT)(SOCKET s, struct sockaddr* addr, LPINT addrlen,
                              LPCONDITIONPROC lpfnCondition, DWORD_PTR dwCallbackData,
                              LPINT lpErrno);
typedef INT (*LPWSPADDRESSTOSTRING)(LPSOCKADDR lpsaAddress, DWORD dwAddressLength,
                                    LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSTR lpszAddressString,
                                    LPDWORD lpdwAddressStringLength, LPINT lpErrno);
// lEvent and lNetworkEvents are Windows' 32-bit long, hence LONG.
typedef int (*LPWSPASYNCSELECT)(SOCKET s, HWND hWnd, unsigned int wMsg, LONG lEvent, LPINT lpErrno);
typedef int (*LPWSPBIND)(SOCKET s, const struct sockaddr* name, int namelen, LPINT lpErrno);
typedef int (*LPWSPCANCELBLOCKINGCALL)(LPINT lpErrno);
typedef int (*LPWSPCLEANUP)(LPINT lpErrno);
typedef int (*LPWSPCLOSESOCKET)(SOCKET s, LPINT lpErrno);
typedef int (*LPWSPCONNECT)(SOCKET s, const struct sockaddr* name, int namelen,
                            LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS,
                            LPQOS lpGQOS, LPINT lpErrno);
typedef int (*LPWSPDUPLICATESOCKET)(SOCKET s, DWORD dwProcessId, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                                    LPINT lpErrno);
typedef int (*LPWSPENUMNETWORKEVENTS)(SOCKET s, WSAEVENT hEventObject,
                                      LPWSANETWORKEVENTS lpNetworkEvents, LPINT lpErrno);
typedef int (*LPWSPEVENTSELECT)(SOCKET s, WSAEVENT hEventObject, LONG lNetworkEvents,
                                LPINT lpErrno);
typedef BOOL (*LPWSPGETOVERLAPPEDRESULT)(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
                                         LPDWORD lpcbTransfer, BOOL fWait, LPDWORD lpdwFlags,
                                         LPINT lpErrno);
typedef int (*LPWSPGETPEERNAME)(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno);
typedef int (*LPWSPGETSOCKNAME)(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno);
typedef int (*LPWSPGETSOCKOPT)(SOCKET s, int level, int optname, char* optval, LPINT optlen,
                               LPINT lpErrno);
typedef BOOL (*LPWSPGETQOSBYNAME)(SOCKET s, LPWSABUF lpQOSName, LPQOS lpQOS, LPINT lpErrno);
typedef int (*LPWSPIOCTL)(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
                          LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
                          LPWSAOVERLAPPED lpOverlapped,
                          LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                          LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef SOCKET (*LPWSPJOINLEAF)(SOCKET s, const struct sockaddr* name, int namelen,
                                LPWSABUF lpCallerData, LPWSABUF lpCalleeData, LPQOS lpSQOS,
                                LPQOS lpGQOS, DWORD dwFlags, LPINT lpErrno);
typedef int (*LPWSPLISTEN)(SOCKET s, int backlog, LPINT lpErrno);
typedef int (*LPWSPRECV)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
                         LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags,
                         LPWSAOVERLAPPED lpOverlapped,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                         LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWSPRECVDISCONNECT)(SOCKET s, LPWSABUF lpInboundDisconnectData, LPINT lpErrno);
typedef int (*LPWSPRECVFROM)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
                             LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags, struct sockaddr* lpFrom,
                             LPINT lpFromlen, LPWSAOVERLAPPED lpOverlapped,
                             LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                             LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWSPSELECT)(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                           const struct timeval* timeout, LPINT lpErrno);
typedef int (*LPWSPSEND)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
                         LPDWORD lpNumberOfBytesSent, DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                         LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWSPSENDDISCONNECT)(SOCKET s, LPWSABUF lpOutboundDisconnectData, LPINT lpErrno);
typedef int (*LPWSPSENDTO)(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
                           LPDWORD lpNumberOfBytesSent, DWORD dwFlags, const struct sockaddr* lpTo,
                           int iTolen, LPWSAOVERLAPPED lpOverlapped,
                           LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
                           LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWSPSETSOCKOPT)(SOCKET s, int level, int optname, const char* optval, int optlen,
                               LPINT lpErrno);
typedef int (*LPWSPSHUTDOWN)(SOCKET s, int how, LPINT lpErrno);
typedef SOCKET (*LPWSPSOCKET)(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                              GROUP g, DWORD dwFlags, LPINT lpErrno);
typedef INT (*LPWSPSTRINGTOADDRESS)(LPWSTR AddressString, INT AddressFamily,
                                    LPWSAPROTOCOL_INFOW lpProtocolInfo, LPSOCKADDR lpAddress,
                                    LPINT lpAddressLength, LPINT lpErrno);

typedef struct WSPPROC_TABLE {
    LPWSPACCEPT lpWSPAccept;
    LPWSPADDRESSTOSTRING lpWSPAddressToString;
    LPWSPASYNCSELECT lpWSPAsyncSelect;
    LPWSPBIND lpWSPBind;
    LPWSPCANCELBLOCKINGCALL lpWSPCancelBlockingCall;
    LPWSPCLEANUP lpWSPCleanup;
    LPWSPCLOSESOCKET lpWSPCloseSocket;
    LPWSPCONNECT lpWSPConnect;
    LPWSPDUPLICATESOCKET lpWSPDuplicateSocket;
    LPWSPENUMNETWORKEVENTS lpWSPEnumNetworkEvents;
    LPWSPEVENTSELECT lpWSPEventSelect;
    LPWSPGETOVERLAPPEDRESULT lpWSPGetOverlappedResult;
    LPWSPGETPEERNAME lpWSPGetPeerName;
    LPWSPGETSOCKNAME lpWSPGetSockName;
    LPWSPGETSOCKOPT lpWSPGetSockOpt;
    LPWSPGETQOSBYNAME lpWSPGetQOSByName;
    LPWSPIOCTL lpWSPIoctl;
    LPWSPJOINLEAF lpWSPJoinLeaf;
    LPWSPLISTEN lpWSPListen;
    LPWSPRECV lpWSPRecv;
    LPWSPRECVDISCONNECT lpWSPRecvDisconnect;
    LPWSPRECVFROM lpWSPRecvFrom;
    LPWSPSELECT lpWSPSelect;
    LPWSPSEND lpWSPSend;
    LPWSPSENDDISCONNECT lpWSPSendDisconnect;
    LPWSPSENDTO lpWSPSendTo;
    LPWSPSETSOCKOPT lpWSPSetSockOpt;
    LPWSPSHUTDOWN lpWSPShutdown;
    LPWSPSOCKET lpWSPSocket;
    LPWSPSTRINGTOADDRESS lpWSPStringToAddress;
} WSPPROC_TABLE, *LPWSPPROC_TABLE;

// ---- upcalls: what ws2_32 (the switch) offers the provider -----------------------------------
typedef BOOL (*LPBLOCKINGCALLBACK)(DWORD_PTR dwContext);
typedef void (*LPWSAUSERAPC)(DWORD_PTR dwContext);

typedef BOOL (*LPWPUCLOSEEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int (*LPWPUCLOSESOCKETHANDLE)(SOCKET s, LPINT lpErrno);
typedef WSAEVENT (*LPWPUCREATEEVENT)(LPINT lpErrno);
typedef SOCKET (*LPWPUCREATESOCKETHANDLE)(DWORD dwCatalogEntryId, DWORD_PTR dwContext,
                                          LPINT lpErrno);
typedef int (*LPWPUFDISSET)(SOCKET s, fd_set* fdset);
typedef int (*LPWPUGETPROVIDERPATH)(LPGUID lpProviderId, WCHAR* lpszProviderDllPath,
                                    LPINT lpProviderDllPathLen, LPINT lpErrno);
typedef SOCKET (*LPWPUMODIFYIFSHANDLE)(DWORD dwCatalogEntryId, SOCKET ProposedHandle,
                                       LPINT lpErrno);
typedef BOOL (*LPWPUPOSTMESSAGE)(HWND hWnd, UINT Msg, WPARAM wParam, LPARAM lParam);
typedef int (*LPWPUQUERYBLOCKINGCALLBACK)(DWORD dwCatalogEntryId,
                                          LPBLOCKINGCALLBACK* lplpfnCallback,
                                          PDWORD_PTR lpdwContext, LPINT lpErrno);
typedef int (*LPWPUQUERYSOCKETHANDLECONTEXT)(SOCKET s, PDWORD_PTR lpContext, LPINT lpErrno);
typedef int (*LPWPUQUEUEAPC)(LPWSATHREADID lpThreadId, LPWSAUSERAPC lpfnUserApc,
                             DWORD_PTR dwContext, LPINT lpErrno);
typedef BOOL (*LPWPURESETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef BOOL (*LPWPUSETEVENT)(WSAEVENT hEvent, LPINT lpErrno);
typedef int (*LPWPUOPENCURRENTTHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWPUCLOSETHREAD)(LPWSATHREADID lpThreadId, LPINT lpErrno);
typedef int (*LPWPUCOMPLETEOVERLAPPEDREQUEST)(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                              DWORD cbTransferred, LPINT lpErrno);

typedef struct WSPUPCALLTABLE {
    LPWPUCLOSEEVENT lpWPUCloseEvent;
    LPWPUCLOSESOCKETHANDLE lpWPUCloseSocketHandle;
    LPWPUCREATEEVENT lpWPUCreateEvent;
    LPWPUCREATESOCKETHANDLE lpWPUCreateSocketHandle;
    LPWPUFDISSET lpWPUFDIsSet;
    LPWPUGETPROVIDERPATH lpWPUGetProviderPath;
    LPWPUMODIFYIFSHANDLE lpWPUModifyIFSHandle;
    LPWPUPOSTMESSAGE lpWPUPostMessage;
    LPWPUQUERYBLOCKINGCALLBACK lpWPUQueryBlockingCallback;
    LPWPUQUERYSOCKETHANDLECONTEXT lpWPUQuerySocketHandleContext;
    LPWPUQUEUEAPC lpWPUQueueApc;
    LPWPURESETEVENT lpWPUResetEvent;
    LPWPUSETEVENT lpWPUSetEvent;
    LPWPUOPENCURRENTTHREAD lpWPUOpenCurrentThread;
    LPWPUCLOSETHREAD lpWPUCloseThread;
} WSPUPCALLTABLE, *LPWSPUPCALLTABLE;

// ws2san.h: the SAN form, WSPUPCALLTABLE plus the completion upcall a SAN provider must use.
typedef struct WSPUPCALLTABLEEX {
    LPWPUCLOSEEVENT lpWPUCloseEvent;
    LPWPUCLOSESOCKETHANDLE lpWPUCloseSocketHandle;
    LPWPUCREATEEVENT lpWPUCreateEvent;
    LPWPUCREATESOCKETHANDLE lpWPUCreateSocketHandle;
    LPWPUFDISSET lpWPUFDIsSet;
    LPWPUGETPROVIDERPATH lpWPUGetProviderPath;
    LPWPUMODIFYIFSHANDLE lpWPUModifyIFSHandle;
    LPWPUPOSTMESSAGE lpWPUPostMessage;
    LPWPUQUERYBLOCKINGCALLBACK lpWPUQueryBlockingCallback;
    LPWPUQUERYSOCKETHANDLECONTEXT lpWPUQuerySocketHandleContext;
    LPWPUQUEUEAPC lpWPUQueueApc;
    LPWPURESETEVENT lpWPUResetEvent;
    LPWPUSETEVENT lpWPUSetEvent;
    LPWPUOPENCURRENTTHREAD lpWPUOpenCurrentThread;
    LPWPUCLOSETHREAD lpWPUCloseThread;
    LPWPUCOMPLETEOVERLAPPEDREQUEST lpWPUCompleteOverlappedRequest;
} WSPUPCALLTABLEEX, *LPWSPUPCALLTABLEEX;

// ---- start-up and ws2san.h memory registration -----------------------------------------------
// WSPStartup takes the upcall table by value, WSPStartupEx by pointer, as on Windows.
typedef int (*LPWSPSTARTUP)(WORD wVersionRequested, LPWSPDATA lpWSPData,
                            LPWSAPROTOCOL_INFOW lpProtocolInfo, WSPUPCALLTABLE UpcallTable,
                            LPWSPPROC_TABLE lpProcTable);
typedef int (*LPWSPSTARTUPEX)(WORD wVersionRequested, LPWSPDATA lpWSPData,
                              LPWSAPROTOCOL_INFOW lpProtocolInfo, LPWSPUPCALLTABLEEX lpUpcallTable,
                              LPWSPPROC_TABLE lpProcTable);
typedef HANDLE (*LPWSPREGISTERMEMORY)(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                                      LPINT lpErrno);
typedef int (*LPWSPDEREGISTERMEMORY)(SOCKET s, HANDLE lpHandle, LPINT lpErrno);
// ws2san.h's own names for the two, which provider code uses.
typedef LPWSPREGISTERMEMORY LPFN_WSPREGISTERMEMORY;
typedef LPWSPDEREGISTERMEMORY LPFN_WSPDEREGISTERMEMORY;

// The switch fetches the SAN extensions with WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER), the
// GUID in, the function pointer out. Values of winsock2.h (_WSAIORW(IOC_WS2, 6)) and ws2san.h.
#define SIO_GET_EXTENSION_FUNCTION_POINTER 0xC8000006u
#define WSAID_REGISTERMEMORY                                                                       \
    {                                                                                              \
        0xC0B422F5, 0xF58C, 0x11d1, {                                                              \
            0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D                                         \
        }                                                                                          \
    }
#define WSAID_DEREGISTERMEMORY                                                                     \
    {                                                                                              \
        0xC0B422F6, 0xF58C, 0x11d1, {                                                              \
            0xAD, 0x6C, 0x00, 0xC0, 0x4F, 0xA3, 0x4A, 0x2D                                         \
        }                                                                                          \
    }

// Calling-convention keywords provider source carries; x64 has one convention, so empty.
#ifndef WSPAPI
#define WSPAPI
#endif
#ifndef WSAAPI
#define WSAAPI
#endif

// What Windows exports from ws2_32 for providers that complete through the switch rather than
// through WSPUPCALLTABLEEX. On Linux sanport's provider host (the sanport::porting library)
// defines it, and a program linking that library exports it, so a provider library's call
// binds to the host's handle table as it would bind to ws2_32 on Windows.
extern "C" int WPUCompleteOverlappedRequest(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                            DWORD cbTransferred, LPINT lpErrno);

// ---- layout pins (x64 Windows values, measured with mingw-w64 10) ---------------------------
static_assert(sizeof(WSPDATA) == 516 && alignof(WSPDATA) == 2);
static_assert(sizeof(WSPPROC_TABLE) == 30 * sizeof(void*) && sizeof(WSPPROC_TABLE) == 240);
static_assert(offsetof(WSPPROC_TABLE, lpWSPAccept) == 0);
static_assert(offsetof(WSPPROC_TABLE, lpWSPGetOverlappedResult) == 88);
static_assert(offsetof(WSPPROC_TABLE, lpWSPIoctl) == 128);
static_assert(offsetof(WSPPROC_TABLE, lpWSPRecv) == 152);
static_assert(offsetof(WSPPROC_TABLE, lpWSPSend) == 184);
static_assert(offsetof(WSPPROC_TABLE, lpWSPSocket) == 224);
static_assert(offsetof(WSPPROC_TABLE, lpWSPStringToAddress) == 232);
static_assert(sizeof(WSPUPCALLTABLE) == 120 && alignof(WSPUPCALLTABLE) == 8);
static_assert(offsetof(WSPUPCALLTABLE, lpWPUCloseThread) == 112);
static_assert(sizeof(WSPUPCALLTABLEEX) == 128 && alignof(WSPUPCALLTABLEEX) == 8);
static_assert(offsetof(WSPUPCALLTABLEEX, lpWPUCompleteOverlappedRequest) == 120);
