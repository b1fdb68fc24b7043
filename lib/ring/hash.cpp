// Key hash functions. Each is written from the algorithm's published definition, with the
// deviations of the memcached clients we must agree with (libhashkit, PECL memcache, twemproxy)
// noted where they occur: placement compatibility matters more than textbook purity here.

#include <memcoro/ring/hash.hpp>

#include "names.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace memcoro::ring {
namespace {

/// A key byte the way the C clients see it on x86-64: `(uint32_t)c` of a signed `char`, so bytes
/// >= 0x80 become 0xFFFFFFxx. Reproduced everywhere so that non-ASCII keys land where they do in
/// the x86-64 fleets.
constexpr std::uint32_t sign_extend32(char c) noexcept
{
    return static_cast<std::uint32_t>(static_cast<std::int32_t>(static_cast<signed char>(c)));
}

/// As sign_extend32, to 64 bits (libhashkit's 64-bit FNV-1 does `(uint64_t)key[x]`).
constexpr std::uint64_t sign_extend64(char c) noexcept
{
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<signed char>(c)));
}

constexpr std::uint32_t byte(char c) noexcept
{
    return static_cast<unsigned char>(c);
}

constexpr std::uint32_t rotl(std::uint32_t x, unsigned n) noexcept
{
    return (x << n) | (x >> (32 - n));
}

std::uint32_t load_le32(const char* p) noexcept
{
    return byte(p[0]) | (byte(p[1]) << 8) | (byte(p[2]) << 16) | (byte(p[3]) << 24);
}

std::uint32_t load_le16(const char* p) noexcept
{
    return byte(p[0]) | (byte(p[1]) << 8);
}

/// The last 1..3 bytes of a key, little-endian (the tail of MurmurHash and MurmurHash3).
std::uint32_t load_le_tail(const char* p, std::size_t n) noexcept
{
    std::uint32_t t = 0;
    switch (n) {
    case 3:
        t ^= byte(p[2]) << 16;
        [[fallthrough]];
    case 2:
        t ^= byte(p[1]) << 8;
        [[fallthrough]];
    case 1:
        t ^= byte(p[0]);
        break;
    default:
        break;
    }
    return t;
}

std::uint32_t one_at_a_time(std::string_view key) noexcept
{
    std::uint32_t h = 0;
    for (char c : key) {
        h += sign_extend32(c);
        h += h << 10;
        h ^= h >> 6;
    }
    h += h << 3;
    h ^= h >> 11;
    h += h << 15;
    return h;
}

constexpr std::array<std::uint32_t, 256> make_crc_table() noexcept
{
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t n = 0; n < 256; ++n) {
        std::uint32_t c = n;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) != 0 ? 0xedb88320U ^ (c >> 1) : c >> 1;
        table[n] = c;
    }
    return table;
}

constexpr std::array<std::uint32_t, 256> crc_table = make_crc_table();

constexpr std::uint32_t fnv32_basis = 0x811c9dc5U;
constexpr std::uint32_t fnv32_prime = 0x01000193U;
constexpr std::uint64_t fnv64_basis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv64_prime = 0x100000001b3ULL;

std::uint32_t fnv1_32(std::string_view key) noexcept
{
    std::uint32_t h = fnv32_basis;
    for (char c : key) {
        h *= fnv32_prime;
        h ^= sign_extend32(c);
    }
    return h;
}

std::uint32_t fnv1a_32(std::string_view key) noexcept
{
    std::uint32_t h = fnv32_basis;
    for (char c : key) {
        h ^= sign_extend32(c);
        h *= fnv32_prime;
    }
    return h;
}

std::uint32_t fnv1_64(std::string_view key) noexcept
{
    std::uint64_t h = fnv64_basis;
    for (char c : key) {
        h *= fnv64_prime;
        h ^= sign_extend64(c);
    }
    return static_cast<std::uint32_t>(h);
}

/// libhashkit (and twemproxy) keep the hash in a uint32_t and truncate both 64-bit constants.
/// That is still the low half of the real FNV-1a 64 (low product bits only depend on low factor
/// bits), so the cheaper 32-bit arithmetic is kept.
std::uint32_t fnv1a_64_truncated(std::string_view key) noexcept
{
    std::uint32_t h = static_cast<std::uint32_t>(fnv64_basis);
    for (char c : key) {
        h ^= sign_extend32(c);
        h *= static_cast<std::uint32_t>(fnv64_prime);
    }
    return h;
}

/// SuperFastHash (Paul Hsieh, 2004) in libhashkit's variant, which differs from the published
/// code in two ways that we keep: the hash starts at 0 rather than at the length, and a single
/// trailing byte is added unsigned while the third of three trailing bytes is sign-extended.
/// libmemcached 1.1.4 as shipped by Debian does not compile hsieh in, so this is checked only
/// against hand-computed values (test_hash.cpp), not against libmemcached itself.
std::uint32_t hsieh(std::string_view key) noexcept
{
    if (key.empty())
        return 0;
    std::uint32_t h = 0;
    const char* p = key.data();
    const std::size_t rem = key.size() & 3;
    for (std::size_t blocks = key.size() >> 2; blocks > 0; --blocks) {
        h += load_le16(p);
        const std::uint32_t tmp = (load_le16(p + 2) << 11) ^ h;
        h = (h << 16) ^ tmp;
        p += 4;
        h += h >> 11;
    }
    switch (rem) {
    case 3:
        h += load_le16(p);
        h ^= h << 16;
        h ^= sign_extend32(p[2]) << 18;
        h += h >> 11;
        break;
    case 2:
        h += load_le16(p);
        h ^= h << 11;
        h += h >> 17;
        break;
    case 1:
        h += byte(p[0]);
        h ^= h << 10;
        h += h >> 1;
        break;
    default:
        break;
    }
    h ^= h << 3;
    h += h >> 5;
    h ^= h << 4;
    h += h >> 17;
    h ^= h << 25;
    h += h >> 6;
    return h;
}

/// MurmurHash2 (Austin Appleby), 32 bit, with libhashkit's seed `0xdeadbeef * length`; bytes are
/// unsigned.
std::uint32_t murmur2(std::string_view key) noexcept
{
    constexpr std::uint32_t m = 0x5bd1e995U;
    constexpr unsigned r = 24;
    const auto length = static_cast<std::uint32_t>(key.size());
    const std::uint32_t seed = 0xdeadbeefU * length;
    std::uint32_t h = seed ^ length;
    const char* p = key.data();
    std::size_t left = key.size();
    while (left >= 4) {
        std::uint32_t k = load_le32(p);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        p += 4;
        left -= 4;
    }
    if (left > 0) {
        h ^= load_le_tail(p, left);
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

/// (a, b, c) <- (b, c, a): lookup3's mix() and final() are rounds of one step each, with the
/// roles of a, b and c passed on from round to round.
void rotate_roles(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c) noexcept
{
    const std::uint32_t t = a;
    a = b;
    b = c;
    c = t;
}

/// lookup3's mix(a, b, c): six rounds of `a -= c; a ^= rot(c, k); c += b;`, each on the
/// previous round's (b, c, a). Six is twice three: the roles end where they began. The rounds
/// are unrolled (the roles then cost nothing): as fast as lookup3's straight-line code.
void lookup3_mix(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c) noexcept
{
#pragma GCC unroll 6
    for (const unsigned k : {4u, 6u, 8u, 16u, 19u, 4u}) {
        a -= c;
        a ^= rotl(c, k);
        c += b;
        rotate_roles(a, b, c);
    }
}

/// lookup3's final(a, b, c), returning c: seven rounds of `c ^= b; c -= rot(b, k);`, each on
/// the previous round's (b, c, a); the first six bring the roles back where they began.
std::uint32_t lookup3_final(std::uint32_t a, std::uint32_t b, std::uint32_t c) noexcept
{
#pragma GCC unroll 6
    for (const unsigned k : {14u, 11u, 25u, 16u, 4u, 14u}) {
        c ^= b;
        c -= rotl(b, k);
        rotate_roles(a, b, c);
    }
    c ^= b;
    c -= rotl(b, 24);
    return c;
}

/// Bob Jenkins' lookup3 `hashlittle`, initval 13 as libhashkit uses it; bytes are unsigned.
std::uint32_t jenkins(std::string_view key) noexcept
{
    std::uint32_t a = 0xdeadbeefU + static_cast<std::uint32_t>(key.size()) + 13;
    std::uint32_t b = a;
    std::uint32_t c = a;
    const char* p = key.data();
    std::size_t left = key.size();
    while (left > 12) {
        a += load_le32(p);
        b += load_le32(p + 4);
        c += load_le32(p + 8);
        lookup3_mix(a, b, c);
        p += 12;
        left -= 12;
    }
    if (left == 0)
        return c; // lookup3 skips the final mix for an empty tail
    // The last 1..12 bytes, zero-padded, go into a, b, c little-endian.
    std::array<std::uint32_t, 3> tail{};
    for (std::size_t i = 0; i < left; ++i)
        tail[i / 4] |= byte(p[i]) << (8 * (i % 4));
    a += tail[0];
    b += tail[1];
    c += tail[2];
    return lookup3_final(a, b, c);
}

} // namespace

/// MurmurHash3_x86_32 (Austin Appleby); bytes are unsigned.
std::uint32_t murmur3_x86_32(std::string_view key, std::uint32_t seed) noexcept
{
    constexpr std::uint32_t c1 = 0xcc9e2d51U;
    constexpr std::uint32_t c2 = 0x1b873593U;
    std::uint32_t h = seed;
    const char* p = key.data();
    std::size_t left = key.size();
    while (left >= 4) {
        std::uint32_t k = load_le32(p);
        k *= c1;
        k = rotl(k, 15);
        k *= c2;
        h ^= k;
        h = rotl(h, 13);
        h = h * 5 + 0xe6546b64U;
        p += 4;
        left -= 4;
    }
    if (left > 0) {
        std::uint32_t k = load_le_tail(p, left);
        k *= c1;
        k = rotl(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= static_cast<std::uint32_t>(key.size());
    h ^= h >> 16;
    h *= 0x85ebca6bU;
    h ^= h >> 13;
    h *= 0xc2b2ae35U;
    h ^= h >> 16;
    return h;
}

std::uint32_t crc32(std::string_view data) noexcept
{
    std::uint32_t c = 0xffffffffU;
    for (char ch : data)
        c = crc_table[(c ^ byte(ch)) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffU;
}

std::uint32_t hash(hash_kind kind, std::string_view key) noexcept
{
    switch (kind) {
    case hash_kind::one_at_a_time:
        return one_at_a_time(key);
    case hash_kind::md5:
        return md5_first_word(key);
    case hash_kind::crc:
        return (crc32(key) >> 16) & 0x7fff;
    case hash_kind::crc32:
        return crc32(key);
    case hash_kind::fnv1_32:
        return fnv1_32(key);
    case hash_kind::fnv1a_32:
        return fnv1a_32(key);
    case hash_kind::fnv1_64:
        return fnv1_64(key);
    case hash_kind::fnv1a_64:
        return fnv1a_64_truncated(key);
    case hash_kind::hsieh:
        return hsieh(key);
    case hash_kind::murmur:
        return murmur2(key);
    case hash_kind::murmur3:
        // libhashkit seeds murmur3 like its murmur: 0xdeadbeef * length.
        return murmur3_x86_32(key, 0xdeadbeefU * static_cast<std::uint32_t>(key.size()));
    case hash_kind::jenkins:
        return jenkins(key);
    }
    return one_at_a_time(key); // unreachable for valid enumerators
}

const char* to_string(hash_kind kind) noexcept
{
    switch (kind) {
    case hash_kind::one_at_a_time:
        return "one-at-a-time";
    case hash_kind::md5:
        return "md5";
    case hash_kind::crc:
        return "crc";
    case hash_kind::crc32:
        return "crc32";
    case hash_kind::fnv1_32:
        return "fnv1_32";
    case hash_kind::fnv1a_32:
        return "fnv1a_32";
    case hash_kind::fnv1_64:
        return "fnv1_64";
    case hash_kind::fnv1a_64:
        return "fnv1a_64";
    case hash_kind::hsieh:
        return "hsieh";
    case hash_kind::murmur:
        return "murmur";
    case hash_kind::murmur3:
        return "murmur3";
    case hash_kind::jenkins:
        return "jenkins";
    }
    return "unknown";
}

namespace {

template <class Keys>
void hash_each(hash_kind kind, const Keys& keys, std::uint32_t* out) noexcept
{
    if (kind == hash_kind::md5) {
        md5_first_words(keys, out);
        return;
    }
    for (std::size_t i = 0; i < keys.size(); ++i)
        out[i] = hash(kind, keys[i]);
}

} // namespace

void hash_many(hash_kind kind, std::span<const std::string> keys, std::uint32_t* out) noexcept
{
    hash_each(kind, keys, out);
}

void hash_many(hash_kind kind, std::span<const std::string_view> keys, std::uint32_t* out) noexcept
{
    hash_each(kind, keys, out);
}

std::optional<hash_kind> parse_hash(std::string_view name) noexcept
{
    struct spelling {
        std::string_view name; // folded
        hash_kind kind;
    };
    // libmemcached's memcached_hash_t without its prefix (php-memcached's HASH_* are the same
    // constants); the libhashkit names are memcoro's own.
    static constexpr spelling libmemcached[] = {
        {"default", hash_kind::one_at_a_time},
        {"md5", hash_kind::md5},
        {"crc", hash_kind::crc},
        {"fnv1_64", hash_kind::fnv1_64},
        {"fnv1a_64", hash_kind::fnv1a_64},
        {"fnv1_32", hash_kind::fnv1_32},
        {"fnv1a_32", hash_kind::fnv1a_32},
        {"hsieh", hash_kind::hsieh},
        {"murmur", hash_kind::murmur},
        {"jenkins", hash_kind::jenkins},
        {"murmur3", hash_kind::murmur3},
    };
    static constexpr spelling others[] = {
        {"one_at_a_time", hash_kind::one_at_a_time}, // memcoro's and twemproxy's
        {"crc32", hash_kind::crc32},                 // memcoro's and PECL memcache's
        {"crc32a", hash_kind::crc32},                // twemproxy's full CRC-32
        {"fnv", hash_kind::fnv1a_32},                // PECL memcache.hash_function=fnv
    };
    const detail::folded_name folded(name);
    std::string_view n = folded.view();
    detail::strip_prefix(n, "memcached::"); // php-memcached's class constants
    const bool prefixed =
        detail::strip_prefix(n, "memcached_hash_") || detail::strip_prefix(n, "hash_");
    for (const spelling& s : libmemcached)
        if (n == s.name)
            return s.kind;
    if (!prefixed)
        for (const spelling& s : others)
            if (n == s.name)
                return s.kind;
    return std::nullopt;
}

} // namespace memcoro::ring
