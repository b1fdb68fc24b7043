#pragma once
// Decimal text of the value formats' integers (format.hpp), shared by the formats and the
// number functions.

#include <string_view>

namespace memcoro::value::detail {

// `-?[0-9]{1,20}` within int64 when negative, within uint64 otherwise: what memcached's incr
// and decr (uint64) and the PHP clients (int64) can hold.
bool valid_integer(std::string_view s) noexcept;

} // namespace memcoro::value::detail
