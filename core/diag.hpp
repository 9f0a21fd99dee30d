// SPDX-License-Identifier: MIT
// sanport's own voice: the reason behind a failing call (last_error_detail) and the rare lines
// sanport has to say (set_message_handler). Every message of core/ and backends/ goes through
// say(); nothing else writes to stderr.
#pragma once

#include <sanport/compat.h>

#include <cstdio>

namespace sanport::detail {

// diag.detail: the calling thread's last_error_detail() becomes `why` (a string literal).
void set_error_detail(const char* why) noexcept;

// For a failure branch that picks one of several causes of its code: records why, returns
// code. Never called on a path that succeeds, so the success path stores nothing.
inline int failed_because(int code, const char* why) noexcept {
    set_error_detail(why);
    return code;
}

// diag.messages: hands one line (no trailing newline) to the application's message handler
// (stderr by default, nothing when silenced). Serialised; rare by design.
void say_line(const char* line) noexcept;

// say_line of a printf-formatted line (cut at 1 KiB).
template <class... Args> void say(const char* format, Args... args) noexcept {
    if constexpr (sizeof...(Args) == 0) {
        say_line(format);
    } else {
        char line[1024];
        std::snprintf(line, sizeof line, format, args...);
        say_line(line);
    }
}

// A line said "once" is said once per handler: set_message_handler starts a new generation, so
// an application that installs its handler late still hears the first such event after that.
unsigned message_generation() noexcept;

// fork.child, in the child's fork handler: the child's next line goes through a fresh route
// (same handler), never through the parent's, whose lock a vanished thread may hold.
void forget_parent_route() noexcept;

} // namespace sanport::detail
