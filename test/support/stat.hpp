#pragma once
// Reading a server's `stats` reply in the integration and fault tests.

#include <memcoro/types.hpp>

#include <string>
#include <string_view>

namespace memcoro::test {

/// The value of statistic `name`; empty if the server did not report it.
inline std::string stat(const stats_result& s, std::string_view name)
{
    for (const auto& [k, v] : s)
        if (k == name)
            return v;
    return {};
}

/// The value of statistic `name` as a number; -1 if the server did not report it.
inline long long stat_num(const stats_result& s, std::string_view name)
{
    const auto v = stat(s, name);
    return v.empty() ? -1 : std::stoll(v);
}

} // namespace memcoro::test
