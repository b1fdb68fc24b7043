// Every key → server mapping recorded from the real clients (libmemcached 1.1.4, PECL memcache,
// php-memcached, twemproxy) must be reproduced exactly: these files are the definition of
// "compatible" for the ring layer.

#include "compat_data.hpp"

#include <memcoro/ring/distribution.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using memcoro::ring::continuum;
using memcoro::ring::distribution_kind;
using memcoro::ring::hash_kind;
using memcoro::ring::node;
using memcoro::ring::test::load_compat;
using memcoro::ring::test::nodes_of;
using memcoro::ring::test::setup;
using memcoro::ring::test::setup_for;
using nlohmann::json;

/// Checks every key of the file's mapping against `s` over the file's servers.
void check_mapping(const json& file, const setup& s)
{
    const std::string config_id = file.at("config_id");
    const continuum ring(s.distribution, s.key_hash, nodes_of(file));
    INFO(config_id << ": " << to_string(s.distribution) << " / " << to_string(s.key_hash));

    std::set<std::string> rejected;
    if (file.contains("rejected_keys"))
        for (const json& k : file.at("rejected_keys"))
            rejected.insert(k.get<std::string>());

    std::vector<std::size_t> per_server(ring.size());
    std::size_t checked = 0;
    for (const json& entry : file.at("mapping")) {
        const std::string key = entry.at(0);
        const std::size_t expected = entry.at(1);
        if (rejected.count(key) != 0)
            continue;
        INFO("key '" << key << "'");
        CHECK(ring.server_for(key) == expected);
        REQUIRE(expected < per_server.size());
        ++per_server[expected];
        ++checked;
    }
    CHECK(checked > 1000);
    // Cross-check our reading of the file against its own summary.
    CHECK(per_server ==
          file.at("verification").at("keys_per_server").get<std::vector<std::size_t>>());
}

/// Builds the file's configuration and checks every key of its mapping.
void check_file(const std::string& config_id)
{
    const json file = load_compat(config_id + ".public.json");
    REQUIRE(file.at("schema_version") == 1);
    REQUIRE(file.at("config_id") == config_id);
    check_mapping(file, setup_for(file));
}

/// A recorded configuration given to memcoro in the client's own words.
struct spelled {
    const char* config_id;
    /// What the recording's client was told, as parse_distribution takes it.
    const char* distribution;
    /// The hash it was told, if any (else the one the distribution's spelling stands for).
    const char* hash;
    /// Text of the file's `config` that shows the client was configured with these words.
    const char* recorded;
};

const spelled client_spellings[] = {
    // libmemcached: the behaviour set, or the distribution it reports afterwards.
    {"libmemcached_ketama_oaat", "MEMCACHED_BEHAVIOR_KETAMA", nullptr,
     "memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA, 1)"},
    {"libmemcached_ketama_oaat", "MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA", nullptr,
     "distribution=MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA "},
    {"libmemcached_ketama_oaat", "consistent_ketama", nullptr,
     "distribution=MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA "},
    {"libmemcached_ketama_weighted_md5", "MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED", nullptr,
     "memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1)"},
    {"libmemcached_ketama_weighted_md5_wfloat", "KETAMA_WEIGHTED", nullptr,
     "memcached_behavior_set(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1)"},
    {"libmemcached_ketama_weighted_md5", "MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED",
     "MEMCACHED_HASH_MD5", "distribution=MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED key_hash=MD5"},
    {"libmemcached_ketama_spy_md5", "MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY", nullptr,
     "MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY"},
    {"libmemcached_consistent_oaat_w123", "MEMCACHED_DISTRIBUTION_CONSISTENT", nullptr,
     "MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT)"},
    // CONSISTENT_WEIGHTED alone leaves libmemcached where this recording ended up: weighted
    // md5 points, one-at-a-time keys (the lookup is the same for every consistent kind).
    {"libmemcached_consistent_oaat_w123", "MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED", nullptr,
     "key_hash=DEFAULT distribution_hash=DEFAULT ketama_weighted=1"},
    {"libmemcached_modula_oaat", "MEMCACHED_DISTRIBUTION_MODULA", "MEMCACHED_HASH_DEFAULT",
     "distribution=MEMCACHED_DISTRIBUTION_MODULA key_hash=DEFAULT"},
    {"libmemcached_modula_crc", "MEMCACHED_DISTRIBUTION_MODULA", "MEMCACHED_HASH_CRC",
     "MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_CRC"},
    {"libmemcached_modula_fnv1a_32", "modula", "MEMCACHED_HASH_FNV1A_32",
     "MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_FNV1A_32"},
    {"libmemcached_modula_fnv1a_64", "modula", "MEMCACHED_HASH_FNV1A_64",
     "MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_FNV1A_64"},
    {"libmemcached_modula_md5", "modula", "MEMCACHED_HASH_MD5",
     "MEMCACHED_BEHAVIOR_HASH, MEMCACHED_HASH_MD5"},
    // php-memcached: the options set (or read back: 0 is DISTRIBUTION_MODULA).
    {"php_memcached_libketama", "Memcached::OPT_LIBKETAMA_COMPATIBLE", nullptr,
     "\"OPT_LIBKETAMA_COMPATIBLE\":true"},
    {"php_memcached_libketama_w123", "OPT_LIBKETAMA_COMPATIBLE", nullptr,
     "\"OPT_LIBKETAMA_COMPATIBLE\":true"},
    {"php_memcached_libketama_binary", "Memcached::OPT_LIBKETAMA_COMPATIBLE", nullptr,
     "\"OPT_LIBKETAMA_COMPATIBLE\":true"},
    {"php_memcached_consistent", "Memcached::DISTRIBUTION_CONSISTENT", nullptr,
     "\"OPT_DISTRIBUTION\":\"DISTRIBUTION_CONSISTENT\""},
    {"php_memcached_default", "Memcached::DISTRIBUTION_MODULA", "Memcached::HASH_DEFAULT",
     "\"OPT_DISTRIBUTION\":0"},
    {"php_memcached_default_binary", "DISTRIBUTION_MODULA", "HASH_DEFAULT",
     "\"OPT_DISTRIBUTION\":0"},
    // PECL memcache: the ini values (the strategy as memcoro names it: `consistent` alone is
    // libmemcached's).
    {"pecl_memcache_consistent_crc32", "pecl-consistent", "crc32",
     "\"memcache.hash_function\":\"crc32\""},
    {"pecl_memcache_consistent_fnv", "pecl-consistent", "fnv",
     "\"memcache.hash_function\":\"fnv\""},
    {"pecl_memcache_standard_crc32", "standard", "crc32",
     "\"memcache.hash_strategy\":\"standard\""},
    {"pecl_memcache_standard_fnv", "standard", "fnv", "\"memcache.hash_function\":\"fnv\""},
    // twemproxy: the yml's hash, and its distribution as memcoro names it.
    {"twemproxy_ketama_fnv1a_64", "twemproxy-ketama", nullptr, "\"hash\":\"fnv1a_64\""},
    {"twemproxy_ketama_md5", "twemproxy-ketama", "md5", "\"hash\":\"md5\""},
    {"twemproxy_ketama_md5_named", "twemproxy-ketama", "md5", "\"hash\":\"md5\""},
    {"twemproxy_modula_fnv1a_64", "twemproxy-modula", "fnv1a_64", "\"hash\":\"fnv1a_64\""},
};

/// The server of each key of the file's mapping under distribution `d` and key hash `h`.
std::vector<std::size_t> placement(const json& file, distribution_kind d, hash_kind h)
{
    const continuum ring(d, h, nodes_of(file));
    std::vector<std::size_t> out;
    for (const json& entry : file.at("mapping"))
        out.push_back(ring.server_for(entry.at(0).get<std::string>()));
    return out;
}

} // namespace

#define COMPAT_FILE(id)                                                                            \
    TEST_CASE("compat vectors: " #id, "[ring][compat]")                                            \
    {                                                                                              \
        check_file(#id);                                                                           \
    }

COMPAT_FILE(libmemcached_consistent_oaat_w123)
COMPAT_FILE(libmemcached_ketama_oaat)
COMPAT_FILE(libmemcached_ketama_spy_md5)
COMPAT_FILE(libmemcached_ketama_weighted_md5)
COMPAT_FILE(libmemcached_ketama_weighted_md5_localhost)
COMPAT_FILE(libmemcached_ketama_weighted_md5_port11211)
COMPAT_FILE(libmemcached_ketama_weighted_md5_w123)
COMPAT_FILE(libmemcached_ketama_weighted_md5_wfloat)
COMPAT_FILE(libmemcached_ketama_weighted_md5_w12312)
COMPAT_FILE(libmemcached_modula_crc)
COMPAT_FILE(libmemcached_modula_fnv1a_32)
COMPAT_FILE(libmemcached_modula_fnv1a_64)
COMPAT_FILE(libmemcached_modula_md5)
COMPAT_FILE(libmemcached_modula_oaat)
COMPAT_FILE(libmemcached_modula_oaat_w123)
COMPAT_FILE(pecl_memcache_consistent_crc32)
COMPAT_FILE(pecl_memcache_consistent_crc32_localhost)
COMPAT_FILE(pecl_memcache_consistent_crc32_w123)
COMPAT_FILE(pecl_memcache_consistent_crc32_w12312)
COMPAT_FILE(pecl_memcache_consistent_fnv)
COMPAT_FILE(pecl_memcache_standard_crc32)
COMPAT_FILE(pecl_memcache_standard_crc32_w123)
COMPAT_FILE(pecl_memcache_standard_crc32_w12312)
COMPAT_FILE(pecl_memcache_standard_fnv)
COMPAT_FILE(php_memcached_consistent)
COMPAT_FILE(php_memcached_default)
COMPAT_FILE(php_memcached_default_binary)
COMPAT_FILE(php_memcached_libketama)
COMPAT_FILE(php_memcached_libketama_binary)
COMPAT_FILE(php_memcached_libketama_w123)
COMPAT_FILE(php_memcached_libketama_w12312)
COMPAT_FILE(php_memcached_libketama_wfloat)
COMPAT_FILE(twemproxy_ketama_fnv1a_64)
COMPAT_FILE(twemproxy_ketama_md5)
COMPAT_FILE(twemproxy_ketama_md5_named)
COMPAT_FILE(twemproxy_ketama_md5_w123)
COMPAT_FILE(twemproxy_ketama_md5_w12312)
COMPAT_FILE(twemproxy_ketama_md5_wfloat)
COMPAT_FILE(twemproxy_modula_fnv1a_64)
COMPAT_FILE(twemproxy_modula_fnv1a_64_named)
COMPAT_FILE(twemproxy_modula_fnv1a_64_w123)

TEST_CASE("compat vectors: each client's own spelling places the keys as that client did",
          "[ring][compat][names]")
{
    for (const spelled& c : client_spellings) {
        INFO(c.config_id << ": " << c.distribution << (c.hash ? " + " : "")
                         << (c.hash ? c.hash : ""));
        const json file = load_compat(std::string(c.config_id) + ".public.json");
        // The words are the recording's own.
        CHECK(file.at("config").dump().find(c.recorded) != std::string::npos);
        const auto spec = memcoro::ring::parse_distribution(c.distribution);
        REQUIRE(spec);
        hash_kind key_hash = spec->hash;
        if (c.hash) {
            const auto h = memcoro::ring::parse_hash(c.hash);
            REQUIRE(h);
            key_hash = *h;
        }
        check_mapping(file, {spec->distribution, key_hash});
    }
}

TEST_CASE("compat vectors: memcoro's ketama is not libmemcached's CONSISTENT_KETAMA",
          "[ring][compat][names]")
{
    // libmemcached_ketama_oaat was made with MEMCACHED_BEHAVIOR_KETAMA; the library reports
    // CONSISTENT_KETAMA. Taking that for memcoro's `ketama` moves most keys.
    const json file = load_compat("libmemcached_ketama_oaat.public.json");
    const auto right = placement(file, distribution_kind::consistent, hash_kind::one_at_a_time);
    const auto wrong = placement(file, distribution_kind::ketama, hash_kind::md5);
    std::size_t moved = 0;
    for (std::size_t i = 0; i < right.size(); ++i)
        moved += right[i] != wrong[i] ? 1 : 0;
    INFO(moved << " of " << right.size() << " keys on another server");
    CHECK(moved * 10 > right.size() * 7); // about 80% over 5 servers
}

TEST_CASE("compat vectors: every vector file has a test case", "[ring][compat]")
{
    // A file added to test/data/compat must not go unchecked.
    const std::set<std::string> covered = {
        "libmemcached_consistent_oaat_w123",
        "libmemcached_ketama_oaat",
        "libmemcached_ketama_spy_md5",
        "libmemcached_ketama_weighted_md5",
        "libmemcached_ketama_weighted_md5_localhost",
        "libmemcached_ketama_weighted_md5_port11211",
        "libmemcached_ketama_weighted_md5_w123",
        "libmemcached_ketama_weighted_md5_w12312",
        "libmemcached_ketama_weighted_md5_wfloat",
        "libmemcached_modula_crc",
        "libmemcached_modula_fnv1a_32",
        "libmemcached_modula_fnv1a_64",
        "libmemcached_modula_md5",
        "libmemcached_modula_oaat",
        "libmemcached_modula_oaat_w123",
        "pecl_memcache_consistent_crc32",
        "pecl_memcache_consistent_crc32_localhost",
        "pecl_memcache_consistent_crc32_w123",
        "pecl_memcache_consistent_crc32_w12312",
        "pecl_memcache_consistent_fnv",
        "pecl_memcache_standard_crc32",
        "pecl_memcache_standard_crc32_w123",
        "pecl_memcache_standard_crc32_w12312",
        "pecl_memcache_standard_fnv",
        "php_memcached_consistent",
        "php_memcached_default",
        "php_memcached_default_binary",
        "php_memcached_libketama",
        "php_memcached_libketama_binary",
        "php_memcached_libketama_w123",
        "php_memcached_libketama_w12312",
        "php_memcached_libketama_wfloat",
        "twemproxy_ketama_fnv1a_64",
        "twemproxy_ketama_md5",
        "twemproxy_ketama_md5_named",
        "twemproxy_ketama_md5_w123",
        "twemproxy_ketama_md5_w12312",
        "twemproxy_ketama_md5_wfloat",
        "twemproxy_modula_fnv1a_64",
        "twemproxy_modula_fnv1a_64_named",
        "twemproxy_modula_fnv1a_64_w123",
    };
    const std::string suffix = ".public.json";
    std::set<std::string> present;
    for (const auto& entry : std::filesystem::directory_iterator(
             std::filesystem::path(memcoro::ring::test::compat_path("")))) {
        const std::string name = entry.path().filename().string();
        if (name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            present.insert(name.substr(0, name.size() - suffix.size()));
    }
    present.erase("libmemcached_hash_values"); // raw hash values, test_hash.cpp
    // Server-down files (schema version 2): test_compat_down.cpp.
    std::erase_if(present,
                  [](const std::string& id) { return id.find("_down") != std::string::npos; });
    CHECK(present == covered);
}

TEST_CASE("compat vectors: point counts of the weighted formulas", "[ring][compat]")
{
    auto counts = [](const continuum& ring) {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < ring.size(); ++i)
            out.push_back(ring.points_of(i));
        return out;
    };
    auto servers = [](std::vector<std::uint32_t> weights) {
        std::vector<node> nodes;
        for (std::size_t i = 0; i < weights.size(); ++i)
            nodes.push_back({"127.0.0.1", static_cast<std::uint16_t>(22201 + i), weights[i], ""});
        return nodes;
    };
    using v = std::vector<std::size_t>;
    // Single-precision float: 28, not the 32 that double precision would give.
    CHECK(counts(continuum(distribution_kind::ketama, servers({1, 1, 3, 10, 10}))) ==
          v{28, 28, 92, 320, 320});
    CHECK(counts(continuum(distribution_kind::twemproxy_ketama, servers({1, 1, 3, 10, 10}))) ==
          v{28, 28, 92, 320, 320});
    CHECK(counts(continuum(distribution_kind::ketama, servers({1, 2, 3}))) == v{80, 160, 240});
    CHECK(counts(continuum(distribution_kind::ketama, servers({1, 1, 1, 1, 1}))) ==
          v{160, 160, 160, 160, 160});
    CHECK(counts(continuum(distribution_kind::consistent, servers({1, 1, 1}))) == v{100, 100, 100});
    // The weight > 1 quirk: consistent switches to weighted points.
    CHECK(counts(continuum(distribution_kind::consistent, servers({1, 2, 3}))) == v{80, 160, 240});
    CHECK(counts(continuum(distribution_kind::pecl_consistent, servers({1, 2, 3}))) ==
          v{160, 320, 480});
    CHECK(counts(continuum(distribution_kind::pecl_standard, servers({1, 2, 3}))) == v{1, 2, 3});
    CHECK(counts(continuum(distribution_kind::twemproxy_modula, servers({2, 3, 1}))) == v{2, 3, 1});
    CHECK(counts(continuum(distribution_kind::modula, servers({1, 2, 3}))) == v{1, 1, 1});
}
