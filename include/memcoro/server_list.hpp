#pragma once
/// \file
/// Versioned server lists (docs/server-lists.md): the servers of one application domain, with
/// the version that orders its changes, as a JSON file or a memcached item holds them; parsing,
/// checking, and what changes from one list to the next. Sans-I/O: no sockets, no client.

#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/hash.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/server_state.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace memcoro {

/// One server of a server list.
struct server_list_entry {
    server_address address{};                 ///< where it is, its weight and optional name
    server_status status = server_status::up; ///< the status it is to have

    /// Member-wise equality.
    friend bool operator==(const server_list_entry&, const server_list_entry&) = default;
};

/// The servers of one domain, at one version.
///
/// As JSON (a file holds any number of domains under "domains"; a memcached item one domain's
/// object):
///
///     {"domains": {"myapp": {
///         "version": 7,
///         "distribution": "ketama",          (optional: ketama; parse_distribution's names)
///         "hash": "md5",                     (optional: the distribution's default)
///         "servers": [
///             {"address": "10.0.0.1:11211", "weight": 2, "name": "a", "status": "up"},
///             {"address": "/run/memcached.sock"}
///         ]}}}
///
/// `address` is written as server_address::parse reads it (`tls://` included); `weight`
/// (default 1), `name` and `status` ("up" or "down", default up) are optional.
struct server_list {
    std::string domain{};      ///< the application domain it belongs to
    std::uint64_t version = 0; ///< greater for every change
    ring::distribution_kind distribution = ring::distribution_kind::ketama; ///< key placement
    std::optional<ring::hash_kind> hash{};    ///< the key hash; empty: the distribution's default
    std::vector<server_list_entry> servers{}; ///< the servers, in ring order

    /// Member-wise equality.
    friend bool operator==(const server_list&, const server_list&) = default;
};

/// Why a server list was refused.
enum class server_list_errc {
    invalid_json = 1,     ///< the text is not JSON
    no_such_domain,       ///< the file has no list for the domain
    invalid_field,        ///< a field is missing or of the wrong type
    unknown_distribution, ///< a distribution parse_distribution does not know
    unknown_hash,         ///< a hash parse_hash does not know
    invalid_address,      ///< an address server_address::parse refuses
    invalid_weight,       ///< a weight of zero, negative, or over 2^32 - 1
    duplicate_server,     ///< two entries with the same address
    empty_list,           ///< no servers
    older_version,        ///< a version lower than the list in force
    same_version_changed, ///< the version in force, with other contents
    distribution_changed, ///< another distribution or hash than the client's
    list_too_large,       ///< a list text over max_server_list_bytes
    invalid_reply,        ///< an auto-discovery reply that is not valid (discovery_reply)
};

/// The category of server_list_errc ("memcoro.server_list").
const std::error_category& server_list_category() noexcept;

/// The enumerator's name ("invalid_json", ...); "" for a value that is not one.
std::string_view errc_name(server_list_errc e) noexcept;

/// `e` as a std::error_code of server_list_category().
inline std::error_code make_error_code(server_list_errc e) noexcept
{
    return {static_cast<int>(e), server_list_category()};
}

/// The longest list text read (1 MiB): a longer one is refused with `list_too_large`, unread.
inline constexpr std::size_t max_server_list_bytes = 1024 * 1024;

/// A refusal: its code and a reason naming what was wrong (the field, the entry, the value).
struct server_list_error {
    std::error_code ec{}; ///< the server_list_errc
    std::string reason{}; ///< e.g. "servers[2]: weight 0: weights must be at least 1"
};

/// Parses the list of `domain` in a file's text (`{"domains": {...}}`) into `out`; on failure
/// returns false with `err` set and `out` unchanged. The list is also checked (check_server_list).
bool parse_server_list(std::string_view text, std::string_view domain, server_list& out,
                       server_list_error& err);

/// Parses one domain's object (a memcached item's value) into `out`, as parse_server_list.
bool parse_domain_list(std::string_view text, std::string_view domain, server_list& out,
                       server_list_error& err);

/// The domains a file's text lists, or nothing if it is not a server list file.
std::optional<std::vector<std::string>> server_list_domains(std::string_view text);

/// Checks a list: at least one server, every weight at least 1, no address twice.
bool check_server_list(const server_list& list, server_list_error& err);

/// One domain's object as JSON (what parse_domain_list reads).
std::string to_json(const server_list& list);

/// A file's text (or "" for a new file) with `list` as its domain's list, the other domains
/// as they were. Throws std::invalid_argument if `text` is not a server list file.
std::string with_domain_list(std::string_view text, const server_list& list);

/// What changes from one list to the next, by address.
struct server_list_diff {
    std::vector<server_list_entry> added{};   ///< in the new list only
    std::vector<server_list_entry> removed{}; ///< in the old list only
    /// In both, with a new weight, name or TLS flag (the new entry): its keys move.
    std::vector<server_list_entry> reweighted{};
    std::vector<server_list_entry> restatused{}; ///< in both, with a new status (the new entry)
    /// The order of the servers changed (rings that depend on it place keys anew).
    bool reordered = false;

    /// Does anything change?
    bool empty() const noexcept
    {
        return added.empty() && removed.empty() && reweighted.empty() && restatused.empty() &&
               !reordered;
    }
};

/// What changes from `from` to `to`.
server_list_diff diff(const server_list& from, const server_list& to);

/// Whether `next` may replace `current` (the list in force; version 0: none yet), and why
/// not: a lower version (`older_version`), the same version with other contents
/// (`same_version_changed`). The same version with the same contents is no change (true,
/// nothing to apply).
bool may_replace(const server_list& current, const server_list& next, server_list_error& err);

/// Reading the reply of auto-discovery's `config get cluster` (AWS ElastiCache, Google
/// Memorystore): `CONFIG cluster FLAGS BYTES`, then BYTES bytes (a version line, then a line of
/// `host|ip|port` entries separated by spaces; lines end with "\n" or "\r\n", depending on the
/// implementation), then "\r\n" and `END`. Sans-I/O: fed the bytes as they arrive.
class discovery_reply {
public:
    /// Where the reply stands.
    enum class state {
        incomplete, ///< more bytes are needed
        complete,   ///< the whole reply was read: list() holds it
        failed,     ///< not a valid reply: reason() says why
    };

    /// Feeds what arrived (all of it so far: `received` grows by appending). Bytes after the
    /// reply are left for the caller. Nothing is allocated for a BYTES over
    /// max_server_list_bytes (refused).
    state feed(std::string_view received);
    /// The servers (each `ip:port`, or `host:port` where the ip is empty),
    /// at the reply's version, in the reply's order; domain, distribution and hash are left
    /// for the caller to set.
    const server_list& list() const noexcept { return list_; }
    /// Why the reply was refused.
    const std::string& reason() const noexcept { return reason_; }
    /// The bytes the whole reply took (when complete).
    std::size_t size() const noexcept { return size_; }

private:
    state fail(std::string why);
    server_list list_{};
    std::string reason_{};
    std::size_t size_ = 0;
};

/// What client::apply_server_list and the server list sources report
/// (client_config::on_server_list): a list applied, with what changed, or refused, with why.
struct server_list_event {
    std::string domain{};          ///< the list's domain
    std::string source{};          ///< where it came from: "api", "file PATH", "memcached ..."
    std::uint64_t old_version = 0; ///< the version in force before
    std::uint64_t new_version = 0; ///< the version of the list applied or refused
    bool applied = false;          ///< applied (`changes`), or refused (`error`)
    server_list_diff changes{};    ///< what changed, when applied
    server_list_error error{};     ///< why it was refused, when not applied
};

/// Called on the client's executor for each server list event.
using server_list_callback = std::function<void(const server_list_event&)>;

} // namespace memcoro

template <>
struct std::is_error_code_enum<memcoro::server_list_errc> : std::true_type {
};
