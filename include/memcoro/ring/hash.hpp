#pragma once
/// \file
/// Key hash functions, bit-compatible with libmemcached's libhashkit, PECL memcache and
/// twemproxy (see docs/distributions.md and test/data/compat/README.md).
///
/// Several of these functions reproduce a quirk of the C originals on x86-64: bytes >= 0x80 are
/// *sign-extended* (the C code converts a signed `char` to an unsigned integer). The quirk is
/// reproduced on every platform, so placement is the same as that of the x86-64 deployments that
/// the fleets we share servers with actually run.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace memcoro::ring {

/// The key hash algorithms. Every one yields a 32-bit value.
enum class hash_kind {
    /// Bob Jenkins' one-at-a-time, bytes sign-extended: libmemcached's DEFAULT hash.
    one_at_a_time,
    /// Bytes 0..3 of the MD5 digest as a little-endian integer (libmemcached MD5).
    md5,
    /// libmemcached's CRC: `(crc32(key) >> 16) & 0x7fff`, only 15 bits (twemproxy `crc32`).
    crc,
    /// The full standard CRC-32 (zlib's), PECL memcache's `crc32` (twemproxy `crc32a`).
    crc32,
    /// FNV-1, 32 bit, bytes sign-extended.
    fnv1_32,
    /// FNV-1a, 32 bit, bytes sign-extended (also PECL memcache's `fnv`).
    fnv1a_32,
    /// 64-bit FNV-1 (bytes sign-extended to 64 bits), low 32 bits of the result.
    fnv1_64,
    /// libmemcached's and twemproxy's "FNV1A_64", computed in 32-bit arithmetic with the 64-bit
    /// constants truncated (basis 0x84222325, prime 0x1b3), bytes sign-extended. Since the low 32
    /// bits of a product depend only on the low 32 bits of its factors, this equals the low half
    /// of the real 64-bit FNV-1a. Twemproxy's default.
    fnv1a_64,
    /// Paul Hsieh's SuperFastHash as libhashkit has it (initial value 0, see hash.cpp).
    hsieh,
    /// MurmurHash2, 32 bit, seed `0xdeadbeef * length` (libhashkit's murmur).
    murmur,
    /// MurmurHash3_x86_32 with seed `0xdeadbeef * length` (libhashkit's murmur3).
    murmur3,
    /// Bob Jenkins' lookup3 `hashlittle` with initval 13 (libhashkit's jenkins).
    jenkins,
};

/// Every hash_kind, in declaration order (for iteration in tools and tests).
inline constexpr std::array<hash_kind, 12> all_hash_kinds = {
    hash_kind::one_at_a_time, hash_kind::md5,      hash_kind::crc,     hash_kind::crc32,
    hash_kind::fnv1_32,       hash_kind::fnv1a_32, hash_kind::fnv1_64, hash_kind::fnv1a_64,
    hash_kind::hsieh,         hash_kind::murmur,   hash_kind::murmur3, hash_kind::jenkins,
};

/// Hashes `key` (raw bytes) with `kind`.
std::uint32_t hash(hash_kind kind, std::string_view key) noexcept;

/// `out[i] = hash(kind, keys[i])` for every key. MD5 hashes several keys at once (4 or 8 per
/// pass, in SIMD lanes); the other hashes take the keys one by one.
void hash_many(hash_kind kind, std::span<const std::string> keys, std::uint32_t* out) noexcept;
/// The same for string views.
void hash_many(hash_kind kind, std::span<const std::string_view> keys, std::uint32_t* out) noexcept;

/// Parses a hash name: `one-at-a-time`, `md5`, `crc`, `crc32`, `fnv1_32`, `fnv1a_32`, `fnv1_64`,
/// `fnv1a_64`, `hsieh`, `murmur`, `murmur3`, `jenkins`, and the other clients' spellings:
/// libmemcached's `MEMCACHED_HASH_*` and php-memcached's `Memcached::HASH_*` (`DEFAULT` is
/// one-at-a-time, `CRC` is `crc`), PECL memcache's `fnv` (fnv1a_32) and twemproxy's `crc32a`
/// (crc32). Case-insensitive; `-` and `_` are the same. Beware twemproxy's `crc32`: it is
/// memcoro's `crc` (15 bits), while `crc32` here is the full CRC-32 (PECL's). nullopt for
/// anything else (`MEMCACHED_HASH_CUSTOM`, twemproxy's `crc16`).
std::optional<hash_kind> parse_hash(std::string_view name) noexcept;

/// The canonical name of `kind`, as accepted by parse_hash.
const char* to_string(hash_kind kind) noexcept;

/// An MD5 digest (RFC 1321).
using md5_digest = std::array<unsigned char, 16>;

/// Writes the 16-byte MD5 digest of `data` to `out` (ketama rings take four points per digest).
void md5(std::string_view data, unsigned char out[16]) noexcept;

/// The MD5 digest of `data`.
md5_digest md5(std::string_view data) noexcept;

/// The first four bytes of the MD5 digest of `data` as a little-endian word: the `md5` key hash.
std::uint32_t md5_first_word(std::string_view data) noexcept;

/// The first four bytes of each key's MD5 digest as a little-endian word (what the `md5` key
/// hash uses), several keys per pass: `out[i]` for `keys[i]`.
void md5_first_words(std::span<const std::string> keys, std::uint32_t* out) noexcept;
/// The same for string views.
void md5_first_words(std::span<const std::string_view> keys, std::uint32_t* out) noexcept;

namespace detail {
/// md5_first_words with a chosen lane count: 1 (one key at a time), 4, or 8 (AVX2, when the
/// processor has it; else 4). For tests, which check every width against md5().
void md5_first_words(std::span<const std::string_view> keys, std::uint32_t* out,
                     unsigned lanes) noexcept;
} // namespace detail

/// MurmurHash3_x86_32 of `data` with an explicit seed (hash_kind::murmur3 is this with
/// libhashkit's seed `0xdeadbeef * length`).
std::uint32_t murmur3_x86_32(std::string_view data, std::uint32_t seed) noexcept;

/// The standard (zlib, IEEE 802.3, reflected 0xEDB88320) CRC-32 of `data`.
std::uint32_t crc32(std::string_view data) noexcept;

} // namespace memcoro::ring
