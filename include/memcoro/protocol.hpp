#pragma once
/// \file
/// The protocols memcoro speaks to servers.

#include <cstdint>

namespace memcoro {

/// The protocol memcoro speaks to the servers.
enum class protocol : std::uint8_t {
    /// The text protocol (get, set, ...): every memcached, and proxies such as twemproxy.
    text,
    /// The meta protocol (mg, ms, md, ma, mn; memcached 1.6.10 and later): every reply is checked
    /// against its request by an opaque token (and the key, for gets), so a shifted or stray
    /// reply ends the connection as errc::protocol_desync instead of answering the wrong
    /// caller. flush_all, verbosity, stats and version are still sent as text commands.
    meta,
    /// Each server's own: every new connection first asks `version`, and speaks meta to a
    /// memcached that has it (1.6.10 and later) once a meta get confirms it, text to anything
    /// else (older memcached, a proxy that answers with its own version or an error, or hangs
    /// up on the question, as twemproxy before 0.5 does, or one that passes `version` through
    /// but refuses or hangs up on the meta get, as twemproxy 0.5 does). Calls that only meta
    /// can make (leases, item metadata, invalidation, binary keys) then fail with
    /// errc::not_supported (binary keys: errc::invalid_key) on the servers that speak text,
    /// and are never sent there. Costs one round trip per connect (two on meta).
    automatic,
};

} // namespace memcoro
