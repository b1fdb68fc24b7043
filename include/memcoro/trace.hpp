#pragma once
/// \file
/// The trace hook: what a client is doing, as it does it (client_config::on_trace).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace memcoro {

/// How much a trace event matters. client_config::trace_level names the least important level
/// reported: the events of that level and of the levels above it in this list.
enum class trace_level : std::uint8_t {
    error,   ///< a server marked down, a reply that could not be understood
    warning, ///< a connection that failed, a slow request
    info,    ///< a connection opened (or opened again), a server marked up
    debug,   ///< a call failed at once because its server is down
};

/// What happened.
enum class trace_kind : std::uint8_t {
    /// A connection to the server was opened (info).
    connected,
    /// A connection to the server was opened after one of its connections had failed (info).
    reconnected,
    /// A connection could not be opened, or broke with requests on it (warning): `ec` is
    /// connection_failed, connect_timeout, resolve_failed or connection_lost, `cause` the
    /// system error underneath (refused, unreachable, reset, end of file...) when there is one.
    connection_failed,
    /// The server's bytes could not be understood (error): `ec` is protocol_error or
    /// protocol_desync; the connection was closed, failing the requests on it.
    protocol_error,
    /// The server was marked down (error): `ec` is the failure that did it (empty when marked
    /// by hand).
    server_down,
    /// The server was marked up again (info).
    server_up,
    /// A request took longer than client_config::slow_request_threshold, from the call to its
    /// answer (warning): `command`, `key`, `keys`, `latency`, and `ec` if it failed (a timeout,
    /// say).
    slow_request,
    /// A call, or one key of a multi-key call, failed with server_down without being sent
    /// because the server is down (debug).
    rejected,
};

/// One trace event. The views are valid during the call of the trace callback only.
struct trace_event {
    /// What happened.
    trace_kind kind = trace_kind::connected;
    /// How much it matters.
    trace_level level = trace_level::info;
    std::string_view server{}; ///< "host:port" or the socket path
    /// The error, for the kinds that have one (see trace_kind).
    std::error_code ec{};
    /// The system error underneath `ec`, if any.
    std::error_code cause{};
    std::string_view command{}; ///< slow_request: "get", "set", "delete", ...
    /// slow_request: its (first) key, if it has keys, as the caller wrote it (without
    /// client_config::key_prefix).
    std::string_view key{};
    std::size_t keys = 0;                 ///< slow_request: how many keys it has
    std::chrono::microseconds latency{0}; ///< slow_request
};

/// Called on the client's executor for each event (see client_config::on_trace).
using trace_callback = std::function<void(const trace_event&)>;

/// The level's name: "error", "warning", "info" or "debug".
const char* to_string(trace_level l) noexcept;
/// The kind in words, as describe() writes it: "connected", "connection failed", "marked
/// down", "slow request"...
const char* to_string(trace_kind k) noexcept;

/// The event as one line, e.g. "127.0.0.1:11211: connection failed: connection failed
/// (Connection refused)" or "127.0.0.1:11211: slow request: get k (1 key) took 251 ms".
std::string describe(const trace_event& e);

} // namespace memcoro
