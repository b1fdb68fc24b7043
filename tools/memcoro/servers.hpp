#pragma once
/// \file
/// `memcoro servers`: the edits an administrator makes to one domain's server list (issue #17)
/// and how a list is shown. The edits are applied by memcoro::edit_server_list_file or
/// memcoro::edit_server_list_in_store, which lock or compare-and-swap, bump the version and
/// write; the command itself (options, the file or the store, output) is in main.cpp.

#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/hash.hpp>
#include <memcoro/server_list.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

/// An edit that cannot be made as asked (an address already there, or not there): the edit
/// gives up and nothing is written.
struct edit_refused : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// One change to a list: `servers add|remove|weight|down|up ADDRESS ...`.
struct server_edit {
    std::string action;                  ///< add, remove, weight, down or up
    std::string address;                 ///< as server_address::parse reads it
    std::optional<std::uint32_t> weight; ///< add --weight, weight N
    std::optional<std::string> name;     ///< add --name
    bool down = false;                   ///< add --down
    /// A new domain's (first add) distribution and hash, when given.
    std::optional<memcoro::ring::distribution_spec> distribution;
    std::optional<memcoro::ring::hash_kind> hash;
};

/// Applies `e` to `list` (the list in force: version 0 and no servers for a new domain).
/// Throws edit_refused for an address that is already there (add) or not there (the others),
/// or for --distribution or --hash that differ from an existing domain's; std::invalid_argument
/// for an address server_address::parse refuses.
void apply_edit(memcoro::server_list& list, const server_edit& e);

/// The address as a list writes it: host:port (tls:// first for TLS), or the socket path.
std::string list_address(const memcoro::server_address& a);

/// `servers list`: "domain D", "version N", "distribution NAME", "hash NAME" lines, then one
/// "ADDRESS WEIGHT STATUS [NAME]" line per server, in ring order.
std::string list_text(const memcoro::server_list& list);
