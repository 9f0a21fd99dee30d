// SPDX-License-Identifier: MIT
// The provider host's upcall table, called as a provider would call it: socket handles and
// their context, events, the blocking callback, the upcalls left out, and
// WPUCompleteOverlappedRequest's bookkeeping, event and completion-queue packet.
#include <sanport/completion_queue.h>
#include <sanport/engine.h>
#include <sanport/provider_host.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#ifndef _WIN32
#include <dlfcn.h>
#endif

using namespace sanport;

namespace {

const WSPUPCALLTABLEEX& up() {
    return upcall_table_ex();
}

} // namespace

TEST_CASE("host upcalls: socket handles carry their context until closed") {
    int err = 0;
    const SOCKET a = up().lpWPUCreateSocketHandle(1001, 0xA11CE, &err);
    const SOCKET b = up().lpWPUCreateSocketHandle(1001, 0xB0B, &err);
    REQUIRE(a != INVALID_SOCKET);
    REQUIRE(b != INVALID_SOCKET);
    CHECK(a != b);
    DWORD_PTR ctx = 0;
    CHECK(up().lpWPUQuerySocketHandleContext(a, &ctx, &err) == 0);
    CHECK(ctx == 0xA11CE);
    CHECK(up().lpWPUQuerySocketHandleContext(b, &ctx, &err) == 0);
    CHECK(ctx == 0xB0B);
    CHECK(up().lpWPUQuerySocketHandleContext(a, nullptr, &err) == SOCKET_ERROR);
    CHECK(err == WSAEFAULT);
    CHECK(up().lpWPUCloseSocketHandle(a, &err) == 0);
    CHECK(up().lpWPUQuerySocketHandleContext(a, &ctx, &err) == SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
    CHECK(up().lpWPUCloseSocketHandle(a, &err) == SOCKET_ERROR);
    CHECK(err == WSAENOTSOCK);
    CHECK(up().lpWPUCloseSocketHandle(static_cast<SOCKET>(3), &err) == SOCKET_ERROR);
    CHECK(up().lpWPUCloseSocketHandle(b, &err) == 0);
}

TEST_CASE("host upcalls: events, the IFS handle and the blocking callback") {
    int err = 0;
    WSAEVENT e = up().lpWPUCreateEvent(&err);
    REQUIRE(e != WSA_INVALID_EVENT);
    CHECK_FALSE(wsa_event_is_set(e));
    CHECK(up().lpWPUSetEvent(e, &err) == TRUE);
    CHECK(wsa_event_is_set(e));
    CHECK(up().lpWPUResetEvent(e, &err) == TRUE);
    CHECK_FALSE(wsa_event_is_set(e));
    CHECK(up().lpWPUCloseEvent(e, &err) == TRUE);

    CHECK(up().lpWPUModifyIFSHandle(1001, static_cast<SOCKET>(42), &err) == 42);

    LPBLOCKINGCALLBACK cb = reinterpret_cast<LPBLOCKINGCALLBACK>(std::uintptr_t{1});
    DWORD_PTR ctx = 7;
    CHECK(up().lpWPUQueryBlockingCallback(1001, &cb, &ctx, &err) == 0);
    CHECK((cb == nullptr));
    CHECK(ctx == 0);
}

namespace {

// diag.messages: the lines sanport said while a test ran, through the application's handler.
struct said_lines {
    said_lines() { set_message_handler(&said_lines::take, this); }
    ~said_lines() { set_message_handler(&write_message_to_stderr, nullptr); }
    said_lines(const said_lines&) = delete;
    said_lines& operator=(const said_lines&) = delete;
    static void take(void* self, const char* line) {
        static_cast<said_lines*>(self)->lines.emplace_back(line);
    }
    std::size_t count(const char* text) const {
        std::size_t n = 0;
        for (const std::string& line : lines)
            n += line.find(text) != std::string::npos ? 1 : 0;
        return n;
    }
    std::vector<std::string> lines;
};

} // namespace

TEST_CASE("host upcalls: the ones left out fail with WSAEOPNOTSUPP, said once through the "
          "message handler (diag.messages)") {
    said_lines said;
    int err = 0;
    CHECK(up().lpWPUQueueApc(nullptr, nullptr, 0, &err) == SOCKET_ERROR);
    CHECK(err == WSAEOPNOTSUPP);
    CHECK(up().lpWPUQueueApc(nullptr, nullptr, 0, &err) == SOCKET_ERROR);
    CHECK(said.count("called WPUQueueApc") == 1u);
    err = 0;
    CHECK(up().lpWPUOpenCurrentThread(nullptr, &err) == SOCKET_ERROR);
    CHECK(err == WSAEOPNOTSUPP);
    err = 0;
    CHECK(up().lpWPUCloseThread(nullptr, &err) == SOCKET_ERROR);
    CHECK(err == WSAEOPNOTSUPP);
    err = 0;
    CHECK(up().lpWPUGetProviderPath(nullptr, nullptr, nullptr, &err) == SOCKET_ERROR);
    CHECK(err == WSAEOPNOTSUPP);
    CHECK(up().lpWPUPostMessage(nullptr, 0, 0, 0) == FALSE);
    CHECK(up().lpWPUFDIsSet(static_cast<SOCKET>(1), nullptr) == 0);
    // The plain table is the EX table without its last entry.
    const WSPUPCALLTABLE plain = upcall_table();
    CHECK((plain.lpWPUCreateSocketHandle == up().lpWPUCreateSocketHandle));
    CHECK((plain.lpWPUCloseThread == up().lpWPUCloseThread));
}

TEST_CASE("host upcalls: WPUCompleteOverlappedRequest on a host handle does the bookkeeping, "
          "signals the event and queues one packet") {
    int err = 0;
    const SOCKET s = up().lpWPUCreateSocketHandle(1001, 1, &err);
    REQUIRE(s != INVALID_SOCKET);
    completion_queue q;
    // associate() needs no started provider for a host handle.
    provider_host host(static_cast<LPWSPSTARTUPEX>(nullptr));
    CHECK(host.status() != 0);
    REQUIRE(host.associate(q, s, 0x51) == 0);
    CHECK(host.associate(q, s, 0x52) == WSAEINVAL); // one queue per socket

    WSAOVERLAPPED ov{};
    ov.Internal = WSS_OPERATION_IN_PROGRESS;
    ov.hEvent = WSACreateEvent();
    CHECK(up().lpWPUCompleteOverlappedRequest(s, &ov, 0, 1234, &err) == 0);
    CHECK(ov.Internal != static_cast<ULONG_PTR>(WSS_OPERATION_IN_PROGRESS));
    CHECK(ov.InternalHigh == 1234u);
    CHECK(ov.Offset == 0u);
    CHECK(ov.OffsetHigh == 0u);
    CHECK(wsa_event_is_set(ov.hEvent));
    completion_entry e[4];
    REQUIRE(q.dequeue(e, 4, 1000) == 1);
    CHECK(e[0].overlapped == &ov);
    CHECK(e[0].bytes == 1234u);
    CHECK(e[0].key == 0x51u);
    CHECK(e[0].status == 0);

    // An error, and the low bit: the event still, no packet.
    WSAResetEvent(ov.hEvent);
    WSAEVENT event = ov.hEvent;
    ov.hEvent = reinterpret_cast<WSAEVENT>(reinterpret_cast<std::uintptr_t>(event) | 1u);
    CHECK(up().lpWPUCompleteOverlappedRequest(s, &ov, WSAECONNRESET, 0, &err) == 0);
    CHECK(ov.OffsetHigh == static_cast<DWORD>(WSAECONNRESET));
    CHECK(wsa_event_is_set(event));
    CHECK(q.dequeue(e, 4, 50) == 0);

    CHECK(up().lpWPUCompleteOverlappedRequest(s, nullptr, 0, 0, &err) == SOCKET_ERROR);
    CHECK(err == WSAEFAULT);
    CHECK(up().lpWPUCloseSocketHandle(s, &err) == 0);
    CHECK(up().lpWPUCompleteOverlappedRequest(s, &ov, 0, 0, &err) == SOCKET_ERROR);
    CHECK(err == WSAEINVAL); // not a handle any more, and not a sanport socket
    WSACloseEvent(event);
}

#ifndef _WIN32
TEST_CASE("host upcalls: the global WPUCompleteOverlappedRequest (ws2_32's export on Windows) "
          "reaches the host, and a host program exports it for provider libraries") {
    // A provider library's undefined reference binds through the dynamic symbol table.
    CHECK(dlsym(RTLD_DEFAULT, "WPUCompleteOverlappedRequest") != nullptr);
    int err = 0;
    const SOCKET s = up().lpWPUCreateSocketHandle(1001, 1, &err);
    REQUIRE(s != INVALID_SOCKET);
    completion_queue q;
    provider_host host(static_cast<LPWSPSTARTUPEX>(nullptr));
    REQUIRE(host.associate(q, s, 0x77) == 0);
    WSAOVERLAPPED ov{};
    ov.Internal = WSS_OPERATION_IN_PROGRESS;
    CHECK(::WPUCompleteOverlappedRequest(s, &ov, 0, 9, &err) == 0);
    CHECK(ov.InternalHigh == 9u);
    completion_entry e[2];
    REQUIRE(q.dequeue(e, 2, 1000) == 1);
    CHECK(e[0].key == 0x77u);

    // And from a library, as a provider would call it: its undefined reference bound at dlopen.
    void* lib = dlopen(SANPORT_TEST_BY_NAME_LIB, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(lib != nullptr, dlerror());
    using complete_fn = int (*)(SOCKET, LPWSAOVERLAPPED, DWORD);
    auto complete = reinterpret_cast<complete_fn>(dlsym(lib, "complete_by_name"));
    REQUIRE((complete != nullptr));
    ov.Internal = WSS_OPERATION_IN_PROGRESS;
    CHECK(complete(s, &ov, 11) == 0);
    CHECK(ov.InternalHigh == 11u);
    REQUIRE(q.dequeue(e, 2, 1000) == 1);
    CHECK(e[0].bytes == 11u);
    dlclose(lib);
    CHECK(up().lpWPUCloseSocketHandle(s, &err) == 0);
}
#endif

TEST_CASE("provider host: a library that does not exist, or exports no start-up, is reported") {
    auto missing = provider_host::load("./no-such-provider-library.so");
    CHECK(missing->status() != 0);
    CHECK(missing->why().find("cannot load") != std::string::npos);
}
