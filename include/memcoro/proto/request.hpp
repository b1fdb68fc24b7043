#pragma once
/// \file
/// The dialect-independent request model: one memcached operation as data.

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace memcoro::proto {

/// The longest key memcached accepts.
inline constexpr std::size_t max_key_length = 250;
/// Longest `gat`/`gats` line memcached accepts: it reads more than 2048 bytes without the end
/// of the line as an error and closes the connection (`get` and `gets` lines may be of any
/// length). Multi-key touches are split so that every line fits.
inline constexpr std::size_t max_touch_line = 2048;

enum class command : std::uint8_t {
    get,
    gets,
    gat,
    gats,
    touch,
    set,
    add,
    replace,
    append,
    prepend,
    cas,
    del,
    incr,
    decr,
    flush_all,
    version,
    stats,
    verbosity,
};

/// The shape of reply a command draws, which the decoder checks replies against.
enum class reply_kind : std::uint8_t {
    retrieval,  ///< VALUE ... END
    storage,    ///< STORED / NOT_STORED / EXISTS / NOT_FOUND
    deletion,   ///< DELETED / NOT_FOUND
    touch,      ///< TOUCHED / NOT_FOUND
    arithmetic, ///< a number / NOT_FOUND
    ok,         ///< OK
    version,    ///< VERSION text
    stats,      ///< STAT name value ... END
};

/// One request. Single-key commands use `key`; multi-key retrievals use `keys`.
/// (Requests are recycled: detail::request_recycler resets each field, so a new field must be
/// reset there too.)
struct request {
    command cmd = command::get;
    /// A retrieval of `keys` (possibly none) in one request, or, for storage commands and
    /// delete, one request per key of `keys` (with `values`), sent together.
    bool multi_key = false;
    /// Server-wide commands: to every server, one result per server.
    bool all_servers = false;
    std::string key;
    std::vector<std::string> keys;
    std::string value;               ///< payload of the storage commands
    std::vector<std::string> values; ///< multi-key storage: one payload per key
    std::uint32_t flags = 0;         ///< storage flags
    std::int64_t exptime = 0; ///< storage / gat / touch expiry; flush_all delay; verbosity level
    std::uint64_t cas = 0;    ///< cas unique (cas); delta (incr/decr)
    bool has_delay = false;   ///< flush_all with a delay
    std::string group;        ///< stats group ("items", "slabs", ...), empty for general stats
    /// A multi-key retrieval that is one server's share of a larger one borrows its keys
    /// from that request instead of copying them: its key j is
    /// `borrowed_keys[borrowed_index[j]]`, `borrowed_count` of them (`keys` stays empty).
    /// The lender's keys must outlive this request.
    const std::string* borrowed_keys = nullptr;
    const std::uint32_t* borrowed_index = nullptr;
    std::size_t borrowed_count = 0;

    /// The keys of a multi-key request, owned or borrowed.
    std::size_t key_count() const noexcept { return borrowed_keys ? borrowed_count : keys.size(); }
    const std::string& key_at(std::size_t j) const noexcept
    {
        return borrowed_keys ? borrowed_keys[borrowed_index[j]] : keys[j];
    }
};

constexpr reply_kind expected_reply(command c) noexcept
{
    switch (c) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats:
        return reply_kind::retrieval;
    case command::touch:
        return reply_kind::touch;
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas:
        return reply_kind::storage;
    case command::del:
        return reply_kind::deletion;
    case command::incr:
    case command::decr:
        return reply_kind::arithmetic;
    case command::flush_all:
    case command::verbosity:
        return reply_kind::ok;
    case command::version:
        return reply_kind::version;
    case command::stats:
        return reply_kind::stats;
    }
    return reply_kind::ok;
}

constexpr bool is_retrieval(command c) noexcept
{
    return expected_reply(c) == reply_kind::retrieval;
}

constexpr bool is_storage(command c) noexcept
{
    return expected_reply(c) == reply_kind::storage;
}

constexpr std::string_view command_name(command c) noexcept
{
    switch (c) {
    case command::get:
        return "get";
    case command::gets:
        return "gets";
    case command::gat:
        return "gat";
    case command::gats:
        return "gats";
    case command::touch:
        return "touch";
    case command::set:
        return "set";
    case command::add:
        return "add";
    case command::replace:
        return "replace";
    case command::append:
        return "append";
    case command::prepend:
        return "prepend";
    case command::cas:
        return "cas";
    case command::del:
        return "delete";
    case command::incr:
        return "incr";
    case command::decr:
        return "decr";
    case command::flush_all:
        return "flush_all";
    case command::version:
        return "version";
    case command::stats:
        return "stats";
    case command::verbosity:
        return "verbosity";
    }
    return "?";
}

/// Checks a key: non-empty, at most 250 bytes, no byte <= 0x20 and no 0x7f.
/// Returns errc::invalid_key or success.
std::error_code check_key(std::string_view key) noexcept;

/// Checks every key and argument of `req` (keys, stats group); nothing invalid may be encoded.
std::error_code validate(const request& req) noexcept;

/// Appends the text-protocol command line of `req` to `out`. For storage commands only the
/// header line ("set k f e n\r\n") is written: the payload and its "\r\n" are sent from the
/// request itself. `req` must have passed validate().
void encode_text(const request& req, std::string& out);

} // namespace memcoro::proto
