// Server lists against real memcached: a list applied through the API (servers kept keep their
// connections, added ones connect on first use, removed ones drain), every bad list refused with
// the list in force kept, events; a reload under load (64 callers while the list changes 100
// times: no failure for a key whose server never changed, no reconnect of a server that stayed);
// a watched file and the list kept in memcached itself, edited by two editors at once.

#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/server_list_sources.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

memcoro::server_list list_of(std::uint64_t version, const std::vector<const memcached_process*>& ms,
                             const std::vector<std::uint32_t>& weights = {})
{
    memcoro::server_list l;
    l.domain = "test";
    l.version = version;
    for (std::size_t i = 0; i < ms.size(); ++i) {
        memcoro::server_list_entry e;
        e.address = memcoro::server_address::parse(ms[i]->address());
        e.address.weight = i < weights.size() ? weights[i] : 1;
        l.servers.push_back(e);
    }
    return l;
}

/// Where `key` goes under `l` (ketama, md5: the client's default).
std::string placed(const memcoro::server_list& l, const std::string& key)
{
    std::vector<memcoro::ring::node> nodes;
    for (const auto& e : l.servers)
        nodes.push_back({e.address.host, e.address.port, e.address.weight, e.address.name});
    memcoro::ring::continuum ring(memcoro::ring::distribution_kind::ketama, std::move(nodes));
    return l.servers[ring.server_for(key)].address.to_string();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(tuple);
}

std::string temp_path(const std::string& name)
{
    return (std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid())))
        .string();
}

} // namespace

TEST_CASE("server lists: applied at once; kept servers keep their connections; bad lists refused")
{
    memcached_process m1, m2, m3;
    asio::io_context ioc;
    std::vector<memcoro::server_list_event> events;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = memcoro::test::config_for(m1.address() + "," + m2.address());
        cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
        memcoro::client c(ioc.get_executor(), cfg);
        for (int i = 0; i < 50; ++i)
            co_await c.async_set("k" + std::to_string(i), "v");
        const auto v1 = list_of(1, {&m1, &m2, &m3});
        memcoro::server_list_error err;
        CHECK(c.apply_server_list(v1, err));
        CHECK(c.current_server_list().version == 1);
        // Keys go where the new ring says: some to m3, whose cache is empty.
        int moved = 0;
        bool right = true;
        for (int i = 0; i < 50; ++i) {
            const std::string k = "k" + std::to_string(i);
            const auto r = co_await c.async_get(k);
            const bool to_m3 = placed(v1, k) == m3.address();
            moved += to_m3;
            right = right && c.server_for_key(k) == placed(v1, k) && (to_m3 ? !r : r.has_value());
        }
        CHECK(right);
        CHECK(moved > 0);
        auto servers = c.servers();
        REQUIRE(servers.size() == 3);
        CHECK(servers[0].counters.connects == 1); // (kept, not reconnected)
        CHECK(servers[0].list_version == 1);
        CHECK(c.servers_json().find("\"list_version\": 1,") != std::string::npos);
        CHECK(servers[1].counters.connects == 1);

        // Refused: the list in force stays.
        auto older = list_of(0, {&m1});
        CHECK_FALSE(c.apply_server_list(older, err));
        CHECK(err.ec == memcoro::server_list_errc::older_version);
        auto changed = list_of(1, {&m1, &m3});
        CHECK_FALSE(c.apply_server_list(changed, err));
        CHECK(err.ec == memcoro::server_list_errc::same_version_changed);
        auto empty = list_of(2, {});
        CHECK_FALSE(c.apply_server_list(empty, err));
        CHECK(err.ec == memcoro::server_list_errc::empty_list);
        auto dup = list_of(2, {&m1, &m1});
        CHECK_FALSE(c.apply_server_list(dup, err));
        CHECK(err.ec == memcoro::server_list_errc::duplicate_server);
        auto modula = list_of(2, {&m1});
        modula.distribution = memcoro::ring::distribution_kind::modula;
        CHECK_FALSE(c.apply_server_list(modula, err));
        CHECK(err.ec == memcoro::server_list_errc::distribution_changed);
        CHECK_THROWS_AS(c.apply_server_list(older), std::invalid_argument);
        CHECK(c.current_server_list() == v1);
        CHECK(c.servers().size() == 3);

        // Removed: m1 goes; its request in flight is still answered.
        m1.signal(SIGSTOP);
        std::error_code slow_ec;
        bool slow_done = false;
        std::string on_m1;
        for (int i = 0; i < 50 && on_m1.empty(); ++i)
            if (placed(v1, "k" + std::to_string(i)) == m1.address())
                on_m1 = "k" + std::to_string(i);
        REQUIRE(!on_m1.empty());
        c.async_get(on_m1, [&](std::error_code ec, memcoro::get_result) {
            slow_ec = ec;
            slow_done = true;
        });
        co_await sleep_for(20ms);
        const auto v2 = list_of(2, {&m2, &m3}, {1, 3});
        CHECK(c.apply_server_list(v2, err));
        co_await sleep_for(50ms);
        m1.signal(SIGCONT);
        for (int i = 0; i < 100 && !slow_done; ++i)
            co_await sleep_for(10ms);
        CHECK(slow_done);
        CHECK(!slow_ec); // drained, not aborted
        servers = c.servers();
        REQUIRE(servers.size() == 2);
        CHECK(servers[0].name == m2.address());
        CHECK(servers[1].counters.connects == 1);
        co_await sleep_for(20ms);
    }());
    // Events: 2 applied, 6 refused (the throwing call included).
    int applied = 0, refused_events = 0;
    for (const auto& e : events) {
        applied += e.applied;
        refused_events += !e.applied;
    }
    CHECK(applied == 2);
    CHECK(refused_events == 6);
    REQUIRE(events.size() >= 1);
    CHECK(events[0].old_version == 0);
    CHECK(events[0].new_version == 1);
    CHECK(events[0].changes.added.size() == 1);
    CHECK(events[0].source == "api");
}

TEST_CASE("server lists: reload under load: 100 changes, 64 callers, no failure for a key whose "
          "server never changed, no reconnect of a server that stayed")
{
    memcached_process anchor, a, b, c3;
    // 100 lists over a pool: the anchor always there, the others added, removed, reweighted.
    std::vector<memcoro::server_list> lists;
    std::mt19937 rng(7);
    const std::vector<const memcached_process*> pool = {&a, &b, &c3};
    for (std::uint64_t v = 1; v <= 100; ++v) {
        std::vector<const memcached_process*> ms = {&anchor};
        std::vector<std::uint32_t> w = {1};
        for (const auto* p : pool)
            if (rng() % 3 != 0) {
                ms.push_back(p);
                w.push_back(1 + rng() % 3);
            }
        lists.push_back(list_of(v, ms, w));
    }
    // The keys whose server is the anchor under every list (and under the first one).
    const auto initial = list_of(0, {&anchor, &a});
    std::vector<std::string> keys;
    std::map<std::string, bool> stable;
    for (int i = 0; i < 2000; ++i) {
        const std::string k = "load:" + std::to_string(i);
        bool s = placed(initial, k) == anchor.address();
        for (const auto& l : lists)
            s = s && placed(l, k) == anchor.address();
        keys.push_back(k);
        stable[k] = s;
    }
    std::size_t stable_count = 0;
    for (const auto& [k, s] : stable)
        stable_count += s;
    REQUIRE(stable_count > 50);

    asio::io_context ioc;
    std::size_t ops = 0, stable_failures = 0, other_failures = 0, wrong = 0;
    bool changing = true;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(anchor.address() + "," + a.address());
            memcoro::client cl(ioc.get_executor(), cfg);
            std::size_t running = 64;
            for (int w = 0; w < 64; ++w) {
                asio::co_spawn(
                    ioc,
                    [&, w]() -> asio::awaitable<void> {
                        std::size_t i = static_cast<std::size_t>(w) * 31;
                        while (changing) {
                            const std::string& k = keys[i++ % keys.size()];
                            const std::string v = "value of " + k;
                            std::error_code ec;
                            if (i % 2) {
                                auto [e, st] = co_await cl.async_set(k, v, {}, tuple);
                                ec = e;
                            } else {
                                auto [e, r] = co_await cl.async_get(k, tuple);
                                ec = e;
                                if (!ec && r && r->value != v)
                                    ++wrong;
                            }
                            ++ops;
                            if (ec)
                                ++(stable[k] ? stable_failures : other_failures);
                        }
                        --running;
                    },
                    asio::detached);
            }
            for (const auto& l : lists) {
                co_await sleep_for(5ms);
                cl.apply_server_list(l);
            }
            co_await sleep_for(50ms);
            changing = false;
            while (running > 0)
                co_await sleep_for(5ms);
            const auto info = cl.servers();
            REQUIRE(!info.empty());
            CHECK(info[0].name == anchor.address());
            CHECK(info[0].counters.connects == 1); // never reconnected
            CHECK(cl.current_server_list().version == 100);
            co_await sleep_for(20ms);
        }(),
        std::chrono::seconds(60));
    WARN("ops " << ops << ", stable keys " << stable_count << " of " << keys.size()
                << ", failures for other keys " << other_failures);
    CHECK(ops > 1000);
    CHECK(stable_failures == 0);
    CHECK(wrong == 0);
}

TEST_CASE("server lists: a watched file; bad contents reported and the list in force kept")
{
    memcached_process m1, m2;
    const std::string path = temp_path("memcoro-servers.json");
    std::remove(path.c_str());
    memcoro::server_list first = list_of(1, {&m1});
    {
        std::ofstream(path) << memcoro::with_domain_list("", first);
    }
    asio::io_context ioc;
    std::vector<memcoro::server_list_event> events;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = memcoro::test::config_for(m2.address());
        cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
        memcoro::client c(ioc.get_executor(), cfg);
        memcoro::server_list_file_source source(c, path, "test", 20ms);
        co_await sleep_for(100ms);
        CHECK(c.current_server_list().version == 1);
        CHECK(c.servers().size() == 1);
        CHECK(c.servers().at(0).name == m1.address());
        // An edit through the library: version 2, both servers.
        const auto two = memcoro::edit_server_list_file(path, "test", [&](memcoro::server_list& l) {
            l.servers.push_back(
                {memcoro::server_address::parse(m2.address()), memcoro::server_status::up});
        });
        CHECK(two.version == 2);
        co_await sleep_for(100ms);
        CHECK(c.current_server_list().version == 2);
        CHECK(c.servers().size() == 2);
        // Garbage, then an older version: reported, not applied.
        {
            std::ofstream(path) << "{ not json";
        }
        co_await sleep_for(100ms);
        {
            std::ofstream(path) << memcoro::with_domain_list("", first);
        }
        co_await sleep_for(100ms);
        CHECK(c.current_server_list().version == 2);
        CHECK(c.servers().size() == 2);
        // An invalid edit is refused before anything is written.
        CHECK_THROWS_AS(memcoro::edit_server_list_file(
                            path, "test", [](memcoro::server_list& l) { l.servers.clear(); }),
                        std::invalid_argument);
    }());
    std::remove(path.c_str());
    std::remove((path + ".lock").c_str());
    bool saw_garbage = false, saw_older = false;
    for (const auto& e : events) {
        saw_garbage = saw_garbage || e.error.ec == memcoro::server_list_errc::invalid_json;
        saw_older = saw_older || e.error.ec == memcoro::server_list_errc::older_version;
    }
    CHECK(saw_garbage);
    CHECK(saw_older);
}

TEST_CASE("server lists: kept in memcached; two editors at once lose nothing; clients follow")
{
    memcached_process store_server, m1, m2, m3;
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto store_cfg = memcoro::test::config_for(store_server.address());
            memcoro::client store(ioc.get_executor(), store_cfg);
            memcoro::client store2(ioc.get_executor(), store_cfg);
            auto cfg = memcoro::test::config_for(m1.address());
            memcoro::client c(ioc.get_executor(), cfg);
            memcoro::server_list_store_source source(c, store, "test", 20ms);
            // Two editors, 20 edits each, at once: each adds its own entries.
            int done = 0;
            const std::vector<const memcached_process*> ms = {&m1, &m2, &m3};
            for (int editor = 0; editor < 2; ++editor) {
                asio::co_spawn(
                    ioc,
                    [&, editor]() -> asio::awaitable<void> {
                        memcoro::client& s = editor == 0 ? store : store2;
                        for (int i = 0; i < 20; ++i) {
                            co_await memcoro::edit_server_list_in_store(
                                s, "test", [&](memcoro::server_list& l) {
                                    // Each editor bumps its own server's weight (adds it first).
                                    const auto* m = ms[static_cast<std::size_t>(editor)];
                                    const std::string name = m->address();
                                    for (auto& e : l.servers)
                                        if (e.address.to_string() == name) {
                                            ++e.address.weight;
                                            return;
                                        }
                                    memcoro::server_list_entry e;
                                    e.address = memcoro::server_address::parse(name);
                                    l.servers.push_back(e);
                                });
                        }
                        ++done;
                    },
                    asio::detached);
            }
            while (done < 2)
                co_await sleep_for(5ms);
            const auto r = co_await store.async_get(memcoro::server_list_key("test"));
            REQUIRE(r);
            memcoro::server_list final_list;
            memcoro::server_list_error err;
            REQUIRE(memcoro::parse_domain_list(r->value, "test", final_list, err));
            CHECK(final_list.version == 40); // every edit counted once
            REQUIRE(final_list.servers.size() == 2);
            CHECK(final_list.servers[0].address.weight + final_list.servers[1].address.weight ==
                  40);
            co_await sleep_for(150ms);
            CHECK(c.current_server_list().version == 40);
            CHECK(c.servers().size() == 2);
        }(),
        std::chrono::seconds(30));
}

namespace {

/// An auto-discovery endpoint of the test's own (memcached has no `config get cluster`): answers
/// each connection's request with `reply`, or says nothing while `silent`.
struct fake_discovery {
    asio::ip::tcp::acceptor acceptor;
    std::string reply;
    bool silent = false;
    int asked = 0;

    explicit fake_discovery(asio::io_context& ioc)
        : acceptor(ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
    {
    }
    std::string address() const
    {
        return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    }
    asio::awaitable<void> serve()
    {
        for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(tuple);
            if (ec)
                co_return;
            auto s = std::make_shared<asio::ip::tcp::socket>(std::move(sock));
            std::string in;
            char buf[256];
            while (in.find("\r\n") == std::string::npos) {
                auto [rec, n] = co_await s->async_read_some(asio::buffer(buf), tuple);
                if (rec)
                    break;
                in.append(buf, n);
            }
            ++asked;
            if (in != "config get cluster\r\n" || silent) {
                // (kept open, unanswered, until the client gives up)
                asio::steady_timer t(acceptor.get_executor(), 2s);
                co_await t.async_wait(tuple);
                continue;
            }
            co_await asio::async_write(*s, asio::buffer(reply), tuple);
        }
    }
};

std::string config_reply(std::uint64_t version, const std::vector<const memcached_process*>& ms)
{
    std::string body = std::to_string(version) + "\n";
    for (std::size_t i = 0; i < ms.size(); ++i)
        body += (i ? " " : "") + std::string("node") + std::to_string(i) + ".example|127.0.0.1|" +
                std::to_string(ms[i]->port());
    body += "\n";
    return "CONFIG cluster 0 " + std::to_string(body.size()) + "\r\n" + body + "\r\nEND\r\n";
}

} // namespace

TEST_CASE("server lists: auto-discovery: greater versions applied; the same version changed, "
          "garbage and a silent endpoint reported; the list in force kept")
{
    memcached_process m1, m2, m3;
    asio::io_context ioc;
    fake_discovery endpoint(ioc);
    endpoint.reply = config_reply(1, {&m1, &m2});
    asio::co_spawn(ioc, endpoint.serve(), asio::detached);
    std::vector<memcoro::server_list_event> events;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(m3.address());
            cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
            memcoro::client c(ioc.get_executor(), cfg);
            memcoro::server_list_discovery_source source(c, endpoint.address(), 20ms, 300ms);
            co_await sleep_for(150ms);
            CHECK(c.current_server_list().version == 1);
            REQUIRE(c.servers().size() == 2);
            CHECK(c.servers()[0].name == m1.address());
            co_await c.async_set("through-discovery", "v");
            // Version 2: three servers.
            endpoint.reply = config_reply(2, {&m1, &m2, &m3});
            co_await sleep_for(150ms);
            CHECK(c.current_server_list().version == 2);
            CHECK(c.servers().size() == 3);
            // The same version with other contents: reported, not applied.
            endpoint.reply = config_reply(2, {&m1});
            co_await sleep_for(150ms);
            CHECK(c.servers().size() == 3);
            // Garbage, then silence: reported, the list in force kept.
            endpoint.reply = "CONFIG cluster 0 3\r\nxyz\r\nEND\r\n";
            co_await sleep_for(150ms);
            endpoint.silent = true;
            co_await sleep_for(700ms);
            CHECK(c.servers().size() == 3);
            // Back, with a greater version.
            endpoint.silent = false;
            endpoint.reply = config_reply(5, {&m2, &m3});
            for (int i = 0; i < 100 && c.current_server_list().version != 5; ++i)
                co_await sleep_for(20ms);
            CHECK(c.current_server_list().version == 5);
            CHECK(c.servers().size() == 2);
            const auto v = co_await c.async_get("through-discovery");
            (void)v; // (its server may have changed: a miss is right then)
            endpoint.acceptor.close();
        }(),
        std::chrono::seconds(30));
    bool saw_same_version = false, saw_garbage = false, saw_timeout = false;
    int applied = 0;
    for (const auto& e : events) {
        applied += e.applied;
        saw_same_version =
            saw_same_version || e.error.ec == memcoro::server_list_errc::same_version_changed;
        saw_garbage = saw_garbage || e.error.ec == memcoro::server_list_errc::invalid_reply;
        saw_timeout = saw_timeout || e.error.ec == memcoro::errc::timeout;
        CHECK(e.source.rfind("discovery 127.0.0.1:", 0) == 0);
    }
    CHECK(applied == 3);
    CHECK(saw_same_version);
    CHECK(saw_garbage);
    CHECK(saw_timeout);
}
