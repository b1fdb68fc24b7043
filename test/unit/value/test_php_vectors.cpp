// The values php-memcached and PECL memcache stored in memcached (test/data/php, written by
// make_vectors.sh), decompressed by memcoro into exactly the originals.
//
// php-memcached: flags bit 4 (16) = compressed, bit 5 (32) = zlib, bit 6 (64) = FastLZ; the
// data is the uncompressed length as 4 bytes little-endian, then the compressed stream.
// PECL memcache: flags bit 1 (2) = compressed; the data is a zlib stream, no length.

#include "php_vectors.hpp"

#include <memcoro/value/compression.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

using memcoro::value::codec;
using memcoro::value::compression_errc;
using memcoro::value::decompress;

namespace {

std::string data_dir()
{
    const char* root = std::getenv("MEMCORO_TEST_DATA");
    if (root == nullptr)
        throw std::runtime_error("MEMCORO_TEST_DATA is not set (run the test through meson)");
    return std::string(root) + "/php";
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json vectors()
{
    return nlohmann::json::parse(read_file(data_dir() + "/vectors.json"));
}

std::uint32_t le32(std::string_view s)
{
    REQUIRE(s.size() >= 4);
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

constexpr std::size_t max_size = 1024 * 1024;

} // namespace

TEST_CASE("php vectors: the generators agree with make_vectors.php")
{
    const auto all = vectors();
    REQUIRE(all["vectors"].size() == 13);
    for (const auto& v : all["vectors"]) {
        const std::string original =
            memcoro::test::php::generate(v["generator"].get<std::string>());
        CAPTURE(v["key"].get<std::string>());
        CHECK(original.size() == v["original_size"].get<std::size_t>());
        CHECK(memcoro::test::php::fnv1a64(original) == v["original_fnv1a64"].get<std::string>());
    }
}

TEST_CASE("php vectors: php-memcached's FastLZ and zlib values decompress to the originals")
{
    const auto all = vectors(); // the loops below view into it
    int seen = 0;
    for (const auto& v : all["vectors"]) {
        if (v["client"] != "php-memcached")
            continue;
        ++seen;
        CAPTURE(v["key"].get<std::string>());
        const std::string raw = read_file(data_dir() + "/" + v["file"].get<std::string>());
        const std::string original =
            memcoro::test::php::generate(v["generator"].get<std::string>());
        const auto flags = v["flags"].get<std::uint32_t>();
        const bool fastlz = v["codec"] == "fastlz";
        CHECK(flags == (fastlz ? 16u + 64u : 16u + 32u));
        REQUIRE(raw.size() == v["stored_size"].get<std::size_t>());
        CHECK(le32(raw) == original.size());

        std::string out = "prefix:";
        const auto ec = decompress(fastlz ? codec::fastlz : codec::zlib,
                                   std::string_view(raw).substr(4), le32(raw), max_size, out);
        REQUIRE_FALSE(ec);
        CHECK(out == "prefix:" + original);

        // The same without the stated size.
        out.clear();
        REQUIRE_FALSE(decompress(fastlz ? codec::fastlz : codec::zlib,
                                 std::string_view(raw).substr(4), memcoro::value::unknown_size,
                                 max_size, out));
        CHECK(out == original);
    }
    CHECK(seen == 10);
}

TEST_CASE("php vectors: the FastLZ levels php-memcached chose")
{
    // FastLZ picks level 1 below 64 KiB and level 2 above: the vectors cover both.
    const auto all = vectors();
    for (const auto& v : all["vectors"]) {
        if (v["client"] != "php-memcached" || v["codec"] != "fastlz")
            continue;
        const std::string raw = read_file(data_dir() + "/" + v["file"].get<std::string>());
        const int level = (static_cast<unsigned char>(raw.at(4)) >> 5) + 1;
        CAPTURE(v["key"].get<std::string>());
        CHECK(level == (v["original_size"].get<std::size_t>() < 65536 ? 1 : 2));
    }
}

TEST_CASE("php vectors: PECL memcache's zlib values decompress to the originals")
{
    const auto all = vectors(); // the loops below view into it
    int seen = 0;
    for (const auto& v : all["vectors"]) {
        if (v["client"] != "pecl-memcache")
            continue;
        ++seen;
        CAPTURE(v["key"].get<std::string>());
        const std::string raw = read_file(data_dir() + "/" + v["file"].get<std::string>());
        const std::string original =
            memcoro::test::php::generate(v["generator"].get<std::string>());
        CHECK(v["flags"].get<std::uint32_t>() == 2);
        std::string out;
        REQUIRE_FALSE(decompress(codec::zlib, raw, memcoro::value::unknown_size, max_size, out));
        CHECK(out == original);
        // A maximum below the value's size: too large, found while inflating.
        out.clear();
        CHECK(decompress(codec::zlib, raw, memcoro::value::unknown_size, original.size() - 1,
                         out) == compression_errc::too_large);
        CHECK(out.empty());
        CHECK(out.capacity() < original.size() * 2);
    }
    CHECK(seen == 3);
}

TEST_CASE("php vectors: memcoro's FastLZ writes php-memcached's levels the same way")
{
    // Not byte-identical streams (another match finder), but the same level choice and a
    // comparable size.
    const auto all = vectors();
    for (const auto& v : all["vectors"]) {
        if (v["client"] != "php-memcached" || v["codec"] != "fastlz")
            continue;
        const std::string original =
            memcoro::test::php::generate(v["generator"].get<std::string>());
        std::string out;
        REQUIRE_FALSE(memcoro::value::compress(codec::fastlz, original, out));
        CAPTURE(v["key"].get<std::string>(), out.size());
        CHECK((static_cast<unsigned char>(out.at(0)) >> 5) + 1 ==
              (original.size() < 65536 ? 1 : 2));
        CHECK(out.size() <= v["stored_size"].get<std::size_t>() * 3 / 2);
    }
}
