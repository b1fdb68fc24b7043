#pragma once
/// \file
/// Typed values: how a C++ type is written to and read from a stored value
/// (client::async_get_as, client::async_set_as). `value_codec<T>` says it; memcoro has codecs
/// for strings, integers, floating-point numbers and booleans, `memcoro/value/json.hpp` one for
/// nlohmann::json, and a program adds its own for its types (docs/values.md has an example).
/// Sans-I/O.

#include <memcoro/value/format.hpp>

#include <charconv>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace memcoro {

/// A stored value as a codec reads it: decompressed, with the type its flags say and the format
/// it was read in.
struct value_view {
    value::value_type type = value::value_type::bytes;         ///< what the flags say it is
    std::string_view data{};                                   ///< its bytes, decompressed
    value::value_format format = value::value_format::memcoro; ///< the format it was read in
};

/// The codec of T: specialize it for a type of your own, with
///
///     static value::value_type encode(const T& v, value::value_format f, std::string& out);
///     static std::error_code decode(const value_view& in, T& out);
///
/// `encode` appends v's bytes to `out` and returns the type they are stored as (`bytes`
/// for anything the format has no type for; `json` and `msgpack` where the format has them);
/// `decode` reads `in` into `out`, or returns an error (value::value_errc::type_mismatch for a
/// value that is not a T) and leaves `out` unspecified.
template <class T, class Enable = void>
struct value_codec;

/// Types with a value_codec.
template <class T>
concept value_codec_for = requires(const T& v, value::value_format f, std::string& out,
                                   const value_view& in, T& t)
{
    {
        value_codec<T>::encode(v, f, out)
        } -> std::same_as<value::value_type>;
    {
        value_codec<T>::decode(in, t)
        } -> std::same_as<std::error_code>;
};

namespace detail {

/// A decimal integer's text as stored: memcached's decr leaves trailing spaces when the
/// number gets shorter.
constexpr std::string_view trim_number(std::string_view s) noexcept
{
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    return s;
}

/// Types whose stored text is readable as a number or a string (not serialized data).
constexpr bool is_text_type(value::value_type t) noexcept
{
    using value::value_type;
    return t == value_type::bytes || t == value_type::integer || t == value_type::floating ||
           t == value_type::boolean || t == value_type::json;
}

} // namespace detail

/// Strings: stored as bytes. Read from any value whose bytes are text (bytes, integers,
/// floats, booleans, JSON: their stored text); serialized values (PHP serialize(), igbinary,
/// msgpack) are not strings and fail with type_mismatch.
template <>
struct value_codec<std::string> {
    /// Appends `v`; stored as `bytes`.
    static value::value_type encode(const std::string& v, value::value_format, std::string& out)
    {
        out.append(v);
        return value::value_type::bytes;
    }
    /// The stored bytes, or type_mismatch for serialized data.
    static std::error_code decode(const value_view& in, std::string& out)
    {
        if (!detail::is_text_type(in.type))
            return value::value_errc::type_mismatch;
        out.assign(in.data);
        return {};
    }
};

/// Integers (but bool): stored as decimal text of type `integer`, so memcached's incr and
/// decr work on them, from any client. Read from integers, and from bytes that are decimal
/// text (what incr leaves, or another client stored without a type) within T's range;
/// anything else fails with type_mismatch.
template <class T>
struct value_codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
    /// Appends `v` in decimal; stored as `integer`.
    static value::value_type encode(const T& v, value::value_format, std::string& out)
    {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
        return value::value_type::integer;
    }
    /// The decimal integer stored, or type_mismatch.
    static std::error_code decode(const value_view& in, T& out)
    {
        if (in.type != value::value_type::integer && in.type != value::value_type::bytes)
            return value::value_errc::type_mismatch;
        std::string_view s = detail::trim_number(in.data);
        if (s.empty() || (s.size() > 1 && s[0] == '0'))
            return value::value_errc::type_mismatch;
        auto r = std::from_chars(s.data(), s.data() + s.size(), out);
        if (r.ec != std::errc{} || r.ptr != s.data() + s.size())
            return value::value_errc::type_mismatch;
        return {};
    }
};

/// float and double: stored as text of type `floating`, as the format's writer writes it
/// (value::format_floating). Read from floats, integers, and bytes that are a number.
template <class T>
struct value_codec<T, std::enable_if_t<std::is_floating_point_v<T>>> {
    /// Appends `v` as the format writes it; stored as `floating`.
    static value::value_type encode(const T& v, value::value_format f, std::string& out)
    {
        out.append(value::format_floating(f, static_cast<double>(v)));
        return value::value_type::floating;
    }
    /// The number stored, or type_mismatch.
    static std::error_code decode(const value_view& in, T& out)
    {
        using value::value_type;
        if (in.type != value_type::floating && in.type != value_type::integer &&
            in.type != value_type::bytes)
            return value::value_errc::type_mismatch;
        auto d = value::parse_floating(detail::trim_number(in.data));
        if (!d)
            return value::value_errc::type_mismatch;
        out = static_cast<T>(*d);
        return {};
    }
};

/// bool: stored as the format's boolean ("1"; false as "" or "0": value::format_boolean).
/// Read from booleans, and from integers and bytes that are "1", "0" or "".
template <>
struct value_codec<bool> {
    /// Appends `v` as the format writes it; stored as `boolean`.
    static value::value_type encode(const bool& v, value::value_format f, std::string& out)
    {
        out.append(value::format_boolean(f, v));
        return value::value_type::boolean;
    }
    /// The boolean stored, or type_mismatch.
    static std::error_code decode(const value_view& in, bool& out)
    {
        using value::value_type;
        if (in.type != value_type::boolean && in.type != value_type::integer &&
            in.type != value_type::bytes)
            return value::value_errc::type_mismatch;
        auto b = value::parse_boolean(detail::trim_number(in.data));
        if (!b)
            return value::value_errc::type_mismatch;
        out = *b;
        return {};
    }
};

} // namespace memcoro
