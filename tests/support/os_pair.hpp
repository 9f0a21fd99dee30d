// SPDX-License-Identifier: MIT
// A connected pair of plain OS stream sockets, for tests that need real handles but no network
// semantics (the fake backend never reads them): AF_UNIX socketpair on POSIX, a loopback TCP
// pair on Windows, where socketpair does not exist.
#pragma once

#include <sanport/compat.h>

namespace sanport::test {

// false if the OS refused; a and b are the two ends.
bool make_os_pair(SOCKET& a, SOCKET& b);
void close_os_socket(SOCKET s);
// SO_KEEPALIVE on (true) or off; false if the OS refused.
bool set_keepalive(SOCKET s, bool on);

#ifndef _WIN32
// A connected TCP pair on 127.0.0.1 (blocking, close-on-exec, TCP_NODELAY on the peer): `mine`
// for sanport to adopt, `peer` for the test's sender. false (errno set) if the OS refused.
bool tcp_pair(int& mine, int& peer);
#endif

} // namespace sanport::test
