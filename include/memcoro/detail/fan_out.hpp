#pragma once
/// \file
/// Planning a multi-key call: which keys go to which server, in how many requests. Pure: no
/// servers, no sockets, only the keys and each key's server.

#include <memcoro/detail/pool.hpp>
#include <memcoro/proto/request.hpp>

#include <cstdint>
#include <span>
#include <vector>

namespace memcoro::detail {

/// One request of a planned call: to `server`, the keys `order[from..to)` of the plan.
struct fan_out_part {
    std::uint32_t server, from, to;
};

/// How big one request may be.
struct fan_out_limits {
    /// Most keys in one request.
    std::size_t max_keys = 250;
    /// Most bytes of keys (each with the space before it) on one request line; 0: no limit.
    /// (memcached closes the connection on a gat/gats line over proto::max_touch_line.)
    std::size_t max_line_key_bytes = 0;
    /// Bytes each key costs beyond its own size and a space (a meta get's command and flags),
    /// counted against max_line_key_bytes.
    std::size_t per_key_bytes = 0;
};

/// The key bytes a gat/gats line may hold: what the command, the expiry and "\r\n" leave.
inline constexpr std::size_t touch_line_key_bytes = proto::max_touch_line - 32;

/// Plans multi-key calls, keeping its scratch memory from call to call.
class fan_out_planner {
public:
    /// Key i has no usable server.
    static constexpr std::uint32_t none = ~std::uint32_t(0);

    /// Groups the keys by server, in request order within each server, and cuts each
    /// server's keys into parts within `limits`, servers in index order. `target[i]` is key
    /// i's server (below `servers`) or `none` (left out of the plan). On return `order` holds
    /// the planned keys' indexes, server by server, and `parts` the requests, each a slice of
    /// `order`. A key alone is always a part, whatever the limits.
    void plan(std::span<const std::uint32_t> target, std::size_t servers,
              const proto::string_list& keys, const fan_out_limits& limits, index_list& order,
              std::vector<fan_out_part>& parts);

private:
    std::vector<std::uint32_t> count_, begin_;
};

} // namespace memcoro::detail
