#include <memcoro/value/chunk.hpp>
#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>

namespace memcoro::value::chunk {
namespace {

constexpr std::string_view magic = "MCCHUNK1";

void put32(std::string& out, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put64(std::string& out, std::uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint32_t get32(std::string_view in, std::size_t at) noexcept
{
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
    return v;
}

std::uint64_t get64(std::string_view in, std::size_t at) noexcept
{
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
    return v;
}

std::uint32_t crc_of(std::string_view s) noexcept
{
    uLong crc = crc32(0L, Z_NULL, 0);
    // (zlib takes a uInt length: large values in steps)
    while (!s.empty()) {
        const auto n = std::min<std::size_t>(s.size(), 1u << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(n));
        s.remove_prefix(n);
    }
    return static_cast<std::uint32_t>(crc);
}

std::array<unsigned char, 16> new_id()
{
    thread_local std::mt19937_64 gen = [] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
        return std::mt19937_64(seq);
    }();
    std::array<unsigned char, 16> id{};
    const std::uint64_t a = gen();
    const std::uint64_t b = gen();
    for (int i = 0; i < 8; ++i) {
        id[static_cast<std::size_t>(i)] = static_cast<unsigned char>(a >> (8 * i));
        id[static_cast<std::size_t>(8 + i)] = static_cast<unsigned char>(b >> (8 * i));
    }
    return id;
}

std::uint64_t chunks_for(std::uint64_t size, std::uint64_t chunk_size) noexcept
{
    return (size + chunk_size - 1) / chunk_size;
}

} // namespace

index plan(std::string_view stored, std::uint32_t flags, std::size_t chunk_size)
{
    if (chunk_size == 0 || chunk_size > 0xFFFFFFFFu)
        throw std::invalid_argument("memcoro: chunk size must be between 1 and 2^32 - 1");
    const auto count = chunks_for(stored.size(), chunk_size);
    if (count == 0 || count > max_chunks)
        throw std::invalid_argument("memcoro: a chunked value has 1 to 65536 chunks");
    index ix;
    ix.id = new_id();
    ix.flags = flags;
    ix.size = stored.size();
    ix.chunk_size = static_cast<std::uint32_t>(chunk_size);
    ix.count = static_cast<std::uint32_t>(count);
    ix.crc = crc_of(stored);
    return ix;
}

std::string encode_index(const index& ix)
{
    std::string out;
    out.reserve(index_size);
    out.append(magic);
    out.append(reinterpret_cast<const char*>(ix.id.data()), ix.id.size());
    put32(out, ix.flags);
    put64(out, ix.size);
    put32(out, ix.chunk_size);
    put32(out, ix.count);
    put32(out, ix.crc);
    return out;
}

std::error_code parse_index(std::string_view bytes, std::size_t max_size, index& ix)
{
    if (bytes.size() != index_size || bytes.substr(0, magic.size()) != magic)
        return make_error_code(value_errc::corrupt);
    index r;
    std::memcpy(r.id.data(), bytes.data() + 8, r.id.size());
    r.flags = get32(bytes, 24);
    r.size = get64(bytes, 28);
    r.chunk_size = get32(bytes, 36);
    r.count = get32(bytes, 40);
    r.crc = get32(bytes, 44);
    if (r.chunk_size == 0 || r.size == 0 || r.count == 0 || r.count > max_chunks ||
        r.flags == index_flags || r.flags == chunk_flags)
        return make_error_code(value_errc::corrupt);
    if (r.size > max_size)
        return make_error_code(compression_errc::too_large);
    if (chunks_for(r.size, r.chunk_size) != r.count)
        return make_error_code(value_errc::corrupt);
    ix = r;
    return {};
}

std::string chunk_key(const index& ix, std::uint32_t i)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string k = "memcoro.chunk.";
    k.reserve(k.size() + 32 + 1 + 10);
    for (const unsigned char b : ix.id) {
        k.push_back(hex[b >> 4]);
        k.push_back(hex[b & 0xF]);
    }
    k.push_back('.');
    k.append(std::to_string(i));
    return k;
}

void make_chunk(const index& ix, std::uint32_t i, std::string_view stored, std::string& out)
{
    const std::size_t at = static_cast<std::size_t>(i) * ix.chunk_size;
    const auto part = stored.substr(std::min(at, stored.size()), ix.chunk_size);
    out.clear();
    out.reserve(header_size + part.size());
    out.append(reinterpret_cast<const char*>(ix.id.data()), ix.id.size());
    put32(out, i);
    out.append(part);
}

std::error_code append_chunk(const index& ix, std::uint32_t i, std::string_view item,
                             std::string& out)
{
    if (i >= ix.count)
        return make_error_code(value_errc::chunk_mismatch);
    const std::uint64_t at = static_cast<std::uint64_t>(i) * ix.chunk_size;
    const std::uint64_t expected = std::min<std::uint64_t>(ix.chunk_size, ix.size - at);
    if (item.size() != header_size + expected ||
        std::memcmp(item.data(), ix.id.data(), ix.id.size()) != 0 || get32(item, 16) != i)
        return make_error_code(value_errc::chunk_mismatch);
    out.append(item.substr(header_size));
    return {};
}

std::error_code check(const index& ix, std::string_view stored)
{
    if (stored.size() != ix.size || crc_of(stored) != ix.crc)
        return make_error_code(value_errc::chunk_mismatch);
    return {};
}

} // namespace memcoro::value::chunk
