// Fleet rules: where each reference client sends keys while servers are down. The recorded
// behaviour is in test/data/compat/README.md, "When a server is down".

#include <memcoro/ring/fleet.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace memcoro::ring {

fleet_rule fleet_rule_of(distribution_kind kind) noexcept
{
    switch (kind) {
    case distribution_kind::pecl_consistent:
    case distribution_kind::pecl_standard:
        return fleet_rule::rehash;
    case distribution_kind::modula:
        // libmemcached's modula takes the key's hash modulo the configured server count, ejected
        // servers included: the key lands on the dead server and fails.
        return fleet_rule::fail;
    case distribution_kind::ketama:
    case distribution_kind::ketama_spy:
    case distribution_kind::consistent:
    case distribution_kind::twemproxy_ketama:
    case distribution_kind::twemproxy_modula:
        break;
    }
    return fleet_rule::rebuild;
}

const char* to_string(fleet_rule rule) noexcept
{
    switch (rule) {
    case fleet_rule::rehash:
        return "rehash";
    case fleet_rule::rebuild:
        return "rebuild";
    case fleet_rule::fail:
        return "fail";
    }
    return "unknown";
}

fleet_placement::fleet_placement(const continuum& all_up, std::vector<bool> down,
                                 std::size_t max_rehash_attempts)
    : all_up_(&all_up)
    , down_(std::move(down))
    , rule_(fleet_rule_of(all_up.distribution()))
    , max_rehash_attempts_(max_rehash_attempts)
{
    if (down_.size() != all_up.size())
        throw std::invalid_argument("memcoro::ring::fleet_placement: one flag per server");
    any_down_ = std::find(down_.begin(), down_.end(), true) != down_.end();
    const bool all_down = std::find(down_.begin(), down_.end(), false) == down_.end();
    if (rule_ == fleet_rule::rebuild && any_down_ && !all_down)
        rebuilt_.emplace(all_up.without(down_));
}

std::optional<std::size_t> fleet_placement::server_for(std::string_view key) const
{
    if (rule_ == fleet_rule::rebuild && any_down_) {
        if (!rebuilt_)
            return std::nullopt; // every server is down
        return rebuilt_->server_for(key);
    }
    const std::size_t own = all_up_->server_for(key);
    if (!down_[own])
        return own;
    if (rule_ == fleet_rule::fail)
        return std::nullopt;
    return rehash_find(
        *all_up_, key, [&](std::size_t i) { return !down_[i]; }, max_rehash_attempts_);
}

} // namespace memcoro::ring
