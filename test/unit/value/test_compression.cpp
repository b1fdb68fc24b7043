// Value compression: round trips of every codec this build has, the size limits (stated,
// produced, impossible) and damaged data.

#include "../../support/allocation_counter.hpp"
#include "php_vectors.hpp"

#include <memcoro/value/compression.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using memcoro::value::codec;
using memcoro::value::codec_available;
using memcoro::value::compress;
using memcoro::value::compression_errc;
using memcoro::value::decompress;
using memcoro::value::unknown_size;

namespace {

constexpr std::size_t mib = 1024 * 1024;

std::vector<codec> available_codecs()
{
    std::vector<codec> out;
    for (codec c : {codec::none, codec::zlib, codec::fastlz, codec::zstd, codec::lz4})
        if (codec_available(c))
            out.push_back(c);
    return out;
}

// The levels worth a round trip for each codec.
std::vector<int> levels(codec c)
{
    switch (c) {
    case codec::zlib:
        return {memcoro::value::default_level, 1, 9};
    case codec::fastlz:
        return {memcoro::value::default_level, 1, 2};
    case codec::zstd:
        return {memcoro::value::default_level, 1, 9};
    case codec::lz4:
        return {memcoro::value::default_level, 1, 9};
    case codec::none:
        break;
    }
    return {memcoro::value::default_level};
}

struct sample {
    const char* name;
    std::string value;
};

std::vector<sample> samples()
{
    using namespace memcoro::test::php;
    return {
        {"empty", ""},
        {"one byte", "x"},
        {"three bytes", "abc"},
        {"text", text_lines(100)},
        {"random 64 KiB", lcg_bytes(42, 64 * 1024)},
        {"words 1 MiB", words(mib)},
        {"random 1 MiB", lcg_bytes(3, mib)},
        {"zeros 1 MiB", std::string(mib, '\0')},
        {"far repeats", repeat(lcg_bytes(9, 30000), 3)},
        {"period 8191", generate("period_8191")},
        {"period 8192", generate("period_8192")},
        {"period 73725", generate("period_73725")},
    };
}

std::string compressed(codec c, const std::string& in, int level = memcoro::value::default_level)
{
    std::string out;
    REQUIRE_FALSE(compress(c, in, out, level));
    return out;
}

} // namespace

TEST_CASE("compression: the codecs this build has")
{
    CHECK(codec_available(codec::none));
    CHECK(codec_available(codec::zlib));
    CHECK(codec_available(codec::fastlz));
    for (codec c : {codec::zstd, codec::lz4}) {
        std::string out;
        const auto ec = compress(c, "abc", out);
        CAPTURE(memcoro::value::codec_name(c));
        if (codec_available(c)) {
            CHECK_FALSE(ec);
        } else {
            CHECK(ec == compression_errc::codec_unavailable);
            CHECK(decompress(c, "abc", 3, 10, out) == compression_errc::codec_unavailable);
        }
    }
}

TEST_CASE("compression: round trips of every codec, level and sample")
{
    const auto all = samples();
    for (codec c : available_codecs()) {
        for (int level : levels(c)) {
            for (const auto& s : all) {
                CAPTURE(memcoro::value::codec_name(c), level, s.name);
                std::string packed = "head";
                REQUIRE_FALSE(compress(c, s.value, packed, level));
                REQUIRE(packed.substr(0, 4) == "head");
                const std::string_view data = std::string_view(packed).substr(4);

                std::string out = "keep";
                REQUIRE_FALSE(decompress(c, data, s.value.size(), s.value.size(), out));
                CHECK(out.size() == s.value.size() + 4);
                CHECK(out == "keep" + s.value);

                std::string unstated;
                const auto ec = decompress(c, data, unknown_size, 2 * mib, unstated);
                if (c == codec::lz4) {
                    CHECK(ec == compression_errc::size_unknown);
                } else {
                    REQUIRE_FALSE(ec);
                    CHECK(unstated == s.value);
                }
            }
        }
    }
}

TEST_CASE("compression: FastLZ compresses what it should")
{
    const std::string zeros(mib, '\0');
    // Level 1: matches of at most 264 bytes, 3 bytes each.
    CHECK(compressed(codec::fastlz, zeros, 1).size() < mib / 80);
    // Level 2: one match with a long length.
    CHECK(compressed(codec::fastlz, zeros, 2).size() < mib / 250);
    // Repeats 30000 bytes apart: only level 2 reaches them.
    const std::string far = memcoro::test::php::repeat(memcoro::test::php::lcg_bytes(9, 30000), 3);
    CHECK(compressed(codec::fastlz, far, 1).size() > far.size());
    CHECK(compressed(codec::fastlz, far, 2).size() < 32000);
    // Repeats at the edges of the distances: the first period is literals, the rest matches.
    using memcoro::test::php::generate;
    const std::size_t literals_8k = 8192 + 8192 / 32 + 1;
    CHECK(compressed(codec::fastlz, generate("period_8191"), 1).size() < literals_8k + 300);
    CHECK(compressed(codec::fastlz, generate("period_8191"), 2).size() < literals_8k + 300);
    CHECK(compressed(codec::fastlz, generate("period_8192"), 1).size() < literals_8k + 300);
    CHECK(compressed(codec::fastlz, generate("period_8192"), 2).size() < literals_8k + 300);
    CHECK(compressed(codec::fastlz, generate("period_73725"), 1).size() > 2 * 73725);
    CHECK(compressed(codec::fastlz, generate("period_73725"), 2).size() < 73725 * 33 / 32 + 1000);
    // Random bytes grow by one byte in 32 (the literal runs' control bytes).
    const std::string random = memcoro::test::php::lcg_bytes(5, 32 * 1024);
    CHECK(compressed(codec::fastlz, random, 1).size() <= random.size() + random.size() / 32 + 1);
}

TEST_CASE("compression: invalid levels")
{
    std::string out;
    CHECK(compress(codec::fastlz, "abc", out, 3) == compression_errc::invalid_level);
    CHECK(compress(codec::fastlz, "abc", out, 0) == compression_errc::invalid_level);
    CHECK(compress(codec::zlib, "abc", out, 10) == compression_errc::invalid_level);
    if (codec_available(codec::zstd))
        CHECK(compress(codec::zstd, "abc", out, 1000) == compression_errc::invalid_level);
    if (codec_available(codec::lz4))
        CHECK(compress(codec::lz4, "abc", out, 13) == compression_errc::invalid_level);
    CHECK(out.empty());
}

TEST_CASE("compression: a stated size over the maximum fails before anything is allocated")
{
    const std::string tiny = "\x01"
                             "ab";
    for (codec c : available_codecs()) {
        CAPTURE(memcoro::value::codec_name(c));
        std::string out = "before";
        out.reserve(64);
        const std::size_t allocations = memcoro::test::allocation_count();
        const auto ec = decompress(c, tiny, std::size_t{1} << 40, mib, out);
        CHECK(memcoro::test::allocation_count() == allocations);
        CHECK(ec == compression_errc::too_large);
        CHECK(out == "before");
    }
}

TEST_CASE("compression: a stated size the data cannot produce allocates nothing")
{
    // Within the maximum, but past the codec's highest ratio for 10 bytes.
    const std::string ten(10, 'a');
    for (codec c : {codec::none, codec::zlib, codec::fastlz, codec::lz4}) {
        if (!codec_available(c))
            continue;
        CAPTURE(memcoro::value::codec_name(c));
        std::string out;
        const std::size_t allocations = memcoro::test::allocation_count();
        const auto ec = decompress(c, ten, 512 * 1024, 64 * mib, out);
        CHECK(memcoro::test::allocation_count() == allocations);
        // No data at all for codec::none: its size is simply not the stated one.
        CHECK(ec == (c == codec::none ? compression_errc::size_mismatch
                                      : compression_errc::corrupt_data));
        CHECK(out.empty());
    }
}

TEST_CASE("compression: a zstd frame claiming more than the maximum allocates nothing")
{
    if (!codec_available(codec::zstd))
        return;
    // The frame states its content size: checked against the maximum before decoding.
    const std::string packed = compressed(codec::zstd, std::string(4 * mib, 'z'));
    CHECK(packed.size() < 1024);
    std::string out;
    const std::size_t allocations = memcoro::test::allocation_count();
    const auto unstated = decompress(codec::zstd, packed, unknown_size, mib, out);
    const auto stated = decompress(codec::zstd, packed, mib, mib, out);
    CHECK(memcoro::test::allocation_count() == allocations);
    CHECK(unstated == compression_errc::too_large);
    CHECK(stated == compression_errc::too_large);
}

TEST_CASE("compression: data producing more than the maximum fails, holding at most the maximum")
{
    const std::string zeros(8 * mib, '\0');
    for (codec c : {codec::zlib, codec::fastlz}) {
        for (int level : levels(c)) {
            CAPTURE(memcoro::value::codec_name(c), level);
            const std::string packed = compressed(c, zeros, level);
            CHECK(packed.size() < 8 * mib / 80);
            std::string out;
            CHECK(decompress(c, packed, unknown_size, mib, out) == compression_errc::too_large);
            CHECK(out.empty());
            CHECK(out.capacity() <= 2 * mib);
            // With a stated size within the maximum, the excess is a mismatch, found at the
            // stated size.
            CHECK(decompress(c, packed, mib, 16 * mib, out) == compression_errc::size_mismatch);
            CHECK(out.empty());
            CHECK(out.capacity() <= 2 * mib);
        }
    }
}

TEST_CASE("compression: a hand-made FastLZ bomb")
{
    // Level 2: a literal "y", then one match one byte back whose length is 4000 bytes of 255.
    std::string bomb;
    bomb += static_cast<char>(0x20); // level 2, literal run of 1
    bomb += 'y';
    bomb += static_cast<char>(0xE0); // match, length 7 + more, distance high bits 0
    bomb += std::string(4000, static_cast<char>(0xFF));
    bomb += static_cast<char>(0x00); // end of the length
    bomb += static_cast<char>(0x00); // distance 1
    const std::size_t produced = 1 + 9 + 4000 * 255;
    std::string out;
    REQUIRE_FALSE(decompress(codec::fastlz, bomb, unknown_size, 2 * mib, out));
    CHECK(out == std::string(produced, 'y'));

    out.clear();
    out.shrink_to_fit();
    CHECK(decompress(codec::fastlz, bomb, unknown_size, 64 * 1024, out) ==
          compression_errc::too_large);
    CHECK(out.capacity() <= 128 * 1024);
    CHECK(decompress(codec::fastlz, bomb, 64 * 1024, 64 * 1024, out) ==
          compression_errc::size_mismatch);
    CHECK(out.empty());
}

TEST_CASE("compression: truncated data fails and leaves the output as it was")
{
    const std::string text = memcoro::test::php::text_lines(60);
    for (codec c : available_codecs()) {
        if (c == codec::none)
            continue;
        const std::string packed = compressed(c, text);
        for (std::size_t n = 0; n < packed.size(); ++n) {
            CAPTURE(memcoro::value::codec_name(c), n);
            std::string out = "was";
            const auto ec =
                decompress(c, std::string_view(packed).substr(0, n), text.size(), mib, out);
            CHECK(ec);
            CHECK(out == "was");
            if (c != codec::lz4) {
                const auto ec2 =
                    decompress(c, std::string_view(packed).substr(0, n), unknown_size, mib, out);
                // FastLZ has no end marker: a prefix ending between instructions is valid.
                if (!ec2)
                    CHECK((c == codec::fastlz && out.size() < text.size() + 3));
                else
                    CHECK(out == "was");
            }
        }
    }
}

TEST_CASE("compression: flipped bytes never crash; a success has the stated size")
{
    const std::string text = memcoro::test::php::words(5000);
    for (codec c : available_codecs()) {
        const std::string packed = compressed(c, text);
        int failures = 0;
        for (std::size_t i = 0; i < packed.size(); ++i) {
            for (unsigned char mask : {0x01, 0x80, 0xFF}) {
                std::string damaged = packed;
                damaged[i] = static_cast<char>(static_cast<unsigned char>(damaged[i]) ^ mask);
                std::string out;
                const auto ec = decompress(c, damaged, text.size(), mib, out);
                if (ec) {
                    ++failures;
                    CHECK(out.empty());
                } else {
                    CHECK(out.size() == text.size());
                }
                std::string unstated;
                if (!decompress(c, damaged, unknown_size, mib, unstated))
                    CHECK(unstated.size() <= mib);
            }
        }
        CAPTURE(memcoro::value::codec_name(c), failures);
        // zlib's Adler-32 catches all but flips in the padding bits of the last deflate byte.
        if (c == codec::zlib)
            CHECK(failures >= 3 * static_cast<int>(packed.size()) - 3);
    }
}

TEST_CASE("compression: wrong stated sizes are mismatches")
{
    const std::string text = memcoro::test::php::text_lines(20);
    for (codec c : available_codecs()) {
        CAPTURE(memcoro::value::codec_name(c));
        const std::string packed = compressed(c, text);
        std::string out;
        const auto shorter = decompress(c, packed, text.size() - 1, mib, out);
        const auto longer = decompress(c, packed, text.size() + 1, mib, out);
        if (c == codec::lz4) {
            // LZ4 cannot tell a block that does not fit from a damaged one.
            CHECK(shorter == compression_errc::corrupt_data);
        } else {
            CHECK(shorter == compression_errc::size_mismatch);
        }
        CHECK(longer == compression_errc::size_mismatch);
        CHECK(out.empty());
    }
}

TEST_CASE("compression: FastLZ's damaged instructions")
{
    std::string out;
    auto fails = [&](std::string data, compression_errc expected) {
        CAPTURE(data);
        out.clear();
        CHECK(decompress(codec::fastlz, data, unknown_size, mib, out) == expected);
        CHECK(out.empty());
    };
    using namespace std::string_literals;
    fails("\x40"s, compression_errc::corrupt_data); // level 3
    fails("\xE0"s, compression_errc::corrupt_data); // level 8
    fails("\x02"
          "ab"s,
          compression_errc::corrupt_data); // literal run past the end
    fails("\x00"
          "a"
          "\x20\x01"s,
          compression_errc::corrupt_data); // distance 2 after 1 byte
    fails("\x00"
          "a"
          "\x20"s,
          compression_errc::corrupt_data); // match without distance
    fails("\x00"
          "a"
          "\xE0"s,
          compression_errc::corrupt_data); // length byte missing
    fails("\x20"
          "a"
          "\xE0\xFF"s,
          compression_errc::corrupt_data); // level 2 length runs out
    fails("\x20"
          "a"
          "\x3F\xFF\x00"s,
          compression_errc::corrupt_data); // far match, one distance byte
    fails("\x20"
          "a"
          "\x3F\xFF\x00\x00"s,
          compression_errc::corrupt_data); // far match past the start
    // At level 1 the same bytes are a near match 8192 back: also past the start.
    fails("\x00"
          "a"
          "\x3F\xFF"s,
          compression_errc::corrupt_data);

    // Valid: a match overlapping its own output.
    const std::string overlap{'\x01', 'a', 'b', '\x40', '\x01'};
    out.clear();
    REQUIRE_FALSE(decompress(codec::fastlz, overlap, 6, 6, out));
    CHECK(out == "ababab");
}

TEST_CASE("compression: zlib refuses bytes after the stream")
{
    const std::string packed = compressed(codec::zlib, "hello hello hello") + "x";
    std::string out;
    CHECK(decompress(codec::zlib, packed, 17, mib, out) == compression_errc::corrupt_data);
    CHECK(decompress(codec::zlib, packed, unknown_size, mib, out) ==
          compression_errc::corrupt_data);
    CHECK(out.empty());
}

TEST_CASE("compression: the error category")
{
    const std::error_code ec = compression_errc::too_large;
    CHECK(std::string(ec.category().name()) == "memcoro.compression");
    CHECK(ec.message() == "uncompressed value larger than the maximum size");
    CHECK(std::error_code(compression_errc::corrupt_data).message() ==
          "compressed data is corrupt or truncated");
    CHECK(memcoro::value::codec_name(codec::fastlz) == "fastlz");
}
