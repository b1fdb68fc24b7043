#pragma once
/// \file
/// Gets over UDP (memcached -U): what goes over UDP, how long a reply may take, and what a lost
/// one becomes. See docs/udp.md.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace memcoro {

/// What becomes of a get whose reply over UDP was lost (a datagram missing, late, or out of
/// order): sent again over TCP, or failed with errc::timeout for its keys.
enum class udp_loss_policy { retry_tcp, fail };

/// Gets over UDP. Only plain gets (`get`, `gets`, single and multi-key) go over UDP; writes,
/// touches and everything else always go over TCP, and so does a get whose request does not
/// fit in one datagram. A multi-key get is cut into requests that each fit in a datagram.
/// UDP is cleartext and unauthenticated: a server reached over TLS or with credentials
/// cannot use it.
struct udp_options {
    /// Gets go over UDP to every TCP server (never to a Unix socket server).
    bool enabled = false;
    /// The servers' UDP port; 0: each server's TCP port (as memcached is usually started,
    /// `-p N -U N`).
    std::uint16_t port = 0;
    /// A reply not whole this long after its request went out is lost (see on_loss).
    std::chrono::milliseconds timeout{100};
    /// What a lost reply's request becomes.
    udp_loss_policy on_loss = udp_loss_policy::retry_tcp;
    /// UDP requests in flight per server at once; more wait their turn (a bound on the
    /// datagrams a big fan-out brings back at once).
    std::size_t window = 32;
    /// The largest request datagram, its 8-byte header included (memcached ignores requests
    /// of more than one datagram; 1,400 fits the usual MTU).
    std::size_t max_datagram = 1400;

    /// Member-wise equality.
    friend bool operator==(const udp_options&, const udp_options&) = default;
};

} // namespace memcoro
