#pragma once
// Counts the allocations of a test program (allocation_counter.cpp replaces the global
// operator new) so that tests can check that a code path does not allocate. Link it only into
// programs that want it: the replacement is program-wide.

#include <cstddef>

namespace memcoro::test {

/// Number of calls to the global operator new so far, in any thread.
std::size_t allocation_count() noexcept;

} // namespace memcoro::test
