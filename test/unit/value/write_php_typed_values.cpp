// Writes typed values encoded by memcoro in php-memcached's and PECL memcache's formats, for
// test/data/php/check_memcoro_typed_values.php to store in memcached (with the flags memcoro
// chose) and read with the PHP clients. The values are those of test/data/php/typed_values.php,
// written as memcoro's users would: integers with format_integer, floats with format_floating,
// booleans with format_boolean, arrays as PHP serialize() text.
//
// DIR/manifest.txt, one line per value: CLIENT NAME VARIANT USER_FLAGS FLAGS FILE
// Usage: write_php_typed_values DIR

#include <memcoro/value/format.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace {

using memcoro::value::codec;
using memcoro::value::compression_policy;
using memcoro::value::value_format;
using memcoro::value::value_type;

struct typed {
    std::string name;
    value_type type;
    // The text to encode, in the format given.
    std::string (*text)(value_format);
    std::string bytes; // for bytes and php_serialized
};

std::string repeat(const std::string& s, int n)
{
    std::string out;
    for (int i = 0; i < n; ++i)
        out += s;
    return out;
}

std::string array_large()
{
    // serialize(array_fill(0, 600, 'memcoro'))
    std::string out = "a:600:{";
    for (int i = 0; i < 600; ++i)
        out += "i:" + std::to_string(i) + ";s:7:\"memcoro\";";
    return out + "}";
}

template <std::int64_t V>
std::string integer(value_format)
{
    return memcoro::value::format_integer(V);
}

#define FLOAT_TEXT(expr) [](value_format f) { return memcoro::value::format_floating(f, expr); }

std::vector<typed> values()
{
    constexpr double inf = std::numeric_limits<double>::infinity();
    std::vector<typed> v = {
        {"string", value_type::bytes, nullptr, "hello"},
        {"string_empty", value_type::bytes, nullptr, ""},
        {"string_binary", value_type::bytes, nullptr, std::string("\0\xff\r\n", 4)},
        {"string_large", value_type::bytes, nullptr, repeat("memcoro value ", 500)},
        {"int_0", value_type::integer, integer<0>, {}},
        {"int_42", value_type::integer, integer<42>, {}},
        {"int_neg", value_type::integer, integer<-7>, {}},
        {"int_max", value_type::integer, integer<std::numeric_limits<std::int64_t>::max()>, {}},
        {"int_min", value_type::integer, integer<std::numeric_limits<std::int64_t>::min()>, {}},
        {"float_1_5", value_type::floating, FLOAT_TEXT(1.5), {}},
        {"float_0_1", value_type::floating, FLOAT_TEXT(0.1), {}},
        {"float_third", value_type::floating, FLOAT_TEXT(1.0 / 3), {}},
        {"float_100", value_type::floating, FLOAT_TEXT(100.0), {}},
        {"float_1e5", value_type::floating, FLOAT_TEXT(1e5), {}},
        {"float_1e6", value_type::floating, FLOAT_TEXT(1e6), {}},
        {"float_1e14", value_type::floating, FLOAT_TEXT(1e14), {}},
        {"float_1e15", value_type::floating, FLOAT_TEXT(1e15), {}},
        {"float_1e21", value_type::floating, FLOAT_TEXT(1e21), {}},
        {"float_1e25", value_type::floating, FLOAT_TEXT(1e25), {}},
        {"float_1e100", value_type::floating, FLOAT_TEXT(1e100), {}},
        {"float_0_001", value_type::floating, FLOAT_TEXT(0.001), {}},
        {"float_1e-4", value_type::floating, FLOAT_TEXT(1e-4), {}},
        {"float_1e-5", value_type::floating, FLOAT_TEXT(1e-5), {}},
        {"float_1e-7", value_type::floating, FLOAT_TEXT(1e-7), {}},
        {"float_123456_789", value_type::floating, FLOAT_TEXT(123456.789), {}},
        {"float_big", value_type::floating, FLOAT_TEXT(12345678901234567890.0), {}},
        {"float_neg", value_type::floating, FLOAT_TEXT(-2.5), {}},
        {"float_zero", value_type::floating, FLOAT_TEXT(0.0), {}},
        {"float_neg_zero", value_type::floating, FLOAT_TEXT(-0.0), {}},
        {"float_min_subnormal", value_type::floating, FLOAT_TEXT(5e-324), {}},
        {"float_max", value_type::floating, FLOAT_TEXT(1.7976931348623157e308), {}},
        {"float_inf", value_type::floating, FLOAT_TEXT(inf), {}},
        {"float_neg_inf", value_type::floating, FLOAT_TEXT(-inf), {}},
        {"float_nan",
         value_type::floating,
         FLOAT_TEXT(std::numeric_limits<double>::quiet_NaN()),
         {}},
        {"bool_true",
         value_type::boolean,
         [](value_format f) { return std::string(memcoro::value::format_boolean(f, true)); },
         {}},
        {"bool_false",
         value_type::boolean,
         [](value_format f) { return std::string(memcoro::value::format_boolean(f, false)); },
         {}},
        {"null", value_type::php_serialized, nullptr, "N;"},
        {"array", value_type::php_serialized, nullptr,
         "a:3:{i:0;i:1;s:1:\"a\";s:1:\"b\";s:4:\"list\";a:2:{i:0;d:1.5;i:1;b:1;}}"},
        {"array_large", value_type::php_serialized, nullptr, array_large()},
    };
    return v;
}

struct variant {
    const char* client;
    value_format format;
    const char* name;
    codec algorithm;
    std::size_t threshold;
    std::uint32_t user_flags;
    bool large_only; // only the values worth compressing
    bool first_only; // "string" and the large ones
};

bool write(const std::string& path, const std::string& data)
{
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return static_cast<bool>(out);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const variant variants[] = {
        {"php-memcached", value_format::php_memcached, "plain", codec::none, 0, 0, false, false},
        {"php-memcached", value_format::php_memcached, "fastlz", codec::fastlz, 2000, 0, true,
         false},
        {"php-memcached", value_format::php_memcached, "zlib", codec::zlib, 2000, 0, true, false},
        {"php-memcached", value_format::php_memcached, "user_flags_7", codec::fastlz, 2000, 7,
         false, true},
        {"pecl-memcache", value_format::pecl_memcache, "plain", codec::none, 0, 0, false, false},
        {"pecl-memcache", value_format::pecl_memcache, "compressed", codec::zlib, 0, 0, true,
         false},
        {"pecl-memcache", value_format::pecl_memcache, "user_flags_0xffff0000", codec::zlib, 0,
         0xffff0000, false, true},
    };
    std::ofstream manifest(dir + "/manifest.txt");
    int written = 0;
    for (const auto& var : variants) {
        compression_policy policy = memcoro::value::default_compression(var.format);
        policy.algorithm = var.algorithm;
        policy.threshold = var.threshold;
        for (const auto& v : values()) {
            const bool large = v.name == "string_large" || v.name == "array_large";
            if (var.large_only && !large)
                continue;
            if (var.first_only && !large && v.name != "string" && v.name != "int_42")
                continue;
            const std::string data = v.text != nullptr ? v.text(var.format) : v.bytes;
            std::string stored;
            std::uint32_t flags = 0;
            if (auto ec = memcoro::value::encode(var.format, v.type, data, policy, var.user_flags,
                                                 stored, flags)) {
                std::fprintf(stderr, "cannot encode %s %s: %s\n", var.client, v.name.c_str(),
                             ec.message().c_str());
                return 1;
            }
            const std::string file = std::string(var.client) + "." + var.name + "." + v.name;
            if (!write(dir + "/" + file, stored)) {
                std::fprintf(stderr, "cannot write %s\n", file.c_str());
                return 1;
            }
            manifest << var.client << ' ' << v.name << ' ' << var.name << ' ' << var.user_flags
                     << ' ' << flags << ' ' << file << '\n';
            ++written;
        }
    }
    if (!manifest) {
        std::fprintf(stderr, "cannot write the manifest\n");
        return 1;
    }
    std::printf("%d values written\n", written);
    return 0;
}
