// Chunked values' layout (memcoro/value/chunk.hpp): an index round-trips; every index that
// does not add up is refused; chunks are checked against their write's id, number and size;
// the assembled value against the index's size and CRC-32.

#include <catch2/catch.hpp>

#include <memcoro/value/chunk.hpp>
#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>

#include <cstdint>
#include <set>
#include <string>

namespace chunk = memcoro::value::chunk;
using memcoro::value::compression_errc;
using memcoro::value::value_errc;

namespace {

std::string sample(std::size_t n)
{
    std::string s(n, '\0');
    std::uint32_t x = 12345;
    for (auto& c : s) {
        x = x * 1103515245u + 12345u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

std::string assemble(const chunk::index& ix, const std::string& stored)
{
    std::string out;
    std::string item;
    for (std::uint32_t i = 0; i < ix.count; ++i) {
        chunk::make_chunk(ix, i, stored, item);
        REQUIRE(!chunk::append_chunk(ix, i, item, out));
    }
    return out;
}

} // namespace

TEST_CASE("chunk: a value planned, split and assembled is the value; its index round-trips",
          "[value][chunk]")
{
    for (const std::size_t n : {1u, 999u, 1000u, 1001u, 10000u, 12345u}) {
        const auto stored = sample(n);
        const auto ix = chunk::plan(stored, 0x1234, 1000);
        CHECK(ix.count == (n + 999) / 1000);
        CHECK(ix.size == n);
        const auto bytes = chunk::encode_index(ix);
        CHECK(bytes.size() == chunk::index_size);
        chunk::index back;
        REQUIRE(!chunk::parse_index(bytes, 1 << 20, back));
        CHECK(back.id == ix.id);
        CHECK(back.flags == 0x1234);
        CHECK(back.size == n);
        CHECK(back.chunk_size == 1000);
        CHECK(back.count == ix.count);
        CHECK(back.crc == ix.crc);
        const auto out = assemble(back, stored);
        CHECK(out == stored);
        CHECK(!chunk::check(back, out));
    }
}

TEST_CASE("chunk: every write has its own id, and so its own chunk keys", "[value][chunk]")
{
    std::set<std::string> keys;
    for (int i = 0; i < 1000; ++i) {
        const auto ix = chunk::plan("abc", 0, 2);
        keys.insert(chunk::chunk_key(ix, 1));
    }
    CHECK(keys.size() == 1000);
    const auto k = *keys.begin();
    CHECK(k.rfind("memcoro.chunk.", 0) == 0);
    CHECK(k.size() == 14 + 32 + 2);
    CHECK(k.substr(k.size() - 2) == ".1");
}

TEST_CASE("chunk: an index that does not add up is refused; one too large for the reader too",
          "[value][chunk]")
{
    const auto ix = chunk::plan(sample(5000), 7, 1000);
    const auto good = chunk::encode_index(ix);
    chunk::index out;
    out.size = 99;
    CHECK(chunk::parse_index(good.substr(0, 47), 1 << 20, out) == value_errc::corrupt);
    CHECK(chunk::parse_index(good + "x", 1 << 20, out) == value_errc::corrupt);
    auto bad_magic = good;
    bad_magic[0] = 'X';
    CHECK(chunk::parse_index(bad_magic, 1 << 20, out) == value_errc::corrupt);
    CHECK(out.size == 99); // (left as it was)

    auto with = [&](auto change) {
        auto copy = ix;
        change(copy);
        return chunk::encode_index(copy);
    };
    CHECK(chunk::parse_index(with([](chunk::index& x) { x.count = 4; }), 1 << 20, out) ==
          value_errc::corrupt);
    CHECK(chunk::parse_index(with([](chunk::index& x) { x.count = 6; }), 1 << 20, out) ==
          value_errc::corrupt);
    CHECK(chunk::parse_index(with([](chunk::index& x) { x.chunk_size = 0; }), 1 << 20, out) ==
          value_errc::corrupt);
    CHECK(chunk::parse_index(with([](chunk::index& x) { x.size = 0; }), 1 << 20, out) ==
          value_errc::corrupt);
    CHECK(chunk::parse_index(with([](chunk::index& x) { x.flags = chunk::index_flags; }), 1 << 20,
                             out) == value_errc::corrupt);
    // A size past 2^64 - chunk_size, which a sum would wrap: too large, never a small count.
    CHECK(chunk::parse_index(with([](chunk::index& x) {
                                 x.size = ~std::uint64_t{0};
                                 x.count = 1;
                             }),
                             ~std::size_t{0}, out) == value_errc::corrupt);
    CHECK(chunk::parse_index(with([](chunk::index& x) {
                                 x.size = std::uint64_t{1} << 40;
                                 x.chunk_size = 1u << 30;
                                 x.count = 1024;
                             }),
                             1 << 20, out) == compression_errc::too_large);
    CHECK(chunk::parse_index(good, 4999, out) == compression_errc::too_large);
    CHECK(!chunk::parse_index(good, 5000, out));
}

TEST_CASE("chunk: a chunk of another write, another number or the wrong size is refused",
          "[value][chunk]")
{
    const auto stored = sample(2500);
    const auto ix = chunk::plan(stored, 0, 1000);
    const auto other = chunk::plan(stored, 0, 1000);
    std::string item;
    std::string out = "kept";

    chunk::make_chunk(other, 0, stored, item);
    CHECK(chunk::append_chunk(ix, 0, item, out) == value_errc::chunk_mismatch);
    chunk::make_chunk(ix, 1, stored, item);
    CHECK(chunk::append_chunk(ix, 0, item, out) == value_errc::chunk_mismatch);
    CHECK(chunk::append_chunk(ix, 3, item, out) == value_errc::chunk_mismatch);
    chunk::make_chunk(ix, 0, stored, item);
    CHECK(chunk::append_chunk(ix, 0, item.substr(0, item.size() - 1), out) ==
          value_errc::chunk_mismatch);
    CHECK(chunk::append_chunk(ix, 0, item + "x", out) == value_errc::chunk_mismatch);
    CHECK(chunk::append_chunk(ix, 0, item.substr(0, 5), out) == value_errc::chunk_mismatch);
    CHECK(out == "kept");
    chunk::make_chunk(ix, 2, stored, item);
    CHECK(item.size() == chunk::header_size + 500); // (the last chunk holds the rest)

    // Chunks that each fit but make another value: the CRC-32 tells.
    auto assembled = assemble(ix, stored);
    assembled[1234] ^= 1;
    CHECK(chunk::check(ix, assembled) == value_errc::chunk_mismatch);
    CHECK(chunk::check(ix, assembled.substr(1)) == value_errc::chunk_mismatch);
}

TEST_CASE("chunk: plan refuses a chunk size of 0 and more than max_chunks chunks", "[value][chunk]")
{
    CHECK_THROWS_AS(chunk::plan("abc", 0, 0), std::invalid_argument);
    const std::string big(chunk::max_chunks + 1, 'x');
    CHECK_THROWS_AS(chunk::plan(big, 0, 1), std::invalid_argument);
    CHECK_NOTHROW(chunk::plan(big, 0, 2));
}
