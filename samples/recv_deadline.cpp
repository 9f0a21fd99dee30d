// SPDX-License-Identifier: MIT
// recv_deadline: a receive with a deadline, the way a Windows server writes one.
//
// Each receive gets a sanport::timer on the same completion queue. Whichever packet comes
// first decides:
//   - the receive's packet: the data is there; cancel the timer (0: it will never fire);
//   - the timer's packet: the deadline passed; WSPCancelIoEx the receive. The receive's own
//     packet then follows: WSA_OPERATION_ABORTED, or its bytes if data won the race. The
//     connection stays open, and no received byte is lost.
// The program connects to itself on loopback, then runs two rounds: the peer stays silent
// (the deadline ends the receive), then answers in time (the timer is cancelled). It prints one
// line per round and exits 0 when both went as described.
#include <sanport/completion_queue.h>
#include <sanport/timer.h>
#include <sanport/wsp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#ifndef _WIN32 // on Windows, <sanport/wsp.h> brings winsock2.h and ws2tcpip.h
#include <arpa/inet.h>
#include <netinet/in.h>
#endif

namespace {

constexpr ULONG_PTR conn_key = 1;
constexpr ULONG_PTR deadline_key = 2;

struct receive {
    WSAOVERLAPPED ov{}; // sanport's until the receive's packet comes
    char data[64] = {};
};

// Posts r on s, arms `deadline` for it, and waits for the receive's own packet. Returns the
// receive's status (0 or a WSA code); `bytes` and `timed_out` say what happened.
int receive_within(sanport::completion_queue& cq, sanport::timer& deadline, SOCKET s, receive& r,
                   DWORD deadline_ms, DWORD& bytes, bool& timed_out) {
    WSABUF buf{sizeof r.data, r.data};
    DWORD flags = 0;
    int err = 0;
    if (sanport::WSPRecv(s, &buf, 1, &bytes, &flags, &r.ov, nullptr, nullptr, &err) != 0 &&
        err != WSA_IO_PENDING)
        return err;
    // The timer's packet names the receive it guards.
    if ((err = deadline.start(deadline_ms, deadline_key, &r.ov)) != 0) return err;
    timed_out = false;
    for (;;) {
        sanport::completion_entry e;
        if (cq.dequeue(&e, 1, 10000) != 1) return WSAETIMEDOUT; // a bug, not a deadline
        if (e.key == deadline_key) {
            timed_out = true;
            // ERROR_NOT_FOUND: the receive completed meanwhile; its packet is on the way.
            sanport::WSPCancelIoEx(s, e.overlapped, &err);
            continue;
        }
        bytes = e.bytes;
        // 0: stopped, no packet will come. ERROR_NOT_FOUND: it fired just now; take its
        // packet here, or the next receive would read it as its own deadline.
        if (!timed_out && deadline.cancel() != 0) {
            sanport::completion_entry late;
            if (cq.dequeue(&late, 1, 10000) != 1 || late.key != deadline_key) return WSAEINVAL;
        }
        return e.status;
    }
}

} // namespace

int main() {
#ifdef _WIN32
    WSADATA wsa_data; // Winsock for htonl; sanport's engine starts its own
    if (WSAStartup(MAKEWORD(2, 2), &wsa_data) != 0) return 1;
#endif
    int err = 0;
    const DWORD flags = WSA_FLAG_OVERLAPPED;
    SOCKET listener =
        sanport::WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, flags, &err);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof addr;
    if (listener == INVALID_SOCKET ||
        sanport::WSPBind(listener, reinterpret_cast<sockaddr*>(&addr), len, &err) != 0 ||
        sanport::WSPListen(listener, 1, &err) != 0 ||
        sanport::WSPGetSockName(listener, reinterpret_cast<sockaddr*>(&addr), &len, &err) != 0) {
        std::fprintf(stderr, "recv_deadline: listener: %s\n", sanport::wsa_error_name(err));
        return 1;
    }
    SOCKET peer = sanport::WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, flags, &err);
    if (peer == INVALID_SOCKET ||
        sanport::WSPConnect(peer, reinterpret_cast<sockaddr*>(&addr), len, nullptr, nullptr,
                            nullptr, nullptr, &err) != 0) {
        std::fprintf(stderr, "recv_deadline: connect: %s\n", sanport::wsa_error_name(err));
        return 1;
    }
    SOCKET s = sanport::WSPAccept(listener, nullptr, nullptr, nullptr, 0, &err);
    sanport::completion_queue cq;
    if (s == INVALID_SOCKET || cq.associate(s, conn_key) != 0) {
        std::fprintf(stderr, "recv_deadline: accept: %s\n", sanport::wsa_error_name(err));
        return 1;
    }
    sanport::timer deadline(cq);
    bool ok = true;

    // Round 1: the peer is silent; the deadline ends the receive.
    receive silent;
    DWORD bytes = 0;
    bool timed_out = false;
    const auto began = std::chrono::steady_clock::now();
    int status = receive_within(cq, deadline, s, silent, 100, bytes, timed_out);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count();
    std::printf("recv_deadline: silent peer: %s after %lld ms (deadline 100 ms)\n",
                sanport::wsa_error_name(status), static_cast<long long>(ms));
    ok = ok && timed_out && status == WSA_OPERATION_ABORTED && ms >= 100;

    // Round 2: the peer answers well within the deadline; the timer is cancelled.
    char hello[] = "hello";
    WSABUF out{5, hello};
    DWORD sent = 0;
    if (sanport::WSPSend(peer, &out, 1, &sent, 0, nullptr, nullptr, nullptr, &err) != 0) ok = false;
    receive quick;
    status = receive_within(cq, deadline, s, quick, 5000, bytes, timed_out);
    std::printf("recv_deadline: answering peer: %s, %lu bytes \"%.*s\", timer cancelled\n",
                sanport::wsa_error_name(status), static_cast<unsigned long>(bytes),
                static_cast<int>(bytes), quick.data);
    ok = ok && !timed_out && status == 0 && bytes == 5 && std::memcmp(quick.data, "hello", 5) == 0;

    sanport::WSPCloseSocket(s, &err);
    sanport::WSPCloseSocket(peer, &err);
    sanport::WSPCloseSocket(listener, &err);
    std::printf("recv_deadline: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
