// SPDX-License-Identifier: MIT
// Linux only: mswsock.h's AcceptEx/ConnectEx vocabulary with Windows' types and GUIDs, and the
// thread's last Winsock error those functions report through. Included by <sanport/compat.h>.
//
// A porter fetches AcceptEx, ConnectEx and GetAcceptExSockaddrs through the provider's
// WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) and calls them as on Windows: TRUE, or FALSE
// with the code in WSAGetLastError() (ERROR_IO_PENDING when the operation pends). On Linux the
// last error is sanport's own thread-local value, set only by those functions and by
// WSASetLastError; errno is never touched.
#pragma once

#include <sanport/compat/posix_types.h>

struct sockaddr;

#ifndef PASCAL
#define PASCAL // x64 has one calling convention
#endif

// The calling thread's last Winsock error: 0 until something sets it.
int WSAGetLastError(void) noexcept;
void WSASetLastError(int iError) noexcept;

#ifndef ERROR_IO_PENDING
#define ERROR_IO_PENDING 997L // == WSA_IO_PENDING
#endif

typedef BOOL(PASCAL* LPFN_ACCEPTEX)(SOCKET sListenSocket, SOCKET sAcceptSocket,
                                    PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
                                    DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
                                    LPDWORD lpdwBytesReceived, LPOVERLAPPED lpOverlapped);
typedef BOOL(PASCAL* LPFN_CONNECTEX)(SOCKET s, const struct sockaddr* name, int namelen,
                                     PVOID lpSendBuffer, DWORD dwSendDataLength,
                                     LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped);
typedef void(PASCAL* LPFN_GETACCEPTEXSOCKADDRS)(
    PVOID lpOutputBuffer, DWORD dwReceiveDataLength, DWORD dwLocalAddressLength,
    DWORD dwRemoteAddressLength, struct sockaddr** LocalSockaddr, LPINT LocalSockaddrLength,
    struct sockaddr** RemoteSockaddr, LPINT RemoteSockaddrLength);

// mswsock.h's values.
#define WSAID_ACCEPTEX                                                                             \
    {                                                                                              \
        0xb5367df1, 0xcbac, 0x11cf, {                                                              \
            0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92                                         \
        }                                                                                          \
    }
#define WSAID_GETACCEPTEXSOCKADDRS                                                                 \
    {                                                                                              \
        0xb5367df2, 0xcbac, 0x11cf, {                                                              \
            0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92                                         \
        }                                                                                          \
    }
#define WSAID_CONNECTEX                                                                            \
    {                                                                                              \
        0x25a207b9, 0xddf3, 0x4660, {                                                              \
            0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74, 0x06, 0x3e                                         \
        }                                                                                          \
    }
