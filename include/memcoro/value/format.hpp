#pragma once
/// \file
/// Value formats: how a value's type, compression and the user's flags are laid out in
/// memcached's 32-bit flags and the stored bytes. Sans-I/O: no sockets, no client (issue #16).
///
/// Three formats:
///
/// - `php_memcached`, as php-memcached (`Memcached`, 3.x) stores values. Flags:
///   bits 0-3 the type (0 string, 1 integer, 2 float, 3 boolean, 4 PHP serialize(),
///   5 igbinary, 6 JSON, 7 msgpack); bit 4 (0x10) compressed, bit 5 (0x20) zlib, bit 6 (0x40)
///   FastLZ, bit 7 (0x80) zstd (php-memcached 3.3, `memcached.compression_type=zstd`: a zstd
///   frame); bits 16-31 the user's flags (`Memcached::OPT_USER_FLAGS`, 0 to 65535, which
///   `Memcached::GET_EXTENDED` returns as they were set). A compressed value is the
///   uncompressed length (4 bytes, little-endian) and then the stream.
/// - `pecl_memcache`, as PECL memcache (`Memcache`, 4.x) stores values. Flags: bit 0 (0x01)
///   PHP serialize(), bit 1 (0x02, `MEMCACHE_COMPRESSED`) compressed with zlib, bits 8-11 the
///   scalar type (0x0100 boolean, 0x0300 integer, 0x0700 float); bits 16-31 the user's flags,
///   which PECL memcache takes and returns unshifted (it refuses any other bit below 16 but
///   0x02). A compressed value is a zlib stream, no length before it.
/// - `memcoro`, memcoro's own, readable without configuration (the flags say which codec wrote
///   the value). Flags:
///   ```
///   bits 0-25   the user's flags (0 to 0x3ffffff), as they are
///   bits 26-28  codec: 0 none, 1 zlib, 2 FastLZ, 3 zstd, 4 lz4 (5-7 reserved)
///   bits 29-31  type:  0 bytes, 1 integer, 2 floating, 3 boolean, 4 json, 5 msgpack (6-7 reserved)
///   ```
///   memcoro's bits are the top six so that a value stored with flags under 2^26 by any other
///   client (or by memcoro without a value format) reads as bytes, its flags as the user's. A
///   compressed value is the uncompressed length (4 bytes, little-endian) and then the codec's
///   stream.
///
/// Integers are decimal text in every format (so memcached's `incr` and `decr` work on them from
/// any client; memcached keeps the flags). Floats and booleans are text as each PHP client writes
/// them: see `format_floating` and `format_boolean`. A value another program serialized
/// (PHP serialize(), igbinary, JSON, msgpack) is returned as its bytes with the type reported.

#include <memcoro/value/compression.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace memcoro::value {

/// The layout of a value's flags and bytes; see the file's documentation.
enum class value_format { memcoro, pecl_memcache, php_memcached };

/// "memcoro", "pecl-memcache", "php-memcached".
std::string_view format_name(value_format f) noexcept;

/// The format named `name` (as `format_name` spells it), or nothing.
std::optional<value_format> parse_format(std::string_view name) noexcept;

/// What a stored value holds. A PHP string is `bytes` (PHP does not tell text from binary).
/// Which formats carry which types:
///
/// | type             | memcoro | php_memcached | pecl_memcache |
/// |------------------|---------|---------------|---------------|
/// | `bytes`          | yes     | yes           | yes           |
/// | `integer`        | yes     | yes           | yes           |
/// | `floating`       | yes     | yes           | yes           |
/// | `boolean`        | yes     | yes           | yes           |
/// | `php_serialized` | no      | yes           | yes           |
/// | `igbinary`       | no      | yes           | no            |
/// | `json`           | yes     | yes           | no            |
/// | `msgpack`        | yes     | yes           | no            |
enum class value_type {
    bytes,          ///< a byte string, stored as it is
    integer,        ///< decimal text: `-?[0-9]+`, within int64 (or uint64 when not negative)
    floating,       ///< a double as text (`format_floating`)
    boolean,        ///< "1" for true; "" (php-memcached) or "0" (PECL memcache, memcoro) for false
    php_serialized, ///< PHP's serialize() (arrays, objects, null)
    igbinary,       ///< igbinary_serialize()
    json,           ///< JSON text
    msgpack,        ///< MessagePack
};

/// "bytes", "integer", "floating", "boolean", "php_serialized", "igbinary", "json", "msgpack".
std::string_view type_name(value_type t) noexcept;

/// Why a value could not be encoded or decoded. Compression errors (`compression_errc`) pass
/// through unchanged.
enum class value_errc {
    unsupported_flags = 1, ///< flag bits the format does not define (an unknown type or codec)
    corrupt,               ///< the stored bytes do not fit the flags (a truncated length prefix)
    type_mismatch,         ///< the bytes are not a valid value of the type (e.g. an integer
                           ///< that is not decimal text)
    type_not_in_format,    ///< the format has no flags for this type
    codec_not_in_format,   ///< the format has no flags for this codec
    invalid_user_flags,    ///< user flags the format has no room for
    invalid_policy,        ///< min_savings outside [0, 1)
    chunk_mismatch,        ///< a chunked value's chunk is not of its index's write, or the
                           ///< value assembled does not match the index (value/chunk.hpp)
};

/// The category of `value_errc` ("memcoro.value").
const std::error_category& value_category() noexcept;

/// The enumerator's name of `e` ("unsupported_flags", "corrupt", ...), or "" for a value that is
/// no enumerator.
std::string_view errc_name(value_errc e) noexcept;

/// `e` as a std::error_code of value_category().
inline std::error_code make_error_code(value_errc e) noexcept
{
    return {static_cast<int>(e), value_category()};
}

/// When `encode` compresses a value.
///
/// A value is compressed when `algorithm` is not `none` and it is at least `threshold` bytes
/// long; the compressed form is kept only if it is smaller than `(1 - min_savings)` times the
/// original, else the value is stored uncompressed.
///
/// The PHP clients' settings map onto these fields:
/// - PECL memcache `setCompressThreshold($t, $s)` (or ini `memcache.compress_threshold`,
///   20000 by default, with `$s` 0.2): `threshold = t`, `min_savings = s`, zlib. Its rule,
///   `compressed < original * (1 - s)`, is this one. A `set` with `MEMCACHE_COMPRESSED` is
///   `threshold = 0`.
/// - php-memcached `memcached.compression_threshold` (2000) is `threshold`;
///   `memcached.compression_factor` f (1.3) keeps the compressed form when
///   `original > compressed * f` (the stream, without its 4-byte length), which is
///   `compressed < original * (1 - s)` with `s = 1 - 1 / f` (`min_savings_from_factor`). For
///   php_memcached, encode applies php-memcached's rule with `f = 1 / (1 - min_savings)`.
/// - memcoro compares the stored size (length prefix included) with the original.
struct compression_policy {
    codec algorithm = codec::zlib; ///< `none`: never compress
    std::size_t threshold = 2000;  ///< compress values of at least this many bytes
    double min_savings = 0.2;      ///< keep the compressed form only if it saves this fraction
    int level = default_level;     ///< the codec's level (compression.hpp)
};

/// The compression each PHP client uses by default, for the format: php_memcached: FastLZ,
/// threshold 2000, factor 1.3; pecl_memcache: zlib, threshold 20000 (its ini default),
/// min_savings 0.2; memcoro: zlib, threshold 2000, min_savings 0.2.
compression_policy default_compression(value_format f) noexcept;

/// php-memcached's `compression_factor` as a min_savings: `1 - 1 / factor` (0 for factor <= 1).
double min_savings_from_factor(double factor) noexcept;

/// What `decode` learnt from the flags besides the bytes.
struct value_info {
    value_type type = value_type::bytes; ///< what the flags say the value is
    std::uint32_t user_flags = 0;        ///< as `encode` takes them (see `encode`)
    codec compressed_with = codec::none; ///< the codec the value was stored with
};

/// Appends to `out` the bytes to store for `data` of type `t` in format `f`, and sets `flags`.
///
/// `data` must be a valid value of `t` (`type_mismatch` otherwise): decimal text for
/// `integer`, text `parse_floating` reads for `floating`, the format's own "1"/"0"/"" for
/// `boolean` (use `format_floating` and `format_boolean` to write them). Other types are not
/// checked.
///
/// `user_flags`, as each PHP client's user sees them: php_memcached 0 to 65535
/// (`OPT_USER_FLAGS`); pecl_memcache a multiple of 0x10000 (the flags argument of `set`, without
/// `MEMCACHE_COMPRESSED`); memcoro 0 to 0x3ffffff. Others fail with `invalid_user_flags`.
///
/// The codec must be one the format has flags for (`codec_not_in_format`): php_memcached
/// FastLZ, zlib and zstd, pecl_memcache zlib, memcoro all. On failure `out` is left as it was.
std::error_code encode(value_format f, value_type t, std::string_view data,
                       const compression_policy& policy, std::uint32_t user_flags, std::string& out,
                       std::uint32_t& flags);

/// `encode` with no user flags.
std::error_code encode(value_format f, value_type t, std::string_view data,
                       const compression_policy& policy, std::string& out, std::uint32_t& flags);

/// Appends to `out` the value stored as `stored` with `flags` in format `f`, decompressed (never
/// more than `max_size` bytes: compression.hpp's `decompress`), and fills `info`.
///
/// Flag bits the format does not define fail with `unsupported_flags`; a compressed value
/// shorter than its length prefix with `corrupt`; bytes that are not a valid value of the
/// flags' type (integer, floating, boolean) with `type_mismatch`. An integer loses the trailing
/// spaces memcached's `decr` leaves when the number gets shorter ("10" decremented is "9 ").
/// Other types are returned as stored. On failure `out` is left as it was.
std::error_code decode(value_format f, std::uint32_t flags, std::string_view stored,
                       std::size_t max_size, std::string& out, value_info& info);

/// `decode` reporting only the type.
std::error_code decode(value_format f, std::uint32_t flags, std::string_view stored,
                       std::size_t max_size, std::string& out, value_type& type);

/// `v` as decimal text.
std::string format_integer(std::int64_t v);

/// `v` as the format's writer writes a float:
/// - php_memcached: the shortest text that reads back as `v`, without a leading zero
///   (".1", "100", "1e+25", "1e-07"), "Infinity", "-Infinity", "NaN";
/// - pecl_memcache: 14 significant digits (PHP's "%.14g": "0.1", "0.33333333333333",
///   "1.0e+25", "1.0e-7"), "INF", "-INF", "NAN"; more digits are lost, as PECL memcache loses them;
/// - memcoro: the shortest text that reads back as `v` (std::to_chars), "inf", "-inf", "nan".
std::string format_floating(value_format f, double v);

/// `v` as the format's writer writes a boolean: "1" for true; false is "" for php_memcached,
/// "0" for pecl_memcache and memcoro.
std::string_view format_boolean(value_format f, bool v) noexcept;

/// The integer in decimal `text` (an optional '-', 1 to 20 digits), or nothing if it is
/// not one or is outside int64.
std::optional<std::int64_t> parse_integer(std::string_view text) noexcept;

/// The double in `text` as any of the formats writes it (also "INF", "Infinity", "NaN", "inf",
/// "nan", with an optional '-'), or nothing.
std::optional<double> parse_floating(std::string_view text) noexcept;

/// "1" is true; "0" and "" are false; anything else is nothing.
std::optional<bool> parse_boolean(std::string_view text) noexcept;

} // namespace memcoro::value

template <>
struct std::is_error_code_enum<memcoro::value::value_errc> : std::true_type {
};
