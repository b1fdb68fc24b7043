// Key → server distributions. Every table is computed once in the constructor so that lookups
// are a hash plus a binary search or a modulo, without allocation. The exact behaviour of each
// reference client (including its quirks) is specified in test/data/compat/README.md.

#include <memcoro/ring/distribution.hpp>

#include "names.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace memcoro::ring {
namespace {

/// Largest table (ring points or modulo slots) we agree to build: weights are relative, so a
/// larger one is a configuration mistake, not a fleet.
constexpr std::uint64_t max_table_size = std::uint64_t{1} << 24;

/// libmemcached MEMCACHED_POINTS_PER_SERVER: non-weighted ketama.
constexpr std::uint32_t points_per_server = 100;
/// libmemcached MEMCACHED_POINTS_PER_SERVER_KETAMA, twemproxy KETAMA_POINTS_PER_SERVER.
constexpr std::uint32_t points_per_server_ketama = 160;
/// PECL MMC_CONSISTENT_POINTS (per unit of weight).
constexpr std::uint32_t pecl_points_per_weight = 160;
/// PECL MMC_CONSISTENT_BUCKETS.
constexpr std::uint32_t pecl_buckets = 1024;
/// PECL's bucket spacing on the ring: 0xffffffff / 1024, truncated.
constexpr std::uint32_t pecl_bucket_step = 0xffffffffU / pecl_buckets;
/// PECL MMC_MAX_KEY_LEN: keys are cut to this before hashing.
constexpr std::size_t pecl_max_key = 250;
constexpr std::uint16_t memcached_default_port = 11211;

struct ring_point {
    std::uint32_t value;
    std::uint32_t server;
};

/// The number of weighted ketama points of a server, with the arithmetic of libmemcached and
/// twemproxy: `floorf(share * 160 / 4 * n + 1e-10) * 4` where every step up to the addition is
/// single-precision float. Double precision would give different counts (weights 1,1,3,10,10:
/// 32/32/96/320/320 instead of the clients' 28/28/92/320/320), so each step is kept in a float
/// variable; -std=c++20 (not gnu++) keeps GCC from contracting them into FMAs.
std::uint32_t weighted_points(std::uint32_t weight, std::uint64_t total_weight,
                              std::size_t servers) noexcept
{
    const float share = static_cast<float>(weight) / static_cast<float>(total_weight);
    const float scaled = share * static_cast<float>(points_per_server_ketama);
    const float per_hash = scaled / 4.0F;
    const float total = per_hash * static_cast<float>(servers);
    // The C code adds a double constant, so the sum and the floor are in double.
    const double adjusted = static_cast<double>(total) + 0.0000000001;
    return static_cast<std::uint32_t>(std::floor(adjusted)) * 4;
}

/// `"<host>:<port>"`, or `"<host>"` for port 11211: libmemcached's and twemproxy's point prefix.
std::string host_port_label(const node& n)
{
    if (n.port == memcached_default_port)
        return n.host;
    return n.host + ":" + std::to_string(n.port);
}

/// twemproxy hashes the server's name, which defaults to host[:port].
std::string twemproxy_name(const node& n)
{
    return n.name.empty() ? host_port_label(n) : n.name;
}

/// Sorts points by (value, server) and splits them into the two lookup arrays.
void store_ring(std::vector<ring_point>& points, std::vector<std::uint32_t>& values,
                std::vector<std::uint32_t>& owner)
{
    std::sort(points.begin(), points.end(), [](const ring_point& a, const ring_point& b) {
        return a.value != b.value ? a.value < b.value : a.server < b.server;
    });
    values.reserve(points.size());
    owner.reserve(points.size());
    for (const ring_point& p : points) {
        values.push_back(p.value);
        owner.push_back(p.server);
    }
}

/// libketama points: for each server (in `order`) `weighted_points` points, four per md5 digest of
/// `label(server) + "-" + j`.
template <class Label>
std::vector<ring_point> weighted_md5_points(const std::vector<node>& nodes,
                                            const std::vector<std::uint32_t>& order, Label&& label)
{
    std::uint64_t total_weight = 0;
    for (const node& n : nodes)
        total_weight += n.weight;
    std::vector<ring_point> points;
    for (std::uint32_t server : order) {
        const std::uint32_t count =
            weighted_points(nodes[server].weight, total_weight, nodes.size());
        const std::string prefix = label(nodes[server]) + "-";
        for (std::uint32_t j = 0; j < count / 4; ++j) {
            unsigned char digest[16];
            md5(prefix + std::to_string(j), digest);
            for (std::size_t k = 0; k < 4; ++k) {
                const unsigned char* d = digest + 4 * k;
                const std::uint32_t value = std::uint32_t{d[0]} | (std::uint32_t{d[1]} << 8) |
                                            (std::uint32_t{d[2]} << 16) |
                                            (std::uint32_t{d[3]} << 24);
                points.push_back({value, server});
            }
        }
    }
    return points;
}

std::vector<std::uint32_t> config_order(std::size_t n)
{
    std::vector<std::uint32_t> order(n);
    for (std::size_t i = 0; i < n; ++i)
        order[i] = static_cast<std::uint32_t>(i);
    return order;
}

/// twemproxy sorts its servers by name at load (shorter names first, then bytewise); the sorted
/// order decides modula slots. Stable so that duplicate names keep configuration order.
std::vector<std::uint32_t> twemproxy_order(const std::vector<node>& nodes)
{
    std::vector<std::string> names;
    names.reserve(nodes.size());
    for (const node& n : nodes)
        names.push_back(twemproxy_name(n));
    std::vector<std::uint32_t> order = config_order(nodes.size());
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        if (names[a].size() != names[b].size())
            return names[a].size() < names[b].size();
        return names[a] < names[b]; // char_traits<char> compares like memcmp
    });
    return order;
}

/// Each server of `order` repeated `weight` times.
std::vector<std::uint32_t> weighted_slots(const std::vector<node>& nodes,
                                          const std::vector<std::uint32_t>& order)
{
    std::vector<std::uint32_t> slots;
    for (std::uint32_t server : order)
        slots.insert(slots.end(), nodes[server].weight, server);
    return slots;
}

/// Index of the first point >= value, wrapping to 0 past the last one.
std::size_t ring_lower_bound(const std::vector<std::uint32_t>& values, std::uint32_t value) noexcept
{
    const auto it = std::lower_bound(values.begin(), values.end(), value);
    return it == values.end() ? 0 : static_cast<std::size_t>(it - values.begin());
}

/// PECL's key preparation: bytes <= 0x20 (compared unsigned) become '_', and the key is cut to
/// 250 bytes, before hashing. Uses `buffer` only when the key has to change.
std::string_view pecl_key(std::string_view key, std::array<char, pecl_max_key>& buffer) noexcept
{
    const bool clean = key.size() <= pecl_max_key &&
                       std::none_of(key.begin(), key.end(),
                                    [](char c) { return static_cast<unsigned char>(c) <= 0x20; });
    if (clean)
        return key;
    const std::size_t length = std::min(key.size(), pecl_max_key);
    for (std::size_t i = 0; i < length; ++i)
        buffer[i] = static_cast<unsigned char>(key[i]) > 0x20 ? key[i] : '_';
    return {buffer.data(), length};
}

} // namespace

std::optional<distribution_spec> parse_distribution(std::string_view name) noexcept
{
    using d = distribution_kind;
    struct spelling {
        std::string_view name; // folded
        distribution_spec spec;
    };
    // libmemcached's memcached_server_distribution_t without its prefix, as
    // memcached_behavior_set(MEMCACHED_BEHAVIOR_DISTRIBUTION, ...) leaves the library with its
    // default key hash (one-at-a-time); php-memcached's DISTRIBUTION_* are the same constants.
    static constexpr spelling libmemcached[] = {
        {"modula", {d::modula, hash_kind::one_at_a_time}},
        // Non-weighted: 100 points per server hashed with the key hash (until a server has a
        // weight > 1, which the continuum reproduces).
        {"consistent", {d::consistent, hash_kind::one_at_a_time}},
        {"consistent_ketama", {d::consistent, hash_kind::one_at_a_time}},
        // Weighted md5 points; the key hash is left as it was: one-at-a-time by default.
        {"consistent_weighted", {d::ketama, hash_kind::one_at_a_time}},
        // The spymemcached ring as libmemcached builds it after MEMCACHED_BEHAVIOR_KETAMA_
        // WEIGHTED (md5 keys, weighted points), which is how spymemcached hashes too.
        {"consistent_ketama_spy", {d::ketama_spy, hash_kind::md5}},
    };
    static constexpr spelling others[] = {
        // libmemcached behaviours. MEMCACHED_BEHAVIOR_KETAMA sets CONSISTENT_KETAMA: it is
        // memcoro's consistent, not its ketama (the prefix is what tells them apart).
        {"memcached_behavior_ketama", {d::consistent, hash_kind::one_at_a_time}},
        {"memcached_behavior_ketama_weighted", {d::ketama, hash_kind::md5}},
        // ... and php-memcached's memcached.sess_consistent_hash_type=ketama_weighted.
        {"ketama_weighted", {d::ketama, hash_kind::md5}},
        // php-memcached's OPT_LIBKETAMA_COMPATIBLE sets MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED.
        {"opt_libketama_compatible", {d::ketama, hash_kind::md5}},
        {"libketama_compatible", {d::ketama, hash_kind::md5}},
        // PECL memcache's memcache.hash_strategy=standard (its `consistent` is pecl-consistent:
        // a bare `consistent` is libmemcached's).
        {"standard", {d::pecl_standard, hash_kind::crc32}},
    };
    const detail::folded_name folded(name);
    std::string_view n = folded.view();
    detail::strip_prefix(n, "memcached::"); // php-memcached's class constants
    const bool prefixed = detail::strip_prefix(n, "memcached_distribution_") ||
                          detail::strip_prefix(n, "distribution_");
    for (const spelling& s : libmemcached)
        if (n == s.name)
            return s.spec;
    if (prefixed)
        return std::nullopt; // RANDOM, VIRTUAL_BUCKET: nothing memcoro does
    for (distribution_kind kind : all_distribution_kinds)
        if (n == detail::folded_name(to_string(kind)).view())
            return distribution_spec{kind, default_hash(kind)};
    for (const spelling& s : others)
        if (n == s.name)
            return s.spec;
    return std::nullopt;
}

const char* to_string(distribution_kind kind) noexcept
{
    switch (kind) {
    case distribution_kind::modula:
        return "modula";
    case distribution_kind::ketama:
        return "ketama";
    case distribution_kind::ketama_spy:
        return "ketama-spy";
    case distribution_kind::consistent:
        return "consistent";
    case distribution_kind::pecl_consistent:
        return "pecl-consistent";
    case distribution_kind::pecl_standard:
        return "pecl-standard";
    case distribution_kind::twemproxy_ketama:
        return "twemproxy-ketama";
    case distribution_kind::twemproxy_modula:
        return "twemproxy-modula";
    }
    return "unknown";
}

hash_kind default_hash(distribution_kind kind) noexcept
{
    switch (kind) {
    case distribution_kind::ketama:
    case distribution_kind::ketama_spy:
        return hash_kind::md5;
    case distribution_kind::modula:
    case distribution_kind::consistent:
        return hash_kind::one_at_a_time;
    case distribution_kind::pecl_consistent:
    case distribution_kind::pecl_standard:
        return hash_kind::crc32;
    case distribution_kind::twemproxy_ketama:
    case distribution_kind::twemproxy_modula:
        return hash_kind::fnv1a_64;
    }
    return hash_kind::one_at_a_time;
}

continuum::continuum(distribution_kind d, std::vector<node> nodes)
    : continuum(d, default_hash(d), std::move(nodes))
{
}

continuum::continuum(distribution_kind d, hash_kind key_hash, std::vector<node> nodes)
    : distribution_(d)
    , key_hash_(key_hash)
    , nodes_(std::move(nodes))
{
    if (nodes_.empty())
        throw std::invalid_argument("memcoro::ring::continuum: no servers");
    if (nodes_.size() > std::numeric_limits<std::uint32_t>::max())
        throw std::invalid_argument("memcoro::ring::continuum: too many servers");
    std::uint64_t total_weight = 0;
    bool weighted = false;
    for (const node& n : nodes_) {
        if (n.weight == 0)
            throw std::invalid_argument("memcoro::ring::continuum: weight of " + n.host + ":" +
                                        std::to_string(n.port) + " is 0");
        total_weight += n.weight;
        weighted = weighted || n.weight > 1;
    }
    const bool slot_table =
        d == distribution_kind::pecl_standard || d == distribution_kind::twemproxy_modula;
    if ((slot_table && total_weight > max_table_size) ||
        (d == distribution_kind::pecl_consistent &&
         total_weight * pecl_points_per_weight > max_table_size))
        throw std::invalid_argument("memcoro::ring::continuum: weights too large");
    build(weighted);
}

void continuum::build(bool weighted)
{
    const distribution_kind d = distribution_;
    std::vector<ring_point> points;
    switch (d) {
    case distribution_kind::modula:
        owner_ = config_order(nodes_.size());
        return;
    case distribution_kind::pecl_standard:
        owner_ = weighted_slots(nodes_, config_order(nodes_.size()));
        return;
    case distribution_kind::twemproxy_modula:
        owner_ = weighted_slots(nodes_, twemproxy_order(nodes_));
        return;
    case distribution_kind::ketama:
        points = weighted_md5_points(nodes_, config_order(nodes_.size()), host_port_label);
        break;
    case distribution_kind::ketama_spy:
        // spymemcached's point strings always carry the port and a leading '/'.
        points = weighted_md5_points(nodes_, config_order(nodes_.size()), [](const node& n) {
            return "/" + n.host + ":" + std::to_string(n.port);
        });
        break;
    case distribution_kind::twemproxy_ketama:
        points = weighted_md5_points(nodes_, twemproxy_order(nodes_), twemproxy_name);
        break;
    case distribution_kind::consistent:
        if (weighted) {
            // libmemcached's memcached_server_add_with_weight() turns on weighted ketama as soon
            // as a weight > 1 is added to a consistent distribution; the key hash stays as set.
            points = weighted_md5_points(nodes_, config_order(nodes_.size()), host_port_label);
            break;
        }
        for (std::uint32_t server = 0; server < nodes_.size(); ++server) {
            const std::string prefix = host_port_label(nodes_[server]) + "-";
            for (std::uint32_t j = 0; j < points_per_server; ++j)
                points.push_back({hash(key_hash_, prefix + std::to_string(j)), server});
        }
        break;
    case distribution_kind::pecl_consistent:
        for (std::uint32_t server = 0; server < nodes_.size(); ++server) {
            const node& n = nodes_[server];
            const std::string prefix = n.host + ":" + std::to_string(n.port) + "-";
            const std::uint32_t count = n.weight * pecl_points_per_weight;
            for (std::uint32_t i = 0; i < count; ++i)
                points.push_back({hash(key_hash_, prefix + std::to_string(i)), server});
        }
        break;
    }
    if (points.empty())
        throw std::invalid_argument("memcoro::ring::continuum: no ring points");
    store_ring(points, values_, owner_);
    // About two ranges per point, at least 256 and at most 65,536 of them.
    unsigned bits = 8;
    while (bits < 16 && (std::size_t{1} << bits) < 2 * values_.size())
        ++bits;
    range_shift_ = 32 - bits;
    range_start_.resize((std::size_t{1} << bits) + 1);
    for (std::size_t r = 0; r + 1 < range_start_.size(); ++r)
        range_start_[r] = static_cast<std::uint32_t>(
            std::lower_bound(values_.begin(), values_.end(),
                             static_cast<std::uint32_t>(r << range_shift_)) -
            values_.begin());
    range_start_.back() = static_cast<std::uint32_t>(values_.size());
    if (d == distribution_kind::pecl_consistent) {
        // PECL never searches the ring per key: it resolves 1024 evenly spaced positions once
        // and maps each key to one of them by `hash % 1024`.
        buckets_.resize(pecl_buckets);
        for (std::uint32_t b = 0; b < pecl_buckets; ++b)
            buckets_[b] =
                static_cast<std::uint32_t>(ring_lower_bound(values_, b * pecl_bucket_step));
    }
}

continuum continuum::without(const std::vector<bool>& down) const
{
    if (down.size() != nodes_.size())
        throw std::invalid_argument("memcoro::ring::continuum::without: one flag per server");
    std::vector<node> live;
    std::vector<std::uint32_t> index;
    bool weighted = false;
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        weighted = weighted || nodes_[i].weight > 1;
        if (!down[i]) {
            live.push_back(nodes_[i]);
            index.push_back(static_cast<std::uint32_t>(i));
        }
    }
    if (live.empty())
        throw std::invalid_argument("memcoro::ring::continuum::without: every server is down");
    continuum c(*this);
    c.nodes_ = std::move(live);
    c.values_.clear();
    c.owner_.clear();
    c.buckets_.clear();
    c.range_start_.clear();
    c.range_shift_ = 32;
    // libmemcached decides on weighted points when servers are added, not when it ejects one:
    // a consistent ring stays weighted even if its only heavier server is the one down.
    c.build(weighted);
    for (std::uint32_t& o : c.owner_)
        o = index[o];
    c.nodes_ = nodes_;
    return c;
}

std::size_t continuum::pecl_position(std::string_view prepared) const noexcept
{
    if (distribution_ == distribution_kind::pecl_standard) {
        std::uint32_t v = (hash(key_hash_, prepared) >> 16) & 0x7fff;
        if (v == 0)
            v = 1;
        return v % owner_.size();
    }
    return buckets_[hash(key_hash_, prepared) % pecl_buckets];
}

std::size_t continuum::rehash_server(std::string_view key, std::size_t attempt) const
{
    // PECL's mmc_pool_find_next(): sprintf("%s-%d", prepared_key, attempt), hashed whole.
    std::array<char, pecl_max_key> prepared;
    const std::string_view base = hashes_plain_key() ? key : pecl_key(key, prepared);
    constexpr std::size_t suffix_max = 1 + std::numeric_limits<std::size_t>::digits10 + 1;
    char suffix[suffix_max];
    std::size_t suffix_len = 0;
    {
        char digits[suffix_max];
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + attempt % 10);
            attempt /= 10;
        } while (attempt != 0);
        suffix[suffix_len++] = '-';
        while (n > 0)
            suffix[suffix_len++] = digits[--n];
    }
    // Keys are at most 250 bytes on PECL; others may be longer (memcoro's own limit), and
    // only then does this fall back to a string.
    std::array<char, pecl_max_key + suffix_max> buffer;
    std::string heap;
    std::string_view candidate;
    if (base.size() <= pecl_max_key) {
        std::copy(base.begin(), base.end(), buffer.begin());
        std::copy(suffix, suffix + suffix_len, buffer.begin() + base.size());
        candidate = {buffer.data(), base.size() + suffix_len};
    } else {
        heap.assign(base);
        heap.append(suffix, suffix_len);
        candidate = heap;
    }
    if (!hashes_plain_key())
        return owner_[pecl_position(candidate)];
    return server_for(candidate);
}

std::size_t continuum::position(std::string_view key) const noexcept
{
    switch (distribution_) {
    case distribution_kind::modula:
    case distribution_kind::twemproxy_modula:
        return hash(key_hash_, key) % owner_.size();
    case distribution_kind::pecl_standard:
    case distribution_kind::pecl_consistent: {
        std::array<char, pecl_max_key> buffer;
        return pecl_position(pecl_key(key, buffer));
    }
    case distribution_kind::ketama:
    case distribution_kind::ketama_spy:
    case distribution_kind::consistent:
    case distribution_kind::twemproxy_ketama:
        break;
    }
    return ring_position(hash(key_hash_, key));
}

std::size_t continuum::ring_position(std::uint32_t h) const noexcept
{
    const std::size_t range = h >> range_shift_;
    std::size_t i = range_start_[range];
    const std::size_t end = range_start_[range + 1];
    while (i < end && values_[i] < h)
        ++i;
    return i == values_.size() ? 0 : i;
}

bool continuum::hashes_plain_key() const noexcept
{
    return distribution_ != distribution_kind::pecl_standard &&
           distribution_ != distribution_kind::pecl_consistent;
}

void continuum::servers_for(std::span<const std::string> keys, std::uint32_t* out) const noexcept
{
    if (!hashes_plain_key()) {
        for (std::size_t i = 0; i < keys.size(); ++i)
            out[i] = owner_[position(keys[i])];
        return;
    }
    hash_many(key_hash_, keys, out);
    if (values_.empty()) { // modulo-like
        for (std::size_t i = 0; i < keys.size(); ++i)
            out[i] = owner_[out[i] % owner_.size()];
        return;
    }
    for (std::size_t i = 0; i < keys.size(); ++i)
        out[i] = owner_[ring_position(out[i])];
}

std::size_t continuum::server_for(std::string_view key) const noexcept
{
    return owner_[position(key)];
}

std::size_t continuum::points_of(std::size_t index) const noexcept
{
    return static_cast<std::size_t>(std::count(owner_.begin(), owner_.end(), index));
}

} // namespace memcoro::ring
