// The server-down vectors (test/data/compat/*_down*.public.json, schema version 2): where PECL
// memcache, libmemcached, php-memcached and twemproxy put every key while one server of the pool
// is down. ring::fleet_placement must reproduce every placed key and every failed key exactly.

#include "compat_data.hpp"

#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/fleet.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace {

using memcoro::ring::continuum;
using memcoro::ring::distribution_kind;
using memcoro::ring::fleet_placement;
using memcoro::ring::fleet_rule;
using memcoro::ring::fleet_rule_of;
using memcoro::ring::test::down_vector_files;
using memcoro::ring::test::load_compat;
using memcoro::ring::test::nodes_of;
using memcoro::ring::test::setup_for;
using nlohmann::json;

/// Keys placed and keys failed as recorded, and as memcoro places them.
struct tally {
    std::size_t placed = 0, failed = 0, wrong = 0, live_moved = 0;
};

tally check_down_file(const std::string& file_name)
{
    const json file = load_compat(file_name);
    const std::string config_id = file.at("config_id");
    INFO(config_id);
    REQUIRE(file.at("schema_version") == 2);
    REQUIRE(file_name == config_id + ".public.json");

    const auto s = setup_for(file);
    const continuum all_up(s.distribution, s.key_hash, nodes_of(file));
    const fleet_rule rule = fleet_rule_of(s.distribution);
    INFO(to_string(s.distribution)
         << " / " << to_string(s.key_hash) << ", rule " << to_string(rule));

    // The recording is of the policy whose rule memcoro applies to this distribution.
    const std::string implementation = file.at("implementation");
    const std::string kind = file.at("policy").at("kind");
    std::size_t max_rehash = 20;
    if (implementation == "pecl-memcache") {
        CHECK(rule == fleet_rule::rehash);
        CHECK(kind == "failover");
        CHECK(file.at("config").at("memcache.allow_failover") == "1");
        max_rehash =
            std::stoul(file.at("config").at("memcache.max_failover_attempts").get<std::string>());
    } else {
        CHECK(kind == "eject");
        CHECK(rule == (s.distribution == distribution_kind::modula ? fleet_rule::fail
                                                                   : fleet_rule::rebuild));
    }

    // The same servers as the all-up file of the configuration, one of them down.
    const json all_up_file =
        load_compat(file.at("all_up_config_id").get<std::string>() + ".public.json");
    CHECK(all_up_file.at("servers") == file.at("servers"));
    const std::size_t down_index = file.at("down").at("server_index");
    REQUIRE(down_index < all_up.size());
    CHECK(file.at("servers").at(down_index).at("port") == file.at("down").at("port"));
    std::vector<bool> down(all_up.size(), false);
    down[down_index] = true;
    const fleet_placement placement(all_up, down, max_rehash);

    tally t;
    std::vector<std::size_t> per_server(all_up.size());
    for (const json& entry : file.at("mapping")) {
        const std::string key = entry.at(0);
        const std::size_t expected = entry.at(1);
        REQUIRE(expected < all_up.size());
        CHECK(expected != down_index);
        const auto got = placement.server_for(key);
        if (got != expected) {
            if (++t.wrong <= 5)
                FAIL_CHECK("key '" << key << "': recorded on " << expected << ", memcoro "
                                   << (got ? std::to_string(*got) : std::string("fails it")));
        }
        const std::size_t own = all_up.server_for(key);
        if (own != down_index && own != expected)
            ++t.live_moved;
        ++per_server[expected];
        ++t.placed;
    }
    if (file.contains("failed_keys"))
        for (const json& k : file.at("failed_keys")) {
            const std::string key = k;
            const auto got = placement.server_for(key);
            if (got) {
                if (++t.wrong <= 5)
                    FAIL_CHECK("key '" << key << "': failed by the client, memcoro places it on "
                                       << *got);
            }
            // Only a down server's keys fail.
            CHECK(all_up.server_for(key) == down_index);
            ++t.failed;
        }
    CHECK(t.wrong == 0);

    // Cross-checks of our reading of the file against its own summary.
    const std::size_t rejected =
        file.contains("rejected_keys") ? file.at("rejected_keys").size() : 0;
    CHECK(t.placed + t.failed + rejected ==
          file.at("verification").at("key_count").get<std::size_t>());
    CHECK(t.failed == file.at("verification").at("failed_keys").get<std::size_t>());
    CHECK(per_server ==
          file.at("verification").at("keys_per_server").get<std::vector<std::size_t>>());
    CHECK(t.live_moved ==
          file.at("movement_vs_all_up").at("live_server_keys_moved").get<std::size_t>());
    if (!memcoro::ring::moves_live_keys(rule))
        CHECK(t.live_moved == 0);
    return t;
}

} // namespace

TEST_CASE("compat down vectors: every key of every server-down file goes where the fleet's "
          "client put it, or fails where it failed",
          "[ring][compat][down]")
{
    const std::vector<std::string> files = down_vector_files();
    // 16 configurations, each with 127.0.0.1:22202 and with 127.0.0.1:22205 down.
    CHECK(files.size() == 32);
    tally total;
    std::size_t moving_files = 0;
    for (const std::string& f : files) {
        const tally t = check_down_file(f);
        total.placed += t.placed;
        total.failed += t.failed;
        total.wrong += t.wrong;
        total.live_moved += t.live_moved;
        moving_files += t.live_moved > 0 ? 1 : 0;
    }
    CHECK(total.wrong == 0);
    // What the files exercise: placed keys, failed keys, and live keys that move (weighted
    // ketama rebuilds and twemproxy modula).
    CHECK(total.placed > 50000);
    CHECK(total.failed > 1000);
    CHECK(moving_files == 8);
    std::cout << "compat down vectors: " << files.size() << " files, " << total.placed
              << " placed keys and " << total.failed << " failed keys reproduced ("
              << total.live_moved << " live keys moved, in " << moving_files << " files), "
              << total.wrong << " wrong\n";
}

TEST_CASE("fleet rules: each distribution has its client's", "[ring][down]")
{
    CHECK(fleet_rule_of(distribution_kind::pecl_consistent) == fleet_rule::rehash);
    CHECK(fleet_rule_of(distribution_kind::pecl_standard) == fleet_rule::rehash);
    CHECK(fleet_rule_of(distribution_kind::modula) == fleet_rule::fail);
    for (auto d :
         {distribution_kind::ketama, distribution_kind::ketama_spy, distribution_kind::consistent,
          distribution_kind::twemproxy_ketama, distribution_kind::twemproxy_modula})
        CHECK(fleet_rule_of(d) == fleet_rule::rebuild);
    CHECK_FALSE(memcoro::ring::moves_live_keys(fleet_rule::rehash));
    CHECK_FALSE(memcoro::ring::moves_live_keys(fleet_rule::fail));
    CHECK(memcoro::ring::moves_live_keys(fleet_rule::rebuild));
}

TEST_CASE("fleet rules: nothing moves while every server is up; nothing is placed while every "
          "server is down",
          "[ring][down]")
{
    std::vector<memcoro::ring::node> nodes;
    for (std::uint16_t i = 0; i < 4; ++i)
        nodes.push_back({"127.0.0.1", static_cast<std::uint16_t>(22201 + i), i + 1u, ""});
    for (distribution_kind d : memcoro::ring::all_distribution_kinds) {
        INFO(to_string(d));
        const continuum ring(d, nodes);
        const fleet_placement up(ring, std::vector<bool>(4, false));
        const fleet_placement none(ring, std::vector<bool>(4, true));
        for (int i = 0; i < 500; ++i) {
            const std::string key = "k" + std::to_string(i);
            CHECK(up.server_for(key) == ring.server_for(key));
            CHECK_FALSE(none.server_for(key));
        }
    }
    CHECK_THROWS_AS(fleet_placement(continuum(distribution_kind::ketama, nodes), {true}),
                    std::invalid_argument);
}

TEST_CASE("fleet rules: a rebuilt ring is the ring over the live servers, indexes kept",
          "[ring][down]")
{
    std::vector<memcoro::ring::node> nodes;
    for (std::uint16_t i = 0; i < 5; ++i)
        nodes.push_back({"127.0.0.1", static_cast<std::uint16_t>(22201 + i), 1u + i % 3, ""});
    for (distribution_kind d : memcoro::ring::all_distribution_kinds) {
        INFO(to_string(d));
        const continuum ring(d, nodes);
        const continuum rebuilt = ring.without({false, true, false, false, true});
        std::vector<memcoro::ring::node> live = {nodes[0], nodes[2], nodes[3]};
        const continuum direct(d, live);
        const std::size_t index[] = {0, 2, 3};
        CHECK(rebuilt.size() == 5);
        CHECK(rebuilt.points_of(1) == 0);
        CHECK(rebuilt.points_of(4) == 0);
        for (int i = 0; i < 500; ++i) {
            const std::string key = "key:" + std::to_string(i);
            CHECK(rebuilt.server_for(key) == index[direct.server_for(key)]);
        }
    }
    const continuum ring(distribution_kind::ketama, nodes);
    CHECK_THROWS_AS(ring.without({true, true, true, true, true}), std::invalid_argument);
    CHECK_THROWS_AS(ring.without({true}), std::invalid_argument);
}

TEST_CASE("fleet rules: PECL's re-hashed keys append the attempt to the prepared key",
          "[ring][down]")
{
    std::vector<memcoro::ring::node> nodes;
    for (std::uint16_t i = 0; i < 5; ++i)
        nodes.push_back({"127.0.0.1", static_cast<std::uint16_t>(22201 + i), 1, ""});
    for (auto d : {distribution_kind::pecl_consistent, distribution_kind::pecl_standard}) {
        const continuum ring(d, nodes);
        CHECK(ring.rehash_server("user:1", 0) == ring.server_for("user:1-0"));
        CHECK(ring.rehash_server("user:1", 17) == ring.server_for("user:1-17"));
        // Bytes <= 0x20 are replaced before the suffix is added.
        CHECK(ring.rehash_server("a b", 3) == ring.server_for("a_b-3"));
    }
    // A 250-byte key: the suffix is hashed too (server_for would cut it off at 250 bytes).
    const continuum standard(distribution_kind::pecl_standard, nodes);
    const std::string long_key(250, 'x');
    for (std::size_t n = 0; n < 20; ++n) {
        std::uint32_t v = (memcoro::ring::crc32(long_key + "-" + std::to_string(n)) >> 16) & 0x7fff;
        if (v == 0)
            v = 1;
        CHECK(standard.rehash_server(long_key, n) == v % 5);
    }
}
