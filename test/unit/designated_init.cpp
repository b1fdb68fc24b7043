// Compiled, never run: memcoro's public structs take designated initializers that leave
// members out without -Wmissing-field-initializers warnings (part of -Wextra), as the docs
// write them (`add_server(host, port, {.weight = 2})`). With -Dwerror=true a member added
// without an initializer fails the build here.
#include <memcoro/client.hpp>
#include <memcoro/server_list_sources.hpp>

#include <chrono>

namespace {

[[maybe_unused]] void designated_initializers()
{
    using namespace std::chrono_literals;
    [[maybe_unused]] memcoro::client_config cfg{.op_timeout = 250ms};
    [[maybe_unused]] memcoro::server_address address{.host = "10.0.0.1", .port = 11211};
    [[maybe_unused]] memcoro::server_options options{.weight = 2, .retry_interval = 15s};
    [[maybe_unused]] memcoro::server_policy policy{.failure_limit = 1};
    [[maybe_unused]] memcoro::store_options store{.expiry = std::chrono::minutes(5)};
    [[maybe_unused]] memcoro::item item{.key = "k"};
    [[maybe_unused]] memcoro::ring::node node{.host = "10.0.0.1", .weight = 3};
    [[maybe_unused]] memcoro::dns_source_options dns{.type = memcoro::dns::record_type::srv};
}

} // namespace
