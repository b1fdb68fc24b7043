// Pipelining on one connection: concurrency, timeouts and cancellation never shift replies.
#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/fake_server.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"
#include "../support/stat.hpp"

#include <memcoro/client.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <signal.h>

#include <vector>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using memcoro::test::config_for;
using memcoro::test::fake_server;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;
using memcoro::test::stat;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

} // namespace

TEST_CASE("1,000 concurrent coroutines on one connection each get their own value", "[memcached]")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, memcoro::test::config_for(mc.address()));
        auto before = co_await c.async_stats();

        constexpr int n = 1000;
        int ok = 0, wrong = 0, done = 0;
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    const std::string key = "key:" + std::to_string(i);
                    const std::string value = "value:" + std::to_string(i * 7919);
                    co_await c.async_set(key, value);
                    auto r = co_await c.async_get(key);
                    if (r && r->key == key && r->value == value)
                        ++ok;
                    else
                        ++wrong;
                },
                [&](std::exception_ptr e) {
                    ++done;
                    if (e)
                        ++wrong;
                });
        }
        while (done < n)
            co_await sleep_for(1ms);
        CHECK(ok == n);
        CHECK(wrong == 0);
        // All of it went over the one connection the client opened first.
        auto after = co_await c.async_stats();
        CHECK(stat(after, "total_connections") == stat(before, "total_connections"));
        CHECK(std::stoll(stat(after, "cmd_get")) - std::stoll(stat(before, "cmd_get")) == n);
    }());
}

TEST_CASE("concurrent gets are merged into multi-key requests, each caller answered alone")
{
    fake_server server(0ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 5s));
        co_await c.async_version();
        const int before = server.lines();
        constexpr int n = 200;
        int done = 0, right = 0;
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    const std::string k = "m" + std::to_string(i);
                    auto r = co_await c.async_get(k);
                    if (r && r->key == k && r->value == "value-of-" + k)
                        ++right;
                },
                [&](std::exception_ptr) { ++done; });
        while (done < n)
            co_await sleep_for(1ms);
        CHECK(right == n);
        const int lines = server.lines() - before;
        CHECK(lines >= 2);     // at most 100 keys per merged request
        CHECK(lines <= n / 4); // far fewer requests than gets
        UNSCOPED_INFO("200 concurrent gets went out as " << lines << " requests");

        // Merging off: one request per get.
        auto cfg = config_for(server.address(), 5s);
        cfg.merge_gets = 0;
        memcoro::client plain(ex, cfg);
        co_await plain.async_version();
        const int before2 = server.lines();
        done = 0;
        for (int i = 0; i < 20; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    co_await plain.async_get("p" + std::to_string(i));
                },
                [&](std::exception_ptr) { ++done; });
        while (done < 20)
            co_await sleep_for(1ms);
        CHECK(server.lines() - before2 == 20);
    }());
}

TEST_CASE("large values written while the socket is full arrive whole and in order", "[memcached]")
{
    // 16 concurrent sets of 700 KB values fill the socket many times over: each write is cut
    // short, waits for room and goes on from the byte where it stopped.
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, memcoro::test::config_for(mc.address()));
        constexpr int n = 16;
        std::vector<std::string> values;
        for (int i = 0; i < n; ++i) {
            std::string v(700 * 1024 + i, ' ');
            for (std::size_t j = 0; j < v.size(); ++j)
                v[j] = static_cast<char>('a' + (j * 7 + static_cast<std::size_t>(i)) % 26);
            values.push_back(std::move(v));
        }
        int done = 0, stored = 0;
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    auto st = co_await c.async_set("big:" + std::to_string(i), values[i]);
                    if (st == memcoro::store_status::stored)
                        ++stored;
                    // a small request right behind each large one
                    co_await c.async_set("small:" + std::to_string(i), "s");
                },
                [&](std::exception_ptr) { ++done; });
        co_await memcoro::test::wait_until([&] { return done == n; }, 10s);
        REQUIRE(done == n);
        CHECK(stored == n);
        int right = 0;
        for (int i = 0; i < n; ++i) {
            auto v = co_await c.async_get("big:" + std::to_string(i));
            if (v && v->value == values[i])
                ++right;
        }
        CHECK(right == n);
        auto small = co_await c.async_get("small:7");
        REQUIRE(small);
        CHECK(small->value == "s");
    }());
}

TEST_CASE("a cancelled request's late reply never reaches a later caller")
{
    fake_server server(300ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 5s));
        co_await c.async_version(); // connected

        // The stalled get is cancelled after 50 ms, while its reply is still owed.
        asio::steady_timer timer(ex, 50ms);
        auto first = co_await (c.async_get("stall-1", tuple) || timer.async_wait(tuple));
        CHECK(first.index() == 1);

        // Later requests on the same connection: each gets its own key's value, never
        // "value-of-stall-1", although that reply arrives first.
        std::vector<std::string> keys;
        for (int i = 0; i < 20; ++i)
            keys.push_back("k" + std::to_string(i));
        int done = 0, right = 0;
        for (const auto& k : keys)
            asio::co_spawn(
                ex,
                [&, k]() -> asio::awaitable<void> {
                    auto r = co_await c.async_get(k);
                    if (r && r->key == k && r->value == "value-of-" + k)
                        ++right;
                },
                [&](std::exception_ptr) { ++done; });
        while (done < 20)
            co_await sleep_for(1ms);
        CHECK(right == 20);
        auto single = co_await c.async_get("after");
        REQUIRE(single);
        CHECK(single->value == "value-of-after");
        CHECK(server.connections() == 1); // the reply was drained, the connection kept
    }());
}

TEST_CASE("a cancelled multi-get into the caller's result never writes into it afterwards")
{
    // Run under AddressSanitizer, a late write into the freed result would be reported.
    fake_server server(200ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 5s));
        co_await c.async_version();

        std::vector<std::string> keys;
        keys.push_back("stall-m");
        for (int i = 0; i < 50; ++i)
            keys.push_back("m" + std::to_string(i));
        auto out = std::make_unique<memcoro::get_multi_result>();
        out->hits.resize(3); // items from an earlier call, to be reused
        asio::steady_timer timer(ex, 30ms);
        auto r = co_await (c.async_get_multi_into(keys, *out, tuple) || timer.async_wait(tuple));
        CHECK(r.index() == 1);
        out.reset(); // the caller's result is gone while its reply is still owed

        // The late reply is read and dropped; the next calls get their own values.
        memcoro::get_multi_result next;
        co_await c.async_get_multi_into(keys, next);
        REQUIRE(next.hits.size() == keys.size());
        CHECK(next.hits[1].value == "value-of-m0");
        CHECK(next.hits.back().value == "value-of-m49");
        auto single = co_await c.async_get("after");
        REQUIRE(single);
        CHECK(single->value == "value-of-after");
        CHECK(server.connections() == 1);
    }());
}

TEST_CASE("timed-out requests are drained; the connection keeps serving afterwards")
{
    // The late reply comes 150 ms after the timeout, and the request sent behind it has a
    // whole timeout (300 ms) for its own reply: room for a loaded machine.
    fake_server server(450ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 300ms));
        co_await c.async_version();

        const auto start = std::chrono::steady_clock::now();
        auto [ec, r] = co_await c.async_get("stall-2", tuple);
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(ec == memcoro::errc::timeout);
        CHECK(took >= 300ms);
        CHECK(took < 440ms);

        // Sent behind the stalled request: its reply comes right after the late one, which
        // is read and dropped, so this caller gets its own value, not "value-of-stall-2".
        auto behind = co_await c.async_get("behind");
        REQUIRE(behind);
        CHECK(behind->value == "value-of-behind");
        for (int i = 0; i < 10; ++i) {
            const std::string k = "fresh" + std::to_string(i);
            auto v = co_await c.async_get(k);
            REQUIRE(v);
            CHECK(v->value == "value-of-" + k);
        }
        CHECK(server.connections() == 1);
    }());
}

TEST_CASE("a server that stops answering is dropped and the next connection serves")
{
    fake_server server(60s); // the stalled connection never answers again
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 100ms));
        auto [ec, r] = co_await c.async_get("stall-forever", tuple);
        CHECK(ec == memcoro::errc::timeout);
        // After a whole timeout of silence beyond the deadline, the connection is reset.
        co_await sleep_for(400ms);
        auto v = co_await c.async_get("next");
        REQUIRE(v);
        CHECK(v->value == "value-of-next");
        CHECK(server.connections() == 2);
    }());
}

TEST_CASE("a request queued behind a stalled server goes out on the next connection")
{
    fake_server server(60s); // the stalled connection never answers again
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 300ms));
        const auto t0 = std::chrono::steady_clock::now();
        auto [ec, r] = co_await c.async_get("stall-forever", tuple);
        CHECK(ec == memcoro::errc::timeout);
        // The stalled request is still on the wire: a request made now waits for the
        // connection's next replies instead of being written behind it. None come; a timeout
        // of silence after the stalled request's deadline (at ~600 ms) the connection is
        // reset, and the waiting request goes out on the next one, before its own deadline
        // (~750 ms).
        co_await sleep_for(450ms - (std::chrono::steady_clock::now() - t0));
        auto [ec2, v] = co_await c.async_get("behind", tuple);
        CHECK_FALSE(ec2);
        REQUIRE(v);
        CHECK(v->value == "value-of-behind");
        CHECK(server.connections() == 2);
    }());
}

TEST_CASE("a request cancelled before it is written is never sent")
{
    fake_server server(0ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(server.address(), 5s));
        // Not connected yet: the request waits for the connection. A timer that is already
        // due cancels it first.
        asio::steady_timer timer(ex, std::chrono::steady_clock::now());
        auto r = co_await (c.async_get("never-sent", tuple) || timer.async_wait(tuple));
        CHECK(r.index() == 1);
        auto v = co_await c.async_get("sent");
        REQUIRE(v);
        auto seen = server.requested();
        CHECK(std::find(seen.begin(), seen.end(), "never-sent") == seen.end());
        CHECK(std::find(seen.begin(), seen.end(), "sent") != seen.end());
    }());
}

TEST_CASE("connection errors name the server and come back quickly")
{
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        {
            memcoro::client c(ex, "127.0.0.1:1");
            const auto start = std::chrono::steady_clock::now();
            try {
                co_await c.async_get("k");
                FAIL("expected an error");
            } catch (const memcoro::error& e) {
                CHECK(e.code() == memcoro::errc::connection_failed);
                CHECK(e.server() == "127.0.0.1:1");
                CHECK(std::string(e.what()).find("127.0.0.1:1") != std::string::npos);
            }
            CHECK(std::chrono::steady_clock::now() - start < 500ms);
            auto [ec, r] = co_await c.async_get("k", tuple);
            CHECK(ec == memcoro::errc::connection_failed);
            auto [ec3, r3] = co_await c.async_get("k", tuple);
            CHECK(ec3 == memcoro::errc::connection_failed);
            // Three consecutive failures (the default failure_limit) mark the server down:
            // further calls fail at once without touching the network.
            auto [ec4, r4] = co_await c.async_get("k", tuple);
            CHECK(ec4 == memcoro::errc::server_down);
            auto info = c.server("127.0.0.1:1");
            REQUIRE(info);
            CHECK(info->status == memcoro::server_status::down);
            CHECK(info->counters.errors == 3);
        }
        {
            memcoro::client c(ex, "no-such-host.invalid:11211");
            auto [ec, r] = co_await c.async_get("k", tuple);
            CHECK(ec == memcoro::errc::resolve_failed);
        }
    }());
}

TEST_CASE("the client reconnects after the server restarts", "[memcached]")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(mc.address(), 1s);
        cfg.retry_interval = 20ms;
        memcoro::client c(ex, cfg);
        co_await c.async_set("k", "before");
        mc.signal(SIGKILL);
        mc.wait();
        auto [ec, r] = co_await c.async_get("k", tuple);
        CHECK((ec == memcoro::errc::connection_lost || ec == memcoro::errc::connection_failed));
        mc.restart();
        // The client comes back by itself once the retry delay has passed.
        std::error_code last;
        for (int i = 0; i < 100; ++i) {
            auto [e, st] = co_await c.async_set("k", "after", {}, tuple);
            last = e;
            if (!e)
                break;
            co_await sleep_for(20ms);
        }
        CHECK_FALSE(last);
        auto v = co_await c.async_get("k");
        REQUIRE(v);
        CHECK(v->value == "after");
    }());
}

TEST_CASE("Unix socket servers")
{
    auto mc = memcached_process::unix_socket();
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc->socket_path()));
        co_await c.async_set("unix", "yes");
        auto v = co_await c.async_get("unix");
        REQUIRE(v);
        CHECK(v->value == "yes");
    }());
}

TEST_CASE("closing the client completes pending operations with operation_aborted")
{
    fake_server server(500ms);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto c = std::make_unique<memcoro::client>(ex, config_for(server.address(), 5s));
        co_await c->async_version();
        std::error_code got;
        bool done = false;
        c->async_get("stall-3", [&](std::error_code ec, memcoro::get_result) {
            got = ec;
            done = true;
        });
        co_await sleep_for(20ms);
        c.reset(); // destroy with the request in flight
        while (!done)
            co_await sleep_for(1ms);
        CHECK(got == asio::error::operation_aborted);
    }());
}

TEST_CASE("destroying the io_context with requests in flight frees everything")
{
    fake_server server(5s);
    int completed = 0;
    {
        asio::io_context ioc;
        auto c = std::make_shared<memcoro::client>(ioc.get_executor(),
                                                   config_for(server.address(), 10s));
        for (int i = 0; i < 10; ++i)
            asio::co_spawn(
                ioc,
                [c, i]() -> asio::awaitable<void> {
                    co_await c->async_get("stall-" + std::to_string(i));
                },
                [&](std::exception_ptr) { ++completed; });
        ioc.run_for(100ms);
        // The coroutines own the client and are suspended inside it: only the context's
        // destruction can break that cycle (AddressSanitizer reports a leak otherwise).
    }
    CHECK(completed == 0);
}

TEST_CASE("a server's latency histogram counts each request in the bucket of its latency")
{
    fake_server server(60ms); // answers keys starting with "stall" after 60 ms
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(server.address()));
        const auto t0 = std::chrono::steady_clock::now();
        const auto r = co_await c.async_get("stall-latency");
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - t0);
        REQUIRE(r);
        const auto info = c.server(server.address());
        REQUIRE(info);
        CHECK(info->counters.requests == 1);
        const auto& h = info->counters.latency;
        std::uint64_t total = 0;
        std::size_t bucket = 0;
        for (std::size_t b = 0; b < h.buckets; ++b)
            if (h.counts[b] > 0) {
                total += h.counts[b];
                bucket = b;
            }
        REQUIRE(total == 1);
        // The request took at least the stall and at most what the caller saw: its bucket's
        // upper bound is above the stall, the one below it at most the caller's latency.
        CAPTURE(bucket, took.count());
        CHECK(h.upper_us(bucket) > 60'000);
        CHECK((bucket == 0 || h.upper_us(bucket - 1) <= static_cast<std::uint64_t>(took.count())));
        c.close();
    }());
}
