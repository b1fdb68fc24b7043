#include "servers.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace {

/// The hash a list places keys with: its own, else its distribution's.
memcoro::ring::hash_kind effective_hash(const memcoro::server_list& list)
{
    return list.hash.value_or(memcoro::ring::default_hash(list.distribution));
}

/// A new domain takes the distribution and hash given; an existing one must already have them
/// (changing them would move every key: that is a new domain's choice, not an edit's).
void settle_distribution(memcoro::server_list& list, const server_edit& e)
{
    using memcoro::ring::default_hash;
    const bool is_new = list.version == 0 && list.servers.empty();
    std::optional<memcoro::ring::distribution_kind> dist;
    std::optional<memcoro::ring::hash_kind> hash = e.hash;
    if (e.distribution) {
        dist = e.distribution->distribution;
        if (!hash)
            hash = e.distribution->hash;
    }
    if (is_new) {
        if (dist)
            list.distribution = *dist;
        // The distribution's own hash is left implicit, as a hand-written list would leave it.
        if (hash && *hash != default_hash(list.distribution))
            list.hash = hash;
        return;
    }
    if ((dist && *dist != list.distribution) || (hash && *hash != effective_hash(list)))
        throw edit_refused(fmt::format(
            "domain {} is {} with hash {}: --distribution and --hash choose a new domain's "
            "(its first add), they do not change a list",
            list.domain, memcoro::ring::to_string(list.distribution),
            memcoro::ring::to_string(effective_hash(list))));
}

} // namespace

std::string list_address(const memcoro::server_address& a)
{
    return a.tls && !a.is_unix() ? "tls://" + a.to_string() : a.to_string();
}

void apply_edit(memcoro::server_list& list, const server_edit& e)
{
    settle_distribution(list, e);
    memcoro::server_address address = memcoro::server_address::parse(e.address);
    const std::string wanted = list_address(address);
    const auto it = std::find_if(list.servers.begin(), list.servers.end(),
                                 [&](const auto& s) { return list_address(s.address) == wanted; });
    if (e.action == "add") {
        if (it != list.servers.end())
            throw edit_refused(fmt::format("domain {} already has server {}", list.domain, wanted));
        if (e.weight)
            address.weight = *e.weight;
        if (e.name)
            address.name = *e.name;
        list.servers.push_back(memcoro::server_list_entry{
            address, e.down ? memcoro::server_status::down : memcoro::server_status::up});
        return;
    }
    if (it == list.servers.end())
        throw edit_refused(list.servers.empty()
                               ? fmt::format("there is no domain {}", list.domain)
                               : fmt::format("domain {} has no server {}", list.domain, wanted));
    if (e.action == "remove")
        list.servers.erase(it);
    else if (e.action == "weight")
        it->address.weight = e.weight.value_or(it->address.weight);
    else if (e.action == "down")
        it->status = memcoro::server_status::down;
    else if (e.action == "up")
        it->status = memcoro::server_status::up;
    else
        throw std::invalid_argument(fmt::format("unknown edit '{}'", e.action));
}

std::string list_text(const memcoro::server_list& list)
{
    std::string t = fmt::format("domain {}\nversion {}\ndistribution {}\nhash {}\n", list.domain,
                                list.version, memcoro::ring::to_string(list.distribution),
                                memcoro::ring::to_string(effective_hash(list)));
    for (const auto& s : list.servers) {
        t += fmt::format("{} {} {}", list_address(s.address), s.address.weight,
                         memcoro::to_string(s.status));
        if (!s.address.name.empty())
            t += ' ' + s.address.name;
        t += '\n';
    }
    return t;
}
