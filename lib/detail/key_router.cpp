#include <memcoro/detail/key_router.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace memcoro::detail {

void key_router::assign(std::optional<ring::continuum> ring, std::vector<server_state*> states)
{
    if (ring ? ring->size() != states.size() : !states.empty())
        throw std::invalid_argument("memcoro: key_router needs a ring over exactly its servers");
    ring_ = std::move(ring);
    states_ = std::move(states);
    rule_ = ring_ ? ring::fleet_rule_of(ring_->distribution()) : ring::fleet_rule::fail;
    watch_all_ =
        on_down_ == down_policy::fleet && ring::moves_live_keys(rule_) && states_.size() > 1;
    rebuilt_down_.assign(states_.size(), false);
    rebuilt_.reset();
}

void key_router::own_servers(std::span<const std::string> keys, std::uint32_t* out) const noexcept
{
    if (states_.size() == 1)
        std::fill(out, out + keys.size(), 0);
    else
        ring_->servers_for(keys, out);
}

std::size_t key_router::route_down(std::size_t own, std::string_view key, clock::time_point now,
                                   probe_list& probes)
{
    // The key's own server may be due its probe even though the key cannot wait for it.
    if (usable(own, now, probes))
        return own;
    if (on_down_ == down_policy::fail_fast)
        return none;
    if (on_down_ == down_policy::failover) {
        // This key alone moves, to the next distinct usable server on the ring.
        const auto alt = ring_->find(
            key, [&](std::size_t i) { return usable(i, now, probes); }, max_failover_attempts_);
        return alt ? *alt : none;
    }
    // The fleet rule of the distribution's reference client.
    switch (rule_) {
    case ring::fleet_rule::fail:
        return none;
    case ring::fleet_rule::rehash: {
        const auto alt = ring::rehash_find(
            *ring_, key, [&](std::size_t i) { return usable(i, now, probes); },
            max_failover_attempts_);
        return alt ? *alt : none;
    }
    case ring::fleet_rule::rebuild:
        break;
    }
    if (states_.size() == 1)
        return none;
    const ring::continuum* live = live_ring();
    return live ? live->server_for(key) : none;
}

std::size_t key_router::route_rebuilt(std::size_t own, std::string_view key)
{
    const ring::continuum* live = live_ring();
    // (Not null: the key's own server is up.)
    return live == &*ring_ ? own : live->server_for(key);
}

const ring::continuum* key_router::live_ring()
{
    bool changed = false;
    bool any_down = false;
    bool any_up = false;
    for (std::size_t i = 0; i < states_.size(); ++i) {
        const bool down = !states_[i]->usable();
        any_down = any_down || down;
        any_up = any_up || !down;
        if (rebuilt_down_[i] != down) {
            rebuilt_down_[i] = down;
            changed = true;
        }
    }
    if (!any_down)
        return &*ring_;
    if (!any_up)
        return nullptr;
    // A server went down or came back: the reference clients rebuild their ring then too.
    if (changed || !rebuilt_)
        rebuilt_.emplace(ring_->without(rebuilt_down_));
    return &*rebuilt_;
}

} // namespace memcoro::detail
