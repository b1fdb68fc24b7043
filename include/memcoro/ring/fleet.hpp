#pragma once
/// \file
/// Where keys go while servers are down, as the reference client of each distribution places
/// them (its "fleet rule"): PECL memcache re-hashes a down server's keys, libmemcached,
/// php-memcached and twemproxy rebuild their ring or table over the live servers, and
/// libmemcached's modula fails the key. Recorded from the real clients with one server down:
/// test/data/compat (the `*_down*` files) and docs/distributions.md, "When a server is down".

#include <memcoro/ring/distribution.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace memcoro::ring {

/// What a distribution's reference client does with the keys of a server it found down.
enum class fleet_rule : std::uint8_t {
    /// PECL memcache with `memcache.allow_failover` (pecl-consistent, pecl-standard): the key is
    /// re-hashed as `"<key>-0"`, `"<key>-1"`, ... through the same table over the full server
    /// list until one lands on a live server (at most `memcache.max_failover_attempts` tries,
    /// 20 by default), else it fails. Keys of live servers never move.
    rehash,
    /// libmemcached / php-memcached ketama with REMOVE_FAILED_SERVERS (AUTO_EJECT_HOSTS), and
    /// twemproxy with `auto_eject_hosts` (ketama, twemproxy-ketama, ketama-spy, consistent,
    /// twemproxy-modula): the ring or slot table is rebuilt over the live servers
    /// (continuum::without). **Moves keys of live servers**: none on equal-weight rings (each
    /// live server keeps its points), a few percent with unequal weights (live servers gain
    /// points), and most of them on twemproxy-modula (the modulo is taken over the live slots).
    rebuild,
    /// libmemcached / php-memcached modula (which never ejects): the key fails
    /// (MEMCACHED_SERVER_MARKED_DEAD). Keys of live servers never move.
    fail,
};

/// The rule of the client that `kind` reproduces.
fleet_rule fleet_rule_of(distribution_kind kind) noexcept;

/// The rule's name: "rehash", "rebuild" or "fail".
const char* to_string(fleet_rule rule) noexcept;

/// May the rule send a key whose own server is up somewhere else? Only `rebuild` does.
constexpr bool moves_live_keys(fleet_rule rule) noexcept
{
    return rule == fleet_rule::rebuild;
}

/// PECL memcache's failover: the server of the first of `"<key>-0"`, `"<key>-1"`, ... (at most
/// `max_attempts` of them) for which `usable(server)` is true; nullopt if none is. `usable` may
/// be called with the same server more than once.
template <class Usable>
std::optional<std::size_t> rehash_find(const continuum& ring, std::string_view key, Usable&& usable,
                                       std::size_t max_attempts)
{
    for (std::size_t attempt = 0; attempt < max_attempts; ++attempt) {
        const std::size_t server = ring.rehash_server(key, attempt);
        if (std::invoke(usable, server))
            return server;
    }
    return std::nullopt;
}

/// Placement of keys while a given set of servers is down, under the distribution's fleet rule:
/// what `memcoro locate --down` prints. The all-up continuum must outlive it.
class fleet_placement {
public:
    /// `down[i]`: server i of `all_up` is down (one flag per server). `max_rehash_attempts`: the
    /// rehash rule's tries (PECL's `memcache.max_failover_attempts`). Throws
    /// std::invalid_argument if `down` does not have one flag per server.
    fleet_placement(const continuum& all_up, std::vector<bool> down,
                    std::size_t max_rehash_attempts = 20);

    /// The server `key` goes to, or nullopt where the fleet's client fails the key.
    std::optional<std::size_t> server_for(std::string_view key) const;

    /// The rule applied.
    fleet_rule rule() const noexcept { return rule_; }
    /// The down flags given.
    const std::vector<bool>& down() const noexcept { return down_; }

private:
    const continuum* all_up_;
    std::vector<bool> down_;
    fleet_rule rule_;
    std::size_t max_rehash_attempts_;
    bool any_down_ = false;
    /// The rebuild rule with some servers down and some up: the rebuilt table.
    std::optional<continuum> rebuilt_;
};

} // namespace memcoro::ring
