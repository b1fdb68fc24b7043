#pragma once
/// \file
/// Client configuration.

#include <memcoro/server_address.hpp>

#include <chrono>
#include <cstddef>
#include <vector>

namespace memcoro {

struct client_config {
    /// The servers, in the order other clients of the fleet list them (rings depend on it).
    std::vector<server_address> servers;

    /// Budget for resolving and connecting to a server.
    std::chrono::milliseconds connect_timeout{1000};
    /// Default deadline of every operation, from the call to the reply; zero: none.
    /// A request that times out after it was written keeps its place on the connection: its
    /// reply is read and dropped, so no later caller ever receives it.
    std::chrono::milliseconds op_timeout{1000};
    /// After a failed connect, calls fail at once with the connect error for this long, then
    /// the next call tries again; the delay doubles on each failure up to max_reconnect_delay.
    std::chrono::milliseconds reconnect_delay{100};
    std::chrono::milliseconds max_reconnect_delay{5000};

    /// Largest value memcoro sends or accepts (memcached's -I, 1 MiB by default). A reply that
    /// announces more is a protocol error: nothing is allocated for it.
    std::size_t max_item_size = 1024 * 1024;
    /// Bytes of requests coalesced into one write.
    std::size_t max_write_bytes = 256 * 1024;
};

} // namespace memcoro
