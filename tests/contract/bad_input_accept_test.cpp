// SPDX-License-Identifier: MIT
// The bad-input table (docs/bad-input.md) for WSPAcceptEx: each refused at once with the code
// Windows' AcceptEx gives, nothing posted (the listener still accepts afterwards).
#include "bad_input.hpp"

#ifndef _WIN32 // on Windows the socket API comes with sanport's compat header
#include <netinet/in.h>
#include <sys/socket.h>
#endif

#include <vector>

using namespace sanport;
using namespace sanport::test;
using namespace sanport::test::bad_input;

namespace {

constexpr DWORD block = sizeof(sockaddr_in6) + 16;

SOCKET fresh() {
    int err = 0;
    SOCKET s = WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED, &err);
    REQUIRE_MESSAGE(s != INVALID_SOCKET, wsa_name(err));
    return s;
}

// A listener, an accept socket and an output buffer; the destructor checks that the listener
// still takes a connection into the accept socket, so a refused call left nothing behind.
struct accept_rig {
    sanport_listener l;
    SOCKET target = fresh();
    std::vector<char> output = std::vector<char>(2 * block);
    overlapped_op o{{1}};
    DWORD bytes = 0;
    int err = 0;

    int call(SOCKET listener, SOCKET into, void* out, DWORD receive, DWORD local, DWORD remote,
             WSAOVERLAPPED* ov) {
        err = 0;
        return WSPAcceptEx(listener, into, out, receive, local, remote, &bytes, ov, &err);
    }
    std::string code(SOCKET listener, SOCKET into, void* out, DWORD receive, DWORD local,
                     DWORD remote, WSAOVERLAPPED* ov) {
        CHECK(call(listener, into, out, receive, local, remote, ov) == SOCKET_ERROR);
        return wsa_name(err);
    }
    std::string code_with(SOCKET into) {
        return code(l.s, into, output.data(), 0, block, block, &o.ov());
    }
    ~accept_rig() {
        CHECK_FALSE(o.event_signalled());
        const int rc = call(l.s, target, output.data(), 0, block, block, &o.ov());
        CHECK((rc == 0 || err == WSA_IO_PENDING));
        peer_socket client = posix_connect(l.address, l.address_len);
        CHECK(o.wait());
        CHECK(o.result(l.s).ok == TRUE);
        peer_close(client);
        int e = 0;
        WSPCloseSocket(target, &e);
    }
};

} // namespace

BAD_INPUT("accept.listener.garbage", "a listener value no socket has is WSAENOTSOCK") {
    accept_rig r;
    CHECK(r.code(garbage_socket, r.target, r.output.data(), 0, block, block, &r.o.ov()) ==
          "WSAENOTSOCK");
}

BAD_INPUT("accept.listener.not-listening", "a socket that does not listen is WSAEINVAL") {
    accept_rig r;
    SOCKET other = fresh();
    CHECK(r.code(other, r.target, r.output.data(), 0, block, block, &r.o.ov()) == "WSAEINVAL");
    int e = 0;
    WSPCloseSocket(other, &e);
}

BAD_INPUT("accept.overlapped.null", "lpOverlapped NULL is WSA_INVALID_PARAMETER") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, block, block, nullptr) ==
          "WSA_INVALID_PARAMETER");
}

BAD_INPUT("accept.target.garbage", "an accept socket value no socket has is WSAENOTSOCK") {
    accept_rig r;
    CHECK(r.code_with(garbage_socket) == "WSAENOTSOCK");
}

BAD_INPUT("accept.target.listener", "the listener as its own accept socket is WSAEINVAL") {
    accept_rig r;
    CHECK(r.code_with(r.l.s) == "WSAEINVAL");
}

BAD_INPUT("accept.target.bound", "a bound accept socket is WSAEINVAL") {
    accept_rig r;
    SOCKET bound = fresh();
    int len = 0;
    int err = 0;
    sockaddr_storage any = loopback_address(AF_INET, 0, &len);
    REQUIRE(WSPBind(bound, reinterpret_cast<sockaddr*>(&any), len, &err) == 0);
    CHECK(r.code_with(bound) == "WSAEINVAL");
    WSPCloseSocket(bound, &err);
}

BAD_INPUT("accept.target.connected", "a connected accept socket is WSAEINVAL") {
    accept_rig r;
    loopback_pair p = make_pair();
    CHECK(r.code_with(p.s) == "WSAEINVAL");
}

BAD_INPUT("accept.target.waiting", "an accept socket that already waits for a connection is "
                                   "WSAEINVAL") {
    sanport_listener l;
    SOCKET target = fresh();
    std::vector<char> output(2 * block);
    overlapped_op first({1}), second({1});
    DWORD bytes = 0;
    int err = 0;
    REQUIRE(WSPAcceptEx(l.s, target, output.data(), 0, block, block, &bytes, &first.ov(), &err) ==
            SOCKET_ERROR);
    REQUIRE(wsa_name(err) == "WSA_IO_PENDING");
    CHECK(WSPAcceptEx(l.s, target, output.data(), 0, block, block, &bytes, &second.ov(), &err) ==
          SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    CHECK_FALSE(second.event_signalled());
    peer_socket client = posix_connect(l.address, l.address_len);
    CHECK(first.wait());
    CHECK(first.result(l.s).ok == TRUE);
    CHECK_FALSE(second.event_signalled());
    peer_close(client);
    WSPCloseSocket(target, &err);
}

BAD_INPUT("accept.buffer.null", "lpOutputBuffer NULL is WSAEFAULT") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, nullptr, 0, block, block, &r.o.ov()) == "WSAEFAULT");
}

BAD_INPUT("accept.addresses.small", "a remote address length of 0, or a local one below the "
                                    "family's address + 16, is WSAEFAULT") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, block, 0, &r.o.ov()) == "WSAEFAULT");
    CHECK(r.code(r.l.s, r.target, r.output.data(), 0, sizeof(sockaddr_in) + 15, block, &r.o.ov()) ==
          "WSAEFAULT");
}

BAD_INPUT("accept.receive-data", "dwReceiveDataLength above 0 is WSAEOPNOTSUPP (no first "
                                 "receive yet)") {
    accept_rig r;
    CHECK(r.code(r.l.s, r.target, r.output.data(), 16, block, block, &r.o.ov()) == "WSAEOPNOTSUPP");
}

BAD_INPUT("accept.errno.null", "lpErrno NULL returns SOCKET_ERROR and posts nothing") {
    accept_rig r;
    CHECK(WSPAcceptEx(r.l.s, r.target, r.output.data(), 0, block, block, &r.bytes, &r.o.ov(),
                      nullptr) == SOCKET_ERROR);
}
