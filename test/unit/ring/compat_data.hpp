#pragma once
// Loading the key-distribution vectors of test/data/compat (schema in its README.md).

#include <memcoro/ring/distribution.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace memcoro::ring::test {

/// `$MEMCORO_TEST_DATA/compat/<file>`; the test runner sets MEMCORO_TEST_DATA.
inline std::string compat_path(const std::string& file)
{
    const char* root = std::getenv("MEMCORO_TEST_DATA");
    if (root == nullptr || *root == '\0')
        throw std::runtime_error("MEMCORO_TEST_DATA is not set (run the test through meson)");
    return std::string(root) + "/compat/" + file;
}

inline nlohmann::json load_compat(const std::string& file)
{
    const std::string path = compat_path(file);
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    return nlohmann::json::parse(in);
}

/// The server-down files (`<config_id>_down<port>.public.json`, schema version 2), sorted.
inline std::vector<std::string> down_vector_files()
{
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(compat_path(""))) {
        const std::string name = entry.path().filename().string();
        if (name.find("_down") != std::string::npos && name.ends_with(".public.json"))
            out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// A distribution and key hash, as a vector file's client was configured.
struct setup {
    distribution_kind distribution;
    hash_kind key_hash;
};

/// A field of libmemcached's `effective` read-back: the word after `name=` in the string of
/// schema version 1, or the member `name` of the object of version 2.
inline std::string effective_field(const nlohmann::json& effective, const std::string& name)
{
    if (effective.is_object()) {
        REQUIRE(effective.contains(name));
        const nlohmann::json& v = effective.at(name);
        return v.is_string() ? v.get<std::string>() : v.dump();
    }
    const std::string text = effective.get<std::string>();
    const auto at = text.find(" " + name + "=");
    REQUIRE(at != std::string::npos);
    const auto begin = at + name.size() + 2;
    return text.substr(begin, text.find(' ', begin) - begin);
}

inline hash_kind libmemcached_hash(const std::string& name)
{
    static const std::map<std::string, hash_kind> names = {
        {"DEFAULT", hash_kind::one_at_a_time},
        {"MD5", hash_kind::md5},
        {"CRC", hash_kind::crc},
        {"FNV1_64", hash_kind::fnv1_64},
        {"FNV1A_64", hash_kind::fnv1a_64},
        {"FNV1_32", hash_kind::fnv1_32},
        {"FNV1A_32", hash_kind::fnv1a_32},
        {"HSIEH", hash_kind::hsieh},
        {"MURMUR", hash_kind::murmur},
        {"JENKINS", hash_kind::jenkins},
        {"MURMUR3", hash_kind::murmur3},
    };
    const auto it = names.find(name);
    REQUIRE(it != names.end());
    return it->second;
}

/// Translates a vector file's implementation + config into a distribution and key hash.
inline setup setup_for(const nlohmann::json& file)
{
    const std::string implementation = file.at("implementation");
    const nlohmann::json& config = file.at("config");
    if (implementation == "libmemcached") {
        // What the library reported after setup, e.g. "... distribution=MEMCACHED_DISTRIBUTION_
        // CONSISTENT_WEIGHTED key_hash=MD5 distribution_hash=MD5 ketama_weighted=1 servers=5".
        const nlohmann::json& effective = config.at("effective");
        const std::string dist = effective_field(effective, "distribution");
        const hash_kind key_hash = libmemcached_hash(effective_field(effective, "key_hash"));
        if (dist == "MEMCACHED_DISTRIBUTION_MODULA")
            return {distribution_kind::modula, key_hash};
        if (dist == "MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED")
            return {distribution_kind::ketama, key_hash};
        if (dist == "MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY")
            return {distribution_kind::ketama_spy, key_hash};
        if (dist == "MEMCACHED_DISTRIBUTION_CONSISTENT" ||
            dist == "MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA") {
            // Weighted points here come only from the weight > 1 quirk, which the continuum
            // applies by itself; check the file agrees that this is what happened.
            bool any_weight = false;
            for (const nlohmann::json& s : file.at("servers"))
                any_weight = any_weight || s.at("weight").get<int>() > 1;
            CHECK((effective_field(effective, "ketama_weighted") == "1") == any_weight);
            return {distribution_kind::consistent, key_hash};
        }
        FAIL("unknown libmemcached distribution " << dist);
    }
    if (implementation == "php-memcached") {
        // libmemcached enum values read back through Memcached::getOption().
        const nlohmann::json& options = config.at("options_read_back");
        const int dist = options.at("OPT_DISTRIBUTION");
        static const std::map<int, hash_kind> hashes = {
            {0, hash_kind::one_at_a_time}, {1, hash_kind::md5},      {2, hash_kind::crc},
            {3, hash_kind::fnv1_64},       {4, hash_kind::fnv1a_64}, {5, hash_kind::fnv1_32},
            {6, hash_kind::fnv1a_32},      {7, hash_kind::hsieh},    {8, hash_kind::murmur},
        };
        const auto h = hashes.find(options.at("OPT_HASH").get<int>());
        REQUIRE(h != hashes.end());
        if (dist == 0)
            return {distribution_kind::modula, h->second};
        if (dist == 1)
            return {distribution_kind::consistent, h->second};
        if (dist == 5)
            return {distribution_kind::ketama, h->second};
        FAIL("unknown php-memcached OPT_DISTRIBUTION " << dist);
    }
    if (implementation == "pecl-memcache") {
        const std::string strategy = config.at("memcache.hash_strategy");
        const std::string function = config.at("memcache.hash_function");
        REQUIRE((function == "crc32" || function == "fnv"));
        // PECL's fnv is FNV-1a 32 bit.
        const hash_kind h = function == "crc32" ? hash_kind::crc32 : hash_kind::fnv1a_32;
        REQUIRE((strategy == "consistent" || strategy == "standard"));
        return {strategy == "consistent" ? distribution_kind::pecl_consistent
                                         : distribution_kind::pecl_standard,
                h};
    }
    if (implementation == "twemproxy") {
        const std::string dist = config.at("distribution");
        const std::string name = config.at("hash");
        // twemproxy's "crc32" is libmemcached's 15-bit CRC, its "crc32a" the full CRC-32.
        static const std::map<std::string, hash_kind> hashes = {
            {"one_at_a_time", hash_kind::one_at_a_time},
            {"md5", hash_kind::md5},
            {"crc32", hash_kind::crc},
            {"crc32a", hash_kind::crc32},
            {"fnv1_64", hash_kind::fnv1_64},
            {"fnv1a_64", hash_kind::fnv1a_64},
            {"fnv1_32", hash_kind::fnv1_32},
            {"fnv1a_32", hash_kind::fnv1a_32},
            {"hsieh", hash_kind::hsieh},
            {"murmur", hash_kind::murmur},
            {"jenkins", hash_kind::jenkins},
        };
        const auto h = hashes.find(name);
        REQUIRE(h != hashes.end());
        REQUIRE((dist == "ketama" || dist == "modula"));
        return {dist == "ketama" ? distribution_kind::twemproxy_ketama
                                 : distribution_kind::twemproxy_modula,
                h->second};
    }
    FAIL("unknown implementation " << implementation);
    return {};
}

inline std::vector<node> nodes_of(const nlohmann::json& file)
{
    std::vector<node> nodes;
    for (const nlohmann::json& s : file.at("servers")) {
        node n;
        n.host = s.at("host").get<std::string>();
        n.port = s.at("port").get<std::uint16_t>();
        n.weight = s.at("weight").get<std::uint32_t>();
        if (s.contains("name"))
            n.name = s.at("name").get<std::string>();
        nodes.push_back(std::move(n));
    }
    return nodes;
}

} // namespace memcoro::ring::test
