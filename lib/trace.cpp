#include <memcoro/trace.hpp>

#include <string>

namespace memcoro {

const char* to_string(trace_level l) noexcept
{
    switch (l) {
    case trace_level::error:
        return "error";
    case trace_level::warning:
        return "warning";
    case trace_level::info:
        return "info";
    case trace_level::debug:
        return "debug";
    }
    return "?";
}

const char* to_string(trace_kind k) noexcept
{
    switch (k) {
    case trace_kind::connected:
        return "connected";
    case trace_kind::reconnected:
        return "reconnected";
    case trace_kind::connection_failed:
        return "connection failed";
    case trace_kind::protocol_error:
        return "protocol error";
    case trace_kind::server_down:
        return "marked down";
    case trace_kind::server_up:
        return "marked up";
    case trace_kind::slow_request:
        return "slow request";
    case trace_kind::rejected:
        return "rejected";
    }
    return "?";
}

std::string describe(const trace_event& e)
{
    std::string s(e.server);
    s += ": ";
    s += to_string(e.kind);
    if (e.kind == trace_kind::slow_request) {
        s += ": ";
        s += e.command;
        if (!e.key.empty()) {
            s += ' ';
            s += e.key;
        }
        s += " (";
        s += std::to_string(e.keys);
        s += e.keys == 1 ? " key)" : " keys)";
        s += " took ";
        const auto us = e.latency.count();
        s += us >= 10000 ? std::to_string(us / 1000) + " ms" : std::to_string(us) + " us";
    }
    if (e.ec) {
        s += ": ";
        s += e.ec.message();
    }
    if (e.cause) {
        s += " (";
        s += e.cause.message();
        s += ')';
    }
    return s;
}

} // namespace memcoro
