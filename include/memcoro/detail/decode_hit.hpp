#pragma once
/// \file
/// The value operations' decoding of a hit: its format's bytes and flags into a value_item or
/// a T of a value_codec.

#include <memcoro/types.hpp>
#include <memcoro/value/codec.hpp>
#include <memcoro/value/options.hpp>

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace memcoro::detail {

/// Decodes `hit` (its value may be taken) into `out`; on failure `out` stays empty.
template <class T>
std::error_code decode_hit(const value::value_settings& s, item& hit, std::optional<T>& out)
{
    value::value_info info;
    std::string data;
    if (auto ec = value::decode_stored(s, hit.flags, hit.value, data, info))
        return ec;
    if constexpr (std::is_same_v<T, value_item>) {
        out.emplace(value_item{std::move(hit.key), std::move(data), info.type, info.user_flags,
                               info.compressed_with, hit.cas});
    } else {
        T v{};
        if (auto ec = value_codec<T>::decode(value_view{info.type, data, s.format}, v))
            return ec;
        out.emplace(std::move(v));
    }
    return {};
}

} // namespace memcoro::detail
