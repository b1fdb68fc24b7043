#pragma once
// FastLZ blocks, levels 1 and 2, written from the format's description (see fastlz.cpp).

#include "bounded_output.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace memcoro::value::detail {

/// Appends the FastLZ block of `in` at `level` (1 or 2) to `out`. Empty input: nothing.
void fastlz_compress(std::string_view in, int level, std::string& out);

/// Decodes the FastLZ block `in` (its level read from its first byte) into `out`.
std::error_code fastlz_decompress(std::string_view in, bounded_output& out);

} // namespace memcoro::value::detail
