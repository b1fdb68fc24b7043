#pragma once
/// \file
/// What a client knows about each of its servers: options, state, counters, latencies.

#include <memcoro/protocol.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/server_state.hpp>
#include <memcoro/tls.hpp>
#include <memcoro/udp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>

namespace memcoro {

/// A server went down or came back up.
struct server_event {
    std::string server;     ///< "host:port" (or socket path)
    server_status status;   ///< the new status
    std::error_code reason; ///< the failure that marked it down (empty when marked up)
};

/// Called (on the client's executor) on a server's up/down transitions.
using server_event_callback = std::function<void(const server_event&)>;

/// Per-server settings, as PECL memcache's addServer has them.
struct server_options {
    /// Relative weight on weighted distributions, > 0 (it replaces the address's weight; for
    /// set_server_params, 0 keeps the current one).
    std::uint32_t weight = 1;
    /// Per-operation timeout for this server; zero: the client's op_timeout.
    std::chrono::milliseconds timeout{0};
    /// How long the server stays down before its first probe; zero: the client's
    /// retry_interval. Later waits double up to the client's max_retry_interval.
    std::chrono::milliseconds retry_interval{0};
    /// The status the server is added with (set_server_params: the status it is set to).
    server_status initial_status = server_status::up;
    /// Called on each up/down transition of this server; empty: the client's callback.
    /// (Initialized, so that designated initializers may leave it out without a warning.)
    server_event_callback failure_callback{};
    /// This server's own TLS settings (it is then reached over TLS, `enabled` or not); empty:
    /// the client's (client_config::tls), over TLS if they are enabled or the address says
    /// `tls://`.
    std::optional<tls_options> tls{};
    /// This server's own credentials; empty: the client's (client_config::auth).
    std::optional<credentials> auth{};
    /// This server's own UDP settings (gets go over UDP if they are `enabled`); empty: the
    /// client's (client_config::udp).
    std::optional<udp_options> udp{};
};

/// Latencies of completed requests in power-of-two buckets: bucket 0 counts latencies under
/// 16 µs, bucket i (i > 0) those in [16·2^(i-1), 16·2^i) µs; the last bucket is open-ended.
struct latency_histogram {
    /// The number of buckets.
    static constexpr std::size_t buckets = 24;
    /// Requests completed, per bucket.
    std::array<std::uint64_t, buckets> counts{};

    /// Upper bound of bucket i in microseconds (the last one is unbounded).
    static constexpr std::uint64_t upper_us(std::size_t i) noexcept { return 16ull << i; }
    /// The latency below which `q` (0..1) of the requests completed (a bucket's upper bound).
    std::uint64_t quantile_us(double q) const noexcept;
};

/// One server's counters (server_info::counters).
struct server_counters {
    std::uint64_t requests = 0;    ///< requests sent (or queued) to the server
    std::uint64_t hits = 0;        ///< keys found by retrievals
    std::uint64_t misses = 0;      ///< keys not found by retrievals
    std::uint64_t errors = 0;      ///< requests that failed (timeouts included)
    std::uint64_t timeouts = 0;    ///< requests that timed out
    std::uint64_t transitions = 0; ///< up/down changes
    std::uint64_t connects = 0;    ///< connections opened
    /// Calls (for a multi-key call, keys; for flush_all, stats_all and verbosity, servers)
    /// failed with errc::server_down at once, without being sent, because this server was down.
    std::uint64_t rejected = 0;
    latency_histogram latency; ///< latencies of its completed requests
};

/// A snapshot of one server.
struct server_info {
    /// The address, with the server's current weight.
    server_address address;
    std::string name; ///< "host:port" or the socket path
    /// Up or down.
    server_status status = server_status::up;
    /// Failures since its last reply.
    std::uint32_t consecutive_failures = 0;
    /// The version of the server list in force (client::apply_server_list); 0 while none was
    /// applied.
    std::uint64_t list_version = 0;
    /// With protocol::automatic, what the server said it speaks when last asked: text or
    /// meta (automatic: not asked yet). Otherwise the configured protocol.
    memcoro::protocol protocol = memcoro::protocol::automatic;
    /// Reached over TLS; its handshakes so far, and how many of them resumed an earlier session
    /// (a full handshake costs the server far more CPU).
    bool tls = false;
    std::uint64_t tls_handshakes = 0; ///< TLS handshakes completed so far
    std::uint64_t tls_resumed = 0;    ///< how many of them resumed an earlier session
    /// It is sent credentials (memcached's authentication) on every connection.
    bool authenticated = false;
    /// Its gets go over UDP (udp_options); what became of them so far.
    bool udp = false;
    std::uint64_t udp_requests = 0; ///< get requests sent over UDP
    std::uint64_t udp_replies = 0;  ///< of them, answered whole over UDP
    /// Of them, lost (no whole reply within udp_options::timeout, or a reply broken by a
    /// missing or reordered datagram), then sent over TCP or failed (udp_options::on_loss).
    std::uint64_t udp_lost = 0;
    /// Datagrams dropped: for no request in flight (late), repeated, or unreadable.
    std::uint64_t udp_dropped = 0;
    server_counters counters; ///< its counters
};

} // namespace memcoro
