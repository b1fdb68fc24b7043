#include "detail/client_impl.hpp"

#include <memcoro/client.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/server_state.hpp>

#include <nlohmann/json.hpp>

namespace memcoro {

const char* to_string(server_status s) noexcept
{
    return s == server_status::up ? "up" : "down";
}

std::uint64_t latency_histogram::quantile_us(double q) const noexcept
{
    std::uint64_t total = 0;
    for (auto c : counts)
        total += c;
    if (total == 0)
        return 0;
    const auto wanted = static_cast<std::uint64_t>(q * static_cast<double>(total));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets; ++i) {
        seen += counts[i];
        if (seen > wanted || seen == total)
            return upper_us(i);
    }
    return upper_us(buckets - 1);
}

std::string client::servers_json() const
{
    nlohmann::json out = nlohmann::json::object();
    for (const auto& s : servers()) {
        const auto& c = s.counters;
        nlohmann::json hist = nlohmann::json::array();
        for (std::size_t i = 0; i < latency_histogram::buckets; ++i)
            if (c.latency.counts[i])
                hist.push_back(
                    {{"below_us", latency_histogram::upper_us(i)}, {"count", c.latency.counts[i]}});
        out[s.name] = {
            {"status", to_string(s.status)},
            {"weight", s.address.weight},
            {"consecutive_failures", s.consecutive_failures},
            {"list_version", s.list_version},
            {"requests", c.requests},
            {"hits", c.hits},
            {"misses", c.misses},
            {"errors", c.errors},
            {"timeouts", c.timeouts},
            {"transitions", c.transitions},
            {"connects", c.connects},
            {"rejected", c.rejected},
            {"latency_p50_us", c.latency.quantile_us(0.5)},
            {"latency_p99_us", c.latency.quantile_us(0.99)},
            {"latency_histogram", std::move(hist)},
        };
        if (s.tls)
            out[s.name]["tls"] = {{"handshakes", s.tls_handshakes}, {"resumed", s.tls_resumed}};
        if (s.udp)
            out[s.name]["udp"] = {{"requests", s.udp_requests},
                                  {"replies", s.udp_replies},
                                  {"lost", s.udp_lost},
                                  {"dropped", s.udp_dropped}};
    }
    return out.dump(2);
}

} // namespace memcoro
