// Leases, stale-while-revalidate, item metadata and async_get_or_compute against a real
// memcached: what only the meta protocol can do, and what the text protocol refuses.
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;
using memcoro::test::wait_until;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

memcoro::client_config on(const memcached_process& mc, memcoro::protocol p)
{
    memcoro::client_config cfg;
    cfg.servers = memcoro::server_address::parse_list(mc.address());
    cfg.protocol = p;
    return cfg;
}

/// A stats counter of the first server.
asio::awaitable<std::uint64_t> stat(memcoro::client& c, std::string_view name)
{
    for (const auto& [n, v] : co_await c.async_stats())
        if (n == name)
            co_return std::stoull(v);
    throw std::runtime_error("no such stat");
}

} // namespace

TEST_CASE("meta get: the item's CAS, its metadata, and a touch")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        {
            auto v1_ = co_await c.async_meta_get("absent");
            CHECK_FALSE(v1_);
        }

        {
            auto v2_ = co_await c.async_set("k", "value", {.expiry = 100s, .flags = 7}) ==
                       memcoro::store_status::stored;
            REQUIRE(v2_);
        }
        auto r = co_await c.async_meta_get("k", {.item_info = true});
        REQUIRE(r);
        CHECK(r->item.key == "k");
        CHECK(r->item.value == "value");
        CHECK(r->item.flags == 7);
        CHECK(r->item.cas != 0);
        CHECK_FALSE(r->won);
        CHECK_FALSE(r->lease_taken);
        CHECK_FALSE(r->stale);
        CHECK_FALSE(r->placeholder());
        REQUIRE(r->ttl_left);
        CHECK(*r->ttl_left > 90s);
        CHECK(*r->ttl_left <= 100s);
        REQUIRE(r->size);
        CHECK(*r->size == 5);
        REQUIRE(r->hit_before);
        CHECK_FALSE(*r->hit_before); // (the first read since the set)
        REQUIRE(r->last_access);
        auto again = co_await c.async_meta_get("k", {.item_info = true});
        REQUIRE(again);
        REQUIRE(again->hit_before);
        CHECK(*again->hit_before);

        // Without item_info, none of it is asked.
        auto plain = co_await c.async_meta_get("k");
        REQUIRE(plain);
        CHECK_FALSE(plain->ttl_left);
        CHECK_FALSE(plain->size);

        // touch: the expiry changes with the read.
        auto touched = co_await c.async_meta_get("k", {.item_info = true, .touch = 1000s});
        REQUIRE(touched);
        auto after = co_await c.async_meta_get("k", {.item_info = true});
        REQUIRE(after->ttl_left);
        CHECK(*after->ttl_left > 900s);

        // An item that never expires says -1.
        {
            auto v3_ = co_await c.async_set("forever", "x");
            REQUIRE(v3_ == memcoro::store_status::stored);
        }
        auto forever = co_await c.async_meta_get("forever", {.item_info = true});
        REQUIRE(forever->ttl_left);
        CHECK(*forever->ttl_left == -1s);
    }());
}

TEST_CASE("lease on a miss: one winner, the others told, the winner's write ends it")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client a(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        memcoro::client b(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        const memcoro::meta_get_options lease{.lease = 30s};

        auto first = co_await a.async_meta_get("hot", lease);
        REQUIRE(first);
        CHECK(first->won);
        CHECK_FALSE(first->lease_taken);
        CHECK(first->placeholder());
        CHECK(first->item.value.empty());

        for (auto* c : {&a, &b}) {
            auto other = co_await c->async_meta_get("hot", lease);
            REQUIRE(other);
            CHECK_FALSE(other->won);
            CHECK(other->lease_taken);
            CHECK(other->placeholder());
        }

        // The winner fills it on the CAS it read; a write on any other CAS is refused.
        {
            auto v4_ = co_await b.async_cas("hot", "not mine", first->item.cas + 1000) ==
                       memcoro::store_status::exists;
            CHECK(v4_);
        }
        {
            auto v5_ = co_await a.async_cas("hot", "computed", first->item.cas, {.expiry = 60s}) ==
                       memcoro::store_status::stored;
            CHECK(v5_);
        }
        auto filled = co_await b.async_meta_get("hot", lease);
        REQUIRE(filled);
        CHECK(filled->item.value == "computed");
        CHECK_FALSE(filled->won);
        CHECK_FALSE(filled->lease_taken);
        CHECK_FALSE(filled->placeholder());

        // Early recache: with less than 200 s left, one reader wins the refresh; the others
        // keep reading the value, told it is being refreshed.
        auto early = co_await a.async_meta_get("hot", {.recache = 200s});
        REQUIRE(early);
        CHECK(early->won);
        CHECK(early->item.value == "computed");
        CHECK_FALSE(early->placeholder());
        auto early2 = co_await b.async_meta_get("hot", {.recache = 200s});
        REQUIRE(early2);
        CHECK_FALSE(early2->won);
        CHECK(early2->lease_taken);
        CHECK(early2->item.value == "computed");
    }());
}

TEST_CASE("invalidate: stale readers, one winner, a late write with an old CAS loses")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client a(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        memcoro::client b(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        {
            auto v6_ = co_await a.async_invalidate("nothing");
            CHECK(v6_ == memcoro::delete_status::not_found);
        }

        {
            auto v7_ = co_await a.async_set("page", "v1", {.expiry = 300s}) ==
                       memcoro::store_status::stored;
            REQUIRE(v7_);
        }
        auto before = co_await a.async_meta_get("page");
        REQUIRE(before);
        {
            auto v8_ = co_await a.async_invalidate("page", 30s);
            CHECK(v8_ == memcoro::delete_status::deleted);
        }

        auto r1 = co_await a.async_meta_get("page", {.item_info = true});
        REQUIRE(r1);
        CHECK(r1->stale);
        CHECK(r1->won);
        CHECK(r1->item.value == "v1");
        CHECK_FALSE(r1->placeholder());
        REQUIRE(r1->ttl_left);
        CHECK(*r1->ttl_left <= 30s);
        for (int i = 0; i < 3; ++i) {
            auto rn = co_await b.async_meta_get("page");
            REQUIRE(rn);
            CHECK(rn->stale);
            CHECK_FALSE(rn->won);
            CHECK(rn->lease_taken);
            CHECK(rn->item.value == "v1");
        }

        // A writer that read before the invalidation (the old CAS) is refused...
        {
            auto v9_ = co_await b.async_cas("page", "old", before->item.cas) ==
                       memcoro::store_status::exists;
            CHECK(v9_);
        }
        // ... the winner's write makes it fresh ...
        {
            auto v10_ = co_await a.async_cas("page", "v2", r1->item.cas, {.expiry = 300s}) ==
                        memcoro::store_status::stored;
            CHECK(v10_);
        }
        auto fresh = co_await b.async_meta_get("page");
        REQUIRE(fresh);
        CHECK(fresh->item.value == "v2");
        CHECK_FALSE(fresh->stale);
        CHECK_FALSE(fresh->won);
        CHECK_FALSE(fresh->lease_taken);
        // ... and a late write on the stale item's CAS leaves the newer value.
        {
            auto v11_ = co_await b.async_cas("page", "late", r1->item.cas);
            CHECK(v11_ == memcoro::store_status::exists);
        }
        auto kept = co_await a.async_get("page");
        REQUIRE(kept);
        CHECK(kept->value == "v2");

        // An invalidation on a CAS: only of that version.
        {
            auto v12_ = co_await a.async_invalidate("page", {}, fresh->item.cas + 1000) ==
                        memcoro::delete_status::exists;
            CHECK(v12_);
        }
        {
            auto v13_ = co_await a.async_invalidate("page", {}, fresh->item.cas) ==
                        memcoro::delete_status::deleted;
            CHECK(v13_);
        }
        auto stale_again = co_await a.async_meta_get("page");
        REQUIRE(stale_again);
        CHECK(stale_again->stale);
        CHECK(stale_again->won);
    }());
}

TEST_CASE("delete on a CAS: only the version read")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        {
            auto v14_ = co_await c.async_delete_cas("gone", 1);
            CHECK(v14_ == memcoro::delete_status::not_found);
        }
        {
            auto v15_ = co_await c.async_set("d", "1");
            REQUIRE(v15_ == memcoro::store_status::stored);
        }
        auto r = co_await c.async_gets("d");
        REQUIRE(r);
        {
            auto v16_ = co_await c.async_delete_cas("d", r->cas + 1);
            CHECK(v16_ == memcoro::delete_status::exists);
        }
        {
            auto v17_ = co_await c.async_get("d");
            CHECK(v17_);
        }
        {
            auto v18_ = co_await c.async_delete_cas("d", r->cas);
            CHECK(v18_ == memcoro::delete_status::deleted);
        }
        {
            auto v19_ = co_await c.async_get("d");
            CHECK_FALSE(v19_);
        }
    }());
}

TEST_CASE("text protocol: the meta-only calls fail with not_supported and send nothing")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::text));
        {
            auto v20_ = co_await c.async_set("k", "v");
            REQUIRE(v20_ == memcoro::store_status::stored);
        }
        const auto gets = co_await stat(c, "cmd_get");
        const auto deletes = co_await stat(c, "delete_hits") + co_await stat(c, "delete_misses");

        auto [e1, r1] = co_await c.async_meta_get("k", {.lease = 30s}, tuple);
        CHECK(e1 == memcoro::errc::not_supported);
        CHECK_FALSE(r1);
        auto [e2, r2] = co_await c.async_meta_get("k", {.item_info = true}, tuple);
        CHECK(e2 == memcoro::errc::not_supported);
        auto [e3, r3] = co_await c.async_invalidate("k", 30s, 0, tuple);
        CHECK(e3 == memcoro::errc::not_supported);
        auto [e4, r4] = co_await c.async_delete_cas("k", 1, tuple);
        CHECK(e4 == memcoro::errc::not_supported);
        // A meta get that asks nothing meta-only is an ordinary gets.
        auto plain = co_await c.async_meta_get("k");
        REQUIRE(plain);
        CHECK(plain->item.value == "v");
        CHECK(plain->item.cas != 0);

        {
            auto v21_ = co_await stat(c, "cmd_get");
            CHECK(v21_ == gets + 1);
        } // only the plain one
        {
            auto v22_ = co_await stat(c, "delete_hits") + co_await stat(c, "delete_misses");
            CHECK(v22_ == deletes);
        }
        {
            auto v23_ = co_await c.async_get("k");
            CHECK(v23_);
        } // untouched
        // (The server stayed up: not_supported says nothing about it.)
        CHECK(c.servers().front().status == memcoro::server_status::up);
    }());
}

TEST_CASE("meta get: invalid arguments are refused before anything is sent")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        auto [e1, r1] = co_await c.async_meta_get(std::string(251, 'k'), {}, tuple);
        CHECK(e1 == memcoro::errc::invalid_key);
        auto [e2, r2] = co_await c.async_meta_get("k", {.lease = -1s}, tuple);
        CHECK(e2 == memcoro::errc::invalid_argument);
        auto [e3, r3] = co_await c.async_meta_get("k", {.recache = -5s}, tuple);
        CHECK(e3 == memcoro::errc::invalid_argument);
        {
            auto v24_ = co_await stat(c, "cmd_get");
            CHECK(v24_ == 0);
        }
    }());
}

namespace {

/// The computation of the races below: counts its runs, takes a while, returns its number.
struct counting_compute {
    std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
    std::chrono::milliseconds takes{50};

    memcoro::compute_fn fn() const
    {
        return [runs = runs, takes = takes]() -> asio::awaitable<std::string> {
            const int n = ++*runs;
            co_await sleep_for(takes);
            co_return "computed #" + std::to_string(n);
        };
    }
};

/// 100 coroutines over 4 clients ask for `key` at once; returns what each got.
std::vector<memcoro::computed_value> herd(memcached_process& mc, memcoro::protocol p,
                                          const std::string& key, const memcoro::compute_fn& fn,
                                          memcoro::compute_options opts, int callers = 100)
{
    asio::io_context ioc;
    std::vector<std::unique_ptr<memcoro::client>> clients;
    for (int i = 0; i < 4; ++i)
        clients.push_back(std::make_unique<memcoro::client>(ioc.get_executor(), on(mc, p)));
    std::vector<memcoro::computed_value> got;
    int failed = 0;
    for (int i = 0; i < callers; ++i)
        asio::co_spawn(
            ioc,
            [&, i]() -> asio::awaitable<void> {
                try {
                    got.push_back(
                        co_await clients[static_cast<std::size_t>(i) % 4]->async_get_or_compute(
                            key, fn, opts));
                } catch (const std::exception&) {
                    ++failed;
                }
                if (static_cast<int>(got.size()) + failed == callers)
                    for (auto& c : clients)
                        c->close(); // (the connections end: run_for returns)
            },
            asio::detached);
    ioc.run_for(20s);
    CHECK(failed == 0);
    return got;
}

std::map<memcoro::value_source, int> sources(const std::vector<memcoro::computed_value>& got)
{
    std::map<memcoro::value_source, int> n;
    for (const auto& g : got)
        ++n[g.source];
    return n;
}

} // namespace

TEST_CASE("get_or_compute: 100 callers over 4 clients, one computation, one value")
{
    memcached_process mc;
    counting_compute compute;
    const auto got = herd(mc, memcoro::protocol::meta, "herd", compute.fn(), {.expiry = 60s});
    REQUIRE(got.size() == 100);
    CHECK(*compute.runs == 1);
    for (const auto& g : got)
        CHECK(g.value == "computed #1");
    auto n = sources(got);
    CHECK(n[memcoro::value_source::computed] == 1);
    // The other three clients' leaders waited for the winner's value; everyone else shared
    // their own client's.
    CHECK(n[memcoro::value_source::cache] == 3);
    CHECK(n[memcoro::value_source::shared] == 96);
}

TEST_CASE("get_or_compute without singleflight: the lease alone still computes once")
{
    memcached_process mc;
    counting_compute compute;
    const auto got = herd(mc, memcoro::protocol::meta, "herd", compute.fn(),
                          {.expiry = 60s, .max_wait = 5000ms, .singleflight = false});
    REQUIRE(got.size() == 100);
    CHECK(*compute.runs == 1);
    for (const auto& g : got)
        CHECK(g.value == "computed #1");
    CHECK(sources(got)[memcoro::value_source::computed] == 1);
}

TEST_CASE("get_or_compute on the text protocol: singleflight within each client")
{
    memcached_process mc;
    counting_compute compute;
    const auto got = herd(mc, memcoro::protocol::text, "herd", compute.fn(), {.expiry = 60s});
    REQUIRE(got.size() == 100);
    // No lease: each client that misses computes (at most one per client), and the first
    // value added stays for later readers.
    CHECK(*compute.runs >= 1);
    CHECK(*compute.runs <= 4);
    CHECK(sources(got)[memcoro::value_source::shared] == 96);
}

TEST_CASE("get_or_compute: a failed computation reaches its waiters and releases the lease")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client a(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        memcoro::client b(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        int attempts = 0;
        const memcoro::compute_fn failing = [&]() -> asio::awaitable<std::string> {
            ++attempts;
            co_await sleep_for(20ms);
            throw std::runtime_error("backend down");
        };
        // Two callers on one client: the waiter gets the leader's exception.
        int caught = 0;
        for (int i = 0; i < 2; ++i)
            asio::co_spawn(
                co_await asio::this_coro::executor,
                [&]() -> asio::awaitable<void> {
                    try {
                        co_await a.async_get_or_compute("k", failing, {.expiry = 60s});
                    } catch (const std::runtime_error& e) {
                        if (std::string_view(e.what()) == "backend down")
                            ++caught;
                    }
                },
                asio::detached);
        {
            auto v25_ = co_await wait_until([&] { return caught == 2; }, 5s);
            CHECK(v25_);
        }
        CHECK(attempts == 1);
        // The placeholder is gone: the next caller, on another client, wins at once instead
        // of waiting out the lease.
        {
            auto v26_ = co_await b.async_meta_get("k");
            CHECK_FALSE(v26_);
        }
        const auto start = std::chrono::steady_clock::now();
        auto v = co_await b.async_get_or_compute(
            "k", []() -> asio::awaitable<std::string> { co_return "recovered"; },
            {.expiry = 60s, .compute_after_wait = false});
        CHECK(v.value == "recovered");
        CHECK(v.source == memcoro::value_source::computed);
        CHECK(std::chrono::steady_clock::now() - start < 1s);
    }());
}

TEST_CASE("get_or_compute: a computation past its time limit fails and releases the lease")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        const memcoro::compute_fn slow = []() -> asio::awaitable<std::string> {
            co_await sleep_for(5s);
            co_return "too late";
        };
        const auto start = std::chrono::steady_clock::now();
        auto attempt = [&]() -> asio::awaitable<std::error_code> {
            try {
                co_await c.async_get_or_compute("slow", slow, {.compute_timeout = 50ms});
            } catch (const memcoro::error& e) {
                co_return e.code();
            }
            co_return std::error_code{};
        };
        {
            auto v27_ = co_await attempt();
            CHECK(v27_ == memcoro::errc::timeout);
        }
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        {
            auto v28_ = co_await c.async_meta_get("slow");
            CHECK_FALSE(v28_);
        } // the placeholder went with it
    }());
}

TEST_CASE("get_or_compute: losers give up after max_wait, as told")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        // Someone else holds the lease and never writes.
        auto held = co_await c.async_meta_get("held", {.lease = 30s});
        REQUIRE(held);
        REQUIRE(held->won);
        int runs = 0;
        const memcoro::compute_fn fn = [&]() -> asio::awaitable<std::string> {
            ++runs;
            co_return "mine";
        };
        const memcoro::compute_options waits{.max_wait = 100ms, .compute_after_wait = false};
        try {
            co_await c.async_get_or_compute("held", fn, waits);
            FAIL("no timeout");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == memcoro::errc::timeout);
        }
        CHECK(runs == 0);
        auto v = co_await c.async_get_or_compute("held", fn, {.max_wait = 100ms});
        CHECK(v.value == "mine");
        CHECK(v.source == memcoro::value_source::computed);
        CHECK(runs == 1);
        // Computed after the wait, not written: the lease's holder writes.
        auto still = co_await c.async_meta_get("held");
        REQUIRE(still);
        CHECK(still->placeholder());
    }());
}

TEST_CASE("get_or_compute after invalidate: the stale value is served while one recomputes")
{
    memcached_process mc;
    counting_compute compute;
    compute.takes = 200ms;
    {
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
            {
                auto v29_ = co_await c.async_set("swr", "old", {.expiry = 300s}) ==
                            memcoro::store_status::stored;
                REQUIRE(v29_);
            }
            {
                auto v30_ = co_await c.async_invalidate("swr", 60s);
                CHECK(v30_ == memcoro::delete_status::deleted);
            }
        }());
    }
    const auto got = herd(mc, memcoro::protocol::meta, "swr", compute.fn(), {.expiry = 300s});
    REQUIRE(got.size() == 100);
    CHECK(*compute.runs == 1);
    auto n = sources(got);
    CHECK(n[memcoro::value_source::computed] == 1);
    CHECK(n[memcoro::value_source::stale] == 3);
    for (const auto& g : got)
        CHECK((g.value == "old" || g.value == "computed #1"));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
        auto r = co_await c.async_meta_get("swr");
        REQUIRE(r);
        CHECK(r->item.value == "computed #1");
        CHECK_FALSE(r->stale);
    }());
}

TEST_CASE("get_or_compute from several threads: one computation, every caller answered")
{
    memcached_process mc;
    for (auto p : {memcoro::protocol::meta, memcoro::protocol::text}) {
        // Two io_contexts of two threads each; one client on each; callers spawned from the
        // main thread onto both.
        counting_compute compute;
        asio::io_context io1, io2;
        auto guard1 = asio::make_work_guard(io1);
        auto guard2 = asio::make_work_guard(io2);
        std::vector<std::thread> threads;
        for (int i = 0; i < 2; ++i) {
            threads.emplace_back([&] { io1.run(); });
            threads.emplace_back([&] { io2.run(); });
        }
        memcoro::client c1(io1.get_executor(), on(mc, p));
        memcoro::client c2(io2.get_executor(), on(mc, p));
        const std::string key = p == memcoro::protocol::meta ? "mt-meta" : "mt-text";
        std::mutex m;
        std::vector<std::string> values;
        std::atomic<int> done{0}, failed{0};
        for (int i = 0; i < 200; ++i) {
            auto& c = i % 2 ? c1 : c2;
            asio::co_spawn(
                i % 2 ? io1 : io2,
                [&]() -> asio::awaitable<void> {
                    try {
                        auto v = co_await c.async_get_or_compute(key, compute.fn(), {});
                        std::lock_guard lock(m);
                        values.push_back(v.value);
                    } catch (const std::exception&) {
                        ++failed;
                    }
                    ++done;
                },
                asio::detached);
        }
        const auto until = std::chrono::steady_clock::now() + 20s;
        while (done < 200 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(1ms);
        c1.close();
        c2.close();
        guard1.reset();
        guard2.reset();
        for (auto& t : threads)
            t.join();
        CHECK(done == 200);
        CHECK(failed == 0);
        REQUIRE(values.size() == 200);
        if (p == memcoro::protocol::meta) {
            CHECK(*compute.runs == 1);
            for (const auto& v : values)
                CHECK(v == "computed #1");
        } else {
            CHECK(*compute.runs <= 2); // one per client at most
        }
    }
}

TEST_CASE("get_or_compute: an early recache won refreshes in the background when asked")
{
    memcached_process mc;
    counting_compute compute;
    compute.takes = 300ms;
    const memcoro::compute_fn fn = compute.fn();
    for (const bool background : {true, false}) {
        INFO("refresh_in_background " << background);
        const std::string key = background ? "refresh:bg" : "refresh:fg";
        memcoro::compute_options opts;
        opts.expiry = 300s;
        opts.recache = 200s;
        opts.refresh_in_background = background;
        const int runs_before = *compute.runs;
        memcoro::computed_value first, second;
        std::chrono::steady_clock::duration took{};
        bool fresh = false;
        memcoro::meta_get_result after;
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            memcoro::client c(co_await asio::this_coro::executor, on(mc, memcoro::protocol::meta));
            const auto stored = co_await c.async_set(key, "old", {.expiry = 100s});
            REQUIRE(stored == memcoro::store_status::stored);
            const auto t0 = std::chrono::steady_clock::now();
            // Less than 200 s left: this call wins the refresh.
            first = co_await c.async_get_or_compute(key, fn, opts);
            took = std::chrono::steady_clock::now() - t0;
            if (background) {
                // Another reader meanwhile: the value as it is, no second computation.
                second = co_await c.async_get_or_compute(key, fn, opts);
                // The refresh is written once the computation is done.
                for (int i = 0; i < 100 && !fresh; ++i) {
                    auto now = co_await c.async_get(key);
                    fresh = now && now->value.starts_with("computed #");
                    if (!fresh)
                        co_await sleep_for(20ms);
                }
            }
            after = co_await c.async_meta_get(key, {.item_info = true});
        }());
        if (background) {
            CHECK(first.value == "old");
            CHECK(first.source == memcoro::value_source::cache);
            CHECK(took < 250ms); // it did not wait for the computation
            CHECK(second.value == "old");
            CHECK(second.source == memcoro::value_source::cache);
            CHECK(fresh);
        } else {
            CHECK(first.value.starts_with("computed #"));
            CHECK(first.source == memcoro::value_source::computed);
            CHECK(took >= 300ms);
        }
        CHECK(*compute.runs == runs_before + 1);
        REQUIRE(after);
        CHECK(after->item.value.starts_with("computed #"));
        REQUIRE(after->ttl_left);
        CHECK(*after->ttl_left > 250s); // written with the computed value's expiry
    }
}
