#pragma once
// Runs a coroutine test on an io_context under a deadline, so a hang fails instead of stalling.

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <stdexcept>

namespace memcoro::test {

template <class Awaitable>
void run_coro(asio::io_context& ioc, Awaitable task,
              std::chrono::steady_clock::duration limit = std::chrono::seconds(20))
{
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) {
        if (ioc.run_one_for(std::chrono::milliseconds(50)) == 0 && ioc.stopped())
            ioc.restart();
    }
    if (!done)
        throw std::runtime_error("run_coro: the test coroutine did not finish in time");
    // Let the client's connections wind down after the coroutine closed them.
    ioc.poll();
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace memcoro::test
