#include <memcoro/value/format.hpp>

#include "number_text.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace memcoro::value {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro.value"; }

    std::string message(int ev) const override
    {
        switch (static_cast<value_errc>(ev)) {
        case value_errc::unsupported_flags:
            return "value flags not defined by the value format";
        case value_errc::corrupt:
            return "stored value does not fit its flags";
        case value_errc::type_mismatch:
            return "value is not valid for its type";
        case value_errc::type_not_in_format:
            return "value format cannot store this type";
        case value_errc::codec_not_in_format:
            return "value format cannot store this compression codec";
        case value_errc::invalid_user_flags:
            return "user flags do not fit the value format";
        case value_errc::invalid_policy:
            return "invalid compression policy";
        case value_errc::chunk_mismatch:
            return "chunked value's chunks do not match its index";
        }
        return "unknown value format error";
    }
};

// php-memcached (php_memcached_private.h): the type in bits 0-3, its own flags in 4-15, the
// user's in 16-31.
namespace php {
constexpr std::uint32_t type_mask = 0x0F;
constexpr std::uint32_t internal_mask = 0xFFF0;
constexpr std::uint32_t compressed = 0x10;
constexpr std::uint32_t zlib = 0x20;
constexpr std::uint32_t fastlz = 0x40;
constexpr std::uint32_t zstd = 0x80; // php-memcached 3.3
constexpr std::uint32_t user_shift = 16;
constexpr std::uint32_t max_user_flags = 0xFFFF;
} // namespace php

// PECL memcache (memcache_pool.h): MMC_SERIALIZED, MMC_COMPRESSED, MMC_TYPE_*.
namespace pecl {
constexpr std::uint32_t serialized = 0x01;
constexpr std::uint32_t compressed = 0x02;
constexpr std::uint32_t type_mask = 0x0F00;
constexpr std::uint32_t type_bool = 0x0100;
constexpr std::uint32_t type_long = 0x0300;
constexpr std::uint32_t type_double = 0x0700;
constexpr std::uint32_t reserved_mask = 0xFFFF;
} // namespace pecl

// memcoro's own layout (format.hpp).
namespace own {
constexpr std::uint32_t max_user_flags = 0x3FFFFFF; // bits 0-25, as they are
constexpr std::uint32_t codec_shift = 26;
constexpr std::uint32_t codec_mask = 0x07;
constexpr std::uint32_t type_shift = 29;
constexpr std::uint32_t type_mask = 0x07;
} // namespace own

constexpr std::size_t length_prefix = 4;

std::error_code err(value_errc e) noexcept
{
    return make_error_code(e);
}

bool valid_boolean(value_format f, std::string_view s) noexcept
{
    return s == format_boolean(f, true) || s == format_boolean(f, false);
}

// The type's code in a format's flags, or nothing where the format has none.
std::optional<std::uint32_t> type_code(value_format f, value_type t) noexcept
{
    switch (f) {
    case value_format::memcoro:
        switch (t) {
        case value_type::bytes:
            return 0;
        case value_type::integer:
            return 1u << own::type_shift;
        case value_type::floating:
            return 2u << own::type_shift;
        case value_type::boolean:
            return 3u << own::type_shift;
        case value_type::json:
            return 4u << own::type_shift;
        case value_type::msgpack:
            return 5u << own::type_shift;
        case value_type::php_serialized:
        case value_type::igbinary:
            return std::nullopt;
        }
        return std::nullopt;
    case value_format::php_memcached:
        // MEMC_VAL_IS_STRING ... MEMC_VAL_IS_MSGPACK, in the order of value_type.
        return static_cast<std::uint32_t>(t);
    case value_format::pecl_memcache:
        switch (t) {
        case value_type::bytes:
            return 0;
        case value_type::integer:
            return pecl::type_long;
        case value_type::floating:
            return pecl::type_double;
        case value_type::boolean:
            return pecl::type_bool;
        case value_type::php_serialized:
            return pecl::serialized;
        case value_type::igbinary:
        case value_type::json:
        case value_type::msgpack:
            return std::nullopt;
        }
        return std::nullopt;
    }
    return std::nullopt;
}

// The codec's bits in a format's flags, or nothing where the format has none.
std::optional<std::uint32_t> codec_code(value_format f, codec c) noexcept
{
    switch (f) {
    case value_format::memcoro:
        return static_cast<std::uint32_t>(c) << own::codec_shift;
    case value_format::php_memcached:
        if (c == codec::zlib)
            return php::compressed | php::zlib;
        if (c == codec::fastlz)
            return php::compressed | php::fastlz;
        if (c == codec::zstd)
            return php::compressed | php::zstd;
        return std::nullopt;
    case value_format::pecl_memcache:
        if (c == codec::zlib)
            return pecl::compressed;
        return std::nullopt;
    }
    return std::nullopt;
}

std::optional<std::uint32_t> user_bits(value_format f, std::uint32_t user_flags) noexcept
{
    switch (f) {
    case value_format::memcoro:
        if (user_flags > own::max_user_flags)
            return std::nullopt;
        return user_flags;
    case value_format::php_memcached:
        if (user_flags > php::max_user_flags)
            return std::nullopt;
        return user_flags << php::user_shift;
    case value_format::pecl_memcache:
        if ((user_flags & pecl::reserved_mask) != 0)
            return std::nullopt;
        return user_flags;
    }
    return std::nullopt;
}

void append_le32(std::string& out, std::uint32_t n)
{
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(n >> (8 * i) & 0xFF));
}

std::uint32_t read_le32(std::string_view s) noexcept
{
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
}

// Is `compressed` (the codec's stream, without any length prefix) worth keeping for an
// original of `original` bytes, by the rule of the format's writer (compression_policy)?
bool worth_keeping(value_format f, std::size_t original, std::size_t compressed,
                   double min_savings) noexcept
{
    const auto o = static_cast<double>(original);
    switch (f) {
    case value_format::php_memcached: {
        // php-memcached: keep when original > compressed * compression_factor.
        const double factor = 1.0 / (1.0 - min_savings);
        return o > static_cast<double>(compressed) * factor;
    }
    case value_format::pecl_memcache:
        return static_cast<double>(compressed) < o * (1.0 - min_savings);
    case value_format::memcoro:
        return static_cast<double>(compressed + length_prefix) < o * (1.0 - min_savings);
    }
    return false;
}

// Flags of a stored value, taken apart.
struct parsed_flags {
    value_type type = value_type::bytes;
    codec compressed_with = codec::none;
    std::uint32_t user_flags = 0;
};

std::error_code parse_flags(value_format f, std::uint32_t flags, parsed_flags& p) noexcept
{
    switch (f) {
    case value_format::memcoro: {
        const std::uint32_t c = flags >> own::codec_shift & own::codec_mask;
        const std::uint32_t t = flags >> own::type_shift & own::type_mask;
        if (c > static_cast<std::uint32_t>(codec::lz4))
            return err(value_errc::unsupported_flags);
        constexpr std::array<value_type, 6> types{value_type::bytes,    value_type::integer,
                                                  value_type::floating, value_type::boolean,
                                                  value_type::json,     value_type::msgpack};
        if (t >= types.size())
            return err(value_errc::unsupported_flags);
        p.compressed_with = static_cast<codec>(c);
        p.type = types[t];
        p.user_flags = flags & own::max_user_flags;
        return {};
    }
    case value_format::php_memcached: {
        const std::uint32_t t = flags & php::type_mask;
        const std::uint32_t internal = flags & php::internal_mask;
        if (t > static_cast<std::uint32_t>(value_type::msgpack) ||
            (internal & ~(php::compressed | php::zlib | php::fastlz | php::zstd)) != 0)
            return err(value_errc::unsupported_flags);
        if ((internal & php::compressed) != 0) {
            if (internal == (php::compressed | php::zlib))
                p.compressed_with = codec::zlib;
            else if (internal == (php::compressed | php::fastlz))
                p.compressed_with = codec::fastlz;
            else if (internal == (php::compressed | php::zstd))
                p.compressed_with = codec::zstd;
            else
                return err(value_errc::unsupported_flags); // no codec, or more than one
        }
        // Without 0x10 the codec bits mean nothing: php-memcached 2.x left the zlib bit set on
        // the values it then stored uncompressed, and php-memcached ignores it.
        p.type = static_cast<value_type>(t);
        p.user_flags = flags >> php::user_shift;
        return {};
    }
    case value_format::pecl_memcache: {
        const std::uint32_t low = flags & pecl::reserved_mask;
        if ((low & ~(pecl::serialized | pecl::compressed | pecl::type_mask)) != 0)
            return err(value_errc::unsupported_flags);
        const std::uint32_t t = low & pecl::type_mask;
        const bool serialized = (low & pecl::serialized) != 0;
        if (serialized && t != 0)
            return err(value_errc::unsupported_flags);
        if (serialized)
            p.type = value_type::php_serialized;
        else if (t == 0)
            p.type = value_type::bytes;
        else if (t == pecl::type_bool)
            p.type = value_type::boolean;
        else if (t == pecl::type_long)
            p.type = value_type::integer;
        else if (t == pecl::type_double)
            p.type = value_type::floating;
        else
            return err(value_errc::unsupported_flags);
        p.compressed_with = (low & pecl::compressed) != 0 ? codec::zlib : codec::none;
        p.user_flags = flags & ~pecl::reserved_mask;
        return {};
    }
    }
    return err(value_errc::unsupported_flags);
}

} // namespace

const std::error_category& value_category() noexcept
{
    static const category instance;
    return instance;
}

std::string_view errc_name(value_errc e) noexcept
{
    switch (e) {
    case value_errc::unsupported_flags:
        return "unsupported_flags";
    case value_errc::corrupt:
        return "corrupt";
    case value_errc::type_mismatch:
        return "type_mismatch";
    case value_errc::type_not_in_format:
        return "type_not_in_format";
    case value_errc::codec_not_in_format:
        return "codec_not_in_format";
    case value_errc::invalid_user_flags:
        return "invalid_user_flags";
    case value_errc::invalid_policy:
        return "invalid_policy";
    case value_errc::chunk_mismatch:
        return "chunk_mismatch";
    }
    return {};
}

std::string_view format_name(value_format f) noexcept
{
    switch (f) {
    case value_format::memcoro:
        return "memcoro";
    case value_format::pecl_memcache:
        return "pecl-memcache";
    case value_format::php_memcached:
        return "php-memcached";
    }
    return "unknown";
}

std::optional<value_format> parse_format(std::string_view name) noexcept
{
    for (auto f : {value_format::memcoro, value_format::pecl_memcache, value_format::php_memcached})
        if (name == format_name(f))
            return f;
    return std::nullopt;
}

std::string_view type_name(value_type t) noexcept
{
    switch (t) {
    case value_type::bytes:
        return "bytes";
    case value_type::integer:
        return "integer";
    case value_type::floating:
        return "floating";
    case value_type::boolean:
        return "boolean";
    case value_type::php_serialized:
        return "php_serialized";
    case value_type::igbinary:
        return "igbinary";
    case value_type::json:
        return "json";
    case value_type::msgpack:
        return "msgpack";
    }
    return "unknown";
}

double min_savings_from_factor(double factor) noexcept
{
    return factor > 1.0 ? 1.0 - 1.0 / factor : 0.0;
}

compression_policy default_compression(value_format f) noexcept
{
    compression_policy p;
    switch (f) {
    case value_format::php_memcached:
        p.algorithm = codec::fastlz;
        p.threshold = 2000;
        p.min_savings = min_savings_from_factor(1.3);
        break;
    case value_format::pecl_memcache:
        p.algorithm = codec::zlib;
        p.threshold = 20000;
        p.min_savings = 0.2;
        break;
    case value_format::memcoro:
        break;
    }
    return p;
}

std::error_code encode(value_format f, value_type t, std::string_view data,
                       const compression_policy& policy, std::uint32_t user_flags, std::string& out,
                       std::uint32_t& flags)
{
    const auto type_bits = type_code(f, t);
    if (!type_bits)
        return err(value_errc::type_not_in_format);
    const auto user = user_bits(f, user_flags);
    if (!user)
        return err(value_errc::invalid_user_flags);
    if (!(policy.min_savings >= 0.0 && policy.min_savings <= 1.0))
        return err(value_errc::invalid_policy);
    switch (t) {
    case value_type::integer:
        if (!detail::valid_integer(data))
            return err(value_errc::type_mismatch);
        break;
    case value_type::floating:
        if (!parse_floating(data))
            return err(value_errc::type_mismatch);
        break;
    case value_type::boolean:
        if (!valid_boolean(f, data))
            return err(value_errc::type_mismatch);
        break;
    default:
        break;
    }

    const auto codec_bits = policy.algorithm == codec::none ? std::optional<std::uint32_t>{0}
                                                            : codec_code(f, policy.algorithm);
    if (!codec_bits)
        return err(value_errc::codec_not_in_format);

    const bool try_compress = policy.algorithm != codec::none && data.size() >= policy.threshold &&
                              data.size() <= std::numeric_limits<std::uint32_t>::max();
    if (try_compress) {
        std::string packed;
        if (f != value_format::pecl_memcache)
            append_le32(packed, static_cast<std::uint32_t>(data.size()));
        const std::size_t prefix = packed.size();
        if (auto ec = compress(policy.algorithm, data, packed, policy.level))
            return ec;
        if (worth_keeping(f, data.size(), packed.size() - prefix, policy.min_savings)) {
            out.append(packed);
            flags = *type_bits | *codec_bits | *user;
            return {};
        }
    }
    out.append(data);
    flags = *type_bits | *user;
    return {};
}

std::error_code encode(value_format f, value_type t, std::string_view data,
                       const compression_policy& policy, std::string& out, std::uint32_t& flags)
{
    return encode(f, t, data, policy, 0, out, flags);
}

std::error_code decode(value_format f, std::uint32_t flags, std::string_view stored,
                       std::size_t max_size, std::string& out, value_info& info)
{
    parsed_flags p;
    if (auto ec = parse_flags(f, flags, p))
        return ec;
    const std::size_t old_size = out.size();
    if (p.compressed_with == codec::none) {
        out.append(stored);
    } else if (f == value_format::pecl_memcache) {
        if (auto ec = decompress(p.compressed_with, stored, unknown_size, max_size, out))
            return ec;
    } else {
        if (stored.size() < length_prefix)
            return err(value_errc::corrupt);
        const std::uint32_t n = read_le32(stored);
        if (auto ec = decompress(p.compressed_with, stored.substr(length_prefix), n, max_size, out))
            return ec;
    }

    std::string_view got(out.data() + old_size, out.size() - old_size);
    bool valid = true;
    switch (p.type) {
    case value_type::integer: {
        // memcached's decr rewrites a shorter number in place, padded with spaces.
        const auto end = got.find_last_not_of(' ');
        got = got.substr(0, end == std::string_view::npos ? 0 : end + 1);
        valid = detail::valid_integer(got);
        if (valid)
            out.resize(old_size + got.size());
        break;
    }
    case value_type::floating:
        valid = parse_floating(got).has_value();
        break;
    case value_type::boolean:
        valid = parse_boolean(got).has_value();
        break;
    default:
        break;
    }
    if (!valid) {
        out.resize(old_size);
        return err(value_errc::type_mismatch);
    }
    info.type = p.type;
    info.user_flags = p.user_flags;
    info.compressed_with = p.compressed_with;
    return {};
}

std::error_code decode(value_format f, std::uint32_t flags, std::string_view stored,
                       std::size_t max_size, std::string& out, value_type& type)
{
    value_info info;
    auto ec = decode(f, flags, stored, max_size, out, info);
    if (!ec)
        type = info.type;
    return ec;
}

} // namespace memcoro::value
