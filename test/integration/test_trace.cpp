// The trace hook against real memcached servers: connects, a server killed (its connection
// failures with the system error, its down transition, the calls then rejected at once), a
// server stopped for a moment (its slow request), a server back up and reconnected.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <signal.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;
using memcoro::test::wait_until;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// A trace event, its views copied.
struct seen {
    memcoro::trace_kind kind;
    memcoro::trace_level level;
    std::string server;
    std::error_code ec, cause;
    std::string command, key;
    std::chrono::microseconds latency;
};

struct recorder {
    std::vector<seen> events;

    void operator()(const memcoro::trace_event& e)
    {
        events.push_back({e.kind, e.level, std::string(e.server), e.ec, e.cause,
                          std::string(e.command), std::string(e.key), e.latency});
        UNSCOPED_INFO(memcoro::describe(e));
    }

    std::vector<seen> of(const std::string& server) const
    {
        std::vector<seen> out;
        std::copy_if(events.begin(), events.end(), std::back_inserter(out),
                     [&](const seen& e) { return e.server == server; });
        return out;
    }

    bool has(const std::string& server, memcoro::trace_kind kind) const
    {
        return std::any_of(events.begin(), events.end(),
                           [&](const seen& e) { return e.server == server && e.kind == kind; });
    }
};

/// A key that `c` places on `server`.
std::string key_on(const memcoro::client& c, const std::string& server, const std::string& tag)
{
    for (int i = 0;; ++i) {
        std::string k = "trace:" + tag + ":" + std::to_string(i);
        if (c.server_for_key(k) == server)
            return k;
    }
}

} // namespace

TEST_CASE("trace: connects, a slow request, a killed server's failures and down transition")
{
    memcached_process a, b;
    asio::io_context ioc;
    recorder rec;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            memcoro::client_config cfg = memcoro::test::base_config();
            cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
            cfg.failure_limit = 2;
            cfg.retry_interval = 1h; // once down, b is not probed: marked up by hand below
            cfg.op_timeout = 5s;
            cfg.slow_request_threshold = 150ms;
            cfg.on_trace = std::ref(rec);
            memcoro::client c(ex, cfg);
            const std::string on_a = key_on(c, a.address(), "a");
            const std::string on_b = key_on(c, b.address(), "b");

            // Both servers connect.
            co_await c.async_set(on_a, "va");
            co_await c.async_set(on_b, "vb");
            CHECK(co_await wait_until(
                [&] {
                    return rec.has(a.address(), memcoro::trace_kind::connected) &&
                           rec.has(b.address(), memcoro::trace_kind::connected);
                },
                5s));
            CHECK(rec.of(b.address()).front().level == memcoro::trace_level::info);

            // b stops for 400 ms: the get waiting for it is a slow request; fast ones are not.
            b.signal(SIGSTOP);
            asio::co_spawn(
                ex,
                [&]() -> asio::awaitable<void> {
                    co_await sleep_for(400ms);
                    b.signal(SIGCONT);
                },
                asio::detached);
            const auto got = co_await c.async_get(on_b);
            REQUIRE(got);
            CHECK(got->value == "vb");
            CHECK(co_await wait_until(
                [&] { return rec.has(b.address(), memcoro::trace_kind::slow_request); }, 5s));
            for (const auto& e : rec.events) {
                if (e.kind != memcoro::trace_kind::slow_request)
                    continue;
                CHECK(e.server == b.address());
                CHECK(e.command == "get");
                CHECK(e.key == on_b);
                CHECK(e.latency >= 350ms);
                CHECK(e.level == memcoro::trace_level::warning);
                CHECK_FALSE(e.ec);
            }
            CHECK_FALSE(rec.has(a.address(), memcoro::trace_kind::slow_request));

            // b is killed: its calls fail (the connection lost, then refused) until it is
            // marked down; then they fail at once, counted as rejected.
            b.signal(SIGKILL);
            b.wait();
            int rejected_calls = 0;
            for (int i = 0; i < 10; ++i) {
                auto [ec, r] = co_await c.async_get(on_b, tuple);
                CHECK(ec);
                if (ec == memcoro::errc::server_down)
                    ++rejected_calls;
            }
            CHECK(rejected_calls >= 7);
            CHECK(co_await wait_until(
                [&] { return rec.has(b.address(), memcoro::trace_kind::server_down); }, 5s));
            const auto bs = rec.of(b.address());
            const auto failure = std::find_if(bs.begin(), bs.end(), [](const seen& e) {
                return e.kind == memcoro::trace_kind::connection_failed;
            });
            const auto down = std::find_if(bs.begin(), bs.end(), [](const seen& e) {
                return e.kind == memcoro::trace_kind::server_down;
            });
            REQUIRE(failure != bs.end());
            CHECK(failure < down); // the failure that marked it down came first
            CHECK(failure->level == memcoro::trace_level::warning);
            // Some connection failure of b was a refused connect, with the system error.
            CHECK(std::any_of(bs.begin(), bs.end(), [](const seen& e) {
                return e.kind == memcoro::trace_kind::connection_failed &&
                       e.ec == memcoro::errc::connection_failed &&
                       e.cause == asio::error::connection_refused;
            }));
            CHECK(down->level == memcoro::trace_level::error);
            CHECK((down->ec == memcoro::errc::connection_failed ||
                   down->ec == memcoro::errc::connection_lost));
            // a saw nothing of it.
            for (const auto& e : rec.of(a.address()))
                CHECK(e.kind == memcoro::trace_kind::connected);
            // Every call that failed fast is counted, and shown in the JSON.
            const auto info = c.server(b.address());
            REQUIRE(info);
            CHECK(info->counters.rejected == static_cast<std::uint64_t>(rejected_calls));
            CHECK(c.servers_json().find("\"rejected\": " + std::to_string(rejected_calls)) !=
                  std::string::npos);
            // (Rejected calls are debug events: not reported at the default level.)
            CHECK_FALSE(rec.has(b.address(), memcoro::trace_kind::rejected));

            // b comes back and is marked up: the next call reconnects.
            b.restart();
            c.mark_server(b.address(), memcoro::server_status::up);
            co_await c.async_set(on_b, "vb2");
            CHECK(co_await wait_until(
                [&] {
                    return rec.has(b.address(), memcoro::trace_kind::server_up) &&
                           rec.has(b.address(), memcoro::trace_kind::reconnected);
                },
                5s));
        }(),
        30s);
}

TEST_CASE("trace: at debug level, each call failed fast on a down server is reported")
{
    memcached_process a;
    asio::io_context ioc;
    recorder rec;
    const auto policy = GENERATE(memcoro::down_policy::fail_fast, memcoro::down_policy::failover);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(a.address());
        cfg.retry_interval = 1h;
        cfg.trace_level = memcoro::trace_level::debug;
        cfg.on_trace = std::ref(rec);
        // With failover too, when no other server is up: failed fast all the same.
        cfg.on_down = policy;
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        c.mark_server(a.address(), memcoro::server_status::down);
        const std::vector<std::string> keys{"d1", "d2", "d3"};
        auto [ec, r] = co_await c.async_get_multi(keys, tuple);
        CHECK(ec == memcoro::errc::server_down);
        auto [ec2, v] = co_await c.async_version(tuple);
        CHECK(ec2 == memcoro::errc::server_down);
        CHECK(co_await wait_until(
            [&] {
                return std::count_if(rec.events.begin(), rec.events.end(), [](const seen& e) {
                           return e.kind == memcoro::trace_kind::rejected;
                       }) == 4;
            },
            5s));
        CHECK(rec.has(a.address(), memcoro::trace_kind::server_down)); // marked by hand
        CHECK(c.server(a.address())->counters.rejected == 4);
    }());
}

TEST_CASE("trace: no hook is called once the client is destroyed, not even for what was posted")
{
    memcached_process a;
    asio::io_context ioc;
    std::size_t traced = 0, server_events = 0, write_failures = 0;
    bool destroyed = false, called_after = false;
    {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(a.address());
        cfg.failure_limit = 1;
        cfg.trace_level = memcoro::trace_level::debug;
        cfg.on_trace = [&](const memcoro::trace_event&) {
            called_after = called_after || destroyed;
            ++traced;
        };
        cfg.on_server_event = [&](const memcoro::server_event&) {
            called_after = called_after || destroyed;
            ++server_events;
        };
        cfg.on_write_failure = [&](const memcoro::write_failure&) {
            called_after = called_after || destroyed;
            ++write_failures;
        };
        memcoro::client c(ioc.get_executor(), cfg);
        // Connected; then events posted but not yet run when the client goes: a down
        // transition by hand, fire-and-forget writes still in flight, the close's failures.
        bool done = false;
        c.async_version([&](std::error_code, std::string) { done = true; });
        while (!done)
            ioc.run_one();
        c.mark_server(a.address(), memcoro::server_status::down);
        c.send_set("gone", "v");
        c.send_delete("gone");
        ioc.poll_one();
    }
    destroyed = true;
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(500));
    CHECK_FALSE(called_after);
    INFO("before destruction: " << traced << " traced, " << server_events << " server events, "
                                << write_failures << " write failures");
    CHECK(traced >= 1); // the connect, at least, was reported while the client lived
}
