#pragma once
// The values of test/data/php/make_vectors.php, generated the same way, and the FNV-1a 64 hash
// vectors.json records of each (PHP's hash('fnv1a64')).

#include <array>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace memcoro::test::php {

// x = x * 1103515245 + 12345 (mod 2^32); each step yields bits 16..23 of the new x.
inline std::string lcg_bytes(std::uint32_t seed, std::size_t n)
{
    std::uint32_t x = seed;
    std::string out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 1103515245u + 12345u;
        out.push_back(static_cast<char>((x >> 16) & 0xFF));
    }
    return out;
}

inline std::string words(std::size_t n)
{
    static constexpr std::array<std::string_view, 16> list{
        "memcached", "cache",    "value", "key",    "server", "client", "php",    "fastlz",
        "zlib",      "compress", "flags", "expire", "get",    "set",    "delete", "touch"};
    std::uint32_t x = 7;
    std::string out;
    while (out.size() < n) {
        x = x * 1103515245u + 12345u;
        out += list[(x >> 16) & 15];
        out += ' ';
    }
    out.resize(n);
    return out;
}

inline std::string text_lines(int count)
{
    std::string out;
    for (int i = 0; i < count; ++i)
        out += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
    return out;
}

inline std::string repeat(const std::string& s, std::size_t times)
{
    std::string out;
    for (std::size_t i = 0; i < times; ++i)
        out += s;
    return out;
}

/// The original value generators.php names `name` (originals() and edge_originals()).
inline std::string generate(std::string_view name)
{
    if (name == "text")
        return text_lines(100);
    if (name == "words")
        return words(12000);
    if (name == "run")
        return std::string(3000, 'x');
    if (name == "far_repeat")
        return repeat(lcg_bytes(1, 20000), 4);
    if (name == "long_run")
        return std::string(70000, 'y');
    if (name == "period_8191")
        return repeat(lcg_bytes(3, 8191), 3);
    if (name == "period_8192")
        return repeat(lcg_bytes(4, 8192), 3);
    if (name == "period_73725")
        return repeat(lcg_bytes(5, 73725), 2);
    throw std::invalid_argument("unknown generator: " + std::string(name));
}

/// FNV-1a 64 as 16 lowercase hex digits.
inline std::string fnv1a64(std::string_view s)
{
    std::uint64_t h = 0xcbf29ce484222325u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3u;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

} // namespace memcoro::test::php
