#include <memcoro/detail/fan_out.hpp>

#include <algorithm>

namespace memcoro::detail {

void fan_out_planner::plan(std::span<const std::uint32_t> target, std::size_t servers,
                           const proto::string_list& keys, const fan_out_limits& limits,
                           index_list& order, std::vector<fan_out_part>& parts)
{
    const auto n = static_cast<std::uint32_t>(target.size());
    count_.assign(servers, 0);
    for (const std::uint32_t t : target)
        if (t != none)
            ++count_[t];
    // Each server's slice of `order` starts where the previous one's ends.
    begin_.assign(servers + 1, 0);
    for (std::size_t s = 0; s < servers; ++s)
        begin_[s + 1] = begin_[s] + count_[s];
    order.resize(begin_.back());
    {
        auto& fill = count_; // reused as each server's next free slot
        std::copy(begin_.begin(), begin_.end() - 1, fill.begin());
        for (std::uint32_t i = 0; i < n; ++i)
            if (target[i] != none)
                order[fill[target[i]]++] = i;
    }
    parts.clear();
    const std::size_t chunk = std::max<std::size_t>(limits.max_keys, 1);
    for (std::uint32_t s = 0; s < servers; ++s) {
        for (std::uint32_t from = begin_[s]; from < begin_[s + 1];) {
            auto to =
                static_cast<std::uint32_t>(std::min<std::size_t>(from + chunk, begin_[s + 1]));
            if (limits.max_line_key_bytes > 0) {
                std::size_t bytes = 0;
                for (std::uint32_t k = from; k < to; ++k) {
                    bytes += 1 + limits.per_key_bytes + keys[order[k]].size();
                    if (bytes > limits.max_line_key_bytes && k > from) {
                        to = k;
                        break;
                    }
                }
            }
            parts.push_back({s, from, to});
            from = to;
        }
    }
}

} // namespace memcoro::detail
