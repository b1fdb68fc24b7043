// protocol::automatic against real memcached: each connection asks its server `version` and
// speaks meta to memcached 1.6.10+, text to anything else. A server that says it is older is a
// real memcached 1.6.18 behind a proxy that rewrites its version line; one that hangs up on
// `version` (as some proxies do on a command they do not know) is the proxy told to.
#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/fault_proxy.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/compute.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::fault_proxy;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

memcoro::client_config automatic(const std::string& servers)
{
    memcoro::client_config cfg = memcoro::test::config_for(servers);
    cfg.protocol = memcoro::protocol::automatic;
    return cfg;
}

memcoro::client_config meta(const std::string& servers)
{
    memcoro::client_config cfg = memcoro::test::config_for(servers);
    cfg.protocol = memcoro::protocol::meta;
    return cfg;
}

/// What the client says the server `name` speaks.
memcoro::protocol spoken(const memcoro::client& c, const std::string& name)
{
    const auto info = c.server(name);
    REQUIRE(info);
    return info->protocol;
}

/// A real memcached behind a proxy that makes it say it is `version` (same length).
struct older_server {
    memcached_process mc;
    fault_proxy proxy{mc.port()};
    explicit older_server(const std::string& version)
    {
        proxy.rewrite_replies("VERSION 1.6.18", version);
    }
};

} // namespace

TEST_CASE("automatic: memcached 1.6.18 is spoken to in meta", "[dialect]")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, automatic(mc.address()));
        CHECK(spoken(c, mc.address()) == memcoro::protocol::automatic); // not asked yet
        co_await c.async_set("k", "v");
        CHECK(spoken(c, mc.address()) == memcoro::protocol::meta);
        // What only meta can do works: a lease on a miss, item metadata, a binary key.
        auto lease = co_await c.async_meta_get("absent", {.lease = 30s});
        REQUIRE(lease);
        CHECK(lease->won);
        auto meta = co_await c.async_meta_get("k", {.item_info = true});
        REQUIRE(meta);
        CHECK(meta->item.value == "v");
        CHECK(meta->size == std::uint64_t{1});
        const std::string binary("a key\r\nwith\0bytes", 17);
        co_await c.async_set(binary, "b");
        auto got = co_await c.async_get(binary);
        REQUIRE(got);
        CHECK(got->value == "b");
        // The version is asked through the same connection: the ordinary calls still work.
        auto versions = co_await c.async_version();
        CHECK(versions.starts_with("1.6."));
    }());
}

TEST_CASE("automatic: an older memcached is spoken to in text; meta-only calls fail unsent",
          "[dialect]")
{
    older_server old("VERSION 1.5.22");
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, automatic(old.proxy.address()));
        co_await c.async_set("k", "v");
        CHECK(spoken(c, old.proxy.address()) == memcoro::protocol::text);
        auto hit = co_await c.async_get("k");
        REQUIRE(hit);
        CHECK(hit->value == "v");
        const std::vector<std::string> two{"k", "x"};
        auto many = co_await c.async_get_multi(two);
        CHECK(many.hits.size() == 1);
        CHECK(many.misses.size() == 1);

        const auto sent = old.proxy.bytes_to_server();
        auto [e1, r1] = co_await c.async_meta_get("k", {.lease = 30s}, tuple);
        CHECK(e1 == memcoro::errc::not_supported);
        auto [e2, r2] = co_await c.async_invalidate("k", std::nullopt, 0, tuple);
        CHECK(e2 == memcoro::errc::not_supported);
        const std::string binary = "bin key";
        auto [e3, r3] = co_await c.async_get(binary, tuple);
        CHECK(e3 == memcoro::errc::invalid_key);
        CHECK(old.proxy.bytes_to_server() == sent); // nothing of them was sent
        // Refused requests say nothing of the server's health.
        const auto info = c.server(old.proxy.address());
        REQUIRE(info);
        CHECK(info->status == memcoro::server_status::up);
        CHECK(info->consecutive_failures == 0);

        // get_or_compute falls back to get + add on a text server.
        int computed = 0;
        auto fn = [&]() -> asio::awaitable<std::string> {
            ++computed;
            co_return std::string("fresh");
        };
        auto first = co_await c.async_get_or_compute("goc", fn);
        CHECK(first.value == "fresh");
        CHECK(first.source == memcoro::value_source::computed);
        auto second = co_await c.async_get_or_compute("goc", fn);
        CHECK(second.value == "fresh");
        CHECK(second.source == memcoro::value_source::cache);
        CHECK(computed == 1);
    }());
}

TEST_CASE("automatic: 1.6.9 and a proxy's own version mean text", "[dialect]")
{
    for (const std::string& v : std::vector<std::string>{"VERSION 1.6.9 ", "VERSION proxy1"}) {
        INFO(v);
        older_server old(v);
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            memcoro::client c(co_await asio::this_coro::executor, automatic(old.proxy.address()));
            co_await c.async_set("k", "v");
            auto hit = co_await c.async_get("k");
            CHECK(hit);
            CHECK(spoken(c, old.proxy.address()) == memcoro::protocol::text);
        }());
    }
}

TEST_CASE("automatic: a server that hangs up on version is spoken to in text", "[dialect]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    proxy.close_on_request("version\r\n");
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = automatic(proxy.address());
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        // The first connection asks and is closed; the call waits for the next, which
        // speaks text without asking.
        co_await c.async_set("k", "v");
        auto hit = co_await c.async_get("k");
        REQUIRE(hit);
        CHECK(hit->value == "v");
        CHECK(spoken(c, proxy.address()) == memcoro::protocol::text);
        CHECK(proxy.connections() == 2);
        const auto info = c.server(proxy.address());
        REQUIRE(info);
        CHECK(info->status == memcoro::server_status::up);
    }());
}

TEST_CASE("automatic: a proxy that passes version through but hangs up on meta gets: text",
          "[dialect]")
{
    // twemproxy 0.5 forwards `version` to a memcached that speaks meta, and closes the
    // connection on a meta command: the meta get that confirms the version finds it out.
    memcached_process mc;
    fault_proxy proxy(mc.port());
    proxy.close_on_request("mg ");
    const std::vector<std::string> keys{"k", "absent"};
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, automatic(proxy.address()));
        co_await c.async_set("k", "v");
        auto hit = co_await c.async_get("k");
        REQUIRE(hit);
        CHECK(hit->value == "v");
        auto many = co_await c.async_get_multi(keys);
        CHECK(many.hits.size() == 1);
        CHECK(many.misses.size() == 1);
        CHECK(many.errors.empty());
        CHECK(spoken(c, proxy.address()) == memcoro::protocol::text);
        // One connection hung up on the meta get; the second spoke text from its start.
        CHECK(proxy.connections() == 2);
        const auto info = c.server(proxy.address());
        REQUIRE(info);
        CHECK(info->status == memcoro::server_status::up);
        // Only meta can ask for a lease: refused, unsent, and the server stays up.
        auto [ec, l] = co_await c.async_meta_get("lease", {.lease = 30s}, tuple);
        CHECK(ec == memcoro::errc::not_supported);
        CHECK(proxy.connections() == 2);
    }());
}

TEST_CASE("automatic: a cluster of both kinds; each key's server decides", "[dialect]")
{
    memcached_process modern;
    older_server old("VERSION 1.4.39");
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          automatic(modern.address() + "," + old.proxy.address()));
        std::vector<std::string> keys;
        for (int i = 0; i < 200; ++i)
            keys.push_back("key:" + std::to_string(i));
        for (const auto& k : keys)
            co_await c.async_set(k, "v:" + k);
        CHECK(spoken(c, modern.address()) == memcoro::protocol::meta);
        CHECK(spoken(c, old.proxy.address()) == memcoro::protocol::text);
        auto all = co_await c.async_get_multi(keys);
        REQUIRE(all.hits.size() == keys.size());
        for (const auto& it : all.hits)
            CHECK(it.value == "v:" + it.key);
        // A lease works on the keys of the modern server and is refused on the others.
        int leased = 0, refused = 0;
        for (const auto& k : keys) {
            auto [ec, r] = co_await c.async_meta_get(k, {.recache = 1s}, tuple);
            if (!ec) {
                ++leased;
                REQUIRE(r);
                CHECK(r->item.value == "v:" + k);
            } else {
                CHECK(ec == memcoro::errc::not_supported);
                ++refused;
            }
        }
        CHECK(leased > 0);
        CHECK(refused > 0);
        CHECK(leased + refused == 200);
    }());
}

// ---- quiet writes on the meta protocol ----------------------------------------------------

TEST_CASE("meta: a quiet write of several keys is one batch: only failures come back",
          "[dialect][quiet]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = meta(proxy.address());
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        co_await c.async_set("warm", "up"); // the connection is open
        std::vector<std::pair<std::string, std::string>> items;
        for (int i = 0; i < 100; ++i)
            items.emplace_back("q:" + std::to_string(i), "value " + std::to_string(i));
        const auto before = proxy.bytes_to_client();
        auto stored = co_await c.async_set_multi(items, {.quiet = true});
        CHECK(proxy.bytes_to_client() - before == 4); // "MN\r\n": no HD per key
        REQUIRE(stored.size() == 100);
        for (const auto& r : stored) {
            CHECK(!r.ec);
            CHECK(r.status == memcoro::store_status::stored);
        }
        for (const auto& [k, v] : items) {
            auto got = co_await c.async_get(k);
            REQUIRE(got);
            CHECK(got->value == v);
        }
        // Deletes: the missing keys' NF come back, each to its key.
        const std::vector<std::string> keys{"q:1", "absent:1", "q:2", "absent:2", "q:3"};
        auto deleted = co_await c.async_delete_multi(keys, {.quiet = true});
        REQUIRE(deleted.size() == keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            INFO(keys[i]);
            CHECK(deleted[i].key == keys[i]);
            CHECK(!deleted[i].ec);
            CHECK(deleted[i].status == (keys[i].starts_with("absent")
                                            ? memcoro::delete_status::not_found
                                            : memcoro::delete_status::deleted));
        }
    }());
}

TEST_CASE("meta: a server error in a quiet write batch is never taken for success",
          "[dialect][quiet]")
{
    // memcached with 1 KiB items refuses a larger value with "SERVER_ERROR object too large
    // for cache", a line without the key's opaque number.
    memcached_process mc({"-I", "1024", "-o", "slab_chunk_max=1024"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = meta(mc.address());
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        const std::vector<std::string> keys{"small:1", "big", "small:2", "small:3"};
        const std::vector<std::string> values{"a", std::string(4000, 'x'), "b", "c"};
        // Not quiet (the default): each key's own reply, exact.
        auto exact = co_await c.async_set_multi(keys, values);
        REQUIRE(exact.size() == 4);
        CHECK(exact[1].ec == memcoro::errc::server_error);
        for (std::size_t i : {0u, 2u, 3u}) {
            CHECK(!exact[i].ec);
            CHECK(exact[i].status == memcoro::store_status::stored);
        }
        // Quiet: the error line names no key, so no key it may be for is called stored (here
        // every key: nothing else was answered), and the call fails as a whole.
        const std::vector<std::string> keys2{"s:1", "big2", "s:2", "s:3"};
        auto [ec, quiet] = co_await c.async_set_multi(keys2, values, {.quiet = true}, tuple);
        CHECK(ec == memcoro::errc::server_error);
        for (const auto& r : quiet)
            CHECK(r.ec);
        auto big = co_await c.async_get("big2");
        CHECK(!big);
        // The connection is in step after it: the next calls are answered right.
        auto st = co_await c.async_set("after", "ok");
        CHECK(st == memcoro::store_status::stored);
        auto after = co_await c.async_get("after");
        REQUIRE(after);
        CHECK(after->value == "ok");
    }());
}

TEST_CASE("fire-and-forget writes: failures reach on_write_failure, on both protocols",
          "[dialect][quiet]")
{
    memcached_process mc({"-I", "1024", "-o", "slab_chunk_max=1024"});
    for (const auto p : {memcoro::protocol::meta, memcoro::protocol::text}) {
        INFO((p == memcoro::protocol::meta ? "meta" : "text"));
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto cfg = automatic(mc.address());
            cfg.protocol = p;
            std::vector<memcoro::write_failure> failures;
            cfg.on_write_failure = [&](const memcoro::write_failure& f) { failures.push_back(f); };
            memcoro::client c(co_await asio::this_coro::executor, cfg);
            const std::string prefix = p == memcoro::protocol::meta ? "m:" : "t:";
            for (int i = 0; i < 20; ++i)
                c.send_set(prefix + std::to_string(i), "v" + std::to_string(i));
            c.send_set(prefix + "big", std::string(4000, 'x')); // over the server's 1 KiB items
            c.send_set(prefix + "after", "a");
            c.send_delete(prefix + "0");
            c.send_delete(prefix + "absent"); // already absent: not a failure
            // A call made after them is answered after them (one connection, in order).
            auto after = co_await c.async_get(prefix + "after");
            REQUIRE(after);
            CHECK(after->value == "a");
            REQUIRE(failures.size() == 1);
            CHECK(failures[0].key == prefix + "big");
            CHECK(failures[0].ec == memcoro::errc::server_error);
            auto zero = co_await c.async_get(prefix + "0");
            CHECK(!zero);
            for (int i = 1; i < 20; ++i) {
                auto got = co_await c.async_get(prefix + std::to_string(i));
                REQUIRE(got);
                CHECK(got->value == "v" + std::to_string(i));
            }
        }());
    }
}

// ---- quiet multi-gets: an error line names no key ------------------------------------------

TEST_CASE("meta: an error line in a quiet multi-get fails only the keys it may be for",
          "[dialect][quiet]")
{
    // The proxy puts a flag memcached does not know into one key's line: memcached answers
    // that line with "CLIENT_ERROR invalid flag", which carries no opaque number, and goes on.
    // The error is for one of the keys after the last one answered and before the next one
    // answered: with hits on the same server just before and after the bad key, only its own.
    memcached_process mc;
    memcached_process other;
    fault_proxy proxy(mc.port());
    // 24 keys to set, then 2 misses: at least 3 of the 24 on the proxied server.
    std::vector<std::string> keys;
    for (int i = 0; i < 24; ++i)
        keys.push_back("k" + std::to_string(i));
    keys.push_back("miss:1");
    keys.push_back("miss:2");
    constexpr std::size_t set_keys = 24;
    for (const bool cluster : {false, true}) {
        INFO((cluster ? "two servers: the parts gathered" : "one server: one request"));
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            const std::string servers =
                cluster ? proxy.address() + "," + other.address() : proxy.address();
            memcoro::client c(co_await asio::this_coro::executor, meta(servers));
            // The bad key: one on the proxied server with others before and after it there.
            std::vector<std::string> proxied;
            for (std::size_t i = 0; i < set_keys; ++i)
                if (c.server_for_key(keys[i]) == proxy.address())
                    proxied.push_back(keys[i]);
            REQUIRE(proxied.size() >= 3);
            const std::string bad = proxied[1];
            proxy.rewrite_requests("mg " + bad + " v ", "mg " + bad + " ! v ");
            for (std::size_t i = 0; i < set_keys; ++i)
                if (keys[i] != bad)
                    co_await c.async_set(keys[i], "value of " + keys[i]);
            auto r = co_await c.async_get_multi(keys);
            for (const auto& k : keys) {
                INFO(k);
                const auto o = r.outcome(k);
                REQUIRE(o);
                if (k == bad) {
                    CHECK(o->status == memcoro::key_status::error);
                    CHECK(o->ec == memcoro::errc::client_error);
                } else if (k.starts_with("miss:")) {
                    CHECK(o->status == memcoro::key_status::miss);
                } else {
                    REQUIRE(o->status == memcoro::key_status::hit);
                    CHECK(o->hit->value == "value of " + k);
                }
            }
            CHECK(r.errors.size() == 1);
            CHECK(r.hits.size() == keys.size() - 3);
            // The connection stays: the next call on it works.
            auto again = co_await c.async_get(proxied[0]);
            CHECK(again);
            proxy.rewrite_requests("", "");
        }());
        if (!cluster)
            CHECK(proxy.connections() == 1);
    }
}
