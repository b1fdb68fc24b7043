#pragma once
/// \file
/// The request model: one type per memcached command family, as plain data. A request says
/// what to ask one server; where it goes and whose memory it lives in are decided elsewhere.

#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace memcoro::proto {

/// The longest key memcached accepts.
inline constexpr std::size_t max_key_length = 250;
/// The longest key prefix (client_config::key_prefix): libmemcached's MEMCACHED_MAX_NAMESPACE
/// less its terminating NUL, as its memcached_set_namespace refuses longer ones.
inline constexpr std::size_t max_key_prefix_length = 127;
/// Longest `gat`/`gats` line memcached accepts: it reads more than 2048 bytes without the end
/// of the line as an error and closes the connection (`get` and `gets` lines may be of any
/// length). Multi-key touches are split so that every line fits.
inline constexpr std::size_t max_touch_line = 2048;

/// The largest lease or recache time memcoro sends (memcached reads them as 32-bit numbers).
inline constexpr std::int64_t max_meta_ttl = 0x7fffffff;

/// The commands of the text protocol, as they are named on the wire.
enum class command : std::uint8_t {
    get,
    gets,
    gat,
    gats,
    touch,
    set,
    add,
    replace,
    append,
    prepend,
    cas,
    del,
    incr,
    decr,
    flush_all,
    version,
    stats,
    verbosity,
};

/// The shape of reply a command draws, which the decoder checks replies against.
enum class reply_kind : std::uint8_t {
    retrieval,  ///< VALUE ... END
    storage,    ///< STORED / NOT_STORED / EXISTS / NOT_FOUND
    deletion,   ///< DELETED / NOT_FOUND
    touch,      ///< TOUCHED / NOT_FOUND
    arithmetic, ///< a number / NOT_FOUND
    ok,         ///< OK
    version,    ///< VERSION text
    stats,      ///< STAT name value ... END
    // The meta dialect (see proto/meta.hpp):
    meta_get,        ///< mg: VA or EN (one key); VA ... MN (a quiet batch of several)
    meta_touch,      ///< mg with a new TTL and no value: HD or EN
    meta_storage,    ///< ms: HD / NS / EX / NF, one per key
    meta_deletion,   ///< md: HD / NF / EX, one per key
    meta_arithmetic, ///< ma with its value: VA and the number, or NF / NS / EX
};

/// Is this the reply of a meta command?
constexpr bool is_meta(reply_kind k) noexcept
{
    return k >= reply_kind::meta_get;
}

/// A list of strings (keys or values): the request's own, or a selection of another list's,
/// whose element j is `base[index[j]]` (that list and the indexes must then outlive the
/// request). A selection lets one request carry part of another's keys without copying them.
class string_list {
public:
    std::size_t size() const noexcept { return base_ ? count_ : own_.size(); }
    bool empty() const noexcept { return size() == 0; }
    const std::string& operator[](std::size_t j) const noexcept
    {
        return base_ ? base_[index_[j]] : own_[j];
    }

    /// The list's own strings, to fill (a selection is dropped).
    std::vector<std::string>& own() noexcept
    {
        base_ = nullptr;
        index_ = nullptr;
        count_ = 0;
        return own_;
    }
    /// The list's own strings (not those of a selection).
    const std::vector<std::string>& owned() const noexcept { return own_; }
    /// Makes the list `n` strings of another: element j is `base[index[j]]`.
    void select(const std::string* base, const std::uint32_t* index, std::size_t n) noexcept
    {
        base_ = base;
        index_ = index;
        count_ = n;
    }

private:
    std::vector<std::string> own_;
    const std::string* base_ = nullptr;
    const std::uint32_t* index_ = nullptr;
    std::size_t count_ = 0;
};

/// get, gets, gat, gats: the items of one or more keys, in one request.
struct retrieval {
    bool with_cas = false;               ///< gets / gats: each hit carries its CAS unique
    std::optional<std::int64_t> exptime; ///< gat / gats: every key's new expiry
    string_list keys;
    // Meta dialect only (see needs_meta):
    /// N: on a miss, create an empty placeholder living this many seconds and win the right to
    /// fill it (the reply says W; later readers are told Z).
    std::optional<std::int64_t> vivify;
    /// R: win the right to refresh an item whose remaining TTL is below this many seconds.
    std::optional<std::int64_t> recache;
    /// t, l, h, s: ask the item's remaining TTL, last access, hit-before bit and size.
    bool item_info = false;

    /// Does it ask something only the meta dialect can?
    bool meta_only() const noexcept { return vivify || recache || item_info; }

    constexpr command cmd() const noexcept
    {
        if (exptime)
            return with_cas ? command::gats : command::gat;
        return with_cas ? command::gets : command::get;
    }
};

enum class store_mode : std::uint8_t { set, add, replace, append, prepend, cas };

/// set, add, replace, append, prepend, cas. Several keys make several commands, sent together
/// and answered one by one, in order.
struct storage {
    store_mode mode = store_mode::set;
    string_list keys;
    string_list values; ///< one per key
    std::uint32_t flags = 0;
    /// Each key's own flags, when they differ (typed multi-key sets); empty: `flags` for all.
    std::vector<std::uint32_t> key_flags{};
    std::int64_t exptime = 0;
    std::uint64_t cas_unique = 0; ///< the item's CAS unique (mode cas)
    /// Meta dialect: sent as a quiet batch (`ms ... q` per key, then `mn`): only failures are
    /// answered (see proto::is_quiet_batch). The text dialect ignores it (its replies are read).
    bool quiet = false;

    /// The flags of the j-th key.
    std::uint32_t flags_of(std::size_t j) const noexcept
    {
        return key_flags.empty() ? flags : key_flags[j];
    }

    constexpr command cmd() const noexcept
    {
        switch (mode) {
        case store_mode::set:
            return command::set;
        case store_mode::add:
            return command::add;
        case store_mode::replace:
            return command::replace;
        case store_mode::append:
            return command::append;
        case store_mode::prepend:
            return command::prepend;
        case store_mode::cas:
            return command::cas;
        }
        return command::set;
    }
};

/// delete: one command per key, sent together, answered one by one.
struct deletion {
    string_list keys;
    // Meta dialect only (see needs_meta):
    /// I: mark the item stale instead of removing it (readers get it flagged X, one of them W).
    bool invalidate = false;
    /// T: the stale item's new TTL (with `invalidate`).
    std::optional<std::int64_t> stale_ttl;
    /// C: only if the item's CAS unique is still this one (0: any).
    std::uint64_t cas_unique = 0;
    /// Meta dialect: a quiet batch, as storage::quiet.
    bool quiet = false;

    bool meta_only() const noexcept { return invalidate || cas_unique != 0; }
    static constexpr command cmd() noexcept { return command::del; }
};

/// incr, decr.
struct arithmetic {
    bool decrement = false;
    std::string key;
    std::uint64_t delta = 0;
    constexpr command cmd() const noexcept { return decrement ? command::decr : command::incr; }
};

/// touch: a new expiry for one key.
struct touch {
    std::string key;
    std::int64_t exptime = 0;
    static constexpr command cmd() noexcept { return command::touch; }
};

/// flush_all, at once or after a delay.
struct flush {
    std::optional<std::int64_t> delay;
    static constexpr command cmd() noexcept { return command::flush_all; }
};

/// verbosity.
struct verbosity {
    unsigned level = 0;
    static constexpr command cmd() noexcept { return command::verbosity; }
};

/// stats, of a group ("items", "slabs", ...) or, empty, the general ones.
struct stats {
    std::string group;
    static constexpr command cmd() noexcept { return command::stats; }
};

/// version.
struct version {
    static constexpr command cmd() noexcept { return command::version; }
};

/// One request to one server.
using request =
    std::variant<retrieval, storage, deletion, arithmetic, touch, flush, verbosity, stats, version>;

constexpr reply_kind expected_reply(command c) noexcept
{
    switch (c) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats:
        return reply_kind::retrieval;
    case command::touch:
        return reply_kind::touch;
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas:
        return reply_kind::storage;
    case command::del:
        return reply_kind::deletion;
    case command::incr:
    case command::decr:
        return reply_kind::arithmetic;
    case command::flush_all:
    case command::verbosity:
        return reply_kind::ok;
    case command::version:
        return reply_kind::version;
    case command::stats:
        return reply_kind::stats;
    }
    return reply_kind::ok;
}

/// The command a request is sent as.
inline command command_of(const request& r) noexcept
{
    return std::visit([](const auto& q) { return q.cmd(); }, r);
}

inline reply_kind expected_reply(const request& r) noexcept
{
    // By the alternative held: one load, no visit.
    constexpr reply_kind by_type[] = {
        reply_kind::retrieval,  reply_kind::storage, reply_kind::deletion,
        reply_kind::arithmetic, reply_kind::touch,   reply_kind::ok,
        reply_kind::ok,         reply_kind::stats,   reply_kind::version};
    static_assert(std::size(by_type) == std::variant_size_v<request>);
    return by_type[r.index()];
}

/// Does the request ask something only the meta dialect can express (a lease, an item's
/// metadata, an invalidation, a delete on a CAS)? It is then never sent as text.
inline bool needs_meta(const request& r) noexcept
{
    if (const auto* g = std::get_if<retrieval>(&r))
        return g->meta_only();
    if (const auto* d = std::get_if<deletion>(&r))
        return d->meta_only();
    return false;
}

/// How many replies a request draws: one per key for storage and delete, else one (a
/// retrieval's or stats' lines and their END count as one).
inline std::size_t reply_count(const request& r) noexcept
{
    if (const auto* s = std::get_if<storage>(&r))
        return s->keys.size();
    if (const auto* d = std::get_if<deletion>(&r))
        return d->keys.size();
    return 1;
}

constexpr std::string_view command_name(command c) noexcept
{
    switch (c) {
    case command::get:
        return "get";
    case command::gets:
        return "gets";
    case command::gat:
        return "gat";
    case command::gats:
        return "gats";
    case command::touch:
        return "touch";
    case command::set:
        return "set";
    case command::add:
        return "add";
    case command::replace:
        return "replace";
    case command::append:
        return "append";
    case command::prepend:
        return "prepend";
    case command::cas:
        return "cas";
    case command::del:
        return "delete";
    case command::incr:
        return "incr";
    case command::decr:
        return "decr";
    case command::flush_all:
        return "flush_all";
    case command::version:
        return "version";
    case command::stats:
        return "stats";
    case command::verbosity:
        return "verbosity";
    }
    return "?";
}

/// The longest binary key (see check_key): its base64 form must fit in 250 bytes.
inline constexpr std::size_t max_binary_key_length = 186;

/// Checks a key: non-empty, at most 250 bytes, no byte <= 0x20 and no 0x7f. With
/// `binary_ok` (the meta dialect, which sends such keys base64-encoded) a key of any bytes
/// is valid up to max_binary_key_length. `prefix_size`: the bytes of the key prefix sent
/// before it (see encode_text), which count against both limits. Returns errc::invalid_key or
/// success.
std::error_code check_key(std::string_view key, bool binary_ok = false,
                          std::size_t prefix_size = 0) noexcept;

/// Is `prefix` a key prefix memcoro sends (client_config::key_prefix): at most
/// max_key_prefix_length bytes, each printable ASCII (0x21 to 0x7e, as libmemcached's
/// isgraph() test of a namespace)? The empty prefix (none) is valid.
bool valid_key_prefix(std::string_view prefix) noexcept;

/// Must the key (valid for the meta dialect) go out base64-encoded: does it hold a byte the
/// text form of a key cannot (<= 0x20 or 0x7f)?
bool needs_base64(std::string_view key) noexcept;

/// Checks every key and argument of `req`: nothing invalid may be encoded. A request needs at
/// least one key where it takes keys, and a value per key for storage. `binary_keys`: keys
/// are checked as check_key(key, true) (the meta dialect). `prefix_size`: the key prefix's
/// bytes, which every key is sent with (see check_key).
std::error_code validate(const request& req, bool binary_keys = false,
                         std::size_t prefix_size = 0) noexcept;

/// Appends the text-protocol bytes of `req` to `out`, values included, every key sent as
/// `prefix` followed by the key (the client's namespace; valid_key_prefix). `req` must have
/// passed validate() with the prefix's size.
void encode_text(const request& req, std::string& out, std::string_view prefix = {});

/// Appends the command line of key `j` of a storage request ("set k f e n\r\n"), without
/// its value: a sender that writes large values from the request itself sends them after it,
/// each followed by "\r\n". The key goes out after `prefix`.
void encode_text_line(const storage& req, std::size_t j, std::string& out,
                      std::string_view prefix = {});

/// Appends one retrieval line asking `keys` with `head`'s command (its own keys are not
/// used): requests for single keys, merged into one on the wire. Each key goes out after
/// `prefix`.
void encode_text_merged(const retrieval& head, std::span<const std::string* const> keys,
                        std::string& out, std::string_view prefix = {});

} // namespace memcoro::proto
