// SPDX-License-Identifier: MIT
// docs/contract.md rows: send.gather, send.blocking, send.posting-order, send.args,
// send.shutdown, send.peer.reset, send.socket.unknown.

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

TEST_CASE("send.gather: gathers the WSABUFs in array order and completes with every byte") {
    for (pair_kind kind : {pair_kind::connect, pair_kind::accept, pair_kind::adopt}) {
        INFO("pair made by " << to_string(kind));
        loopback_pair p = make_pair(kind);
        completion_queue cq;
        REQUIRE(cq.associate(p.s, 0x5E) == 0);
        overlapped_op op({3, 0, 4});
        op.send(p.s, "abcdefg");
        REQUIRE((op.rc == 0 || op.call_pending()));
        if (op.rc == 0) CHECK(op.bytes == 7u);
        op_result r = op.finish(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 7u);
        CHECK(op.event_signalled_soon());
        CHECK(op.ov().InternalHigh == 7u);
        CHECK(op.ov().OffsetHigh == 0u);
        CHECK(read_exactly(p.peer, 7) == "abcdefg");
        auto packets = dequeue_n(cq, 1);
        REQUIRE(packets.size() == 1u);
        CHECK(packets[0].overlapped == &op.ov());
        CHECK(packets[0].bytes == 7u);
        CHECK(packets[0].key == 0x5Eu);
    }
}

TEST_CASE("send.blocking: lpOverlapped NULL - blocking send returns 0 with the count") {
    loopback_pair p = make_pair(pair_kind::connect, AF_INET, 0);
    char a[] = "blocking ", b[] = "send";
    WSABUF bufs[2] = {{9, a}, {4, b}};
    DWORD sent = bytes_sentinel;
    int err = 0;
    CHECK(WSPSend(p.s, bufs, 2, &sent, 0, nullptr, nullptr, nullptr, &err) == 0);
    CHECK(sent == 13u);
    CHECK(read_exactly(p.peer, 13) == "blocking send");
}

TEST_CASE("send.posting-order: several overlapped sends posted at once reach the peer in posting "
          "order") {
    loopback_pair p = make_pair();
    const std::string stream = pattern(64 * 1000, 0, 11);
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int i = 0; i < 64; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{600, 400}));
        ops.back()->send(p.s,
                         std::string_view(stream).substr(static_cast<std::size_t>(i) * 1000, 1000));
        REQUIRE((ops.back()->rc == 0 || ops.back()->call_pending()));
    }
    CHECK(read_exactly(p.peer, stream.size()) == stream);
    for (auto& op : ops) {
        op_result r = op->finish(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 1000u);
    }
}

TEST_CASE("send.gather: an 8 MiB overlapped send to a slow reader completes only after every byte "
          "was accepted") {
    pair_options options;
    options.peer_rcvbuf = 65536;
    loopback_pair p = make_pair(options);
    set_send_buffer(p.s, 65536);
    const std::size_t total = 8u << 20;
    const std::string big = pattern(total, 0, 12);
    overlapped_op op({static_cast<ULONG>(total / 2), static_cast<ULONG>(total / 2)});
    op.send(p.s, big);
    REQUIRE((op.rc == 0 || op.call_pending()));
    CHECK(op.rc == SOCKET_ERROR); // 8 MiB cannot fit in a 64 KiB window plus 64 KiB buffer
    sleep_ms(settle_ms);
    CHECK(op.pending());

    std::atomic<std::size_t> peer_read{0};
    std::string received;
    std::atomic<std::size_t> read_at_completion{0};
    {
        delayed reader(0, [&] {
            while (received.size() < total) {
                std::string chunk = read_exactly(p.peer, 65536, 2000);
                if (chunk.empty()) break;
                received += chunk;
                peer_read = received.size();
                sleep_ms(1);
            }
        });
        REQUIRE(op.wait(max_wait_ms));
        read_at_completion = peer_read.load();
    }
    op_result r = op.result(p.s);
    CHECK(r.ok == TRUE);
    CHECK(r.bytes == total);
    // When the send completed, all but what the kernel buffers could hold had been read.
    CHECK(read_at_completion.load() + (2u << 20) >= total);
    CHECK(received.size() == total);
    CHECK(received == big);
}

TEST_CASE("send.peer.reset: after the peer reset - WSAECONNRESET or WSAECONNABORTED, and no "
          "SIGPIPE") {
    loopback_pair p = make_pair();
    p.reset_peer();
    sleep_ms(20);
    for (int i = 0; i < 3; ++i) {
        INFO("send #" << i);
        overlapped_op op({1024});
        op.send(p.s, pattern(1024));
        op_result r = op.finish(p.s);
        CHECK(r.ok == FALSE);
        std::string name = wsa_name(r.err);
        CHECK((name == "WSAECONNRESET" || name == "WSAECONNABORTED"));
    }
    char a[] = "x";
    WSABUF b{1, a};
    DWORD sent = 0;
    int err = 0;
    CHECK(WSPSend(p.s, &b, 1, &sent, 0, nullptr, nullptr, nullptr, &err) == SOCKET_ERROR);
    std::string name = wsa_name(err);
    CHECK((name == "WSAECONNRESET" || name == "WSAECONNABORTED"));
}

TEST_CASE("send.args: dwFlags other than 0 - WSAEINVAL, nothing sent") {
    loopback_pair p = make_pair();
    for (DWORD flags :
         {static_cast<DWORD>(MSG_OOB), static_cast<DWORD>(MSG_PARTIAL), DWORD{0x40000}}) {
        INFO("dwFlags = " << flags);
        overlapped_op op({4});
        char data[] = "oops";
        WSABUF b{4, data};
        DWORD sent = bytes_sentinel;
        int err = 0;
        CHECK(WSPSend(p.s, &b, 1, &sent, flags, &op.ov(), nullptr, nullptr, &err) == SOCKET_ERROR);
        CHECK(wsa_name(err) == "WSAEINVAL");
        CHECK_FALSE(op.pending());
    }
    CHECK(read_exactly(p.peer, 1, 100).empty());
}

TEST_CASE("send.args: dwBufferCount 0 - WSAEINVAL, lpBuffers NULL or a buf NULL with len > 0 - "
          "WSAEFAULT") {
    loopback_pair p = make_pair();
    overlapped_op op({4});
    DWORD sent = bytes_sentinel;
    int err = 0;
    CHECK(WSPSend(p.s, op.bufs(), 0, &sent, 0, &op.ov(), nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEINVAL");
    err = 0;
    CHECK(WSPSend(p.s, nullptr, 1, &sent, 0, &op.ov(), nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
    WSABUF bad{4, nullptr};
    err = 0;
    CHECK(WSPSend(p.s, &bad, 1, &sent, 0, &op.ov(), nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(wsa_name(err) == "WSAEFAULT");
    CHECK_FALSE(op.pending());
    CHECK(read_exactly(p.peer, 1, 100).empty());
}

TEST_CASE("send.shutdown: after WSPShutdown SD_SEND - WSAESHUTDOWN, and the peer sees EOF") {
    loopback_pair p = make_pair();
    int err = 0;
    REQUIRE(WSPShutdown(p.s, SD_SEND, &err) == 0);
    CHECK(std::string(to_string(read_until_end(p.peer, 2000))) == "eof");
    overlapped_op op({4});
    op.send(p.s, "late");
    CHECK(op.rc == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSAESHUTDOWN");
}

TEST_CASE("send.socket.unknown: unknown or closed SOCKET - WSAENOTSOCK") {
    loopback_pair p = make_pair();
    SOCKET old = p.s;
    REQUIRE(p.close_socket() == 0);
    overlapped_op op({4});
    op.send(old, "gone");
    CHECK(op.rc == SOCKET_ERROR);
    CHECK(wsa_name(op.err) == "WSAENOTSOCK");
    overlapped_op op2({4});
    op2.send(static_cast<SOCKET>(987654), "gone");
    CHECK(wsa_name(op2.err) == "WSAENOTSOCK");
}
