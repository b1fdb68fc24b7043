#pragma once
// Staging a multiplexer's waiting requests the way a connection's writer does, for the tests
// of the sans-I/O core (the unit tests and the fuzzer): no Asio, no Catch2.

#include <memcoro/detail/multiplexer.hpp>

#include <cstddef>
#include <string>

namespace memcoro::test {

/// Stages up to about `max_bytes` of what `m` has waiting (see multiplexer::stage) and
/// appends the bytes a writer would send to `wire`. Returns the number of requests staged.
std::size_t stage(detail::multiplexer& m, std::string& wire, std::size_t max_bytes = 1 << 20);

/// The same, returning the bytes.
std::string stage(detail::multiplexer& m, std::size_t max_bytes = 1 << 20);

} // namespace memcoro::test
