#pragma once
/// \file
/// Recycled memory for the hot path: request entries and requests are reused, per thread,
/// instead of being allocated for every operation.

#include <memcoro/proto/request.hpp>
#include <memcoro/types.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
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
/// to a bound), so that the next request of the same type usually needs no allocation.
struct request_recycler {
    void operator()(proto::request* r) const noexcept;
};

/// An owned request, recycled when released.
using request_ptr = std::unique_ptr<proto::request, request_recycler>;

/// Indexes kept per multi-key request, in pooled memory.
using index_list = std::vector<std::uint32_t, pool_allocator<std::uint32_t>>;
/// Per-key outcomes and errors of a multi-key retrieval, in pooled memory.
using slot_list = std::vector<key_slot, pool_allocator<key_slot>>;
using error_list = std::vector<std::error_code, pool_allocator<std::error_code>>;

/// The index of T among a variant's alternatives.
template <class T, class... Ts>
constexpr std::size_t alternative_index(std::variant<Ts...>*) noexcept
{
    std::size_t i = 0;
    bool found = false;
    ((found = found || std::is_same_v<T, Ts>, i += found ? 0 : 1), ...);
    return i;
}

/// A cleared request holding alternative `index`, from the thread's cache when it has one.
/// (A cached storage request keeps one empty value, whose capacity the next value reuses:
/// assign the first value, or the whole list.)
request_ptr make_request(std::size_t index);

/// A cleared request of type T (one of proto::request's alternatives).
template <class T>
request_ptr make_request()
{
    return make_request(alternative_index<T>(static_cast<proto::request*>(nullptr)));
}

/// The T a request holds (it must hold one).
template <class T>
T& as(const request_ptr& r) noexcept
{
    return *std::get_if<T>(r.get());
}

/// add_key for a key that may be too long for the string's inline buffer.
void add_long_key(std::vector<std::string>& keys, std::string_view key);

/// Appends `key` to a list of keys, in a string recycled from an earlier request's keys when
/// the key is too long for the string's inline buffer.
inline void add_key(std::vector<std::string>& keys, std::string_view key)
{
    // 15 bytes fit in the inline buffer of every standard library's strings.
    if (key.size() <= 15)
        keys.emplace_back(key);
    else
        add_long_key(keys, key);
}

/// Sizes a list of strings to `n`, keeping the strings' capacity: strings dropped go to the
/// thread's spare keys, strings added come from them (so a list reused for keys of similar
/// lengths allocates nothing).
void resize_keys(std::vector<std::string>& keys, std::size_t n);

/// An item from the thread's cache of spare items (with their strings' capacity), or a new
/// one; and back to the cache.
item take_item();
void give_item(item&& it) noexcept;

/// `n` items in a list from the thread's cache (items and list with their capacity), or new
/// ones; and back to the cache.
std::vector<item> take_items(std::size_t n);
void give_items(std::vector<item>&& items) noexcept;

} // namespace memcoro::detail
