#include <memcoro/detail/pool.hpp>

#include <array>
#include <utility>
#include <variant>
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
/// Spare items kept for reuse (their strings trimmed to max_kept_capacity).
constexpr std::size_t max_spare_items = 1024;
/// Item lists kept for reuse, and the most items one may hold.
constexpr std::size_t max_spare_lists = 16;
/// The most memory the spare lists may hold in all (lists, items and their strings).
constexpr std::size_t max_list_bytes = 32 * 1024 * 1024;
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
    /// Cached requests, by the alternative they hold.
    std::array<std::vector<proto::request*>, std::variant_size_v<proto::request>> requests;
    std::vector<std::string> spare_keys;
    std::vector<item> spare_items;
    std::vector<std::vector<item>> spare_lists;
    std::vector<std::size_t> spare_list_bytes; // each spare list's memory
    std::size_t list_bytes = 0;                // theirs in all

    thread_cache()
    {
        for (auto& r : requests)
            r.reserve(16);
        spare_keys.reserve(max_spare_keys);
        spare_items.reserve(max_spare_items);
        spare_lists.reserve(max_spare_lists);
        spare_list_bytes.reserve(max_spare_lists);
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
        for (auto& list : requests)
            for (auto* r : list)
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

namespace {

/// Clears a request, keeping what is worth keeping; false when it is not worth caching.
struct request_clearer {
    thread_cache& tc;

    void keep_keys(proto::string_list& list) const noexcept
    {
        auto& keys = list.own();
        // Keys too long for the string's inline buffer keep theirs, for the next request's keys.
        for (auto& k : keys) {
            if (k.capacity() <= inline_capacity || k.capacity() > max_key_capacity ||
                tc.spare_keys.size() >= max_spare_keys)
                continue;
            k.clear();
            tc.spare_keys.push_back(std::move(k));
        }
        keys.clear();
    }
    bool operator()(proto::retrieval& r) const noexcept
    {
        if (r.keys.own().capacity() > 4096)
            return false;
        keep_keys(r.keys);
        r.with_cas = false;
        r.exptime.reset();
        r.vivify.reset();
        r.recache.reset();
        r.item_info = false;
        return true;
    }
    bool operator()(proto::storage& r) const noexcept
    {
        if (r.keys.own().capacity() > 4096 || r.values.own().capacity() > 4096)
            return false;
        keep_keys(r.keys);
        auto& values = r.values.own();
        // A single value keeps its capacity (up to a bound): the next set's value goes there.
        if (values.size() > 1)
            values.resize(1);
        if (!values.empty())
            trim(values.front());
        r.mode = proto::store_mode::set;
        r.flags = 0;
        r.key_flags.clear();
        r.exptime = 0;
        r.cas_unique = 0;
        r.quiet = false;
        return true;
    }
    bool operator()(proto::deletion& r) const noexcept
    {
        if (r.keys.own().capacity() > 4096)
            return false;
        keep_keys(r.keys);
        r.invalidate = false;
        r.stale_ttl.reset();
        r.cas_unique = 0;
        r.quiet = false;
        return true;
    }
    bool operator()(proto::arithmetic& r) const noexcept
    {
        trim(r.key);
        r = {false, std::move(r.key), 0};
        return true;
    }
    bool operator()(proto::touch& r) const noexcept
    {
        trim(r.key);
        r.exptime = 0;
        return true;
    }
    bool operator()(proto::flush& r) const noexcept
    {
        r.delay.reset();
        return true;
    }
    bool operator()(proto::verbosity& r) const noexcept
    {
        r.level = 0;
        return true;
    }
    bool operator()(proto::stats& r) const noexcept
    {
        trim(r.group);
        return true;
    }
    bool operator()(proto::version&) const noexcept { return true; }
};

/// request_clearer on any request: the common ones without a visit.
bool clear_request(thread_cache& tc, proto::request& r) noexcept
{
    const request_clearer clearer{tc};
    if (auto* q = std::get_if<proto::retrieval>(&r))
        return clearer(*q);
    if (auto* s = std::get_if<proto::storage>(&r))
        return clearer(*s);
    return std::visit(clearer, r);
}

/// A request holding its alternative `index`, default-constructed.
template <std::size_t... I>
proto::request make_alternative(std::size_t index, std::index_sequence<I...>)
{
    proto::request r;
    ((index == I ? (void)r.emplace<I>() : (void)0), ...);
    return r;
}

proto::request make_alternative(std::size_t index)
{
    return make_alternative(index, std::make_index_sequence<std::variant_size_v<proto::request>>{});
}

} // namespace

void request_recycler::operator()(proto::request* r) const noexcept
{
    if (!r)
        return;
    thread_cache* tc = cache();
    if (!tc || r->valueless_by_exception()) {
        delete r;
        return;
    }
    auto& list = tc->requests[r->index()];
    if (list.size() >= max_cached_requests || !clear_request(*tc, *r)) {
        delete r;
        return;
    }
    try {
        list.push_back(r);
    } catch (...) {
        delete r;
    }
}

void add_long_key(std::vector<std::string>& keys, std::string_view key)
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

void resize_keys(std::vector<std::string>& keys, std::size_t n)
{
    thread_cache* tc = cache();
    while (keys.size() > n) {
        std::string& k = keys.back();
        if (tc && k.capacity() > inline_capacity && k.capacity() <= max_key_capacity &&
            tc->spare_keys.size() < max_spare_keys) {
            k.clear();
            tc->spare_keys.push_back(std::move(k));
        }
        keys.pop_back();
    }
    while (keys.size() < n) {
        if (tc && !tc->spare_keys.empty()) {
            keys.push_back(std::move(tc->spare_keys.back()));
            tc->spare_keys.pop_back();
        } else {
            keys.emplace_back();
        }
    }
}

request_ptr make_request(std::size_t index)
{
    if (thread_cache* tc = cache()) {
        auto& list = tc->requests[index];
        if (!list.empty()) {
            proto::request* r = list.back();
            list.pop_back();
            return request_ptr(r);
        }
    }
    return request_ptr(new proto::request(make_alternative(index)));
}

item take_item()
{
    if (thread_cache* tc = cache(); tc && !tc->spare_items.empty()) {
        item it = std::move(tc->spare_items.back());
        tc->spare_items.pop_back();
        return it;
    }
    return item{};
}

void give_item(item&& it) noexcept
{
    thread_cache* tc = cache();
    if (!tc || tc->spare_items.size() >= max_spare_items || tc->spare_items.capacity() == 0)
        return;
    trim(it.key);
    trim(it.value);
    it.flags = 0;
    it.cas = 0;
    tc->spare_items.push_back(std::move(it));
}

std::vector<item> take_items(std::size_t n)
{
    std::vector<item> v;
    if (thread_cache* tc = cache(); tc && !tc->spare_lists.empty()) {
        v = std::move(tc->spare_lists.back());
        tc->spare_lists.pop_back();
        tc->list_bytes -= tc->spare_list_bytes.back();
        tc->spare_list_bytes.pop_back();
    }
    while (v.size() > n) {
        give_item(std::move(v.back()));
        v.pop_back();
    }
    v.reserve(n);
    while (v.size() < n)
        v.push_back(take_item());
    return v;
}

void give_items(std::vector<item>&& items) noexcept
{
    if (items.empty())
        return;
    thread_cache* tc = cache();
    if (!tc || tc->spare_lists.size() >= max_spare_lists || tc->spare_lists.capacity() == 0) {
        for (auto& it : items)
            give_item(std::move(it));
        return;
    }
    // Strings over max_kept_capacity are not kept, and the lists' memory is bounded in all.
    std::size_t bytes = items.capacity() * sizeof(item);
    for (auto& it : items) {
        for (std::string* str : {&it.key, &it.value}) {
            if (str->capacity() > max_kept_capacity)
                std::string().swap(*str);
            else if (str->capacity() > inline_capacity)
                bytes += str->capacity();
        }
    }
    if (tc->list_bytes + bytes > max_list_bytes)
        return; // freed with the list
    tc->spare_lists.push_back(std::move(items));
    tc->spare_list_bytes.push_back(bytes);
    tc->list_bytes += bytes;
}

} // namespace memcoro::detail
