#include <memcoro/detail/op.hpp>

namespace memcoro::detail {

void convert(response& r, get_result& out)
{
    if (r.found)
        out = std::move(r.single);
    else
        out.reset();
}

void convert(response& r, meta_get_result& out)
{
    if (!r.found) {
        out.reset();
        return;
    }
    using bits = proto::meta_info::bits;
    const proto::meta_info& m = r.meta;
    meta_item& it = out.emplace();
    it.item = std::move(r.single);
    it.won = m.has(bits::won);
    it.lease_taken = m.has(bits::win_sent);
    it.stale = m.has(bits::stale);
    if (m.has(bits::has_ttl))
        it.ttl_left = std::chrono::seconds(m.ttl);
    if (m.has(bits::has_last_access))
        it.last_access = std::chrono::seconds(m.last_access);
    if (m.has(bits::has_hit))
        it.hit_before = m.has(bits::hit_before);
    if (m.has(bits::has_size))
        it.size = m.size;
}

namespace {

/// Every key's outcome (`out.slots`, `out.misses`, `out.errors`), from a reply gathered over
/// several requests (`r.key_slots`) or read from one (the hits' key indexes). `keys`: the
/// call's own.
void place_keys(response& r, const std::vector<std::string>& keys, get_multi_result& out,
                bool reuse)
{
    const std::size_t n = keys.size();
    auto& slots = out.slots;
    if (r.key_slots.size() != n) {
        // One request: its hits' key indexes rise (memcached answers in request order), and
        // so do those of the keys it answered with an error; the other keys missed.
        r.key_slots.resize(n);
        r.missed.resize(n - r.item_index.size() - r.failed_at.size());
        const index_list& hit_at = r.item_index;
        const index_list& failed_at = r.failed_at;
        std::uint32_t w = 0, m = 0, f = 0;
        for (std::uint32_t i = 0; i < n; ++i) {
            if (w < hit_at.size() && hit_at[w] == i) {
                r.key_slots[i] = {key_status::hit, w++};
            } else if (f < failed_at.size() && failed_at[f] == i) {
                r.key_slots[i] = {key_status::error, f++};
            } else {
                r.missed[m] = i;
                r.key_slots[i] = {key_status::miss, m++};
            }
        }
    }
    slots.assign(r.key_slots.begin(), r.key_slots.end());
    const std::size_t missed = r.missed.size();
    if (reuse) {
        // The caller's strings keep their capacity; more come from the thread's spare keys.
        resize_keys(out.misses, missed);
        std::string* const misses = out.misses.data();
        for (std::size_t j = 0; j < missed; ++j)
            misses[j].assign(keys[r.missed[j]]);
    } else {
        out.misses.reserve(missed);
        for (std::size_t j = 0; j < missed; ++j)
            out.misses.emplace_back(keys[r.missed[j]]);
    }
    const std::size_t failed = r.key_errors.size();
    out.errors.resize(failed);
    for (std::size_t i = 0; failed > 0 && i < n; ++i) {
        const key_slot s = slots[i];
        if (s.status == key_status::error) {
            auto& [key, ec] = out.errors[s.index];
            key.assign(keys[i]);
            ec = r.key_errors[s.index];
        }
    }
}

const std::size_t inline_capacity = std::string().capacity();

/// Gives `to` the bytes of `from`, neither losing its memory: bytes that fit in a string's
/// inline buffer are copied (cheaper than exchanging two inline buffers), others change
/// strings with their buffer.
void take_bytes(std::string& to, std::string& from)
{
    if (from.size() <= inline_capacity)
        to = from;
    else
        to.swap(from);
}

} // namespace

void deliver_into(response& r, const proto::string_list& keys, get_multi_result& out)
{
    auto& hits = out.hits;
    const std::size_t n = r.items.size();
    // The caller's items beyond the hits go to the cache rather than away with their memory.
    while (hits.size() > n) {
        give_item(std::move(hits.back()));
        hits.pop_back();
    }
    hits.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        item& mine = hits[i];
        item& hit = r.items[i];
        take_bytes(mine.key, hit.key);
        take_bytes(mine.value, hit.value);
        mine.flags = hit.flags;
        mine.cas = hit.cas;
    }
    give_items(std::move(r.items));
    place_keys(r, keys.owned(), out, true);
}

void convert(response& r, bool& found)
{
    found = r.found;
}

void convert(response& r, const proto::string_list& keys, get_multi_result& out)
{
    out.hits = std::move(r.items);
    place_keys(r, keys.owned(), out, false);
}

void convert(response& r, store_status& out)
{
    switch (r.status) {
    case proto::reply_type::stored:
        out = store_status::stored;
        break;
    case proto::reply_type::not_stored:
        out = store_status::not_stored;
        break;
    case proto::reply_type::exists:
        out = store_status::exists;
        break;
    default:
        out = store_status::not_found;
        break;
    }
}

void convert(response& r, delete_status& out)
{
    switch (r.status) {
    case proto::reply_type::deleted:
        out = delete_status::deleted;
        break;
    case proto::reply_type::exists:
        out = delete_status::exists;
        break;
    default:
        out = delete_status::not_found;
        break;
    }
}

void convert(response& r, touch_status& out)
{
    out = r.status == proto::reply_type::touched ? touch_status::touched : touch_status::not_found;
}

void convert(response& r, arith_result& out)
{
    if (r.status == proto::reply_type::number)
        out = r.number;
    else
        out.reset();
}

void convert(response& r, std::string& out)
{
    out = std::move(r.text);
}

void convert(response& r, stats_result& out)
{
    out = std::move(r.stats);
}

} // namespace memcoro::detail

namespace memcoro::detail {
namespace {

template <class Status>
void convert_keyed(response& r, std::vector<keyed_result<Status>>& out)
{
    out.clear();
    out.reserve(r.outcomes.size());
    for (std::size_t i = 0; i < r.outcomes.size(); ++i) {
        response one;
        one.status = r.outcomes[i].status;
        keyed_result<Status> k;
        k.key = std::move(r.outcomes[i].key);
        k.ec = r.outcomes[i].ec;
        if (!k.ec)
            convert(one, k.status);
        out.push_back(std::move(k));
    }
}

} // namespace

void convert(response& r, store_multi_result& out)
{
    convert_keyed(r, out);
}

void convert(response& r, delete_multi_result& out)
{
    convert_keyed(r, out);
}

void convert(response& r, stats_all_result& out)
{
    out.clear();
    for (auto& [name, ec, stats] : r.per_server)
        out.push_back(server_stats{std::move(name), ec, std::move(stats)});
}

} // namespace memcoro::detail
