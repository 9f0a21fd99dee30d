// SPDX-License-Identifier: MIT
// docs/contract.md row: recv.posting-order (several receives posted on one socket).

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../support/loopback.hpp"

using namespace sanport;
using namespace sanport::test;

namespace {

// Odd, mixed shapes: {3,4}, {5}, {1,0,7}, ...
std::vector<ULONG> shape_of(std::size_t i) {
    switch (i % 4) {
    case 0:
        return {3, 4};
    case 1:
        return {5};
    case 2:
        return {1, 0, 7};
    default:
        return {static_cast<ULONG>(1 + 2 * (i % 7))};
    }
}

// Sends `stream` in chunks of 1..37 bytes.
void send_in_chunks(peer_socket fd, const std::string& stream) {
    std::size_t offset = 0, step = 0;
    while (offset < stream.size()) {
        std::size_t n = std::min<std::size_t>(1 + (step * 11) % 37, stream.size() - offset);
        send_all(fd, std::string_view(stream).substr(offset, n));
        offset += n;
        ++step;
    }
}

} // namespace

TEST_CASE("recv.posting-order: several receives posted on one socket - 8 two-byte receives and one "
          "16-byte send, receive i gets bytes 2i and 2i+1") {
    loopback_pair p = make_pair();
    std::vector<std::unique_ptr<overlapped_op>> ops;
    for (int i = 0; i < 8; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(std::vector<ULONG>{2}));
        REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(ops.back()->err) == "WSA_IO_PENDING");
    }
    send_all(p.peer, "AABBCCDDEEFFGGHH");
    const char* expected[] = {"AA", "BB", "CC", "DD", "EE", "FF", "GG", "HH"};
    for (int i = 0; i < 8; ++i) {
        INFO("receive " << i);
        REQUIRE(ops[i]->wait());
        op_result r = ops[i]->result(p.s);
        CHECK(r.ok == TRUE);
        CHECK(r.bytes == 2u);
        CHECK(ops[i]->data(2) == expected[i]);
    }
}

TEST_CASE("recv.posting-order: several receives posted on one socket - 3 receives of 4 and one "
          "10-byte send give 0123, 4567, 89") {
    loopback_pair p = make_pair();
    overlapped_op a({4}), b({4}), c({4});
    for (overlapped_op* op : {&a, &b, &c}) {
        REQUIRE(op->recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(op->err) == "WSA_IO_PENDING");
    }
    send_all(p.peer, "0123456789");
    REQUIRE(a.wait());
    REQUIRE(b.wait());
    REQUIRE(c.wait());
    CHECK(a.result(p.s).bytes == 4u);
    CHECK(b.result(p.s).bytes == 4u);
    CHECK(c.result(p.s).bytes == 2u);
    CHECK(a.data(4) == "0123");
    CHECK(b.data(4) == "4567");
    CHECK(c.data(2) == "89");
}

TEST_CASE("recv.posting-order: several receives posted on one socket - 64 receives of odd shapes, "
          "many small sends, concatenation in posting order is the stream") {
    loopback_pair p = make_pair();
    completion_queue cq;
    REQUIRE(cq.associate(p.s, 64) == 0);
    std::vector<std::unique_ptr<overlapped_op>> ops;
    std::size_t capacity = 0;
    for (std::size_t i = 0; i < 64; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(shape_of(i)));
        capacity += ops.back()->capacity();
        REQUIRE(ops.back()->recv(p.s) == SOCKET_ERROR);
        REQUIRE(wsa_name(ops.back()->err) == "WSA_IO_PENDING");
    }
    // Each receive takes at least one byte and at most its capacity, so `capacity` bytes are
    // enough to complete all 64.
    const std::string stream = pattern(capacity, 0, 7);
    send_in_chunks(p.peer, stream);

    std::string joined;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        INFO("receive " << i);
        REQUIRE(ops[i]->wait());
        op_result r = ops[i]->result(p.s);
        REQUIRE(r.ok == TRUE);
        CHECK(r.bytes >= 1u);
        joined += ops[i]->data(r.bytes);
    }
    CHECK(joined == stream.substr(0, joined.size()));

    auto packets = dequeue_n(cq, 64);
    CHECK(packets.size() == 64u);
    std::set<WSAOVERLAPPED*> seen;
    for (const completion_entry& e : packets) {
        seen.insert(e.overlapped);
        CHECK(e.key == 64u);
        CHECK(e.status == 0);
    }
    CHECK(seen.size() == 64u);
    CHECK(count_more(cq) == 0u);

    std::string rest = recv_stream(p.s, stream.size() - joined.size());
    CHECK(joined + rest == stream);
}

TEST_CASE("recv.posting-order: several receives posted on one socket - receives posted while data "
          "is arriving still fill in posting order") {
    loopback_pair p = make_pair();
    std::vector<std::unique_ptr<overlapped_op>> ops;
    std::size_t capacity = 0;
    for (std::size_t i = 0; i < 64; ++i) {
        ops.push_back(std::make_unique<overlapped_op>(shape_of(i + 1)));
        capacity += ops.back()->capacity();
    }
    const std::string stream = pattern(capacity, 0, 8);
    {
        delayed sender(0, [fd = p.peer, &stream] {
            std::size_t offset = 0, step = 0;
            while (offset < stream.size()) {
                std::size_t n = std::min<std::size_t>(1 + (step * 7) % 23, stream.size() - offset);
                try_send_all(fd, std::string_view(stream).substr(offset, n));
                offset += n;
                if (++step % 4 == 0) sleep_ms(1);
            }
        });
        for (std::size_t i = 0; i < ops.size(); ++i) {
            int rc = ops[i]->recv(p.s);
            INFO("receive " << i << ": WSPRecv returned " << rc << " / " << wsa_name(ops[i]->err));
            REQUIRE((rc == 0 || ops[i]->call_pending()));
            if (i % 8 == 7) sleep_ms(2);
        }
    }
    std::string joined;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        INFO("receive " << i);
        op_result r = ops[i]->finish(p.s);
        REQUIRE(r.ok == TRUE);
        CHECK(r.bytes >= 1u);
        joined += ops[i]->data(r.bytes);
    }
    CHECK(joined == stream.substr(0, joined.size()));
    std::string rest = recv_stream(p.s, stream.size() - joined.size());
    CHECK(joined + rest == stream);
}
