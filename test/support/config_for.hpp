#pragma once
// The client configuration the integration and fault tests start from.

#include <memcoro/config.hpp>
#include <memcoro/server_address.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>

namespace memcoro::test {

/// The protocol the suites run on: MEMCORO_TEST_PROTOCOL=meta or auto, else text (meson runs
/// the integration suites once per protocol; against memcached 1.6.18, auto speaks meta).
inline protocol test_protocol()
{
    const char* p = std::getenv("MEMCORO_TEST_PROTOCOL");
    if (p && std::string_view(p) == "meta")
        return protocol::meta;
    if (p && std::string_view(p) == "auto")
        return protocol::automatic;
    return protocol::text;
}

/// The defaults, on the protocol under test.
inline client_config base_config()
{
    client_config cfg;
    cfg.protocol = test_protocol();
    return cfg;
}

/// The servers of `servers` (a comma-separated list).
inline client_config config_for(const std::string& servers)
{
    client_config cfg = base_config();
    cfg.servers = server_address::parse_list(servers);
    return cfg;
}

/// The same, each call bounded by `op_timeout`.
inline client_config config_for(const std::string& servers, std::chrono::milliseconds op_timeout)
{
    client_config cfg = config_for(servers);
    cfg.op_timeout = op_timeout;
    return cfg;
}

} // namespace memcoro::test
