#pragma once
/// \file
/// Where a memcached server is: TCP host:port or a Unix socket path.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro {

/// One server as configured: a TCP host and port, or a Unix socket path, with its weight,
/// optional name and whether it is reached over TLS.
struct server_address {
    /// Host name or address as configured (hash rings hash this exact string).
    std::string host{};
    /// TCP port.
    std::uint16_t port = 11211;
    /// Unix socket path; when set, host and port are unused.
    std::string socket_path{};
    /// Relative weight on weighted distributions.
    std::uint32_t weight = 1;
    /// Optional name (twemproxy's form `host:port:weight name`).
    std::string name{};
    /// Reached over TLS (written `tls://host:port`), with the client's tls_options unless the
    /// server's own (server_options::tls) say otherwise. Not part of the ring's placement.
    bool tls = false;

    /// Is it a Unix socket (socket_path set)?
    bool is_unix() const noexcept { return !socket_path.empty(); }
    /// "host:port", "[v6]:port" or the socket path (the server's name: without `tls://`).
    std::string to_string() const;

    /// Parses `host:port[:weight][ name]`, `[v6addr]:port[:weight]`, `host` (port 11211) or a
    /// path starting with '/'; `tls://` before a host means TLS. Throws std::invalid_argument on
    /// anything else.
    static server_address parse(std::string_view text);
    /// Parses a comma-separated list of the above (libmemcached's `host:port:weight` syntax,
    /// twemproxy's trailing names).
    static std::vector<server_address> parse_list(std::string_view text);
    /// The list in $MEMCACHED_SERVERS, else `fallback` parsed.
    static std::vector<server_address>
    from_environment(std::string_view fallback = "127.0.0.1:11211");

    /// Member-wise equality.
    friend bool operator==(const server_address&, const server_address&) = default;
};

} // namespace memcoro
