#pragma once
/// \file
/// Value compression: zlib, FastLZ, zstd and lz4 over byte strings. Sans-I/O: no sockets, no
/// client; the value formats (php-memcached, PECL memcache, memcoro's own) sit above it and
/// store the codec and the uncompressed size beside the data.

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace memcoro::value {

/// A compression codec. The bytes each one produces:
/// - `zlib`: a zlib stream (RFC 1950: header, deflate data, Adler-32), as zlib's `compress()`
///   writes it and php-memcached and PECL memcache store it.
/// - `fastlz`: a FastLZ block, level 1 or 2 (the level is in the top 3 bits of its first
///   byte), as php-memcached stores it.
/// - `zstd`: one zstd frame, with its content size.
/// - `lz4`: one LZ4 block (no frame), which does not record its own size.
enum class codec { none, zlib, fastlz, zstd, lz4 };

/// Whether this build can compress and decompress with `c`: `none`, `zlib` and `fastlz`
/// always; `zstd` and `lz4` when libzstd and liblz4 were found at build time.
bool codec_available(codec c) noexcept;

/// The codec's name: "none", "zlib", "fastlz", "zstd", "lz4".
std::string_view codec_name(codec c) noexcept;

/// The codec's own default level (zlib 6, FastLZ 1 below 64 KiB and 2 above, as FastLZ's
/// `fastlz_compress` and so php-memcached choose, zstd 3, lz4 its fast mode).
inline constexpr int default_level = -1;

/// For `decompress`: the uncompressed size was not stored beside the data (PECL memcache's
/// zlib values). The output then grows as it is produced, up to `max_size`. zstd reads the size
/// from its frame; lz4 cannot do without it.
inline constexpr std::size_t unknown_size = static_cast<std::size_t>(-1);

/// Why a value could not be compressed or decompressed.
enum class compression_errc {
    corrupt_data = 1,  ///< the data is not a valid stream of the codec (truncated, damaged)
    too_large,         ///< the uncompressed size (stated or produced) exceeds the maximum
    size_mismatch,     ///< the data decompresses to a size other than the stated one
    size_unknown,      ///< the codec needs the uncompressed size and none was given
    codec_unavailable, ///< this build has no such codec
    invalid_level,     ///< a level the codec does not have
};

/// The category of `compression_errc` ("memcoro.compression").
const std::error_category& compression_category() noexcept;

/// The enumerator's name of `e` ("corrupt_data", "too_large", ...), or "" for a value that is no
/// enumerator.
std::string_view errc_name(compression_errc e) noexcept;

/// `e` as a std::error_code of compression_category().
inline std::error_code make_error_code(compression_errc e) noexcept
{
    return {static_cast<int>(e), compression_category()};
}

/// Appends `in`, compressed with `c`, to `out`. `codec::none` appends `in` unchanged. FastLZ
/// takes levels 1 and 2; zlib 0 to 9; zstd 1 to its maximum (22); lz4 1 (fast) or 2 to 12
/// (lz4hc). On failure `out` is left as it was.
std::error_code compress(codec c, std::string_view in, std::string& out, int level = default_level);

/// Appends the decompression of `in` to `out`.
///
/// `expected_size` is the uncompressed size stored beside the data (or `unknown_size`): the
/// data must decompress to exactly that many bytes (`size_mismatch` otherwise). No more than
/// `max_size` bytes are ever produced, nor is `out` resized past them: a stated size over
/// `max_size` fails with `too_large` before anything is allocated, and so does an unstated size
/// once the output passes `max_size`. A stated size that `in` cannot produce (more than the codec's
/// highest ratio allows) fails with `corrupt_data`, before any allocation. Damaged data fails with
/// `corrupt_data`; every read of `in` and write of `out` is bounds-checked. On failure `out`
/// is left as it was.
///
/// Per codec: lz4 needs the stated size (`size_unknown` without it) and reports data longer
/// than the stated size as `corrupt_data` (an LZ4 block cannot tell the two apart); zstd
/// takes the size from its frame when none is stated, and checks the frame's size against the
/// maximum before decoding; zlib and FastLZ, without a stated size, grow the output as it is
/// produced (first to 4 times the input's size, at least 4 KiB, then doubling; never past
/// `max_size`).
std::error_code decompress(codec c, std::string_view in, std::size_t expected_size,
                           std::size_t max_size, std::string& out);

} // namespace memcoro::value

template <>
struct std::is_error_code_enum<memcoro::value::compression_errc> : std::true_type {
};
