// SPDX-License-Identifier: MIT
// diag.messages: the one place sanport's lines leave the library (see diag.hpp).
#include "core/diag.hpp"

#include <sanport/engine.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace sanport {

namespace {

struct route {
    std::mutex mutex; // held while a line is delivered: a handler replaced is never called again
    message_handler handler = &write_message_to_stderr;
    void* context = nullptr;
    std::atomic<unsigned> generation{0}; // bumped by set_message_handler
};

route& the_route() {
    // Never destroyed: a message may be said while static objects are torn down.
    static route* r = new route;
    return *r;
}

} // namespace

void write_message_to_stderr(void* /*context*/, const char* line) {
    std::fprintf(stderr, "%s\n", line);
}

void set_message_handler(message_handler handler, void* context) noexcept {
    route& r = the_route();
    std::lock_guard lock(r.mutex);
    r.handler = handler;
    r.context = context;
    r.generation.fetch_add(1, std::memory_order_relaxed);
}

namespace detail {

unsigned message_generation() noexcept {
    return the_route().generation.load(std::memory_order_relaxed);
}

void say_line(const char* line) noexcept {
    route& r = the_route();
    std::lock_guard lock(r.mutex);
    if (r.handler) r.handler(r.context, line);
}

} // namespace detail

} // namespace sanport
