#pragma once
/// \file
/// Which server a key goes to: its own server on the ring while that one is up, else what the
/// down policy says (fail fast, fail over to the next usable server on the ring, or the fleet
/// rule of the distribution's reference client, ring/fleet.hpp); and which down servers are due
/// a probe. Pure: no sockets, no connections, no Asio and no clock. The
/// caller passes the time and carries out the answers (sends the probes, fails or sends the
/// requests).

#include <memcoro/config.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/fleet.hpp>
#include <memcoro/server_state.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace memcoro::detail {

/// The servers a routing decision wants probed, each at most once per retry wait (the
/// server's server_state::take_probe decides). The caller sends them one probe request each
/// and clears the list; the probe's outcome, recorded in the server's state like any reply,
/// marks it up or starts a longer wait.
using probe_list = std::vector<std::size_t>;

/// Routes keys to servers. Owns the ring; reads and advances each server's server_state (its
/// probe), which the caller owns. Not thread-safe: the client uses it on its executor only.
class key_router {
public:
    using clock = server_state::clock;
    /// No server for the key: the call fails with errc::server_down.
    static constexpr std::size_t none = ~std::size_t(0);

    explicit key_router(down_policy on_down = down_policy::fail_fast,
                        std::size_t max_failover_attempts = 20) noexcept
        : on_down_(on_down)
        , max_failover_attempts_(max_failover_attempts)
    {
    }

    /// The servers to route over: the ring over them (empty: no servers) and each one's
    /// state, in the ring's server order. The states must outlive their use here.
    void assign(std::optional<ring::continuum> ring, std::vector<server_state*> states);

    std::size_t size() const noexcept { return states_.size(); }
    bool empty() const noexcept { return states_.empty(); }
    down_policy on_down() const noexcept { return on_down_; }
    std::size_t max_failover_attempts() const noexcept { return max_failover_attempts_; }

    /// The key's own server on the ring, up or down. One server: 0, without hashing the key.
    /// Needs at least one server.
    std::size_t own_server(std::string_view key) const noexcept
    {
        return states_.size() == 1 ? 0 : ring_->server_for(key);
    }

    /// `out[i] = own_server(keys[i])` for every key (the ring hashes several at a time).
    void own_servers(std::span<const std::string> keys, std::uint32_t* out) const noexcept;

    /// May requests go to server `i` at `now`? Only while it is up. A down server whose retry
    /// wait has passed, with no probe under way, is added to `probes` (once per wait).
    bool usable(std::size_t i, clock::time_point now, probe_list& probes)
    {
        server_state& s = *states_[i];
        if (s.usable())
            return true;
        if (s.take_probe(now))
            probes.push_back(i);
        return false;
    }

    /// The server for `key`, whose own server is `own`: `own` while it is up; else none under
    /// fail_fast, and under failover the first usable server walking the ring from the key
    /// (trying at most max_failover_attempts servers, its own included; none if all of them
    /// are down). Under fail_fast and failover only a down server's keys ever move. Under
    /// fleet, what the distribution's fleet rule says; the rebuild rule moves live servers'
    /// keys too while any server is down (it then checks every server's state for every key).
    /// `now()` is called only if `own` is down.
    template <class Now>
    requires std::is_invocable_r_v<clock::time_point, Now&> std::size_t
    route(std::size_t own, std::string_view key, Now&& now, probe_list& probes)
    {
        if (states_[own]->usable()) [[likely]] {
            if (!watch_all_) [[likely]]
                return own;
            return route_rebuilt(own, key);
        }
        return route_down(own, key, now(), probes);
    }

    /// As above at the time `now`.
    std::size_t route(std::size_t own, std::string_view key, clock::time_point now,
                      probe_list& probes)
    {
        return route(
            own, key, [now] { return now; }, probes);
    }

    /// As above for a key whose own server is not known yet.
    std::size_t route(std::string_view key, clock::time_point now, probe_list& probes)
    {
        return route(own_server(key), key, now, probes);
    }

private:
    /// route() once the key's own server turned out to be down.
    std::size_t route_down(std::size_t own, std::string_view key, clock::time_point now,
                           probe_list& probes);
    /// route() under the rebuild rule for a key whose own server is up.
    std::size_t route_rebuilt(std::size_t own, std::string_view key);
    /// The rebuild rule's table for the servers down now: the ring itself when none is, the
    /// ring rebuilt over the live ones when some are (rebuilt again only when that set
    /// changes), null when all are.
    const ring::continuum* live_ring();

    down_policy on_down_;
    std::size_t max_failover_attempts_;
    std::optional<ring::continuum> ring_;
    std::vector<server_state*> states_;
    /// The fleet rule of the ring's distribution (used under down_policy::fleet).
    ring::fleet_rule rule_ = ring::fleet_rule::fail;
    /// Under fleet with the rebuild rule (and more than one server): keys of up servers depend
    /// on the other servers' states too.
    bool watch_all_ = false;
    /// The servers down when rebuilt_ was made, and the ring rebuilt without them.
    std::vector<bool> rebuilt_down_;
    std::optional<ring::continuum> rebuilt_;
};

} // namespace memcoro::detail
