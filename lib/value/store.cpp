#include <memcoro/value/options.hpp>

#include <cstdio>
#include <string>

namespace memcoro::value {

value_settings resolve(const value_options& opts, std::size_t max_item_size) noexcept
{
    value_settings s;
    s.format = opts.format;
    s.compression = opts.compression ? *opts.compression : default_compression(opts.format);
    const std::size_t times = opts.chunk_large_values ? 64 : 4;
    s.max_value_size = opts.max_value_size != 0 ? opts.max_value_size : times * max_item_size;
    if (opts.chunk_large_values) {
        constexpr std::size_t room = 1024;
        s.chunk_size = opts.chunk_size != 0       ? opts.chunk_size
                       : max_item_size > 2 * room ? max_item_size - room
                                                  : max_item_size / 2;
    }
    return s;
}

std::error_code encode_for_store(const value_settings& s, value_type t, std::string_view data,
                                 const value_store_options& opts, std::string& out,
                                 std::uint32_t& flags)
{
    out.clear();
    return encode(s.format, t, data, opts.compression ? *opts.compression : s.compression,
                  opts.user_flags, out, flags);
}

std::error_code decode_stored(const value_settings& s, std::uint32_t flags,
                              std::string_view item_value, std::string& out, value_info& info)
{
    out.clear();
    return decode(s.format, flags, item_value, s.max_value_size, out, info);
}

std::string describe_decode_failure(std::string_view key, std::uint32_t flags,
                                    std::size_t stored_size, std::error_code ec)
{
    constexpr std::size_t max_key = 250;
    std::string out = "key '";
    out.append(key.substr(0, max_key));
    if (key.size() > max_key)
        out.append("...");
    char buf[64];
    std::snprintf(buf, sizeof buf, "' (flags 0x%x, %zu bytes)", static_cast<unsigned>(flags),
                  stored_size);
    out.append(buf);
    (void)ec; // (memcoro::error puts the error's own message before this text)
    return out;
}

} // namespace memcoro::value
