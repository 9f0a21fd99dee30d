// SPDX-License-Identifier: MIT
// docs/contract.md rows (section 3): socket.lifecycle, socket.codes, socket.bound,
// socket.accept.inherit, socket.adopt, socket.shutdown, socket.close, socket.mode, api.errno.

#include <doctest/doctest.h>

#include <cstring>
#include <string>

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// Data both ways through a pair: peer → sanport by WSPRecv, sanport → peer by WSPSend.
void round_trip(loopback_pair& p, const std::string& text) {
    send_all(p.peer, text);
    CHECK(recv_stream(p.s, text.size()) == text);
    overlapped_op out({static_cast<ULONG>(text.size())});
    out.send(p.s, text);
    CHECK(out.finish(p.s).bytes == text.size());
    CHECK(read_exactly(p.peer, text.size()) == text);
}

} // namespace

TEST_CASE("socket.lifecycle, socket.close: WSPSocket, WSPBind, WSPGetSockName, WSPListen, "
          "WSPAccept, WSPCloseSocket happy path") {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(os_socket_open(s)); // the SOCKET is the OS socket

    int len = 0;
    sockaddr_storage a = loopback_address(AF_INET, 0, &len);
    CHECK(WSPBind(s, reinterpret_cast<sockaddr*>(&a), len, &err) == 0);
    sockaddr_storage name{};
    int name_len = sizeof name;
    CHECK(WSPGetSockName(s, reinterpret_cast<sockaddr*>(&name), &name_len, &err) == 0);
    CHECK(name.ss_family == AF_INET);
    CHECK(name_len == static_cast<int>(sizeof(sockaddr_in)));
    CHECK(port_of(name) != 0);
    CHECK(ntohl(reinterpret_cast<sockaddr_in*>(&name)->sin_addr.s_addr) == INADDR_LOOPBACK);
    CHECK(WSPListen(s, 8, &err) == 0);

    peer_socket client = posix_connect(name, name_len);
    REQUIRE(client != no_peer);
    int client_len = 0;
    sockaddr_storage client_addr = local_address(client, &client_len);
    sockaddr_storage peer_addr{};
    int peer_len = sizeof peer_addr;
    SOCKET accepted =
        WSPAccept(s, reinterpret_cast<sockaddr*>(&peer_addr), &peer_len, nullptr, 0, &err);
    REQUIRE_MESSAGE(accepted != INVALID_SOCKET, wsa_name(err));
    CHECK(peer_len == static_cast<int>(sizeof(sockaddr_in)));
    CHECK(port_of(peer_addr) == port_of(client_addr));

    CHECK(WSPCloseSocket(accepted, &err) == 0);
    CHECK(WSPCloseSocket(s, &err) == 0);
    err = 0;
    CHECK(WSPCloseSocket(s, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    peer_close(client);
}

TEST_CASE("socket.lifecycle: every kind of pair carries data both ways") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        round_trip(p, "both ways through " + std::string(to_string(kind)));
    }
}

TEST_CASE("socket.lifecycle: IPv6 ::1 pair works") {
    if (!ipv6_loopback_available()) {
        skip("no IPv6 loopback on this machine");
        return;
    }
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind, AF_INET6);
        round_trip(p, "over ::1");
        sockaddr_storage name{};
        int name_len = sizeof name, err = 0;
        CHECK(WSPGetSockName(p.s, reinterpret_cast<sockaddr*>(&name), &name_len, &err) == 0);
        CHECK(name.ss_family == AF_INET6);
    }
}

TEST_CASE("socket.codes, errors.table: bind to an address in use - WSAEADDRINUSE") {
    posix_listener taken;
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(WSPBind(s, reinterpret_cast<sockaddr*>(&taken.address), taken.address_len, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEADDRINUSE");
    WSPCloseSocket(s, &err);
}

TEST_CASE("socket.codes, errors.table: connect to a closed port - WSAECONNREFUSED") {
    // A port that was just bound and released, with nobody listening on it.
    peer_socket probe = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(probe != no_peer);
    int len = 0;
    sockaddr_storage a = loopback_address(AF_INET, 0, &len);
    REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(len)) == 0);
    sockaddr_storage closed = local_address(probe, &len);
    peer_close(probe);

    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(WSPConnect(s, reinterpret_cast<sockaddr*>(&closed), len, nullptr, nullptr, nullptr,
                     nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAECONNREFUSED");
    WSPCloseSocket(s, &err);
}

TEST_CASE("socket.bound, depart.bound.accepted: a socket from WSPAccept, or from a successful "
          "WSPConnect without WSPBind, counts as bound") {
    posix_listener listener;
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    REQUIRE(WSPConnect(s, reinterpret_cast<sockaddr*>(&listener.address), listener.address_len,
                       nullptr, nullptr, nullptr, nullptr, &err) == 0);
    peer_socket peer = listener.accept_one();
    REQUIRE(peer != no_peer);
    overlapped_op op({8});
    CHECK(op.recv(s) == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
    send_all(peer, "bound");
    REQUIRE(op.wait());
    CHECK(op.result(s).bytes == 5u);
    CHECK(WSPCloseSocket(s, &err) == 0);
    peer_close(peer);

    // The accepted socket was never given to WSPBind either.
    sanport_listener server;
    peer_socket client = posix_connect(server.address, server.address_len);
    REQUIRE(client != no_peer);
    SOCKET accepted = server.accept_one(&err);
    REQUIRE_MESSAGE(accepted != INVALID_SOCKET, wsa_name(err));
    overlapped_op on_accepted({8});
    CHECK(on_accepted.recv(accepted) == SOCKET_ERROR);
    CHECK(wsa_name(on_accepted.err) == "WSA_IO_PENDING");
    send_all(client, "accepted");
    REQUIRE(on_accepted.wait());
    CHECK(on_accepted.result(accepted).bytes == 8u);
    CHECK(WSPCloseSocket(accepted, &err) == 0);
    peer_close(client);
}

TEST_CASE("socket.accept.inherit: an accepted socket inherits WSA_FLAG_OVERLAPPED from its "
          "listener") {
    {
        loopback_pair p = make_pair(pair_kind::accept, AF_INET, WSA_FLAG_OVERLAPPED);
        overlapped_op op({8});
        CHECK(op.recv(p.s) == SOCKET_ERROR);
        CHECK(wsa_name(op.err) == "WSA_IO_PENDING");
        send_all(p.peer, "ok");
        REQUIRE(op.wait());
        CHECK(op.result(p.s).bytes == 2u);
    }
    {
        loopback_pair p = make_pair(pair_kind::accept, AF_INET, 0);
        overlapped_op op({8});
        CHECK(op.recv(p.s) == SOCKET_ERROR);
        CHECK(wsa_name(op.err) == "WSAEINVAL");
        CHECK_FALSE(op.pending());
    }
}

TEST_CASE("socket.adopt: an adopted socket works and WSPCloseSocket closes the OS socket") {
    loopback_pair p = make_pair(pair_kind::adopt);
    round_trip(p, "adopted");
    SOCKET os_socket = p.s;
    REQUIRE(p.close_socket() == 0);
    CHECK_FALSE(os_socket_open(os_socket));
    CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
}

TEST_CASE("socket.shutdown: WSPShutdown - unconnected socket is WSAENOTCONN, a bad how is "
          "WSAEINVAL") {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE(s != INVALID_SOCKET);
    CHECK(WSPShutdown(s, SD_BOTH, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTCONN");
    WSPCloseSocket(s, &err);

    loopback_pair p = make_pair();
    err = 0;
    CHECK(WSPShutdown(p.s, 7, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(WSPShutdown(static_cast<SOCKET>(987654), SD_BOTH, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
}

TEST_CASE("socket.close: WSPCloseSocket of a connected socket - the peer sees EOF") {
    loopback_pair p = make_pair();
    REQUIRE(p.close_socket() == 0);
    CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
}

TEST_CASE("api.errno: WSPSocket and WSPCloseSocket with lpErrno NULL - the failure value, nothing "
          "else") {
    CHECK(WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, nullptr) ==
          INVALID_SOCKET);
    CHECK(WSPCloseSocket(static_cast<SOCKET>(987654), nullptr) == SOCKET_ERROR);
}

TEST_CASE("socket.mode: set_socket_mode - WSAENOTSOCK for an unknown socket, WSAEINVAL for an "
          "unknown mode or a read-ahead above its bound") {
    loopback_pair p = make_pair();
    int err = 0;
    CHECK(set_socket_mode(static_cast<SOCKET>(987654), socket_mode::report_disconnect, 1, &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAENOTSOCK");
    err = 0;
    CHECK(set_socket_mode(p.s, static_cast<socket_mode>(99), 1, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(set_socket_mode(p.s, socket_mode::read_ahead_bytes, 0xFFFFFFFFu, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK(set_socket_mode(p.s, socket_mode::strict_registration, 0, &err) == 0);
    round_trip(p, "modes left the socket working");
}
