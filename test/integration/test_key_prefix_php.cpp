// The key prefix shared with php-memcached (Memcached::OPT_PREFIX_KEY) over three memcached
// servers: PHP writes keys that memcoro, with the same prefix and distribution, reads every one
// of (so placement and prefix both match, which getServerByKey confirms key by key), and
// memcoro writes keys that PHP reads. With libmemcached's default (the key alone is hashed) and
// with MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY (client_config::hash_with_prefix), under
// weighted ketama (OPT_LIBKETAMA_COMPATIBLE) and php-memcached's default modula. Skipped (exit
// 77) without php and php-memcached.

#include "../support/config_for.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>

#include <asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr int key_count = 300;

bool php_memcached_installed()
{
    return std::system("php -r 'exit(class_exists(\"Memcached\") ? 0 : 1);' >/dev/null 2>&1") == 0;
}

/// Runs prefix_keys.php and returns its output, `ok` false when it failed.
std::string run_php(const std::string& mode, const std::string& prefix, const std::string& dist,
                    bool hash_with_prefix, const std::string& servers, bool& ok)
{
    const std::string script = std::string(MEMCORO_TEST_DATA_DIR) + "/php/prefix_keys.php";
    const std::string cmd = "php " + script + " " + mode + " '" + prefix + "' " + dist + " " +
                            (hash_with_prefix ? "1" : "0") + " " + std::to_string(key_count) + " " +
                            servers;
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        ok = false;
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    ok = pclose(p) == 0;
    return out;
}

/// "KEY\tVALUE" lines.
std::map<std::string, std::string> lines_of(const std::string& text)
{
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const auto tab = line.find('\t');
        if (tab != std::string::npos)
            out[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return out;
}

struct setup {
    std::string dist;      // prefix_keys.php's name
    std::string spec_name; // the same setting as memcoro parses it
    bool hash_with_prefix;
};

const setup setups[] = {
    {"ketama", "Memcached::OPT_LIBKETAMA_COMPATIBLE", false},
    {"ketama", "Memcached::OPT_LIBKETAMA_COMPATIBLE", true},
    {"modula", "Memcached::DISTRIBUTION_MODULA", false},
    {"modula", "Memcached::DISTRIBUTION_MODULA", true},
};

} // namespace

TEST_CASE("key prefix with php-memcached: each reads every key the other wrote, on the same "
          "servers")
{
    if (!php_memcached_installed()) {
        std::fputs("php or php-memcached not installed: skipped\n", stderr);
        std::exit(77); // meson: skipped
    }
    const std::string prefix = "shop:v2|";
    for (const setup& s : setups) {
        INFO(s.dist << (s.hash_with_prefix ? ", hash with prefix" : ", hash the key alone"));
        std::vector<std::unique_ptr<memcached_process>> servers;
        std::string list;
        for (int i = 0; i < 3; ++i) {
            servers.push_back(std::make_unique<memcached_process>());
            list += (i ? "," : "") + servers.back()->address();
        }
        bool ok = false;
        const auto placed =
            lines_of(run_php("write", prefix, s.dist, s.hash_with_prefix, list, ok));
        REQUIRE(ok);
        REQUIRE(placed.size() == key_count);

        memcoro::client_config cfg = memcoro::test::config_for(list);
        const auto spec = memcoro::ring::parse_distribution(s.spec_name);
        REQUIRE(spec);
        cfg.distribution = spec->distribution;
        cfg.hash = spec->hash;
        cfg.key_prefix = prefix;
        cfg.hash_with_prefix = s.hash_with_prefix;

        std::vector<std::string> php_keys, mc_keys;
        std::vector<std::pair<std::string, std::string>> mc_items;
        for (int i = 0; i < key_count; ++i) {
            php_keys.push_back("php" + std::to_string(i));
            mc_keys.push_back("mc" + std::to_string(i));
            mc_items.emplace_back(mc_keys.back(), "from-memcoro:" + std::to_string(i));
        }
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            memcoro::client c(ex, cfg);
            // Placement: where getServerByKey says, for every key.
            std::size_t same_server = 0;
            for (const auto& k : php_keys)
                if (c.server_for_key(k) == placed.at(k))
                    ++same_server;
            CHECK(same_server == php_keys.size());

            // Every key PHP wrote is read (a miss would be a key looked for on another server,
            // or under another name), named without the prefix.
            auto r = co_await c.async_get_multi(php_keys);
            CHECK(r.hits.size() == php_keys.size());
            CHECK(r.errors.empty());
            std::size_t right = 0;
            for (std::size_t i = 0; i < r.hits.size(); ++i)
                if (r.hits[i].key == php_keys[i] &&
                    r.hits[i].value == "from-php:" + php_keys[i].substr(3))
                    ++right;
            CHECK(right == php_keys.size());

            // The keys are spread over the three servers, each under its prefixed name.
            std::set<std::string> wire_keys;
            for (const auto& k : php_keys)
                wire_keys.insert(prefix + k);
            std::size_t found = 0;
            for (const auto& m : servers) {
                memcoro::client direct(ex, memcoro::test::config_for(m->address()));
                const std::vector<std::string> asked(wire_keys.begin(), wire_keys.end());
                auto on = co_await direct.async_get_multi(asked);
                CHECK(on.hits.size() > 0);
                found += on.hits.size();
            }
            CHECK(found == php_keys.size());

            // A client without the prefix finds none of them.
            auto bare_cfg = cfg;
            bare_cfg.key_prefix.clear();
            memcoro::client bare(ex, bare_cfg);
            auto none = co_await bare.async_get_multi(php_keys);
            CHECK(none.hits.empty());

            // memcoro writes for PHP to read.
            auto stored = co_await c.async_set_multi(mc_items);
            std::size_t stored_ok = 0;
            for (const auto& st : stored)
                if (!st.ec && st.status == memcoro::store_status::stored)
                    ++stored_ok;
            CHECK(stored_ok == mc_items.size());
        }());
        const auto read = lines_of(run_php("read", prefix, s.dist, s.hash_with_prefix, list, ok));
        REQUIRE(ok);
        std::size_t php_read = 0;
        for (const auto& [k, v] : mc_items) {
            const auto it = read.find(k);
            if (it != read.end() && it->second == v)
                ++php_read;
        }
        CHECK(php_read == mc_items.size());
    }
}
