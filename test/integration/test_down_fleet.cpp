// down_policy::fleet against real memcached: three servers, one stopped; keys are written and read
// through the client, then every live server is asked directly which keys it holds. Each key
// must be on exactly the server ring::fleet_placement names (the rule the compat vectors pin
// down), and the keys that the fleet's client fails must fail with errc::server_down.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/fleet.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <signal.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(tuple);
}

/// The keys of `keys` that server `p` holds, asked directly.
asio::awaitable<std::set<std::string>> keys_on(const memcached_process& p,
                                               const std::vector<std::string>& keys)
{
    memcoro::client direct(co_await asio::this_coro::executor,
                           memcoro::test::config_for(p.address()));
    auto r = co_await direct.async_get_multi(keys);
    std::set<std::string> found;
    for (auto& i : r.hits)
        found.insert(i.key);
    co_return found;
}

std::string value_of(const std::string& key)
{
    return "fleet(" + key + ")";
}

} // namespace

TEST_CASE("down_policy::fleet: with a server stopped, keys go where the distribution's client "
          "sends them")
{
    using memcoro::ring::distribution_kind;
    const distribution_kind kind = GENERATE(
        distribution_kind::pecl_consistent, distribution_kind::pecl_standard,
        distribution_kind::modula, distribution_kind::ketama, distribution_kind::twemproxy_modula);
    INFO(memcoro::ring::to_string(kind));
    const auto rule = memcoro::ring::fleet_rule_of(kind);

    std::vector<std::unique_ptr<memcached_process>> servers;
    for (int i = 0; i < 3; ++i)
        servers.push_back(std::make_unique<memcached_process>());
    memcoro::client_config cfg = memcoro::test::base_config();
    // Weights 1, 2, 2: a ketama ring rebuilt without the second server gives the others 104 and
    // 212 points instead of 96 and 192, and twemproxy's table goes from 5 slots to 3, which
    // moves some of their keys. (Not every set of weights does: with 1, 2, 3 the point counts
    // stay, and with 1, 2, 1 the 4-slot table halves, so hash % 2 agrees with hash % 4.)
    std::vector<memcoro::ring::node> nodes;
    for (std::size_t i = 0; i < servers.size(); ++i) {
        auto a = memcoro::server_address::parse(servers[i]->address());
        a.weight = i == 0 ? 1 : 2;
        if (cfg.tls.enabled)
            a.tls = true;
        nodes.push_back({a.host, a.port, a.weight, a.name});
        cfg.servers.push_back(a);
    }
    cfg.tls.enabled = false;
    cfg.distribution = kind;
    cfg.on_down = memcoro::down_policy::fleet;
    cfg.failure_limit = 1;
    cfg.retry_interval = 60s; // no probe during the test
    const memcoro::ring::continuum ring(kind, nodes);
    const memcoro::ring::fleet_placement placement(ring, {false, true, false});

    std::vector<std::string> keys;
    // Not "fleet:0", "fleet:1", ...: twemproxy's 32-bit FNV-1a of keys that differ only in their
    // last digits takes few values modulo small numbers, too few to show every rule at work.
    for (std::uint32_t i = 0; i < 600; ++i)
        keys.push_back("fleet:" + std::to_string((i + 1) * 2654435761U % 1000003U) + "/" +
                       std::to_string(i));

    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        const std::string down_name = servers[1]->address();
        // The client's own placement with every server up is the ring's.
        for (const auto& k : keys)
            CHECK(c.server_for_key(k) == servers[ring.server_for(k)]->address());

        servers[1]->signal(SIGKILL);
        servers[1]->wait();
        // The first request to it fails (connection refused) and marks it down.
        for (int i = 0; i < 50; ++i) {
            auto info = c.server(down_name);
            if (info && info->status == memcoro::server_status::down)
                break;
            for (const auto& k : keys)
                if (ring.server_for(k) == 1) {
                    (void)co_await c.async_get(k, tuple);
                    break;
                }
            co_await sleep_for(10ms);
        }
        auto info = c.server(down_name);
        REQUIRE(info);
        REQUIRE(info->status == memcoro::server_status::down);

        // Single-key writes: each placed key stored, each key the fleet's client fails failed.
        std::size_t failed = 0, live_moved = 0, dead_placed = 0;
        std::vector<std::string> placed;
        for (const auto& k : keys) {
            const auto want = placement.server_for(k);
            auto [ec, st] = co_await c.async_set(k, value_of(k), {}, tuple);
            if (!want) {
                CHECK(ec == memcoro::errc::server_down);
                ++failed;
                continue;
            }
            CHECK_FALSE(ec);
            CHECK(st == memcoro::store_status::stored);
            placed.push_back(k);
            const std::size_t own = ring.server_for(k);
            live_moved += own != 1 && *want != own ? 1 : 0;
            dead_placed += own == 1 ? 1 : 0;
        }

        // Each placed key is on exactly the server the rule names.
        std::map<std::string, int> copies;
        for (std::size_t i : {std::size_t{0}, std::size_t{2}}) {
            const auto found = co_await keys_on(*servers[i], keys);
            for (const auto& k : found) {
                ++copies[k];
                const auto want = placement.server_for(k);
                INFO(k);
                CHECK(want == i);
            }
        }
        for (const auto& k : placed) {
            INFO(k);
            CHECK(copies[k] == 1);
        }

        // A multi-get routes the same way: every placed key a hit, every failed key an error.
        auto r = co_await c.async_get_multi(keys);
        CHECK(r.hits.size() == placed.size());
        CHECK(r.errors.size() == failed);
        for (const auto& h : r.hits)
            CHECK(h.value == value_of(h.key));

        INFO("failed " << failed << ", live moved " << live_moved << ", dead placed " << dead_placed
                       << ", placed " << placed.size());
        switch (rule) {
        case memcoro::ring::fleet_rule::fail: // libmemcached modula
            CHECK(failed > 50);
            CHECK(dead_placed == 0);
            CHECK(live_moved == 0);
            break;
        case memcoro::ring::fleet_rule::rehash: // PECL memcache
            CHECK(failed == 0);
            CHECK(dead_placed > 50);
            CHECK(live_moved == 0);
            break;
        case memcoro::ring::fleet_rule::rebuild: // the rings and twemproxy: live keys move too
            CHECK(failed == 0);
            CHECK(dead_placed > 50);
            CHECK(live_moved > 0);
            break;
        }
        // With every server up again, every key is back on its own server.
        servers[1]->restart();
        c.mark_server(down_name, memcoro::server_status::up);
        co_await sleep_for(10ms);
        for (const auto& k : keys) {
            auto [ec, st] = co_await c.async_set(k, "again", {}, tuple);
            CHECK_FALSE(ec);
        }
        const auto back = co_await keys_on(*servers[1], keys);
        std::size_t own_1 = 0;
        for (const auto& k : keys)
            own_1 += ring.server_for(k) == 1 ? 1 : 0;
        CHECK(back.size() == own_1);
    }());
}
