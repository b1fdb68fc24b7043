// The hot path allocates nothing once a connection is warm: a get into a reused item and a
// set of a value cost no heap allocation in steady state (requests, request entries, command
// lines, handler memory and read/write buffers are all reused). Counted with a replaced
// global operator new (test/support/allocation_counter.cpp), so this test is a program of its
// own.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/allocation_counter.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {
std::uint64_t allocations_now() noexcept
{
    return memcoro::test::allocation_count();
}
} // namespace

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

TEST_CASE("steady state: get_into and set allocate nothing")
{
    memcached_process mc;
    asio::io_context ioc(1);
    std::uint64_t get_allocs = 0, set_allocs = 0, hits = 0;
    constexpr int rounds = 2000;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor,
                          memcoro::test::config_for(mc.address()));
        std::vector<std::string> keys, values;
        for (int i = 0; i < 16; ++i) {
            keys.push_back("alloc:key:" + std::to_string(i) + ":with-a-longer-name");
            values.push_back(std::string(100 + i, static_cast<char>('a' + i)));
        }
        memcoro::item out;
        // Warm-up: connection, pools, buffers and Asio's caches. The pooled requests' strings
        // grow until they fit the keys and values they meet (a set's request is still held
        // while the next set starts, so two of them are in use in turn).
        for (int i = 0; i < 200; ++i)
            co_await c.async_set(keys[i % 16], values[i % 16]);
        for (int i = 0; i < 200; ++i)
            co_await c.async_get_into(keys[i % 16], out);
        auto before = allocations_now();
        for (int i = 0; i < rounds; ++i)
            co_await c.async_set(keys[i % 16], values[i % 16]);
        set_allocs = allocations_now() - before;
        before = allocations_now();
        for (int i = 0; i < rounds; ++i) {
            const bool hit = co_await c.async_get_into(keys[i % 16], out);
            if (hit && out.value == values[i % 16])
                ++hits;
        }
        get_allocs = allocations_now() - before;
    });
    CHECK(hits == rounds);
    CHECK(set_allocs == 0);
    CHECK(get_allocs == 0);
}

TEST_CASE("steady state: 64 concurrent callers (merged gets) allocate nothing")
{
    memcached_process mc;
    asio::io_context ioc(1);
    constexpr int callers = 64, per_caller = 200, warmup = 20;
    std::uint64_t counted = 0, hits = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, memcoro::test::config_for(mc.address()));
        for (int i = 0; i < callers; ++i)
            co_await c.async_set("conc:" + std::to_string(i), std::string(100, 'v'));
        int warm = 0, done = 0;
        std::uint64_t start = 0;
        for (int i = 0; i < callers; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    const std::string key = "conc:" + std::to_string(i);
                    memcoro::item out;
                    for (int k = 0; k < warmup; ++k)
                        co_await c.async_get_into(key, out);
                    if (++warm == callers)
                        start = allocations_now();
                    for (int k = 0; k < per_caller; ++k) {
                        const bool hit = co_await c.async_get_into(key, out);
                        if (hit && out.key == key)
                            ++hits;
                    }
                    if (++done == callers)
                        counted = allocations_now() - start;
                },
                asio::detached);
        // One timer, re-armed (not test::wait_until, whose coroutine frame and timer per
        // poll would be counted among the callers' allocations).
        asio::steady_timer t(ex);
        while (done < callers) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    });
    CHECK(hits == std::uint64_t(callers) * per_caller);
    // The callers' own coroutine frames and Asio's per-operation frames come from Asio's
    // small per-thread cache (two blocks per kind): with 64 callers suspended at once some
    // of those are allocated. memcoro's share is none: fewer than one allocation per
    // hundred gets here in all.
    INFO("allocations: " << counted << " for " << callers * per_caller << " gets");
    CHECK(counted * 100 < std::uint64_t(callers) * per_caller);
}

TEST_CASE("steady state: a multi-get into a reused result allocates nothing")
{
    memcached_process a, b;
    asio::io_context ioc(1);
    constexpr int keys_per_call = 100, calls = 200, missing = 10;
    std::uint64_t into_allocs = 0, down_allocs = 0, value_allocs = 0, hits = 0, misses = 0;
    std::uint64_t errors = 0, right = 0, down_right = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
        cfg.retry_interval = std::chrono::hours(1); // once marked down, b is not probed
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        std::vector<std::string> keys;
        for (int i = 0; i < keys_per_call; ++i) {
            // Half of them too long for a string's inline buffer: those are copied into the
            // request in recycled strings. The last `missing` keys are never stored.
            keys.push_back(i % 2 ? "mget:" + std::to_string(i)
                                 : "mget:a-key-name-too-long-to-be-inline:" + std::to_string(i));
            if (i < keys_per_call - missing)
                co_await c.async_set(keys.back(),
                                     std::string(100, static_cast<char>('a' + i % 26)));
        }
        std::vector<bool> key_on_b;
        for (const auto& k : keys)
            key_on_b.push_back(c.server_for_key(k) == b.address());
        // Every key's outcome as expected: a hit for a stored key, a miss for the others, an
        // error for a key of b when `b_down`. (Reads the result only: allocates nothing.)
        const auto as_expected = [&](const memcoro::get_multi_result& r, bool b_down) {
            if (r.outcomes().size() != keys.size())
                return false;
            std::size_t i = 0;
            for (const memcoro::key_outcome& o : r.outcomes()) {
                const bool on_b = b_down && key_on_b[i];
                const auto want = on_b ? memcoro::key_status::error
                                  : i < std::size_t(keys_per_call - missing)
                                      ? memcoro::key_status::hit
                                      : memcoro::key_status::miss;
                if (o.key != keys[i] || o.status != want ||
                    (on_b && o.ec != memcoro::errc::server_down))
                    return false;
                ++i;
            }
            return true;
        };
        memcoro::get_multi_result out;
        for (int i = 0; i < 50; ++i) // warm-up: connections, pools, the result's items
            co_await c.async_get_multi_into(keys, out);
        auto before = allocations_now();
        for (int i = 0; i < calls; ++i) {
            co_await c.async_get_multi_into(keys, out);
            hits += out.hits.size();
            misses += out.misses.size();
            right += as_expected(out, false);
        }
        into_allocs = allocations_now() - before;
        // The same with b down: its keys fail fast, and are listed with their error.
        c.mark_server(b.address(), memcoro::server_status::down);
        for (int i = 0; i < 50; ++i)
            co_await c.async_get_multi_into(keys, out);
        before = allocations_now();
        for (int i = 0; i < calls; ++i) {
            co_await c.async_get_multi_into(keys, out);
            errors += out.errors.size();
            down_right += as_expected(out, true);
        }
        down_allocs = allocations_now() - before;
        c.mark_server(b.address(), memcoro::server_status::up);
        // The same calls returning owning items: one allocation per hit at least (the value).
        before = allocations_now();
        for (int i = 0; i < calls; ++i)
            co_await c.async_get_multi(keys);
        value_allocs = allocations_now() - before;
    });
    CHECK(hits == std::uint64_t(keys_per_call - missing) * calls);
    CHECK(misses == std::uint64_t(missing) * calls);
    CHECK(right == std::uint64_t(calls));
    CHECK(errors > 0);
    CHECK(down_right == std::uint64_t(calls));
    INFO("into: " << into_allocs << ", into with a server down: " << down_allocs
                  << ", owning: " << value_allocs << " allocations for " << calls << " calls of "
                  << keys_per_call << " keys");
    // The split over two servers, its parts and their bookkeeping all come from pools. (A
    // recycled request grows its key list once, the first time it carries a whole call's
    // keys; which cached request a call gets depends on the order the parts finish in, so a
    // late first time may still fall in the measured calls.)
    CHECK(into_allocs * 100 < std::uint64_t(calls));
    CHECK(down_allocs * 100 < std::uint64_t(calls));
    CHECK(value_allocs >= std::uint64_t(calls) * (keys_per_call - missing));
}

TEST_CASE("steady state: mixed gets and sets over four servers take nothing from Asio's heap")
{
    memcached_process s1, s2, s3, s4;
    asio::io_context ioc(1);
    constexpr int callers = 32, per_caller = 300, warmup = 100, keys = 64;
    std::uint64_t counted = 0, aligned = 0, right = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(s1.address() + "," + s2.address() + "," +
                                                          s3.address() + "," + s4.address());
        memcoro::client c(ex, cfg);
        const std::string value(100, 'm');
        for (int i = 0; i < keys; ++i)
            co_await c.async_set("mixed:" + std::to_string(i), value);
        int warm = 0, measured = 0, done = 0;
        std::uint64_t start = 0, aligned_start = 0;
        for (int i = 0; i < callers; ++i)
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    memcoro::item out;
                    std::vector<std::string> own;
                    for (int k = 0; k < keys; ++k)
                        own.push_back("mixed:" + std::to_string((k * 7 + i) % keys));
                    // Awaited here, not in a helper coroutine, whose frames would be
                    // allocations of the test's own. Counted from the moment every caller is
                    // warm to the moment the first one is through (a caller that ends is the
                    // test's allocation, not the client's).
                    for (int k = 0; k < warmup + per_caller; ++k) {
                        if (k == warmup && ++warm == callers) {
                            start = allocations_now();
                            aligned_start = memcoro::test::aligned_allocation_count();
                        }
                        const std::string& key = own[static_cast<std::size_t>(k % keys)];
                        if (k % 10 == 3) {
                            const auto st = co_await c.async_set(key, value);
                            if (st == memcoro::store_status::stored)
                                ++right;
                        } else {
                            const bool hit = co_await c.async_get_into(key, out);
                            if (hit && out.key == key && out.value == value)
                                ++right;
                        }
                    }
                    if (++measured == 1) {
                        counted = allocations_now() - start;
                        aligned = memcoro::test::aligned_allocation_count() - aligned_start;
                    }
                    ++done;
                },
                asio::detached);
        asio::steady_timer t(ex);
        while (done < callers) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    });
    CHECK(right == std::uint64_t(callers) * (warmup + per_caller));
    // Connections with requests on the wire are written by a posted flush: with four servers,
    // four flushes in one round. Their handlers' memory comes from the pool, not from Asio's
    // per-thread cache of posted functions, which holds two and took the rest from
    // aligned_alloc. (Not counted under a sanitizer, whose runtime owns aligned_alloc.)
    INFO("allocations: " << counted << ", aligned_alloc: " << aligned);
    CHECK(aligned == 0);
    // What else a short run allocates is high-water marks still rising (more requests, queue
    // slots or staging bytes at once than seen before): fewer than one per hundred operations.
    CHECK(counted * 100 < std::uint64_t(callers) * per_caller);
}

TEST_CASE("steady state with a key prefix: set, get_into and a multi-get into a reused result "
          "allocate nothing")
{
    memcached_process a, b;
    asio::io_context ioc(1);
    constexpr int rounds = 2000, calls = 200, keys_per_call = 100;
    std::uint64_t set_allocs = 0, get_allocs = 0, multi_allocs = 0, hits = 0, multi_hits = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
        cfg.key_prefix = "tenant-7:";
        cfg.hash_with_prefix = true; // (placed keys are built in scratch strings, reused)
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        std::vector<std::string> keys;
        for (int i = 0; i < keys_per_call; ++i)
            keys.push_back("prefixed:" + std::to_string(i) + ":with-a-longer-name");
        const std::string value(100, 'v');
        memcoro::item out;
        for (int i = 0; i < 200; ++i) // warm-up, as above
            co_await c.async_set(keys[i % 16], value);
        for (int i = 0; i < 200; ++i)
            co_await c.async_get_into(keys[i % 16], out);
        auto before = allocations_now();
        for (int i = 0; i < rounds; ++i)
            co_await c.async_set(keys[i % 16], value);
        set_allocs = allocations_now() - before;
        before = allocations_now();
        for (int i = 0; i < rounds; ++i) {
            const bool hit = co_await c.async_get_into(keys[i % 16], out);
            if (hit && out.key == keys[i % 16] && out.value == value)
                ++hits;
        }
        get_allocs = allocations_now() - before;

        for (const auto& k : keys)
            co_await c.async_set(k, value);
        memcoro::get_multi_result result;
        for (int i = 0; i < 50; ++i)
            co_await c.async_get_multi_into(keys, result);
        before = allocations_now();
        for (int i = 0; i < calls; ++i) {
            co_await c.async_get_multi_into(keys, result);
            if (result.hits.size() == keys.size() && result.hits.back().key == keys.back())
                multi_hits += result.hits.size();
        }
        multi_allocs = allocations_now() - before;
    });
    CHECK(hits == rounds);
    CHECK(multi_hits == std::uint64_t(calls) * keys_per_call);
    CHECK(set_allocs == 0);
    CHECK(get_allocs == 0);
    INFO("multi-get into: " << multi_allocs << " allocations for " << calls << " calls");
    CHECK(multi_allocs * 100 < std::uint64_t(calls));
}
