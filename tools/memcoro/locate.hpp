#pragma once
/// \file
/// `memcoro locate`: which server owns a key, as a client with a given configuration would
/// place it, with every server up or while some are down (`--down`: the distribution's fleet
/// rule, ring/fleet.hpp). Used to check that memcoro and the other clients of a fleet agree, or
/// to find the server to look at for a key. The command itself (options, input, output) is in
/// main.cpp.

#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/fleet.hpp>
#include <memcoro/server_address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// The servers on a hash ring, as memcoro::client builds it from the same configuration.
class key_locator {
public:
    /// `hash`: the key hash, empty for the distribution's own. Throws std::invalid_argument for
    /// an empty list or an unusable one (a zero weight).
    key_locator(const std::vector<memcoro::server_address>& servers,
                memcoro::ring::distribution_kind distribution,
                std::optional<memcoro::ring::hash_kind> hash);

    /// Places keys as the distribution's own client does while the servers of `down` are down
    /// (each `host:port`, a Unix socket path, or a server's name as the list gives it). Throws
    /// std::invalid_argument for a server that is not in the list.
    void set_down(const std::vector<std::string>& down);

    /// The server `key` goes to: the server's name if the list gives one, else its host:port;
    /// null where, with the set_down servers down, the fleet's client fails the key.
    const std::string* operator()(std::string_view key) const;

private:
    std::vector<memcoro::server_address> servers_;
    std::optional<memcoro::ring::continuum> ring_;
    std::optional<memcoro::ring::fleet_placement> fleet_;
    std::vector<std::string> labels_;
};
