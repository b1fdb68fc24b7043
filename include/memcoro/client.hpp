#pragma once
/// \file
/// memcoro::client: every memcached operation as an Asio asynchronous operation.

#include <memcoro/compute.hpp>
#include <memcoro/config.hpp>
#include <memcoro/detail/chunked.hpp>
#include <memcoro/detail/decode_hit.hpp>
#include <memcoro/detail/op.hpp>
#include <memcoro/detail/then_handler.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/server_list.hpp>
#include <memcoro/types.hpp>
#include <memcoro/use_awaitable.hpp>
#include <memcoro/value/codec.hpp>
#include <memcoro/value/options.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace memcoro {

namespace detail {
class client_impl;
}

/// A completion token for an operation whose result is R (`void(std::error_code, R)`, or
/// `void(std::error_code)` for R = void).
template <class Token, class R>
concept token_for = asio::completion_token_for<Token, typename detail::result_traits<R>::signature>;

/// A memcached client bound to an executor.
///
/// Every operation `async_X(..., token)` follows Asio's completion-token model with
/// completion signature `void(std::error_code, R)` (`void(std::error_code)` where noted); the
/// default token `memcoro::use_awaitable` makes it `co_await`-able and throws
/// `memcoro::error` on failure. Outcomes that are not failures (a miss, NOT_STORED, EXISTS,
/// NOT_FOUND) are values of R.
///
/// **Arguments** are copied when the operation is initiated; the caller's strings may go away
/// at once. **Cancellation** (Asio's per-operation cancellation): terminal and partial
/// cancellation are honoured at any time, total cancellation (no observable side effect) only
/// until the request is written. A request cancelled (or timed out) before it was written is
/// never sent; one already written may still take effect on the server, and its reply is read
/// and discarded, so it can never be delivered to another caller. (A multi-key call counts as
/// written once its requests are on their way to their servers.)
///
/// **Threads**: calls may be made from any thread, without a strand. The client's state lives
/// on its executor, which runs one handler at a time: the executor given if it does (a strand,
/// or an io_context made with concurrency hint 1), else a strand of it that the client makes.
/// Calls made there are carried out at once; calls from anywhere else are queued to it, in call
/// order (server changes and close() included). The snapshots (servers(), server(),
/// server_for_key()) are read under a lock from any thread; config() never changes. Completion
/// handlers run on their own associated executor (the coroutine's, for `co_await`; the client's
/// for a callback without one).
///
/// **Lifetime**: connections are opened on first use and kept. Destroying the client (or
/// calling close()) completes pending operations with `asio::error::operation_aborted`.
class client {
public:
    /// The type of the executor the client runs on.
    using executor_type = asio::any_io_executor;

    /// Throws std::invalid_argument for an unusable configuration (e.g. a zero weight). With
    /// no servers, operations fail with errc::no_servers until add_server().
    client(executor_type ex, client_config cfg);
    /// `servers`: "host:port[:weight],..." as parsed by server_address::parse_list.
    client(executor_type ex, std::string_view servers);
    /// Closes the client (as close()).
    ~client();
    /// Takes over the connections and state of the client moved from, which may then only be
    /// destroyed or assigned to.
    client(client&&) noexcept;
    /// Closes this client (as close()), then takes over the connections and state of the
    /// client moved from.
    client& operator=(client&&) noexcept;
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// The executor the client runs on: the one given, or a strand of it (see **Threads**).
    executor_type get_executor() const noexcept;
    /// The configuration given to the constructor (server changes do not alter it).
    const client_config& config() const noexcept;

    /// Closes every connection; pending operations complete with operation_aborted.
    void close();

    // ---- servers ---------------------------------------------------------------------------
    // Changes are applied on the client's executor, in order with the operations started
    // after them. Snapshots may be taken from any thread.

    /// Adds a server (PECL memcache's addServer): weight, timeout, retry interval, initial
    /// status and failure callback. The ring is rebuilt; about 1/N of the keys move to it.
    /// Throws std::invalid_argument for a zero weight.
    void add_server(server_address address, server_options options = {});
    /// The same for the TCP server `host`:`port`.
    void add_server(std::string_view host, std::uint16_t port, server_options options = {});
    /// Removes a server ("host:port"); its pending operations complete with operation_aborted.
    void remove_server(std::string_view name);
    /// Changes a server's options at run time (setServerParams), its status included; its TLS
    /// settings and credentials stay those it was added with.
    void set_server_params(std::string_view name, server_options options);
    /// Marks a server up or down by hand.
    void mark_server(std::string_view name, memcoro::server_status status);
    /// A server's state and counters, or empty if there is no such server: by name
    /// ("host:port" or socket path), or by host and port (PECL's getServerStatus).
    std::optional<server_info> server(std::string_view name) const;
    /// The same, by host and port.
    std::optional<server_info> server(std::string_view host, std::uint16_t port) const;
    /// Every server's state and counters, in configuration order.
    std::vector<server_info> servers() const;
    /// The same as JSON (counters, latency histogram, status; `tls` handshakes and `udp`
    /// counters for the servers that have them) per server.
    std::string servers_json() const;
    /// The server ("host:port") a key maps to, ignoring up/down state: by the key alone, or
    /// with client_config::hash_with_prefix by its prefix and the key.
    std::string server_for_key(std::string_view key) const;

    // ---- server lists (docs/server-lists.md) -----------------------------------------------

    /// Replaces the servers with those of `list`, at once and as one change: servers in both
    /// keep their connections (their weight, name and status as the list says), added ones
    /// connect on first use, removed ones take no new requests and are closed once the
    /// requests sent to them are answered (or after op_timeout). Checked first, from the
    /// calling thread: an invalid list (check_server_list), another distribution or hash than
    /// the client's, a version lower than the list in force or the same version with other
    /// contents are refused: false, with `err` set, and nothing changes. The first list
    /// applied replaces the configured servers whatever its version. Reports each outcome to
    /// client_config::on_server_list, `source` naming where the list came from.
    bool apply_server_list(const server_list& list, server_list_error& err,
                           std::string_view source = "api");
    /// The same; throws std::invalid_argument with the reason when the list is refused.
    void apply_server_list(const server_list& list);
    /// The list in force (version 0 and the configured servers until one is applied).
    server_list current_server_list() const;

    // ---- retrieval -----------------------------------------------------------------------

    /// get: `void(std::error_code, get_result)`; an empty result is a miss.
    template <token_for<get_result> Token = use_awaitable_t>
    auto async_get(std::string_view key, Token&& token = {})
    {
        return start<get_result>(get_one(false, {}, key), std::forward<Token>(token));
    }

    /// get into the caller's item: `void(std::error_code, bool)`, true on a hit, when `out`
    /// holds the item (key, value, flags). `out` must stay valid until the operation
    /// completes; its strings' capacity is reused, so a warm `out` costs no allocation.
    template <token_for<bool> Token = use_awaitable_t>
    auto async_get_into(std::string_view key, item& out, Token&& token = {})
    {
        return start<bool>(get_one(false, {}, key), std::forward<Token>(token), detail::scope::key,
                           {&out});
    }

    /// gets into the caller's item (with its CAS unique), as async_get_into.
    template <token_for<bool> Token = use_awaitable_t>
    auto async_gets_into(std::string_view key, item& out, Token&& token = {})
    {
        return start<bool>(get_one(true, {}, key), std::forward<Token>(token), detail::scope::key,
                           {&out});
    }

    /// gets: like get, with the item's CAS unique filled in.
    template <token_for<get_result> Token = use_awaitable_t>
    auto async_gets(std::string_view key, Token&& token = {})
    {
        return start<get_result>(get_one(true, {}, key), std::forward<Token>(token));
    }

    /// gat: get and set the item's expiry to `expiry`.
    template <token_for<get_result> Token = use_awaitable_t>
    auto async_gat(std::string_view key, ttl expiry, Token&& token = {})
    {
        return start<get_result>(get_one(false, expiry.count(), key), std::forward<Token>(token));
    }

    /// gats: gat with the CAS unique.
    template <token_for<get_result> Token = use_awaitable_t>
    auto async_gats(std::string_view key, ttl expiry, Token&& token = {})
    {
        return start<get_result>(get_one(true, expiry.count(), key), std::forward<Token>(token));
    }

    /// Meta get (the meta protocol only; on the text protocol errc::not_supported, nothing
    /// sent): the item with its CAS unique and what the server says of it, with a lease on a
    /// miss, early recache and the item's metadata as `opts` asks.
    /// `void(std::error_code, meta_get_result)`; empty on a miss (never with a lease: a miss
    /// then creates the placeholder this caller won). See docs/leases.md.
    template <token_for<meta_get_result> Token = use_awaitable_t>
    auto async_meta_get(std::string_view key, meta_get_options opts = {}, Token&& token = {})
    {
        auto r = get_one(true, opts.touch ? std::optional(opts.touch->count()) : std::nullopt, key);
        auto& q = detail::as<proto::retrieval>(r);
        if (opts.lease.count() != 0)
            q.vivify = opts.lease.count();
        if (opts.recache.count() != 0)
            q.recache = opts.recache.count();
        q.item_info = opts.item_info;
        return start<meta_get_result>(std::move(r), std::forward<Token>(token));
    }

    /// Reads `key`, or computes its value and caches it: the helper against thundering herds.
    /// Concurrent calls for one key on this client share one read and one computation
    /// (singleflight); on the meta protocol a lease holds the other processes off: the first
    /// caller anywhere to miss computes, the others wait for its value (or serve the stale
    /// one, after async_invalidate), and a computation that fails or times out releases the
    /// lease. On the text protocol there is no lease: each process that misses computes, and
    /// writes with `add` (never over a newer value). Throws memcoro::error on failure, or what
    /// `compute` threw. A coroutine: the client must outlive it. See docs/leases.md.
    asio::awaitable<computed_value> async_get_or_compute(std::string key, compute_fn compute,
                                                         compute_options opts = {});

    /// Multi-key get: one batched request per server.
    /// `void(std::error_code, get_multi_result)`: every key's outcome, a hit, a miss or an
    /// error (its server failed or is down). The call fails only when every key failed, or
    /// for an invalid key.
    template <std::ranges::input_range Keys, token_for<get_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi(const Keys& keys, Token&& token = {})
    {
        return start<get_multi_result>(get_many(false, {}, keys), std::forward<Token>(token),
                                       detail::scope::keys);
    }

    /// Multi-key get into the caller's result: `void(std::error_code)`. On success `out`
    /// holds every key's outcome (hits, misses, errors and slots) as async_get_multi returns
    /// it; on failure or cancellation it is untouched. `out` must stay valid until the
    /// operation completes and must not be used meanwhile; its items and strings are reused
    /// (their capacity), so calls with a warm `out` allocate nothing per key.
    template <std::ranges::input_range Keys, token_for<void> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi_into(const Keys& keys, get_multi_result& out, Token&& token = {})
    {
        return start<void>(get_many(false, {}, keys), std::forward<Token>(token),
                           detail::scope::keys, {&out});
    }

    /// Multi-key gets (with CAS uniques) into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, token_for<void> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gets_multi_into(const Keys& keys, get_multi_result& out, Token&& token = {})
    {
        return start<void>(get_many(true, {}, keys), std::forward<Token>(token),
                           detail::scope::keys, {&out});
    }

    /// Multi-key gets (with CAS uniques).
    template <std::ranges::input_range Keys, token_for<get_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gets_multi(const Keys& keys, Token&& token = {})
    {
        return start<get_multi_result>(get_many(true, {}, keys), std::forward<Token>(token),
                                       detail::scope::keys);
    }

    /// Multi-key gat: fetch and re-set the expiry of every key.
    template <std::ranges::input_range Keys, token_for<get_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gat_multi(const Keys& keys, ttl expiry, Token&& token = {})
    {
        return start<get_multi_result>(get_many(false, expiry.count(), keys),
                                       std::forward<Token>(token), detail::scope::keys);
    }

    /// Multi-key gats: gat with the CAS uniques.
    template <std::ranges::input_range Keys, token_for<get_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gats_multi(const Keys& keys, ttl expiry, Token&& token = {})
    {
        return start<get_multi_result>(get_many(true, expiry.count(), keys),
                                       std::forward<Token>(token), detail::scope::keys);
    }

    /// Multi-key gat into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, token_for<void> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gat_multi_into(const Keys& keys, ttl expiry, get_multi_result& out,
                              Token&& token = {})
    {
        return start<void>(get_many(false, expiry.count(), keys), std::forward<Token>(token),
                           detail::scope::keys, {&out});
    }

    /// Multi-key gats into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, token_for<void> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gats_multi_into(const Keys& keys, ttl expiry, get_multi_result& out,
                               Token&& token = {})
    {
        return start<void>(get_many(true, expiry.count(), keys), std::forward<Token>(token),
                           detail::scope::keys, {&out});
    }

    /// Multi-key set: every key's request is sent at once, to its own server (one request per
    /// server). `items`: a range of (key, value) pairs (std::pair, std::tuple, a map...).
    /// `void(std::error_code, store_multi_result)`: one entry per key, with its status or its
    /// error; the call itself fails only when no key could be stored anywhere (or a key is
    /// invalid).
    template <std::ranges::input_range Items, token_for<store_multi_result> Token = use_awaitable_t>
    requires requires(std::ranges::range_reference_t<const Items> kv)
    {
        std::string_view(std::get<0>(kv));
        std::string_view(std::get<1>(kv));
    }
    auto async_set_multi(const Items& items, store_options opts = {}, Token&& token = {})
    {
        auto r = set_many(opts);
        auto& q = detail::as<proto::storage>(r);
        for (auto&& kv : items) {
            detail::add_key(q.keys.own(), std::string_view(std::get<0>(kv)));
            q.values.own().emplace_back(std::string_view(std::get<1>(kv)));
        }
        return start<store_multi_result>(std::move(r), std::forward<Token>(token),
                                         detail::scope::keys);
    }

    /// Multi-key set of separate key and value ranges, key i with value i: as above. Ranges
    /// of different lengths fail the call with errc::invalid_argument.
    template <std::ranges::input_range Keys, std::ranges::input_range Values,
              token_for<store_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<const Keys>, std::string_view> &&
        std::convertible_to<std::ranges::range_reference_t<const Values>, std::string_view>
    auto async_set_multi(const Keys& keys, const Values& values, store_options opts = {},
                         Token&& token = {})
    {
        auto r = set_many(opts);
        auto& q = detail::as<proto::storage>(r);
        for (auto&& k : keys)
            detail::add_key(q.keys.own(), k);
        for (auto&& v : values)
            q.values.own().emplace_back(std::string_view(v));
        return start<store_multi_result>(std::move(r), std::forward<Token>(token),
                                         detail::scope::keys);
    }

    /// Multi-key delete, sent at once: `void(std::error_code, delete_multi_result)`.
    template <std::ranges::input_range Keys, token_for<delete_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_delete_multi(const Keys& keys, Token&& token = {})
    {
        return async_delete_multi(keys, delete_options{}, std::forward<Token>(token));
    }

    /// The same, with options (delete_options::quiet: a quiet batch on the meta protocol).
    template <std::ranges::input_range Keys, token_for<delete_multi_result> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_delete_multi(const Keys& keys, delete_options opts, Token&& token = {})
    {
        auto r = detail::make_request<proto::deletion>();
        auto& q = detail::as<proto::deletion>(r);
        q.quiet = opts.quiet;
        for (auto&& k : keys)
            detail::add_key(q.keys.own(), k);
        return start<delete_multi_result>(std::move(r), std::forward<Token>(token),
                                          detail::scope::keys);
    }

    /// touch: `void(std::error_code, touch_status)`.
    template <token_for<touch_status> Token = use_awaitable_t>
    auto async_touch(std::string_view key, ttl expiry, Token&& token = {})
    {
        auto r = detail::make_request<proto::touch>();
        auto& q = detail::as<proto::touch>(r);
        q.key.assign(key);
        q.exptime = expiry.count();
        return start<touch_status>(std::move(r), std::forward<Token>(token));
    }

    // ---- storage: void(std::error_code, store_status) ------------------------------------

    /// set: stores `value` under `key`, whether or not the key exists.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_set(std::string_view key, std::string_view value, store_options opts = {},
                   Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::set, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    /// add: stores only if the key does not exist (`not_stored` if it does).
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_add(std::string_view key, std::string_view value, store_options opts = {},
                   Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::add, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    /// replace: stores only if the key exists (`not_stored` if it does not).
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_replace(std::string_view key, std::string_view value, store_options opts = {},
                       Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::replace, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    /// append: flags and expiry of the existing item are kept (the options are ignored).
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_append(std::string_view key, std::string_view value, Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::append, key, value, {}, 0),
                                   std::forward<Token>(token));
    }

    /// prepend: puts `value` before the existing item's value, as async_append.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_prepend(std::string_view key, std::string_view value, Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::prepend, key, value, {}, 0),
                                   std::forward<Token>(token));
    }

    /// cas: stores only if the item's CAS unique is still `cas_unique` (from gets):
    /// `exists` if it changed, `not_found` if it is gone.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_cas(std::string_view key, std::string_view value, std::uint64_t cas_unique,
                   store_options opts = {}, Token&& token = {})
    {
        return start<store_status>(store(proto::store_mode::cas, key, value, opts, cas_unique),
                                   std::forward<Token>(token));
    }

    // ---- values: client_config::values applied -----------------------------------------
    // Values written with their type, compressed by the configured policy, in the configured
    // format (memcoro's own, or a PHP client's: docs/values.md); values read decompressed
    // (never beyond value_options::max_value_size) and checked against their type. A value
    // that does not decode fails that key with a value::value_errc or value::compression_errc
    // (with use_awaitable, memcoro::error names the key, its flags and size), never with
    // another value. Writes that cannot be encoded (a type the format lacks, user flags it
    // has no room for) fail before anything is sent.

    /// get, decoded: `void(std::error_code, std::optional<value_item>)`; empty on a miss.
    template <token_for<std::optional<value_item>> Token = use_awaitable_t>
    auto async_get_value(std::string_view key, Token&& token = {})
    {
        return start_decoded<value_item>(get_one(false, {}, key), std::forward<Token>(token));
    }

    /// gets, decoded: as async_get_value, with the item's CAS unique in `value_item::cas`
    /// (for async_cas_as).
    template <token_for<std::optional<value_item>> Token = use_awaitable_t>
    auto async_gets_value(std::string_view key, Token&& token = {})
    {
        return start_decoded<value_item>(get_one(true, {}, key), std::forward<Token>(token));
    }

    /// get as T (value_codec<T>): `void(std::error_code, std::optional<T>)`; empty on a miss;
    /// value::value_errc::type_mismatch when the value stored is not a T.
    template <value_codec_for T, token_for<std::optional<T>> Token = use_awaitable_t>
    auto async_get_as(std::string_view key, Token&& token = {})
    {
        return start_decoded<T>(get_one(false, {}, key), std::forward<Token>(token));
    }

    /// Multi-key get as T: `void(std::error_code, std::vector<keyed_value<T>>)`, one entry
    /// per key in request order: its value, a miss, or its error (its server's, or its
    /// value's decoding). The call fails only as async_get_multi does.
    template <value_codec_for T, std::ranges::input_range Keys,
              token_for<std::vector<keyed_value<T>>> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi_as(const Keys& keys, Token&& token = {})
    {
        return start_decoded_multi<T>(get_many(false, {}, keys), std::forward<Token>(token));
    }

    /// Multi-key get, decoded: as async_get_multi_as, with each hit as a value_item.
    template <std::ranges::input_range Keys,
              token_for<std::vector<keyed_value<value_item>>> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi_values(const Keys& keys, Token&& token = {})
    {
        return start_decoded_multi<value_item>(get_many(false, {}, keys),
                                               std::forward<Token>(token));
    }

    /// Multi-key gets, decoded: as async_get_multi_values, each value_item with its CAS unique
    /// (for async_cas_value).
    template <std::ranges::input_range Keys,
              token_for<std::vector<keyed_value<value_item>>> Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gets_multi_values(const Keys& keys, Token&& token = {})
    {
        return start_decoded_multi<value_item>(get_many(true, {}, keys),
                                               std::forward<Token>(token));
    }

    /// set of `data` stored as type `t`: `void(std::error_code, store_status)`. `data` must be
    /// a valid value of `t` (value::encode), else value_errc::type_mismatch before anything
    /// is sent.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_set_value(std::string_view key, value::value_type t, std::string_view data,
                         value_store_options opts = {}, Token&& token = {})
    {
        return store_encoded(proto::store_mode::set, key, t, data, opts, 0,
                             std::forward<Token>(token));
    }

    /// add of `data` stored as type `t`: stored only if the key does not exist (`not_stored`
    /// if it does); otherwise as async_set_value.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_add_value(std::string_view key, value::value_type t, std::string_view data,
                         value_store_options opts = {}, Token&& token = {})
    {
        return store_encoded(proto::store_mode::add, key, t, data, opts, 0,
                             std::forward<Token>(token));
    }

    /// replace of `data` stored as type `t`: stored only if the key exists (`not_stored` if
    /// it does not); otherwise as async_set_value.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_replace_value(std::string_view key, value::value_type t, std::string_view data,
                             value_store_options opts = {}, Token&& token = {})
    {
        return store_encoded(proto::store_mode::replace, key, t, data, opts, 0,
                             std::forward<Token>(token));
    }

    /// cas of `data` stored as type `t`: stored only if the item's CAS unique is still
    /// `cas_unique` (from async_gets_value): `exists` if it changed, `not_found` if it is
    /// gone; otherwise as async_set_value.
    template <token_for<store_status> Token = use_awaitable_t>
    auto async_cas_value(std::string_view key, value::value_type t, std::string_view data,
                         std::uint64_t cas_unique, value_store_options opts = {},
                         Token&& token = {})
    {
        return store_encoded(proto::store_mode::cas, key, t, data, opts, cas_unique,
                             std::forward<Token>(token));
    }

    /// set of a T (value_codec<T>): `void(std::error_code, store_status)`.
    template <value_codec_for T, token_for<store_status> Token = use_awaitable_t>
    auto async_set_as(std::string_view key, const T& v, value_store_options opts = {},
                      Token&& token = {})
    {
        return store_as(proto::store_mode::set, key, v, opts, 0, std::forward<Token>(token));
    }

    /// add of a T: stored only if the key does not exist (`not_stored` if it does).
    template <value_codec_for T, token_for<store_status> Token = use_awaitable_t>
    auto async_add_as(std::string_view key, const T& v, value_store_options opts = {},
                      Token&& token = {})
    {
        return store_as(proto::store_mode::add, key, v, opts, 0, std::forward<Token>(token));
    }

    /// replace of a T: stored only if the key exists (`not_stored` if it does not).
    template <value_codec_for T, token_for<store_status> Token = use_awaitable_t>
    auto async_replace_as(std::string_view key, const T& v, value_store_options opts = {},
                          Token&& token = {})
    {
        return store_as(proto::store_mode::replace, key, v, opts, 0, std::forward<Token>(token));
    }

    /// cas of a T: stored only if the item's CAS unique is still `cas_unique` (from
    /// async_gets_value): `exists` if it changed, `not_found` if it is gone.
    template <value_codec_for T, token_for<store_status> Token = use_awaitable_t>
    auto async_cas_as(std::string_view key, const T& v, std::uint64_t cas_unique,
                      value_store_options opts = {}, Token&& token = {})
    {
        return store_as(proto::store_mode::cas, key, v, opts, cas_unique,
                        std::forward<Token>(token));
    }

    /// Multi-key set of Ts (`items`: pairs of key and T): `void(std::error_code,
    /// store_multi_result)`, as async_set_multi. A value that cannot be encoded fails the
    /// whole call before anything is sent.
    template <std::ranges::input_range Items, token_for<store_multi_result> Token = use_awaitable_t>
    requires requires(std::ranges::range_reference_t<const Items> kv)
    {
        std::string_view(std::get<0>(kv));
        requires value_codec_for<std::remove_cvref_t<decltype(std::get<1>(kv))>>;
    }
    auto async_set_multi_as(const Items& items, value_store_options opts = {}, Token&& token = {})
    {
        const auto vs = value_settings();
        auto r = set_many(store_options{.expiry = opts.expiry});
        auto& q = detail::as<proto::storage>(r);
        std::error_code ec;
        std::string what;
        std::string text;
        for (auto&& kv : items) {
            const std::string_view key(std::get<0>(kv));
            using T = std::remove_cvref_t<decltype(std::get<1>(kv))>;
            text.clear();
            const auto t = value_codec<T>::encode(std::get<1>(kv), vs.format, text);
            std::uint32_t flags = 0;
            auto& stored = q.values.own().emplace_back();
            ec = value::encode_for_store(vs, t, text, opts, stored, flags);
            if (ec) {
                what = describe_encode_failure(key, t, ec);
                break;
            }
            detail::add_key(q.keys.own(), key);
            q.key_flags.push_back(flags);
        }
        return start_checked<store_multi_result>(std::move(r), detail::scope::keys, ec,
                                                 std::move(what), std::forward<Token>(token));
    }

    // ---- others ----------------------------------------------------------------------------

    /// Fire-and-forget set: queued at once, no completion to wait for. On the meta protocol
    /// it goes quietly (store_options::quiet), so the server answers only a failure; a failure
    /// (see write_failure) is handed to client_config::on_write_failure, never dropped.
    void send_set(std::string_view key, std::string_view value, store_options opts = {});
    /// Fire-and-forget delete, as send_set: a key already absent is not a failure.
    void send_delete(std::string_view key);

    /// delete: `void(std::error_code, delete_status)`.
    template <token_for<delete_status> Token = use_awaitable_t>
    auto async_delete(std::string_view key, Token&& token = {})
    {
        auto r = detail::make_request<proto::deletion>();
        detail::add_key(detail::as<proto::deletion>(r).keys.own(), key);
        return start<delete_status>(std::move(r), std::forward<Token>(token));
    }

    /// delete only if the item's CAS unique is still `cas_unique` (from gets or a meta get;
    /// the meta protocol only): `exists` if it changed, `not_found` if it is gone.
    template <token_for<delete_status> Token = use_awaitable_t>
    auto async_delete_cas(std::string_view key, std::uint64_t cas_unique, Token&& token = {})
    {
        auto r = detail::make_request<proto::deletion>();
        auto& q = detail::as<proto::deletion>(r);
        detail::add_key(q.keys.own(), key);
        q.cas_unique = cas_unique;
        return start<delete_status>(std::move(r), std::forward<Token>(token));
    }

    /// invalidate (the meta protocol only): marks the item stale instead of deleting it.
    /// Readers still get its value, flagged `stale`; the first of them also `won` the right
    /// to recompute it, the others are told `lease_taken`. `stale_ttl`: the stale item's new
    /// TTL (empty: it keeps its own); `cas_unique` (non-zero): only if the item is still that
    /// version (`exists` otherwise). `void(std::error_code, delete_status)`: `deleted` when
    /// it was marked, `not_found` when there is no such item. See docs/leases.md.
    template <token_for<delete_status> Token = use_awaitable_t>
    auto async_invalidate(std::string_view key, std::optional<ttl> stale_ttl = {},
                          std::uint64_t cas_unique = 0, Token&& token = {})
    {
        auto r = detail::make_request<proto::deletion>();
        auto& q = detail::as<proto::deletion>(r);
        detail::add_key(q.keys.own(), key);
        q.invalidate = true;
        if (stale_ttl)
            q.stale_ttl = stale_ttl->count();
        q.cas_unique = cas_unique;
        return start<delete_status>(std::move(r), std::forward<Token>(token));
    }

    /// incr: `void(std::error_code, arith_result)`: the new value (64-bit, wraps at 2^64),
    /// or empty if the key does not exist. A non-numeric value is `errc::client_error`.
    template <token_for<arith_result> Token = use_awaitable_t>
    auto async_incr(std::string_view key, std::uint64_t delta, Token&& token = {})
    {
        return start<arith_result>(arithmetic(false, key, delta), std::forward<Token>(token));
    }

    /// decr: like incr; memcached stops at 0.
    template <token_for<arith_result> Token = use_awaitable_t>
    auto async_decr(std::string_view key, std::uint64_t delta, Token&& token = {})
    {
        return start<arith_result>(arithmetic(true, key, delta), std::forward<Token>(token));
    }

    /// flush_all on every server: `void(std::error_code)`.
    template <token_for<void> Token = use_awaitable_t>
    auto async_flush_all(Token&& token = {})
    {
        return start<void>(detail::make_request<proto::flush>(), std::forward<Token>(token),
                           detail::scope::every_server);
    }

    /// flush_all with a delay: items are invalidated `delay` from now.
    template <token_for<void> Token = use_awaitable_t>
    auto async_flush_all(std::chrono::seconds delay, Token&& token = {})
    {
        auto r = detail::make_request<proto::flush>();
        detail::as<proto::flush>(r).delay = delay.count();
        return start<void>(std::move(r), std::forward<Token>(token), detail::scope::every_server);
    }

    /// version of the first server: `void(std::error_code, std::string)`.
    template <token_for<std::string> Token = use_awaitable_t>
    auto async_version(Token&& token = {})
    {
        return start<std::string>(detail::make_request<proto::version>(),
                                  std::forward<Token>(token), detail::scope::first_server);
    }

    /// stats of the first server; `group` is "" (general), "items", "slabs", "sizes",
    /// "settings", "conns", ...: `void(std::error_code, stats_result)`.
    template <token_for<stats_result> Token = use_awaitable_t>
    auto async_stats(std::string_view group = {}, Token&& token = {})
    {
        return start<stats_result>(stats(group), std::forward<Token>(token),
                                   detail::scope::first_server);
    }

    /// stats of every server at once (PECL's getExtendedStats):
    /// `void(std::error_code, stats_all_result)`, one entry per server with its error.
    template <token_for<stats_all_result> Token = use_awaitable_t>
    auto async_stats_all(std::string_view group = {}, Token&& token = {})
    {
        return start<stats_all_result>(stats(group), std::forward<Token>(token),
                                       detail::scope::every_server);
    }

    /// verbosity on every server: `void(std::error_code)`.
    template <token_for<void> Token = use_awaitable_t>
    auto async_verbosity(unsigned level, Token&& token = {})
    {
        auto r = detail::make_request<proto::verbosity>();
        detail::as<proto::verbosity>(r).level = level;
        return start<void>(std::move(r), std::forward<Token>(token), detail::scope::every_server);
    }

private:
    template <class R, class Token>
    auto start(detail::request_ptr req, Token&& token, detail::scope where = detail::scope::key,
               detail::destination<R> dest = {})
    {
        return asio::async_initiate<Token, typename detail::result_traits<R>::signature>(
            detail::initiate_op<R>{router(), where, dest}, token, std::move(req));
    }

    static detail::request_ptr get_one(bool with_cas, std::optional<std::int64_t> exptime,
                                       std::string_view key)
    {
        auto r = detail::make_request<proto::retrieval>();
        auto& q = detail::as<proto::retrieval>(r);
        q.with_cas = with_cas;
        q.exptime = exptime;
        detail::add_key(q.keys.own(), key);
        return r;
    }

    template <class Keys>
    static detail::request_ptr get_many(bool with_cas, std::optional<std::int64_t> exptime,
                                        const Keys& keys)
    {
        auto r = detail::make_request<proto::retrieval>();
        auto& q = detail::as<proto::retrieval>(r);
        q.with_cas = with_cas;
        q.exptime = exptime;
        auto& own = q.keys.own();
        if constexpr (std::ranges::sized_range<const Keys>)
            own.reserve(std::ranges::size(keys)); // (a recycled request's room stays)
        for (auto&& k : keys)
            detail::add_key(own, k);
        return r;
    }

    static detail::request_ptr store(proto::store_mode m, std::string_view key,
                                     std::string_view value, const store_options& opts,
                                     std::uint64_t cas)
    {
        auto r = detail::make_request<proto::storage>();
        auto& q = detail::as<proto::storage>(r);
        q.mode = m;
        detail::add_key(q.keys.own(), key);
        auto& values = q.values.own();
        if (values.empty())
            values.emplace_back(value);
        else
            values.front().assign(value);
        q.flags = opts.flags;
        q.exptime = opts.expiry.count();
        q.cas_unique = cas;
        q.quiet = opts.quiet;
        return r;
    }

    static detail::request_ptr set_many(const store_options& opts)
    {
        auto r = detail::make_request<proto::storage>();
        auto& q = detail::as<proto::storage>(r);
        q.flags = opts.flags;
        q.exptime = opts.expiry.count();
        q.quiet = opts.quiet;
        q.values.own().clear(); // (a recycled request keeps one empty value)
        return r;
    }

    static detail::request_ptr arithmetic(bool decrement, std::string_view key, std::uint64_t delta)
    {
        auto r = detail::make_request<proto::arithmetic>();
        auto& q = detail::as<proto::arithmetic>(r);
        q.decrement = decrement;
        q.key.assign(key);
        q.delta = delta;
        return r;
    }

    static detail::request_ptr stats(std::string_view group)
    {
        auto r = detail::make_request<proto::stats>();
        detail::as<proto::stats>(r).group.assign(group);
        return r;
    }

    /// client_config::values, resolved.
    value::value_settings value_settings() const;
    /// "key 'K' cannot be stored as TYPE: MESSAGE".
    static std::string describe_encode_failure(std::string_view key, value::value_type t,
                                               std::error_code ec);

    /// Starts `req` as an operation of result R; or, when `early` is an error, completes
    /// with it at once (posted to the handler's executor, `what` as its diagnostics) and sends
    /// nothing. One initiation for both, so that every completion token sees one type.
    template <class R, class Token>
    auto start_checked(detail::request_ptr req, detail::scope where, std::error_code early,
                       std::string what, Token&& token)
    {
        return asio::async_initiate<Token, typename detail::result_traits<R>::signature>(
            [init = detail::initiate_op<R>{router(), where, {}}, ex = get_executor()](
                auto handler, detail::request_ptr req, std::error_code early, std::string what) {
                if (!early) {
                    init(std::move(handler), std::move(req));
                    return;
                }
                detail::annotate(handler, {}, what, {});
                auto hex = asio::get_associated_executor(handler, ex);
                asio::post(hex,
                           [h = std::move(handler), early]() mutable { std::move(h)(early, R{}); });
            },
            token, std::move(req), early, std::move(what));
    }

    /// Encodes `data` of type `t` into the request of a `m` write and starts it (after its
    /// chunks, when it is chunked).
    template <class Token>
    auto store_encoded(proto::store_mode m, std::string_view key, value::value_type t,
                       std::string_view data, const value_store_options& opts, std::uint64_t cas,
                       Token&& token)
    {
        const auto vs = value_settings();
        auto r = store(m, key, {}, store_options{.expiry = opts.expiry}, cas);
        auto& q = detail::as<proto::storage>(r);
        std::uint32_t flags = 0;
        auto ec = value::encode_for_store(vs, t, data, opts, q.values.own().front(), flags);
        q.flags = flags;
        detail::request_ptr chunks;
        if (!ec && vs.chunk_size != 0)
            ec = detail::split_into_chunks(vs, q, chunks);
        std::string what;
        if (ec)
            what = describe_encode_failure(key, t, ec);
        return asio::async_initiate<Token, void(std::error_code, store_status)>(
            [init = detail::initiate_op<store_status>{router(), detail::scope::key, {}},
             ex = get_executor()](auto handler, detail::request_ptr req, detail::request_ptr chunks,
                                  std::error_code early, std::string what) {
                if (early) {
                    detail::annotate(handler, {}, what, {});
                    auto hex = asio::get_associated_executor(handler, ex);
                    asio::post(hex, [h = std::move(handler), early]() mutable {
                        std::move(h)(early, store_status{});
                    });
                    return;
                }
                if (!chunks) {
                    init(std::move(handler), std::move(req));
                    return;
                }
                using handler_type = std::decay_t<decltype(handler)>;
                std::string k(detail::as<proto::storage>(req).keys[0]);
                using next = detail::then_handler<handler_type, detail::store_index_after_chunks>;
                detail::initiate_op<store_multi_result>{init.target, detail::scope::keys, {}}(
                    next{std::move(handler),
                         detail::store_index_after_chunks{init.target, std::move(req),
                                                          std::move(k)}},
                    std::move(chunks));
            },
            token, std::move(r), std::move(chunks), ec, std::move(what));
    }

    /// Encodes `v` with its codec and starts a `m` write of it.
    template <class T, class Token>
    auto store_as(proto::store_mode m, std::string_view key, const T& v,
                  const value_store_options& opts, std::uint64_t cas, Token&& token)
    {
        std::string text;
        const auto t = value_codec<T>::encode(v, config().values.format, text);
        return store_encoded(m, key, t, text, opts, cas, std::forward<Token>(token));
    }

    /// Starts the single-key retrieval `req`; its hit is decoded into a T on completion.
    template <class T, class Token>
    auto start_decoded(detail::request_ptr req, Token&& token)
    {
        return start_then<std::optional<T>, get_result>(
            std::move(req), detail::scope::key,
            [vs = value_settings(), target = router()](auto& h, std::error_code ec, get_result r) {
                if (!ec && r && detail::read_if_chunked<T>(target, vs, h, *r))
                    return;
                std::optional<T> out;
                if (!ec && r) {
                    ec = detail::decode_hit(vs, *r, out);
                    if (ec)
                        detail::annotate(
                            h, {},
                            value::describe_decode_failure(r->key, r->flags, r->value.size(), ec),
                            {});
                }
                std::move(h)(ec, std::move(out));
            },
            std::forward<Token>(token));
    }

    /// Starts the multi-key retrieval `req`; its hits are decoded into Ts on completion.
    template <class T, class Token>
    auto start_decoded_multi(detail::request_ptr req, Token&& token)
    {
        return start_then<std::vector<keyed_value<T>>, get_multi_result>(
            std::move(req), detail::scope::keys,
            [vs = value_settings(), target = router()](auto& h, std::error_code ec,
                                                       get_multi_result r) {
                using later = detail::read_multi_chunks<T>;
                std::vector<keyed_value<T>> out;
                std::vector<typename later::pending_key> pending;
                if (!ec) {
                    out.reserve(r.slots.size());
                    for (const key_slot& slot : r.slots) {
                        auto& kv = out.emplace_back();
                        switch (slot.status) {
                        case key_status::hit: {
                            item& it = r.hits[slot.index];
                            kv.key = it.key;
                            if (it.flags == value::chunk::index_flags) {
                                value::chunk::index ix;
                                kv.ec = value::chunk::parse_index(it.value, vs.max_value_size, ix);
                                if (!kv.ec)
                                    pending.push_back({out.size() - 1, ix, it.cas});
                                break;
                            }
                            kv.ec = detail::decode_hit(vs, it, kv.value);
                            break;
                        }
                        case key_status::miss:
                            kv.key = r.misses[slot.index];
                            break;
                        case key_status::error:
                            kv.key = r.errors[slot.index].first;
                            kv.ec = r.errors[slot.index].second;
                            break;
                        }
                    }
                }
                if (!pending.empty()) {
                    auto req = detail::chunk_retrieval_of(pending);
                    using handler_type = std::decay_t<decltype(h)>;
                    detail::initiate_op<get_multi_result>{target, detail::scope::keys, {}}(
                        detail::then_handler<handler_type, later>{
                            std::move(h), later{vs, std::move(out), std::move(pending)}},
                        std::move(req));
                    return;
                }
                std::move(h)(ec, std::move(out));
            },
            std::forward<Token>(token));
    }

    /// Starts `req` as an operation of result Inner whose completion `fn(handler, ec, inner)`
    /// turns into the caller's R.
    template <class R, class Inner, class Fn, class Token>
    auto start_then(detail::request_ptr req, detail::scope where, Fn fn, Token&& token)
    {
        return asio::async_initiate<Token, typename detail::result_traits<R>::signature>(
            [init = detail::initiate_op<Inner>{router(), where, {}},
             fn = std::move(fn)](auto handler, detail::request_ptr req) mutable {
                using handler_type = std::decay_t<decltype(handler)>;
                init(detail::then_handler<handler_type, Fn>{std::move(handler), std::move(fn)},
                     std::move(req));
            },
            token, std::move(req));
    }
    std::shared_ptr<detail::router> router() const;
    /// async_get_or_compute: the background refresh of an early recache won.
    void refresh_later(const asio::any_io_executor& ex, std::string key, compute_fn compute,
                       const compute_options& opts, std::uint64_t cas_unique);

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace memcoro
