// The documented threading model: a client on a strand, used from coroutines that run on
// every thread of a multi-threaded io_context, and from a thread outside it. Run under
// ThreadSanitizer in CI.
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <thread>
#include <vector>

using memcoro::test::memcached_process;

TEST_CASE("a client on a strand is safe from coroutines on several threads")
{
    memcached_process mc;
    asio::io_context ioc(4);
    auto work = asio::make_work_guard(ioc);
    memcoro::client c(asio::make_strand(ioc), mc.address());

    constexpr int tasks = 16, rounds = 200;
    std::atomic<int> right{0}, wrong{0}, finished{0};
    for (int t = 0; t < tasks; ++t) {
        asio::co_spawn(
            ioc, // not the strand: completions come back on any thread
            [&, t]() -> asio::awaitable<void> {
                for (int i = 0; i < rounds; ++i) {
                    const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
                    co_await c.async_set(key, key + "-value");
                    auto r = co_await c.async_get(key);
                    if (r && r->value == key + "-value")
                        ++right;
                    else
                        ++wrong;
                }
            },
            [&](std::exception_ptr e) {
                if (e)
                    ++wrong;
                ++finished;
            });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ioc.run(); });

    // A thread outside the io_context uses the client too.
    for (int i = 0; i < 100; ++i) {
        const std::string key = "outside" + std::to_string(i);
        c.async_set(key, "o", {}, asio::use_future).get();
        auto r = c.async_get(key, asio::use_future).get();
        if (r && r->value == "o")
            ++right;
        else
            ++wrong;
    }
    while (finished < tasks)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.close();
    work.reset();
    for (auto& th : threads)
        th.join();
    CHECK(right == tasks * rounds + 100);
    CHECK(wrong == 0);
}
