// Integers, floats and booleans as the value formats write them as text (format.hpp): PHP's
// two ways of writing a double, memcoro's, and the readers of all of them.

#include <memcoro/value/format.hpp>

#include "number_text.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace memcoro::value {
namespace {

bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

} // namespace

namespace detail {

bool valid_integer(std::string_view s) noexcept
{
    const bool negative = !s.empty() && s.front() == '-';
    if (negative)
        s.remove_prefix(1);
    if (s.empty() || s.size() > 20)
        return false;
    for (char c : s)
        if (!is_digit(c))
            return false;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size())
        return false;
    return !negative || v <= std::uint64_t{1} << 63;
}

} // namespace detail

namespace {

// Shortest (precision 0) or correctly rounded to `precision` significant digits: the digits,
// without trailing zeros, and where the decimal point goes (value = 0.DIGITS * 10^decpt), as
// David Gay's dtoa (modes 0 and 2) gives them, which PHP's formatting starts from.
struct decimal {
    std::array<char, 32> digits{};
    int count = 0;
    int decpt = 0;
};

decimal to_decimal(double v, int precision)
{
    std::array<char, 64> buf{};
    const double a = std::fabs(v);
    const auto r = precision > 0 ? std::to_chars(buf.data(), buf.data() + buf.size(), a,
                                                 std::chars_format::scientific, precision - 1)
                                 : std::to_chars(buf.data(), buf.data() + buf.size(), a,
                                                 std::chars_format::scientific);
    decimal d;
    const char* p = buf.data();
    for (; p != r.ptr && *p != 'e'; ++p)
        if (*p != '.')
            d.digits[static_cast<std::size_t>(d.count++)] = *p;
    int exponent = 0;
    if (p != r.ptr) {
        ++p; // 'e'
        const bool negative = *p == '-';
        ++p;
        std::from_chars(p, r.ptr, exponent);
        if (negative)
            exponent = -exponent;
    }
    while (d.count > 1 && d.digits[static_cast<std::size_t>(d.count - 1)] == '0')
        --d.count;
    d.decpt = exponent + 1;
    return d;
}

void append_zeros(std::string& s, int n)
{
    if (n > 0)
        s.append(static_cast<std::size_t>(n), '0');
}

// php-memcached's g_fmt (David Gay's g_fmt.c with a "%+.2d" exponent).
std::string format_php_memcached(double v)
{
    if (std::isnan(v))
        return "NaN"; // php-memcached reads back "NaN" only: no sign, whatever the bits
    std::string s = std::signbit(v) ? "-" : "";
    if (std::isinf(v))
        return s + "Infinity";
    const decimal d = to_decimal(v, 0);
    const std::string_view digits(d.digits.data(), static_cast<std::size_t>(d.count));
    if (d.decpt <= -4 || d.decpt > d.count + 5) {
        s += digits.front();
        if (d.count > 1) {
            s += '.';
            s.append(digits.substr(1));
        }
        s += 'e';
        const int e = d.decpt - 1;
        s += e < 0 ? '-' : '+';
        const std::string n = std::to_string(e < 0 ? -e : e);
        if (n.size() < 2)
            s += '0';
        s += n;
    } else if (d.decpt <= 0) {
        s += '.';
        append_zeros(s, -d.decpt);
        s.append(digits);
    } else if (d.decpt >= d.count) {
        s.append(digits);
        append_zeros(s, d.decpt - d.count);
    } else {
        const auto point = static_cast<std::size_t>(d.decpt);
        s.append(digits.substr(0, point));
        s += '.';
        s.append(digits.substr(point));
    }
    return s;
}

// PHP's "%.14g" (php_gcvt with precision 14 and 'e'), which PECL memcache writes floats with.
std::string format_pecl_memcache(double v)
{
    constexpr int precision = 14;
    if (std::isnan(v))
        return "NAN";
    if (std::isinf(v))
        return v < 0 ? "-INF" : "INF";
    std::string s = std::signbit(v) ? "-" : "";
    const decimal d = to_decimal(v, precision);
    const std::string_view digits(d.digits.data(), static_cast<std::size_t>(d.count));
    if (d.decpt < 0 ? d.decpt < -3 : d.decpt > precision) {
        s += digits.front();
        s += '.';
        if (d.count > 1)
            s.append(digits.substr(1));
        else
            s += '0';
        s += 'e';
        const int e = d.decpt - 1;
        s += e < 0 ? '-' : '+';
        s += std::to_string(e < 0 ? -e : e);
    } else if (d.decpt < 0) {
        s += "0.";
        append_zeros(s, -d.decpt);
        s.append(digits);
    } else {
        // decpt digits (padded with zeros), then the rest after a point ("0." when decpt is 0).
        const auto point = static_cast<std::size_t>(d.decpt);
        if (point >= digits.size()) {
            s.append(digits);
            append_zeros(s, d.decpt - d.count);
        } else {
            if (point == 0)
                s += '0';
            s.append(digits.substr(0, point));
            s += '.';
            s.append(digits.substr(point));
        }
    }
    return s;
}

std::string format_memcoro(double v)
{
    if (std::isnan(v))
        return "nan";
    std::array<char, 64> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), r.ptr};
}

} // namespace

std::string format_integer(std::int64_t v)
{
    std::array<char, 24> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return {buf.data(), r.ptr};
}

std::string format_floating(value_format f, double v)
{
    switch (f) {
    case value_format::php_memcached:
        return format_php_memcached(v);
    case value_format::pecl_memcache:
        return format_pecl_memcache(v);
    case value_format::memcoro:
        break;
    }
    return format_memcoro(v);
}

std::string_view format_boolean(value_format f, bool v) noexcept
{
    if (v)
        return "1";
    return f == value_format::php_memcached ? "" : "0";
}

std::optional<std::int64_t> parse_integer(std::string_view text) noexcept
{
    if (!detail::valid_integer(text))
        return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size())
        return std::nullopt;
    return v;
}

std::optional<double> parse_floating(std::string_view text) noexcept
{
    std::string_view body = text;
    const bool negative = !body.empty() && body.front() == '-';
    if (negative)
        body.remove_prefix(1);
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (body == "INF" || body == "Infinity" || body == "inf")
        return negative ? -inf : inf;
    if (body == "NAN" || body == "NaN" || body == "nan")
        return std::numeric_limits<double>::quiet_NaN();
    // from_chars takes no leading '+' and no spaces, and reads "inf" and "nan" itself: those
    // and a second sign are refused here.
    if (body.empty() || !(is_digit(body.front()) || body.front() == '.'))
        return std::nullopt;
    double v = 0;
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::general);
    if (ec != std::errc{} || end != text.data() + text.size())
        return std::nullopt;
    return v;
}

std::optional<bool> parse_boolean(std::string_view text) noexcept
{
    if (text == "1")
        return true;
    if (text.empty() || text == "0")
        return false;
    return std::nullopt;
}

} // namespace memcoro::value
