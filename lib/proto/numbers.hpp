#pragma once
// Decimal parsing shared by the reply decoders (text and meta): no allocation, no overflow.

#include <cstddef>
#include <limits>
#include <string_view>

namespace memcoro::proto::numbers {

// Reads the digits at `p` (stopping at the first non-digit) into `out`: at least one digit,
// no overflow of T.
template <class T>
bool read_uint(const char*& p, const char* end, T& out) noexcept
{
    const char* const first = p;
    T v = 0;
    // As many digits as can never overflow T, unchecked; any further ones with checks.
    constexpr std::ptrdiff_t safe_digits = std::numeric_limits<T>::digits10;
    const char* const safe_end = end - p > safe_digits ? p + safe_digits : end;
    while (p < safe_end) {
        const auto d = static_cast<unsigned>(static_cast<unsigned char>(*p)) - unsigned{'0'};
        if (d > 9) {
            out = v;
            return p != first;
        }
        v = static_cast<T>(v * 10 + d);
        ++p;
    }
    while (p < end) {
        const auto d = static_cast<unsigned>(static_cast<unsigned char>(*p)) - unsigned{'0'};
        if (d > 9)
            break;
        if (__builtin_mul_overflow(v, T{10}, &v) ||
            __builtin_add_overflow(v, static_cast<T>(d), &v))
            return false;
        ++p;
    }
    out = v;
    return p != first;
}

// Strict unsigned decimal: the whole of `s` is digits (at most 20), no sign, no overflow.
template <class T>
bool parse_uint(std::string_view s, T& out) noexcept
{
    const char* p = s.data();
    const char* const end = p + s.size();
    return s.size() <= 20 && read_uint(p, end, out) && p == end;
}

} // namespace memcoro::proto::numbers
