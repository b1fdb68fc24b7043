// libFuzzer target for the value formats' decoder (memcoro/value/format.hpp).
//
// Input layout:
//   byte 0     bits 0-1: the format (value % 3: memcoro, pecl-memcache, php-memcached);
//              bits 2-4: the codec of the round trip (value % 5); bits 5-7 all set: the
//              chunked values' reader instead (below)
//   bytes 1-4  the flags, little-endian
//   bytes 5-6  the maximum size / 4, little-endian (up to 256 KiB)
//   the rest   the stored bytes
//
// The stored bytes are decoded with the flags: a failure must leave the output as it was and
// come from the value or the compression category; a success must hold at most the maximum when
// the value was compressed. What was decoded is encoded again with its type and user flags
// (compressed with the round trip's codec where the format has it) and must decode to itself,
// with the same type and user flags. A broken invariant aborts (a crash for libFuzzer, a failure
// for the replay).
//
// Chunked values (memcoro/value/chunk.hpp), when byte 0's bits 5-7 are all set: the 48 bytes
// after the header are an index item, read with the maximum size; what follows is chunk items,
// one after the other, each as long as the index says its chunk is. An index refused leaves
// the index as it was; one read must add up (its count, its bound). A chunk refused leaves the
// value as it was; one taken adds its bytes; the value assembled is then checked against the
// index, and a value the index was made from passes.

#include <memcoro/value/chunk.hpp>
#include <memcoro/value/format.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using memcoro::value::codec;
using memcoro::value::value_format;
using memcoro::value::value_info;
using memcoro::value::value_type;

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_value_format.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (false)

constexpr std::size_t header_size = 7;

bool format_has_codec(value_format f, codec c)
{
    switch (f) {
    case value_format::memcoro:
        return memcoro::value::codec_available(c);
    case value_format::pecl_memcache:
        return c == codec::zlib;
    case value_format::php_memcached:
        return c == codec::zlib || c == codec::fastlz;
    }
    return false;
}

void fuzz_chunks(std::size_t max_size, std::string_view in)
{
    namespace chunk = memcoro::value::chunk;
    if (in.size() < chunk::index_size)
        return;
    chunk::index ix;
    ix.count = 12345;
    if (const auto ec = chunk::parse_index(in.substr(0, chunk::index_size), max_size, ix)) {
        FUZZ_CHECK(ec.category() == memcoro::value::value_category() ||
                   ec.category() == memcoro::value::compression_category());
        FUZZ_CHECK(ix.count == 12345);
        return;
    }
    FUZZ_CHECK(ix.size <= max_size && ix.size > 0 && ix.chunk_size > 0);
    FUZZ_CHECK((ix.size + ix.chunk_size - 1) / ix.chunk_size == ix.count);
    FUZZ_CHECK(chunk::encode_index(ix) == in.substr(0, chunk::index_size));
    in.remove_prefix(chunk::index_size);
    std::string value;
    bool whole = true;
    for (std::uint32_t i = 0; i < ix.count; ++i) {
        const std::uint64_t at = std::uint64_t{i} * ix.chunk_size;
        const std::size_t len =
            chunk::header_size +
            static_cast<std::size_t>(std::min<std::uint64_t>(ix.chunk_size, ix.size - at));
        const auto item = in.substr(0, len);
        in.remove_prefix(item.size());
        const auto before = value.size();
        if (chunk::append_chunk(ix, i, item, value)) {
            FUZZ_CHECK(value.size() == before);
            whole = false;
            break;
        }
        FUZZ_CHECK(value.size() == before + len - chunk::header_size);
    }
    if (!whole)
        return;
    if (chunk::check(ix, value))
        return;
    // A value that passes is one the index describes: planned again, it has the same size and
    // CRC-32, and its chunks are taken back.
    const auto again = chunk::plan(value, ix.flags, ix.chunk_size);
    FUZZ_CHECK(again.size == ix.size && again.crc == ix.crc && again.count == ix.count);
    std::string item;
    std::string back;
    for (std::uint32_t i = 0; i < again.count; ++i) {
        chunk::make_chunk(again, i, value, item);
        FUZZ_CHECK(!chunk::append_chunk(again, i, item, back));
    }
    FUZZ_CHECK(back == value && !chunk::check(again, back));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < header_size)
        return 0;
    const auto f = static_cast<value_format>(data[0] % 4 % 3);
    const auto round_trip_codec = static_cast<codec>((data[0] >> 2 & 7) % 5);
    const std::uint32_t flags = std::uint32_t{data[1]} | std::uint32_t{data[2]} << 8 |
                                std::uint32_t{data[3]} << 16 | std::uint32_t{data[4]} << 24;
    const std::size_t max_size = (std::size_t{data[5]} | std::size_t{data[6]} << 8) * 4;
    const std::string_view stored(reinterpret_cast<const char*>(data) + header_size,
                                  size - header_size);
    if ((data[0] & 0xE0) == 0xE0) {
        fuzz_chunks(max_size, stored);
        return 0;
    }

    std::string out = "kept";
    value_info info;
    const auto ec = memcoro::value::decode(f, flags, stored, max_size, out, info);
    if (ec) {
        FUZZ_CHECK(ec.category() == memcoro::value::value_category() ||
                   ec.category() == memcoro::value::compression_category());
        FUZZ_CHECK(out == "kept");
        return 0;
    }
    FUZZ_CHECK(out.compare(0, 4, "kept") == 0);
    std::string value = out.substr(4);
    if (info.compressed_with != codec::none)
        FUZZ_CHECK(value.size() <= max_size);
    else if (info.type != value_type::integer)
        FUZZ_CHECK(value == stored);

    // Booleans: each format writes its own false ("" or "0"); decode reads both.
    if (info.type == value_type::boolean) {
        const auto b = memcoro::value::parse_boolean(value);
        FUZZ_CHECK(b.has_value());
        value = std::string(memcoro::value::format_boolean(f, *b));
    }
    memcoro::value::compression_policy policy;
    policy.algorithm = format_has_codec(f, round_trip_codec) ? round_trip_codec : codec::none;
    policy.threshold = 0;
    policy.level = 1;
    std::string again;
    std::uint32_t again_flags = 0;
    FUZZ_CHECK(
        !memcoro::value::encode(f, info.type, value, policy, info.user_flags, again, again_flags));
    std::string back;
    value_info back_info;
    FUZZ_CHECK(!memcoro::value::decode(f, again_flags, again, value.size(), back, back_info));
    FUZZ_CHECK(back == value);
    FUZZ_CHECK(back_info.type == info.type);
    FUZZ_CHECK(back_info.user_flags == info.user_flags);
    return 0;
}
