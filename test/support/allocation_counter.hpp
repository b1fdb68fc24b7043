#pragma once
// Counts the allocations of a test program (allocation_counter.cpp replaces the global
// operator new) so that tests can check that a code path does not allocate. Link it only into
// programs that want it: the replacement is program-wide.

#include <cstddef>

namespace memcoro::test {

/// Number of calls to the global operator new so far, in any thread, and of aligned_alloc
/// (Asio's recycling allocator) where counts_aligned_alloc().
std::size_t allocation_count() noexcept;

/// The aligned_alloc calls among them.
std::size_t aligned_allocation_count() noexcept;

/// False under a sanitizer, whose runtime owns aligned_alloc.
bool counts_aligned_alloc() noexcept;

} // namespace memcoro::test
