#pragma once
/// \file
/// The settings and results of the client's value operations (client::async_get_as,
/// client::async_set_as, client::async_get_value...): the value format, the compression
/// policy, the bound on a decompressed value, and a value as they read it. Sans-I/O.

#include <memcoro/value/format.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace memcoro {

/// How the value operations store and read values (client_config::values). The plain
/// operations (async_get, async_set...) never apply it: they move bytes and flags as they are.
struct value_options {
    /// The layout of type, compression and user flags (value::value_format): memcoro's own,
    /// or that of the PHP client the cache is shared with.
    value::value_format format = value::value_format::memcoro;
    /// When values written are compressed; empty: the format's default
    /// (value::default_compression: what the PHP client does by default; memcoro: zlib from
    /// 2,000 bytes, kept if it saves 20%). A policy with `codec::none` never compresses.
    std::optional<value::compression_policy> compression{};
    /// The largest value a read decompresses to (a compressed value that claims or produces
    /// more fails with compression_errc::too_large, and nothing near its size is allocated;
    /// so does a chunked value bigger than this); 0: four times client_config::max_item_size,
    /// or 64 times with chunk_large_values.
    std::size_t max_value_size = 0;
    /// Whether a value whose stored form (after compression) is bigger than `chunk_size` is
    /// split into chunk items and an index item (value/chunk.hpp; docs/values.md, "Values
    /// bigger than an item"). The memcoro format only (the client refuses it with another).
    /// Chunked values are read whether or not this is set.
    bool chunk_large_values = false;
    /// The value bytes per chunk item; 0: client_config::max_item_size less 1,024 bytes (room
    /// for the item's header, its key and the chunk's own header in memcached's item).
    std::size_t chunk_size = 0;
};

/// Options of a value write (client::async_set_as, async_set_value...).
struct value_store_options {
    std::chrono::seconds expiry{0}; ///< the item's lifetime (as store_options::expiry)
    /// The user's flags, stored beside the format's own bits: memcoro 0 to 0x3ffffff,
    /// php_memcached 0 to 65535, pecl_memcache multiples of 0x10000 (see value::encode);
    /// others fail with value::value_errc::invalid_user_flags before anything is sent.
    std::uint32_t user_flags = 0;
    /// This write's compression; empty: value_options::compression.
    std::optional<value::compression_policy> compression{};
};

/// A value as the value operations read it: decompressed, with the type and user flags its
/// format's flags say.
struct value_item {
    std::string key{};                                 ///< the key
    std::string data{};                                ///< the value's bytes, decompressed
    value::value_type type = value::value_type::bytes; ///< what the flags say it is
    std::uint32_t user_flags = 0; ///< the user's flags (as value_store_options)
    value::codec compressed_with = value::codec::none; ///< how it was stored
    std::uint64_t cas = 0; ///< its CAS unique (async_gets_value), else 0
};

/// One key's outcome in a multi-key value read (client::async_get_multi_as): a value on a
/// hit, nothing on a miss, or the error that kept it (its server failed or is down, or its
/// value does not decode as T).
template <class T>
struct keyed_value {
    std::string key{};        ///< the key
    std::optional<T> value{}; ///< the value on a hit; empty on a miss or an error
    std::error_code ec{};     ///< why the key has no outcome, if so
};

namespace value {

/// value_options resolved for one client: no defaults left open.
struct value_settings {
    value_format format = value_format::memcoro;  ///< the format
    compression_policy compression{};             ///< the resolved compression policy
    std::size_t max_value_size = 4 * 1024 * 1024; ///< the bound on a decompressed value
    std::size_t chunk_size = 0; ///< the value bytes per chunk item; 0: values are not chunked
};

/// `opts` resolved: the format's default compression where none is given, four (with
/// chunk_large_values: 64) times `max_item_size` where max_value_size is 0, and the chunk size
/// (0 when values are not chunked).
value_settings resolve(const value_options& opts, std::size_t max_item_size) noexcept;

/// Writes into `out` (replacing what it held) the bytes to store for `data` of type `t` with
/// `opts`'s user flags and compression (or `s`'s), and sets `flags`: value::encode.
std::error_code encode_for_store(const value_settings& s, value_type t, std::string_view data,
                                 const value_store_options& opts, std::string& out,
                                 std::uint32_t& flags);

/// Decodes the stored `item_value` with `flags` into `out` (replacing what it held) and
/// `info`: value::decode, bounded by `s.max_value_size`.
std::error_code decode_stored(const value_settings& s, std::uint32_t flags,
                              std::string_view item_value, std::string& out, value_info& info);

/// The detail of a read that failed to decode with `ec`: "key 'K' (flags 0x..., N bytes)" (the
/// key cut at 250 bytes), which memcoro::error shows after `ec`'s message.
std::string describe_decode_failure(std::string_view key, std::uint32_t flags,
                                    std::size_t stored_size, std::error_code ec);

} // namespace value
} // namespace memcoro
