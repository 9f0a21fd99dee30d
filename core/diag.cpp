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

// Never destroyed: a message may be said while static objects are torn down.
constinit std::atomic<route*> current_route{nullptr};
// fork.child: the parent's route, whose mutex a thread of the parent may hold; the child's
// first line makes a fresh route with the same handler.
constinit std::atomic<route*> parent_route{nullptr};

route& the_route() {
    route* r = current_route.load(std::memory_order_acquire);
    if (r) [[likely]]
        return *r;
    auto* made = new route;
    if (const route* parent = parent_route.load(std::memory_order_acquire)) {
        // Read without its lock (held maybe for ever), then leaked.
        made->handler = parent->handler;
        made->context = parent->context;
        made->generation.store(parent->generation.load(std::memory_order_relaxed));
    }
    if (current_route.compare_exchange_strong(r, made, std::memory_order_acq_rel)) return *made;
    delete made; // another thread made it first
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

void forget_parent_route() noexcept {
    route* r = current_route.exchange(nullptr, std::memory_order_relaxed);
    if (r) parent_route.store(r, std::memory_order_relaxed);
}

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
