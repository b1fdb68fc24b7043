// Counting allocation functions, compiled into each bench binary.
//
// The global operator new/delete are replaced (memcoro allocates through them), and the C
// allocation functions are interposed (libmemcached, and Asio's aligned allocations, go through
// malloc/aligned_alloc). Both forward to glibc's allocator (__libc_*), so memory from either
// family may be freed by the other, as with the originals. A `new` is counted once, as a new.

#include "common.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <new>

#include <malloc.h>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
void __libc_free(void* p);
}

namespace {

constinit std::atomic<std::uint64_t> news{0};
constinit std::atomic<std::uint64_t> mallocs{0};

inline void count(std::atomic<std::uint64_t>& c) noexcept
{
    c.fetch_add(1, std::memory_order_relaxed);
}

void* new_impl(std::size_t size, std::size_t align)
{
    count(news);
    if (size == 0)
        size = 1;
    for (;;) {
        void* p =
            align > alignof(std::max_align_t) ? __libc_memalign(align, size) : __libc_malloc(size);
        if (p)
            return p;
        std::new_handler h = std::get_new_handler();
        if (!h)
            throw std::bad_alloc();
        h();
    }
}

void* new_nothrow(std::size_t size, std::size_t align) noexcept
{
    try {
        return new_impl(size, align);
    } catch (...) {
        return nullptr;
    }
}

} // namespace

namespace bench {
alloc_counts alloc_count() noexcept
{
    return {news.load(std::memory_order_relaxed), mallocs.load(std::memory_order_relaxed)};
}
} // namespace bench

// ---- C allocation functions ----------------------------------------------------------------

extern "C" {

void* malloc(std::size_t size) noexcept
{
    count(mallocs);
    return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept
{
    count(mallocs);
    return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) noexcept
{
    count(mallocs);
    return __libc_realloc(p, size);
}

void free(void* p) noexcept
{
    __libc_free(p);
}

void* memalign(std::size_t align, std::size_t size) noexcept
{
    count(mallocs);
    return __libc_memalign(align, size);
}

void* aligned_alloc(std::size_t align, std::size_t size) noexcept
{
    count(mallocs);
    return __libc_memalign(align, size);
}

int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept
{
    if (align < sizeof(void*) || (align & (align - 1)) != 0)
        return EINVAL;
    count(mallocs);
    void* p = __libc_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

} // extern "C"

// ---- operator new / delete -----------------------------------------------------------------

void* operator new(std::size_t size)
{
    return new_impl(size, 0);
}
void* operator new[](std::size_t size)
{
    return new_impl(size, 0);
}
void* operator new(std::size_t size, std::align_val_t a)
{
    return new_impl(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a)
{
    return new_impl(size, static_cast<std::size_t>(a));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept
{
    return new_nothrow(size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept
{
    return new_nothrow(size, 0);
}
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept
{
    return new_nothrow(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept
{
    return new_nothrow(size, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p) noexcept
{
    __libc_free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p, std::size_t) noexcept
{
    __libc_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept
{
    __libc_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept
{
    __libc_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept
{
    __libc_free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept
{
    __libc_free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept
{
    __libc_free(p);
}
