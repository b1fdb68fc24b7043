#pragma once
/// \file
/// The value codec of nlohmann::json (client::async_get_as<nlohmann::json>,
/// client::async_set_as): include it where nlohmann/json is available; the rest of memcoro does
/// not need it.

#include <memcoro/value/codec.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <system_error>

namespace memcoro {

/// nlohmann::json: stored as its compact text, of type `json` (a format without a JSON type,
/// pecl_memcache, refuses it with value::value_errc::type_not_in_format). Read from `json`
/// values and from bytes that are JSON text (what other clients store without a type); text
/// that does not parse fails with type_mismatch, never with an exception.
template <>
struct value_codec<nlohmann::json> {
    /// Appends `v`'s compact text; stored as `json`. A string that is not UTF-8 throws
    /// nlohmann::json::type_error (from `dump`), at the call that writes it.
    static value::value_type encode(const nlohmann::json& v, value::value_format, std::string& out)
    {
        out.append(v.dump());
        return value::value_type::json;
    }
    /// The JSON value stored, or type_mismatch.
    static std::error_code decode(const value_view& in, nlohmann::json& out)
    {
        if (in.type != value::value_type::json && in.type != value::value_type::bytes)
            return value::value_errc::type_mismatch;
        out = nlohmann::json::parse(in.data.begin(), in.data.end(), nullptr, false);
        if (out.is_discarded())
            return value::value_errc::type_mismatch;
        return {};
    }
};

} // namespace memcoro
