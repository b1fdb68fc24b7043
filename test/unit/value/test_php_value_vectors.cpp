// The typed values php-memcached and PECL memcache stored in memcached (test/data/php/values.json,
// written by make_vectors.sh), decoded by memcoro: the type PHP's value maps to, the bytes PHP
// computed (a string's, an integer's text, the serialized form of an array), the float PHP read
// back; and memcoro's encoder writing the same flags and bytes as the PHP client where it stored
// the value uncompressed. Then the compressed vectors of vectors.json through the formats.

#include "php_vectors.hpp"

#include <memcoro/value/format.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

using memcoro::value::codec;
using memcoro::value::compression_policy;
using memcoro::value::value_format;
using memcoro::value::value_info;
using memcoro::value::value_type;

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

std::string unhex(const std::string& hex)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return out;
}

// pack('E', $v): big-endian IEEE 754.
double unpack_double(const std::string& hex)
{
    const std::string be = unhex(hex);
    REQUIRE(be.size() == 8);
    std::uint64_t bits = 0;
    for (char c : be)
        bits = bits << 8 | static_cast<unsigned char>(c);
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    return v;
}

bool same_double(double a, double b)
{
    if (std::isnan(a) || std::isnan(b))
        return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
}

value_format format_of(const nlohmann::json& v)
{
    const auto f = memcoro::value::parse_format(v["client"].get<std::string>());
    REQUIRE(f);
    return *f;
}

value_type type_of(const std::string& name)
{
    for (auto t :
         {value_type::bytes, value_type::integer, value_type::floating, value_type::boolean,
          value_type::php_serialized, value_type::igbinary, value_type::json, value_type::msgpack})
        if (memcoro::value::type_name(t) == name)
            return t;
    FAIL("unknown type " << name);
    return value_type::bytes;
}

nlohmann::json values()
{
    return nlohmann::json::parse(read_file(data_dir() + "/values.json"));
}

constexpr std::size_t max_size = 1024 * 1024;

} // namespace

TEST_CASE("php values: memcoro decodes what php-memcached and PECL memcache stored")
{
    const auto all = values();
    REQUIRE(all["values"].size() > 100);
    int compressed = 0;
    for (const auto& v : all["values"]) {
        CAPTURE(v["key"].get<std::string>());
        const auto f = format_of(v);
        const auto flags = v["flags"].get<std::uint32_t>();
        const std::string stored = unhex(v["data_hex"].get<std::string>());
        const auto type = type_of(v["type"].get<std::string>());

        std::string out;
        value_info info;
        REQUIRE_FALSE(memcoro::value::decode(f, flags, stored, max_size, out, info));
        CHECK(info.type == type);
        CHECK(info.user_flags == v["user_flags"].get<std::uint32_t>());
        if (info.compressed_with != codec::none)
            ++compressed;
        switch (type) {
        case value_type::integer:
            CHECK(out == v["integer"].get<std::string>());
            break;
        case value_type::floating: {
            const auto d = memcoro::value::parse_floating(out);
            REQUIRE(d);
            CHECK(same_double(*d, unpack_double(v["double_hex"].get<std::string>())));
            break;
        }
        case value_type::boolean:
            CHECK(memcoro::value::parse_boolean(out) == v["boolean"].get<bool>());
            break;
        default:
            CHECK(out == unhex(v["bytes_hex"].get<std::string>()));
        }
    }
    CHECK(compressed >= 10);
}

TEST_CASE("php values: memcoro's encoder writes the flags and bytes of the PHP clients")
{
    // Every value the PHP client stored uncompressed: the same type, text and user flags
    // through memcoro's encoder give the same flags and bytes. (Compressed values differ:
    // another FastLZ match finder; zlib's are compared in the next test.)
    const auto all = values();
    int compared = 0;
    for (const auto& v : all["values"]) {
        const auto f = format_of(v);
        const auto flags = v["flags"].get<std::uint32_t>();
        if ((f == value_format::php_memcached && (flags & 0x10) != 0) ||
            (f == value_format::pecl_memcache && (flags & 0x02) != 0))
            continue;
        if (v["setting"] == "decr" || v["setting"] == "incr")
            continue; // written by memcached
        CAPTURE(v["key"].get<std::string>());
        const auto type = type_of(v["type"].get<std::string>());
        std::string data;
        switch (type) {
        case value_type::integer:
            data = memcoro::value::format_integer(
                *memcoro::value::parse_integer(v["integer"].get<std::string>()));
            break;
        case value_type::floating:
            data = memcoro::value::format_floating(
                f, unpack_double(v["original_double_hex"].get<std::string>()));
            break;
        case value_type::boolean:
            data = memcoro::value::format_boolean(f, v["boolean"].get<bool>());
            break;
        default:
            data = unhex(v["bytes_hex"].get<std::string>());
        }
        compression_policy off;
        off.algorithm = codec::none;
        std::string stored;
        std::uint32_t got_flags = 0;
        REQUIRE_FALSE(memcoro::value::encode(
            f, type, data, off, v["user_flags"].get<std::uint32_t>(), stored, got_flags));
        CHECK(got_flags == flags);
        CHECK(stored == unhex(v["data_hex"].get<std::string>()));
        ++compared;
    }
    CHECK(compared > 80);
}

TEST_CASE("php values: memcoro compresses with zlib as the PHP clients do")
{
    // zlib at its default level, with the client's policy: the same bytes and flags.
    const auto all = values();
    int compared = 0;
    for (const auto& v : all["values"]) {
        const auto f = format_of(v);
        const auto flags = v["flags"].get<std::uint32_t>();
        const bool zlib = (f == value_format::php_memcached && (flags & 0x30) == 0x30) ||
                          (f == value_format::pecl_memcache && (flags & 0x02) != 0);
        if (!zlib)
            continue;
        CAPTURE(v["key"].get<std::string>());
        const auto type = type_of(v["type"].get<std::string>());
        compression_policy p = memcoro::value::default_compression(f);
        p.algorithm = codec::zlib;
        if (f == value_format::pecl_memcache)
            p.threshold = 0; // MEMCACHE_COMPRESSED
        std::string stored;
        std::uint32_t got_flags = 0;
        REQUIRE_FALSE(memcoro::value::encode(f, type, unhex(v["bytes_hex"].get<std::string>()), p,
                                             v["user_flags"].get<std::uint32_t>(), stored,
                                             got_flags));
        CHECK(got_flags == flags);
        CHECK(stored == unhex(v["data_hex"].get<std::string>()));
        ++compared;
    }
    CHECK(compared >= 5);
}

TEST_CASE("php values: memcoro compresses the values the PHP clients compressed, and only those")
{
    // The defaults of both clients (php-memcached: 2000 bytes compressed, 1999 not), PECL
    // memcache's setCompressThreshold(100) (100 compressed, 99 not) and MEMCACHE_COMPRESSED
    // (not on "42", which does not shrink): memcoro's policy for the format decides the same.
    const auto all = values();
    int compressed = 0;
    int kept = 0;
    for (const auto& v : all["values"]) {
        const auto f = format_of(v);
        if (v["setting"] == "decr" || v["setting"] == "incr")
            continue;
        if (f == value_format::php_memcached && v["setting"] != "fastlz")
            continue;
        CAPTURE(v["key"].get<std::string>());
        const auto type = type_of(v["type"].get<std::string>());
        if (type != value_type::bytes && type != value_type::php_serialized &&
            type != value_type::integer)
            continue;
        const std::string data = type == value_type::integer
                                     ? v["integer"].get<std::string>()
                                     : unhex(v["bytes_hex"].get<std::string>());
        compression_policy p = memcoro::value::default_compression(f);
        if (v["setting"] == "compressed" || v["setting"] == "user_flags_0xffff0000")
            p.threshold = 0;
        if (v["setting"] == "threshold_100")
            p.threshold = 100;
        std::string stored;
        std::uint32_t got_flags = 0;
        REQUIRE_FALSE(memcoro::value::encode(f, type, data, p, v["user_flags"].get<std::uint32_t>(),
                                             stored, got_flags));
        // The compressed bit the same as the PHP client's.
        const std::uint32_t bit = f == value_format::php_memcached ? 0x10 : 0x02;
        CHECK((got_flags & bit) == (v["flags"].get<std::uint32_t>() & bit));
        ++((got_flags & bit) != 0 ? compressed : kept);
    }
    CHECK(compressed >= 5);
    CHECK(kept >= 20);
}

TEST_CASE("php values: the compressed strings of vectors.json decode through the formats")
{
    const auto all = nlohmann::json::parse(read_file(data_dir() + "/vectors.json"));
    int seen = 0;
    for (const auto& v : all["vectors"]) {
        CAPTURE(v["key"].get<std::string>());
        const auto f = format_of(v);
        const std::string stored = read_file(data_dir() + "/" + v["file"].get<std::string>());
        const std::string original =
            memcoro::test::php::generate(v["generator"].get<std::string>());
        std::string out;
        value_info info;
        REQUIRE_FALSE(memcoro::value::decode(f, v["flags"].get<std::uint32_t>(), stored, max_size,
                                             out, info));
        CHECK(out == original);
        CHECK(info.type == value_type::bytes);
        CHECK(memcoro::value::codec_name(info.compressed_with) == v["codec"].get<std::string>());
        ++seen;
    }
    CHECK(seen == 13);
}
