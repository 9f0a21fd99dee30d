// SPDX-License-Identifier: MIT
// The only place Boost.Asio headers are included. Boost 1.74's awaitable.hpp uses
// std::exchange without <utility> under C++20: <utility>
// first, and only the headers the backend needs (never <boost/asio.hpp>).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <utility>
