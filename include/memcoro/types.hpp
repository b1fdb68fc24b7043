#pragma once
/// \file
/// Values and outcomes of memcoro operations.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace memcoro {

/// An item as stored in memcached.
struct item {
    std::string key{};       ///< the key
    std::string value{};     ///< the value's bytes
    std::uint32_t flags = 0; ///< the client flags stored with it
    /// The item's CAS unique, filled by gets/gats (0 when not requested).
    std::uint64_t cas = 0;
};

/// Swaps two items member by member (std::string's own swap, cheaper than three moves).
inline void swap(item& a, item& b) noexcept
{
    a.key.swap(b.key);
    a.value.swap(b.value);
    std::swap(a.flags, b.flags);
    std::swap(a.cas, b.cas);
}

/// The outcome of a single-key retrieval: an item on a hit, empty on a miss.
using get_result = std::optional<item>;

/// What happened to one key of a multi-key retrieval.
enum class key_status : std::uint32_t {
    miss, ///< not found: the key is in `misses`
    hit,  ///< found: its item is in `hits`
    /// not looked up (its server failed or is down), or answered with an error line: the key
    /// and the error are in `errors`
    error,
};

/// Where one key's outcome is kept in a get_multi_result: its status, and its index in
/// `hits`, `misses` or `errors` (the list the status names).
struct key_slot {
    key_status status = key_status::miss; ///< the key's outcome: which list holds it
    std::uint32_t index = 0;              ///< its index in that list
};

/// One key's outcome, as get_multi_result presents it: views into the result, valid while
/// the result is not changed.
struct key_outcome {
    /// The key.
    std::string_view key{};
    /// Hit, miss or error.
    key_status status = key_status::miss;
    const item* hit = nullptr; ///< the item, when `status` is hit
    std::error_code ec{};      ///< why the key could not be looked up, when `status` is error
};

/// A multi-key retrieval: every key asked is exactly one of a hit (its item in `hits`), a
/// miss (its key in `misses`) or an error (its key and the reason in `errors`: its server
/// failed or is down, or answered it with an error); each list is in request order, and `slots`
/// says, per key asked and in request order, which list holds it and where. A key asked twice has
/// two slots, each with its own outcome.
struct get_multi_result {
    std::vector<item> hits{};          ///< the items found, in request order
    std::vector<std::string> misses{}; ///< the keys not found, in request order
    /// The keys that failed, each with its error, in request order.
    std::vector<std::pair<std::string, std::error_code>> errors{};
    std::vector<key_slot> slots{}; ///< one per key asked, in request order

    class outcome_range;
    /// The keys' outcomes in request order, as key_outcome values.
    outcome_range outcomes() const noexcept;

    /// The outcome of `key` (of its first occurrence among the keys asked), or empty if it
    /// was not asked (a linear search).
    std::optional<key_outcome> outcome(std::string_view key) const noexcept;

    /// The outcome of the key in `slot` (one of `slots`).
    key_outcome outcome_of(const key_slot& slot) const noexcept
    {
        switch (slot.status) {
        case key_status::hit: {
            const item& it = hits[slot.index];
            return {it.key, key_status::hit, &it, {}};
        }
        case key_status::miss:
            return {misses[slot.index], key_status::miss, nullptr, {}};
        case key_status::error:
            break;
        }
        const auto& [key, ec] = errors[slot.index];
        return {key, key_status::error, nullptr, ec};
    }

    /// The hit for `key`, or nullptr (a linear search).
    const item* find(std::string_view key) const noexcept
    {
        for (const auto& i : hits)
            if (i.key == key)
                return &i;
        return nullptr;
    }
};

/// get_multi_result::outcomes(): a sized forward range of key_outcome values, one per key
/// asked, in request order.
class get_multi_result::outcome_range {
public:
    /// A forward iterator over the slots of a get_multi_result, yielding key_outcome values.
    class iterator {
    public:
        using value_type = key_outcome;                     ///< what it yields (by value)
        using difference_type = std::ptrdiff_t;             ///< the distance type
        using iterator_concept = std::forward_iterator_tag; ///< a forward iterator

        /// A singular iterator (for the iterator concepts).
        iterator() = default;
        /// An iterator at slot `s` of result `r`.
        iterator(const get_multi_result* r, const key_slot* s) noexcept
            : result_(r)
            , slot_(s)
        {
        }
        /// The outcome of the key at this slot (get_multi_result::outcome_of).
        key_outcome operator*() const noexcept { return result_->outcome_of(*slot_); }
        /// Moves to the next slot.
        iterator& operator++() noexcept
        {
            ++slot_;
            return *this;
        }
        /// Moves to the next slot; returns the iterator as it was.
        iterator operator++(int) noexcept
        {
            iterator old = *this;
            ++slot_;
            return old;
        }
        /// Are both at the same slot?
        bool operator==(const iterator& o) const noexcept { return slot_ == o.slot_; }

    private:
        const get_multi_result* result_ = nullptr;
        const key_slot* slot_ = nullptr;
    };

    /// The outcomes of `r`, which must outlive the range.
    explicit outcome_range(const get_multi_result& r) noexcept
        : result_(&r)
    {
    }
    /// The first key's outcome.
    iterator begin() const noexcept { return {result_, result_->slots.data()}; }
    /// Past the last key's outcome.
    iterator end() const noexcept
    {
        return {result_, result_->slots.data() + result_->slots.size()};
    }
    /// The number of keys asked (`slots.size()`).
    std::size_t size() const noexcept { return result_->slots.size(); }
    /// Were no keys asked?
    bool empty() const noexcept { return result_->slots.empty(); }
    /// The outcome of the i-th key asked.
    key_outcome operator[](std::size_t i) const noexcept
    {
        return result_->outcome_of(result_->slots[i]);
    }

private:
    const get_multi_result* result_;
};

inline get_multi_result::outcome_range get_multi_result::outcomes() const noexcept
{
    return outcome_range(*this);
}

/// The outcome of set/add/replace/append/prepend/cas.
enum class store_status {
    stored,     ///< STORED
    not_stored, ///< NOT_STORED: add on an existing key, replace/append/prepend on a missing one
    exists,     ///< EXISTS: cas conflict, the item changed since it was read
    not_found,  ///< NOT_FOUND: cas on a missing item
};

/// The outcome of delete (and of invalidate).
enum class delete_status {
    deleted,   ///< DELETED (meta: HD): removed, or for invalidate marked stale
    not_found, ///< NOT_FOUND: no such item
    exists,    ///< a delete or invalidate on a CAS unique: the item changed since (meta only)
};

/// The outcome of touch.
enum class touch_status { touched, not_found };

/// The outcome of incr/decr: the new value, or empty when the key does not exist.
using arith_result = std::optional<std::uint64_t>;

/// `stats` lines in the server's order: (name, value).
using stats_result = std::vector<std::pair<std::string, std::string>>;

/// Item lifetime. memcached reads a value over 30 days (2,592,000 s) as an absolute
/// Unix time; 0 means "never expires"; a negative value expires the item at once.
using ttl = std::chrono::seconds;

/// Options of a meta get (async_meta_get; the meta protocol only).
struct meta_get_options {
    /// Lease on a miss (N): create an empty placeholder living this long, and win the right
    /// to fill it (`won`); readers until it is filled see it with `lease_taken`. Zero: none.
    ttl lease{0};
    /// Early recache (R): win the right to refresh an item whose remaining TTL is below
    /// this (`won` for one reader, `lease_taken` for the others). Zero: none.
    ttl recache{0};
    /// Ask the item's remaining TTL, last access, hit-before bit and size.
    bool item_info = false;
    /// Set the item's expiry to this (as gat does).
    std::optional<ttl> touch{};
};

/// An item as a meta get returns it: the item (with its CAS unique) and what the server said
/// of it.
struct meta_item {
    memcoro::item item{}; ///< the item, with its CAS unique
    /// W: this caller won the right to (re)compute the item: a lease's empty placeholder, a
    /// stale item, or one due for early recache. Write it back with async_cas and `item.cas`.
    bool won = false;
    /// Z: another caller already won; its write is on the way. An empty item flagged so is a
    /// placeholder, not a value.
    bool lease_taken = false;
    /// X: the item was invalidated (async_invalidate); its value is stale.
    bool stale = false;
    /// With meta_get_options::item_info: seconds the item has left (-1: it never expires),
    /// seconds since it was last read, whether it was read before, and its value's size.
    std::optional<std::chrono::seconds> ttl_left{};
    /// With meta_get_options::item_info: seconds since the item was last read.
    std::optional<std::chrono::seconds> last_access{};
    /// With meta_get_options::item_info: whether the item was read before.
    std::optional<bool> hit_before{};
    /// With meta_get_options::item_info: the size of its value in bytes.
    std::optional<std::uint64_t> size{};

    /// Is this a lease's placeholder (no value yet), rather than an item?
    bool placeholder() const noexcept
    {
        return (won || lease_taken) && !stale && item.value.empty();
    }
};

/// The outcome of a meta get: the item on a hit (or a lease's placeholder), empty on a miss.
using meta_get_result = std::optional<meta_item>;

/// Options of the storage commands.
struct store_options {
    ttl expiry{0};           ///< the item's lifetime (see ttl); 0: it never expires
    std::uint32_t flags = 0; ///< the client flags stored with the item
    /// Meta protocol: a quiet write (`ms ... q` per key, closed by `mn`): the server answers
    /// only the keys that fail, so a multi-key set costs it one reply line instead of one per
    /// key. Failures still reach each key's result. memcached's error lines (SERVER_ERROR,
    /// CLIENT_ERROR) name no key: every key of the batch it may be for (those after the last
    /// key answered, up to the next one answered) is reported with it, so an error never
    /// passes for success, but keys that were stored may be reported failed. The text
    /// protocol reads each key's reply as usual.
    bool quiet = false;
};

/// Options of a multi-key delete.
struct delete_options {
    /// Meta protocol: a quiet batch (`md ... q` per key, closed by `mn`), as
    /// store_options::quiet: only missing keys (NF) and failures are answered.
    bool quiet = false;
};

/// One key's outcome in a multi-key write: its status, or the error that kept it from its
/// server (then `status` is meaningless).
template <class Status>
struct keyed_result {
    std::string key;    ///< the key
    Status status{};    ///< its outcome, when `ec` is empty
    std::error_code ec; ///< the error that kept it from its server, if any
};

/// set_multi (and the other multi-key writes): one entry per key, in request order.
using store_multi_result = std::vector<keyed_result<store_status>>;
/// delete_multi: one entry per key, in request order.
using delete_multi_result = std::vector<keyed_result<delete_status>>;

/// One server's answer to a request sent to every server.
struct server_stats {
    std::string server; ///< "host:port" or the socket path
    std::error_code ec; ///< the server's error, if it failed
    stats_result stats; ///< its `stats` lines, when it answered
};

/// stats_all: one entry per server, in configuration order.
using stats_all_result = std::vector<server_stats>;

/// The enumerator's name, e.g. "stored", "not_stored".
const char* to_string(store_status s) noexcept;
/// The enumerator's name, e.g. "deleted", "not_found".
const char* to_string(delete_status s) noexcept;
/// The enumerator's name: "touched" or "not_found".
const char* to_string(touch_status s) noexcept;
/// The enumerator's name: "hit", "miss" or "error".
const char* to_string(key_status s) noexcept;

} // namespace memcoro
