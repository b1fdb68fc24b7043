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

/// Do the suites run over TLS (MEMCORO_TEST_TRANSPORT=tls)? memcached_process then serves
/// TLS with the certificates of shared_tls_certs(), and the configurations below trust its CA.
inline bool test_over_tls()
{
    const char* t = std::getenv("MEMCORO_TEST_TRANSPORT");
    return t && std::string_view(t) == "tls";
}

/// The CA file of the servers' certificates, when over TLS (tls_certs.cpp).
std::string test_tls_ca_file();

/// The defaults, on the protocol (and transport) under test.
inline client_config base_config()
{
    client_config cfg;
    cfg.protocol = test_protocol();
    if (test_over_tls()) {
        cfg.tls.enabled = true;
        cfg.tls.ca_file = test_tls_ca_file();
    }
    return cfg;
}

/// The servers of `servers` (a comma-separated list). Over TLS, the TCP ones only (a Unix
/// socket server is plaintext).
inline client_config config_for(const std::string& servers)
{
    client_config cfg = base_config();
    cfg.servers = server_address::parse_list(servers);
    if (cfg.tls.enabled) {
        cfg.tls.enabled = false;
        for (auto& a : cfg.servers)
            a.tls = !a.is_unix();
    }
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
