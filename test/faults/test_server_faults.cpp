// The server dies, freezes or restarts under load (scenarios 1, 2 and 7 of docs/reliability.md).
#include "faults_common.hpp"

#include <signal.h>

using namespace memcoro::faults;

namespace {

/// A failure that says "the server is not there": the connection broke or was refused, or
/// the server was marked down after repeated failures.
bool is_connection_error(std::error_code ec)
{
    return ec == memcoro::errc::connection_lost || ec == memcoro::errc::connection_failed ||
           ec == memcoro::errc::server_down;
}

} // namespace

// Scenario 1.
TEST_CASE("kill: SIGKILL with 1,000 operations in flight, each completes within its deadline",
          "[faults][kill]")
{
    constexpr int n = 1000;
    constexpr ms op_timeout = 1000ms;
    memcached_process mc;
    asio::io_context ioc;
    bool frozen_first = false;
    SECTION("every request on the wire: the server is frozen, then killed")
    {
        frozen_first = true;
    }
    SECTION("the server is killed while it is answering")
    {
        frozen_first = false;
    }
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, config_for(mc.address(), op_timeout));
        co_await preload(c, n);
        if (frozen_first)
            mc.signal(SIGSTOP);
        auto ops = std::make_shared<std::vector<outcome>>(static_cast<std::size_t>(n));
        clock::time_point killed_at;
        if (frozen_first) {
            REQUIRE(wait_stopped(mc.pid(), true));
            launch_range(c, ops, 0, n, n);
            co_await sleep_for(50ms); // written: the kernel buffers them for the frozen server
            killed_at = clock::now();
            mc.signal(SIGKILL);
        } else {
            // Batches of 50 every millisecond; the server dies after the fourth, while the
            // earlier ones are being answered, so requests are answered, on the wire and
            // queued when it dies.
            for (int b = 0; b < n / 50; ++b) {
                launch_range(c, ops, b * 50, (b + 1) * 50, n);
                if (b == 3) {
                    killed_at = clock::now();
                    mc.signal(SIGKILL);
                }
                co_await sleep_for(1ms);
            }
        }
        co_await wait_until([&] { return all_done(ops); }, op_timeout + 5s);
        const double settle_ms = to_ms(clock::now() - killed_at);
        mc.wait();

        REQUIRE(count_done(ops) == n);
        int ok = 0, lost = 0, failed = 0, down = 0, timed_out = 0, other = 0;
        for (const auto& o : *ops) {
            if (!o.ec)
                ++ok;
            else if (o.ec == memcoro::errc::connection_lost)
                ++lost;
            else if (o.ec == memcoro::errc::connection_failed)
                ++failed;
            else if (o.ec == memcoro::errc::server_down)
                ++down;
            else if (o.ec == memcoro::errc::timeout)
                ++timed_out;
            else
                ++other;
        }
        const double worst = max_latency_ms(ops);
        WARN("kill (" << (frozen_first ? "frozen first" : "while answering") << "): " << ok
                      << " ok, " << lost << " connection_lost, " << failed << " connection_failed, "
                      << down << " server_down, " << timed_out << " timeout; all done " << settle_ms
                      << " ms after SIGKILL; worst latency " << worst << " ms (op_timeout "
                      << op_timeout.count() << " ms)");
        CHECK(other == 0);
        CHECK(wrong_values(ops, n) == 0);
        CHECK(worst <= to_ms(op_timeout + load_slack));
        CHECK(ok < n); // the kill did hit requests
        if (frozen_first) {
            CHECK(ok == 0);
            CHECK(lost > 0); // the requests on the wire learn of the death at once
            CHECK(timed_out == 0);
        }
    }());
}

// Scenario 2.
TEST_CASE("stop: SIGSTOP, timeouts fire at their deadline; after SIGCONT nobody gets another's "
          "reply",
          "[faults][stop]")
{
    constexpr int keys = 300;
    constexpr ms op_timeout = 400ms;
    // memcoro merges concurrent gets into multi-key requests by default; both ways are checked.
    const bool merge = GENERATE(true, false);
    INFO((merge ? "gets merged" : "gets pipelined"));
    memcached_process mc;
    asio::io_context ioc;
    bool short_stop = true;
    SECTION("SIGCONT while the abandoned requests' replies are still owed on the connection")
    {
        short_stop = true;
    }
    SECTION("SIGCONT after the silent connection was dropped and a new one opened")
    {
        short_stop = false;
    }
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(mc.address(), op_timeout);
        // Keep sending to the frozen server: this test is about deadlines and reply matching
        // on the connection, not about marking the server down (see the restart tests).
        cfg.failure_limit = 1000000;
        if (!merge)
            cfg.merge_gets = 0;
        memcoro::client c(ex, cfg);
        co_await preload(c, keys);
        auto before = co_await c.async_stats();

        // Lateness of each timeout past its deadline, and of a bare Asio timer armed for the
        // same instant (the scheduling delay of the moment, on this loaded machine).
        double worst_late = 0, best_late = 1e9, worst_ref = 0, worst_excess = -1e9;
        auto timed_wave = [&]() -> asio::awaitable<outcomes> {
            const auto t0 = clock::now();
            auto ref = reference_timer(ex, t0 + op_timeout);
            auto ops = launch_gets(c, keys, keys);
            co_await wait_until([&] { return all_done(ops) && *ref != clock::time_point{}; },
                                op_timeout + 5s);
            REQUIRE(all_done(ops));
            const double ref_late = to_ms(*ref - (t0 + op_timeout));
            worst_ref = std::max(worst_ref, ref_late);
            for (const auto& o : *ops) {
                const double late = o.latency_ms() - to_ms(op_timeout);
                worst_late = std::max(worst_late, late);
                best_late = std::min(best_late, late);
                worst_excess = std::max(worst_excess, late - ref_late);
            }
            CHECK(count_error(ops, memcoro::errc::timeout) == keys);
            co_return ops;
        };

        mc.signal(SIGSTOP);
        REQUIRE(wait_stopped(mc.pid(), true)); // kill() only queues the signal
        const auto stopped_at = clock::now();
        co_await timed_wave();

        outcomes wave2;
        if (short_stop) {
            // wave2 is written behind wave1's abandoned requests; the server wakes up long
            // before the watchdog would drop the silent connection (stop + 2 op_timeouts).
            wave2 = launch_gets(c, keys, keys);
            mc.signal(SIGCONT);
        } else {
            // Stay frozen past the watchdog (the connection is dropped at stop + 2 timeouts);
            // wave2 goes out on a new connection the frozen server's kernel accepted.
            co_await sleep_for(stopped_at + 3 * op_timeout - clock::now());
            co_await timed_wave();
            wave2 = launch_gets(c, keys, keys);
            mc.signal(SIGCONT);
        }
        const auto resumed_at = clock::now();
        co_await wait_until([&] { return all_done(wave2); }, op_timeout + 5s);
        REQUIRE(all_done(wave2));
        CHECK(wrong_values(wave2, keys) == 0);
        if (short_stop) // answered after SIGCONT; wave1's late replies, read first, were dropped
            CHECK(right_values(wave2, keys) == keys);

        // Right after SIGCONT, while the server works through its backlog: waves of gets,
        // every success must be the caller's own key and value.
        int successes = 0, wrong = 0;
        while (clock::now() - resumed_at < 600ms) {
            auto wave = launch_gets(c, keys, keys);
            co_await wait_until([&] { return all_done(wave); }, op_timeout + 5s);
            REQUIRE(all_done(wave));
            successes += right_values(wave, keys);
            wrong += wrong_values(wave, keys);
        }
        CHECK(wrong == 0);
        CHECK(successes > 0);
        auto last = launch_gets(c, keys, keys);
        co_await wait_until([&] { return all_done(last); }, op_timeout + 5s);
        CHECK(right_values(last, keys) == keys);

        auto after = co_await c.async_stats();
        const auto reconnects =
            stat_num(after, "total_connections") - stat_num(before, "total_connections");
        if (short_stop)
            CHECK(reconnects == 0); // the late replies were drained; the connection was kept
        else
            CHECK(reconnects >= 1);
        WARN("stop (" << (short_stop ? "short" : "long") << (merge ? ", merged" : ", pipelined")
                      << "): timeouts fired " << best_late << " to " << worst_late
                      << " ms after their deadline (op_timeout " << op_timeout.count()
                      << " ms); a bare timer was " << worst_ref << " ms late, memcoro at most "
                      << worst_excess << " ms behind it (tolerance " << timer_slack.count()
                      << " ms); " << successes << " right answers after SIGCONT, " << wrong
                      << " wrong; reconnects " << reconnects);
        CHECK(best_late >= 0);
        CHECK(worst_excess <= to_ms(timer_slack));
        CHECK(worst_late <= to_ms(load_slack));
    }());
}

// Scenario 7.
TEST_CASE("restart: the client reconnects by itself after the server restarts", "[faults][restart]")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = config_for(mc.address(), 1000ms);
            cfg.failure_limit = 3;
            cfg.retry_interval = 200ms;
            // Waits that do not grow: the recovery bound below is one wait (the growing waits
            // have a test of their own).
            cfg.max_retry_interval = cfg.retry_interval;
            memcoro::client c(ex, cfg);
            co_await c.async_set("k", "before");
            co_await preload(c, 100);

            mc.signal(SIGKILL);
            mc.wait();
            {
                auto [ec, r] = co_await c.async_get("k", tuple);
                CHECK(is_connection_error(ec));
            }
            // While it is down, every call fails fast with a connection error or server_down
            // (never hangs); after failure_limit failures the server is marked down.
            double worst_down = 0;
            int down_calls = 0, marked_down = 0;
            const auto down_since = clock::now();
            while (clock::now() - down_since < 500ms) {
                const auto t = clock::now();
                auto [ec, r] = co_await c.async_get("k", tuple);
                worst_down = std::max(worst_down, to_ms(clock::now() - t));
                ++down_calls;
                CHECK(is_connection_error(ec));
                if (ec == memcoro::errc::server_down)
                    ++marked_down;
                co_await sleep_for(5ms);
            }
            CHECK(worst_down < to_ms(load_slack));
            CHECK(marked_down > 0);
            {
                auto info = c.servers();
                REQUIRE(info.size() == 1);
                CHECK(info[0].status == memcoro::server_status::down);
            }

            mc.restart();
            const auto restarted_at = clock::now();
            std::error_code last;
            std::ostringstream seen; // the errors on the way back
            for (int attempts = 0; attempts < 1000; ++attempts) {
                auto [e, st] = co_await c.async_set("k", "after", {}, tuple);
                last = e;
                if (!e)
                    break;
                if (e != memcoro::errc::server_down)
                    seen << e.message() << " at " << to_ms(clock::now() - restarted_at) << " ms; ";
                CHECK(is_connection_error(e));
                co_await sleep_for(5ms);
            }
            const double recovered_ms = to_ms(clock::now() - restarted_at);
            REQUIRE_FALSE(last);
            WARN("restart: calls failed fast while down (worst "
                 << worst_down << " ms over " << down_calls << " calls, " << marked_down
                 << " of them server_down); recovered " << recovered_ms
                 << " ms after the restart (retry_interval " << cfg.retry_interval.count()
                 << " ms); failed probes: " << seen.str());
            // The next probe is at most one wait away: retry_interval, plus its jitter.
            CHECK(recovered_ms <=
                  to_ms(cfg.retry_interval) * (1 + cfg.retry_jitter) + to_ms(load_slack));
            {
                auto info = c.servers();
                REQUIRE(info.size() == 1);
                CHECK(info[0].status == memcoro::server_status::up);
                CHECK(info[0].counters.connects == 2);
            }

            auto v = co_await c.async_get("k");
            REQUIRE(v);
            CHECK(v->value == "after");
            // The old items died with the old process; new ones are served correctly.
            auto gone = co_await c.async_get(key_for(1));
            CHECK_FALSE(gone.has_value());
            co_await preload(c, 100);
            auto again = launch_gets(c, 100, 100);
            co_await wait_until([&] { return all_done(again); }, 5s);
            CHECK(right_values(again, 100) == 100);
        }(),
        30s);
}

TEST_CASE("restart: a dead server is probed after waits that double up to max_retry_interval, "
          "never in a tight loop",
          "[faults][restart][proxy]")
{
    // The "server" accepts every connection and hangs up at once: each connection the proxy
    // counts is one attempt by the client.
    memcached_process mc;
    fault_proxy proxy(mc.port());
    proxy.set_accept_mode(fault_proxy::accept_mode::close_at_once);
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = config_for(proxy.address(), 2000ms);
            cfg.failure_limit = 3;
            cfg.retry_interval = 100ms;
            cfg.max_retry_interval = 800ms;
            cfg.retry_jitter = 0.2;
            memcoro::client c(ex, cfg);

            // A call every 2 ms for 3 s. The first failure_limit calls each try (and fail);
            // then the server is down: calls fail at once with server_down, and the client
            // probes it by itself after 100, 200, 400, 800, 800, ... ms (each ±20%).
            std::vector<clock::time_point> attempts; // when the proxy saw a new connection
            int seen = 0, failed_trying = 0, down = 0;
            double worst_down = 0;
            const auto begin = clock::now();
            while (clock::now() - begin < 3000ms) {
                const auto t = clock::now();
                auto [ec, r] = co_await c.async_get("k", tuple);
                if (ec == memcoro::errc::server_down) {
                    ++down;
                    worst_down = std::max(worst_down, to_ms(clock::now() - t));
                } else {
                    ++failed_trying;
                    CHECK(ec == memcoro::errc::connection_lost);
                }
                for (; seen < proxy.connections(); ++seen)
                    attempts.push_back(clock::now());
                co_await sleep_for(2ms);
            }
            CHECK(failed_trying == static_cast<int>(cfg.failure_limit));
            // Nominal probe times 100, 300, 700, 1500, 2300 ms after the server was marked
            // down: 5 probes, 4 to 6 with the jitter.
            const std::size_t probes = attempts.size() - cfg.failure_limit;
            CHECK(probes >= 4);
            CHECK(probes <= 6);
            REQUIRE(probes >= 3);
            std::ostringstream gaps;
            bool in_bounds = true;
            for (std::size_t i = cfg.failure_limit; i < attempts.size(); ++i) {
                const double gap = to_ms(attempts[i] - attempts[i - 1]);
                const auto k = static_cast<std::uint32_t>(i - cfg.failure_limit);
                const double nominal = std::min(100.0 * (1u << std::min(k, 8u)), 800.0);
                gaps << static_cast<int>(gap) << " (" << nominal << ") ";
                // Never early (the jitter's shortest wait less a few ms of measurement); late
                // by at most the jitter and the machine's stalls.
                in_bounds = in_bounds && gap >= nominal * 0.8 - 5 &&
                            gap <= nominal * 1.2 + to_ms(load_slack);
            }
            WARN("retry: " << attempts.size() << " connections in 3 s (" << cfg.failure_limit
                           << " by callers, then probes " << gaps.str() << "ms apart (nominal)); "
                           << down << " calls failed with server_down within " << worst_down
                           << " ms");
            CHECK(in_bounds);
            CHECK(worst_down < to_ms(load_slack));
            {
                auto info = c.servers();
                REQUIRE(info.size() == 1);
                CHECK(info[0].status == memcoro::server_status::down);
                CHECK(info[0].counters.rejected == static_cast<std::uint64_t>(down));
            }

            // The server comes back: the next probe (at most one longest wait away) finds it,
            // callers are served again.
            proxy.set_accept_mode(fault_proxy::accept_mode::normal);
            const auto back = clock::now();
            std::error_code last;
            for (int i = 0; i < 1000; ++i) {
                auto [ec, st] = co_await c.async_set("k", "v", {}, tuple);
                last = ec;
                if (!ec)
                    break;
                CHECK(ec == memcoro::errc::server_down);
                co_await sleep_for(2ms);
            }
            CHECK_FALSE(last);
            CHECK(to_ms(clock::now() - back) <=
                  to_ms(cfg.max_retry_interval) * 1.2 + to_ms(load_slack));

            // Down again: the waits start over from retry_interval.
            proxy.set_accept_mode(fault_proxy::accept_mode::close_at_once);
            proxy.drop_connections();
            co_await sleep_for(50ms); // the client sees its idle connection closed
            const int before = proxy.connections();
            const auto again = clock::now();
            while (clock::now() - again < 500ms) {
                co_await c.async_get("k", tuple);
                co_await sleep_for(2ms);
            }
            // failure_limit callers, then probes at 100 and 300 ms (±20%): 2 or 3 in 500 ms.
            const int after = proxy.connections() - before;
            WARN("down again: " << after << " connections in 500 ms");
            CHECK(after >= static_cast<int>(cfg.failure_limit) + 2);
            CHECK(after <= static_cast<int>(cfg.failure_limit) + 3);
        }(),
        30s);
}

TEST_CASE("restart: callers never wait for a server that does not answer its connects",
          "[faults][restart]")
{
    asio::io_context ioc;
    black_hole hole(ioc); // every connect attempt hangs until connect_timeout
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            auto cfg = config_for(hole.address(), 2000ms);
            cfg.connect_timeout = 60ms;
            cfg.failure_limit = 3;
            cfg.retry_interval = 200ms;
            // Exact waits that do not grow, so that the probes can be counted (the growing
            // waits have a test of their own).
            cfg.max_retry_interval = cfg.retry_interval;
            cfg.retry_jitter = 0;
            memcoro::client c(ex, cfg);

            int paid = 0, down = 0;
            double worst_down = 0;
            const auto begin = clock::now();
            while (clock::now() - begin < 2300ms) {
                const auto t = clock::now();
                auto [ec, r] = co_await c.async_get("k", tuple);
                const auto took = clock::now() - t;
                if (ec == memcoro::errc::connect_timeout) { // this call made an attempt
                    CHECK(took >= cfg.connect_timeout - 1ms);
                    ++paid;
                } else {
                    CHECK(ec == memcoro::errc::server_down);
                    worst_down = std::max(worst_down, to_ms(took));
                    ++down;
                }
                co_await sleep_for(2ms);
            }
            // Probes (the client's own, each hanging for connect_timeout) count as failures.
            auto info = c.servers();
            REQUIRE(info.size() == 1);
            const auto errors = static_cast<int>(info[0].counters.errors);
            const int probes = errors - paid;
            WARN("black hole: " << paid << " calls waited for connect_timeout ("
                                << cfg.connect_timeout.count() << " ms), " << down
                                << " failed with server_down within " << worst_down
                                << " ms; the client probed " << probes << " times in 2.3 s");
            CHECK(paid == static_cast<int>(cfg.failure_limit));
            CHECK(worst_down < to_ms(load_slack));
            CHECK(probes >= 2300 / (200 + 60) - 3);
            CHECK(probes <= 2300 / (200 + 60) + 1);
            CHECK(info[0].status == memcoro::server_status::down);
        }(),
        30s);
}
