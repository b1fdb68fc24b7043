#pragma once
/// \file
/// Recycled memory for the hot path: request entries and requests are reused, per thread,
/// instead of being allocated for every operation.

#include <memcoro/proto/request.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::detail {

/// Blocks of up to `pool_max_block` bytes come from per-thread free lists (one per 64-byte
/// size class, each holding at most `pool_max_cached` blocks); larger ones from operator new.
/// A block may be freed on another thread than the one that allocated it.
inline constexpr std::size_t pool_max_block = 2048;
inline constexpr std::size_t pool_max_cached = 512;

void* pool_allocate(std::size_t bytes);
void pool_deallocate(void* p, std::size_t bytes) noexcept;

/// A standard allocator over the pool (for std::allocate_shared).
template <class T>
struct pool_allocator {
    using value_type = T;

    pool_allocator() noexcept = default;
    template <class U>
    pool_allocator(const pool_allocator<U>&) noexcept
    {
    }

    T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const pool_allocator<U>&) const noexcept
    {
        return true;
    }
};

/// Returns a request to the thread's cache, cleared but with its strings' capacity kept (up
/// to a bound), so that the next request's key and value usually need no allocation.
struct request_recycler {
    void operator()(proto::request* r) const noexcept;
};

/// An owned request, recycled when released.
using request_ptr = std::unique_ptr<proto::request, request_recycler>;

/// A cleared request, from the thread's cache when it has one.
request_ptr make_request();

/// Appends `key` to a request's keys, in a string recycled from an earlier request's keys
/// when the key is too long for the string's inline buffer.
void add_key(std::vector<std::string>& keys, std::string_view key);

} // namespace memcoro::detail
