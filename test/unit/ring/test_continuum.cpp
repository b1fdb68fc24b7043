// Properties of the distributions beyond the recorded vectors: balance, key movement when the
// fleet changes, failover with find(), argument checking and the no-allocation lookup.

#include "../../support/allocation_counter.hpp"

#include <memcoro/ring/distribution.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using memcoro::ring::all_distribution_kinds;
using memcoro::ring::continuum;
using memcoro::ring::distribution_kind;
using memcoro::ring::hash_kind;
using memcoro::ring::node;

/// `count` equal-weight servers 10.0.0.1:11211, 10.0.0.2:11211, ... (port 11211 on purpose: it
/// exercises the libmemcached/twemproxy rule that leaves the port out of the point string).
std::vector<node> fleet(std::size_t count, std::size_t first = 1)
{
    std::vector<node> nodes;
    for (std::size_t i = first; i < first + count; ++i)
        nodes.push_back({"10.0.0." + std::to_string(i), 11211, 1, ""});
    return nodes;
}

std::string label(const node& n)
{
    return n.host + ":" + std::to_string(n.port);
}

/// Deterministic, varied keys of the shapes applications use.
const std::vector<std::string>& sample_keys()
{
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> out;
        out.reserve(100000);
        for (int i = 0; i < 100000; ++i) {
            switch (i % 4) {
            case 0:
                out.push_back("user:" + std::to_string(i));
                break;
            case 1:
                out.push_back("session/" + std::to_string(i * 7919) + "/data");
                break;
            case 2:
                out.push_back("k" + std::to_string(i));
                break;
            default:
                out.push_back("cache:page:" + std::to_string(i % 977) + ":" + std::to_string(i));
                break;
            }
        }
        return out;
    }();
    return keys;
}

/// The ring distributions: adding or removing a server moves only that server's keys.
const std::vector<distribution_kind> ring_kinds = {
    distribution_kind::ketama, distribution_kind::ketama_spy, distribution_kind::consistent,
    distribution_kind::pecl_consistent, distribution_kind::twemproxy_ketama};

} // namespace

TEST_CASE("distribution names round-trip", "[ring]")
{
    using memcoro::ring::parse_distribution;
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        REQUIRE(parse_distribution(to_string(kind)));
        CHECK(parse_distribution(to_string(kind))->distribution == kind);
    }
    CHECK(parse_distribution("ketama-spy")->distribution == distribution_kind::ketama_spy);
    CHECK(parse_distribution("pecl-consistent")->distribution ==
          distribution_kind::pecl_consistent);
    CHECK(parse_distribution("twemproxy-modula")->distribution ==
          distribution_kind::twemproxy_modula);
    // Other spellings: test_names.cpp.
    CHECK(parse_distribution("ketama_spy")->distribution == distribution_kind::ketama_spy);
    CHECK(parse_distribution("Ketama")->distribution == distribution_kind::ketama);
    CHECK_FALSE(parse_distribution("").has_value());
}

TEST_CASE("default hashes follow the reference clients", "[ring]")
{
    using memcoro::ring::default_hash;
    CHECK(default_hash(distribution_kind::modula) == hash_kind::one_at_a_time);
    CHECK(default_hash(distribution_kind::ketama) == hash_kind::md5);
    CHECK(default_hash(distribution_kind::ketama_spy) == hash_kind::md5);
    CHECK(default_hash(distribution_kind::consistent) == hash_kind::one_at_a_time);
    CHECK(default_hash(distribution_kind::pecl_consistent) == hash_kind::crc32);
    CHECK(default_hash(distribution_kind::pecl_standard) == hash_kind::crc32);
    CHECK(default_hash(distribution_kind::twemproxy_ketama) == hash_kind::fnv1a_64);
    CHECK(default_hash(distribution_kind::twemproxy_modula) == hash_kind::fnv1a_64);

    const continuum ring(distribution_kind::twemproxy_ketama, fleet(3));
    CHECK(ring.key_hash() == hash_kind::fnv1a_64);
    CHECK(ring.distribution() == distribution_kind::twemproxy_ketama);
    CHECK(ring.size() == 3);
    CHECK(ring.nodes() == fleet(3));
}

TEST_CASE("bad server lists are rejected", "[ring]")
{
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        CHECK_THROWS_AS(continuum(kind, {}), std::invalid_argument);
        auto nodes = fleet(3);
        nodes[1].weight = 0;
        CHECK_THROWS_AS(continuum(kind, nodes), std::invalid_argument);
    }
    // A slot per unit of weight: four billion slots is a mistake, not a fleet.
    std::vector<node> huge = {{"a", 1, 4000000000U, ""}, {"b", 1, 1, ""}};
    CHECK_THROWS_AS(continuum(distribution_kind::pecl_standard, huge), std::invalid_argument);
    CHECK_THROWS_AS(continuum(distribution_kind::twemproxy_modula, huge), std::invalid_argument);
    CHECK_THROWS_AS(continuum(distribution_kind::pecl_consistent, huge), std::invalid_argument);
    // The ketama formulas only use the share, so large weights are fine there.
    CHECK_NOTHROW(continuum(distribution_kind::ketama, huge));
}

TEST_CASE("a single server gets every key", "[ring]")
{
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(1));
        for (int i = 0; i < 1000; ++i)
            REQUIRE(ring.server_for("key" + std::to_string(i)) == 0);
    }
}

TEST_CASE("keys are spread evenly over 10 equal servers", "[ring][balance]")
{
    // Bounds on max/min keys per server and on their standard deviation (relative to the mean)
    // over 100,000 keys. Measured on this key set with three fleets (10.0.0.N:11211,
    // 127.0.0.1:2220N, cacheN.example.com:11211):
    //   modula            max/min 1.02      sd 0.7%       (a good hash modulo 10)
    //   pecl-standard     1.04              1.0%
    //   twemproxy-modula  1.22              6.4%          fnv1a_64's low bits mix poorly
    //   ketama            1.24-1.34         6.5-8.8%      160 md5 points per server
    //   twemproxy-ketama  1.25-1.34         6.4-8.8%
    //   ketama-spy        1.26-1.49         7.3-11.0%
    //   consistent        1.22-1.60         6.3-12.3%     only 100 points per server
    //   pecl-consistent   1.74-2.06         17.8-24.2%    crc32 of "host:port-i" strings is
    //                                                     linear, so the points cluster
    // A ring with P random points per server has a relative spread of about 1/sqrt(P) (8-10%
    // here), so 1.3-1.6 is what a correct ring gives. PECL's own placement is just as uneven
    // (its recorded 5-server vectors have 282..502 keys per server). The bounds leave margin
    // above the measurements yet catch a broken table: a server without points, or with double
    // its share, pushes max/min past 2 on every distribution but pecl-consistent, whose bound is
    // set just above what PECL itself does.
    struct bound {
        distribution_kind kind;
        double max_ratio;
        double max_relative_sd;
    };
    const std::vector<bound> bounds = {
        {distribution_kind::modula, 1.1, 0.03},
        {distribution_kind::pecl_standard, 1.1, 0.03},
        {distribution_kind::twemproxy_modula, 1.35, 0.10},
        {distribution_kind::ketama, 1.45, 0.12},
        {distribution_kind::twemproxy_ketama, 1.45, 0.12},
        {distribution_kind::ketama_spy, 1.6, 0.15},
        {distribution_kind::consistent, 1.7, 0.16},
        {distribution_kind::pecl_consistent, 2.4, 0.25},
    };
    const auto& keys = sample_keys();
    for (const bound& b : bounds) {
        const continuum ring(b.kind, fleet(10));
        std::vector<std::size_t> per_server(10);
        for (const std::string& key : keys)
            ++per_server[ring.server_for(key)];
        const auto [min, max] = std::minmax_element(per_server.begin(), per_server.end());
        const double ratio = static_cast<double>(*max) / static_cast<double>(*min);
        const double mean = static_cast<double>(keys.size()) / 10;
        double variance = 0;
        for (std::size_t n : per_server)
            variance += (static_cast<double>(n) - mean) * (static_cast<double>(n) - mean);
        const double relative_sd = std::sqrt(variance / 10) / mean;
        INFO(to_string(b.kind) << ": max/min " << ratio << ", sd " << 100 * relative_sd
                               << "% of the mean");
        CHECK(*min > 0);
        CHECK(ratio < b.max_ratio);
        CHECK(relative_sd < b.max_relative_sd);
    }
}

TEST_CASE("weights shift load proportionally", "[ring][balance]")
{
    // Server 2 has weight 3 of a total of 5: about 60% of the keys.
    std::vector<node> nodes = fleet(3);
    nodes[2].weight = 3;
    for (distribution_kind kind :
         {distribution_kind::ketama, distribution_kind::twemproxy_ketama,
          distribution_kind::consistent, distribution_kind::pecl_consistent,
          distribution_kind::pecl_standard, distribution_kind::twemproxy_modula}) {
        const continuum ring(kind, nodes);
        std::size_t heavy = 0;
        for (const std::string& key : sample_keys())
            heavy += ring.server_for(key) == 2 ? 1 : 0;
        const double share = static_cast<double>(heavy) / static_cast<double>(sample_keys().size());
        INFO(to_string(kind) << ": share of the weight-3 server " << share);
        CHECK(share > 0.5);
        CHECK(share < 0.7);
    }
}

TEST_CASE("adding an 11th server moves about 1/11 of the keys, all onto it", "[ring][movement]")
{
    const auto& keys = sample_keys();
    for (distribution_kind kind : ring_kinds) {
        const continuum before(kind, fleet(10));
        const continuum after(kind, fleet(11));
        std::size_t moved = 0;
        std::size_t moved_elsewhere = 0;
        for (const std::string& key : keys) {
            const std::size_t a = before.server_for(key);
            const std::size_t b = after.server_for(key);
            if (label(before.nodes()[a]) != label(after.nodes()[b])) {
                ++moved;
                if (b != 10)
                    ++moved_elsewhere;
            }
        }
        const double fraction = static_cast<double>(moved) / static_cast<double>(keys.size());
        INFO(to_string(kind) << ": moved " << fraction << " (1/11 = " << 1.0 / 11 << ")");
        CHECK(fraction > 0.5 / 11);
        CHECK(fraction < 1.5 / 11);
        CHECK(moved_elsewhere == 0);
    }

    // For contrast, modula moves most keys: the reason the ring distributions exist.
    const continuum before(distribution_kind::modula, fleet(10));
    const continuum after(distribution_kind::modula, fleet(11));
    std::size_t moved = 0;
    for (const std::string& key : keys)
        moved += before.server_for(key) != after.server_for(key) ? 1 : 0;
    CHECK(static_cast<double>(moved) / static_cast<double>(keys.size()) > 0.8);
}

TEST_CASE("removing a server moves only that server's keys", "[ring][movement]")
{
    const auto& keys = sample_keys();
    for (distribution_kind kind : ring_kinds) {
        const continuum before(kind, fleet(10));
        // Remove 10.0.0.4.
        std::vector<node> rest = fleet(10);
        rest.erase(rest.begin() + 3);
        const continuum after(kind, rest);
        std::size_t moved_from_others = 0;
        std::size_t removed_keys = 0;
        for (const std::string& key : keys) {
            const std::string a = label(before.nodes()[before.server_for(key)]);
            const std::string b = label(after.nodes()[after.server_for(key)]);
            if (a == "10.0.0.4:11211")
                ++removed_keys;
            else if (a != b)
                ++moved_from_others;
        }
        INFO(to_string(kind) << ": keys of the removed server " << removed_keys);
        CHECK(moved_from_others == 0);
        CHECK(removed_keys > keys.size() / 20);
    }
}

TEST_CASE("find skips a down server without moving other keys", "[ring][find]")
{
    const auto& keys = sample_keys();
    constexpr std::size_t down = 3;
    auto up = [](std::size_t i) { return i != down; };
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(10));
        std::size_t rerouted = 0;
        std::size_t mismatches = 0;
        for (std::size_t k = 0; k < keys.size(); k += 7) {
            const std::string& key = keys[k];
            const std::size_t owner = ring.server_for(key);
            const auto found = ring.find(key, up, 10);
            REQUIRE(found.has_value());
            if (owner != down) {
                mismatches += *found != owner ? 1 : 0;
            } else {
                ++rerouted;
                CHECK(*found != down);
                CHECK(*found < 10);
                // Only the key's own server may be tried when max_servers is 1.
                CHECK_FALSE(ring.find(key, up, 1).has_value());
                if (kind == distribution_kind::modula) // the next slot
                    CHECK(*found == down + 1);
            }
        }
        CHECK(mismatches == 0);
        CHECK(rerouted > 0);
    }
}

TEST_CASE("find on a ring equals the ring without the down server", "[ring][find]")
{
    // Walking clockwise past the down server's points is exactly the lookup in a ring built
    // without it, for the rings whose points do not depend on the number of servers.
    const auto& keys = sample_keys();
    for (distribution_kind kind :
         {distribution_kind::consistent, distribution_kind::pecl_consistent}) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(10));
        std::vector<node> rest = fleet(10);
        rest.erase(rest.begin() + 3);
        const continuum without(kind, rest);
        std::size_t differ = 0;
        for (const std::string& key : keys) {
            const auto found = ring.find(
                key, [](std::size_t i) { return i != 3; }, 10);
            REQUIRE(found.has_value());
            differ += label(ring.nodes()[*found]) != label(without.nodes()[without.server_for(key)])
                          ? 1
                          : 0;
        }
        CHECK(differ == 0);
    }
}

TEST_CASE("find limits and exhaustion", "[ring][find]")
{
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(5));
        auto none = [](std::size_t) { return false; };
        auto all = [](std::size_t) { return true; };
        std::size_t calls = 0;
        auto counting_none = [&calls](std::size_t) {
            ++calls;
            return false;
        };
        CHECK_FALSE(ring.find("some-key", none, 5).has_value());
        CHECK_FALSE(ring.find("some-key", all, 0).has_value());
        CHECK(ring.find("some-key", all, 1) == ring.server_for("some-key"));
        // Each server is asked at most once, and no more than max_servers of them.
        CHECK_FALSE(ring.find("some-key", counting_none, 100).has_value());
        CHECK(calls == 5);
        calls = 0;
        CHECK_FALSE(ring.find("some-key", counting_none, 3).has_value());
        CHECK(calls == 3);
    }

    // Modula: servers 3 and 4 down, a key of server 3 would need a third distinct server.
    const continuum ring(distribution_kind::modula, fleet(10));
    std::string key;
    for (int i = 0; ring.server_for(key = "k" + std::to_string(i)) != 3; ++i) {
    }
    auto up = [](std::size_t i) { return i != 3 && i != 4; };
    CHECK_FALSE(ring.find(key, up, 2).has_value());
    CHECK(ring.find(key, up, 3) == std::size_t{5});
}

TEST_CASE("find works for fleets larger than the inline server set", "[ring][find]")
{
    const continuum ring(distribution_kind::ketama, fleet(300));
    std::size_t checked = 0;
    for (std::size_t k = 0; k < 2000; ++k) {
        const std::string& key = sample_keys()[k];
        const std::size_t owner = ring.server_for(key);
        const auto found = ring.find(
            key, [owner](std::size_t i) { return i != owner; }, 300);
        REQUIRE(found.has_value());
        CHECK(*found != owner);
        ++checked;
    }
    CHECK(checked == 2000);
    // Everything down: every one of the 300 servers is tried once.
    std::size_t calls = 0;
    CHECK_FALSE(ring.find(
                        "x", [&calls](std::size_t) { return ++calls, false; }, 1000)
                    .has_value());
    CHECK(calls == 300);
}

TEST_CASE("server_for and find do not allocate", "[ring]")
{
    const auto& keys = sample_keys();
    std::string long_key(300, 'x'); // PECL cuts keys to 250 bytes: on the stack, not the heap
    long_key[5] = ' ';
    for (distribution_kind kind : all_distribution_kinds) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(10));
        const std::size_t before = memcoro::test::allocation_count();
        std::size_t sum = 0;
        for (std::size_t k = 0; k < 10000; ++k)
            sum += ring.server_for(keys[k]);
        sum += ring.server_for(long_key);
        for (std::size_t k = 0; k < 1000; ++k)
            sum += ring.find(
                           keys[k], [](std::size_t i) { return i % 2 == 0; }, 10)
                       .value_or(0);
        const std::size_t after = memcoro::test::allocation_count();
        CHECK(after == before);
        CHECK(sum > 0);
    }
}

TEST_CASE("servers_for gives every key the server server_for gives it", "[ring]")
{
    // Batched placement (several MD5 keys per pass, the ring's range index) against the one-key
    // path, for every distribution and hash, fleets small and large, weighted and not, and keys
    // short, long (past one MD5 block) and with bytes PECL rewrites.
    std::vector<std::string> keys(sample_keys().begin(), sample_keys().begin() + 3000);
    for (std::size_t length : {0, 1, 54, 55, 56, 57, 63, 64, 120, 250, 300})
        keys.push_back(std::string(length, 'q') + std::to_string(length));
    keys.push_back("with space");
    keys.push_back(std::string("ctl\x01\x7f\xff", 6));
    std::vector<std::vector<node>> fleets = {fleet(1), fleet(2), fleet(10), fleet(300)};
    std::vector<node> weighted = fleet(5);
    for (std::size_t i = 0; i < weighted.size(); ++i)
        weighted[i].weight = static_cast<std::uint32_t>(1 + 3 * i);
    fleets.push_back(weighted);
    for (distribution_kind kind : all_distribution_kinds)
        for (hash_kind hash : memcoro::ring::all_hash_kinds)
            for (const auto& nodes : fleets) {
                INFO(to_string(kind)
                     << " " << to_string(hash) << ", " << nodes.size() << " servers");
                const continuum ring(kind, hash, nodes);
                std::vector<std::uint32_t> out(keys.size() + 1, 0xdeadbeef);
                const std::size_t before = memcoro::test::allocation_count();
                ring.servers_for(keys, out.data());
                CHECK(memcoro::test::allocation_count() == before);
                std::size_t wrong = 0;
                for (std::size_t k = 0; k < keys.size(); ++k)
                    wrong += out[k] != ring.server_for(keys[k]);
                CHECK(wrong == 0);
                CHECK(out.back() == 0xdeadbeef);
            }
}

TEST_CASE("twemproxy placement does not depend on configuration order", "[ring]")
{
    // twemproxy sorts servers by name, so shuffling the yml changes nothing; the index returned
    // is still into the caller's order.
    std::vector<node> ordered = fleet(5);
    std::vector<node> shuffled = {ordered[3], ordered[0], ordered[4], ordered[2], ordered[1]};
    for (distribution_kind kind :
         {distribution_kind::twemproxy_ketama, distribution_kind::twemproxy_modula}) {
        INFO(to_string(kind));
        const continuum a(kind, ordered);
        const continuum b(kind, shuffled);
        std::size_t differ = 0;
        for (std::size_t k = 0; k < 20000; ++k) {
            const std::string& key = sample_keys()[k];
            differ += a.nodes()[a.server_for(key)] == b.nodes()[b.server_for(key)] ? 0 : 1;
        }
        CHECK(differ == 0);
    }
    // Named servers: the name is what is hashed and sorted, host:port does not matter.
    std::vector<node> named = {{"10.0.0.1", 11211, 1, "b"}, {"10.0.0.2", 11211, 1, "a"}};
    std::vector<node> moved = {{"192.168.1.1", 22122, 1, "b"}, {"192.168.1.2", 22122, 1, "a"}};
    const continuum x(distribution_kind::twemproxy_ketama, named);
    const continuum y(distribution_kind::twemproxy_ketama, moved);
    const continuum mx(distribution_kind::twemproxy_modula, named);
    for (std::size_t k = 0; k < 2000; ++k) {
        const std::string& key = sample_keys()[k];
        REQUIRE(x.server_for(key) == y.server_for(key));
    }
    // Slot order is a, b: a key with an even hash goes to "a", i.e. index 1.
    const std::string key = "user:42";
    CHECK(mx.server_for(key) == (memcoro::ring::hash(hash_kind::fnv1a_64, key) % 2 == 0 ? 1U : 0U));
}

TEST_CASE("PECL prepares keys before hashing", "[ring]")
{
    // Bytes <= 0x20 become '_' and keys are cut to 250 bytes, as PECL memcache does.
    for (distribution_kind kind :
         {distribution_kind::pecl_consistent, distribution_kind::pecl_standard}) {
        INFO(to_string(kind));
        const continuum ring(kind, fleet(7));
        std::size_t differ = 0;
        for (std::size_t k = 0; k < 5000; ++k) {
            std::string key = sample_keys()[k];
            std::string spaced = key;
            spaced[key.size() / 2] = ' ';
            std::string underscored = key;
            underscored[key.size() / 2] = '_';
            differ += ring.server_for(spaced) == ring.server_for(underscored) ? 0 : 1;
            const std::string long_key = std::string(250, 'p') + key;
            differ += ring.server_for(long_key) == ring.server_for(std::string(250, 'p')) ? 0 : 1;
        }
        CHECK(differ == 0);
    }
}
