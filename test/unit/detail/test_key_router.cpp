// key_router: key -> server over the ring, the down policies, the probe decision. No sockets, no
// clock: server_state objects driven by hand and a fixed time.
#include "../../support/allocation_counter.hpp"
#include "../ring/compat_data.hpp"

#include <memcoro/detail/key_router.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::down_policy;
using memcoro::server_policy;
using memcoro::server_state;
using memcoro::server_status;
using memcoro::detail::key_router;
using memcoro::detail::probe_list;
using memcoro::ring::continuum;
using memcoro::ring::distribution_kind;
using memcoro::ring::hash_kind;
using memcoro::ring::node;

namespace {

using time_point = server_state::clock::time_point;
const time_point t0{std::chrono::seconds(1000)};

/// No jitter: every wait is exactly its nominal value. One failure marks a server down.
server_policy exact(std::chrono::milliseconds retry)
{
    server_policy p;
    p.failure_limit = 1;
    p.retry_interval = retry;
    p.max_retry_interval = 30s;
    p.retry_jitter = 0;
    return p;
}

/// Servers 127.0.0.1:22201... with their states, and a router over them.
struct fleet {
    fleet(std::size_t n, down_policy policy, std::size_t max_attempts = 20,
          distribution_kind d = distribution_kind::ketama)
        : router(policy, max_attempts)
    {
        for (std::size_t i = 0; i < n; ++i) {
            nodes.push_back(node{"127.0.0.1", static_cast<std::uint16_t>(22201 + i), 1, {}});
            states.push_back(std::make_unique<server_state>(exact(1000ms)));
        }
        std::vector<server_state*> raw;
        for (auto& s : states)
            raw.push_back(s.get());
        ring.emplace(d, nodes);
        router.assign(continuum(d, nodes), std::move(raw));
    }

    /// Marks server `i` down at t0: its first probe is due at t0 + 1 s.
    void down(std::size_t i) { states[i]->mark_down(t0); }
    bool is_up(std::size_t i) const { return states[i]->usable(); }

    std::vector<node> nodes;
    std::vector<std::unique_ptr<server_state>> states;
    std::optional<continuum> ring; // the same ring, to compare with
    key_router router;
};

std::vector<std::string> some_keys(std::size_t n)
{
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < n; ++i)
        keys.push_back("key:" + std::to_string(i * 7919));
    return keys;
}

/// The distinct servers a failover walk from `key` visits, in order.
std::vector<std::size_t> walk(const continuum& ring, const std::string& key)
{
    std::vector<std::size_t> seen;
    (void)ring.find(
        key,
        [&](std::size_t i) {
            seen.push_back(i);
            return false;
        },
        ring.size());
    return seen;
}

} // namespace

TEST_CASE("key_router: with every server up, each key goes to the server the fleet's vectors name")
{
    struct vector_file {
        const char* file;
        distribution_kind distribution;
        hash_kind hash;
    };
    const vector_file files[] = {
        {"libmemcached_ketama_weighted_md5.public.json", distribution_kind::ketama, hash_kind::md5},
        {"twemproxy_modula_fnv1a_64.public.json", distribution_kind::twemproxy_modula,
         hash_kind::fnv1a_64},
        {"libmemcached_modula_crc.public.json", distribution_kind::modula, hash_kind::crc},
    };
    for (const auto& f : files) {
        INFO(f.file);
        const auto data = memcoro::ring::test::load_compat(f.file);
        std::vector<node> nodes;
        for (const auto& s : data.at("servers"))
            nodes.push_back(node{s.at("host").get<std::string>(),
                                 s.at("port").get<std::uint16_t>(),
                                 s.at("weight").get<std::uint32_t>(),
                                 {}});
        std::vector<std::unique_ptr<server_state>> states;
        std::vector<server_state*> raw;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            states.push_back(std::make_unique<server_state>());
            raw.push_back(states.back().get());
        }
        for (const auto policy : {down_policy::fail_fast, down_policy::failover}) {
            key_router router(policy);
            router.assign(continuum(f.distribution, f.hash, nodes), raw);
            probe_list probes;
            std::vector<std::string> keys;
            std::vector<std::uint32_t> expected;
            for (const auto& entry : data.at("mapping")) {
                keys.push_back(entry.at(0).get<std::string>());
                expected.push_back(entry.at(1).get<std::uint32_t>());
            }
            REQUIRE(keys.size() > 1000);
            std::size_t matching = 0;
            for (std::size_t i = 0; i < keys.size(); ++i) {
                const std::size_t own = router.own_server(keys[i]);
                if (own == expected[i] && router.route(keys[i], t0, probes) == expected[i])
                    ++matching;
            }
            CHECK(matching == keys.size());
            // All at once, as a multi-key call asks.
            std::vector<std::uint32_t> all(keys.size(), ~std::uint32_t(0));
            router.own_servers(keys, all.data());
            CHECK(all == expected);
            CHECK(probes.empty());
        }
    }
}

TEST_CASE("key_router: one server takes every key")
{
    fleet f(1, down_policy::failover);
    probe_list probes;
    for (const auto& key : some_keys(50)) {
        CHECK(f.router.own_server(key) == 0);
        CHECK(f.router.route(key, t0, probes) == 0);
    }
    f.down(0);
    for (const auto& key : some_keys(50))
        CHECK(f.router.route(key, t0, probes) == key_router::none); // nowhere to fail over to
}

TEST_CASE("key_router: fail_fast gives a down server's keys no server and moves nothing else")
{
    fleet f(5, down_policy::fail_fast);
    f.down(2);
    probe_list probes;
    std::size_t failed = 0;
    for (const auto& key : some_keys(2000)) {
        const std::size_t own = f.ring->server_for(key);
        const std::size_t got = f.router.route(key, t0 + 10ms, probes);
        if (own == 2) {
            CHECK(got == key_router::none);
            ++failed;
        } else {
            CHECK(got == own);
        }
    }
    CHECK(failed > 200);   // about a fifth of the keys
    CHECK(probes.empty()); // the retry wait has not passed
}

TEST_CASE("key_router: failover moves only the down server's keys, to the next usable one")
{
    const distribution_kind kinds[] = {distribution_kind::ketama, distribution_kind::modula,
                                       distribution_kind::pecl_consistent,
                                       distribution_kind::twemproxy_modula};
    for (const auto kind : kinds) {
        INFO(memcoro::ring::to_string(kind));
        fleet f(5, down_policy::failover, 20, kind);
        f.down(1);
        f.down(3);
        probe_list probes;
        std::size_t moved = 0;
        for (const auto& key : some_keys(2000)) {
            const std::size_t own = f.ring->server_for(key);
            const std::size_t got = f.router.route(key, t0 + 10ms, probes);
            if (own != 1 && own != 3) {
                CHECK(got == own); // a live server's keys never move
                continue;
            }
            ++moved;
            // The first server up on the key's own walk round the ring.
            const auto order = walk(*f.ring, key);
            const auto first_up =
                std::find_if(order.begin(), order.end(), [&](std::size_t i) { return f.is_up(i); });
            REQUIRE(first_up != order.end());
            CHECK(got == *first_up);
        }
        CHECK(moved > 400);
        CHECK(probes.empty());
    }
}

TEST_CASE("key_router: max_failover_attempts bounds the servers tried, the key's own included")
{
    // Only server 4 is up: a key of a down server reaches it only if it is among the first
    // `attempts` distinct servers of the key's walk.
    for (std::size_t attempts = 0; attempts <= 5; ++attempts) {
        INFO("attempts " << attempts);
        fleet f(5, down_policy::failover, attempts);
        for (std::size_t i = 0; i < 4; ++i)
            f.down(i);
        probe_list probes;
        std::size_t reached = 0, failed = 0; // keys of the down servers
        for (const auto& key : some_keys(1000)) {
            const auto order = walk(*f.ring, key);
            REQUIRE(order.size() == 5);
            const auto at = static_cast<std::size_t>(
                std::find(order.begin(), order.end(), std::size_t{4}) - order.begin());
            const std::size_t got = f.router.route(key, t0, probes);
            if (at == 0) {
                CHECK(got == 4); // its own server is up: no bound applies
            } else if (at < attempts) {
                CHECK(got == 4);
                ++reached;
            } else {
                CHECK(got == key_router::none);
                ++failed;
            }
        }
        CHECK(reached + failed > 700);
        if (attempts <= 1)
            CHECK(reached == 0); // only the key's own server may be tried
        else if (attempts == 5)
            CHECK(failed == 0);
        else
            CHECK((reached > 0 && failed > 0)); // the bound decides some keys either way
    }
}

TEST_CASE("key_router: a down server is probed once per retry wait, never while a probe is out")
{
    for (const auto policy : {down_policy::fail_fast, down_policy::failover}) {
        INFO((policy == down_policy::failover ? "failover" : "fail_fast"));
        fleet f(3, policy);
        f.down(0);
        const auto keys = some_keys(300);
        probe_list probes;
        auto route_all = [&](time_point now) {
            for (const auto& key : keys)
                (void)f.router.route(key, now, probes);
        };

        route_all(t0 + 999ms); // before the wait has passed
        CHECK(probes.empty());
        route_all(t0 + 1000ms);
        CHECK(probes == probe_list{0}); // one probe, however many keys asked
        probes.clear();
        route_all(t0 + 1000ms);
        route_all(t0 + 20s); // the probe is still out
        CHECK(probes.empty());
        CHECK_FALSE(f.router.usable(0, t0 + 20s, probes));
        CHECK(probes.empty());

        // The probe fails: the next wait is twice as long, from the failure.
        const time_point failed_at = t0 + 1500ms;
        f.states[0]->record_failure(failed_at);
        route_all(failed_at + 1999ms);
        CHECK(probes.empty());
        route_all(failed_at + 2000ms);
        CHECK(probes == probe_list{0});
        probes.clear();

        // That probe succeeds: the server is up, and its keys come back to it at once.
        f.states[0]->record_success();
        std::size_t own_keys = 0;
        for (const auto& key : keys) {
            const std::size_t own = f.ring->server_for(key);
            CHECK(f.router.route(key, failed_at + 2001ms, probes) == own);
            own_keys += own == 0 ? 1 : 0;
        }
        CHECK(own_keys > 50);
        CHECK(probes.empty());
    }
}

TEST_CASE("key_router: a failover walk asks for the probe of every due server it passes")
{
    fleet f(4, down_policy::failover);
    f.down(0);
    f.states[1]->mark_down(t0 + 500ms); // due half a second after server 0
    // Keys of server 1 whose walk passes server 0 next.
    std::vector<std::string> keys;
    for (const auto& key : some_keys(2000)) {
        const auto order = walk(*f.ring, key);
        if (order[0] == 1 && order[1] == 0)
            keys.push_back(key);
    }
    REQUIRE(keys.size() > 10);
    probe_list probes;
    for (const auto& key : keys)
        CHECK(f.router.route(key, t0 + 1200ms, probes) == walk(*f.ring, key)[2]);
    CHECK(probes == probe_list{0}); // server 1's wait has not passed; server 0's has
    probes.clear();
    f.states[0]->record_inconclusive(); // that probe was cancelled: another may go
    for (const auto& key : keys)
        (void)f.router.route(key, t0 + 1500ms, probes);
    CHECK(probes == probe_list{1, 0}); // the key's own server, then the one passed
}

TEST_CASE("key_router: the time is read only when a key's own server is down")
{
    fleet f(3, down_policy::failover);
    f.down(2);
    probe_list probes;
    std::size_t reads = 0;
    auto now = [&] {
        ++reads;
        return t0;
    };
    std::size_t on_down = 0;
    for (const auto& key : some_keys(300)) {
        const std::size_t own = f.router.own_server(key);
        const std::size_t before = reads;
        const std::size_t got = f.router.route(own, key, now, probes);
        CHECK(reads - before == (own == 2 ? 1u : 0u));
        CHECK(got != 2);
        on_down += own == 2 ? 1 : 0;
    }
    CHECK(on_down > 0);
    CHECK(reads == on_down);
}

TEST_CASE("key_router: routing allocates nothing, up or down")
{
    fleet f(5, down_policy::failover);
    f.down(3);
    const auto keys = some_keys(1000);
    probe_list probes;
    probes.reserve(8);
    std::vector<std::uint32_t> own(keys.size());
    const std::size_t before = memcoro::test::allocation_count();
    std::size_t placed = 0;
    for (const auto& key : keys)
        placed += f.router.route(key, t0 + 2s, probes) != key_router::none ? 1 : 0;
    f.router.own_servers(keys, own.data());
    CHECK(memcoro::test::allocation_count() == before);
    CHECK(placed == keys.size());
    CHECK(probes == probe_list{3});
}

TEST_CASE("key_router: the ring must cover exactly the servers given")
{
    std::vector<node> nodes{{"a", 1, 1, {}}, {"b", 2, 1, {}}};
    server_state s;
    key_router router;
    CHECK_THROWS_AS(router.assign(continuum(distribution_kind::ketama, nodes), {&s}),
                    std::invalid_argument);
    CHECK_THROWS_AS(router.assign(std::nullopt, {&s}), std::invalid_argument);
    router.assign(std::nullopt, {});
    CHECK(router.empty());
    server_state s2;
    router.assign(continuum(distribution_kind::ketama, nodes), {&s, &s2});
    CHECK(router.size() == 2);
}

TEST_CASE("key_router: under fleet, every key of every server-down vector goes where the fleet's "
          "client put it, or fails where it failed")
{
    const auto files = memcoro::ring::test::down_vector_files();
    CHECK(files.size() == 32);
    std::size_t placed = 0, failed = 0;
    for (const auto& name : files) {
        INFO(name);
        const auto data = memcoro::ring::test::load_compat(name);
        const auto s = memcoro::ring::test::setup_for(data);
        const auto nodes = memcoro::ring::test::nodes_of(data);
        std::vector<std::unique_ptr<server_state>> states;
        std::vector<server_state*> raw;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            states.push_back(std::make_unique<server_state>(exact(1000ms)));
            raw.push_back(states.back().get());
        }
        const std::size_t down = data.at("down").at("server_index");
        states[down]->mark_down(t0);
        key_router router(down_policy::fleet, 20);
        router.assign(continuum(s.distribution, s.key_hash, nodes), raw);
        probe_list probes;
        std::size_t wrong = 0;
        for (const auto& entry : data.at("mapping")) {
            const std::string key = entry.at(0);
            wrong += router.route(key, t0 + 10ms, probes) != entry.at(1).get<std::size_t>();
            ++placed;
        }
        if (data.contains("failed_keys"))
            for (const auto& k : data.at("failed_keys")) {
                wrong += router.route(k.get<std::string>(), t0 + 10ms, probes) != key_router::none;
                ++failed;
            }
        CHECK(wrong == 0);
        CHECK(probes.empty()); // the retry wait has not passed
    }
    CHECK(placed > 50000);
    CHECK(failed > 1000);
}

TEST_CASE("key_router: under fleet, a rebuilt ring follows the servers as they go and come back")
{
    // Weights 1,2,3,1,2: rebuilt without a server, the others gain points and some of their
    // keys move; the twemproxy-modula table moves most of them.
    for (const auto kind : {distribution_kind::ketama, distribution_kind::twemproxy_modula}) {
        INFO(memcoro::ring::to_string(kind));
        std::vector<node> nodes;
        std::vector<std::unique_ptr<server_state>> states;
        std::vector<server_state*> raw;
        const std::uint32_t weights[] = {1, 2, 3, 1, 2};
        for (std::size_t i = 0; i < 5; ++i) {
            nodes.push_back(
                node{"127.0.0.1", static_cast<std::uint16_t>(22201 + i), weights[i], {}});
            states.push_back(std::make_unique<server_state>(exact(1000ms)));
            raw.push_back(states.back().get());
        }
        const continuum ring(kind, nodes);
        key_router router(down_policy::fleet);
        router.assign(continuum(kind, nodes), raw);
        probe_list probes;
        const auto keys = some_keys(2000);
        auto check_all = [&](const std::vector<bool>& down) {
            const memcoro::ring::fleet_placement expected(ring, down);
            std::size_t wrong = 0, live_moved = 0;
            for (const auto& key : keys) {
                const std::size_t own = ring.server_for(key);
                const std::size_t got = router.route(own, key, t0 + 10ms, probes);
                const auto want = expected.server_for(key);
                wrong += got != (want ? *want : key_router::none);
                live_moved += !down[own] && got != own ? 1 : 0;
            }
            CHECK(wrong == 0);
            return live_moved;
        };
        CHECK(check_all({false, false, false, false, false}) == 0);
        states[1]->mark_down(t0);
        CHECK(check_all({false, true, false, false, false}) > 0);
        states[4]->mark_down(t0);
        CHECK(check_all({false, true, false, false, true}) > 0);
        states[1]->mark_up();
        CHECK(check_all({false, false, false, false, true}) > 0);
        states[4]->mark_up();
        CHECK(check_all({false, false, false, false, false}) == 0); // back where they were
        for (auto& st : states)
            st->mark_down(t0);
        CHECK(check_all({true, true, true, true, true}) == 0);
        CHECK(probes.empty());
    }
}

TEST_CASE("key_router: under fleet, rules that keep live keys in place never look beyond the key's "
          "own server")
{
    for (const auto kind : {distribution_kind::pecl_consistent, distribution_kind::pecl_standard,
                            distribution_kind::modula}) {
        INFO(memcoro::ring::to_string(kind));
        fleet f(5, down_policy::fleet, 20, kind);
        f.down(2);
        const memcoro::ring::fleet_placement expected(*f.ring, {false, false, true, false, false});
        probe_list probes;
        std::size_t reads = 0;
        auto now = [&] {
            ++reads;
            return t0 + 10ms;
        };
        std::size_t on_down = 0;
        for (const auto& key : some_keys(2000)) {
            const std::size_t own = f.ring->server_for(key);
            const std::size_t got = f.router.route(own, key, now, probes);
            const auto want = expected.server_for(key);
            CHECK(got == (want ? *want : key_router::none));
            if (own != 2)
                CHECK(got == own);
            on_down += own == 2 ? 1 : 0;
        }
        CHECK(reads == on_down); // the time is read only for the down server's keys
        CHECK(probes.empty());
    }
}

TEST_CASE("key_router: under fleet, PECL's re-hashing asks for the probe of a due server it meets")
{
    fleet f(3, down_policy::fleet, 20, distribution_kind::pecl_consistent);
    f.down(1);
    probe_list probes;
    std::string key;
    for (const auto& k : some_keys(500))
        if (f.ring->server_for(k) == 1) {
            key = k;
            break;
        }
    REQUIRE(!key.empty());
    CHECK(f.router.route(key, t0 + 2s, probes) != 1); // re-hashed to a live server
    CHECK(probes == probe_list{1});                   // and its own server is due a probe
}

TEST_CASE("key_router: under fleet, PECL's re-hashing stops after max_failover_attempts tries")
{
    // Two of three servers down: some keys need several tries; with one try allowed, a key whose
    // "<key>-0" lands on a down server fails.
    fleet one(3, down_policy::fleet, 1, distribution_kind::pecl_standard);
    fleet many(3, down_policy::fleet, 20, distribution_kind::pecl_standard);
    for (auto* f : {&one, &many}) {
        f->down(0);
        f->down(2);
    }
    probe_list probes;
    std::size_t failed_one = 0, failed_many = 0, down_keys = 0;
    for (const auto& key : some_keys(2000)) {
        if (one.ring->server_for(key) == 1)
            continue;
        ++down_keys;
        const std::size_t a = one.router.route(key, t0 + 10ms, probes);
        const std::size_t b = many.router.route(key, t0 + 10ms, probes);
        failed_one += a == key_router::none ? 1 : 0;
        failed_many += b == key_router::none ? 1 : 0;
        CHECK((a == key_router::none || a == 1));
        CHECK((b == key_router::none || b == 1));
        CHECK((a == key_router::none || a == one.ring->rehash_server(key, 0)));
    }
    CHECK(failed_one > down_keys / 2);
    CHECK(failed_many < failed_one);
}
