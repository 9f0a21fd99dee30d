// SPDX-License-Identifier: MIT
// sanport/wsp.h: the provider entry points of docs/contract.md §3, with ws2spi.h's exact
// parameter lists, plus the few sanport extensions a port needs (adoption, socket modes).
//
// Every entry point returns its documented failure value and stores the WSA code in *lpErrno;
// errno and WSAGetLastError are never touched. A NULL lpErrno makes a call fail with its
// failure value and touch nothing else. The functions work without any start-up call: the
// first one brings up the default engine (see sanport/engine.h).
#pragma once

#include <sanport/compat.h>

namespace sanport {

// ---- data transfer ------------------------------------------------------------------------

// WSPRecv receives data on a connected socket into lpBuffers[0..dwBufferCount), filled in
// array order and packed. Returns 0 when it completed at once (count and flags set, the
// overlapped result written, the event signalled and a completion-queue packet queued unless
// the low bit of hEvent is set), or SOCKET_ERROR with *lpErrno = WSA_IO_PENDING (completes
// later) or the failure code. lpOverlapped == NULL makes it a blocking receive.
int WSPRecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesRecvd,
            LPDWORD lpFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
            LPINT lpErrno);

// Gathers lpBuffers in array order; an overlapped send completes when every byte is in the
// kernel. Same bookkeeping and notification rules as WSPRecv. dwFlags must be 0.
int WSPSend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
            DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped,
            LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine, LPWSATHREADID lpThreadId,
            LPINT lpErrno);

// fWait=FALSE on a pending operation: FALSE with WSA_IO_INCOMPLETE. fWait=TRUE: waits. A
// completed operation: TRUE with bytes and flags, or FALSE with the operation's own error.
// Reads only the WSAOVERLAPPED, so it still works after the socket was closed.
BOOL WSPGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPDWORD lpcbTransfer,
                            BOOL fWait, LPDWORD lpdwFlags, LPINT lpErrno);

// ---- registered memory (ws2san.h) ---------------------------------------------------------

// Registers [lpBuffer, lpBuffer + dwBufferLength) for socket s with MEM_READ and/or MEM_WRITE.
// Returns a handle valid for s only, or NULL with WSAEFAULT, WSAEINVAL (flags) or WSAENOBUFS.
HANDLE WSPRegisterMemory(SOCKET s, PVOID lpBuffer, DWORD dwBufferLength, DWORD dwFlags,
                         LPINT lpErrno);

// Removes a registration. A region that a pending receive or send uses is refused with
// WSAEINVAL (WSPDeregisterMemory's "memory currently used by a transfer"); retry after it
// completes.
int WSPDeregisterMemory(SOCKET s, HANDLE lpHandle, LPINT lpErrno);

// ---- socket life cycle ---------------------------------------------------------------------

// lpProtocolInfo may be NULL; then af/type/protocol say what to create (stream sockets only).
// dwFlags: WSA_FLAG_OVERLAPPED allows overlapped calls. The SOCKET is the OS handle.
SOCKET WSPSocket(int af, int type, int protocol, LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g,
                 DWORD dwFlags, LPINT lpErrno);
int WSPBind(SOCKET s, const struct sockaddr* name, int namelen, LPINT lpErrno);
int WSPListen(SOCKET s, int backlog, LPINT lpErrno);
// Blocking accept. The new socket is bound and connected and inherits WSA_FLAG_OVERLAPPED and
// the engine of s. lpfnCondition, when given, is called and CF_REJECT refuses the connection.
SOCKET WSPAccept(SOCKET s, struct sockaddr* addr, LPINT addrlen, LPCONDITIONPROC lpfnCondition,
                 DWORD_PTR dwCallbackData, LPINT lpErrno);
// AcceptEx's model (accept.*): posts an overlapped accept on the listening socket
// sListenSocket; the next connection becomes sAcceptSocket, a fresh socket from WSPSocket
// on the listener's engine (on Linux the connection's descriptor takes that socket's number).
// lpOutputBuffer receives up to dwReceiveDataLength bytes of first data (with it, the accept
// completes when data arrived, with their count, or with 0 when the client closed first), then
// the local and the remote address in blocks of dwLocalAddressLength and
// dwRemoteAddressLength bytes (each the family's address size + 16 at least): read them with
// WSPGetAcceptExSockaddrs. Returns 0 when a
// connection was taken at once, or SOCKET_ERROR with WSA_IO_PENDING (completes later, through
// the event, the listener's completion queue and WSPGetOverlappedResult as a WSPRecv would)
// or the failure code: WSA_INVALID_PARAMETER (lpOverlapped NULL), WSAENOTSOCK, WSAEINVAL (not
// listening; the accept socket bound, connected, of another engine, or already waiting),
// WSAEFAULT (output buffer or address room).
// Several accepts may wait on one listener; they complete in posting order, each once.
// Closing the listener, or WSPCancelIoEx, completes a waiting accept with
// WSA_OPERATION_ABORTED; so does closing its accept socket. A connection the kernel already
// handed over is never dropped: it completes its accept successfully. Running out of
// descriptors fails one accept with WSAEMFILE; the connection stays queued for the next.
int WSPAcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket, PVOID lpOutputBuffer,
                DWORD dwReceiveDataLength, DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                LPDWORD lpdwBytesReceived, LPWSAOVERLAPPED lpOverlapped, LPINT lpErrno);
// GetAcceptExSockaddrs for a buffer WSPAcceptEx filled (the same three lengths): points
// *LocalSockaddr / *RemoteSockaddr into the buffer and sets their lengths.
void WSPGetAcceptExSockaddrs(PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
                             DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                             struct sockaddr** LocalSockaddr, LPINT LocalSockaddrLength,
                             struct sockaddr** RemoteSockaddr, LPINT RemoteSockaddrLength);
// ConnectEx's model (connect.*): connects the bound socket s to `name` without blocking. With
// dwSendDataLength > 0 the bytes at lpSendBuffer are sent once connected (they must stay
// valid until completion) and the operation completes when all of them are in the kernel.
// Returns 0 when it finished at once (*lpdwBytesSent set), or SOCKET_ERROR with
// WSA_IO_PENDING (completes later through the event, s's completion queue and
// WSPGetOverlappedResult, with the count sent) or the failure code: WSA_INVALID_PARAMETER
// (lpOverlapped NULL), WSAENOTSOCK, WSAEINVAL (s not bound, or listening), WSAEALREADY (a
// connect is under way), WSAEISCONN, WSAEFAULT (name, namelen, lpSendBuffer). A refused
// connect completes with WSAECONNREFUSED, one that timed out with WSAETIMEDOUT; the socket then
// stays bound. WSPCancelIoEx or closing s completes it once with WSA_OPERATION_ABORTED.
int WSPConnectEx(SOCKET s, const struct sockaddr* name, int namelen, PVOID lpSendBuffer,
                 DWORD dwSendDataLength, LPDWORD lpdwBytesSent, LPWSAOVERLAPPED lpOverlapped,
                 LPINT lpErrno);
// Blocking connect; caller/callee data and QOS are not supported and must be NULL.
int WSPConnect(SOCKET s, const struct sockaddr* name, int namelen, LPWSABUF lpCallerData,
               LPWSABUF lpCalleeData, LPQOS lpSQOS, LPQOS lpGQOS, LPINT lpErrno);
int WSPGetSockName(SOCKET s, struct sockaddr* name, LPINT namelen, LPINT lpErrno);
// SD_RECEIVE is kept by sanport (new receives fail with WSAESHUTDOWN, pending ones still
// complete, as on Windows); SD_SEND reaches the kernel after every queued send went out.
int WSPShutdown(SOCKET s, int how, LPINT lpErrno);
// Completes every operation of s exactly once (WSA_OPERATION_ABORTED, or its bytes if the
// kernel had filled it) and returns only when none is left in the kernel.
int WSPCloseSocket(SOCKET s, LPINT lpErrno);

// CancelIoEx's model (cancel.*): cancels the pending overlapped WSPRecv/WSPSend of s whose
// WSAOVERLAPPED is lpOverlapped, or every pending overlapped operation of s when it is NULL;
// the socket stays open. Returns 0 when at least one matched, or SOCKET_ERROR with
// ERROR_NOT_FOUND (nothing pending matches: it already completed, or never was posted on s) or
// WSAENOTSOCK. Each matched operation completes exactly once, through its usual channels:
// with WSA_OPERATION_ABORTED and 0 bytes, or successfully with the bytes that had already
// moved when the cancel reached it (no received byte is dropped; a send reports what went
// out). Receives around a cancelled one keep their posting order. The completion may come
// before this returns (an operation not yet in the kernel) or later (one the kernel holds).
// Blocking calls are not cancelled. From a thread that does not drive the socket's engine,
// the cancel of an operation the kernel holds is carried out by the engine's next drive.
int WSPCancelIoEx(SOCKET s, LPWSAOVERLAPPED lpOverlapped, LPINT lpErrno);
// Completes lpOverlapped as an operation of s would: bookkeeping, event, completion queue.
int WPUCompleteOverlappedRequest(SOCKET s, LPWSAOVERLAPPED lpOverlapped, DWORD dwError,
                                 DWORD cbTransferred, LPINT lpErrno);

// ---- start-up ------------------------------------------------------------------------------

// Fill lpProcTable with the functions above (others fail with WSAEOPNOTSUPP... never reached by
// the switch) and lpWSPData with version 2.2. Return 0 or a WSA code (not through lpErrno).
int WSPStartup(WORD wVersionRequested, LPWSPDATA lpWSPData, LPWSAPROTOCOL_INFOW lpProtocolInfo,
               WSPUPCALLTABLE UpcallTable, LPWSPPROC_TABLE lpProcTable);
int WSPStartupEx(WORD wVersionRequested, LPWSPDATA lpWSPData, LPWSAPROTOCOL_INFOW lpProtocolInfo,
                 LPWSPUPCALLTABLEEX lpUpcallTable, LPWSPPROC_TABLE lpProcTable);
// Balances one WSPStartup(Ex); WSANOTINITIALISED when there is none to balance. The last one
// closes every socket still open that was made through a proc table a start-up filled
// (lpWSPSocket, lpWSPAccept) as WSPCloseSocket would: each pending operation completes once
// with WSA_OPERATION_ABORTED. Sockets made by direct calls (sanport::WSPSocket, WSPAccept,
// WSPAdoptSocket, engine::socket) are the application's: no WSPCleanup closes them, so a
// plug-in's balanced start-up and clean-up cannot abort them (startup.cleanup).
int WSPCleanup(LPINT lpErrno);

// ---- sanport extensions ---------------------------------------------------------------------

// Takes over an existing OS socket (connected, listening, bound or fresh) into the default
// engine. dwFlags as for WSPSocket. The OS socket stays the SOCKET value; WSPCloseSocket
// closes it.
SOCKET WSPAdoptSocket(SOCKET os_socket, DWORD dwFlags, LPINT lpErrno);

// Per-socket modes a server or a porter may switch on.
enum class socket_mode : int {
    strict_registration = 1, // unregistered receive buffers fail with WSAEFAULT, as specified
    report_disconnect = 2,   // stream end is WSAEDISCON instead of a 0-byte success
    read_ahead_bytes = 3,    // value > 0: keep a receive of that many bytes armed while no
                             // WSPRecv is posted, so the next one completes at once; at most
                             // 1 MiB, and fixed while read-ahead holds data; 0 turns it off
};
// Returns 0 or SOCKET_ERROR with WSAENOTSOCK, or WSAEINVAL for an unknown mode or a value
// outside the mode's range (socket.mode in docs/contract.md).
int set_socket_mode(SOCKET s, socket_mode mode, DWORD value, LPINT lpErrno);

// The largest dwBufferCount WSPRecv/WSPSend accept; above it they fail with WSAEINVAL.
inline constexpr DWORD max_buffer_count = 4096;

} // namespace sanport
