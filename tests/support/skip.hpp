// SPDX-License-Identifier: MIT
// Skipping a test case visibly. Defined in tests/support/test_main.cpp, the main of every
// doctest binary, which counts the cases that skipped: when every case a run executed skipped
// and none failed, the binary exits 77 (CTest's SKIP_RETURN_CODE), so a run outside CTest does
// not read as a pass.
#pragma once

#include <string>

namespace sanport::test {

// Prints "[sanport-skip] <why>" for the reader and records that the running test case skipped;
// the caller then returns from the test case. Only the exit status counts: a case that skips
// and then fails a check is a failure.
void skip(const std::string& why);

} // namespace sanport::test
