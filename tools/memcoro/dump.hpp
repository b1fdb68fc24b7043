#pragma once
/// \file
/// `memcoro dump`: every key of a server through memcached's `lru_crawler metadump all`, an
/// administrative text command that memcoro::client does not offer. It is sent over a plain
/// connection of its own (TCP or Unix socket), opened for it and closed after it.

#include <memcoro/server_address.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

/// One line of a metadump: an item as the server keeps it.
struct dump_entry {
    std::string key;              ///< the key, URL-decoded
    std::int64_t expiry = -1;     ///< Unix time at which it expires; -1: never
    std::int64_t last_access = 0; ///< Unix time of its last access
    std::uint64_t cas = 0;        ///< its CAS unique
    bool fetched = false;         ///< read since it was stored
    std::uint32_t slab_class = 0; ///< the slab class that holds it
    std::uint64_t size = 0;       ///< bytes of memory it takes, header included
};

/// Dumps `server`'s keys, handing each to `on_entry` as its line arrives. `timeout` bounds the
/// connect and each wait for data. Throws std::runtime_error("host:port: what went wrong").
asio::awaitable<void> async_metadump(const memcoro::server_address& server,
                                     std::chrono::milliseconds timeout,
                                     std::function<void(const dump_entry&)> on_entry);
