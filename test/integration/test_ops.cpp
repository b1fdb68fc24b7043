// Every client operation against a real memcached: success and failure outcomes.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>

#include <algorithm>
#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::wait_until;

namespace {
constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

TEST_CASE("get/set/add/replace/append/prepend outcomes")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));

        {
            auto v1_ = co_await c.async_get("missing");
            CHECK_FALSE(v1_.has_value());
        }

        auto stored = co_await c.async_set("k", "v1", {.expiry = 0s, .flags = 42});
        CHECK(stored == memcoro::store_status::stored);
        auto r = co_await c.async_get("k");
        REQUIRE(r);
        CHECK(r->key == "k");
        CHECK(r->value == "v1");
        CHECK(r->flags == 42);
        CHECK(r->cas == 0);

        {
            auto v2_ = co_await c.async_add("k", "x");
            CHECK(v2_ == memcoro::store_status::not_stored);
        }
        {
            auto v3_ = co_await c.async_add("k2", "x");
            CHECK(v3_ == memcoro::store_status::stored);
        }
        {
            auto v4_ = co_await c.async_replace("nope", "x");
            CHECK(v4_ == memcoro::store_status::not_stored);
        }
        {
            auto v5_ = co_await c.async_replace("k2", "y");
            CHECK(v5_ == memcoro::store_status::stored);
        }
        {
            auto v6_ = co_await c.async_get("k2");
            CHECK(v6_->value == "y");
        }

        {
            auto v7_ = co_await c.async_append("k", "-tail");
            CHECK(v7_ == memcoro::store_status::stored);
        }
        {
            auto v8_ = co_await c.async_prepend("k", "head-");
            CHECK(v8_ == memcoro::store_status::stored);
        }
        {
            auto v9_ = co_await c.async_get("k");
            CHECK(v9_->value == "head-v1-tail");
        }
        {
            auto v10_ = co_await c.async_get("k");
            CHECK(v10_->flags == 42);
        }
        {
            auto v11_ = co_await c.async_append("nope", "x");
            CHECK(v11_ == memcoro::store_status::not_stored);
        }
        {
            auto v12_ = co_await c.async_prepend("nope", "x");
            CHECK(v12_ == memcoro::store_status::not_stored);
        }

        // Binary-safe values: NUL, CR LF, "END" lines inside the data.
        const char raw[] = "a\0b\r\nEND\r\nVALUE x 0 1\r\n";
        std::string binary(raw, sizeof raw - 1);
        binary += std::string(1, '\xff');
        {
            auto v13_ = co_await c.async_set("bin", binary);
            CHECK(v13_ == memcoro::store_status::stored);
        }
        {
            auto v14_ = co_await c.async_get("bin");
            CHECK(v14_->value == binary);
        }

        // Empty value.
        {
            auto v15_ = co_await c.async_set("empty", "");
            CHECK(v15_ == memcoro::store_status::stored);
        }
        auto e = co_await c.async_get("empty");
        REQUIRE(e);
        CHECK(e->value.empty());
    }());
}

TEST_CASE("gets and cas")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        co_await c.async_set("k", "1");
        auto r = co_await c.async_gets("k");
        REQUIRE(r);
        CHECK(r->cas != 0);
        {
            auto v16_ = co_await c.async_cas("k", "2", r->cas);
            CHECK(v16_ == memcoro::store_status::stored);
        }
        {
            auto v17_ = co_await c.async_cas("k", "3", r->cas);
            CHECK(v17_ == memcoro::store_status::exists);
        }
        {
            auto v18_ = co_await c.async_get("k");
            CHECK(v18_->value == "2");
        }
        {
            auto v19_ = co_await c.async_cas("gone", "3", 12345);
            CHECK(v19_ == memcoro::store_status::not_found);
        }
    }());
}

TEST_CASE("delete, touch, gat, incr and decr")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        co_await c.async_set("k", "v");
        {
            auto v20_ = co_await c.async_delete("k");
            CHECK(v20_ == memcoro::delete_status::deleted);
        }
        {
            auto v21_ = co_await c.async_delete("k");
            CHECK(v21_ == memcoro::delete_status::not_found);
        }

        co_await c.async_set("t", "v");
        {
            auto v22_ = co_await c.async_touch("t", 100s);
            CHECK(v22_ == memcoro::touch_status::touched);
        }
        {
            auto v23_ = co_await c.async_touch("none", 100s);
            CHECK(v23_ == memcoro::touch_status::not_found);
        }
        auto g = co_await c.async_gat("t", 200s);
        REQUIRE(g);
        CHECK(g->value == "v");
        auto gs = co_await c.async_gats("t", 200s);
        REQUIRE(gs);
        CHECK(gs->cas != 0);
        {
            auto v24_ = co_await c.async_gat("none", 1s);
            CHECK_FALSE(v24_.has_value());
        }
        // A negative expiry expires the item at once.
        {
            auto v25_ = co_await c.async_touch("t", -1s);
            CHECK(v25_ == memcoro::touch_status::touched);
        }
        {
            auto v26_ = co_await c.async_get("t");
            CHECK_FALSE(v26_.has_value());
        }

        co_await c.async_set("n", "10");
        {
            auto v27_ = co_await c.async_incr("n", 5);
            CHECK(v27_ == memcoro::arith_result(15));
        }
        {
            auto v28_ = co_await c.async_decr("n", 20);
            CHECK(v28_ == memcoro::arith_result(0));
        }
        {
            auto v29_ = co_await c.async_incr("nothing", 1);
            CHECK_FALSE(v29_.has_value());
        }
        co_await c.async_set("big", "18446744073709551615");
        {
            auto v30_ = co_await c.async_incr("big", 2);
            CHECK(v30_ == memcoro::arith_result(1)); // 64-bit wrap
        }

        co_await c.async_set("text", "abc");
        auto [ec, v] = co_await c.async_incr("text", 1, tuple);
        CHECK(ec == memcoro::errc::client_error);
        // The connection is still in sync afterwards.
        {
            auto v31_ = co_await c.async_get("text");
            CHECK(v31_->value == "abc");
        }
    }());
}

TEST_CASE("expiry is honoured")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        co_await c.async_set("short", "v", {.expiry = 1s});
        {
            auto v32_ = co_await c.async_get("short");
            CHECK(v32_.has_value());
        }
        asio::steady_timer t(co_await asio::this_coro::executor, 2100ms);
        co_await t.async_wait(asio::use_awaitable);
        {
            auto v33_ = co_await c.async_get("short");
            CHECK_FALSE(v33_.has_value());
        }
    }());
}

TEST_CASE("multi-get returns hits in request order and skips misses")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        for (int i = 0; i < 100; i += 2)
            co_await c.async_set("m" + std::to_string(i), "v" + std::to_string(i));
        std::vector<std::string> keys;
        for (int i = 0; i < 100; ++i)
            keys.push_back("m" + std::to_string(i));
        auto r = co_await c.async_get_multi(keys);
        REQUIRE(r.hits.size() == 50);
        CHECK(r.errors.empty());
        for (std::size_t i = 0; i < r.hits.size(); ++i) {
            CHECK(r.hits[i].key == "m" + std::to_string(2 * i));
            CHECK(r.hits[i].value == "v" + std::to_string(2 * i));
        }
        CHECK(r.find("m4") != nullptr);
        CHECK(r.find("m5") == nullptr);

        const std::vector<std::string_view> three{"m0", "m1", "m2"};
        auto rs = co_await c.async_gets_multi(three);
        REQUIRE(rs.hits.size() == 2);
        CHECK(rs.hits[0].cas != 0);

        const std::vector<std::string> two{"m0", "m2"};
        auto rg = co_await c.async_gat_multi(two, 100s);
        CHECK(rg.hits.size() == 2);

        auto none = co_await c.async_get_multi(std::vector<std::string>{});
        CHECK(none.hits.empty());
    }());
}

TEST_CASE("multi-get says per key what happened: hit, miss or error with its code")
{
    memcached_process a, b;
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            memcoro::client_config cfg = memcoro::test::base_config();
            cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
            cfg.retry_interval = 1h; // once down, b stays down: no probe
            memcoro::client c(co_await asio::this_coro::executor, cfg);
            // Every third key stored; the first key asked again at the end.
            std::vector<std::string> keys;
            for (int i = 0; i < 30; ++i) {
                keys.push_back("outcome:" + std::to_string(i));
                if (i % 3 == 0)
                    co_await c.async_set(keys.back(), "v" + std::to_string(i));
            }
            keys.push_back(keys[0]);
            const auto number = [&](std::size_t i) { return static_cast<int>(i % 30); };
            std::size_t on_b = 0;
            for (const auto& k : keys)
                on_b += c.server_for_key(k) == b.address();
            REQUIRE(on_b > 0);
            REQUIRE(on_b < keys.size());

            // `dead`: the keys of b fail; `code`: with which error (any connection-level one
            // if empty).
            const auto check = [&](const memcoro::get_multi_result& r, bool dead,
                                   std::error_code code) {
                REQUIRE(r.outcomes().size() == keys.size());
                std::size_t i = 0, hits = 0, misses = 0, errors = 0;
                for (const memcoro::key_outcome& o : r.outcomes()) {
                    INFO("key " << keys[i]);
                    CHECK(o.key == keys[i]);
                    if (dead && c.server_for_key(keys[i]) == b.address()) {
                        CHECK(o.status == memcoro::key_status::error);
                        if (code)
                            CHECK(o.ec == code);
                        else
                            CHECK((o.ec == memcoro::errc::connection_failed ||
                                   o.ec == memcoro::errc::connection_lost));
                        ++errors;
                    } else if (number(i) % 3 == 0) {
                        CHECK(o.status == memcoro::key_status::hit);
                        REQUIRE(o.hit);
                        CHECK(o.hit->value == "v" + std::to_string(number(i)));
                        ++hits;
                    } else {
                        CHECK(o.status == memcoro::key_status::miss);
                        ++misses;
                    }
                    ++i;
                }
                CHECK(r.hits.size() == hits);
                CHECK(r.misses.size() == misses);
                CHECK(r.errors.size() == errors);
                CHECK(errors == (dead ? on_b : 0));
            };

            auto r = co_await c.async_get_multi(keys);
            check(r, false, {});
            CHECK(r.misses.size() == 20);
            CHECK(r.hits.size() == 11); // key 0 twice
            CHECK(r.outcome("outcome:1")->status == memcoro::key_status::miss);
            CHECK_FALSE(r.outcome("outcome:99"));
            memcoro::get_multi_result into;
            co_await c.async_get_multi_into(keys, into);
            check(into, false, {});
            co_await c.async_gets_multi_into(keys, into);
            check(into, false, {});

            // b dies: its keys are errors (its connection lost or refused), a's are not.
            b.signal(SIGKILL);
            b.wait();
            co_await c.async_get_multi_into(keys, into);
            check(into, true, {});
            r = co_await c.async_get_multi(keys);
            check(r, true, {});

            // b marked down: its keys fail at once with server_down.
            c.mark_server(b.address(), memcoro::server_status::down);
            co_await c.async_get_multi_into(keys, into);
            check(into, true, memcoro::errc::server_down);
            r = co_await c.async_get_multi(keys);
            check(r, true, memcoro::errc::server_down);
        }(),
        30s);
}

TEST_CASE("multi-key gat and gats of long keys go out in lines memcached accepts")
{
    // memcached closes the connection on a gat/gats line of more than 2048 bytes (get and gets
    // lines may be of any length): 100 keys of 200 bytes must be split by length, not only
    // by count.
    memcached_process a, b;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client one(ex, memcoro::test::config_for(a.address()));
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
        memcoro::client two(ex, cfg);
        std::vector<std::string> keys;
        for (int i = 0; i < 100; ++i) {
            std::string k = "gat:" + std::to_string(i) + ":";
            k.resize(200, 'k');
            keys.push_back(k);
            if (i % 4 != 3) { // a quarter of them are misses
                co_await one.async_set(k, "v" + std::to_string(i));
                co_await two.async_set(k, "v" + std::to_string(i));
            }
        }
        for (memcoro::client* c : {&one, &two}) {
            memcoro::get_multi_result results[4];
            results[0] = co_await c->async_gat_multi(keys, 100s);
            results[1] = co_await c->async_gats_multi(keys, 100s);
            co_await c->async_gat_multi_into(keys, 100s, results[2]);
            co_await c->async_gats_multi_into(keys, 100s, results[3]);
            for (int v = 0; v < 4; ++v) {
                const auto& r = results[v];
                CAPTURE(v);
                CHECK(r.errors.empty());
                REQUIRE(r.hits.size() == 75);
                for (std::size_t h = 0; h < r.hits.size(); ++h) {
                    const std::size_t i = h / 3 * 4 + h % 3;
                    CHECK(r.hits[h].key == keys[i]);
                    CHECK(r.hits[h].value == "v" + std::to_string(i));
                    // gats carries each hit's CAS unique, gat none
                    CHECK((r.hits[h].cas != 0) == (v % 2 == 1));
                }
            }
            // No connection was lost on the way: one per server.
            for (const auto& info : c->servers()) {
                CHECK(info.counters.connects == 1);
                CHECK(info.counters.errors == 0);
            }
        }
    }());
}

TEST_CASE("server-wide commands: version, stats, flush_all, verbosity")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        auto v = co_await c.async_version();
        CHECK(v.find('.') != std::string::npos);

        auto s = co_await c.async_stats();
        bool has_pid = false;
        for (auto& [k, val] : s)
            if (k == "pid")
                has_pid = val == std::to_string(mc.pid());
        CHECK(has_pid);
        co_await c.async_set("a", "b");
        const std::vector<std::string> groups{"items", "slabs", "sizes", "settings"};
        for (const auto& group : groups) {
            auto g = co_await c.async_stats(group);
            CHECK_FALSE(g.empty());
        }
        auto [bad, none] = co_await c.async_stats("detail dump", tuple);
        CHECK(bad == memcoro::errc::invalid_argument);

        co_await c.async_verbosity(1);
        co_await c.async_flush_all();
        {
            auto v34_ = co_await c.async_get("a");
            CHECK_FALSE(v34_.has_value());
        }
        co_await c.async_set("a", "b");
        co_await c.async_flush_all(2s);
        {
            auto v35_ = co_await c.async_get("a");
            CHECK(v35_.has_value()); // not yet
        }
    }());
}

TEST_CASE("invalid keys are refused before anything is sent")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        co_await c.async_set("victim", "alive");
        // On the meta protocol keys of any bytes go base64-encoded (see "binary keys"): only
        // the length limits remain.
        const bool meta = memcoro::test::test_protocol() != memcoro::protocol::text;
        const std::vector<std::string> bad_keys =
            meta ? std::vector<std::string>{std::string(251, 'k'), std::string(),
                                            std::string(187, ' '), std::string(200, '\0')}
                 : std::vector<std::string>{std::string("a\r\nflush_all"),
                                            std::string("with space"),
                                            std::string("nul\0x", 5),
                                            std::string(251, 'k'),
                                            std::string(),
                                            std::string("tab\tkey"),
                                            std::string("del\x7f")};
        for (const auto& bad : bad_keys) {
            auto [ec, r] = co_await c.async_get(bad, tuple);
            CHECK(ec == memcoro::errc::invalid_key);
            auto [ec2, s] = co_await c.async_set(bad, "x", {}, tuple);
            CHECK(ec2 == memcoro::errc::invalid_key);
            const std::vector<std::string> mixed{"ok", bad};
            auto [ec3, m] = co_await c.async_get_multi(mixed, tuple);
            CHECK(ec3 == memcoro::errc::invalid_key);
        }
        {
            auto v36_ = co_await c.async_set(std::string(250, 'k'), "max");
            CHECK(v36_ == memcoro::store_status::stored);
        }
        // Nothing was flushed, and the server never saw a bad command.
        {
            auto v37_ = co_await c.async_get("victim");
            CHECK(v37_->value == "alive");
        }
        auto s = co_await c.async_stats();
        for (auto& [k, v] : s)
            if (k == "cmd_flush")
                CHECK(v == "0");
    }());
}

TEST_CASE("errors: exceptions name the server, error codes via as_tuple and redirect_error")
{
    memcached_process mc({"-I", "1m"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(mc.address());
        cfg.max_item_size = 4 * 1024 * 1024; // larger than the server's, to reach the server
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        std::string huge(2 * 1024 * 1024, 'x');
        try {
            co_await c.async_set("huge", huge);
            FAIL("expected an exception");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == memcoro::errc::server_error);
            CHECK(e.server() == mc.address());
            CHECK(std::string(e.what()).find(mc.address()) != std::string::npos);
            CHECK_FALSE(e.detail().empty());
        }
        std::error_code ec;
        co_await c.async_set("huge", huge, {}, asio::redirect_error(asio::use_awaitable, ec));
        CHECK(ec == memcoro::errc::server_error);
        // Still in sync.
        co_await c.async_set("after", "ok");
        {
            auto v38_ = co_await c.async_get("after");
            CHECK(v38_->value == "ok");
        }

        memcoro::client_config small = cfg;
        small.max_item_size = 1000;
        memcoro::client c2(co_await asio::this_coro::executor, small);
        auto [ec2, st] = co_await c2.async_set("k", std::string(1001, 'x'), {}, tuple);
        CHECK(ec2 == memcoro::errc::value_too_large);
    }());
}

TEST_CASE("other completion tokens: callback, use_future, deferred")
{
    memcached_process mc;
    asio::io_context ioc;
    memcoro::client c(ioc.get_executor(), memcoro::test::config_for(mc.address()));
    bool called = false;
    c.async_set("cb", "v", {}, [&](std::error_code ec, memcoro::store_status s) {
        CHECK_FALSE(ec);
        CHECK(s == memcoro::store_status::stored);
        called = true;
    });
    CHECK_FALSE(called); // never called from inside the initiating function
    while (!called)
        ioc.run_one();

    std::thread runner([&] { ioc.run_for(5s); });
    auto fut = c.async_get("cb", asio::use_future);
    auto r = fut.get();
    REQUIRE(r);
    CHECK(r->value == "v");
    CHECK_FALSE(c.async_version(asio::use_future).get().empty());

    // deferred: nothing happens until the deferred operation is launched with a token.
    auto deferred_get = c.async_get("cb", asio::experimental::deferred);
    auto launched = std::move(deferred_get)(asio::use_future);
    auto d = launched.get();
    REQUIRE(d);
    CHECK(d->value == "v");
    c.close();
    runner.join();
}

TEST_CASE("get_into fills the caller's item, reuses its capacity, and counts hits and misses")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        const std::string big(1000, 'x');
        {
            auto st = co_await c.async_set("into:big", big, {.expiry = 0s, .flags = 7});
            CHECK(st == memcoro::store_status::stored);
        }
        {
            auto st = co_await c.async_set("into:small", "abc");
            CHECK(st == memcoro::store_status::stored);
        }

        memcoro::item out;
        const bool hit = co_await c.async_get_into("into:big", out);
        CHECK(hit);
        CHECK(out.key == "into:big");
        CHECK(out.value == big);
        CHECK(out.flags == 7);
        CHECK(out.cas == 0);

        // The hit is written into a spare item of the client's and swapped into `out` once
        // the reply is complete; `out`'s old strings become spares (test_alloc counts the
        // allocations: none once warm).
        const bool hit2 = co_await c.async_get_into("into:small", out);
        CHECK(hit2);
        CHECK(out.key == "into:small");
        CHECK(out.value == "abc");
        CHECK(out.flags == 0);

        // A miss reports false and leaves the item as it was.
        const bool hit3 = co_await c.async_get_into("into:missing", out);
        CHECK_FALSE(hit3);
        CHECK(out.key == "into:small");

        // gets_into fills the CAS unique.
        const bool hit4 = co_await c.async_gets_into("into:small", out);
        CHECK(hit4);
        CHECK(out.cas != 0);

        // An invalid key is refused before anything is sent, the item untouched.
        auto [ec, hit5] = co_await c.async_get_into(std::string(251, 'k'), out, tuple);
        CHECK(ec == memcoro::errc::invalid_key);
        CHECK_FALSE(hit5);
        CHECK(out.value == "abc");

        // Plain gets are counted the same way: 3 hits of async_get_into/gets_into above,
        // 1 miss, plus these two.
        auto v = co_await c.async_get("into:big");
        CHECK(v.has_value());
        auto none = co_await c.async_get("into:nothing");
        CHECK_FALSE(none.has_value());
        auto info = c.server(mc.address());
        REQUIRE(info);
        CHECK(info->counters.hits == 4);
        CHECK(info->counters.misses == 2);
    });
}

TEST_CASE("get_into: concurrent callers each get their own key, merged on the wire")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, memcoro::test::config_for(mc.address()));
        constexpr int n = 64;
        for (int i = 0; i < n; i += 2) {
            auto st = co_await c.async_set("cc:" + std::to_string(i), "v" + std::to_string(i));
            CHECK(st == memcoro::store_status::stored);
        }
        std::vector<memcoro::item> items(n);
        std::vector<int> result(n, -1); // -1 pending, 0 miss, 1 hit
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    const bool hit = co_await c.async_get_into("cc:" + std::to_string(i), items[i]);
                    result[i] = hit ? 1 : 0;
                },
                asio::detached);
        co_await wait_until([&] { return std::count(result.begin(), result.end(), -1) == 0; }, 1s);
        for (int i = 0; i < n; ++i) {
            INFO("key " << i);
            if (i % 2 == 0) {
                CHECK(result[i] == 1);
                CHECK(items[i].key == "cc:" + std::to_string(i));
                CHECK(items[i].value == "v" + std::to_string(i));
            } else {
                CHECK(result[i] == 0);
                CHECK(items[i].value.empty());
            }
        }
    });
}

TEST_CASE("a completion handler that throws: the exception leaves run(), the others complete")
{
    memcached_process mc;
    asio::io_context ioc;
    memcoro::client c(ioc.get_executor(), memcoro::test::config_for(mc.address()));
    // Runs the context until `done`, returning the message of any exception run() let out.
    const auto run_until = [&](const std::function<bool()>& done) {
        std::string caught;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            try {
                ioc.run_one_for(50ms);
            } catch (const std::runtime_error& e) {
                caught = e.what();
            }
        }
        return caught;
    };

    bool stored = false;
    c.async_set("thrower", "v", {}, [&](std::error_code ec, memcoro::store_status st) {
        stored = !ec && st == memcoro::store_status::stored;
    });
    CHECK(run_until([&] { return stored; }).empty());
    REQUIRE(stored);

    // Several gets in flight at once (their replies arrive together); the first handler
    // throws. The exception comes out of run(); every other caller is still answered.
    int answered = 0, right = 0;
    for (int i = 0; i < 5; ++i)
        c.async_get("thrower", [&, i](std::error_code ec, memcoro::get_result r) {
            ++answered;
            if (!ec && r && r->value == "v")
                ++right;
            if (i == 0)
                throw std::runtime_error("boom");
        });
    std::string caught = run_until([&] { return answered == 5; });
    // The rethrow is posted: it may come after the last answer.
    if (caught.empty())
        caught = run_until([&] { return false; });
    CHECK(caught == "boom");
    CHECK(answered == 5);
    CHECK(right == 5);

    // The connection is unharmed.
    bool again = false;
    c.async_get("thrower", [&](std::error_code ec, memcoro::get_result r) {
        again = !ec && r && r->value == "v";
    });
    CHECK(run_until([&] { return again; }).empty());
    CHECK(again);
}

TEST_CASE("numeric addresses connect without a resolver; host names through it")
{
    memcached_process mc;
    const std::string numeric = mc.address();
    REQUIRE(numeric.starts_with("127.0.0.1:"));
    const std::string named = "localhost" + numeric.substr(numeric.find(':'));

    // An io_context without locks cannot resolve names (Asio fails every resolve there): a
    // client of a numeric address works on it all the same.
    asio::io_context unlocked{ASIO_CONCURRENCY_HINT_UNSAFE};
    run_coro(unlocked, [&]() -> asio::awaitable<void> {
        const auto cfg = memcoro::test::config_for(numeric);
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        const auto st = co_await c.async_set("unlocked", "v1");
        CHECK(st == memcoro::store_status::stored);
        const auto r = co_await c.async_get("unlocked");
        REQUIRE(r);
        CHECK(r->value == "v1");
        const std::vector<std::string> keys{"unlocked", "absent"};
        const auto m = co_await c.async_get_multi(keys);
        REQUIRE(m.hits.size() == 1);
        CHECK(m.hits[0].value == "v1");
        c.close();
    });

    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        const auto cfg = memcoro::test::config_for(named);
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        const auto r = co_await c.async_get("unlocked");
        REQUIRE(r);
        CHECK(r->value == "v1");
        c.close();
    });
}

TEST_CASE("an operation keeps its handler's io_context running until it is answered")
{
    memcached_process mc;
    {
        // The handler on the client's own io_context: run() returns only after it ran (the
        // handler closes the client, which ends the connection's I/O).
        asio::io_context ioc;
        memcoro::client c(ioc.get_executor(), memcoro::test::config_for(mc.address()));
        bool answered = false;
        c.async_set("kept", "v", {}, [&](std::error_code ec, memcoro::store_status st) {
            answered = !ec && st == memcoro::store_status::stored;
            c.close();
        });
        ioc.run();
        CHECK(answered);
    }
    {
        // The handler bound to an io_context with nothing else to do: its run() waits for it.
        asio::io_context client_ioc;
        auto guard = asio::make_work_guard(client_ioc);
        std::thread client_thread([&] { client_ioc.run(); });
        memcoro::client c(client_ioc.get_executor(), memcoro::test::config_for(mc.address()));
        asio::io_context caller_ioc;
        std::string value;
        c.async_get("kept",
                    asio::bind_executor(caller_ioc, [&](std::error_code ec, memcoro::get_result r) {
                        if (!ec && r)
                            value = r->value;
                        else
                            value = "error: " + ec.message();
                    }));
        caller_ioc.run();
        CHECK(value == "v");
        c.close();
        guard.reset();
        client_thread.join();
    }
}

TEST_CASE("memcoro::use_awaitable: the coroutine resumes on its own executor, and its "
          "cancellation reaches the call")
{
    memcached_process mc;
    asio::io_context client_ioc;
    auto guard = asio::make_work_guard(client_ioc);
    std::thread client_thread([&] { client_ioc.run(); });
    auto cfg = memcoro::test::config_for(mc.address());
    cfg.op_timeout = std::chrono::milliseconds(5000);
    memcoro::client c(client_ioc.get_executor(), cfg);
    asio::io_context caller_ioc;
    const auto caller_thread = std::this_thread::get_id();
    bool resumed_here = false;
    bool cancelled_early = false;
    std::exception_ptr failure;
    asio::co_spawn(
        caller_ioc,
        [&]() -> asio::awaitable<void> {
            co_await c.async_set("resume", "v");
            resumed_here = std::this_thread::get_id() == caller_thread;
            const auto v = co_await c.async_get("resume");
            resumed_here = resumed_here && std::this_thread::get_id() == caller_thread;
            CHECK((v && v->value == "v"));
            // The server stops; a timer wins the race, and the get is cancelled at once
            // instead of waiting for its 5 s timeout.
            mc.signal(SIGSTOP);
            asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
            const auto start = std::chrono::steady_clock::now();
            using namespace asio::experimental::awaitable_operators;
            const auto winner =
                co_await (c.async_get("resume") || t.async_wait(asio::use_awaitable));
            cancelled_early =
                winner.index() == 1 && std::chrono::steady_clock::now() - start < 2500ms;
        },
        [&](std::exception_ptr e) { failure = e; });
    caller_ioc.run();
    mc.signal(SIGCONT);
    c.close();
    guard.reset();
    client_thread.join();
    if (failure)
        std::rethrow_exception(failure);
    CHECK(resumed_here);
    CHECK(cancelled_early);
}

TEST_CASE("close: pending calls end with operation_aborted, later calls with shutting_down")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        CHECK(co_await c.async_set("closing", "v") == memcoro::store_status::stored);
        mc.signal(SIGSTOP); // the next call stays pending
        std::error_code pending_ec;
        bool pending_done = false;
        c.async_get("closing", [&](std::error_code ec, memcoro::get_result) {
            pending_ec = ec;
            pending_done = true;
        });
        asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        c.close();
        auto [ec, r] = co_await c.async_get("closing", tuple);
        mc.signal(SIGCONT);
        CHECK(ec == memcoro::errc::shutting_down);
        CHECK_FALSE(r);
        t.expires_after(10ms);
        co_await t.async_wait(asio::use_awaitable);
        CHECK(pending_done);
        CHECK(pending_ec == asio::error::operation_aborted);
    });
}

TEST_CASE("with_diagnostics: the server, its message and the system error with any token")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(mc.address());
        cfg.max_item_size = 4 * 1024 * 1024; // more than memcached's own 1 MiB
        memcoro::client c(co_await asio::this_coro::executor, cfg);

        // The server's own message, without exceptions.
        memcoro::diagnostics diag;
        auto [ec, st] = co_await c.async_set("diag:big", std::string(2 * 1024 * 1024, 'x'), {},
                                             memcoro::with_diagnostics(diag, tuple));
        CHECK(ec == memcoro::errc::server_error);
        CHECK(diag.server == mc.address());
        CHECK(diag.message.find("too large") != std::string::npos);
        CHECK_FALSE(diag.cause);

        // Success leaves the diagnostics as they were; the result is the token's.
        diag.clear();
        auto [ec2, st2] =
            co_await c.async_set("diag:ok", "v", {}, memcoro::with_diagnostics(diag, tuple));
        CHECK_FALSE(ec2);
        CHECK(st2 == memcoro::store_status::stored);
        CHECK(diag.server.empty());

        // A refused connection: the system error underneath, with redirect_error too.
        mc.signal(SIGKILL);
        mc.wait();
        memcoro::client gone(co_await asio::this_coro::executor,
                             memcoro::test::config_for(mc.address()));
        std::error_code rec;
        co_await gone.async_get(
            "diag:k",
            memcoro::with_diagnostics(diag, asio::redirect_error(asio::use_awaitable, rec)));
        CHECK(rec == memcoro::errc::connection_failed);
        CHECK(diag.server == mc.address());
        CHECK(diag.cause == asio::error::connection_refused);

        // The default token's exception carries the same.
        memcoro::client again(co_await asio::this_coro::executor,
                              memcoro::test::config_for(mc.address()));
        try {
            co_await again.async_get("diag:k");
            FAIL("no exception");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == memcoro::errc::connection_failed);
            CHECK(e.cause() == asio::error::connection_refused);
            CHECK(std::string(e.what()).find("refused") != std::string::npos);
        }

        // A callback sees them too.
        memcoro::diagnostics cb_diag;
        std::error_code cb_ec;
        bool called = false;
        again.async_get("diag:k", memcoro::with_diagnostics(
                                      cb_diag, [&](std::error_code e, memcoro::get_result) {
                                          cb_ec = e;
                                          called = true;
                                      }));
        asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
        while (!called) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(cb_ec);
        CHECK(cb_diag.server == mc.address());
    });
}

TEST_CASE("cancellation: total only before the request is written, terminal at any time")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        CHECK(co_await c.async_set("cancel:k", "v") == memcoro::store_status::stored);
        const auto ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex);
        const auto pause = [&](std::chrono::milliseconds d) {
            t.expires_after(d);
            return t.async_wait(asio::use_awaitable);
        };
        for (const auto type :
             {asio::cancellation_type::total, asio::cancellation_type::terminal}) {
            // Written (the server is frozen, so the reply is owed): total is ignored, the call
            // completes with the server's answer; terminal ends it at once.
            mc.signal(SIGSTOP);
            asio::cancellation_signal sig;
            std::optional<std::error_code> got;
            memcoro::get_result value;
            c.async_get("cancel:k", asio::bind_cancellation_slot(
                                        sig.slot(), [&](std::error_code ec, memcoro::get_result r) {
                                            got = ec;
                                            value = std::move(r);
                                        }));
            co_await pause(50ms);
            sig.emit(type);
            co_await pause(50ms);
            if (type == asio::cancellation_type::total) {
                CHECK_FALSE(got.has_value());
            } else {
                REQUIRE(got.has_value());
                CHECK(*got == asio::error::operation_aborted);
            }
            mc.signal(SIGCONT);
            while (!got)
                co_await pause(5ms);
            if (type == asio::cancellation_type::total) {
                CHECK_FALSE(*got);
                REQUIRE(value);
                CHECK(value->value == "v");
            }
        }
        // Not yet written (its connection is still being made): total cancellation is honoured.
        memcoro::client fresh(ex, memcoro::test::config_for(mc.address()));
        asio::cancellation_signal sig;
        std::optional<std::error_code> got;
        fresh.async_get("cancel:k", asio::bind_cancellation_slot(
                                        sig.slot(), [&](std::error_code ec, memcoro::get_result) {
                                            got = ec;
                                        }));
        sig.emit(asio::cancellation_type::total);
        while (!got)
            co_await pause(5ms);
        CHECK(*got == asio::error::operation_aborted);
    });
}

TEST_CASE("set_multi takes pairs, or separate key and value ranges")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        const std::vector<std::string> keys{"sm:a", "sm:b", "sm:c"};
        const std::vector<std::string_view> values{"1", "22", "333"};
        auto stored = co_await c.async_set_multi(keys, values, {.expiry = 60s, .flags = 3});
        REQUIRE(stored.size() == 3);
        for (const auto& s : stored) {
            CHECK_FALSE(s.ec);
            CHECK(s.status == memcoro::store_status::stored);
        }
        auto hits = co_await c.async_get_multi(keys);
        REQUIRE(hits.hits.size() == 3);
        CHECK(hits.hits[2].value == "333");
        CHECK(hits.hits[2].flags == 3);

        const std::map<std::string, std::string> m{{"sm:m1", "x"}, {"sm:m2", "y"}};
        auto from_map = co_await c.async_set_multi(m);
        CHECK(from_map.size() == 2);
        CHECK((co_await c.async_get("sm:m2"))->value == "y");

        // Ranges of different lengths: refused before anything is sent.
        const std::vector<std::string> short_values{"only one"};
        auto [ec, r] = co_await c.async_set_multi(keys, short_values, {}, tuple);
        CHECK(ec == memcoro::errc::invalid_argument);
        CHECK((co_await c.async_get("sm:a"))->value == "1");
    });
}

TEST_CASE("binary keys: base64 on the meta protocol, refused on the text protocol")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        const bool meta = memcoro::test::test_protocol() != memcoro::protocol::text;
        const std::vector<std::string> keys = {"with space",          std::string("nul\0byte", 8),
                                               "tab\tand\r\nnewline", "del\x7f",
                                               "a\r\nflush_all",      std::string(186, ' ')};
        for (const auto& key : keys) {
            INFO(key.size() << "-byte key");
            auto [ec, st] = co_await c.async_set(key, "v:" + key, {}, tuple);
            if (!meta) {
                CHECK(ec == memcoro::errc::invalid_key);
                continue;
            }
            REQUIRE_FALSE(ec);
            CHECK(st == memcoro::store_status::stored);
            auto got = co_await c.async_get(key);
            REQUIRE(got);
            CHECK(got->key == key);
            CHECK(got->value == "v:" + key);
        }
        if (!meta)
            co_return;
        for (const auto& [name, value] : co_await c.async_stats())
            if (name == "cmd_flush")
                CHECK(value == "0"); // a key is a key, never a command
        // A multi-key get gives each key back as it was asked.
        auto many = co_await c.async_get_multi(keys);
        REQUIRE(many.hits.size() == keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i)
            CHECK(many.hits[i].key == keys[i]);
        // The other operations take them too.
        {
            auto st = co_await c.async_set("n n", "1");
            CHECK(st == memcoro::store_status::stored);
            auto n = co_await c.async_incr("n n", 4);
            CHECK(n == std::optional<std::uint64_t>(5));
            auto t = co_await c.async_touch("n n", 100s);
            CHECK(t == memcoro::touch_status::touched);
            auto d = co_await c.async_delete("n n");
            CHECK(d == memcoro::delete_status::deleted);
            auto gone = co_await c.async_get("n n");
            CHECK_FALSE(gone);
        }
        // The server decodes them: the item is stored under the key's own bytes (a key valid on
        // both protocols is the same item on both).
        auto [ec, st] = co_await c.async_set(std::string(187, ' '), "v", {}, tuple);
        CHECK(ec == memcoro::errc::invalid_key); // its base64 would be over 250 bytes
        memcoro::client_config text_cfg = memcoro::test::config_for(mc.address());
        text_cfg.protocol = memcoro::protocol::text;
        memcoro::client text(co_await asio::this_coro::executor, text_cfg);
        {
            auto st2 = co_await c.async_set("same-item", "via meta");
            CHECK(st2 == memcoro::store_status::stored);
            auto via_text = co_await text.async_get("same-item");
            REQUIRE(via_text);
            CHECK(via_text->value == "via meta");
        }
    }());
}

TEST_CASE("singleflight_gets: concurrent gets of one key share one request; each is answered")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const auto cmd_get = [](const memcoro::stats_result& s) {
            for (const auto& [name, value] : s)
                if (name == "cmd_get")
                    return std::stoll(value);
            return -1LL;
        };
        for (const bool on : {false, true}) {
            INFO("singleflight_gets " << on);
            auto cfg = memcoro::test::config_for(mc.address());
            cfg.singleflight_gets = on;
            memcoro::client c(ex, cfg);
            co_await c.async_set("hot", "hot value");
            const auto before = cmd_get(co_await c.async_stats());
            constexpr int n = 200;
            // Half the callers ask the stored key, half a missing one, all at once.
            std::vector<int> result(n, -1); // -1 pending, 0 wrong, 1 right
            for (int i = 0; i < n; ++i)
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        auto got = co_await c.async_get(i % 2 ? "cold" : "hot");
                        result[i] =
                            i % 2 ? !got : got && got->key == "hot" && got->value == "hot value";
                    },
                    asio::detached);
            co_await wait_until([&] { return std::count(result.begin(), result.end(), -1) == 0; },
                                2s);
            CHECK(std::count(result.begin(), result.end(), 1) == n);
            const auto asked = cmd_get(co_await c.async_stats()) - before;
            // memcached counts each key of a request: without singleflight every caller's; with
            // it, a handful (each key once per write at most).
            if (on) {
                CHECK(asked >= 2);
                CHECK(asked <= 20);
            } else {
                CHECK(asked == n);
            }
        }
    });
}
