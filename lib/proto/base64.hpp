#pragma once
/// \file
/// Base64 (RFC 4648, with padding) for the meta dialect's binary keys (the `b` flag).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace memcoro::proto::base64 {

/// The encoded size of `n` bytes.
constexpr std::size_t encoded_size(std::size_t n) noexcept
{
    return (n + 2) / 3 * 4;
}

/// Writes the encoding of `in` at `out` (encoded_size(in.size()) bytes); returns its end.
inline char* encode(std::string_view in, char* out) noexcept
{
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    std::size_t n = in.size();
    for (; n >= 3; n -= 3, p += 3) {
        const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (n > 0) {
        const std::uint32_t v =
            (std::uint32_t{p[0]} << 16) | (n == 2 ? std::uint32_t{p[1]} << 8 : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = n == 2 ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    return out;
}

/// Decodes `in` (untrusted: the server's) into `out`, which has room for `cap` bytes. Returns
/// the decoded size, or -1 when `in` is not canonical base64 (length not a multiple of 4, a
/// byte outside the alphabet, padding anywhere but at the end, non-zero bits under the padding)
/// or decodes to more than `cap` bytes.
inline std::ptrdiff_t decode(std::string_view in, char* out, std::size_t cap) noexcept
{
    const auto value = [](unsigned char c) -> int {
        if (c >= 'A' && c <= 'Z')
            return c - 'A';
        if (c >= 'a' && c <= 'z')
            return c - 'a' + 26;
        if (c >= '0' && c <= '9')
            return c - '0' + 52;
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
        return -1;
    };
    if (in.size() % 4 != 0)
        return -1;
    std::size_t pad = 0;
    if (!in.empty() && in.back() == '=')
        pad = in.size() >= 2 && in[in.size() - 2] == '=' ? 2 : 1;
    const std::size_t size = in.size() / 4 * 3 - pad;
    if (size > cap)
        return -1;
    std::size_t w = 0;
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        int v[4];
        for (std::size_t k = 0; k < 4; ++k) {
            const bool padded = last && k >= 4 - pad;
            v[k] = padded ? 0 : value(static_cast<unsigned char>(in[i + k]));
            if (v[k] < 0)
                return -1;
        }
        const std::uint32_t bits =
            (static_cast<std::uint32_t>(v[0]) << 18) | (static_cast<std::uint32_t>(v[1]) << 12) |
            (static_cast<std::uint32_t>(v[2]) << 6) | static_cast<std::uint32_t>(v[3]);
        const std::size_t n = last ? 3 - pad : 3;
        // Canonical only: the bits under the padding are zero.
        if (last && ((pad == 1 && (bits & 0xff) != 0) || (pad == 2 && (bits & 0xffff) != 0)))
            return -1;
        const char bytes[3] = {static_cast<char>(bits >> 16), static_cast<char>((bits >> 8) & 0xff),
                               static_cast<char>(bits & 0xff)};
        for (std::size_t k = 0; k < n; ++k)
            out[w++] = bytes[k];
    }
    return static_cast<std::ptrdiff_t>(w);
}

} // namespace memcoro::proto::base64
