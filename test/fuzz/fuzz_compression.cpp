// libFuzzer target for the value codecs' decompressors (memcoro/value/compression.hpp).
//
// Input layout:
//   byte 0     bits 0-2: the codec (value % 5: none, zlib, fastlz, zstd, lz4);
//              bit 3: a stated size (else unknown_size); bits 4-7: the level of the round trip
//   bytes 1-2  the maximum size / 4, little-endian (up to 256 KiB)
//   bytes 3-5  the stated size, little-endian
//   the rest   the compressed data
//
// The data is decompressed: a failure must leave the output as it was; a success must hold
// at most the maximum, and exactly the stated size if one was given. Then the data itself is
// compressed with the same codec and must decompress to itself, with and without its size.
// A broken invariant aborts (a crash for libFuzzer, a failure for the replay).

#include <memcoro/value/compression.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using memcoro::value::codec;
using memcoro::value::compression_errc;

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_compression.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (false)

constexpr std::size_t header_size = 6;

// Fast levels only: the round trip runs on every input.
int round_trip_level(codec c, unsigned selector)
{
    switch (c) {
    case codec::zlib:
        return 1 + static_cast<int>(selector % 9);
    case codec::fastlz:
        return selector % 3 == 0 ? memcoro::value::default_level
                                 : 1 + static_cast<int>(selector % 2);
    case codec::zstd:
    case codec::lz4:
        return 1 + static_cast<int>(selector % 3);
    case codec::none:
        break;
    }
    return memcoro::value::default_level;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < header_size)
        return 0;
    const auto c = static_cast<codec>(data[0] % 8 % 5);
    const bool stated = (data[0] & 8) != 0;
    const std::size_t max_size = (std::size_t{data[1]} | std::size_t{data[2]} << 8) * 4;
    const std::size_t expected =
        std::size_t{data[3]} | std::size_t{data[4]} << 8 | std::size_t{data[5]} << 16;
    const std::string_view in(reinterpret_cast<const char*>(data) + header_size,
                              size - header_size);
    if (!memcoro::value::codec_available(c))
        return 0;

    std::string out = "kept";
    const auto ec = memcoro::value::decompress(
        c, in, stated ? expected : memcoro::value::unknown_size, max_size, out);
    if (ec) {
        FUZZ_CHECK(ec.category() == memcoro::value::compression_category());
        FUZZ_CHECK(out == "kept");
    } else {
        FUZZ_CHECK(out.size() - 4 <= max_size);
        FUZZ_CHECK(!stated || out.size() - 4 == expected);
        FUZZ_CHECK(out.compare(0, 4, "kept") == 0);
    }

    std::string packed;
    FUZZ_CHECK(!memcoro::value::compress(c, in, packed, round_trip_level(c, data[0] >> 4)));
    std::string back;
    FUZZ_CHECK(!memcoro::value::decompress(c, packed, in.size(), in.size(), back));
    FUZZ_CHECK(back == in);
    if (c != codec::lz4) {
        back.clear();
        FUZZ_CHECK(
            !memcoro::value::decompress(c, packed, memcoro::value::unknown_size, in.size(), back));
        FUZZ_CHECK(back == in);
    }
    return 0;
}
