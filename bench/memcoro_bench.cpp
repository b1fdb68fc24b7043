// memcoro_bench: the named scenarios (bench/common.hpp) with memcoro. Coroutines on one
// io_context thread and one client (per server set); concurrency = that many coroutines, each
// looping. --threads N: N io_context threads, a client each, the callers split between them.
// --tls-ca FILE: every server over TLS (client "memcoro-tls").

#include "common.hpp"

#include <memcoro/client.hpp>
#include <memcoro/tls.hpp>

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace bench;

/// One io_context thread with its clients: `one` talks to the first server, `four` to the
/// first four (absent with fewer servers).
struct io_thread {
    explicit io_thread(const options& o)
        : ioc(o.io_hint_unsafe    ? ASIO_CONCURRENCY_HINT_UNSAFE
              : o.io_hint_default ? ASIO_CONCURRENCY_HINT_DEFAULT
                                  : 1)
    {
    }
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    std::optional<memcoro::client> one;
    std::optional<memcoro::client> four;
    std::thread th;
};

memcoro::client_config config_for(const options& o, unsigned n)
{
    memcoro::client_config cfg;
    if (o.mc_meta)
        cfg.protocol = memcoro::protocol::meta;
    for (unsigned i = 0; i < n; ++i) {
        memcoro::server_address a;
        a.host = o.servers[i].host;
        a.port = static_cast<std::uint16_t>(o.servers[i].port);
        if (o.mc_udp_ports.empty())
            cfg.servers.push_back(a);
    }
    if (!o.mc_distribution.empty()) {
        const auto d = memcoro::ring::parse_distribution(o.mc_distribution);
        if (!d)
            throw std::invalid_argument("unknown distribution " + o.mc_distribution);
        cfg.distribution = d->distribution;
        cfg.hash = d->hash; // (a --hash given too replaces it)
    }
    if (o.mc_max_keys > 0)
        cfg.max_keys_per_request = o.mc_max_keys;
    cfg.singleflight_gets = o.mc_singleflight;
    if (!o.mc_tls_ca.empty()) {
        cfg.tls.enabled = true;
        cfg.tls.ca_file = o.mc_tls_ca; // (peer and host verification: the defaults, on)
        cfg.tls.nudge_after = std::chrono::milliseconds(o.mc_tls_nudge_ms);
    }
    if (!o.mc_hash.empty()) {
        const auto h = memcoro::ring::parse_hash(o.mc_hash);
        if (!h)
            throw std::invalid_argument("unknown hash " + o.mc_hash);
        cfg.hash = *h;
    }
    return cfg;
}

// ---- callers -------------------------------------------------------------------------------

/// Checks one get's outcome (`got`: the item, nullptr on a miss).
void check_get(const keyspace& ks, std::size_t i, const memcoro::item* got, tally& t)
{
    if (!got)
        t.mismatch("miss for " + ks.key(i));
    else if (got->key != ks.key(i) || got->value != ks.value(i) || got->flags != 0)
        t.mismatch("wrong item for " + ks.key(i));
}

// A get is awaited in the caller itself, not in a helper coroutine: each nested frame would
// be one more allocation per operation once many callers are suspended at once.
#define MEMCORO_BENCH_GET(c, ks, i, into, buf, t)                                                  \
    do {                                                                                           \
        if (into) {                                                                                \
            const bool hit_ = co_await (c).async_get_into((ks).key(i), (buf));                     \
            check_get((ks), (i), hit_ ? &(buf) : nullptr, (t));                                    \
        } else {                                                                                   \
            const memcoro::get_result res_ = co_await (c).async_get((ks).key(i));                  \
            check_get((ks), (i), res_ ? &*res_ : nullptr, (t));                                    \
        }                                                                                          \
    } while (false)

asio::awaitable<void> get_caller(memcoro::client& c, const keyspace& ks, run_control& ctl, tally& t,
                                 std::uint64_t seed, bool into, std::size_t hot)
{
    rng r(seed);
    memcoro::item buf;
    const std::size_t space = hot ? hot : ks.size();
    while (ctl.running()) {
        const std::size_t i = r.below(space);
        const auto t0 = bench_clock::now();
        try {
            MEMCORO_BENCH_GET(c, ks, i, into, buf, t);
        } catch (const std::exception& e) {
            t.error(e.what());
        }
        t.record(ctl, t0);
    }
}

asio::awaitable<void> mget_caller(memcoro::client& c, const keyspace& ks, run_control& ctl,
                                  tally& t, std::uint64_t seed, std::size_t n, bool into)
{
    rng r(seed);
    multi_checker check(n);
    memcoro::get_multi_result res; // reused by async_get_multi_into
    while (ctl.running()) {
        const std::size_t first = r.below(ks.size() - n + 1);
        const std::span<const std::string> keys(ks.keys().data() + first, n);
        const auto t0 = bench_clock::now();
        try {
            if (into)
                co_await c.async_get_multi_into(keys, res);
            else
                res = co_await c.async_get_multi(keys);
            check.reset(first, n);
            bool flags_ok = true;
            for (const auto& it : res.hits) {
                check.add(ks, it.key, it.value);
                flags_ok = flags_ok && it.flags == 0;
            }
            if (!check.complete() || !flags_ok)
                t.mismatch("multi-get from " + ks.key(first) + ": " +
                           std::to_string(check.count()) + " of " + std::to_string(n) + " right");
            if (!res.errors.empty())
                t.error("multi-get: " + res.errors.front().second.message());
        } catch (const std::exception& e) {
            t.error(e.what());
        }
        t.record(ctl, t0);
    }
}

asio::awaitable<void> set_caller(memcoro::client& c, const keyspace& ks, run_control& ctl, tally& t,
                                 std::uint64_t seed)
{
    rng r(seed);
    while (ctl.running()) {
        const std::size_t i = r.below(ks.size());
        const auto t0 = bench_clock::now();
        try {
            const memcoro::store_status st = co_await c.async_set(ks.key(i), ks.value(i));
            if (st != memcoro::store_status::stored)
                t.mismatch(std::string("set ") + ks.key(i) + ": " + memcoro::to_string(st));
        } catch (const std::exception& e) {
            t.error(e.what());
        }
        t.record(ctl, t0);
    }
}

/// 90% get, 10% set.
asio::awaitable<void> mixed_caller(memcoro::client& c, const keyspace& ks, run_control& ctl,
                                   tally& t, std::uint64_t seed, bool into)
{
    rng r(seed);
    memcoro::item buf;
    while (ctl.running()) {
        const bool is_set = r.next() % 10 == 0;
        const std::size_t i = r.below(ks.size());
        const auto t0 = bench_clock::now();
        try {
            if (is_set) {
                const memcoro::store_status st = co_await c.async_set(ks.key(i), ks.value(i));
                if (st != memcoro::store_status::stored)
                    t.mismatch(std::string("set ") + ks.key(i) + ": " + memcoro::to_string(st));
            } else {
                MEMCORO_BENCH_GET(c, ks, i, into, buf, t);
            }
        } catch (const std::exception& e) {
            t.error(e.what());
        }
        t.record(ctl, t0);
    }
}

/// Sets keys first, first+step, ... (not measured).
asio::awaitable<void> preload_caller(memcoro::client& c, const keyspace& ks, std::size_t first,
                                     std::size_t step, tally& t)
{
    for (std::size_t i = first; i < ks.size(); i += step) {
        try {
            const memcoro::store_status st = co_await c.async_set(ks.key(i), ks.value(i));
            if (st != memcoro::store_status::stored)
                t.mismatch(std::string("preload ") + ks.key(i) + ": " + memcoro::to_string(st));
        } catch (const std::exception& e) {
            t.error(e.what());
        }
    }
}

asio::awaitable<void> make_caller(const scenario& sc, memcoro::client& c, const keyspace& ks,
                                  run_control& ctl, tally& t, std::uint64_t seed, bool into,
                                  std::size_t hot)
{
    switch (sc.k) {
    case kind::get:
        return get_caller(c, ks, ctl, t, seed, into, hot);
    case kind::mget:
        return mget_caller(c, ks, ctl, t, seed, sc.keys_per_op, into);
    case kind::set:
    case kind::set_pipe:
        return set_caller(c, ks, ctl, t, seed);
    case kind::mixed:
        return mixed_caller(c, ks, ctl, t, seed, into);
    }
    std::terminate();
}

// ---- driver --------------------------------------------------------------------------------

bool preload(io_thread& io, memcoro::client& c, const keyspace& ks, std::string_view what)
{
    constexpr std::size_t callers = 64;
    tally t;
    std::latch done(callers);
    for (std::size_t j = 0; j < callers; ++j)
        asio::co_spawn(io.ioc, preload_caller(c, ks, j, callers, t),
                       [&done, &t](std::exception_ptr e) {
                           if (e)
                               t.error("preload caller died");
                           done.count_down();
                       });
    done.wait();
    if (!t.verified || t.errors) {
        std::cerr << "memcoro_bench: preload (" << what << ") failed: " << t.first_problem << '\n';
        return false;
    }
    return true;
}

bool run_scenario(const scenario& sc, std::size_t sc_index, const options& o, const keyspace& ks,
                  std::vector<std::unique_ptr<io_thread>>& threads, const std::string& client)
{
    const auto nthreads = static_cast<unsigned>(threads.size());
    const unsigned per_thread = std::max(1u, sc.callers / nthreads);
    run_control ctl(o);
    std::vector<tally> tallies(nthreads);
    std::latch done(static_cast<std::ptrdiff_t>(nthreads) * per_thread);
    for (unsigned ti = 0; ti < nthreads; ++ti) {
        io_thread& io = *threads[ti];
        memcoro::client& c = sc.servers == 1 ? *io.one : *io.four;
        tally& t = tallies[ti];
        for (unsigned j = 0; j < per_thread; ++j) {
            const std::uint64_t seed = o.seed * 1'000'003 + sc_index * 10'007 + ti * 1'009 + j;
            asio::co_spawn(io.ioc,
                           make_caller(sc, c, ks, ctl, t, seed, o.mc_get_api == "into", o.hot_keys),
                           [&done, &t](std::exception_ptr e) {
                               if (e)
                                   t.error("caller died");
                               done.count_down();
                           });
        }
    }
    ctl.wait();
    done.wait();
    tally all;
    for (const auto& t : tallies)
        all.merge(t);
    return report(client, sc, o, nthreads, per_thread * nthreads, ctl, all);
}

} // namespace

int main(int argc, char** argv)
{
    options o = parse_options(argc, argv, "memcoro");
    const bool tls = !o.mc_tls_ca.empty();
    if (tls && !memcoro::tls_available()) {
        std::cerr << "memcoro_bench: --tls-ca, but memcoro was built without TLS\n";
        return 2;
    }
    if (tls && o.mc_tls_nudge_ms < 0) // (reported as the value in force)
        o.mc_tls_nudge_ms = static_cast<long>(memcoro::tls_options{}.nudge_after.count());
    const keyspace ks(o.keys, o.value_size);
    // "memcoro", "memcoro-meta", "memcoro-tls", "memcoro-2t", ...: each its own column of
    // bench/aggregate.py.
    const std::string client = std::string("memcoro") + (o.mc_meta ? "-meta" : "") +
                               (tls ? "-tls" : "") + (o.mc_udp_ports.empty() ? "" : "-udp") +
                               (o.threads == 1 ? "" : "-" + std::to_string(o.threads) + "t");

    bool need_one = false, need_four = false;
    for (const auto* sc : o.selected)
        (sc->servers == 1 ? need_one : need_four) = true;
    const bool have_four = o.servers.size() >= 4;
    if (need_four && !have_four)
        std::cerr << "memcoro_bench: fewer than 4 servers, skipping the 4-server scenarios\n";

    if (!o.mc_udp_ports.empty() && o.mc_udp_ports.size() < o.servers.size()) {
        std::cerr << "memcoro_bench: --udp-ports needs a port per server\n";
        return 2;
    }
    // With --udp-ports, each server is added with its own UDP port, in --servers order.
    auto add_udp_servers = [&o](memcoro::client& c, unsigned n) {
        for (unsigned i = 0; i < n && !o.mc_udp_ports.empty(); ++i) {
            memcoro::server_options so;
            so.udp = memcoro::udp_options{};
            so.udp->enabled = true;
            so.udp->port = o.mc_udp_ports[i];
            c.add_server(o.servers[i].host, static_cast<std::uint16_t>(o.servers[i].port), so);
        }
    };
    std::vector<std::unique_ptr<io_thread>> threads;
    for (unsigned i = 0; i < o.threads; ++i) {
        auto io = std::make_unique<io_thread>(o);
        io->one.emplace(io->ioc.get_executor(), config_for(o, 1));
        add_udp_servers(*io->one, 1);
        if (have_four) {
            io->four.emplace(io->ioc.get_executor(), config_for(o, 4));
            add_udp_servers(*io->four, 4);
        }
        io->th = std::thread([p = io.get()] { p->ioc.run(); });
        threads.push_back(std::move(io));
    }

    bool ok = true;
    // Every client has the same placement, so the first thread's clients preload for all.
    if (need_one)
        ok = preload(*threads[0], *threads[0]->one, ks, "1 server") && ok;
    if (need_four && have_four)
        ok = preload(*threads[0], *threads[0]->four, ks, "4 servers") && ok;

    if (ok) {
        for (const auto* sc : o.selected) {
            if (sc->servers > o.servers.size())
                continue;
            const auto index = static_cast<std::size_t>(sc - std::begin(scenarios));
            ok = run_scenario(*sc, index, o, ks, threads, client) && ok;
        }
    }

    for (auto& io : threads) {
        io->ioc.stop();
        io->th.join();
    }
    threads.clear();
    return ok ? 0 : 1;
}
