#pragma once
/// \file
/// memcoro::client: every memcached operation as an Asio asynchronous operation.

#include <memcoro/config.hpp>
#include <memcoro/detail/op.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/types.hpp>
#include <memcoro/use_awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memcoro {

namespace detail {
class client_impl;
}

/// A memcached client bound to an executor.
///
/// Every operation `async_X(..., token)` follows Asio's completion-token model with
/// completion signature `void(std::error_code, R)` (`void(std::error_code)` where noted); the
/// default token `memcoro::use_awaitable` makes it `co_await`-able and throws
/// `memcoro::error` on failure. Outcomes that are not failures (a miss, NOT_STORED, EXISTS,
/// NOT_FOUND) are values of R.
///
/// **Arguments** are copied when the operation is initiated; the caller's strings may go away
/// at once. **Cancellation**: terminal, partial and total cancellation are honoured. A
/// request cancelled (or timed out) before it was written is never sent; one already written
/// may still take effect on the server, and its reply is read and discarded, so it can never
/// be delivered to another caller.
///
/// **Threads**: the client's state lives on its executor. Calls may be made from any thread:
/// they are dispatched to that executor. If the io_context runs on several threads, give the
/// client a strand (`asio::make_strand(ioc)`); completion handlers run on their own
/// associated executor (the coroutine's, for `co_await`).
///
/// **Lifetime**: connections are opened on first use and kept. Destroying the client (or
/// calling close()) completes pending operations with `asio::error::operation_aborted`.
class client {
public:
    using executor_type = asio::any_io_executor;

    /// Throws std::invalid_argument for an unusable configuration (e.g. a zero weight). With
    /// no servers, operations fail with errc::no_servers until add_server().
    client(executor_type ex, client_config cfg);
    /// `servers`: "host:port[:weight],..." as parsed by server_address::parse_list.
    client(executor_type ex, std::string_view servers);
    ~client();
    client(client&&) noexcept;
    client& operator=(client&&) noexcept;
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    executor_type get_executor() const noexcept;
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
    void add_server(std::string_view host, std::uint16_t port, server_options options = {});
    /// Removes a server ("host:port"); its pending operations complete with operation_aborted.
    void remove_server(std::string_view name);
    /// Changes a server's options at run time (setServerParams), its status included.
    void set_server_params(std::string_view name, server_options options);
    /// Marks a server up or down by hand.
    void mark_server(std::string_view name, memcoro::server_status status);
    /// A server's state and counters, or empty if there is no such server: by name
    /// ("host:port" or socket path), or by host and port (PECL's getServerStatus).
    std::optional<server_info> server(std::string_view name) const;
    std::optional<server_info> server(std::string_view host, std::uint16_t port) const;
    /// Every server's state and counters, in configuration order.
    std::vector<server_info> servers() const;
    /// The same as JSON (counters, latency histogram, status) per server.
    std::string servers_json() const;
    /// The server ("host:port") a key maps to, ignoring up/down state.
    std::string server_for_key(std::string_view key) const;

    // ---- retrieval -----------------------------------------------------------------------

    /// get: `void(std::error_code, get_result)`; an empty result is a miss.
    template <class Token = use_awaitable_t>
    auto async_get(std::string_view key, Token&& token = {})
    {
        return start<get_result>(single(proto::command::get, key), std::forward<Token>(token));
    }

    /// get into the caller's item: `void(std::error_code, bool)`, true on a hit, when `out`
    /// holds the item (key, value, flags). `out` must stay valid until the operation
    /// completes; its strings' capacity is reused, so a warm `out` costs no allocation.
    template <class Token = use_awaitable_t>
    auto async_get_into(std::string_view key, item& out, Token&& token = {})
    {
        return start<bool>(single(proto::command::get, key), std::forward<Token>(token), &out);
    }

    /// gets into the caller's item (with its CAS unique), as async_get_into.
    template <class Token = use_awaitable_t>
    auto async_gets_into(std::string_view key, item& out, Token&& token = {})
    {
        return start<bool>(single(proto::command::gets, key), std::forward<Token>(token), &out);
    }

    /// gets: like get, with the item's CAS unique filled in.
    template <class Token = use_awaitable_t>
    auto async_gets(std::string_view key, Token&& token = {})
    {
        return start<get_result>(single(proto::command::gets, key), std::forward<Token>(token));
    }

    /// gat: get and set the item's expiry to `expiry`.
    template <class Token = use_awaitable_t>
    auto async_gat(std::string_view key, ttl expiry, Token&& token = {})
    {
        auto r = single(proto::command::gat, key);
        r->exptime = expiry.count();
        return start<get_result>(std::move(r), std::forward<Token>(token));
    }

    /// gats: gat with the CAS unique.
    template <class Token = use_awaitable_t>
    auto async_gats(std::string_view key, ttl expiry, Token&& token = {})
    {
        auto r = single(proto::command::gats, key);
        r->exptime = expiry.count();
        return start<get_result>(std::move(r), std::forward<Token>(token));
    }

    /// Multi-key get: one batched request per server.
    /// `void(std::error_code, get_multi_result)`. An invalid key fails the whole call.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi(const Keys& keys, Token&& token = {})
    {
        return start<get_multi_result>(multi(proto::command::get, keys, {}),
                                       std::forward<Token>(token));
    }

    /// Multi-key get into the caller's result: `void(std::error_code)`. On completion
    /// `out.hits` holds the hits in request order and `out.errors` the keys whose server
    /// failed, as async_get_multi returns them. `out` must stay valid until the operation
    /// completes and must not be used meanwhile; the items already in `out.hits` are reused
    /// (their strings' capacity), so calls with a warm `out` allocate nothing per hit.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_get_multi_into(const Keys& keys, get_multi_result& out, Token&& token = {})
    {
        return start<void>(multi(proto::command::get, keys, {}), std::forward<Token>(token),
                           nullptr, &out);
    }

    /// Multi-key gets (with CAS uniques) into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gets_multi_into(const Keys& keys, get_multi_result& out, Token&& token = {})
    {
        return start<void>(multi(proto::command::gets, keys, {}), std::forward<Token>(token),
                           nullptr, &out);
    }

    /// Multi-key gets (with CAS uniques).
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gets_multi(const Keys& keys, Token&& token = {})
    {
        return start<get_multi_result>(multi(proto::command::gets, keys, {}),
                                       std::forward<Token>(token));
    }

    /// Multi-key gat: fetch and re-set the expiry of every key.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gat_multi(const Keys& keys, ttl expiry, Token&& token = {})
    {
        return start<get_multi_result>(multi(proto::command::gat, keys, expiry),
                                       std::forward<Token>(token));
    }

    /// Multi-key gats: gat with the CAS uniques.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gats_multi(const Keys& keys, ttl expiry, Token&& token = {})
    {
        return start<get_multi_result>(multi(proto::command::gats, keys, expiry),
                                       std::forward<Token>(token));
    }

    /// Multi-key gat into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gat_multi_into(const Keys& keys, ttl expiry, get_multi_result& out,
                              Token&& token = {})
    {
        return start<void>(multi(proto::command::gat, keys, expiry), std::forward<Token>(token),
                           nullptr, &out);
    }

    /// Multi-key gats into the caller's result, as async_get_multi_into.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_gats_multi_into(const Keys& keys, ttl expiry, get_multi_result& out,
                               Token&& token = {})
    {
        return start<void>(multi(proto::command::gats, keys, expiry), std::forward<Token>(token),
                           nullptr, &out);
    }

    /// Multi-key set: every key's request is sent at once, to its own server.
    /// `items`: a range of (key, value) pairs. `void(std::error_code, store_multi_result)`:
    /// one entry per key, with its status or its error; the call itself fails only when no
    /// key could be stored anywhere (or a key is invalid).
    template <std::ranges::input_range Items, class Token = use_awaitable_t>
    auto async_set_multi(const Items& items, store_options opts = {}, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::set;
        r->multi_key = true;
        r->flags = opts.flags;
        r->exptime = opts.expiry.count();
        for (auto&& [k, v] : items) {
            detail::add_key(r->keys, k);
            r->values.emplace_back(std::string_view(v));
        }
        return start<store_multi_result>(std::move(r), std::forward<Token>(token));
    }

    /// Multi-key delete, sent at once: `void(std::error_code, delete_multi_result)`.
    template <std::ranges::input_range Keys, class Token = use_awaitable_t>
    requires std::convertible_to<std::ranges::range_reference_t<Keys>, std::string_view>
    auto async_delete_multi(const Keys& keys, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::del;
        r->multi_key = true;
        for (auto&& k : keys)
            detail::add_key(r->keys, k);
        return start<delete_multi_result>(std::move(r), std::forward<Token>(token));
    }

    /// touch: `void(std::error_code, touch_status)`.
    template <class Token = use_awaitable_t>
    auto async_touch(std::string_view key, ttl expiry, Token&& token = {})
    {
        auto r = single(proto::command::touch, key);
        r->exptime = expiry.count();
        return start<touch_status>(std::move(r), std::forward<Token>(token));
    }

    // ---- storage: void(std::error_code, store_status) ------------------------------------

    template <class Token = use_awaitable_t>
    auto async_set(std::string_view key, std::string_view value, store_options opts = {},
                   Token&& token = {})
    {
        return start<store_status>(store(proto::command::set, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    template <class Token = use_awaitable_t>
    auto async_add(std::string_view key, std::string_view value, store_options opts = {},
                   Token&& token = {})
    {
        return start<store_status>(store(proto::command::add, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    template <class Token = use_awaitable_t>
    auto async_replace(std::string_view key, std::string_view value, store_options opts = {},
                       Token&& token = {})
    {
        return start<store_status>(store(proto::command::replace, key, value, opts, 0),
                                   std::forward<Token>(token));
    }

    /// append: flags and expiry of the existing item are kept (the options are ignored).
    template <class Token = use_awaitable_t>
    auto async_append(std::string_view key, std::string_view value, Token&& token = {})
    {
        return start<store_status>(store(proto::command::append, key, value, {}, 0),
                                   std::forward<Token>(token));
    }

    template <class Token = use_awaitable_t>
    auto async_prepend(std::string_view key, std::string_view value, Token&& token = {})
    {
        return start<store_status>(store(proto::command::prepend, key, value, {}, 0),
                                   std::forward<Token>(token));
    }

    /// cas: stores only if the item's CAS unique is still `cas_unique` (from gets):
    /// `exists` if it changed, `not_found` if it is gone.
    template <class Token = use_awaitable_t>
    auto async_cas(std::string_view key, std::string_view value, std::uint64_t cas_unique,
                   store_options opts = {}, Token&& token = {})
    {
        return start<store_status>(store(proto::command::cas, key, value, opts, cas_unique),
                                   std::forward<Token>(token));
    }

    // ---- others ----------------------------------------------------------------------------

    /// delete: `void(std::error_code, delete_status)`.
    template <class Token = use_awaitable_t>
    auto async_delete(std::string_view key, Token&& token = {})
    {
        return start<delete_status>(single(proto::command::del, key), std::forward<Token>(token));
    }

    /// incr: `void(std::error_code, arith_result)`: the new value (64-bit, wraps at 2^64),
    /// or empty if the key does not exist. A non-numeric value is `errc::client_error`.
    template <class Token = use_awaitable_t>
    auto async_incr(std::string_view key, std::uint64_t delta, Token&& token = {})
    {
        auto r = single(proto::command::incr, key);
        r->cas = delta;
        return start<arith_result>(std::move(r), std::forward<Token>(token));
    }

    /// decr: like incr; memcached stops at 0.
    template <class Token = use_awaitable_t>
    auto async_decr(std::string_view key, std::uint64_t delta, Token&& token = {})
    {
        auto r = single(proto::command::decr, key);
        r->cas = delta;
        return start<arith_result>(std::move(r), std::forward<Token>(token));
    }

    /// flush_all on every server: `void(std::error_code)`.
    template <class Token = use_awaitable_t>
    auto async_flush_all(Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::flush_all;
        return start<void>(std::move(r), std::forward<Token>(token));
    }

    /// flush_all with a delay: items are invalidated `delay` from now.
    template <class Token = use_awaitable_t>
    auto async_flush_all(std::chrono::seconds delay, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::flush_all;
        r->exptime = delay.count();
        r->has_delay = true;
        return start<void>(std::move(r), std::forward<Token>(token));
    }

    /// version of the first server: `void(std::error_code, std::string)`.
    template <class Token = use_awaitable_t>
    auto async_version(Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::version;
        return start<std::string>(std::move(r), std::forward<Token>(token));
    }

    /// stats of the first server; `group` is "" (general), "items", "slabs", "sizes",
    /// "settings", "conns", ...: `void(std::error_code, stats_result)`.
    template <class Token = use_awaitable_t>
    auto async_stats(std::string_view group = {}, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::stats;
        r->group = std::string(group);
        return start<stats_result>(std::move(r), std::forward<Token>(token));
    }

    /// stats of every server at once (PECL's getExtendedStats):
    /// `void(std::error_code, stats_all_result)`, one entry per server with its error.
    template <class Token = use_awaitable_t>
    auto async_stats_all(std::string_view group = {}, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::stats;
        r->all_servers = true;
        r->group = std::string(group);
        return start<stats_all_result>(std::move(r), std::forward<Token>(token));
    }

    /// verbosity on every server: `void(std::error_code)`.
    template <class Token = use_awaitable_t>
    auto async_verbosity(unsigned level, Token&& token = {})
    {
        auto r = detail::make_request();
        r->cmd = proto::command::verbosity;
        r->exptime = level;
        return start<void>(std::move(r), std::forward<Token>(token));
    }

private:
    template <class R, class Token>
    auto start(detail::request_ptr req, Token&& token, item* sink = nullptr,
               get_multi_result* multi_sink = nullptr)
    {
        return asio::async_initiate<Token, typename detail::result_traits<R>::signature>(
            detail::initiate_op<R>{router(), sink, multi_sink}, token, std::move(req));
    }

    static detail::request_ptr single(proto::command c, std::string_view key)
    {
        auto r = detail::make_request();
        r->cmd = c;
        r->key.assign(key);
        return r;
    }

    template <class Keys>
    static detail::request_ptr multi(proto::command c, const Keys& keys, ttl expiry)
    {
        auto r = detail::make_request();
        r->cmd = c;
        r->multi_key = true;
        r->exptime = expiry.count();
        if constexpr (std::ranges::sized_range<const Keys>)
            r->keys.reserve(std::ranges::size(keys)); // (a recycled request's room stays)
        for (auto&& k : keys)
            detail::add_key(r->keys, k);
        return r;
    }

    static detail::request_ptr store(proto::command c, std::string_view key, std::string_view value,
                                     const store_options& opts, std::uint64_t cas)
    {
        auto r = detail::make_request();
        r->cmd = c;
        r->key.assign(key);
        r->value.assign(value);
        r->flags = opts.flags;
        r->exptime = opts.expiry.count();
        r->cas = cas;
        return r;
    }

    std::shared_ptr<detail::router> router() const;

    std::shared_ptr<detail::client_impl> impl_;
};

} // namespace memcoro
