// The documented threading model: a client called from coroutines on every thread of a
// multi-threaded io_context, from coroutines on other io_contexts and from plain threads (with
// futures and with callbacks) while its server list changes; with and without a strand. Run
// under ThreadSanitizer in CI.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

using memcoro::test::memcached_process;

TEST_CASE("a client on a strand is safe from coroutines on several threads")
{
    memcached_process mc;
    asio::io_context ioc(4);
    auto work = asio::make_work_guard(ioc);
    memcoro::client c(asio::make_strand(ioc), memcoro::test::config_for(mc.address()));

    constexpr int tasks = 16, rounds = 200;
    std::atomic<int> right{0}, wrong{0}, finished{0};
    for (int t = 0; t < tasks; ++t) {
        asio::co_spawn(
            ioc, // not the strand: completions come back on any thread
            [&, t]() -> asio::awaitable<void> {
                for (int i = 0; i < rounds; ++i) {
                    const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
                    co_await c.async_set(key, key + "-value");
                    auto r = co_await c.async_get(key);
                    if (r && r->value == key + "-value")
                        ++right;
                    else
                        ++wrong;
                }
            },
            [&](std::exception_ptr e) {
                if (e)
                    ++wrong;
                ++finished;
            });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&] { ioc.run(); });

    // A thread outside the io_context uses the client too.
    for (int i = 0; i < 100; ++i) {
        const std::string key = "outside" + std::to_string(i);
        c.async_set(key, "o", {}, asio::use_future).get();
        auto r = c.async_get(key, asio::use_future).get();
        if (r && r->value == "o")
            ++right;
        else
            ++wrong;
    }
    while (finished < tasks)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.close();
    work.reset();
    for (auto& th : threads)
        th.join();
    CHECK(right == tasks * rounds + 100);
    CHECK(wrong == 0);
}

namespace {

/// What the callers saw: the number of results that were right, and a line for each one that
/// was not (Catch2's assertions are checked on the test's own thread only).
struct tally {
    std::atomic<int> right{0};
    std::mutex mutex;
    std::vector<std::string> wrong;

    void ok() { ++right; }
    void bad(std::string what)
    {
        std::lock_guard lock(mutex);
        wrong.push_back(std::move(what));
    }
    void check(bool good, const std::string& what)
    {
        if (good)
            ok();
        else
            bad(what);
    }
};

constexpr int slots = 6;

std::string key_of(const std::string& worker, int slot)
{
    return worker + ":" + std::to_string(slot);
}

/// Every value names its key and the round that wrote it, so a value read for the wrong key
/// or from an older round is seen.
std::string value_of(const std::string& key, int round)
{
    return key + "#" + std::to_string(round);
}

std::vector<std::string> keys_of(const std::string& worker)
{
    std::vector<std::string> keys;
    for (int s = 0; s < slots; ++s)
        keys.push_back(key_of(worker, s));
    return keys;
}

/// The multi-get of `keys` found each one with the value of `round`, and nothing failed.
bool all_of_round(const memcoro::get_multi_result& r, const std::vector<std::string>& keys,
                  int round)
{
    if (!r.errors.empty() || r.hits.size() != keys.size())
        return false;
    for (const auto& k : keys) {
        const memcoro::item* hit = r.find(k);
        if (!hit || hit->value != value_of(k, round))
            return false;
    }
    return true;
}

/// Sets, gets and multi-gets from a coroutine, each result checked.
asio::awaitable<void> coroutine_caller(memcoro::client& c, std::string worker, int rounds, tally& t)
{
    const auto keys = keys_of(worker);
    for (int r = 0; r < rounds; ++r) {
        if (r % 2 == 0) {
            for (const auto& k : keys) {
                const auto st = co_await c.async_set(k, value_of(k, r));
                t.check(st == memcoro::store_status::stored, "set " + k);
            }
        } else {
            std::vector<std::pair<std::string, std::string>> items;
            for (const auto& k : keys)
                items.emplace_back(k, value_of(k, r));
            const auto stored = co_await c.async_set_multi(items);
            bool good = stored.size() == keys.size();
            for (const auto& s : stored)
                good = good && !s.ec && s.status == memcoro::store_status::stored;
            t.check(good, "set_multi " + worker);
        }
        const std::string& k = keys[static_cast<std::size_t>(r % slots)];
        const auto one = co_await c.async_get(k);
        t.check(one && one->key == k && one->value == value_of(k, r), "get " + k);
        const auto many = co_await c.async_get_multi(keys);
        t.check(all_of_round(many, keys, r), "get_multi " + worker);
    }
}

/// The same from a plain thread, waiting on futures.
void future_caller(memcoro::client& c, const std::string& worker, int rounds, tally& t)
{
    const auto keys = keys_of(worker);
    try {
        for (int r = 0; r < rounds; ++r) {
            for (const auto& k : keys) {
                const auto st = c.async_set(k, value_of(k, r), {}, asio::use_future).get();
                t.check(st == memcoro::store_status::stored, "set " + k);
            }
            const std::string& k = keys[static_cast<std::size_t>(r % slots)];
            const auto one = c.async_get(k, asio::use_future).get();
            t.check(one && one->key == k && one->value == value_of(k, r), "get " + k);
            const auto many = c.async_get_multi(keys, asio::use_future).get();
            t.check(all_of_round(many, keys, r), "get_multi " + worker);
        }
    } catch (const std::exception& e) {
        t.bad(worker + ": " + e.what());
    }
}

/// The same with completion callbacks (which have no executor of their own: they run on the
/// client's), each starting the next call; started from a plain thread.
struct callback_caller : std::enable_shared_from_this<callback_caller> {
    callback_caller(memcoro::client& c, std::string worker, int rounds, tally& t)
        : c(c)
        , keys(keys_of(worker))
        , rounds(rounds)
        , t(t)
    {
    }

    void next()
    {
        if (round == rounds) {
            done.set_value();
            return;
        }
        const std::string& k = keys[static_cast<std::size_t>(round % slots)];
        c.async_set(k, value_of(k, round), {},
                    [self = shared_from_this(), k](std::error_code ec, memcoro::store_status st) {
                        self->t.check(!ec && st == memcoro::store_status::stored, "set " + k);
                        self->c.async_get(k, [self, k](std::error_code ec, memcoro::get_result g) {
                            self->t.check(!ec && g && g->value == value_of(k, self->round),
                                          "get " + k);
                            ++self->round;
                            self->next();
                        });
                    });
    }

    memcoro::client& c;
    const std::vector<std::string> keys;
    const int rounds;
    tally& t;
    int round = 0;
    std::promise<void> done;
};

/// Changes and reads the client's server list while the callers run: a third server is added
/// (down, with a retry wait longer than the test: its keys fail over to where the other two
/// servers' ring puts them), marked, looked at, then removed.
void server_admin(memcoro::client& c, const std::string& s1, const std::string& s2,
                  const memcoro::server_address& third, int rounds, tally& t)
{
    const std::string s3 = third.to_string();
    try {
        for (int r = 0; r < rounds; ++r) {
            c.add_server(third, {.retry_interval = std::chrono::hours(1),
                                 .initial_status = memcoro::server_status::down});
            // Applied before the calls that follow it: stats_all sees three servers.
            const auto with = c.async_stats_all({}, asio::use_future).get();
            t.check(with.size() == 3 && with[0].server == s1 && !with[0].ec &&
                        !with[0].stats.empty() && with[1].server == s2 && !with[1].ec &&
                        with[2].server == s3 && with[2].ec == memcoro::errc::server_down,
                    "stats_all with the third server");
            c.set_server_params(s3, {.retry_interval = std::chrono::hours(2),
                                     .initial_status = memcoro::server_status::down});
            c.mark_server(s3, memcoro::server_status::down);
            const auto listed = c.servers();
            t.check((listed.size() == 2 || listed.size() == 3) && listed[0].name == s1 &&
                        listed[1].name == s2 &&
                        (listed.size() == 2 || (listed[2].name == s3 &&
                                                listed[2].status == memcoro::server_status::down)),
                    "servers()");
            const auto one = c.server(s3);
            t.check(!one || one->status == memcoro::server_status::down, "server(s3)");
            const std::string owner = c.server_for_key(key_of("admin", r));
            t.check(owner == s1 || owner == s2 || owner == s3, "server_for_key: " + owner);
            t.check(c.config().servers.size() == 2, "config()");
            c.remove_server(s3);
            const auto without = c.async_stats_all({}, asio::use_future).get();
            t.check(without.size() == 2 && !without[0].ec && !without[1].ec,
                    "stats_all without the third server");
            c.async_verbosity(0, asio::use_future).get(); // to every server: throws on failure
            t.ok();
        }
    } catch (const std::exception& e) {
        t.bad(std::string("admin: ") + e.what());
    }
}

} // namespace

TEST_CASE("a client without a strand may be called from any thread")
{
    // The client is given the io_context's own executor. It serializes itself when the
    // io_context may run on several threads; with concurrency hint 1 it relies on the one.
    struct setup {
        int hint;
        int io_threads;
    };
    const auto s = GENERATE(setup{1, 1}, setup{ASIO_CONCURRENCY_HINT_DEFAULT, 1},
                            setup{ASIO_CONCURRENCY_HINT_DEFAULT, 3});
    INFO("concurrency hint " << s.hint << ", " << s.io_threads << " io_context thread(s)");

    memcached_process mc1, mc2, mc3;
    memcoro::client_config cfg = memcoro::test::base_config();
    cfg.servers = {memcoro::server_address::parse(mc1.address()),
                   memcoro::server_address::parse(mc2.address())};
    cfg.on_down = memcoro::down_policy::failover;
    cfg.op_timeout = std::chrono::seconds(20); // ThreadSanitizer on a busy machine is slow
    const auto third = memcoro::server_address::parse(mc3.address());
    const std::string s1 = mc1.address(), s2 = mc2.address();

    // The test's premise: with the third server down, failover puts every key where the two
    // servers' ring does (ketama: equal weights keep each server's points), so a value read
    // is the value last written whatever the admin thread is doing.
    {
        using memcoro::ring::continuum;
        auto nodes = [](const std::vector<memcoro::server_address>& as) {
            std::vector<memcoro::ring::node> n;
            for (const auto& a : as)
                n.push_back({a.host, a.port, a.weight, a.name});
            return n;
        };
        const continuum two(cfg.distribution, nodes(cfg.servers));
        auto three_addresses = cfg.servers;
        three_addresses.push_back(third);
        const continuum three(cfg.distribution, nodes(three_addresses));
        int mismatched = 0;
        for (const char* prefix : {"io", "caller", "future", "callback"})
            for (int w = 0; w < 8; ++w)
                for (int slot = 0; slot < slots; ++slot) {
                    const auto k = key_of(std::string(prefix) + std::to_string(w), slot);
                    const auto alt = three.find(
                        k, [](std::size_t i) { return i != 2; }, 20);
                    mismatched += alt != two.server_for(k) ? 1 : 0;
                }
        REQUIRE(mismatched == 0);
    }

    asio::io_context ioc(s.hint);
    auto work = asio::make_work_guard(ioc);
    memcoro::client c(ioc.get_executor(), cfg);
    tally t;
    const int rounds = 200;

    // Coroutines on the client's own io_context.
    std::atomic<int> coroutines_done{0};
    int coroutines = 0;
    auto spawn = [&](asio::io_context& on, std::string worker) {
        ++coroutines;
        asio::co_spawn(on, coroutine_caller(c, std::move(worker), rounds, t),
                       [&](std::exception_ptr e) {
                           if (e) {
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& x) {
                                   t.bad(std::string("coroutine: ") + x.what());
                               }
                           }
                           ++coroutines_done;
                       });
    };
    for (int i = 0; i < 3; ++i)
        spawn(ioc, "io" + std::to_string(i));
    std::vector<std::thread> io_threads;
    for (int i = 0; i < s.io_threads; ++i)
        io_threads.emplace_back([&] { ioc.run(); });

    // Coroutines on other io_contexts, each run by its own thread.
    std::vector<std::unique_ptr<asio::io_context>> callers;
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        callers.push_back(std::make_unique<asio::io_context>(1));
        for (int j = 0; j < 2; ++j)
            spawn(*callers.back(), "caller" + std::to_string(2 * i + j));
        threads.emplace_back([&ctx = *callers.back()] { ctx.run(); });
    }
    // Plain threads with futures and with callbacks, and the server list changing.
    for (int i = 0; i < 2; ++i)
        threads.emplace_back(
            [&, i] { future_caller(c, "future" + std::to_string(i), rounds / 2, t); });
    for (int i = 0; i < 2; ++i)
        threads.emplace_back([&, i] {
            auto cb =
                std::make_shared<callback_caller>(c, "callback" + std::to_string(i), rounds * 2, t);
            auto done = cb->done.get_future();
            cb->next();
            done.get();
        });
    threads.emplace_back([&] { server_admin(c, s1, s2, third, rounds / 2, t); });

    for (auto& th : threads)
        th.join(); // (the caller io_contexts run out of work when their coroutines are done)
    while (coroutines_done < coroutines)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));

    // close() from a thread outside the io_context: later calls fail with shutting_down.
    c.close();
    std::promise<std::error_code> closed;
    c.async_get("io0:0",
                [&](std::error_code ec, const memcoro::get_result&) { closed.set_value(ec); });
    const std::error_code after_close = closed.get_future().get();
    work.reset();
    for (auto& th : io_threads)
        th.join();

    std::lock_guard lock(t.mutex);
    for (std::size_t i = 0; i < t.wrong.size() && i < 20; ++i)
        UNSCOPED_INFO(t.wrong[i]);
    CHECK(t.wrong.empty());
    // Even rounds: a set per slot, odd ones a set_multi; then a get and a multi-get.
    const int per_coroutine = (rounds / 2) * (slots + 2) + (rounds / 2) * 3;
    const int expected = coroutines * per_coroutine + 2 * (rounds / 2) * (slots + 2) +
                         2 * (rounds * 2) * 2 + (rounds / 2) * 7;
    CHECK(t.right == expected);
    CHECK(after_close == memcoro::errc::shutting_down);
}
