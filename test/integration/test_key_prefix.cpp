// The key prefix (client_config::key_prefix) against real memcached servers: every operation
// that takes keys stores and reads the prefixed key on the server (seen through a client of
// its own without a prefix), results name keys without it, two prefixes never see each
// other's keys, a key too long with its prefix is refused unsent, keys are placed by the key
// alone (or, with hash_with_prefix, with the prefix) as libmemcached places them, and gets
// over UDP carry it too. Runs on the text and the meta protocol (MEMCORO_TEST_PROTOCOL).

#include "../support/config_for.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using memcoro::errc;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

struct fleet {
    std::vector<std::unique_ptr<memcached_process>> servers;

    explicit fleet(int n, std::vector<std::string> args = {})
    {
        for (int i = 0; i < n; ++i)
            servers.push_back(std::make_unique<memcached_process>(args));
    }
    memcoro::client_config config(std::string prefix) const
    {
        memcoro::client_config cfg = memcoro::test::base_config();
        for (const auto& s : servers)
            cfg.servers.push_back(memcoro::server_address::parse(s->address()));
        cfg.key_prefix = std::move(prefix);
        return cfg;
    }
};

/// The raw item of `key` (as sent on the wire, prefix included) on server `m`, read by a
/// client of its own without a prefix.
asio::awaitable<memcoro::get_result> raw_get(const memcached_process& m, std::string key)
{
    memcoro::client direct(co_await asio::this_coro::executor,
                           memcoro::test::config_for(m.address()));
    co_return co_await direct.async_get(key);
}

/// Which servers of `f` hold the wire key `key`.
asio::awaitable<std::vector<std::size_t>> holders(const fleet& f, std::string key)
{
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < f.servers.size(); ++i)
        if (co_await raw_get(*f.servers[i], key))
            out.push_back(i);
    co_return out;
}

memcoro::ring::continuum ring_of(const memcoro::client_config& cfg)
{
    std::vector<memcoro::ring::node> nodes;
    for (const auto& a : cfg.servers)
        nodes.push_back({a.host, a.port, a.weight, a.name});
    return memcoro::ring::continuum(cfg.distribution, nodes);
}

// (Lists made here, not in the coroutines: g++ 12 mishandles initializer lists there.)
const std::vector<std::pair<std::string, std::string>> multi_items = {
    {"m1", "one"}, {"m2", "two"}, {"m3", "three"}};
const std::vector<std::string> multi_asked = {"m1", "nope", "m3", "m2"};
const std::vector<std::string> delete_keys = {"m1", "nope"};
const std::vector<std::string> typed_keys = {"typed", "untyped-miss"};
const std::vector<std::string> udp_keys = {"a", "x", "b"};
const bool hash_rules[] = {false, true};

asio::awaitable<std::string> compute_x()
{
    co_return std::string("x");
}

std::vector<std::string> pair_of(std::string a, std::string b)
{
    return {std::move(a), std::move(b)};
}

} // namespace

TEST_CASE("key prefix: every keyed operation stores and reads the prefixed key; results name "
          "the key without it")
{
    fleet f(1);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, f.config("app1:"));
        const memcached_process& m = *f.servers[0];

        {
            const auto got_ = co_await c.async_set("k", "v1");
            CHECK(got_ == memcoro::store_status::stored);
        }
        auto raw = co_await raw_get(m, "app1:k");
        REQUIRE(raw);
        CHECK(raw->value == "v1");
        {
            const auto got_ = co_await raw_get(m, "k"); // never the bare key
            CHECK_FALSE(got_);
        }

        auto got = co_await c.async_get("k");
        REQUIRE(got);
        CHECK(got->key == "k");
        CHECK(got->value == "v1");
        auto gets = co_await c.async_gets("k");
        REQUIRE(gets);
        CHECK(gets->key == "k");
        {
            const auto got_ = co_await c.async_cas("k", "v2", gets->cas);
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await c.async_cas("k", "v3", gets->cas);
            CHECK(got_ == memcoro::store_status::exists);
        }
        {
            const auto got_ = co_await c.async_add("k", "x");
            CHECK(got_ == memcoro::store_status::not_stored);
        }
        {
            const auto got_ = co_await c.async_add("fresh", "a");
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await c.async_replace("fresh", "b");
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await c.async_replace("absent", "b");
            CHECK(got_ == memcoro::store_status::not_stored);
        }
        {
            const auto got_ = co_await c.async_append("fresh", ">");
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await c.async_prepend("fresh", "<");
            CHECK(got_ == memcoro::store_status::stored);
        }
        raw = co_await raw_get(m, "app1:fresh");
        REQUIRE(raw);
        CHECK(raw->value == "<b>");
        auto gat = co_await c.async_gat("fresh", 100s);
        REQUIRE(gat);
        CHECK(gat->key == "fresh");
        auto gats = co_await c.async_gats("fresh", 100s);
        REQUIRE(gats);
        CHECK(gats->key == "fresh");
        {
            const auto got_ = co_await c.async_touch("fresh", 50s);
            CHECK(got_ == memcoro::touch_status::touched);
        }
        {
            const auto got_ = co_await c.async_touch("absent", 50s);
            CHECK(got_ == memcoro::touch_status::not_found);
        }

        {
            const auto got_ = co_await c.async_set("n", "10");
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await c.async_incr("n", 5);
            CHECK(got_ == memcoro::arith_result(15));
        }
        {
            const auto got_ = co_await c.async_decr("n", 3);
            CHECK(got_ == memcoro::arith_result(12));
        }
        raw = co_await raw_get(m, "app1:n");
        REQUIRE(raw);
        CHECK(raw->value == "12");
        {
            const auto got_ = co_await c.async_incr("absent", 1);
            CHECK_FALSE(got_);
        }

        // Multi-key calls: sets, gets (hits, misses), gat, delete.
        const auto& items = multi_items;
        auto stored = co_await c.async_set_multi(items);
        REQUIRE(stored.size() == 3);
        CHECK(stored[0].key == "m1");
        for (const auto& s : stored)
            CHECK(s.status == memcoro::store_status::stored);
        for (const auto& [k, v] : items) {
            raw = co_await raw_get(m, "app1:" + k);
            REQUIRE(raw);
            CHECK(raw->value == v);
        }
        const auto& asked = multi_asked;
        auto multi = co_await c.async_get_multi(asked);
        REQUIRE(multi.hits.size() == 3);
        CHECK(multi.hits[0].key == "m1");
        CHECK(multi.hits[1].key == "m3");
        CHECK(multi.hits[2].key == "m2");
        CHECK(multi.hits[2].value == "two");
        REQUIRE(multi.misses.size() == 1);
        CHECK(multi.misses[0] == "nope");
        auto o = multi.outcome("m3");
        REQUIRE(o);
        CHECK(o->status == memcoro::key_status::hit);
        auto gm = co_await c.async_gats_multi(asked, 100s);
        REQUIRE(gm.hits.size() == 3);
        CHECK(gm.hits[1].key == "m3");
        memcoro::get_multi_result into;
        co_await c.async_get_multi_into(asked, into);
        REQUIRE(into.hits.size() == 3);
        CHECK(into.hits[0].key == "m1");
        auto deleted = co_await c.async_delete_multi(delete_keys);
        REQUIRE(deleted.size() == 2);
        CHECK(deleted[0].key == "m1");
        CHECK(deleted[0].status == memcoro::delete_status::deleted);
        CHECK(deleted[1].status == memcoro::delete_status::not_found);
        {
            const auto got_ = co_await raw_get(m, "app1:m1");
            CHECK_FALSE(got_);
        }
        {
            const auto got_ = co_await c.async_delete("m2");
            CHECK(got_ == memcoro::delete_status::deleted);
        }
        {
            const auto got_ = co_await raw_get(m, "app1:m2");
            CHECK_FALSE(got_);
        }

        // The value operations.
        co_await c.async_set_as("typed", std::int64_t{42});
        {
            const auto got_ = co_await raw_get(m, "app1:typed");
            CHECK(got_);
        }
        {
            const auto got_ = co_await c.async_get_as<std::int64_t>("typed");
            CHECK(got_ == std::optional<std::int64_t>(42));
        }
        auto value = co_await c.async_gets_value("typed");
        REQUIRE(value);
        CHECK(value->key == "typed");
        auto typed = co_await c.async_get_multi_as<std::int64_t>(typed_keys);
        REQUIRE(typed.size() == 2);
        CHECK(typed[0].key == "typed");
        CHECK(typed[0].value == std::optional<std::int64_t>(42));
        CHECK(typed[1].key == "untyped-miss");
        CHECK_FALSE(typed[1].value);
        // A value that does not decode names the key as the caller wrote it.
        {
            const auto got_ = co_await c.async_set("word", "not a number");
            CHECK(got_ == memcoro::store_status::stored);
        }
        auto [ec, bad] = co_await c.async_get_as<std::int64_t>("word", tuple);
        CHECK(ec);
        try {
            co_await c.async_get_as<std::int64_t>("word");
            FAIL("no error");
        } catch (const memcoro::error& e) {
            const std::string what = e.what();
            INFO(what);
            CHECK(what.find("key 'word'") != std::string::npos);
            CHECK(what.find("app1:") == std::string::npos);
        }

        // Fire-and-forget writes, and the stats, flush and version calls (no keys).
        c.send_set("sent", "s");
        c.send_delete("k");
        {
            const auto got_ = co_await c.async_version();
            CHECK(got_ != "");
        }
        {
            const auto got_ =
                co_await c.async_get("sent"); // (the same connection: after the send_set)
            CHECK(got_);
        }
        {
            const auto got_ = co_await raw_get(m, "app1:sent");
            CHECK(got_);
        }
        {
            const auto got_ = co_await raw_get(m, "app1:k");
            CHECK_FALSE(got_);
        }
        auto st = co_await c.async_stats();
        CHECK_FALSE(st.empty());
        co_await c.async_flush_all();
        {
            const auto got_ = co_await raw_get(m, "app1:sent");
            CHECK_FALSE(got_);
        }
    }());
}

TEST_CASE("key prefix: two prefixes on one fleet never see each other's keys")
{
    fleet f(3);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client a(ex, f.config("a:"));
        memcoro::client b(ex, f.config("b:"));
        memcoro::client none(ex, f.config(""));
        std::vector<std::string> keys;
        std::vector<std::pair<std::string, std::string>> for_a, for_b;
        for (int i = 0; i < 200; ++i) {
            keys.push_back("key" + std::to_string(i));
            for_a.emplace_back(keys.back(), "A" + std::to_string(i));
            for_b.emplace_back(keys.back(), "B" + std::to_string(i));
        }
        co_await a.async_set_multi(for_a);
        co_await b.async_set_multi(for_b);
        auto ra = co_await a.async_get_multi(keys);
        auto rb = co_await b.async_get_multi(keys);
        auto rn = co_await none.async_get_multi(keys);
        REQUIRE(ra.hits.size() == keys.size());
        REQUIRE(rb.hits.size() == keys.size());
        CHECK(rn.hits.empty());
        bool right = true;
        for (std::size_t i = 0; i < keys.size(); ++i)
            right = right && ra.hits[i].key == keys[i] && rb.hits[i].key == keys[i] &&
                    ra.hits[i].value == "A" + std::to_string(i) &&
                    rb.hits[i].value == "B" + std::to_string(i);
        CHECK(right);
        // The servers hold them under their wire names, where the key alone places them.
        const auto where = co_await holders(f, "a:key7");
        REQUIRE(where.size() == 1);
        CHECK(f.servers[where[0]]->address() == a.server_for_key("key7"));
        auto wire = co_await raw_get(*f.servers[where[0]], "a:key7");
        REQUIRE(wire);
        CHECK(wire->value == "A7");
    }());
}

TEST_CASE("key prefix: a key too long with its prefix is refused before anything is sent")
{
    fleet f(1);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const std::string prefix = "ten-bytes:";
        memcoro::client c(ex, f.config(prefix));
        const std::string fits(240, 'k'), over(241, 'k');
        {
            const auto got_ = co_await c.async_set(fits, "v");
            CHECK(got_ == memcoro::store_status::stored);
        }
        {
            const auto got_ = co_await raw_get(*f.servers[0], prefix + fits);
            CHECK(got_);
        }
        const auto sent = c.servers().at(0).counters.requests;
        auto [e1, r1] = co_await c.async_set(over, "v", memcoro::store_options(), tuple);
        CHECK(e1 == errc::invalid_key);
        auto [e2, r2] = co_await c.async_get(over, tuple);
        CHECK(e2 == errc::invalid_key);
        const auto two = pair_of("ok", over);
        auto [e3, r3] = co_await c.async_get_multi(two, tuple);
        CHECK(e3 == errc::invalid_key);
        auto [e4, r4] = co_await c.async_incr(over, 1, tuple);
        CHECK(e4 == errc::invalid_key);
        auto [e5, r5] = co_await c.async_touch(over, 1s, tuple);
        CHECK(e5 == errc::invalid_key);
        auto [e6, r6] = co_await c.async_delete(over, tuple);
        CHECK(e6 == errc::invalid_key);
        CHECK(c.servers().at(0).counters.requests == sent);
        try {
            co_await c.async_get_or_compute(over, compute_x);
            FAIL("no error");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == errc::invalid_key);
        }
    }());
}

TEST_CASE("key prefix: a prefix that libmemcached would refuse is refused at construction")
{
    asio::io_context ioc;
    const auto make = [&](std::string prefix) {
        memcoro::client_config cfg;
        cfg.servers = memcoro::server_address::parse_list("127.0.0.1:1");
        cfg.key_prefix = std::move(prefix);
        memcoro::client c(ioc.get_executor(), cfg);
    };
    CHECK_NOTHROW(make(""));
    CHECK_NOTHROW(make(std::string(127, 'p')));
    CHECK_THROWS_WITH(make(std::string(128, 'p')),
                      Catch::Contains("key_prefix is 128 bytes long; at most 127"));
    CHECK_THROWS_WITH(make("a b"), Catch::Contains("printable ASCII"));
    CHECK_THROWS_WITH(make("a\n"), Catch::Contains("printable ASCII"));
    CHECK_THROWS_AS(make("\xc3\xa9"), std::invalid_argument);
}

TEST_CASE("key prefix: keys are placed by the key alone, or with the prefix when asked")
{
    fleet f(3);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (const bool with_prefix : hash_rules) {
            INFO("hash_with_prefix " << with_prefix);
            auto cfg = f.config("tenant-42/");
            cfg.hash_with_prefix = with_prefix;
            memcoro::client c(ex, cfg);
            const auto ring = ring_of(cfg);
            std::vector<std::pair<std::string, std::string>> items;
            std::vector<std::string> keys;
            for (int i = 0; i < 60; ++i) {
                keys.push_back("p" + std::to_string(i));
                items.emplace_back(keys.back(), "v");
            }
            co_await c.async_set_multi(items);
            co_await c.async_set("single", "v"); // a single-key call routes the same way
            keys.push_back("single");
            std::size_t right = 0, moved = 0;
            for (const auto& k : keys) {
                const std::string wire = "tenant-42/" + k;
                const std::size_t expected = ring.server_for(with_prefix ? wire : k);
                const auto where = co_await holders(f, wire);
                if (where.size() == 1 && where[0] == expected)
                    ++right;
                if (ring.server_for(k) != ring.server_for(wire))
                    ++moved;
                CHECK(c.server_for_key(k) == f.servers[expected]->address());
            }
            CHECK(right == keys.size());
            CHECK(moved > 0); // the two rules differ for these keys: the test can tell them apart
            co_await c.async_flush_all();
        }
    }());
}

TEST_CASE("key prefix: gets over UDP carry the prefix, and keys come back without it")
{
    memcached_process m({"-U", "-1"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg;
        cfg.servers = memcoro::server_address::parse_list(m.address());
        cfg.udp.enabled = true;
        cfg.udp.port = m.udp_port();
        cfg.key_prefix = "udp:";
        memcoro::client c(ex, cfg);
        co_await c.async_set("a", "1");
        co_await c.async_set("b", "2");
        {
            const auto got_ = co_await raw_get(m, "udp:a");
            CHECK(got_);
        }
        auto r = co_await c.async_get_multi(udp_keys);
        REQUIRE(r.hits.size() == 2);
        CHECK(r.hits[0].key == "a");
        CHECK(r.hits[1].key == "b");
        CHECK(r.hits[1].value == "2");
        REQUIRE(r.misses.size() == 1);
        CHECK(r.misses[0] == "x");
        auto one = co_await c.async_get("a");
        REQUIRE(one);
        CHECK(one->key == "a");
        const auto info = c.servers().at(0);
        CHECK(info.udp_requests >= 2);
        CHECK(info.udp_replies == info.udp_requests); // answered over UDP, none lost
    }());
}

TEST_CASE("key prefix: binary keys (meta protocol) are base64-encoded with their prefix")
{
    if (memcoro::test::test_protocol() == memcoro::protocol::text)
        return; // (the text protocol refuses such keys: see the meta run of this suite)
    fleet f(1);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, f.config("bin:"));
        const std::string key = "a key\twith spaces";
        {
            const auto got_ = co_await c.async_set(key, "v");
            CHECK(got_ == memcoro::store_status::stored);
        }
        auto got = co_await c.async_get(key);
        REQUIRE(got);
        CHECK(got->key == key);
        auto cfg = memcoro::test::config_for(f.servers[0]->address());
        memcoro::client direct(ex, cfg);
        auto raw = co_await direct.async_get("bin:" + key);
        REQUIRE(raw);
        CHECK(raw->value == "v");
    }());
}
