#pragma once
// Runs a coroutine test on an io_context under a deadline, so a hang fails instead of stalling.

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

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

/// Suspends the calling coroutine for `d`.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

/// Polls `pred` every millisecond until it holds or `limit` passes; returns its last value.
template <class Pred>
asio::awaitable<bool> wait_until(Pred pred, std::chrono::steady_clock::duration limit)
{
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= until)
            co_return false;
        co_await sleep_for(std::chrono::milliseconds(1));
    }
    co_return true;
}

} // namespace memcoro::test
