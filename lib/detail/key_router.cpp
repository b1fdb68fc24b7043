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
    // Failover: this key alone moves, to the next distinct usable server on the ring.
    const auto alt = ring_->find(
        key, [&](std::size_t i) { return usable(i, now, probes); }, max_failover_attempts_);
    return alt ? *alt : none;
}

} // namespace memcoro::detail
