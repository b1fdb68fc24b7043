// A client over several real memcached servers: placement, fan-out, fleet-wide commands,
// and a server dying and coming back while a multi-get loop runs.
#include "../support/config_for.hpp"
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/trace.hpp>

#include <asio/bind_executor.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <signal.h>

#include <concepts>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

struct fleet {
    std::vector<std::unique_ptr<memcached_process>> servers;

    explicit fleet(int n)
    {
        for (int i = 0; i < n; ++i)
            servers.push_back(std::make_unique<memcached_process>());
    }

    std::vector<memcoro::server_address> addresses() const
    {
        std::vector<memcoro::server_address> out;
        for (const auto& s : servers)
            out.push_back(memcoro::server_address::parse(s->address()));
        return out;
    }
};

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(tuple);
}

std::string value_of(const std::string& key)
{
    return "v(" + key + ")";
}

std::vector<std::string> make_keys(int n)
{
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i)
        keys.push_back("cluster:" + std::to_string(i));
    return keys;
}

// Reads every key straight from one server, to see where the client put it.
asio::awaitable<std::set<std::string>> keys_on(const memcached_process& p,
                                               const std::vector<std::string>& keys)
{
    memcoro::client direct(co_await asio::this_coro::executor,
                           memcoro::test::config_for(p.address()));
    auto r = co_await direct.async_get_multi(keys);
    std::set<std::string> found;
    for (auto& i : r.hits)
        found.insert(i.key);
    co_return found;
}

// A server is looked up with client::server(name) or server(host, port); no member hides
// the enum memcoro::server_status inside the class.
template <class C>
concept has_server_status_member = requires(const C& c)
{
    c.server_status("h", 1);
};
static_assert(!has_server_status_member<memcoro::client>);
static_assert(std::same_as<decltype(std::declval<const memcoro::client&>().server("h", 1)),
                           std::optional<memcoro::server_info>>);

} // namespace

TEST_CASE("keys land on the server the ring names, and a 10,000-key multi-get fans out")
{
    fleet f(4);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = f.addresses();
        memcoro::client c(ex, cfg);
        auto keys = make_keys(10000);
        std::vector<std::pair<std::string, std::string>> items;
        for (const auto& k : keys)
            items.emplace_back(k, value_of(k));
        auto stored = co_await c.async_set_multi(items);
        REQUIRE(stored.size() == keys.size());
        for (const auto& s : stored) {
            CHECK_FALSE(s.ec);
            CHECK(s.status == memcoro::store_status::stored);
        }

        // Each key is on exactly the server the ketama ring names (and nowhere else).
        std::vector<memcoro::ring::node> nodes;
        for (const auto& a : cfg.servers)
            nodes.push_back({a.host, a.port, a.weight, a.name});
        memcoro::ring::continuum ring(memcoro::ring::distribution_kind::ketama, nodes);
        std::size_t misplaced = 0, total = 0;
        for (std::size_t i = 0; i < f.servers.size(); ++i) {
            auto found = co_await keys_on(*f.servers[i], keys);
            total += found.size();
            for (const auto& k : found)
                if (ring.server_for(k) != i)
                    ++misplaced;
        }
        CHECK(total == keys.size());
        CHECK(misplaced == 0);
        CHECK(c.server_for_key(keys[0]) == f.servers[ring.server_for(keys[0])]->address());

        // One multi-get of 10,000 keys (plus misses): every hit, in request order.
        auto asked = keys;
        asked.push_back("cluster:missing-1");
        asked.push_back("cluster:missing-2");
        auto r = co_await c.async_get_multi(asked);
        REQUIRE(r.hits.size() == keys.size());
        CHECK(r.errors.empty());
        bool in_order = true, right = true;
        for (std::size_t i = 0; i < r.hits.size(); ++i) {
            in_order = in_order && r.hits[i].key == keys[i];
            right = right && r.hits[i].value == value_of(r.hits[i].key);
        }
        CHECK(in_order);
        CHECK(right);

        // Every server saw requests, and requests were split (<= max_keys_per_request each).
        std::uint64_t requests = 0;
        for (const auto& s : c.servers()) {
            CHECK(s.counters.hits > 0);
            requests += s.counters.requests;
        }
        // The 10,000 sets, then the gets, each in requests of at most max_keys_per_request.
        CHECK(requests >= 2 * (keys.size() / memcoro::client_config{}.max_keys_per_request));

        auto deleted = co_await c.async_delete_multi(
            std::vector<std::string>(keys.begin(), keys.begin() + 10));
        REQUIRE(deleted.size() == 10);
        for (const auto& d : deleted)
            CHECK(d.status == memcoro::delete_status::deleted);
        auto after = co_await c.async_get_multi(keys);
        CHECK(after.hits.size() == keys.size() - 10);
    }());
}

TEST_CASE("a multi-get into the caller's result gives what async_get_multi gives, reusing it")
{
    fleet f(3);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = f.addresses();
        memcoro::client c(ex, cfg);
        auto keys = make_keys(3000);
        std::vector<std::pair<std::string, std::string>> items;
        for (std::size_t i = 0; i < keys.size(); ++i)
            if (i % 3 != 1) // every third key is a miss
                items.emplace_back(keys[i], value_of(keys[i]));
        co_await c.async_set_multi(items);

        const auto expected = co_await c.async_get_multi(keys);
        REQUIRE(expected.hits.size() == items.size());
        const auto counted = [&] {
            std::pair<std::uint64_t, std::uint64_t> hm{0, 0};
            for (const auto& s : c.servers()) {
                hm.first += s.counters.hits;
                hm.second += s.counters.misses;
            }
            return hm;
        };
        const auto before = counted();
        memcoro::get_multi_result out;
        out.errors.emplace_back("stale", memcoro::errc::timeout); // replaced by the call
        co_await c.async_get_multi_into(keys, out);
        // The servers' hit and miss counters see the call as they see async_get_multi.
        const auto after = counted();
        CHECK(after.first - before.first == items.size());
        CHECK(after.second - before.second == keys.size() - items.size());
        REQUIRE(out.hits.size() == expected.hits.size());
        CHECK(out.errors.empty());
        bool same = true;
        for (std::size_t i = 0; i < out.hits.size(); ++i)
            same = same && out.hits[i].key == expected.hits[i].key &&
                   out.hits[i].value == expected.hits[i].value && out.hits[i].flags == 0;
        CHECK(same);

        // A second call reuses the hits' storage: the same buffers hold the same values.
        std::vector<const char*> buffers;
        for (const auto& h : out.hits)
            buffers.push_back(h.value.data());
        co_await c.async_get_multi_into(keys, out);
        REQUIRE(out.hits.size() == expected.hits.size());
        std::size_t reused = 0;
        for (std::size_t i = 0; i < out.hits.size(); ++i)
            reused += out.hits[i].value.data() == buffers[i] ? 1 : 0;
        CHECK(reused == out.hits.size());

        // gets: with CAS uniques, equal to those async_gets_multi reports.
        const auto with_cas = co_await c.async_gets_multi(keys);
        co_await c.async_gets_multi_into(keys, out);
        REQUIRE(out.hits.size() == with_cas.hits.size());
        bool cas_same = true;
        for (std::size_t i = 0; i < out.hits.size(); ++i)
            cas_same = cas_same && out.hits[i].cas != 0 && out.hits[i].cas == with_cas.hits[i].cas;
        CHECK(cas_same);

        // Only misses, then no keys at all: an empty result, no error.
        std::vector<std::string> misses;
        misses.push_back("cluster:nope-1");
        misses.push_back("cluster:nope-2");
        co_await c.async_get_multi_into(misses, out);
        CHECK(out.hits.empty());
        CHECK(out.errors.empty());
        co_await c.async_get_multi_into(keys, out);
        CHECK(out.hits.size() == expected.hits.size());
        co_await c.async_get_multi_into(std::vector<std::string>{}, out);
        CHECK(out.hits.empty());

        // An invalid key fails the call before anything is sent, and says so.
        std::vector<std::string> bad = misses;
        bad.push_back(std::string(251, 'k')); // (too long on either protocol)
        auto [ec] = co_await c.async_get_multi_into(bad, out, tuple);
        CHECK(ec == memcoro::errc::invalid_key);
    }());
}

TEST_CASE("a request a completion handler makes on an idle server goes out, even if it throws")
{
    // A handler run by a reader while it hands out its replies queues a get for another, idle
    // server: that get is written when the batch of replies ends. A handler that throws does
    // not stop it: the exception leaves run(), and the get has gone out.
    fleet f(2);
    asio::io_context ioc;
    memcoro::client_config cfg = memcoro::test::base_config();
    cfg.servers = f.addresses();
    memcoro::client c(ioc.get_executor(), cfg);
    std::string key_a, key_b;
    for (const auto& k : make_keys(100)) {
        const auto owner = c.server_for_key(k);
        if (owner == f.servers[0]->address() && key_a.empty())
            key_a = k;
        if (owner == f.servers[1]->address() && key_b.empty())
            key_b = k;
    }
    REQUIRE_FALSE(key_a.empty());
    REQUIRE_FALSE(key_b.empty());
    int stored = 0;
    for (const auto& k : {key_a, key_b})
        c.async_set(k, value_of(k), {}, [&](std::error_code ec, memcoro::store_status st) {
            CHECK_FALSE(ec);
            CHECK(st == memcoro::store_status::stored);
            ++stored;
        });
    while (stored < 2 && ioc.run_one_for(std::chrono::seconds(5)))
        ;
    REQUIRE(stored == 2);

    for (const bool throws : {false, true}) {
        INFO("handler throws: " << throws);
        std::optional<std::string> got_b;
        // Bound to the client's io_context: run by the reader itself, inside its batch.
        auto on_a = [&](std::error_code ec, memcoro::get_result r) {
            CHECK_FALSE(ec);
            CHECK((r && r->value == value_of(key_a)));
            c.async_get(key_b, [&](std::error_code ec_b, memcoro::get_result rb) {
                CHECK_FALSE(ec_b);
                got_b = rb ? rb->value : std::string("(miss)");
            });
            if (throws)
                throw std::runtime_error("handler failed");
        };
        c.async_get(key_a, asio::bind_executor(ioc.get_executor(), on_a));
        bool thrown = false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!got_b && std::chrono::steady_clock::now() < deadline) {
            try {
                ioc.run_one_for(std::chrono::milliseconds(100));
            } catch (const std::runtime_error& e) {
                CHECK(std::string(e.what()) == "handler failed");
                thrown = true;
                ioc.restart();
            }
        }
        CHECK(thrown == throws);
        REQUIRE(got_b);
        CHECK(*got_b == value_of(key_b));
    }
}

TEST_CASE("a 100,000-key multi-get goes out in bounded requests")
{
    fleet f(4);
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ex = co_await asio::this_coro::executor;
            memcoro::client_config cfg = memcoro::test::base_config();
            cfg.servers = f.addresses();
            cfg.op_timeout = 10s;
            // What went wrong, if anything: the failures the client saw.
            std::vector<std::string> failures;
            cfg.trace_level = memcoro::trace_level::warning;
            cfg.on_trace = [&](const memcoro::trace_event& e) {
                if (e.kind != memcoro::trace_kind::slow_request && failures.size() < 8)
                    failures.push_back(memcoro::describe(e));
            };
            memcoro::client c(ex, cfg);
            auto keys = make_keys(100000);
            std::vector<std::pair<std::string, std::string>> items;
            for (std::size_t i = 0; i < keys.size(); i += 2) // every other key is stored
                items.emplace_back(keys[i], value_of(keys[i]));
            co_await c.async_set_multi(items);
            std::uint64_t before = 0;
            for (const auto& s : c.servers())
                before += s.counters.requests;
            auto r = co_await c.async_get_multi(keys);
            std::string first_error;
            if (!r.errors.empty())
                first_error = r.errors.front().first + ": " + r.errors.front().second.message();
            INFO(r.errors.size() << " errors, the first " << first_error);
            std::string seen;
            for (const auto& line : failures)
                seen += "\n" + line;
            INFO("the client saw:" << seen);
            CHECK(r.errors.empty());
            REQUIRE(r.hits.size() == keys.size() / 2);
            bool right = true;
            for (std::size_t i = 0; i < r.hits.size(); ++i)
                right = right && r.hits[i].key == keys[2 * i] &&
                        r.hits[i].value == value_of(keys[2 * i]);
            CHECK(right);
            std::uint64_t after = 0;
            for (const auto& s : c.servers())
                after += s.counters.requests;
            // At most max_keys_per_request keys per request, spread over the 4 servers.
            CHECK(after - before >= keys.size() / cfg.max_keys_per_request);
            CHECK(after - before <= keys.size() / cfg.max_keys_per_request + 4);
        }(),
        120s);
}

TEST_CASE("fleet-wide stats, flush_all on every server, per-server counters as JSON")
{
    fleet f(3);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = f.addresses();
        memcoro::client c(ex, cfg);
        auto all = co_await c.async_stats_all();
        REQUIRE(all.size() == 3);
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(all[i].server == f.servers[i]->address());
            CHECK_FALSE(all[i].ec);
            std::string pid;
            for (auto& [k, v] : all[i].stats)
                if (k == "pid")
                    pid = v;
            CHECK(pid == std::to_string(f.servers[i]->pid()));
        }
        auto keys = make_keys(300);
        for (const auto& k : keys)
            co_await c.async_set(k, value_of(k));
        co_await c.async_flush_all();
        auto r = co_await c.async_get_multi(keys);
        CHECK(r.hits.empty());
        const std::string json = c.servers_json();
        for (const auto& s : f.servers)
            CHECK(json.find("\"" + s->address() + "\"") != std::string::npos);
        CHECK(json.find("\"latency_histogram\"") != std::string::npos);
    }());
}

namespace {

// The kill/restart scenario: a multi-get loop over 4 servers while one is SIGKILLed and later
// restarted. Returns nothing; CHECKs inside.
asio::awaitable<void> kill_and_restart(fleet& f, memcoro::down_policy policy)
{
    auto ex = co_await asio::this_coro::executor;
    memcoro::client_config cfg = memcoro::test::base_config();
    cfg.servers = f.addresses();
    cfg.op_timeout = 500ms;
    cfg.failure_limit = 2;
    cfg.retry_interval = 200ms;
    cfg.on_down = policy;
    std::vector<memcoro::server_event> events;
    cfg.on_server_event = [&](const memcoro::server_event& e) { events.push_back(e); };
    memcoro::client c(ex, cfg);

    auto keys = make_keys(2000);
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& k : keys)
        items.emplace_back(k, value_of(k));
    co_await c.async_set_multi(items);

    memcached_process& victim = *f.servers[1];
    const std::string victim_name = victim.address();
    std::set<std::string> victim_keys;
    for (const auto& k : keys)
        if (c.server_for_key(k) == victim_name)
            victim_keys.insert(k);
    REQUIRE_FALSE(victim_keys.empty());

    std::size_t wrong = 0, lost_other = 0, rounds = 0;
    bool saw_down = false;
    auto check_round = [&](const memcoro::get_multi_result& r) {
        std::set<std::string> hit;
        for (const auto& i : r.hits) {
            hit.insert(i.key);
            if (i.value != value_of(i.key))
                ++wrong; // another key's value: never
        }
        for (const auto& k : keys)
            if (!victim_keys.count(k) && !hit.count(k))
                ++lost_other; // a live server's key went missing
        for (const auto& [k, ec] : r.errors) {
            INFO(k << " " << ec.message() << " on " << c.server_for_key(k));
            CHECK(victim_keys.count(k) == 1); // only the dead server's keys fail
            if (ec == memcoro::errc::server_down)
                saw_down = true;
        }
    };

    for (int i = 0; i < 5; ++i) {
        auto r = co_await c.async_get_multi(keys);
        check_round(r);
        CHECK(r.hits.size() == keys.size());
        ++rounds;
    }
    victim.signal(SIGKILL);
    victim.wait();
    // Loop until the client has marked it down and the keys of the others keep coming.
    memcoro::get_multi_result into; // reused by every other round
    for (int i = 0; i < 40; ++i) {
        std::error_code ec;
        memcoro::get_multi_result r;
        if (i % 2 == 0) {
            std::tie(ec, r) = co_await c.async_get_multi(keys, tuple);
        } else {
            std::tie(ec) = co_await c.async_get_multi_into(keys, into, tuple);
            r = into;
        }
        CHECK_FALSE(ec);
        check_round(r);
        ++rounds;
        if (policy == memcoro::down_policy::failover) {
            // Failover: the dead server's keys are misses on their new server, not errors,
            // once it is marked down.
            auto info = c.server(victim_name);
            if (info && info->status == memcoro::server_status::down)
                saw_down = true;
        }
        co_await sleep_for(10ms);
    }
    auto info = c.server(victim_name);
    REQUIRE(info);
    CHECK(info->status == memcoro::server_status::down);
    CHECK(saw_down);
    CHECK(info->counters.transitions >= 1);

    // With failover, the dead server's keys can be written to their failover server.
    if (policy == memcoro::down_policy::failover) {
        const std::string& k = *victim_keys.begin();
        auto st = co_await c.async_set(k, value_of(k));
        CHECK(st == memcoro::store_status::stored);
        auto v = co_await c.async_get(k);
        REQUIRE(v);
        CHECK(v->value == value_of(k));
    } else {
        auto [ec, v] = co_await c.async_get(*victim_keys.begin(), tuple);
        CHECK(ec == memcoro::errc::server_down);
    }

    victim.restart();
    // After the retry interval one probe goes through and marks it up again.
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
        auto [ec, r] = co_await c.async_get_multi(keys, tuple);
        CHECK_FALSE(ec);
        check_round(r);
        auto s = c.server(victim_name);
        up = s && s->status == memcoro::server_status::up;
        co_await sleep_for(20ms);
    }
    CHECK(up);
    // The restarted server is empty: its keys are misses now, everyone else's still hits.
    auto r = co_await c.async_get_multi(keys);
    check_round(r);
    CHECK(r.errors.empty());
    CHECK(wrong == 0);
    CHECK(lost_other == 0);
    co_await sleep_for(10ms); // let the posted transition callbacks run
    REQUIRE(events.size() >= 2);
    CHECK(events.front().server == victim_name);
    CHECK(events.front().status == memcoro::server_status::down);
    CHECK(events.front().reason);
    CHECK(events.back().status == memcoro::server_status::up);
}

} // namespace

TEST_CASE("a killed server is marked down and back up; other keys never move (fail_fast)")
{
    fleet f(4);
    asio::io_context ioc;
    run_coro(ioc, kill_and_restart(f, memcoro::down_policy::fail_fast), 60s);
}

TEST_CASE("a killed server is marked down and back up; its keys fail over")
{
    fleet f(4);
    asio::io_context ioc;
    run_coro(ioc, kill_and_restart(f, memcoro::down_policy::failover), 60s);
}

TEST_CASE("servers added, removed and marked by hand at run time")
{
    fleet f(3);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client c(ex, memcoro::test::base_config());
        auto [none, r0] = co_await c.async_get("k", tuple);
        CHECK(none == memcoro::errc::no_servers);

        memcoro::server_options opts;
        opts.weight = 2;
        opts.timeout = 2s;
        opts.initial_status = memcoro::server_status::down;
        c.add_server("127.0.0.1", f.servers[0]->port(), opts);
        auto [down, r1] = co_await c.async_get("k", tuple);
        CHECK(down == memcoro::errc::server_down);
        auto st = c.server("127.0.0.1", f.servers[0]->port());
        REQUIRE(st);
        CHECK(st->status == memcoro::server_status::down);
        CHECK(st->address.weight == 2);
        CHECK(st->name == f.servers[0]->address());
        CHECK(c.server(f.servers[0]->address())->name == st->name); // by name, the same
        CHECK_FALSE(c.server("127.0.0.1", f.servers[1]->port()));   // not added (yet)
        CHECK_FALSE(c.server("127.0.0.2", f.servers[0]->port()));

        // Equal weights from here on: weighted ketama rescales every server's points when the
        // total weight changes, so only equal weights keep the other servers' keys in place.
        opts.weight = 1;
        opts.initial_status = memcoro::server_status::up;
        c.set_server_params(f.servers[0]->address(), opts);
        co_await c.async_set("k", "v");
        {
            auto v1_ = co_await c.async_get("k");
            CHECK(v1_->value == "v");
        }

        c.add_server(memcoro::server_address::parse(f.servers[1]->address()));
        c.add_server(memcoro::server_address::parse(f.servers[2]->address()));
        co_await c.async_version(); // ordered after the changes
        CHECK(c.servers().size() == 3);
        CHECK(c.servers().front().address.weight == 1);
        auto keys = make_keys(1000);
        std::map<std::string, std::string> before;
        for (const auto& k : keys)
            before[k] = c.server_for_key(k);
        c.remove_server(f.servers[2]->address());
        co_await c.async_version();
        std::size_t moved = 0;
        for (const auto& k : keys) {
            const auto now = c.server_for_key(k);
            if (before[k] == f.servers[2]->address())
                CHECK(now != before[k]);
            else if (now != before[k])
                ++moved; // keys of the remaining servers stay put
        }
        CHECK(moved == 0);
        CHECK(c.servers().size() == 2);
    }());
}

TEST_CASE("calls that fail fast because their server is down are counted per server")
{
    fleet f(2);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::client_config cfg = memcoro::test::base_config();
        cfg.servers = f.addresses();
        cfg.retry_interval = 60s; // no probe (it would find the server alive) during the test
        memcoro::client c(ex, cfg);
        memcoro::client_config over_cfg = cfg;
        over_cfg.on_down = memcoro::down_policy::failover;
        memcoro::client over(ex, over_cfg);
        const std::string down = f.servers[0]->address();
        const std::string up = f.servers[1]->address();
        c.mark_server(down, memcoro::server_status::down);
        over.mark_server(down, memcoro::server_status::down);

        std::vector<std::string> on_down, on_up;
        for (const auto& k : make_keys(200))
            (c.server_for_key(k) == down ? on_down : on_up).push_back(k);
        REQUIRE(on_down.size() >= 20);
        REQUIRE(on_up.size() >= 20);
        const auto rejected = [](const memcoro::client& cl, const std::string& name) {
            auto s = cl.server(name);
            REQUIRE(s);
            return s->counters.rejected;
        };

        // N single-key calls: N rejections, all on the down server.
        const std::size_t n = 17;
        for (std::size_t i = 0; i < n; ++i) {
            auto [ec, r] = co_await c.async_get(on_down[i], tuple);
            CHECK(ec == memcoro::errc::server_down);
            auto [ec2, st] = co_await c.async_set(on_down[i], "v", {}, tuple);
            CHECK(ec2 == memcoro::errc::server_down);
        }
        CHECK(rejected(c, down) == 2 * n);
        CHECK(rejected(c, up) == 0);
        for (std::size_t i = 0; i < 5; ++i)
            co_await c.async_set(on_up[i], "v"); // sent: not rejected
        CHECK(rejected(c, up) == 0);

        // A multi-key call: one per key of the down server.
        std::vector<std::string> mixed(on_down.begin(), on_down.begin() + 10);
        mixed.insert(mixed.end(), on_up.begin(), on_up.begin() + 10);
        auto r = co_await c.async_get_multi(mixed);
        CHECK(r.errors.size() == 10);
        CHECK(rejected(c, down) == 2 * n + 10);
        std::vector<std::pair<std::string, std::string>> items;
        for (const auto& k : mixed)
            items.emplace_back(k, "v");
        auto stored = co_await c.async_set_multi(items);
        CHECK(stored.size() == 20);
        CHECK(rejected(c, down) == 2 * n + 20);

        // Calls to every server: one per down server.
        auto [fec] = co_await c.async_flush_all(tuple);
        CHECK(fec == memcoro::errc::server_down);
        auto all = co_await c.async_stats_all();
        REQUIRE(all.size() == 2);
        CHECK(all[0].ec == memcoro::errc::server_down);
        CHECK(rejected(c, down) == 2 * n + 22);
        CHECK(rejected(c, up) == 0);
        const std::string json = c.servers_json();
        CHECK(json.find("\"rejected\": " + std::to_string(2 * n + 22)) != std::string::npos);
        CHECK(json.find("\"rejected\": 0") != std::string::npos);

        // Failing over is not failing fast: nothing is rejected.
        for (std::size_t i = 0; i < n; ++i) {
            auto [ec, v] = co_await over.async_get(on_down[i], tuple);
            CHECK_FALSE(ec);
        }
        CHECK(rejected(over, down) == 0);

        // Back up: sent again, the count stays.
        c.mark_server(down, memcoro::server_status::up);
        co_await c.async_set(on_down[0], "v");
        CHECK(rejected(c, down) == 2 * n + 22);
    }());
}
