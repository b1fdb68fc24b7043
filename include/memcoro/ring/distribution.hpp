#pragma once
/// \file
/// Key → server distributions, bit-compatible with libmemcached, php-memcached, PECL memcache and
/// twemproxy. docs/distributions.md describes each one and the fleets it matches.

#include <memcoro/ring/hash.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::ring {

/// How keys are spread over servers.
enum class distribution_kind {
    /// libmemcached's default: `key_hash(key) % n` in server order; weights ignored.
    modula,
    /// libketama: libmemcached KETAMA_WEIGHTED, php-memcached OPT_LIBKETAMA_COMPATIBLE, twemproxy
    /// ketama. 160·share md5 points per server on `"host:port-j"` (`"host-j"` for port 11211).
    ketama,
    /// libmemcached CONSISTENT_KETAMA_SPY (spymemcached): as ketama on `"/host:port-j"`.
    ketama_spy,
    /// libmemcached DISTRIBUTION_CONSISTENT / BEHAVIOR_KETAMA, php-memcached `consistent`: 100
    /// points per server hashed with the key hash. Quirk kept for compatibility: if any server has
    /// weight > 1 the points become ketama's weighted md5 points (the key hash is unchanged).
    consistent,
    /// PECL memcache `consistent`: 160·weight points `h("host:port-i")`, looked up through a
    /// 1024-bucket table.
    pecl_consistent,
    /// PECL memcache `standard`: `((h >> 16) & 0x7fff) or 1` modulo the server list in which each
    /// server appears `weight` times.
    pecl_standard,
    /// twemproxy ketama: the ketama ring on the server *name* (given name, else host:port); servers
    /// sorted by name.
    twemproxy_ketama,
    /// twemproxy modula: servers sorted by name, each repeated `weight` times; `h % Σweight`.
    twemproxy_modula,
};

/// Every distribution_kind, in declaration order.
inline constexpr std::array<distribution_kind, 8> all_distribution_kinds = {
    distribution_kind::modula,           distribution_kind::ketama,
    distribution_kind::ketama_spy,       distribution_kind::consistent,
    distribution_kind::pecl_consistent,  distribution_kind::pecl_standard,
    distribution_kind::twemproxy_ketama, distribution_kind::twemproxy_modula,
};

/// The key hash the reference client uses by default with `kind`: md5 for ketama and ketama-spy,
/// one-at-a-time for modula and consistent, crc32 for pecl-*, fnv1a_64 for twemproxy-*.
hash_kind default_hash(distribution_kind kind) noexcept;

/// A distribution and the key hash that goes with it.
struct distribution_spec {
    distribution_kind distribution = distribution_kind::ketama; ///< how keys are spread
    hash_kind hash = hash_kind::md5;                            ///< the key hash

    /// Member-wise equality.
    friend bool operator==(const distribution_spec&, const distribution_spec&) = default;
};

/// Parses a distribution name into the distribution and the key hash the name stands for.
///
/// Accepts memcoro's names (`modula`, `ketama`, `ketama-spy`, `consistent`, `pecl-consistent`,
/// `pecl-standard`, `twemproxy-ketama`, `twemproxy-modula`; hash: default_hash) and the other
/// clients' spellings of the same settings, e.g. `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA`
/// (→ consistent, one-at-a-time), `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` and
/// `Memcached::OPT_LIBKETAMA_COMPATIBLE` (→ ketama, md5), `MEMCACHED_DISTRIBUTION_CONSISTENT_
/// WEIGHTED` (→ ketama, one-at-a-time). Case-insensitive; `-` and `_` are the same; the prefixes
/// `MEMCACHED_DISTRIBUTION_`, `Memcached::` and `DISTRIBUTION_` are optional. The full list, and
/// the spellings that mean something else in each client (a bare `ketama` is always memcoro's),
/// are in docs/distributions.md. nullopt for anything else, including the settings memcoro has
/// no equivalent for (`MEMCACHED_DISTRIBUTION_RANDOM`, `..._VIRTUAL_BUCKET`).
std::optional<distribution_spec> parse_distribution(std::string_view name) noexcept;

/// The canonical name of `kind`, as accepted by parse_distribution.
const char* to_string(distribution_kind kind) noexcept;

/// One server as configured.
struct node {
    /// Host exactly as configured: rings hash this string, never a resolved address.
    std::string host{};
    /// TCP port.
    std::uint16_t port = 11211;
    /// Relative weight, > 0.
    std::uint32_t weight = 1;
    /// Optional name (twemproxy `host:port:weight name`); hashed instead of host:port by the
    /// twemproxy distributions, ignored by the others.
    std::string name{};

    /// Member-wise equality.
    friend bool operator==(const node&, const node&) = default;
};

namespace detail {

/// The set of servers continuum::find has already tried. Kept on the stack for up to 256
/// servers, so that failover lookups in ordinary fleets do not allocate either.
class server_set {
public:
    explicit server_set(std::size_t servers)
    {
        if (servers > inline_bits_)
            heap_.assign((servers + 63) / 64, 0);
    }

    /// Adds `index`; false if it was already present.
    bool insert(std::size_t index) noexcept
    {
        std::uint64_t* words = heap_.empty() ? inline_.data() : heap_.data();
        const std::uint64_t bit = std::uint64_t{1} << (index % 64);
        std::uint64_t& word = words[index / 64];
        if ((word & bit) != 0)
            return false;
        word |= bit;
        return true;
    }

private:
    static constexpr std::size_t inline_bits_ = 256;
    std::array<std::uint64_t, inline_bits_ / 64> inline_{};
    std::vector<std::uint64_t> heap_;
};

} // namespace detail

/// Maps keys to servers. Immutable: built once from the server list (in the order given), then
/// shared read-only between threads.
class continuum {
public:
    /// Builds the distribution `d` over `nodes`, hashing keys with `key_hash`. Throws
    /// std::invalid_argument when there are no nodes, a weight is 0, or the weights would need an
    /// absurd table (more than 2^24 points or slots).
    continuum(distribution_kind d, hash_kind key_hash, std::vector<node> nodes);
    /// As above with default_hash(d).
    continuum(distribution_kind d, std::vector<node> nodes);

    /// The index (into the nodes given to the constructor) of the server that owns `key`.
    /// Does not allocate.
    std::size_t server_for(std::string_view key) const noexcept;

    /// `out[i] = server_for(keys[i])` for every key: the same servers, hashed several keys at a
    /// time where the key hash allows it (MD5). What a multi-get uses. Does not allocate.
    void servers_for(std::span<const std::string> keys, std::uint32_t* out) const noexcept;

    /// Walks from the key's position to find the first server for which `usable(index)` is true,
    /// trying at most `max_servers` distinct servers (the key's own server first); nullopt if none.
    /// On ring distributions: the next points clockwise (skipping points of unusable servers);
    /// on modulo-like ones: the next bucket/slot. This is what failover over a down server uses:
    /// keys of usable servers never move.
    template <class Usable>
    std::optional<std::size_t> find(std::string_view key, Usable&& usable,
                                    std::size_t max_servers) const;

    /// The server of `key` with `-<attempt>` appended (`"<key>-0"`, `"<key>-1"`, ...), looked up
    /// in this table: PECL memcache's failover candidates (see ring/fleet.hpp). On the PECL
    /// distributions the key is prepared as server_for prepares it (bytes <= 0x20 become `_`,
    /// cut to 250 bytes) before the suffix is appended, and the result is hashed whole, even past
    /// 250 bytes, as PECL does. Allocates only for keys longer than 250 bytes on the other
    /// distributions.
    std::size_t rehash_server(std::string_view key, std::size_t attempt) const;

    /// The table the distribution's reference client builds once it has ejected the servers
    /// flagged in `down` (`down.size() == size()`): the same distribution and key hash over the
    /// other servers only, with their point counts (or modulo slots) recounted over the live
    /// servers, as libmemcached, php-memcached and twemproxy rebuild theirs. Indexes still refer to
    /// nodes(); down servers own no point or slot. Keys of live servers may move (weighted
    /// rings; twemproxy modula moves most of them). Throws std::invalid_argument if `down` has
    /// the wrong size or flags every server.
    continuum without(const std::vector<bool>& down) const;

    /// Number of nodes.
    std::size_t size() const noexcept { return nodes_.size(); }
    /// The distribution it was built with.
    distribution_kind distribution() const noexcept { return distribution_; }
    /// The key hash it uses.
    hash_kind key_hash() const noexcept { return key_hash_; }
    /// The nodes, in the order given to the constructor.
    const std::vector<node>& nodes() const noexcept { return nodes_; }

    /// Ring points (ring distributions) or slots (modulo-like ones) owned by server `index`:
    /// e.g. 160 per equal-weight server on ketama. For inspection and tests; O(points).
    std::size_t points_of(std::size_t index) const noexcept;
    /// Total ring points or slots.
    std::size_t point_count() const noexcept { return owner_.size(); }

private:
    /// Builds the tables over nodes_; `weighted`: a server had a weight > 1 when the list was
    /// made (libmemcached's consistent then uses weighted points).
    void build(bool weighted);
    /// The key's position in owner_: where server_for reads and find starts walking.
    std::size_t position(std::string_view key) const noexcept;
    /// PECL distributions: the position of a key already prepared (no cut, no replacement).
    std::size_t pecl_position(std::string_view prepared) const noexcept;
    /// Ring distributions: the index of the first point >= `h`, wrapping to 0 past the last.
    std::size_t ring_position(std::uint32_t h) const noexcept;
    /// Whether position() is the plain hash of the key (no PECL key preparation).
    bool hashes_plain_key() const noexcept;

    distribution_kind distribution_;
    hash_kind key_hash_;
    std::vector<node> nodes_;
    /// Ring distributions: sorted point values; empty for modulo-like distributions.
    std::vector<std::uint32_t> values_;
    /// Server index per ring point (parallel to values_) or per modulo slot.
    std::vector<std::uint32_t> owner_;
    /// pecl-consistent only: point index for each of the 1024 buckets.
    std::vector<std::uint32_t> buckets_;
    /// Ring distributions: for each value of a hash's top bits, the first point at or above
    /// that value's range (one more entry at the end: the point count). A lookup scans the
    /// few points of one range instead of a binary search over the whole ring.
    std::vector<std::uint32_t> range_start_;
    unsigned range_shift_ = 32;
};

template <class Usable>
std::optional<std::size_t> continuum::find(std::string_view key, Usable&& usable,
                                           std::size_t max_servers) const
{
    if (max_servers == 0)
        return std::nullopt;
    const std::size_t limit = max_servers < nodes_.size() ? max_servers : nodes_.size();
    const std::size_t count = owner_.size();
    detail::server_set tried(nodes_.size());
    std::size_t tried_count = 0;
    std::size_t pos = position(key);
    // One full turn at most: by then every server that has a point or slot was seen.
    for (std::size_t step = 0; step < count; ++step) {
        const std::size_t server = owner_[pos];
        if (tried.insert(server)) {
            if (std::invoke(usable, server))
                return server;
            if (++tried_count == limit)
                return std::nullopt;
        }
        pos = pos + 1 == count ? 0 : pos + 1;
    }
    return std::nullopt;
}

} // namespace memcoro::ring
