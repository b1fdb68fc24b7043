#pragma once
// Counts the allocations of the test binary (alloc_counter.cpp replaces the global operator new)
// so that tests can check that a code path does not allocate.

#include <cstddef>

namespace memcoro::ring::test {

/// Number of calls to the global operator new so far, in any thread.
std::size_t allocation_count() noexcept;

} // namespace memcoro::ring::test
