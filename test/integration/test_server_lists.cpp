// Server lists against real memcached: a list applied through the API (servers kept keep their
// connections, added ones connect on first use, removed ones drain), every bad list refused with
// the list in force kept, events; a reload under load (64 callers while the list changes 100
// times: after each change fresh keys are found where that list's ring puts them and nowhere
// else, no key whose server never changed fails, and memcached's own connection counts show no
// new connection to a server kept); a watched file (read at each change: inotify) and the list
// kept in memcached itself, edited by two editors at once.

#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"
#include "../support/stat.hpp"

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

#include <algorithm>
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

/// Where keys go under a list (ketama, md5: the client's default), computed from the list
/// alone; the continuum is built once.
class placement {
public:
    explicit placement(const memcoro::server_list& l)
        : list_(l)
        , ring_(memcoro::ring::distribution_kind::ketama, nodes(l))
    {
    }
    /// The server ("host:port") that owns `key`.
    std::string operator()(const std::string& key) const
    {
        return list_.servers[ring_.server_for(key)].address.to_string();
    }

private:
    static std::vector<memcoro::ring::node> nodes(const memcoro::server_list& l)
    {
        std::vector<memcoro::ring::node> out;
        for (const auto& e : l.servers)
            out.push_back({e.address.host, e.address.port, e.address.weight, e.address.name});
        return out;
    }
    memcoro::server_list list_;
    memcoro::ring::continuum ring_;
};

/// Where `key` goes under `l`.
std::string placed(const memcoro::server_list& l, const std::string& key)
{
    return placement(l)(key);
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

TEST_CASE("server lists: reload under load: 100 changes, 64 callers; keys go where each list's "
          "ring says, no failure for a key whose server never changed, no new connection to a "
          "server kept")
{
    memcached_process anchor, a, b, c3;
    const std::vector<const memcached_process*> all = {&anchor, &a, &b, &c3};
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
    std::vector<placement> rings;
    for (const auto& l : lists)
        rings.emplace_back(l);
    const placement initial_ring(initial);
    for (int i = 0; i < 2000; ++i) {
        const std::string k = "load:" + std::to_string(i);
        bool s = initial_ring(k) == anchor.address();
        for (const auto& r : rings)
            s = s && r(k) == anchor.address();
        keys.push_back(k);
        stable[k] = s;
    }
    std::size_t stable_count = 0;
    for (const auto& [k, s] : stable)
        stable_count += s;
    REQUIRE(stable_count > 50);
    auto in_list = [](const memcoro::server_list& l, const memcached_process* m) {
        return std::any_of(l.servers.begin(), l.servers.end(),
                           [&](const auto& e) { return e.address.to_string() == m->address(); });
    };

    asio::io_context ioc;
    std::size_t ops = 0, stable_failures = 0, other_failures = 0, wrong = 0;
    // After each change: fresh keys written through the client, found on their server only.
    constexpr std::size_t probes_per_change = 16;
    std::size_t placements = 0, misplaced = 0, probe_failures = 0;
    std::string first_misplaced;
    // After each change: for each server kept that the client had connected to, no new
    // connection since the change before (memcached's total_connections).
    std::size_t kept_checked = 0, kept_reconnected = 0, stays_over_one = 0;
    std::string first_reconnected;
    std::vector<long long> opened(all.size(), 0); // the client's connections to each, so far
    const std::vector<bool> configured = {true, true, false, false}; // (anchor and a)
    bool changing = true;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            // One-server clients of the test's own, for the read-backs and `stats`: each keeps
            // its one connection throughout, so that a server's total_connections moves by
            // the client under test only.
            std::vector<std::unique_ptr<memcoro::client>> direct;
            for (const auto* m : all)
                direct.push_back(std::make_unique<memcoro::client>(
                    ioc.get_executor(), memcoro::test::config_for(m->address())));
            std::vector<long long> base(all.size());
            auto connections_opened = [&]() -> asio::awaitable<std::vector<long long>> {
                std::vector<long long> out;
                for (std::size_t s = 0; s < all.size(); ++s) {
                    const auto st = co_await direct[s]->async_stats();
                    out.push_back(memcoro::test::stat_num(st, "total_connections") - base[s]);
                }
                co_return out;
            };
            base = co_await connections_opened();

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
            std::vector<bool> present = configured;           // is it in the list in force?
            std::vector<long long> stay_start(all.size(), 0); // `opened` when its stay began
            for (std::size_t v = 0; v < lists.size(); ++v) {
                const auto& l = lists[v];
                co_await sleep_for(5ms);
                cl.apply_server_list(l);

                std::vector<std::string> pkeys, pvalues;
                for (std::size_t i = 0; i < probes_per_change; ++i) {
                    pkeys.push_back("probe:" + std::to_string(v) + ":" + std::to_string(i));
                    pvalues.push_back("list " + std::to_string(l.version));
                }
                auto [sec, stored] = co_await cl.async_set_multi(pkeys, pvalues, {}, tuple);
                probe_failures += sec ? pkeys.size() : 0;
                for (const auto& r : stored)
                    probe_failures += r.ec || r.status != memcoro::store_status::stored;
                for (std::size_t s = 0; s < all.size(); ++s) {
                    auto [gec, got] = co_await direct[s]->async_get_multi(pkeys, tuple);
                    REQUIRE(!gec);
                    for (std::size_t i = 0; i < pkeys.size(); ++i) {
                        const auto* hit = got.find(pkeys[i]);
                        const bool here = hit && hit->value == pvalues[i];
                        const bool ring_says = rings[v](pkeys[i]) == all[s]->address();
                        ++placements;
                        if (here != ring_says) {
                            ++misplaced;
                            if (first_misplaced.empty())
                                first_misplaced = pkeys[i] + (here ? " found on " : " not on ") +
                                                  all[s]->address();
                        }
                    }
                }

                const auto now = co_await connections_opened();
                for (std::size_t s = 0; s < all.size(); ++s) {
                    const bool listed = in_list(l, all[s]);
                    if (listed && present[s] && opened[s] > stay_start[s]) {
                        ++kept_checked;
                        if (now[s] != opened[s]) {
                            ++kept_reconnected;
                            if (first_reconnected.empty())
                                first_reconnected =
                                    all[s]->address() + " at version " + std::to_string(l.version);
                        }
                    }
                    if (listed && !present[s])
                        stay_start[s] = opened[s];
                    // (One connection per stay in the list, connections_per_server being 1.)
                    if (listed && now[s] - stay_start[s] > 1)
                        ++stays_over_one;
                    present[s] = listed;
                    opened[s] = now[s];
                }
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
                << ", failures for other keys " << other_failures << "; placements checked "
                << placements << ", kept servers checked " << kept_checked);
    CHECK(ops > 1000);
    CHECK(stable_failures == 0);
    CHECK(wrong == 0);
    // Every change's keys where its ring says, and only there.
    CHECK(placements == lists.size() * probes_per_change * all.size());
    CHECK(probe_failures == 0);
    INFO("first misplaced: " << first_misplaced);
    CHECK(misplaced == 0);
    // No new connection to a server kept across a change: the anchor's one connection for the
    // whole run, and the others' one per stay in the list.
    INFO("first reconnected: " << first_reconnected);
    CHECK(kept_checked > 100);
    CHECK(kept_reconnected == 0);
    CHECK(stays_over_one == 0);
    CHECK(opened[0] == 1);
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

namespace {

/// How many inotify descriptors the process has open (Linux; 0 elsewhere).
int inotify_descriptors()
{
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        std::error_code lec;
        const auto target = std::filesystem::read_symlink(e.path(), lec);
        n += !lec && target.string() == "anon_inode:inotify";
    }
    return n;
}

/// Writes `text` to `path` in place: the same file (inode), truncated and written.
void write_in_place(const std::string& path, const std::string& text)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << text;
}

} // namespace

TEST_CASE("server lists: a watched file is read at each change, not only every interval")
{
#ifndef __linux__
    SKIP("inotify is Linux's");
#endif
    memcached_process m1, m2;
    // A directory of the test's own, so that the watch sees this test's files only.
    const std::string dir = temp_path("memcoro-watch");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directory(dir);
    const std::string path = dir + "/servers.json";
    write_in_place(path, memcoro::with_domain_list("", list_of(1, {&m1})));
    const int inotify_before = inotify_descriptors();
    asio::io_context ioc;
    std::vector<memcoro::server_list_event> events;
    int inotify_while = 0, inotify_after = 0;
    std::size_t events_at_stop = 0;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(m2.address());
            cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
            memcoro::client c(ioc.get_executor(), cfg);
            auto version_is = [&](std::uint64_t v) {
                return [&c, v] { return c.current_server_list().version == v; };
            };
            {
                // An interval of an hour: only the watch can see the changes below in time.
                memcoro::server_list_file_source source(c, path, "test", std::chrono::hours(1));
                inotify_while = inotify_descriptors();
                const bool seen1 = co_await memcoro::test::wait_until(version_is(1), 3s);
                CHECK(seen1);

                // 1. An edit through the library: a temporary file renamed over the file.
                memcoro::edit_server_list_file(path, "test", [&](memcoro::server_list& l) {
                    l.servers.push_back(
                        {memcoro::server_address::parse(m2.address()), memcoro::server_status::up});
                });
                const bool seen2 = co_await memcoro::test::wait_until(version_is(2), 3s);
                CHECK(seen2);
                CHECK(c.servers().size() == 2);

                // 2. Written in place, as an editor that truncates and writes the file does.
                write_in_place(path, memcoro::with_domain_list("", list_of(3, {&m2})));
                const bool seen3 = co_await memcoro::test::wait_until(version_is(3), 3s);
                CHECK(seen3);

                // 3. Deleted (reported: it cannot be read), then created again.
                std::filesystem::remove(path);
                const bool seen4 = co_await memcoro::test::wait_until(
                    [&] {
                        return !events.empty() && !events.back().applied &&
                               events.back().error.reason.find("cannot read") != std::string::npos;
                    },
                    3s);
                CHECK(seen4);
                CHECK(c.current_server_list().version == 3);
                write_in_place(path, memcoro::with_domain_list("", list_of(4, {&m1, &m2})));
                const bool seen5 = co_await memcoro::test::wait_until(version_is(4), 3s);
                CHECK(seen5);

                // 4. Another file renamed over it.
                const std::string other = dir + "/other.json";
                write_in_place(other, memcoro::with_domain_list("", list_of(5, {&m1})));
                std::filesystem::rename(other, path);
                const bool seen6 = co_await memcoro::test::wait_until(version_is(5), 3s);
                CHECK(seen6);
                CHECK(c.servers().size() == 1);

                // Other names in the directory are not the list's: their changes are not
                // read. The list's file is changed through a hard link of another name (the
                // events name the link), then another file is written: the list's file is not
                // read again, and its new version is not seen.
                const std::size_t before_others = events.size();
                std::filesystem::create_hard_link(path, dir + "/alias.json");
                write_in_place(dir + "/alias.json",
                               memcoro::with_domain_list("", list_of(6, {&m1, &m2})));
                write_in_place(dir + "/unrelated.json", "{ not json");
                co_await sleep_for(200ms);
                CHECK(c.current_server_list().version == 5);
                CHECK(events.size() == before_others);
                events_at_stop = events.size();
            }
            // Stopped: its descriptor closed once the executor has run its stop, and no
            // change read any more.
            co_await sleep_for(50ms);
            inotify_after = inotify_descriptors();
            write_in_place(path, memcoro::with_domain_list("", list_of(7, {&m2})));
            memcoro::edit_server_list_file(path, "test", [](memcoro::server_list&) {});
            co_await sleep_for(300ms);
            CHECK(c.current_server_list().version == 5);
            CHECK(events.size() == events_at_stop);
        }(),
        std::chrono::seconds(30));
    std::filesystem::remove_all(dir);
    CHECK(inotify_while == inotify_before + 1);
    CHECK(inotify_after == inotify_before);
    // Each change applied once: versions 1 to 5, in order.
    std::vector<std::uint64_t> applied;
    for (const auto& e : events)
        if (e.applied)
            applied.push_back(e.new_version);
    const std::vector<std::uint64_t> expected = {1, 2, 3, 4, 5};
    CHECK(applied == expected);
}

TEST_CASE("server lists: a file in a directory that is not there yet is read every interval, "
          "then watched")
{
    memcached_process m1;
    const std::string dir = temp_path("memcoro-later");
    std::filesystem::remove_all(dir);
    const std::string path = dir + "/servers.json";
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(m1.address());
            memcoro::client c(ioc.get_executor(), cfg);
            memcoro::server_list_file_source source(c, path, "test", 1s);
            co_await sleep_for(100ms);
            CHECK(c.current_server_list().version == 0);
            std::filesystem::create_directory(dir);
            write_in_place(path, memcoro::with_domain_list("", list_of(1, {&m1})));
            // Seen by a read on the interval.
            const bool seen7 = co_await memcoro::test::wait_until(
                [&] { return c.current_server_list().version == 1; }, 3s);
            CHECK(seen7);
#ifdef __linux__
            // The read that saw version 1 watched the directory too: a change is seen long
            // before the next read on the interval, a second after that one.
            const auto t0 = std::chrono::steady_clock::now();
            write_in_place(path, memcoro::with_domain_list("", list_of(2, {&m1})));
            const bool seen8 = co_await memcoro::test::wait_until(
                [&] { return c.current_server_list().version == 2; }, 3s);
            CHECK(seen8);
            CHECK(std::chrono::steady_clock::now() - t0 < 700ms);
#endif
        }(),
        std::chrono::seconds(30));
    std::filesystem::remove_all(dir);
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
