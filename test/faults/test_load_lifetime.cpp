// Load and lifetime: 100,000 operations at once; a client or io_context destroyed with
// operations in flight (scenarios 8 and 9 of docs/reliability.md).
#include "faults_common.hpp"

#include <asio/detached.hpp>

#include <atomic>
#include <thread>

using namespace memcoro::faults;

namespace {

/// Counts calls and destructions of completion handlers.
struct handler_census {
    std::atomic<int> called{0};
    std::atomic<int> aborted{0};   // called with operation_aborted
    std::atomic<int> destroyed{0}; // handler objects gone (every copy)
    std::atomic<int> other{0};     // called with anything else
};

/// A shared token whose last copy's destruction is counted: carried by a handler, it tells
/// when the handler (and every copy of it) is gone.
std::shared_ptr<void> census_token(const std::shared_ptr<handler_census>& census)
{
    return std::shared_ptr<void>(new int(0), [census](void* p) {
        ++census->destroyed;
        delete static_cast<int*>(p);
    });
}

/// Starts a get whose handler records its call into `census`.
void counted_get(memcoro::client& c, std::string key, const std::shared_ptr<handler_census>& census)
{
    c.async_get(std::move(key),
                [census, token = census_token(census)](std::error_code ec, memcoro::get_result) {
                    ++census->called;
                    if (ec == asio::error::operation_aborted)
                        ++census->aborted;
                    else
                        ++census->other;
                });
}

} // namespace

// Scenario 8.
TEST_CASE("load: 100,000 concurrent operations on one client all complete, memory bounded",
          "[faults][load]")
{
    static constexpr int n = 100000;
    static constexpr int keys = 1000;
    bool coroutines = false;
    SECTION("callbacks")
    {
        coroutines = false;
    }
    SECTION("coroutines")
    {
        coroutines = true;
    }
    memcached_process mc;
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            memcoro::client c(ex, config_for(mc.address(), 60s));
            co_await preload(c, keys);
            auto ops = std::make_shared<std::vector<outcome>>(static_cast<std::size_t>(n));

            const auto rss_before = rss_bytes();
            const bool hwm_reset = reset_hwm();
            const auto t = clock::now();
            if (coroutines) {
                for (int i = 0; i < n; ++i)
                    asio::co_spawn(
                        ex,
                        [&c, ops, i]() -> asio::awaitable<void> {
                            auto& o = (*ops)[static_cast<std::size_t>(i)];
                            o.start = clock::now();
                            auto [ec, r] = co_await c.async_get(key_for(i % keys), tuple);
                            o.end = clock::now();
                            o.ec = ec;
                            o.value = std::move(r);
                            o.done = true;
                        },
                        asio::detached);
            } else {
                launch_range(c, ops, 0, n, keys);
            }
            const bool finished = co_await wait_until([&] { return all_done(ops); }, 120s);
            const double took = to_ms(clock::now() - t);
            const auto peak = hwm_bytes();
            REQUIRE(finished);
            CHECK(right_values(ops, keys) == n);
            const double peak_growth = to_mib(peak) - to_mib(rss_before);
            WARN("load (" << (coroutines ? "coroutines" : "callbacks") << "): " << n
                          << " gets on one connection in " << took << " ms; peak RSS "
                          << to_mib(peak) << " MiB (VmHWM" << (hwm_reset ? ", reset" : "") << "), "
                          << peak_growth << " MiB above the " << to_mib(rss_before)
                          << " MiB before");
            // Measured (g++ -O2, default io_context, so the client runs on a strand of its own):
            // 93-100 MiB for callbacks and ~102 MiB for coroutines, about 1 KiB per pending get
            // (its op with the handler, request and reply, and its share of the queues); twice
            // that and more under AddressSanitizer. The bound catches growth that is not per
            // pending operation.
            const double bound = (coroutines ? 250.0 : 150.0) * (sanitized ? 4 : 1);
            if (hwm_reset)
                CHECK(peak_growth < bound);
        }(),
        180s);
}

// Scenario 9.
TEST_CASE("lifetime: destroying the client completes every pending operation with "
          "operation_aborted",
          "[faults][lifetime]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    asio::io_context ioc;
    auto census = std::make_shared<handler_census>();
    int expected = 0;
    SECTION("requests on the wire (the server's replies are held)")
    {
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto c = std::make_unique<memcoro::client>(ex, config_for(proxy.address(), 10s));
            co_await c->async_version();
            proxy.set_stalled(true);
            for (int i = 0; i < 1000; ++i)
                counted_get(*c, key_for(i), census);
            expected = 1000;
            settled all_in; // the replies of all of them (merged or not) are held
            co_await wait_until([&] { return all_in(proxy.held_bytes(), 5); }, 5s);
            // A coroutine suspended in an operation, too.
            bool coro_done = false;
            std::error_code coro_ec;
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    auto [ec, r] = co_await c->async_get("from-a-coroutine", tuple);
                    coro_ec = ec;
                },
                [&](std::exception_ptr) { coro_done = true; });
            co_await sleep_for(5ms);
            c.reset();
            co_await wait_until([&] { return census->called == expected && coro_done; }, 5s);
            CHECK(coro_done);
            CHECK(coro_ec == asio::error::operation_aborted);
        }());
    }
    SECTION("requests waiting for a connect that hangs")
    {
        black_hole hole(ioc);
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = config_for(hole.address(), 10s);
            cfg.connect_timeout = 10s;
            auto c = std::make_unique<memcoro::client>(ex, cfg);
            for (int i = 0; i < 100; ++i)
                counted_get(*c, key_for(i), census);
            expected = 100;
            co_await sleep_for(20ms);
            c.reset();
            co_await wait_until([&] { return census->called == expected; }, 5s);
        }());
    }
    SECTION("destroyed from inside one of its own completion handlers")
    {
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto c = std::make_unique<memcoro::client>(ex, config_for(proxy.address(), 10s));
            co_await c->async_version();
            proxy.set_stalled(true);
            for (int i = 0; i < 100; ++i)
                counted_get(*c, key_for(i), census);
            expected = 100;
            settled all_in;
            co_await wait_until([&] { return all_in(proxy.held_bytes(), 5); }, 5s);
            // An operation that completes at once (invalid key) while the others are pending;
            // its handler destroys the client.
            bool first_done = false;
            c->async_get("bad key", [&](std::error_code ec, memcoro::get_result) {
                CHECK(ec == memcoro::errc::invalid_key);
                first_done = true;
                c.reset();
            });
            co_await wait_until([&] { return first_done && census->called == expected; }, 5s);
            CHECK(first_done);
        }());
    }
    SECTION("destroyed from another thread while the io_context runs")
    {
        proxy.set_stalled(true);
        auto c =
            std::make_unique<memcoro::client>(ioc.get_executor(), config_for(proxy.address(), 10s));
        auto work = asio::make_work_guard(ioc);
        std::thread runner([&] { ioc.run(); });
        for (int i = 0; i < 500; ++i)
            counted_get(*c, key_for(i), census); // any thread may start operations
        expected = 500;
        settled all_in;
        const auto until = clock::now() + 5s;
        while (!all_in(proxy.held_bytes(), 5) && clock::now() < until)
            std::this_thread::sleep_for(1ms);
        c.reset();
        const auto until2 = clock::now() + 5s;
        while (census->called < expected && clock::now() < until2)
            std::this_thread::sleep_for(1ms);
        work.reset();
        ioc.stop();
        runner.join();
    }
    INFO("expected " << expected << " handlers");
    CHECK(census->called == expected);
    CHECK(census->aborted == expected);
    CHECK(census->other == 0);
    CHECK(census->destroyed == expected);
}

TEST_CASE("lifetime: destroying the io_context destroys pending handlers without calling them",
          "[faults][lifetime]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    auto census = std::make_shared<handler_census>();
    int expected = 0;
    SECTION("the client owned by the handlers (a cycle only the context can break)")
    {
        proxy.set_stalled(true);
        {
            asio::io_context ioc;
            auto c = std::make_shared<memcoro::client>(ioc.get_executor(),
                                                       config_for(proxy.address(), 10s));
            for (int i = 0; i < 200; ++i)
                c->async_get(key_for(i),
                             [c, census, token = census_token(census)](
                                 std::error_code, memcoro::get_result) { ++census->called; });
            // Coroutines suspended inside the client, owning it.
            for (int i = 0; i < 50; ++i)
                asio::co_spawn(
                    ioc,
                    [c, token = census_token(census)]() -> asio::awaitable<void> {
                        co_await c->async_get("coro");
                    },
                    [census](std::exception_ptr) { ++census->called; });
            expected = 250;
            c.reset();
            const auto until = clock::now() + 5s;
            settled all_in;
            while (!all_in(proxy.held_bytes(), 5) && clock::now() < until)
                ioc.run_for(5ms);
            ioc.stop();
        } // ~io_context
    }
    SECTION("the client destroyed first, its close never run")
    {
        proxy.set_stalled(true);
        {
            asio::io_context ioc;
            auto c = std::make_unique<memcoro::client>(ioc.get_executor(),
                                                       config_for(proxy.address(), 10s));
            for (int i = 0; i < 200; ++i)
                counted_get(*c, key_for(i), census);
            expected = 200;
            const auto until = clock::now() + 5s;
            settled all_in;
            while (!all_in(proxy.held_bytes(), 5) && clock::now() < until)
                ioc.run_for(5ms);
            c.reset(); // posts the close; the context never runs it
        }
    }
    SECTION("requests waiting for a connect that hangs")
    {
        {
            asio::io_context ioc;
            black_hole hole(ioc);
            auto cfg = config_for(hole.address(), 10s);
            cfg.connect_timeout = 10s;
            auto c = std::make_shared<memcoro::client>(ioc.get_executor(), cfg);
            for (int i = 0; i < 100; ++i)
                c->async_get(key_for(i),
                             [c, census, token = census_token(census)](
                                 std::error_code, memcoro::get_result) { ++census->called; });
            expected = 100;
            c.reset();
            ioc.run_for(50ms);
        }
    }
    INFO("expected " << expected << " handlers");
    CHECK(census->called == 0);
    CHECK(census->destroyed == expected);
}
