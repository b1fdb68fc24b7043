#pragma once
// The client configuration the integration and fault tests start from.

#include <memcoro/config.hpp>
#include <memcoro/server_address.hpp>

#include <chrono>
#include <string>

namespace memcoro::test {

/// The servers of `servers` (a comma-separated list), each call bounded by `op_timeout`.
inline client_config config_for(const std::string& servers, std::chrono::milliseconds op_timeout)
{
    client_config cfg;
    cfg.servers = server_address::parse_list(servers);
    cfg.op_timeout = op_timeout;
    return cfg;
}

} // namespace memcoro::test
