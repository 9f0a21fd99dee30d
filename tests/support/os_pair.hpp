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

} // namespace sanport::test
