#pragma once
/// \file
/// Values bigger than an item, split into chunks (value_options::chunk_large_values): the
/// layout of a chunked value's index item and chunk items, and the checks a reader makes before
/// it assembles them. Sans-I/O. docs/values.md, "Values bigger than an item", says what it
/// guarantees and what it costs.
///
/// A value whose stored form (after compression) is longer than the chunk size is stored as
/// chunk items and one index item under the value's key:
///
/// - each chunk item, under chunk_key(index, i), holds a 20-byte header (the write's 16-byte id
///   and the chunk's number, 4 bytes little-endian) and then up to `chunk_size` bytes of the
///   value; its flags are `chunk_flags`;
/// - the index item holds `index_size` bytes: the magic "MCCHUNK1", the write's id, the value's
///   own flags, its size (8 bytes), the chunk size and the number of chunks (4 bytes each) and
///   the CRC-32 of the value (4 bytes), little-endian; its flags are `index_flags`.
///
/// Both flags values are memcoro's format with type 7 (reserved for chunks): a client that
/// reads them without chunking sees flags it does not know, never a wrong value. Every write
/// draws a new random id, so the chunks of one write are named apart from those of any other:
/// a reader given an index finds that write's chunks or misses.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace memcoro::value::chunk {

/// The flags of an index item.
inline constexpr std::uint32_t index_flags = 0xE0000000u;
/// The flags of a chunk item.
inline constexpr std::uint32_t chunk_flags = 0xE4000000u;
/// The bytes of an index item.
inline constexpr std::size_t index_size = 48;
/// The bytes before the value's bytes in a chunk item.
inline constexpr std::size_t header_size = 20;
/// The most chunks one value may have.
inline constexpr std::uint32_t max_chunks = 1u << 16;

/// What a chunked value's index says.
struct index {
    std::array<unsigned char, 16> id{}; ///< the write's id (random)
    std::uint32_t flags = 0;            ///< the value's own flags (as value::encode set them)
    std::uint64_t size = 0;             ///< the stored value's bytes, all chunks together
    std::uint32_t chunk_size = 0;       ///< the value's bytes per chunk (the last may hold fewer)
    std::uint32_t count = 0;            ///< the number of chunks
    std::uint32_t crc = 0;              ///< the CRC-32 of the stored value
};

/// The index of a new write of `stored` (flags `flags`) in chunks of `chunk_size` bytes, with a
/// new random id. `chunk_size` must be positive and `stored` at most max_chunks chunks long
/// (std::invalid_argument otherwise).
index plan(std::string_view stored, std::uint32_t flags, std::size_t chunk_size);

/// The bytes of the index item of `ix`.
std::string encode_index(const index& ix);

/// Reads an index item's bytes into `ix`. An index that is not `index_size` bytes, lacks the
/// magic, or whose size, chunk size and count do not agree fails with value_errc::corrupt;
/// one of more than `max_size` bytes with compression_errc::too_large.
std::error_code parse_index(std::string_view bytes, std::size_t max_size, index& ix);

/// The key of chunk `i` of `ix`'s write: "memcoro.chunk.<32 hex digits of the id>.<i>".
std::string chunk_key(const index& ix, std::uint32_t i);

/// Writes into `out` (replacing what it held) the bytes of chunk item `i` of `stored` for
/// `ix`.
void make_chunk(const index& ix, std::uint32_t i, std::string_view stored, std::string& out);

/// Appends chunk `i`'s bytes from the chunk item `item` of `ix`'s write to `out`. An item that
/// is not that chunk of that write (another id or number, the wrong size) fails with
/// value_errc::chunk_mismatch and `out` is left as it was.
std::error_code append_chunk(const index& ix, std::uint32_t i, std::string_view item,
                             std::string& out);

/// Checks the assembled value `stored` against `ix` (its size and CRC-32):
/// value_errc::chunk_mismatch if it does not match.
std::error_code check(const index& ix, std::string_view stored);

} // namespace memcoro::value::chunk
