// SPDX-License-Identifier: MIT
// The one entry point select.cpp needs, without pulling Boost into every file that picks a
// backend.
#pragma once

#include "core/backend.hpp"

#include <memory>
#include <string>

namespace sanport::detail {

// The Boost.Asio reactor backend, or nullptr with why_not set.
std::unique_ptr<backend> make_asio_backend(std::string& why_not);

} // namespace sanport::detail
