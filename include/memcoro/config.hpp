#pragma once
/// \file
/// Client configuration.

#include <memcoro/protocol.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/server_list.hpp>
#include <memcoro/tls.hpp>
#include <memcoro/trace.hpp>
#include <memcoro/udp.hpp>
#include <memcoro/value/options.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace memcoro {

/// What happens to the keys of a server that is down (docs/distributions.md, "When a server is
/// down"). Under fail_fast and failover the keys of live servers never move.
enum class down_policy : std::uint8_t {
    /// They fail at once with errc::server_down (multi-gets list them under `errors`).
    fail_fast,
    /// They alone go to the next distinct live server on the ring (memcoro's own rule: no
    /// other client places them there), trying at most max_failover_attempts servers.
    failover,
    /// Keys go where the distribution's reference client sends them while the same servers
    /// are down (ring::fleet_rule_of), so that memcoro and the fleet's other clients keep
    /// reading and writing the same copy:
    /// - pecl-consistent, pecl-standard (PECL memcache, allow_failover): a down server's key is
    ///   re-hashed as "<key>-0", "<key>-1", ... until one lands on a live server, at most
    ///   max_failover_attempts tries (PECL's max_failover_attempts, 20 by default), else it
    ///   fails with errc::server_down. Live servers' keys never move.
    /// - modula (libmemcached, php-memcached): a down server's keys fail with
    ///   errc::server_down. Live servers' keys never move.
    /// - ketama, ketama-spy, consistent, twemproxy-ketama, twemproxy-modula (libmemcached and
    ///   php-memcached ejecting failed servers, twemproxy's auto_eject_hosts): the ring or table
    ///   is rebuilt over the live servers. **This moves keys of live servers**: none on
    ///   equal-weight rings, a few percent with unequal weights, and most of them (about 3 in 4
    ///   with 5 servers) on twemproxy-modula; they move back when the server comes back. Under
    ///   these distributions every routing decision also checks every server's state.
    fleet,
};

/// A fire-and-forget write that failed (client_config::on_write_failure).
struct write_failure {
    /// The key written.
    std::string key;
    /// The error (a server error, a timeout, a lost connection, errc::server_down...); empty
    /// when the server answered but did not store the value (`not_stored`).
    std::error_code ec;
    /// True when a set was answered but not stored (NOT_STORED); `ec` is then empty.
    bool not_stored = false;
};

/// A client's configuration (client::client): its servers, how keys map to them, when a
/// server is marked down, timeouts, limits, protocol, TLS and hooks.
struct client_config {
    /// The servers, in the order other clients of the fleet list them (rings depend on it).
    std::vector<server_address> servers{};

    /// How keys map to servers (see docs/distributions.md). The default is libmemcached's
    /// weighted ketama, which php-memcached (LIBKETAMA_COMPATIBLE) and twemproxy (ketama, md5)
    /// share.
    ring::distribution_kind distribution = ring::distribution_kind::ketama;
    /// The key hash; empty: the distribution's own default.
    std::optional<ring::hash_kind> hash{};

    /// The key prefix (a namespace, as libmemcached's MEMCACHED_CALLBACK_PREFIX_KEY and
    /// php-memcached's Memcached::OPT_PREFIX_KEY): sent before every key of every operation
    /// that takes keys, and taken off the keys that come back (results, value operations,
    /// errors and trace events name keys as the caller wrote them). A key and its prefix
    /// together are at most 250 bytes, else the call fails with errc::invalid_key before
    /// anything is sent. At most proto::max_key_prefix_length (127) printable ASCII bytes, no
    /// space (client::client throws std::invalid_argument otherwise); empty: none. See
    /// docs/usage.md, "Key prefix".
    std::string key_prefix{};
    /// Place keys by their hash with the prefix (libmemcached's
    /// MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY). Off, as in libmemcached and php-memcached: a
    /// key goes to the server of the key alone, whatever the prefix.
    bool hash_with_prefix = false;

    /// Connections per server; requests are pipelined on each.
    std::size_t connections_per_server = 1;

    /// Consecutive failures that mark a server down, and how long it then stays down before
    /// the client sends it one probe request of its own.
    std::uint32_t failure_limit = 3;
    /// How long a server marked down stays down before its first probe.
    std::chrono::milliseconds retry_interval{1000};
    /// Each failed probe doubles the wait before the next one, up to max_retry_interval (a
    /// value below a server's retry interval: no growth); a reply resets it. 30 s: a server
    /// that stays dead costs each client one connection attempt every ~30 s, and one that
    /// comes back is used again within ~36 s at worst.
    std::chrono::milliseconds max_retry_interval{30000};
    /// Every wait is drawn within ±retry_jitter of its nominal value (0: none; clamped to
    /// [0, 1]), so that clients that lost a server together do not all probe it together.
    double retry_jitter = 0.2;
    /// What happens to the keys of a server that is down.
    down_policy on_down = down_policy::fail_fast;
    /// With down_policy::failover: the most servers tried for a key, its own included. With
    /// down_policy::fleet on the PECL distributions: the most re-hashed keys tried.
    std::size_t max_failover_attempts = 20;
    /// Called (on the client's executor) on every up/down transition of a server that has no
    /// callback of its own.
    server_event_callback on_server_event{};
    /// Called (on the client's executor) for each server list applied or refused
    /// (client::apply_server_list and the sources of docs/server-lists.md).
    server_list_callback on_server_list{};
    /// Called (on the client's executor) for each fire-and-forget write that failed
    /// (client::send_set, client::send_delete): its key and why. Without it such failures
    /// are only counted (server_info's counters).
    std::function<void(const write_failure&)> on_write_failure{};

    /// The trace hook: called (on the client's executor) with what the client is doing,
    /// servers' connects and reconnects, connection failures (with the system error), protocol
    /// errors, up/down transitions, slow requests, calls failed fast: see trace_kind. Empty
    /// (the default): nothing is traced, at the cost of one test per event.
    trace_callback on_trace{};
    /// The least important level reported: `info` reports errors, warnings and info events.
    memcoro::trace_level trace_level = memcoro::trace_level::info;
    /// A request that takes longer than this, from the call to its answer, is reported
    /// (trace_kind::slow_request, with its server, command and latency); zero: never.
    std::chrono::milliseconds slow_request_threshold{100};

    /// Multi-key retrievals send at most this many keys per request (gat requests also at
    /// most proto::max_touch_line bytes each). Fewer, longer requests cost the servers less
    /// (10,000 keys over 4 servers: 250 keys per request gave 9% more keys/s than 100, and
    /// 12% less client CPU).
    std::size_t max_keys_per_request = 250;
    /// Concurrent single-key gets (and gets) bound for the same connection and written
    /// together go out as one multi-key request of at most this many keys; each caller still
    /// gets its own key's outcome. 0 or 1: every get is its own request.
    std::size_t merge_gets = 100;
    /// Singleflight for plain single-key gets: a get of a key that another get on the same
    /// connection is already asking (queued or on the wire) sends nothing and is answered
    /// with that one's outcome, hit or miss or error (a timeout or cancellation of its own
    /// still ends it alone, and the first get's cancellation never ends it). Both dialects.
    bool singleflight_gets = false;

    /// The protocol spoken to every server (see memcoro::protocol). With `meta`, gets are
    /// never merged (merge_gets does not apply): each is its own `mg`, and a multi-key get
    /// is a quiet batch of them closed by `mn`. `automatic`: each server's, asked on connect.
    memcoro::protocol protocol = memcoro::protocol::text;

    /// TLS: for every server when `tls.enabled`, else for the addresses written `tls://` (see
    /// docs/security.md). A server's own settings (server_options::tls) take precedence.
    tls_options tls{};
    /// memcached's ASCII authentication (`memcached -Y`): sent first on every connection. A
    /// refusal fails the connection with errc::auth_failed (it counts as a connection failure
    /// for the server's up/down state), and nothing else is sent on it.
    std::optional<credentials> auth{};
    /// Gets over UDP (memcached -U; see docs/udp.md): for every TCP server when
    /// `udp.enabled`. A server's own settings (server_options::udp) take precedence.
    udp_options udp{};

    /// The value operations' format, compression and bound on decompressed values
    /// (async_get_as, async_set_as, async_get_value...; see docs/values.md). The plain
    /// operations do not apply it.
    value_options values{};

    /// Budget for resolving and connecting to a server (the TLS handshake and the
    /// authentication included).
    std::chrono::milliseconds connect_timeout{1000};
    /// Default deadline of every operation, from the call to the reply; zero: none.
    /// A request that times out after it was written keeps its place on the connection: its
    /// reply is read and dropped, so no later caller ever receives it.
    std::chrono::milliseconds op_timeout{1000};
    /// Largest value memcoro sends or accepts (memcached's -I, 1 MiB by default). A reply that
    /// announces more is a protocol error: nothing is allocated for it.
    std::size_t max_item_size = 1024 * 1024;
    /// Bytes of requests coalesced into one write.
    std::size_t max_write_bytes = 256 * 1024;
};

} // namespace memcoro
