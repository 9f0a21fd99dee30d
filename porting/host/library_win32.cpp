// SPDX-License-Identifier: MIT
#include <windows.h>

#include "porting/host/library.hpp"

namespace sanport::detail::host {

void* open_library(const std::string& path, std::string& error) {
    HMODULE lib = ::LoadLibraryA(path.c_str());
    if (!lib) error = "LoadLibrary failed with error " + std::to_string(::GetLastError());
    return reinterpret_cast<void*>(lib);
}

void* find_symbol(void* library, const char* name) {
    return reinterpret_cast<void*>(::GetProcAddress(static_cast<HMODULE>(library), name));
}

} // namespace sanport::detail::host
