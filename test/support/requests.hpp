#pragma once
// Requests for the tests of the sans-I/O core (the unit tests and the fuzzer): no Asio, no
// Catch2.

#include <memcoro/detail/pool.hpp>
#include <memcoro/proto/request.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace memcoro::test {

/// A list owning `strings`.
proto::string_list list_of(std::vector<std::string> strings);

/// A request of command `c` for `keys` (their one key for single-key commands): storage with
/// an empty value per key, gat/gats/touch to expiry 0, incr/decr by 0.
proto::request make_req(proto::command c, std::vector<std::string> keys);

/// make_req() of one key.
proto::request single(proto::command c, std::string key);

/// make_req() of several keys (a retrieval).
proto::request multi_get(proto::command c, std::vector<std::string> keys);

/// A set of one key.
proto::request set_req(std::string key, std::string value, std::uint32_t flags = 0,
                       std::int64_t exptime = 0);

/// make_req() of a command that takes no key.
proto::request bare(proto::command c);

/// A get of `keys` in a recycled request, as the client makes them.
detail::request_ptr get_request(std::vector<std::string> keys);

/// The request's first key; empty for requests without keys.
std::string first_key(const proto::request& r);

} // namespace memcoro::test
