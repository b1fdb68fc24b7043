#pragma once
/// \file
/// Values and outcomes of memcoro operations.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace memcoro {

/// An item as stored in memcached.
struct item {
    std::string key{};
    std::string value{};
    std::uint32_t flags = 0;
    /// The item's CAS unique, filled by gets/gats (0 when not requested).
    std::uint64_t cas = 0;
};

/// The outcome of a single-key retrieval: an item on a hit, empty on a miss.
using get_result = std::optional<item>;

/// A multi-key retrieval: the hits in request order, and the keys that could not be
/// looked up (their server failed or is down) with the reason. A key in neither list missed.
struct get_multi_result {
    std::vector<item> hits;
    std::vector<std::pair<std::string, std::error_code>> errors;

    /// The hit for `key`, or nullptr (a linear search).
    const item* find(std::string_view key) const noexcept
    {
        for (const auto& i : hits)
            if (i.key == key)
                return &i;
        return nullptr;
    }
};

/// The outcome of set/add/replace/append/prepend/cas.
enum class store_status {
    stored,     ///< STORED
    not_stored, ///< NOT_STORED: add on an existing key, replace/append/prepend on a missing one
    exists,     ///< EXISTS: cas conflict, the item changed since it was read
    not_found,  ///< NOT_FOUND: cas on a missing item
};

/// The outcome of delete.
enum class delete_status { deleted, not_found };

/// The outcome of touch.
enum class touch_status { touched, not_found };

/// The outcome of incr/decr: the new value, or empty when the key does not exist.
using arith_result = std::optional<std::uint64_t>;

/// `stats` lines in the server's order: (name, value).
using stats_result = std::vector<std::pair<std::string, std::string>>;

/// Item lifetime. memcached reads a value over 30 days (2,592,000 s) as an absolute
/// Unix time; 0 means "never expires"; a negative value expires the item at once.
using ttl = std::chrono::seconds;

/// Options of the storage commands.
struct store_options {
    ttl expiry{0};
    std::uint32_t flags = 0;
};

/// One key's outcome in a multi-key write: its status, or the error that kept it from its
/// server (then `status` is meaningless).
template <class Status>
struct keyed_result {
    std::string key;
    Status status{};
    std::error_code ec;
};

/// set_multi (and the other multi-key writes): one entry per key, in request order.
using store_multi_result = std::vector<keyed_result<store_status>>;
/// delete_multi: one entry per key, in request order.
using delete_multi_result = std::vector<keyed_result<delete_status>>;

/// One server's answer to a request sent to every server.
struct server_stats {
    std::string server;
    std::error_code ec;
    stats_result stats;
};

/// stats_all: one entry per server, in configuration order.
using stats_all_result = std::vector<server_stats>;

const char* to_string(store_status s) noexcept;
const char* to_string(delete_status s) noexcept;
const char* to_string(touch_status s) noexcept;

} // namespace memcoro
