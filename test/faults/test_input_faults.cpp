// Hostile input from the caller's side: key injection, and values the server refuses
// (scenarios 10 and 11 of docs/reliability.md).
#include "faults_common.hpp"

#include <asio/redirect_error.hpp>

#include <map>
#include <utility>

using namespace memcoro::faults;

namespace {

/// The server-side counters that any command reaching the server would move.
const std::vector<std::string>& watched_stats()
{
    static const std::vector<std::string> names = {
        "cmd_get",         "cmd_set",    "cmd_flush",   "cmd_touch",     "curr_items",
        "total_items",     "get_misses", "get_hits",    "delete_misses", "delete_hits",
        "incr_misses",     "incr_hits",  "decr_misses", "decr_hits",     "cas_misses",
        "cas_hits",        "cas_badval", "touch_hits",  "touch_misses",  "total_connections",
        "curr_connections"};
    return names;
}

std::map<std::string, std::string> watched(const memcoro::stats_result& s)
{
    std::map<std::string, std::string> out;
    for (const auto& n : watched_stats())
        out[n] = stat(s, n);
    return out;
}

} // namespace

// Scenario 10.
TEST_CASE("key injection: keys with CR LF, spaces, NUL or over 250 bytes are refused with "
          "invalid_key and nothing reaches the server",
          "[faults][keys]")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client observer(ex, mc.address());
        co_await observer.async_set("sentinel", "alive");
        auto before = co_await observer.async_stats();

        // A fresh client whose every call is invalid: it must not even connect.
        memcoro::client c(ex, mc.address());
        const std::vector<std::string> bad_keys = {
            std::string("a\r\nflush_all"),
            std::string("a\nflush_all"),
            std::string("a\rflush_all"),
            std::string("x\r\nset sentinel 0 0 4\r\nevil"),
            std::string("x 0 0 1\r\ny\r\ndelete sentinel"),
            std::string("with space"),
            std::string("tab\tkey"),
            std::string("nul\0x", 5),
            std::string("\0", 1),
            std::string(251, 'k'),
            std::string(100000, 'k'),
            std::string(),
            std::string("del\x7f"),
            std::string("ctl\x01"),
        };
        const std::vector<std::string> good = {"sentinel"};
        const memcoro::store_options opts{};
        int refused = 0, calls = 0;
        auto expect_invalid = [&](std::error_code ec) {
            ++calls;
            if (ec == memcoro::errc::invalid_key)
                ++refused;
            CHECK(ec == memcoro::errc::invalid_key);
        };
        for (const auto& bad : bad_keys) {
            INFO("key of " << bad.size() << " bytes: " << bad.substr(0, 40));
            std::vector<std::string> mixed = good;
            mixed.push_back(bad);
            std::vector<std::pair<std::string, std::string>> items;
            items.emplace_back(good.front(), "dead");
            items.emplace_back(bad, "dead");
            std::error_code ec;
            auto re = asio::redirect_error(asio::use_awaitable, ec);
            co_await c.async_get(bad, re);
            expect_invalid(ec);
            co_await c.async_gets(bad, re);
            expect_invalid(ec);
            co_await c.async_gat(bad, 10s, re);
            expect_invalid(ec);
            co_await c.async_gats(bad, 10s, re);
            expect_invalid(ec);
            co_await c.async_touch(bad, 10s, re);
            expect_invalid(ec);
            co_await c.async_set(bad, "x", opts, re);
            expect_invalid(ec);
            co_await c.async_add(bad, "x", opts, re);
            expect_invalid(ec);
            co_await c.async_replace(bad, "x", opts, re);
            expect_invalid(ec);
            co_await c.async_append(bad, "x", re);
            expect_invalid(ec);
            co_await c.async_prepend(bad, "x", re);
            expect_invalid(ec);
            co_await c.async_cas(bad, "x", 1, opts, re);
            expect_invalid(ec);
            co_await c.async_delete(bad, re);
            expect_invalid(ec);
            co_await c.async_incr(bad, 1, re);
            expect_invalid(ec);
            co_await c.async_decr(bad, 1, re);
            expect_invalid(ec);
            co_await c.async_get_multi(mixed, re);
            expect_invalid(ec);
            co_await c.async_gets_multi(mixed, re);
            expect_invalid(ec);
            co_await c.async_gat_multi(mixed, 10s, re);
            expect_invalid(ec);
            co_await c.async_set_multi(items, opts, re);
            expect_invalid(ec);
            co_await c.async_delete_multi(mixed, re);
            expect_invalid(ec);
        }
        // Server-wide commands take no key, but the stats group is checked the same way.
        const std::vector<std::string> bad_groups = {"items\r\nflush_all", "items flush_all",
                                                     std::string("items\0", 6), "slabs\n"};
        for (const auto& g : bad_groups) {
            auto [ec, s] = co_await c.async_stats(g, tuple);
            CHECK(ec == memcoro::errc::invalid_argument);
        }

        auto after = co_await observer.async_stats();
        CHECK(watched(after) == watched(before)); // not one command reached the server
        auto sentinel = co_await observer.async_get("sentinel");
        REQUIRE(sentinel);
        CHECK(sentinel->value == "alive");
        WARN("key injection: " << refused << " of " << calls << " calls with " << bad_keys.size()
                               << " hostile keys refused with invalid_key; "
                               << "the server's counters did not move");

        // Values are length-prefixed, so protocol text inside one is only data.
        const std::string payload = "x\r\nflush_all\r\nset sentinel 0 0 4\r\nevil\r\n";
        {
            auto st = co_await c.async_set("carrier", payload);
            CHECK(st == memcoro::store_status::stored);
        }
        auto back = co_await c.async_get("carrier");
        REQUIRE(back);
        CHECK(back->value == payload);
        auto end = co_await observer.async_stats();
        CHECK(stat(end, "cmd_flush") == "0");
        CHECK(stat_num(end, "cmd_set") == stat_num(before, "cmd_set") + 1);
        CHECK(stat_num(end, "curr_items") == stat_num(before, "curr_items") + 1);
        auto sentinel2 = co_await observer.async_get("sentinel");
        REQUIRE(sentinel2);
        CHECK(sentinel2->value == "alive");
        // The longest legal key works.
        {
            auto st = co_await c.async_set(std::string(250, 'k'), "max");
            CHECK(st == memcoro::store_status::stored);
        }
    }());
}

// Scenario 11.
TEST_CASE("too large: the server's SERVER_ERROR comes back as server_error with its message, "
          "and the connection stays in sync",
          "[faults][large]")
{
    memcached_process mc({"-I", "1m"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(mc.address(), 5000ms);
        cfg.max_item_size = 4 * 1024 * 1024; // larger than the server's: the server decides
        memcoro::client c(ex, cfg);
        co_await preload(c, 100);
        auto before = co_await c.async_stats();
        const std::string huge(2 * 1024 * 1024, 'h');

        // With the default token: memcoro::error names the server and quotes it.
        try {
            co_await c.async_set("huge", huge);
            FAIL("expected SERVER_ERROR");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == memcoro::errc::server_error);
            CHECK(e.server() == mc.address());
            CHECK(e.detail() == "object too large for cache");
            CHECK(std::string(e.what()).find(mc.address()) != std::string::npos);
            CHECK(std::string(e.what()).find("object too large for cache") != std::string::npos);
            WARN("too large: " << e.what());
        }

        // Pipelined between other requests: everything around it is answered correctly.
        auto ops = std::make_shared<std::vector<outcome>>(200);
        auto huge_result = std::make_shared<outcome>();
        launch_range(c, ops, 0, 100, 100);
        c.async_set("huge", huge, {}, [huge_result](std::error_code ec, memcoro::store_status) {
            huge_result->ec = ec;
            huge_result->done = true;
        });
        auto set_after = std::make_shared<outcome>();
        c.async_set("after", "ok", {}, [set_after](std::error_code ec, memcoro::store_status s) {
            set_after->ec = ec;
            set_after->done = s == memcoro::store_status::stored;
        });
        launch_range(c, ops, 100, 200, 100);
        co_await wait_until([&] { return all_done(ops) && huge_result->done; }, 10s);
        REQUIRE(all_done(ops));
        CHECK(right_values(ops, 100) == 200);
        CHECK(huge_result->ec == memcoro::errc::server_error);
        CHECK(set_after->done);
        auto after_value = co_await c.async_get("after");
        REQUIRE(after_value);
        CHECK(after_value->value == "ok");
        auto missing = co_await c.async_get("huge");
        CHECK_FALSE(missing.has_value());

        // Still the same connection: nothing was reset.
        auto after = co_await c.async_stats();
        CHECK(stat(after, "total_connections") == stat(before, "total_connections"));

        // Above the client's own limit: refused before anything is sent.
        const auto sets_before = stat_num(after, "cmd_set");
        auto [ec, st] =
            co_await c.async_set("k", std::string(cfg.max_item_size + 1, 'x'), {}, tuple);
        CHECK(ec == memcoro::errc::value_too_large);
        auto end = co_await c.async_stats();
        CHECK(stat_num(end, "cmd_set") == sets_before);
    }());
}
