// SPDX-License-Identifier: MIT
#include <dlfcn.h>

#include "porting/host/library.hpp"

namespace sanport::detail::host {

void* open_library(const std::string& path, std::string& error) {
    // RTLD_LOCAL: the provider's own copy of sanport (if it links one) stays its own.
    void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!lib) {
        const char* why = ::dlerror();
        error = why ? why : "dlopen failed";
    }
    return lib;
}

void* find_symbol(void* library, const char* name) {
    return ::dlsym(library, name);
}

} // namespace sanport::detail::host
