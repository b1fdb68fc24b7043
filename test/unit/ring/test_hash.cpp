// Hash functions: against published test vectors where the algorithm has them, and against the
// raw values libmemcached 1.1.4's libhashkit produced for the 1999 public keys.

#include "compat_data.hpp"

#include <memcoro/ring/hash.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using memcoro::ring::hash;
using memcoro::ring::hash_kind;

std::string hex(const memcoro::ring::md5_digest& d)
{
    std::string out;
    for (unsigned char c : d) {
        char buf[3];
        std::snprintf(buf, sizeof buf, "%02x", c);
        out += buf;
    }
    return out;
}

} // namespace

TEST_CASE("md5: RFC 1321 test suite", "[ring][hash]")
{
    using memcoro::ring::md5;
    CHECK(hex(md5("")) == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(hex(md5("a")) == "0cc175b9c0f1b6a831c399e269772661");
    CHECK(hex(md5("abc")) == "900150983cd24fb0d6963f7d28e17f72");
    CHECK(hex(md5("message digest")) == "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK(hex(md5("abcdefghijklmnopqrstuvwxyz")) == "c3fcd3d76192e4007dfb496cca67e13b");
    CHECK(hex(md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")) ==
          "d174ab98d277d9f5a5611c2c9f419d9f");
    CHECK(hex(md5("1234567890123456789012345678901234567890123456789012345678901234567890123456"
                  "7890")) == "57edf4a22be3c955ac49da2e2107b67a");
    // Padding edge cases: 55, 56 and 64 bytes (one or two final blocks).
    CHECK(hex(md5(std::string(55, 'a'))) == "ef1772b6dff9a122358552954ad0df65");
    CHECK(hex(md5(std::string(56, 'a'))) == "3b0c8ac703f828b04c6c197006d17218");
    CHECK(hex(md5(std::string(64, 'a'))) == "014842d480b571495a4a0363793f7367");

    unsigned char raw[16];
    md5("abc", raw);
    CHECK(raw[0] == 0x90);
    CHECK(raw[15] == 0x72);
    // The md5 key hash is the first four digest bytes, little-endian.
    CHECK(hash(hash_kind::md5, "abc") == 0x98500190U);
}

TEST_CASE("crc32: standard check values", "[ring][hash]")
{
    CHECK(memcoro::ring::crc32("") == 0U);
    CHECK(memcoro::ring::crc32("123456789") == 0xcbf43926U);
    CHECK(memcoro::ring::crc32("The quick brown fox jumps over the lazy dog") == 0x414fa339U);
    CHECK(hash(hash_kind::crc32, "123456789") == 0xcbf43926U);
    // libmemcached's CRC keeps 15 bits of it.
    CHECK(hash(hash_kind::crc, "123456789") == ((0xcbf43926U >> 16) & 0x7fffU));
}

TEST_CASE("fnv: published FNV test values for ASCII input", "[ring][hash]")
{
    CHECK(hash(hash_kind::fnv1_32, "") == 0x811c9dc5U);
    CHECK(hash(hash_kind::fnv1a_32, "") == 0x811c9dc5U);
    CHECK(hash(hash_kind::fnv1_32, "a") == 0x050c5d7eU);
    CHECK(hash(hash_kind::fnv1a_32, "a") == 0xe40c292cU);
    CHECK(hash(hash_kind::fnv1a_32, "foobar") == 0xbf9cf968U);
    // 64-bit FNV-1: low half of 0xaf63bd4c8601b7be.
    CHECK(hash(hash_kind::fnv1_64, "a") == 0x8601b7beU);
    // "fnv1a_64" is 32-bit arithmetic with truncated constants, which is the same as the low
    // half of FNV-1a 64 ("a" → 0xaf63dc4c8601ec8c).
    CHECK(hash(hash_kind::fnv1a_64, "a") == 0x8601ec8cU);
    CHECK(hash(hash_kind::fnv1a_64, "") == 0x84222325U);
    CHECK(hash(hash_kind::fnv1a_64, "a") == ((0x84222325U ^ 0x61U) * 0x1b3U));
}

TEST_CASE("fnv and one-at-a-time sign-extend bytes >= 0x80", "[ring][hash]")
{
    const std::string key = "\xe9"; // 'é' in Latin-1: contributes 0xffffffe9, not 0xe9
    CHECK(hash(hash_kind::fnv1a_32, key) == ((0x811c9dc5U ^ 0xffffffe9U) * 0x01000193U));
    CHECK(hash(hash_kind::fnv1_32, key) == ((0x811c9dc5U * 0x01000193U) ^ 0xffffffe9U));
    std::uint32_t h = 0xffffffe9U;
    h += h << 10;
    h ^= h >> 6;
    h += h << 3;
    h ^= h >> 11;
    h += h << 15;
    CHECK(hash(hash_kind::one_at_a_time, key) == h);
}

TEST_CASE("murmur3: published MurmurHash3_x86_32 values", "[ring][hash]")
{
    using memcoro::ring::murmur3_x86_32;
    CHECK(murmur3_x86_32("", 0) == 0U);
    CHECK(murmur3_x86_32("", 1) == 0x514e28b7U);
    CHECK(murmur3_x86_32("hello", 0) == 0x248bfa47U);
    CHECK(murmur3_x86_32("The quick brown fox jumps over the lazy dog", 0) == 0x2e4ff723U);
    // libhashkit seeds it with 0xdeadbeef * length.
    CHECK(hash(hash_kind::murmur3, "hello") == murmur3_x86_32("hello", 0xdeadbeefU * 5));
    CHECK(hash(hash_kind::murmur3, "") == 0U);
}

TEST_CASE("hsieh: libhashkit's SuperFastHash variant", "[ring][hash]")
{
    // Not in libmemcached's value file (Debian's libhashkit is built without hsieh). These values
    // come from an independent Python model of libhashkit's hsieh.cc (initial hash 0, one trailing
    // byte unsigned, the third of three trailing bytes sign-extended), covering every tail length.
    CHECK(hash(hash_kind::hsieh, "") == 0U);
    CHECK(hash(hash_kind::hsieh, "a") == 0x93642e87U);
    CHECK(hash(hash_kind::hsieh, "ab") == 0x5b8c0ec3U);
    CHECK(hash(hash_kind::hsieh, "abc") == 0xe5186b3aU);
    CHECK(hash(hash_kind::hsieh, "abcd") == 0x3ab452d8U);
    CHECK(hash(hash_kind::hsieh, "hello") == 0x13842ac5U);
    CHECK(hash(hash_kind::hsieh, "memcached") == 0xaf9950e2U);
    CHECK(hash(hash_kind::hsieh, "127.0.0.1:22201-0") == 0x63b26486U);
    CHECK(hash(hash_kind::hsieh, "\xc3\xa9t\xc3\xa9") == 0xcc955977U);
    CHECK(hash(hash_kind::hsieh, "ab\xe9") == 0x125794e5U);
    CHECK(hash(hash_kind::hsieh, "\xe9") == 0x3c20d7baU);
}

TEST_CASE("hash values equal libmemcached 1.1.4's for every public key", "[ring][hash][compat]")
{
    const auto file = memcoro::ring::test::load_compat("libmemcached_hash_values.public.json");
    const std::map<std::string, hash_kind> by_column = {
        {"MEMCACHED_HASH_DEFAULT (one_at_a_time)", hash_kind::one_at_a_time},
        {"MEMCACHED_HASH_MD5", hash_kind::md5},
        {"MEMCACHED_HASH_CRC", hash_kind::crc},
        {"MEMCACHED_HASH_FNV1_64", hash_kind::fnv1_64},
        {"MEMCACHED_HASH_FNV1A_64", hash_kind::fnv1a_64},
        {"MEMCACHED_HASH_FNV1_32", hash_kind::fnv1_32},
        {"MEMCACHED_HASH_FNV1A_32", hash_kind::fnv1a_32},
        {"MEMCACHED_HASH_MURMUR", hash_kind::murmur},
        {"MEMCACHED_HASH_JENKINS", hash_kind::jenkins},
        {"MEMCACHED_HASH_MURMUR3", hash_kind::murmur3},
    };
    const auto& columns = file.at("columns");
    REQUIRE(columns.size() == by_column.size() + 1);
    REQUIRE(columns.at(0) == "key");
    const auto& rows = file.at("values");
    REQUIRE(rows.size() > 1000);
    for (std::size_t c = 1; c < columns.size(); ++c) {
        const std::string column = columns.at(c);
        const auto kind = by_column.find(column);
        REQUIRE(kind != by_column.end());
        DYNAMIC_SECTION(column)
        {
            std::size_t checked = 0;
            for (const auto& row : rows) {
                const std::string key = row.at(0);
                INFO(to_string(kind->second) << "('" << key << "')");
                CHECK(hash(kind->second, key) == row.at(c).get<std::uint32_t>());
                ++checked;
            }
            CHECK(checked == rows.size());
        }
    }
}

TEST_CASE("hash names round-trip", "[ring][hash]")
{
    using memcoro::ring::all_hash_kinds;
    using memcoro::ring::parse_hash;
    for (hash_kind kind : all_hash_kinds) {
        INFO(to_string(kind));
        CHECK(parse_hash(to_string(kind)) == kind);
    }
    CHECK(std::string(to_string(hash_kind::one_at_a_time)) == "one-at-a-time");
    CHECK(parse_hash("one_at_a_time") == hash_kind::one_at_a_time);
    CHECK(parse_hash("crc") == hash_kind::crc);
    CHECK(parse_hash("crc32") == hash_kind::crc32);
    CHECK(parse_hash("fnv1a_64") == hash_kind::fnv1a_64);
    CHECK(parse_hash("MD5") == hash_kind::md5); // other spellings: test_names.cpp
    CHECK_FALSE(parse_hash("").has_value());
    CHECK_FALSE(parse_hash("sha1").has_value());
    CHECK_FALSE(parse_hash("md5 ").has_value());
}

TEST_CASE("md5 over many keys at once equals md5 key by key", "[ring][hash]")
{
    // Keys of every length around the one-block limit (55 bytes) and past it, bytes of every
    // value, in batches of every size up to a few passes of 8 lanes, lengths mixed so that long
    // keys (hashed alone) fall between lanes.
    std::uint32_t seed = 12345;
    auto next = [&] {
        seed = seed * 1103515245u + 12345u;
        return seed >> 8;
    };
    std::vector<std::string> keys;
    for (std::size_t length = 0; length <= 130; ++length) {
        std::string k(length, '\0');
        for (char& c : k)
            c = static_cast<char>(next() & 0xff);
        keys.push_back(k);
    }
    for (int i = 0; i < 200; ++i) {
        std::string k(next() % 70, '\0');
        for (char& c : k)
            c = static_cast<char>(next() & 0xff);
        keys.push_back(k);
    }
    auto first_word = [](std::string_view k) {
        const auto d = memcoro::ring::md5(k);
        return std::uint32_t{d[0]} | (std::uint32_t{d[1]} << 8) | (std::uint32_t{d[2]} << 16) |
               (std::uint32_t{d[3]} << 24);
    };
    std::vector<std::string_view> views(keys.begin(), keys.end());
    for (unsigned lanes : {1u, 4u, 8u}) {
        for (std::size_t count :
             {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
              std::size_t{8}, std::size_t{9}, std::size_t{17}, views.size()}) {
            for (std::size_t from = 0; from + count <= views.size(); from += 61) {
                const std::span<const std::string_view> batch(views.data() + from, count);
                std::vector<std::uint32_t> out(count + 1, 0xdeadbeef);
                memcoro::ring::detail::md5_first_words(batch, out.data(), lanes);
                for (std::size_t i = 0; i < count; ++i) {
                    INFO("lanes " << lanes << ", key " << from + i << " of length "
                                  << batch[i].size());
                    REQUIRE(out[i] == first_word(batch[i]));
                }
                REQUIRE(out[count] == 0xdeadbeef); // nothing written past the last key
                if (count == views.size())
                    break;
            }
        }
    }
    // The public entry points: one key, std::string keys, and hash_many for every hash.
    for (const auto& k : keys)
        REQUIRE(memcoro::ring::md5_first_word(k) == first_word(k));
    std::vector<std::uint32_t> out(keys.size());
    memcoro::ring::md5_first_words(keys, out.data());
    for (std::size_t i = 0; i < keys.size(); ++i)
        REQUIRE(out[i] == first_word(keys[i]));
    for (hash_kind kind : memcoro::ring::all_hash_kinds) {
        INFO(memcoro::ring::to_string(kind));
        std::fill(out.begin(), out.end(), 0);
        memcoro::ring::hash_many(kind, keys, out.data());
        for (std::size_t i = 0; i < keys.size(); ++i)
            REQUIRE(out[i] == hash(kind, keys[i]));
        memcoro::ring::hash_many(kind, views, out.data());
        for (std::size_t i = 0; i < keys.size(); ++i)
            REQUIRE(out[i] == hash(kind, keys[i]));
    }
}
