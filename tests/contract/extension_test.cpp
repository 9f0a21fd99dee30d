// SPDX-License-Identifier: MIT
// docs/contract.md rows accept.extension and depart.extension.last-error: AcceptEx, ConnectEx
// and GetAcceptExSockaddrs fetched through the provider's WSPIoctl, called with Windows' types.

#include <doctest/doctest.h>

#include <thread>
#include <vector>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

constexpr DWORD block = sizeof(sockaddr_in6) + 16;

// The function the table's WSPIoctl answers for `id`, asked on socket s.
template <class Fn> Fn extension(const WSPPROC_TABLE& t, SOCKET s, GUID id) {
    Fn fn = nullptr;
    DWORD returned = 0;
    int err = 0;
    const int rc = t.lpWSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &fn,
                                sizeof fn, &returned, nullptr, nullptr, nullptr, &err);
    REQUIRE_MESSAGE(rc == 0, wsa_name(err));
    CHECK(returned == sizeof fn);
    REQUIRE((fn != nullptr));
    return fn;
}

SOCKET new_socket() {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, wsa_name(err));
    return s;
}

// TRUE, or FALSE with ERROR_IO_PENDING: the operation was posted.
bool posted(BOOL result) {
    return result == TRUE || WSAGetLastError() == ERROR_IO_PENDING;
}

} // namespace

TEST_CASE("accept.extension, depart.extension.last-error: WSPIoctl answers WSAID_ACCEPTEX, "
          "WSAID_CONNECTEX and WSAID_GETACCEPTEXSOCKADDRS with functions of Windows' types "
          "that report through the thread's WSAGetLastError") {
    WSPDATA data{};
    WSPPROC_TABLE table{};
    WSPUPCALLTABLE upcalls{};
    REQUIRE(sanport::WSPStartup(0x0202, &data, nullptr, upcalls, &table) == 0);
    {
        sanport_listener l;
        const auto accept_ex = extension<LPFN_ACCEPTEX>(table, l.s, WSAID_ACCEPTEX);
        const auto connect_ex = extension<LPFN_CONNECTEX>(table, l.s, WSAID_CONNECTEX);
        const auto sockaddrs =
            extension<LPFN_GETACCEPTEXSOCKADDRS>(table, l.s, WSAID_GETACCEPTEXSOCKADDRS);

        SOCKET target = new_socket();
        std::vector<char> output(2 * block);
        overlapped_op accepting({1});
        DWORD bytes = 0;
        REQUIRE(posted(accept_ex(l.s, target, output.data(), 0, block, block, &bytes,
                                 reinterpret_cast<LPOVERLAPPED>(&accepting.ov()))));

        SOCKET client = new_socket();
        int len = 0;
        int err = 0;
        sockaddr_storage any = loopback_address(AF_INET, 0, &len);
        REQUIRE(WSPBind(client, reinterpret_cast<sockaddr*>(&any), len, &err) == 0);
        overlapped_op connecting({1});
        REQUIRE(posted(connect_ex(client, reinterpret_cast<const sockaddr*>(&l.address),
                                  l.address_len, nullptr, 0, &bytes,
                                  reinterpret_cast<LPOVERLAPPED>(&connecting.ov()))));
        REQUIRE(accepting.wait());
        REQUIRE(connecting.wait());
        CHECK(accepting.result(l.s).ok == TRUE);
        CHECK(connecting.result(client).ok == TRUE);

        sockaddr* local = nullptr;
        sockaddr* remote = nullptr;
        int local_len = 0;
        int remote_len = 0;
        sockaddrs(output.data(), 0, block, block, &local, &local_len, &remote, &remote_len);
        REQUIRE(remote != nullptr);
        sockaddr_storage client_address{};
        int client_len = sizeof client_address;
        REQUIRE(WSPGetSockName(client, reinterpret_cast<sockaddr*>(&client_address), &client_len,
                               &err) == 0);
        CHECK(remote_len == client_len);
        CHECK(reinterpret_cast<sockaddr_in*>(remote)->sin_port ==
              reinterpret_cast<sockaddr_in*>(&client_address)->sin_port);

        // A refusal: FALSE, the code in this thread's last error and no other thread's.
        WSASetLastError(0);
        int other_thread_saw = -1;
        CHECK(accept_ex(l.s, target, output.data(), 0, block, block, &bytes, nullptr) == FALSE);
        CHECK(wsa_name(WSAGetLastError()) == "WSA_INVALID_PARAMETER");
        std::thread([&] { other_thread_saw = WSAGetLastError(); }).join();
        CHECK(other_thread_saw == 0);
        CHECK(connect_ex(client, reinterpret_cast<const sockaddr*>(&l.address), l.address_len,
                         nullptr, 0, &bytes,
                         reinterpret_cast<LPOVERLAPPED>(&connecting.ov())) == FALSE);
        CHECK(wsa_name(WSAGetLastError()) == "WSAEISCONN");
        WSPCloseSocket(client, &err);
        WSPCloseSocket(target, &err);
    }
    int err = 0;
    CHECK(WSPCleanup(&err) == 0);
}
