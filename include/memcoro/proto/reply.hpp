#pragma once
/// \file
/// One parsed unit of a memcached reply.

#include <cstdint>
#include <string_view>

namespace memcoro::proto {

enum class reply_type : std::uint8_t {
    value,        ///< VALUE key flags bytes [cas] + data block (more may follow)
    stat,         ///< STAT name value (more may follow)
    end,          ///< END: closes a retrieval or stats reply
    stored,       ///< STORED
    not_stored,   ///< NOT_STORED
    exists,       ///< EXISTS
    not_found,    ///< NOT_FOUND
    deleted,      ///< DELETED
    touched,      ///< TOUCHED
    number,       ///< incr/decr result
    ok,           ///< OK
    version,      ///< VERSION text
    error,        ///< ERROR (unknown command)
    client_error, ///< CLIENT_ERROR message
    server_error, ///< SERVER_ERROR message
};

/// Does this reply finish the response to one request?
constexpr bool is_terminal(reply_type t) noexcept
{
    return t != reply_type::value && t != reply_type::stat;
}

/// A parsed reply. Views point into the decoder's input and are valid until it is consumed.
struct reply {
    reply_type type = reply_type::end;
    std::string_view key;  ///< value: the item's key
    std::string_view data; ///< value: payload; stat: value; version: text; errors: message
    std::string_view name; ///< stat: name
    std::uint32_t flags = 0;
    std::uint64_t cas = 0; ///< value: cas unique when has_cas
    bool has_cas = false;
    std::uint64_t number = 0; ///< number: the incr/decr result
};

} // namespace memcoro::proto
