// Value formats (memcoro/value/format.hpp): round trips of every format, type and codec; the
// flags each format writes; compression decisions; damaged and hostile stored values.

#include "../../support/allocation_counter.hpp"

#include <memcoro/value/format.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using memcoro::value::codec;
using memcoro::value::compression_errc;
using memcoro::value::compression_policy;
using memcoro::value::decode;
using memcoro::value::encode;
using memcoro::value::value_errc;
using memcoro::value::value_format;
using memcoro::value::value_info;
using memcoro::value::value_type;

namespace {

constexpr value_format all_formats[] = {value_format::memcoro, value_format::pecl_memcache,
                                        value_format::php_memcached};
constexpr value_type all_types[] = {
    value_type::bytes,          value_type::integer,  value_type::floating, value_type::boolean,
    value_type::php_serialized, value_type::igbinary, value_type::json,     value_type::msgpack};
constexpr codec all_codecs[] = {codec::none, codec::zlib, codec::fastlz, codec::zstd, codec::lz4};

constexpr std::size_t max_size = 1 << 20;

bool format_has_type(value_format f, value_type t)
{
    switch (f) {
    case value_format::memcoro:
        return t != value_type::php_serialized && t != value_type::igbinary;
    case value_format::pecl_memcache:
        return t == value_type::bytes || t == value_type::integer || t == value_type::floating ||
               t == value_type::boolean || t == value_type::php_serialized;
    case value_format::php_memcached:
        return true;
    }
    return false;
}

bool format_has_codec(value_format f, codec c)
{
    switch (f) {
    case value_format::memcoro:
        return true;
    case value_format::pecl_memcache:
        return c == codec::none || c == codec::zlib;
    case value_format::php_memcached:
        return c == codec::none || c == codec::zlib || c == codec::fastlz || c == codec::zstd;
    }
    return false;
}

// Samples of each type, as the format writes them; a long compressible one among them.
std::vector<std::string> samples(value_format f, value_type t)
{
    using memcoro::value::format_boolean;
    using memcoro::value::format_floating;
    using memcoro::value::format_integer;
    std::string long_text;
    for (int i = 0; i < 400; ++i)
        long_text += "entry " + std::to_string(i % 17) + " of the value; ";
    switch (t) {
    case value_type::integer:
        return {format_integer(0),
                format_integer(42),
                format_integer(-7),
                format_integer(std::numeric_limits<std::int64_t>::max()),
                format_integer(std::numeric_limits<std::int64_t>::min()),
                "18446744073709551615"}; // uint64's maximum (memcached's incr)
    case value_type::floating:
        return {format_floating(f, 0.1),
                format_floating(f, -0.0),
                format_floating(f, 1e25),
                format_floating(f, 1.0 / 3),
                format_floating(f, std::numeric_limits<double>::infinity()),
                format_floating(f, std::numeric_limits<double>::quiet_NaN())};
    case value_type::boolean:
        return {std::string(format_boolean(f, true)), std::string(format_boolean(f, false))};
    default:
        return {"", "x", std::string("\0\xff\r\n", 4), long_text};
    }
}

} // namespace

TEST_CASE("value format: names")
{
    for (auto f : all_formats)
        CHECK(memcoro::value::parse_format(memcoro::value::format_name(f)) == f);
    CHECK(memcoro::value::format_name(value_format::pecl_memcache) == "pecl-memcache");
    CHECK(memcoro::value::format_name(value_format::php_memcached) == "php-memcached");
    CHECK(memcoro::value::format_name(value_format::memcoro) == "memcoro");
    CHECK_FALSE(memcoro::value::parse_format("pecl_memcache"));
    CHECK_FALSE(memcoro::value::parse_format(""));
    for (auto t : all_types)
        CHECK_FALSE(memcoro::value::type_name(t).empty());
}

TEST_CASE("value format: round trips of every format, type and codec")
{
    int round_trips = 0;
    for (auto f : all_formats) {
        for (auto t : all_types) {
            for (auto c : all_codecs) {
                if (!memcoro::value::codec_available(c))
                    continue;
                compression_policy policy;
                policy.algorithm = c;
                policy.threshold = 0;
                for (const auto& data : samples(f, t)) {
                    CAPTURE(memcoro::value::format_name(f), memcoro::value::type_name(t),
                            memcoro::value::codec_name(c), data);
                    std::string stored = "kept";
                    std::uint32_t flags = 0xdeadbeef;
                    const auto ec = encode(f, t, data, policy, stored, flags);
                    if (!format_has_type(f, t)) {
                        CHECK(ec == value_errc::type_not_in_format);
                        CHECK(stored == "kept");
                        continue;
                    }
                    if (!format_has_codec(f, c)) {
                        CHECK(ec == value_errc::codec_not_in_format);
                        CHECK(stored == "kept");
                        continue;
                    }
                    REQUIRE_FALSE(ec);
                    REQUIRE(stored.compare(0, 4, "kept") == 0);
                    stored.erase(0, 4);

                    std::string back = "prefix";
                    value_info info;
                    REQUIRE_FALSE(decode(f, flags, stored, max_size, back, info));
                    CHECK(back == "prefix" + data);
                    CHECK(info.type == t);
                    CHECK(info.user_flags == 0);
                    // Compressed when it pays, which the long sample does for every codec.
                    if (data.size() > 1000 && c != codec::none)
                        CHECK(info.compressed_with == c);
                    if (info.compressed_with == codec::none)
                        CHECK(stored == data);
                    ++round_trips;
                }
            }
        }
    }
    CHECK(round_trips > 100);
}

TEST_CASE("value format: user flags")
{
    struct row {
        value_format f;
        std::uint32_t user;
        std::uint32_t flags_of_bytes; // the flags of an uncompressed bytes value
    };
    const row rows[] = {
        {value_format::memcoro, 1, 1},
        {value_format::memcoro, 0x3ffffff, 0x3ffffff},
        {value_format::php_memcached, 7, 0x70000},
        {value_format::php_memcached, 65535, 0xffff0000},
        {value_format::pecl_memcache, 0x10000, 0x10000},
        {value_format::pecl_memcache, 0xffff0000, 0xffff0000},
    };
    compression_policy policy;
    policy.algorithm = codec::zlib;
    policy.threshold = 0;
    for (const auto& r : rows) {
        CAPTURE(memcoro::value::format_name(r.f), r.user);
        std::string stored;
        std::uint32_t flags = 0;
        REQUIRE_FALSE(encode(r.f, value_type::bytes, "x", policy, r.user, stored, flags));
        CHECK(flags == r.flags_of_bytes);
        // With a type and compression beside them.
        const std::string long_text(5000, 'z');
        stored.clear();
        REQUIRE_FALSE(encode(r.f, value_type::bytes, long_text, policy, r.user, stored, flags));
        value_info info;
        std::string back;
        REQUIRE_FALSE(decode(r.f, flags, stored, max_size, back, info));
        CHECK(back == long_text);
        CHECK(info.user_flags == r.user);
        CHECK(info.compressed_with == codec::zlib);
        stored.clear();
        REQUIRE_FALSE(encode(r.f, value_type::integer, "12", policy, r.user, stored, flags));
        back.clear();
        REQUIRE_FALSE(decode(r.f, flags, stored, max_size, back, info));
        CHECK(info.type == value_type::integer);
        CHECK(info.user_flags == r.user);
    }

    const std::pair<value_format, std::uint32_t> too_wide[] = {
        {value_format::memcoro, 0x4000000},
        {value_format::php_memcached, 0x10000},
        {value_format::pecl_memcache, 0x10002}, // MEMCACHE_COMPRESSED is the policy's business
        {value_format::pecl_memcache, 1},
    };
    for (const auto& [f, user] : too_wide) {
        CAPTURE(memcoro::value::format_name(f), user);
        std::string stored;
        std::uint32_t flags = 0;
        CHECK(encode(f, value_type::bytes, "x", policy, user, stored, flags) ==
              value_errc::invalid_user_flags);
        CHECK(stored.empty());
    }
}

TEST_CASE("value format: the flags each format writes")
{
    compression_policy off;
    off.algorithm = codec::none;
    struct row {
        value_format f;
        value_type t;
        const char* data;
        std::uint32_t flags;
    };
    // The php-memcached and PECL memcache rows are what those clients store (values.json).
    const row rows[] = {
        {value_format::php_memcached, value_type::bytes, "s", 0},
        {value_format::php_memcached, value_type::integer, "1", 1},
        {value_format::php_memcached, value_type::floating, ".5", 2},
        {value_format::php_memcached, value_type::boolean, "", 3},
        {value_format::php_memcached, value_type::php_serialized, "N;", 4},
        {value_format::php_memcached, value_type::igbinary, "", 5},
        {value_format::php_memcached, value_type::json, "null", 6},
        {value_format::php_memcached, value_type::msgpack, "\xc0", 7},
        {value_format::pecl_memcache, value_type::bytes, "s", 0},
        {value_format::pecl_memcache, value_type::integer, "1", 0x300},
        {value_format::pecl_memcache, value_type::floating, "0.5", 0x700},
        {value_format::pecl_memcache, value_type::boolean, "0", 0x100},
        {value_format::pecl_memcache, value_type::php_serialized, "N;", 1},
        {value_format::memcoro, value_type::bytes, "s", 0},
        {value_format::memcoro, value_type::integer, "1", 0x20000000},
        {value_format::memcoro, value_type::floating, "0.5", 0x40000000},
        {value_format::memcoro, value_type::boolean, "0", 0x60000000},
        {value_format::memcoro, value_type::json, "null", 0x80000000},
        {value_format::memcoro, value_type::msgpack, "\xc0", 0xa0000000},
    };
    for (const auto& r : rows) {
        CAPTURE(memcoro::value::format_name(r.f), memcoro::value::type_name(r.t));
        std::string stored;
        std::uint32_t flags = 0xffffffff;
        REQUIRE_FALSE(encode(r.f, r.t, r.data, off, stored, flags));
        CHECK(flags == r.flags);
        CHECK(stored == r.data);
    }

    // The codec's flags: compressed with each.
    const std::string long_text(5000, 'q');
    struct codec_row {
        value_format f;
        codec c;
        std::uint32_t flags;
    };
    const codec_row codec_rows[] = {
        {value_format::php_memcached, codec::zlib, 0x30},
        {value_format::php_memcached, codec::fastlz, 0x50},
        {value_format::php_memcached, codec::zstd, 0x90},
        {value_format::pecl_memcache, codec::zlib, 0x02},
        {value_format::memcoro, codec::zlib, 0x4000000},
        {value_format::memcoro, codec::fastlz, 0x8000000},
        {value_format::memcoro, codec::zstd, 0xc000000},
        {value_format::memcoro, codec::lz4, 0x10000000},
    };
    for (const auto& r : codec_rows) {
        if (!memcoro::value::codec_available(r.c))
            continue;
        CAPTURE(memcoro::value::format_name(r.f), memcoro::value::codec_name(r.c));
        compression_policy p;
        p.algorithm = r.c;
        std::string stored;
        std::uint32_t flags = 0;
        REQUIRE_FALSE(encode(r.f, value_type::bytes, long_text, p, stored, flags));
        CHECK(flags == r.flags);
        CHECK(stored.size() < long_text.size() / 10);
    }
}

TEST_CASE("value format: the threshold and the savings")
{
    const std::string compressible(3000, 'a');
    std::string incompressible;
    std::uint32_t x = 1;
    for (int i = 0; i < 3000; ++i) {
        x = x * 1103515245u + 12345u;
        incompressible.push_back(static_cast<char>(x >> 16 & 0xff));
    }
    for (auto f : all_formats) {
        CAPTURE(memcoro::value::format_name(f));
        compression_policy p;
        p.algorithm = codec::zlib;
        p.threshold = 3000;
        std::string stored;
        std::uint32_t flags = 0;
        value_info info;
        std::string back;

        // At the threshold: compressed; one byte under: not.
        REQUIRE_FALSE(encode(f, value_type::bytes, compressible, p, stored, flags));
        REQUIRE_FALSE(decode(f, flags, stored, max_size, back, info));
        CHECK(info.compressed_with == codec::zlib);
        stored.clear();
        back.clear();
        REQUIRE_FALSE(encode(f, value_type::bytes, std::string_view(compressible).substr(1), p,
                             stored, flags));
        REQUIRE_FALSE(decode(f, flags, stored, max_size, back, info));
        CHECK(info.compressed_with == codec::none);
        CHECK(stored == compressible.substr(1));

        // Random bytes do not shrink: stored as they are.
        stored.clear();
        back.clear();
        REQUIRE_FALSE(encode(f, value_type::bytes, incompressible, p, stored, flags));
        CHECK(stored == incompressible);
        CHECK(flags == 0);

        // min_savings 1 never compresses; outside [0, 1] is refused.
        p.min_savings = 1.0;
        stored.clear();
        REQUIRE_FALSE(encode(f, value_type::bytes, compressible, p, stored, flags));
        CHECK(stored == compressible);
        p.min_savings = -0.1;
        CHECK(encode(f, value_type::bytes, compressible, p, stored, flags) ==
              value_errc::invalid_policy);
        p.min_savings = std::numeric_limits<double>::quiet_NaN();
        CHECK(encode(f, value_type::bytes, compressible, p, stored, flags) ==
              value_errc::invalid_policy);
    }
}

TEST_CASE("value format: the savings rule at its boundary, as each PHP client decides")
{
    // Find, for each format, the compressed size of a value, then set min_savings so that the
    // value sits exactly on the boundary of the client's rule: compressed must be strictly
    // smaller than original * (1 - s) (PECL), original strictly larger than compressed * f
    // (php-memcached; f = 1 / (1 - s)).
    std::string value;
    for (int i = 0; i < 200; ++i)
        value += "abcdefghij"[i % 10] + std::to_string(i * 7919 % 1000);
    std::string stream;
    REQUIRE_FALSE(memcoro::value::compress(codec::zlib, value, stream));
    const double original = static_cast<double>(value.size());
    const double compressed = static_cast<double>(stream.size());
    REQUIRE(compressed < original);

    for (auto f : {value_format::pecl_memcache, value_format::php_memcached}) {
        CAPTURE(memcoro::value::format_name(f));
        compression_policy p;
        p.algorithm = codec::zlib;
        p.threshold = 0;
        std::string stored;
        std::uint32_t flags = 0;
        // Slightly less savings asked than achieved: compressed.
        p.min_savings = (1.0 - compressed / original) * 0.999;
        REQUIRE_FALSE(encode(f, value_type::bytes, value, p, stored, flags));
        CHECK(flags != 0);
        // Slightly more: stored raw.
        p.min_savings = (1.0 - compressed / original) * 1.001;
        stored.clear();
        REQUIRE_FALSE(encode(f, value_type::bytes, value, p, stored, flags));
        CHECK(flags == 0);
    }
    // php-memcached's factor 1.3 survives the trip through min_savings exactly.
    const double s = memcoro::value::min_savings_from_factor(1.3);
    CHECK(1.0 / (1.0 - s) == 1.3);
    CHECK(memcoro::value::default_compression(value_format::php_memcached).min_savings == s);
    CHECK(memcoro::value::default_compression(value_format::php_memcached).algorithm ==
          codec::fastlz);
    CHECK(memcoro::value::default_compression(value_format::pecl_memcache).algorithm ==
          codec::zlib);
    CHECK(memcoro::value::min_savings_from_factor(1.0) == 0.0);
}

TEST_CASE("value format: encode refuses data that is not of its type")
{
    compression_policy p;
    struct row {
        value_format f;
        value_type t;
        const char* data;
    };
    const row rows[] = {
        {value_format::memcoro, value_type::integer, ""},
        {value_format::memcoro, value_type::integer, "12a"},
        {value_format::memcoro, value_type::integer, " 12"},
        {value_format::memcoro, value_type::integer, "12 "},
        {value_format::memcoro, value_type::integer, "+1"},
        {value_format::memcoro, value_type::integer, "-"},
        {value_format::memcoro, value_type::integer, "18446744073709551616"},
        {value_format::memcoro, value_type::integer, "-9223372036854775809"},
        {value_format::memcoro, value_type::integer, "1.5"},
        {value_format::php_memcached, value_type::floating, "abc"},
        {value_format::php_memcached, value_type::floating, ""},
        {value_format::php_memcached, value_type::floating, "+1"},
        {value_format::php_memcached, value_type::floating, "1.5 "},
        {value_format::php_memcached, value_type::boolean, "0"}, // php-memcached's false is ""
        {value_format::php_memcached, value_type::boolean, "true"},
        {value_format::pecl_memcache, value_type::boolean, ""}, // PECL's false is "0"
        {value_format::memcoro, value_type::boolean, "2"},
    };
    for (const auto& r : rows) {
        CAPTURE(memcoro::value::format_name(r.f), memcoro::value::type_name(r.t), r.data);
        std::string stored;
        std::uint32_t flags = 0;
        CHECK(encode(r.f, r.t, r.data, p, stored, flags) == value_errc::type_mismatch);
        CHECK(stored.empty());
    }
}

TEST_CASE("value format: decode refuses flags the format does not define")
{
    const std::pair<value_format, std::uint32_t> rows[] = {
        {value_format::memcoro, 5u << 26},     // codec 5
        {value_format::memcoro, 7u << 26},     // codec 7
        {value_format::memcoro, 6u << 29},     // type 6
        {value_format::memcoro, 7u << 29},     // type 7
        {value_format::php_memcached, 8},      // type 8
        {value_format::php_memcached, 15},     // type 15
        {value_format::php_memcached, 0x10},   // compressed, no codec
        {value_format::php_memcached, 0x70},   // compressed with both codecs
        {value_format::php_memcached, 0xB0},   // compressed with zlib and zstd
        {value_format::php_memcached, 0x100},  // an internal bit php-memcached does not set
        {value_format::php_memcached, 0x8000}, // another
        {value_format::pecl_memcache, 0x04},
        {value_format::pecl_memcache, 0x10},
        {value_format::pecl_memcache, 0x8000},
        {value_format::pecl_memcache, 0x0200}, // no such type
        {value_format::pecl_memcache, 0x0301}, // serialized and an integer
    };
    for (const auto& [f, flags] : rows) {
        CAPTURE(memcoro::value::format_name(f), flags);
        std::string out = "kept";
        value_info info;
        CHECK(decode(f, flags, "1", max_size, out, info) == value_errc::unsupported_flags);
        CHECK(out == "kept");
    }
    // php-memcached ignores its codec bits without the compressed bit (2.x left the zlib bit on
    // values it stored uncompressed).
    std::string out;
    value_info info;
    REQUIRE_FALSE(decode(value_format::php_memcached, 0x20, "raw", max_size, out, info));
    CHECK(out == "raw");
    CHECK(info.compressed_with == codec::none);
}

TEST_CASE("value format: decode checks the bytes against the flags' type")
{
    struct row {
        value_format f;
        std::uint32_t flags;
        std::string_view stored;
    };
    const row rows[] = {
        {value_format::php_memcached, 1, "abc"},    {value_format::php_memcached, 1, ""},
        {value_format::php_memcached, 1, " 1"},     {value_format::php_memcached, 2, "x"},
        {value_format::php_memcached, 3, "2"},      {value_format::pecl_memcache, 0x300, "1x"},
        {value_format::pecl_memcache, 0x700, "1e"}, {value_format::pecl_memcache, 0x100, "yes"},
        {value_format::memcoro, 1u << 29, "--1"},   {value_format::memcoro, 2u << 29, "1..0"},
    };
    for (const auto& r : rows) {
        CAPTURE(memcoro::value::format_name(r.f), r.flags, r.stored);
        std::string out = "kept";
        value_info info;
        CHECK(decode(r.f, r.flags, r.stored, max_size, out, info) == value_errc::type_mismatch);
        CHECK(out == "kept");
    }
}

TEST_CASE("value format: flags under 2^26 read as bytes with those user flags in memcoro's format")
{
    // What memcoro without a value format, or another client, stored with its own flags.
    for (std::uint32_t flags : {0u, 1u, 2u, 8u, 0x50u, 0x300u, 0x3ffffffu}) {
        CAPTURE(flags);
        std::string out;
        value_info info;
        REQUIRE_FALSE(decode(value_format::memcoro, flags, "\x78\x9c raw", max_size, out, info));
        CHECK(out == "\x78\x9c raw");
        CHECK(info.type == value_type::bytes);
        CHECK(info.compressed_with == codec::none);
        CHECK(info.user_flags == flags);
    }
}

TEST_CASE("value format: decode strips the spaces memcached's decr leaves after an integer")
{
    for (auto [f, flags] : {std::pair{value_format::php_memcached, 1u},
                            std::pair{value_format::pecl_memcache, 0x300u},
                            std::pair{value_format::memcoro, 1u << 29}}) {
        std::string out;
        value_type t = value_type::bytes;
        REQUIRE_FALSE(decode(f, flags, "9   ", max_size, out, t));
        CHECK(out == "9");
        CHECK(t == value_type::integer);
        CHECK(memcoro::value::parse_integer(out) == 9);
        // Only after the number.
        out.clear();
        CHECK(decode(f, flags, "   ", max_size, out, t) == value_errc::type_mismatch);
    }
}

TEST_CASE("value format: damaged compressed values")
{
    const std::string original(4000, 'r');
    for (auto f : {value_format::memcoro, value_format::php_memcached}) {
        for (auto c : {codec::zlib, codec::fastlz, codec::zstd, codec::lz4}) {
            if (!memcoro::value::codec_available(c) ||
                (f == value_format::php_memcached && !format_has_codec(f, c)))
                continue;
            CAPTURE(memcoro::value::format_name(f), memcoro::value::codec_name(c));
            compression_policy p;
            p.algorithm = c;
            std::string stored;
            std::uint32_t flags = 0;
            REQUIRE_FALSE(encode(f, value_type::bytes, original, p, stored, flags));
            REQUIRE(flags != 0);

            // A length prefix cut short.
            for (std::size_t n = 0; n < 4; ++n) {
                std::string out = "kept";
                value_info info;
                CHECK(decode(f, flags, std::string_view(stored).substr(0, n), max_size, out,
                             info) == value_errc::corrupt);
                CHECK(out == "kept");
            }
            // A claimed length over the maximum: refused before anything is allocated.
            std::string huge = stored;
            huge[0] = huge[1] = huge[2] = huge[3] = '\xff';
            {
                std::string out;
                value_info info;
                const std::size_t before = memcoro::test::allocation_count();
                CHECK(decode(f, flags, huge, max_size, out, info) == compression_errc::too_large);
                CHECK(memcoro::test::allocation_count() == before);
            }
            // A claimed length the stream cannot produce.
            std::string wrong = stored;
            wrong[0] = static_cast<char>(wrong[0] + 1);
            {
                std::string out = "kept";
                value_info info;
                const auto ec = decode(f, flags, wrong, max_size, out, info);
                CHECK(ec.category() == memcoro::value::compression_category());
                CHECK(out == "kept");
            }
            // The stream cut short.
            {
                std::string out = "kept";
                value_info info;
                const auto ec =
                    decode(f, flags, std::string_view(stored).substr(0, stored.size() - 3),
                           max_size, out, info);
                CHECK(ec.category() == memcoro::value::compression_category());
                CHECK(out == "kept");
            }
            // A maximum smaller than the value.
            {
                std::string out;
                value_info info;
                CHECK(decode(f, flags, stored, original.size() - 1, out, info) ==
                      compression_errc::too_large);
            }
        }
    }
    // PECL memcache's zlib stream, damaged.
    compression_policy p;
    p.threshold = 0;
    std::string stored;
    std::uint32_t flags = 0;
    REQUIRE_FALSE(
        encode(value_format::pecl_memcache, value_type::bytes, original, p, stored, flags));
    REQUIRE(flags == 2);
    std::string out = "kept";
    value_info info;
    CHECK(decode(value_format::pecl_memcache, flags, std::string_view(stored).substr(0, 5),
                 max_size, out, info) == compression_errc::corrupt_data);
    CHECK(decode(value_format::pecl_memcache, flags, stored, 100, out, info) ==
          compression_errc::too_large);
    CHECK(out == "kept");
}

TEST_CASE("value format: a claimed length a tiny stream cannot produce allocates nothing")
{
    // 1 MiB claimed, 12 bytes of stream: refused before the output is allocated (zstd's frame
    // states its own size, so it is left out).
    for (auto [f, flags] :
         {std::pair{value_format::memcoro, 1u << 26}, std::pair{value_format::memcoro, 2u << 26},
          std::pair{value_format::memcoro, 4u << 26}, std::pair{value_format::php_memcached, 0x30u},
          std::pair{value_format::php_memcached, 0x50u}}) {
        if (f == value_format::memcoro &&
            !memcoro::value::codec_available(static_cast<codec>(flags >> 26)))
            continue;
        CAPTURE(memcoro::value::format_name(f), flags);
        std::string stored("\x00\x00\x10\x00", 4); // 1 MiB, little-endian
        stored += std::string(12, '\x1f');
        std::string out;
        value_info info;
        const std::size_t before = memcoro::test::allocation_count();
        const auto ec = decode(f, flags, stored, max_size, out, info);
        CHECK(memcoro::test::allocation_count() == before);
        CHECK(ec == compression_errc::corrupt_data);
        CHECK(out.empty());
    }
}

TEST_CASE("value format: a codec this build lacks")
{
    for (auto c : {codec::zstd, codec::lz4}) {
        if (memcoro::value::codec_available(c))
            continue;
        compression_policy p;
        p.algorithm = c;
        std::string stored;
        std::uint32_t flags = 0;
        CHECK(encode(value_format::memcoro, value_type::bytes, std::string(5000, 'a'), p, stored,
                     flags) == compression_errc::codec_unavailable);
        std::string out;
        value_info info;
        CHECK(decode(value_format::memcoro, static_cast<std::uint32_t>(c) << 26, "\x01\0\0\0x",
                     max_size, out, info) == compression_errc::codec_unavailable);
    }
    SUCCEED("zstd and lz4 checked where absent");
}

TEST_CASE("value format: numbers to text and back")
{
    using memcoro::value::format_floating;
    using memcoro::value::parse_floating;
    // Every format's text reads back as the same double (PECL memcache's only to 14 digits).
    const double values[] = {0.0,
                             -0.0,
                             0.1,
                             1.0 / 3,
                             100.0,
                             1e5,
                             1e6,
                             1e14,
                             1e15,
                             1e21,
                             1e25,
                             1e100,
                             0.001,
                             1e-4,
                             1e-5,
                             1e-7,
                             -2.5,
                             5e-324,
                             1.7976931348623157e308,
                             123456.789,
                             12345678901234567890.0};
    for (double v : values) {
        for (auto f : {value_format::memcoro, value_format::php_memcached}) {
            const std::string text = format_floating(f, v);
            CAPTURE(memcoro::value::format_name(f), v, text);
            const auto back = parse_floating(text);
            REQUIRE(back);
            CHECK(*back == v);
            CHECK(std::signbit(*back) == std::signbit(v));
        }
        const std::string pecl = format_floating(value_format::pecl_memcache, v);
        CAPTURE(v, pecl);
        const auto back = parse_floating(pecl);
        REQUIRE(back);
        CHECK(std::fabs(*back - v) <= std::fabs(v) * 1e-13);
    }
    for (auto f : all_formats) {
        const double inf = std::numeric_limits<double>::infinity();
        CHECK(parse_floating(format_floating(f, inf)) == inf);
        CHECK(parse_floating(format_floating(f, -inf)) == -inf);
        CHECK(std::isnan(*parse_floating(format_floating(f, std::nan("")))));
        CHECK(parse_floating(format_floating(f, -std::nan(""))).has_value());
    }
    CHECK(memcoro::value::parse_integer("-9223372036854775808") ==
          std::numeric_limits<std::int64_t>::min());
    CHECK_FALSE(memcoro::value::parse_integer("9223372036854775808")); // uint64 only
    CHECK(memcoro::value::parse_boolean("") == false);
    CHECK(memcoro::value::parse_boolean("0") == false);
    CHECK(memcoro::value::parse_boolean("1") == true);
    CHECK_FALSE(memcoro::value::parse_boolean("01"));
}

TEST_CASE("value format: the error category")
{
    const std::error_code ec = value_errc::unsupported_flags;
    CHECK(ec.category().name() == std::string("memcoro.value"));
    for (int e = 1; e <= static_cast<int>(value_errc::chunk_mismatch); ++e)
        CHECK(memcoro::value::value_category().message(e) != "unknown value format error");
    CHECK(memcoro::value::value_category().message(0) == "unknown value format error");
}

TEST_CASE("value format: memcoro's own text for floats (docs/values.md)")
{
    using memcoro::value::format_floating;
    const double inf = std::numeric_limits<double>::infinity();
    const std::pair<double, const char*> rows[] = {
        {1.5, "1.5"},          {0.1, "0.1"},           {1.0 / 3, "0.3333333333333333"},
        {1e6, "1e+06"},        {1e25, "1e+25"},        {1e-7, "1e-07"},
        {-0.0, "-0"},          {inf, "inf"},           {-inf, "-inf"},
        {std::nan(""), "nan"}, {-std::nan(""), "nan"},
    };
    for (const auto& [v, text] : rows) {
        CAPTURE(v);
        CHECK(format_floating(value_format::memcoro, v) == text);
    }
    std::string stored;
    std::uint32_t flags = 0;
    compression_policy off;
    off.algorithm = codec::none;
    REQUIRE_FALSE(encode(value_format::memcoro, value_type::bytes, "hello", off, 7, stored, flags));
    CHECK(flags == 7); // the user's flags as they are, under memcoro's top six bits
}

#if __has_include(<zstd.h>)
#include <zstd.h>

TEST_CASE("value format: php-memcached 3.3's zstd values, as its s_compress_value stores them")
{
    if (!memcoro::value::codec_available(codec::zstd))
        return;
    std::string text;
    while (text.size() < 6000)
        text += "php-memcached 3.3 compresses with zstd. ";
    // 4-byte little-endian length, then ZSTD_compress's frame, flags 0x10 | (0x08 << 4).
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    const auto n = ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    frame.resize(n);
    const auto len = static_cast<std::uint32_t>(text.size());
    std::string stored;
    for (int i = 0; i < 4; ++i)
        stored.push_back(static_cast<char>(len >> (8 * i)));
    stored += frame;
    std::string out;
    value_info info;
    REQUIRE_FALSE(
        decode(value_format::php_memcached, 0x90 | (7u << 16), stored, 1 << 20, out, info));
    CHECK(out == text);
    CHECK(info.compressed_with == codec::zstd);
    CHECK(info.user_flags == 7);
    // What memcoro writes for it: a frame that states its size, as php-memcached requires.
    compression_policy p;
    p.algorithm = codec::zstd;
    std::string mine;
    std::uint32_t flags = 0;
    REQUIRE_FALSE(encode(value_format::php_memcached, value_type::bytes, text, p, mine, flags));
    CHECK(flags == 0x90);
    REQUIRE(mine.size() > 4);
    CHECK(ZSTD_getFrameContentSize(mine.data() + 4, mine.size() - 4) == text.size());
    CHECK(mine.compare(0, 4, stored, 0, 4) == 0);
}
#endif
