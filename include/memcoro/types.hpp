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
    std::string key{};
    std::string value{};
    std::uint32_t flags = 0;
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
    miss,  ///< not found: the key is in `misses`
    hit,   ///< found: its item is in `hits`
    error, ///< not looked up (its server failed or is down): the key and the error are in `errors`
};

/// Where one key's outcome is kept in a get_multi_result: its status, and its index in
/// `hits`, `misses` or `errors` (the list the status names).
struct key_slot {
    key_status status = key_status::miss;
    std::uint32_t index = 0;
};

/// One key's outcome, as get_multi_result presents it: views into the result, valid while
/// the result is not changed.
struct key_outcome {
    std::string_view key{};
    key_status status = key_status::miss;
    const item* hit = nullptr; ///< the item, when `status` is hit
    std::error_code ec{};      ///< why the key could not be looked up, when `status` is error
};

/// A multi-key retrieval: every key asked is exactly one of a hit (its item in `hits`), a
/// miss (its key in `misses`) or an error (its key and the reason in `errors`: its server
/// failed or is down); each list is in request order, and `slots` says, per key asked and in
/// request order, which list holds it and where. A key asked twice has two slots, each with
/// its own outcome.
struct get_multi_result {
    std::vector<item> hits{};
    std::vector<std::string> misses{};
    std::vector<std::pair<std::string, std::error_code>> errors{};
    std::vector<key_slot> slots{};

    /// The keys' outcomes in request order, as key_outcome values.
    class outcome_range;
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
    class iterator {
    public:
        using value_type = key_outcome;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::forward_iterator_tag;

        iterator() = default;
        iterator(const get_multi_result* r, const key_slot* s) noexcept
            : result_(r)
            , slot_(s)
        {
        }
        key_outcome operator*() const noexcept { return result_->outcome_of(*slot_); }
        iterator& operator++() noexcept
        {
            ++slot_;
            return *this;
        }
        iterator operator++(int) noexcept
        {
            iterator old = *this;
            ++slot_;
            return old;
        }
        bool operator==(const iterator& o) const noexcept { return slot_ == o.slot_; }

    private:
        const get_multi_result* result_ = nullptr;
        const key_slot* slot_ = nullptr;
    };

    explicit outcome_range(const get_multi_result& r) noexcept
        : result_(&r)
    {
    }
    iterator begin() const noexcept { return {result_, result_->slots.data()}; }
    iterator end() const noexcept
    {
        return {result_, result_->slots.data() + result_->slots.size()};
    }
    std::size_t size() const noexcept { return result_->slots.size(); }
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

/// The outcome of delete.
enum class delete_status { deleted, not_found };

/// The outcome of touch.
enum class touch_status { touched, not_found };

/// The outcome of incr/decr: the new value, or empty when the key does not exist.
using arith_result = std::optional<std::uint64_t>;

/// `stats` lines in the server's order: (name, value).
using stats_result = std::vector<std::pair<std::string, std::string>>;

/// Item lifetime. memcached reads a value over 30 days (2,592,000 s) as an absolute
/// Unix time; 0 means "never expires"; a negative value expires the item at once.
using ttl = std::chrono::seconds;

/// Options of the storage commands.
struct store_options {
    ttl expiry{0};
    std::uint32_t flags = 0;
};

/// One key's outcome in a multi-key write: its status, or the error that kept it from its
/// server (then `status` is meaningless).
template <class Status>
struct keyed_result {
    std::string key;
    Status status{};
    std::error_code ec;
};

/// set_multi (and the other multi-key writes): one entry per key, in request order.
using store_multi_result = std::vector<keyed_result<store_status>>;
/// delete_multi: one entry per key, in request order.
using delete_multi_result = std::vector<keyed_result<delete_status>>;

/// One server's answer to a request sent to every server.
struct server_stats {
    std::string server;
    std::error_code ec;
    stats_result stats;
};

/// stats_all: one entry per server, in configuration order.
using stats_all_result = std::vector<server_stats>;

const char* to_string(store_status s) noexcept;
const char* to_string(delete_status s) noexcept;
const char* to_string(touch_status s) noexcept;
const char* to_string(key_status s) noexcept;

} // namespace memcoro
