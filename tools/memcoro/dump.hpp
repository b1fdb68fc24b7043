#pragma once
/// \file
/// `memcoro dump`: every key of a server through memcached's `lru_crawler metadump all`, an
/// administrative text command that memcoro::client does not offer; where the server refuses it
/// (no LRU crawler: memcached before 1.4.31, or started with `-o no_lru_crawler`), through
/// `stats items` and `stats cachedump CLASS 0` per slab class, as libmemcached's memdump does.
/// The commands are sent over a plain connection of its own (TCP or Unix socket), opened for
/// them and closed after them.

#include <memcoro/server_address.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

/// One item as the server lists it: a line of a metadump, or of a cachedump (which tells less).
struct dump_entry {
    std::string key;          ///< the key (a metadump's URL-decoded)
    std::int64_t expiry = -1; ///< Unix time at which it expires (the server's clock); -1: never
    std::optional<std::int64_t> last_access; ///< Unix time of its last access (metadump only)
    std::optional<bool> fetched;             ///< read since it was stored (metadump only)
    std::uint32_t slab_class = 0;            ///< the slab class that holds it
    /// metadump: the bytes of memory it takes, header included; cachedump: its value's bytes.
    std::uint64_t size = 0;
};

/// Dumps `server`'s keys, handing each to `on_entry` as its line arrives, and to `on_note` what
/// the user should know of the listing (the fallback to stats cachedump, a slab class listed in
/// part). `timeout` bounds the connect and each wait for data. Throws
/// std::runtime_error("host:port: what went wrong"), a malformed or oversized line included.
asio::awaitable<void> async_dump(const memcoro::server_address& server,
                                 std::chrono::milliseconds timeout,
                                 std::function<void(const dump_entry&)> on_entry,
                                 std::function<void(const std::string&)> on_note);
