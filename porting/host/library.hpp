// SPDX-License-Identifier: MIT
// Loading a provider library: dlopen on Linux (library_posix.cpp), LoadLibrary on Windows
// (library_win32.cpp). A library is never unloaded: a provider may keep threads (its own, or a
// statically linked sanport's engine) running after WSPCleanup, and unmapping their code under
// them would crash the process. The Windows switch has the same problem and keeps providers
// loaded while any socket of theirs exists.
#pragma once

#include <string>

namespace sanport::detail::host {

void* open_library(const std::string& path, std::string& error);
void* find_symbol(void* library, const char* name);

} // namespace sanport::detail::host
