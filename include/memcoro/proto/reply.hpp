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
    noop,         ///< MN: the end of a quiet batch of meta commands
};

/// Does this reply finish the response to one request?
constexpr bool is_terminal(reply_type t) noexcept
{
    return t != reply_type::value && t != reply_type::stat;
}

/// What a meta reply's flags say of an item, beyond its key, client flags and CAS.
struct meta_info {
    enum bits : std::uint16_t {
        has_ttl = 1 << 0,         ///< t: `ttl` is set
        has_size = 1 << 1,        ///< s: `size` is set
        has_last_access = 1 << 2, ///< l: `last_access` is set
        has_hit = 1 << 3,         ///< h: `hit_before` says whether it was read before
        hit_before = 1 << 4,      ///< h1
        won = 1 << 5,             ///< W: this client won the right to recompute the item
        stale = 1 << 6,           ///< X: the item is stale
        win_sent = 1 << 7,        ///< Z: another client already won
        base64_key = 1 << 8,      ///< b: the returned key is base64
    };
    std::int64_t ttl = 0;          ///< seconds left; -1: never expires
    std::uint64_t size = 0;        ///< the value's size
    std::uint32_t last_access = 0; ///< seconds since it was last read
    std::uint16_t present = 0;     ///< bits
    bool has(bits b) const noexcept { return (present & b) != 0; }
};

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
    /// Meta replies: the opaque token echoed (the number the request line carried).
    std::uint32_t opaque = 0;
    bool has_opaque = false;
    meta_info meta; ///< meta replies: the item's metadata asked for
};

} // namespace memcoro::proto
