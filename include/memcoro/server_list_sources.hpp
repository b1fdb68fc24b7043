#pragma once
/// \file
/// Where server lists come from, and how they are edited safely (docs/server-lists.md): a JSON
/// file watched for changes (with inotify on Linux, and read on an interval), an item in
/// memcached polled by its CAS unique, an auto-discovery endpoint, or a DNS name re-resolved on
/// an interval; each source applies every new version to a client (client::apply_server_list)
/// and reports what it could not apply to client_config::on_server_list.

#include <memcoro/client.hpp>
#include <memcoro/dns.hpp>
#include <memcoro/server_list.hpp>

#include <asio/ip/udp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro {

/// The key a domain's list is kept under in memcached: "memcoro.servers." + domain. Throws
/// std::invalid_argument for a domain that cannot be part of a key (empty, spaces, control
/// bytes, too long).
std::string server_list_key(std::string_view domain);

/// Keeps a client's servers in step with one domain of a server list file.
///
/// The file is read at once and then every `interval` (a small file, read on the client's
/// executor), and each list it holds that may replace the one in force is applied. On Linux
/// the file's directory is watched with inotify too, so that a change of the file is read
/// within a few milliseconds of being made, whether the file is replaced by a rename
/// (edit_server_list_file), written in place, deleted or created; a burst of changes costs
/// one read. The reads every `interval` go on beside the watch, for the changes it cannot
/// see (a network filesystem's other clients, a file reached through a symbolic link that
/// points elsewhere). Where the watch cannot be set up (no inotify, no inotify instance or
/// watch left, a directory that does not exist yet), the file is read every `interval` only,
/// and nothing is reported; the watch is set up at a later read when the directory appears.
///
/// A file that cannot be read, does not parse, or holds a list the client refuses is reported
/// to client_config::on_server_list once per content (source "file PATH"), and the list in
/// force stays. Changes are seen by content, so an edit that keeps the file's size and time is
/// seen too. The source must not outlive the client; destroying it stops it (its reads and
/// its watch end on the client's executor).
class server_list_file_source {
public:
    /// Starts watching `path` for `domain`'s list, for `c`: the file is read at once (on the
    /// client's executor), then on each change seen and every `interval`.
    server_list_file_source(client& c, std::string path, std::string domain,
                            std::chrono::milliseconds interval = std::chrono::seconds(1));
    /// Stops watching.
    ~server_list_file_source();
    server_list_file_source(const server_list_file_source&) = delete;
    server_list_file_source& operator=(const server_list_file_source&) = delete;

private:
    struct state;
    std::shared_ptr<state> state_;
};

/// Keeps a client's servers in step with one domain's list kept in memcached
/// (server_list_key), as `memcoro servers --store` and edit_server_list_in_store write it.
///
/// Every `interval` it asks `store` (a client of the memcached that keeps the list) for the
/// item with its CAS unique; an unchanged CAS costs nothing more, a changed one is parsed and
/// applied. A missing item, a list that does not parse or one the client refuses is reported
/// to client_config::on_server_list (source "memcached KEY") once per CAS unique. `store`
/// and `c` must outlive the source; destroying it stops it.
class server_list_store_source {
public:
    /// Starts polling `store` for `domain`'s list, for `c`.
    server_list_store_source(client& c, client& store, std::string domain,
                             std::chrono::milliseconds interval = std::chrono::seconds(1));
    /// Stops polling.
    ~server_list_store_source();
    server_list_store_source(const server_list_store_source&) = delete;
    server_list_store_source& operator=(const server_list_store_source&) = delete;

private:
    struct state;
    std::shared_ptr<state> state_;
};

/// Keeps a client's servers in step with an auto-discovery endpoint, as AWS ElastiCache and
/// Google Memorystore serve it: every `interval` it connects to `endpoint` ("host:port"),
/// sends `config get cluster` and reads the reply (discovery_reply), within `timeout`.
///
/// Only a strictly greater version is applied (the list's domain is the endpoint; its
/// distribution and hash the client's). The same version with other contents is reported as
/// server_list_errc::same_version_changed and not applied; a reply that is not valid, an
/// endpoint that cannot be reached or does not answer in time are reported too (source
/// "discovery ENDPOINT"), each once until something changes, and the list in force stays.
/// The source must not outlive the client; destroying it stops it.
class server_list_discovery_source {
public:
    /// Starts polling `endpoint` for `c`.
    server_list_discovery_source(client& c, std::string endpoint,
                                 std::chrono::milliseconds interval = std::chrono::seconds(60),
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Stops polling.
    ~server_list_discovery_source();
    server_list_discovery_source(const server_list_discovery_source&) = delete;
    server_list_discovery_source& operator=(const server_list_discovery_source&) = delete;

private:
    struct state;
    std::shared_ptr<state> state_;
};

/// How server_list_dns_source resolves its name. Every member has a default, so designated
/// initializers may name only what differs: `{.type = dns::record_type::srv}`.
struct dns_source_options {
    /// What to ask for: A or AAAA (one server per address, at `port`), or SRV (one server per
    /// address of each target, at the record's port, weighted by the record's weight).
    dns::record_type type = dns::record_type::a;
    /// The servers' port, for A and AAAA (SRV records carry their own).
    std::uint16_t port = 11211;
    /// How often the name is resolved again (its records' TTLs are not used).
    std::chrono::milliseconds interval = std::chrono::seconds(30);
    /// How long one query waits for its reply (over UDP, or over TCP after a truncated reply).
    std::chrono::milliseconds timeout = std::chrono::seconds(2);
    /// How many times each nameserver is asked per query, in turn with the others (1 or more).
    int attempts = 2;
    /// The nameservers to ask (the resolver hook: a test points it at a server of its own);
    /// empty: the `nameserver` lines of `resolv_conf`, on port 53 (the first three, as the C
    /// library takes them), read again for every resolution.
    std::vector<asio::ip::udp::endpoint> nameservers{};
    /// The resolver configuration read when `nameservers` is empty.
    std::string resolv_conf = "/etc/resolv.conf";
};

/// Keeps a client's servers in step with a DNS name, resolved at once and every
/// `options.interval`: its A or AAAA records (one server per address, at `options.port`,
/// weight 1), or its SRV records (RFC 2782: only those of the lowest priority; each target's
/// addresses from the reply's additional section, else from A then AAAA queries of its own;
/// IPv4 addresses when it has any, else IPv6; one server per address, at the record's port,
/// with the record's weight, a weight of 0 counting as 1). The name is asked as given (fully
/// qualified: no search domains).
///
/// DNS has no version: when the set of servers resolved (sorted by address, so the order of
/// the records does not matter; the same address twice counts once) differs from the list in
/// force, the source applies it, sorted, with a version one greater than the one in force; the
/// same set applies nothing. Each query has a random id and a fresh socket (so a random
/// source port), and waits `options.timeout` for its reply; datagrams from elsewhere or with
/// another id or question are ignored. A truncated reply is asked again over TCP. A SERVFAIL,
/// REFUSED, bad reply or silence makes it ask again (the next nameserver, `options.attempts`
/// times each). When the name does not exist (NXDOMAIN), has no records, an SRV target does not
/// resolve, or no nameserver answers, the failure is reported to client_config::on_server_list
/// (source "dns NAME"; a dns::dns_errc, errc::timeout or a system error), once until something
/// changes, and the list in force stays: an empty answer never empties the fleet. The source
/// must not outlive the client; destroying it stops it.
class server_list_dns_source {
public:
    /// Starts resolving `name` for `c`. Throws std::invalid_argument for a name that cannot be
    /// asked for (dns::check_name), a type other than A, AAAA and SRV, an interval or timeout
    /// that is not positive, or fewer than 1 attempt.
    server_list_dns_source(client& c, std::string name, dns_source_options options = {});
    /// Stops resolving.
    ~server_list_dns_source();
    server_list_dns_source(const server_list_dns_source&) = delete;
    server_list_dns_source& operator=(const server_list_dns_source&) = delete;

private:
    struct state;
    std::shared_ptr<state> state_;
};

/// An edit of a list: given the list in force (for a domain not in the file yet: version 0, no
/// servers), it changes it in place. It may throw to give up; nothing is written then.
using server_list_edit = std::function<void(server_list&)>;

/// Edits `domain`'s list in the file at `path` (created if absent), safely against other
/// editors: under an exclusive lock on `path + ".lock"`, it reads the file, applies `edit`,
/// sets the version to one more than it was, checks the list (check_server_list), and writes
/// the file through a temporary file renamed over it, so that readers see the old file or the
/// new one, never a part. Returns the list written. Throws std::runtime_error when the file
/// cannot be read or written or holds no server list, std::invalid_argument (with the reason)
/// when the edited list is invalid.
server_list edit_server_list_file(const std::string& path, std::string_view domain,
                                  const server_list_edit& edit);

/// Edits `domain`'s list kept in memcached through `store`, safely against other editors:
/// reads the item with its CAS unique, applies `edit`, sets the version to one more, checks the
/// list, and writes it back with `cas` (`add` where there was none); another editor's write in
/// between makes it start over from that write, at most `attempts` times. Returns the list
/// written. Throws as edit_server_list_file, and memcoro::error for the store's failures.
asio::awaitable<server_list> edit_server_list_in_store(client& store, std::string domain,
                                                       server_list_edit edit, int attempts = 100);

} // namespace memcoro
