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

const std::string& key_locator::operator()(std::string_view key) const
{
    return labels_[ring_->server_for(key)];
}
