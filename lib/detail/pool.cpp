#include <memcoro/detail/pool.hpp>

#include <array>
#include <vector>

namespace memcoro::detail {
namespace {

constexpr std::size_t granularity = 64;
constexpr std::size_t classes = pool_max_block / granularity;
/// Strings longer than this are not kept in a cached request.
constexpr std::size_t max_kept_capacity = 64 * 1024;
constexpr std::size_t max_cached_requests = 1024;
/// Key strings kept for reuse (each with room for any valid key) and the most kept.
constexpr std::size_t max_key_capacity = 256;
constexpr std::size_t max_spare_keys = 4096;
const std::size_t inline_capacity = std::string().capacity();

std::size_t class_of(std::size_t bytes) noexcept
{
    return (bytes + granularity - 1) / granularity - 1;
}

struct free_block {
    free_block* next;
};

struct thread_cache {
    std::array<free_block*, classes> heads{};
    std::array<std::size_t, classes> counts{};
    std::vector<proto::request*> requests;
    std::vector<std::string> spare_keys;

    thread_cache()
    {
        requests.reserve(64);
        spare_keys.reserve(max_spare_keys);
    }
    thread_cache(const thread_cache&) = delete;
    thread_cache& operator=(const thread_cache&) = delete;

    ~thread_cache()
    {
        for (std::size_t c = 0; c < classes; ++c) {
            while (free_block* b = heads[c]) {
                heads[c] = b->next;
                ::operator delete(b);
            }
        }
        for (auto* r : requests)
            delete r;
    }
};

// The hot path reads one pointer from static TLS: no __tls_get_addr call, no guard variable.
#define MEMCORO_FAST_TLS __attribute__((tls_model("initial-exec")))
MEMCORO_FAST_TLS thread_local thread_cache* current_cache = nullptr;
/// Set once the thread's cache is destroyed: memory freed later on the thread (by other
/// thread-local or static destructors) goes straight back to operator delete.
MEMCORO_FAST_TLS thread_local bool cache_gone = false;

/// Destroys the thread's cache when the thread exits.
struct cache_owner {
    thread_cache* cache = nullptr;
    cache_owner() = default;
    cache_owner(const cache_owner&) = delete;
    cache_owner& operator=(const cache_owner&) = delete;
    ~cache_owner()
    {
        cache_gone = true;
        current_cache = nullptr;
        delete cache;
    }
};

[[gnu::noinline]] thread_cache* make_cache() noexcept
{
    if (cache_gone)
        return nullptr;
    static thread_local cache_owner owner;
    try {
        owner.cache = new thread_cache();
    } catch (...) {
        return nullptr;
    }
    current_cache = owner.cache;
    return current_cache;
}

thread_cache* cache() noexcept
{
    if (thread_cache* c = current_cache) [[likely]]
        return c;
    return make_cache();
}

void trim(std::string& s) noexcept
{
    if (s.capacity() > max_kept_capacity)
        std::string().swap(s);
    else
        s.clear();
}

} // namespace

void* pool_allocate(std::size_t bytes)
{
    if (bytes == 0 || bytes > pool_max_block)
        return ::operator new(bytes);
    const std::size_t c = class_of(bytes);
    if (thread_cache* tc = cache()) {
        if (free_block* b = tc->heads[c]) {
            tc->heads[c] = b->next;
            --tc->counts[c];
            return b;
        }
    }
    return ::operator new((c + 1) * granularity);
}

void pool_deallocate(void* p, std::size_t bytes) noexcept
{
    if (!p)
        return;
    if (bytes == 0 || bytes > pool_max_block) {
        ::operator delete(p);
        return;
    }
    const std::size_t c = class_of(bytes);
    thread_cache* tc = cache();
    if (!tc || tc->counts[c] >= pool_max_cached) {
        ::operator delete(p);
        return;
    }
    auto* b = static_cast<free_block*>(p);
    b->next = tc->heads[c];
    tc->heads[c] = b;
    ++tc->counts[c];
}

void request_recycler::operator()(proto::request* r) const noexcept
{
    if (!r)
        return;
    thread_cache* tc = cache();
    if (!tc || tc->requests.size() >= max_cached_requests || r->keys.capacity() > 4096 ||
        r->values.capacity() > 4096) {
        delete r;
        return;
    }
    r->cmd = proto::command::get;
    r->multi_key = false;
    r->all_servers = false;
    trim(r->key);
    // Keys too long for the string's inline buffer keep theirs, for the next request's keys.
    for (auto& k : r->keys) {
        if (k.capacity() <= inline_capacity || k.capacity() > max_key_capacity ||
            tc->spare_keys.size() >= max_spare_keys)
            continue;
        k.clear();
        tc->spare_keys.push_back(std::move(k));
    }
    r->keys.clear();
    trim(r->value);
    r->values.clear();
    r->flags = 0;
    r->exptime = 0;
    r->cas = 0;
    r->has_delay = false;
    r->group.clear();
    r->borrowed_keys = nullptr;
    r->borrowed_index = nullptr;
    r->borrowed_count = 0;
    try {
        tc->requests.push_back(r);
    } catch (...) {
        delete r;
    }
}

void add_key(std::vector<std::string>& keys, std::string_view key)
{
    if (key.size() > inline_capacity) {
        if (thread_cache* tc = cache(); tc && !tc->spare_keys.empty()) {
            keys.push_back(std::move(tc->spare_keys.back()));
            tc->spare_keys.pop_back();
            keys.back().assign(key);
            return;
        }
    }
    keys.emplace_back(key);
}

request_ptr make_request()
{
    if (thread_cache* tc = cache(); tc && !tc->requests.empty()) {
        proto::request* r = tc->requests.back();
        tc->requests.pop_back();
        return request_ptr(r);
    }
    return request_ptr(new proto::request());
}

} // namespace memcoro::detail
