// `memcoro locate`: key → server as a configured client would place it; see locate.hpp.

#include "locate.hpp"

#include <stdexcept>
#include <utility>

key_locator::key_locator(const std::vector<memcoro::server_address>& servers,
                         memcoro::ring::distribution_kind distribution,
                         std::optional<memcoro::ring::hash_kind> hash)
{
    if (servers.empty())
        throw std::invalid_argument("no server to locate keys on");
    servers_ = servers;
    // The ring library does not know server_address: convert here.
    std::vector<memcoro::ring::node> nodes;
    for (const memcoro::server_address& a : servers) {
        nodes.push_back({a.host, a.port, a.weight, a.name});
        labels_.push_back(a.name.empty() ? a.to_string() : a.name);
    }
    if (hash)
        ring_.emplace(distribution, *hash, std::move(nodes));
    else
        ring_.emplace(distribution, std::move(nodes));
}

void key_locator::set_down(const std::vector<std::string>& down)
{
    std::vector<bool> flags(servers_.size(), false);
    for (const std::string& d : down) {
        bool found = false;
        for (std::size_t i = 0; i < servers_.size(); ++i) {
            const memcoro::server_address& a = servers_[i];
            if (d == a.to_string() || d == labels_[i] || (!a.name.empty() && d == a.name)) {
                flags[i] = true;
                found = true;
            }
        }
        if (!found)
            throw std::invalid_argument("--down: " + d + " is not one of the servers");
    }
    fleet_.emplace(*ring_, std::move(flags));
}

const std::string* key_locator::operator()(std::string_view key) const
{
    if (!fleet_)
        return &labels_[ring_->server_for(key)];
    const auto server = fleet_->server_for(key);
    return server ? &labels_[*server] : nullptr;
}
