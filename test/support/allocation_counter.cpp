// Replaces the global operator new/delete with counting versions. In its own translation unit so
// that the compiler never inlines the pair into test code (GCC would then warn about malloc/free
// behind new/delete).

#include "allocation_counter.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<std::size_t> allocations{0};
std::atomic<std::size_t> aligned_allocations{0};
} // namespace

#if defined(__GNUC__) && !defined(__clang__)
// GCC sees the malloc/free pair through the replaced operators and warns; it is correct here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

std::size_t memcoro::test::allocation_count() noexcept
{
    return allocations.load();
}

std::size_t memcoro::test::aligned_allocation_count() noexcept
{
    return aligned_allocations.load();
}

void* operator new(std::size_t size)
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size))
        return p;
    throw std::bad_alloc();
}

void* operator new[](std::size_t size)
{
    return ::operator new(size);
}

// The nothrow forms too: their memory is released through the plain operator delete below,
// so they must come from the same malloc (AddressSanitizer checks the pairing). The aligned forms
// are left to the library; they have their own operator delete.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}

void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept
{
    return ::operator new(size, tag);
}

void operator delete(void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}

void operator delete[](void* p, const std::nothrow_t&) noexcept
{
    std::free(p);
}

void operator delete(void* p) noexcept
{
    std::free(p);
}

void operator delete[](void* p) noexcept
{
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}

void operator delete[](void* p, std::size_t) noexcept
{
    std::free(p);
}

// Asio's recycling allocator (coroutine frames, posted function objects) takes its blocks from
// aligned_alloc, not operator new: counted too, forwarded to glibc's memalign. Not under a
// sanitizer, whose runtime defines aligned_alloc itself.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define MEMCORO_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEMCORO_TEST_SANITIZED 1
#endif

#if !defined(MEMCORO_TEST_SANITIZED) && defined(__GLIBC__)
extern "C" void* __libc_memalign(std::size_t align, std::size_t size);

extern "C" void* aligned_alloc(std::size_t align, std::size_t size) noexcept
{
    allocations.fetch_add(1, std::memory_order_relaxed);
    aligned_allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_memalign(align, size);
}

bool memcoro::test::counts_aligned_alloc() noexcept
{
    return true;
}
#else
bool memcoro::test::counts_aligned_alloc() noexcept
{
    return false;
}
#endif
