#include <memcoro/detail/op.hpp>

namespace memcoro::detail {

void convert(response& r, get_result& out)
{
    if (r.found)
        out = std::move(r.single);
    else
        out.reset();
}

namespace {

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

void deliver_into(response& r, get_multi_result& out)
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
    out.errors = std::move(r.key_errors);
}

void convert(response& r, bool& found)
{
    found = r.found;
}

void convert(response& r, get_multi_result& out)
{
    out.hits = std::move(r.items);
    out.errors = std::move(r.key_errors);
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
    out =
        r.status == proto::reply_type::deleted ? delete_status::deleted : delete_status::not_found;
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
