#include "common.hpp"

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define MEMCORO_BENCH_CALLGRIND 1
#endif

namespace bench {
namespace {

[[noreturn]] void usage(std::string_view which, const std::string& problem = {})
{
    if (!problem.empty())
        std::cerr << which << "_bench: " << problem << "\n\n";
    std::cerr << "usage: " << which << "_bench --servers HOST:PORT[,HOST:PORT...] [options]\n"
              << "  --scenario NAME[,NAME...]  scenarios to run (default: all)\n"
              << "  --seconds S                measured interval per scenario (default 2)\n"
              << "  --warmup S                 warm-up before it (default 0.5)\n"
              << "  --max-ops N                bound on the measured ops (default 5000000)\n"
              << "  --ops N                    measure exactly N ops, no time limit\n"
              << "  --warmup-ops N             warm-up ops with --ops (default 1000)\n"
              << "  --keys N                   key space (default 100000; 10000..10000000)\n"
              << "  --value-size N             bytes per value (default 100)\n"
              << "  --seed N                   seed of the key choice\n"
              << "  --hot-keys N               single gets read only the first N keys\n";
    if (which != "libmemcached")
        std::cerr
            << "  --protocol text|meta  (memcoro) the protocol spoken to the servers (text)\n"
            << "  --io-hint one|unsafe|default  the io_context's concurrency hint: 1 (default),\n"
            << "                             ASIO_CONCURRENCY_HINT_UNSAFE (no locks) or Asio's\n"
            << "                             default (any number of threads: memcoro then\n"
            << "                             runs each client on a strand)\n";
    if (which == "memcoro")
        std::cerr << "  --threads N                io_context threads, a client each (default 1)\n"
                  << "  --distribution NAME        key distribution (default ketama; e.g. modula)\n"
                  << "  --hash NAME                key hash (default: the distribution's own)\n"
                  << "  --max-keys-per-request N   keys per multi-get request (default 250)\n"
                  << "  --singleflight             client_config::singleflight_gets\n"
                  << "  --tls-ca FILE              every server over TLS, trusting the CA in FILE\n"
                  << "                             (peer and IP/host name verified; reported as\n"
                  << "                             client \"memcoro-tls\")\n"
                  << "  --udp-ports P,P,...        gets over UDP to these ports, one per server\n"
                  << "                             (reported as client \"memcoro-udp\")\n"
                  << "  --tls-nudge-ms N           with --tls-ca: tls_options::nudge_after in ms\n"
                  << "                             (0: never nudge; default: the library's)\n"
                  << "  --get-api into|value       gets: async_get_into a reused item and\n"
                  << "                             async_get_multi_into a reused result\n"
                  << "                             (default), or async_get / async_get_multi\n"
                  << "                             (new items each call)\n";
    else if (which == "libmemcached")
        std::cerr
            << "  --get-api fetch|get        single gets: memcached_mget+fetch_result into a\n"
            << "                             reused result (default) or memcached_get\n"
            << "  --no-block                 MEMCACHED_BEHAVIOR_NO_BLOCK\n";
    std::cerr << "scenarios:";
    for (const auto& sc : scenarios)
        std::cerr << ' ' << sc.name;
    std::cerr << '\n';
    std::exit(2);
}

template <class T>
T number(std::string_view which, std::string_view opt, std::string_view text)
{
    T v{};
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size())
        usage(which, "bad value for " + std::string(opt) + ": " + std::string(text));
    return v;
}

double seconds_arg(std::string_view which, std::string_view opt, const std::string& text)
{
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size() || !(v >= 0))
        usage(which, "bad value for " + std::string(opt) + ": " + text);
    return v;
}

std::vector<std::string> split(std::string_view s, char sep)
{
    std::vector<std::string> out;
    while (!s.empty()) {
        auto pos = s.find(sep);
        out.emplace_back(s.substr(0, pos));
        if (pos == std::string_view::npos)
            break;
        s.remove_prefix(pos + 1);
    }
    return out;
}

constexpr std::string_view key_prefix = "mcb:";
constexpr std::size_t key_digits = 7;

} // namespace

// ---- options -------------------------------------------------------------------------------

options parse_options(int argc, char** argv, std::string_view which)
{
    options o;
    bool ops_given = false, warmup_ops_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-h" || a == "--help")
            usage(which);
        if (a == "--no-block" && which == "libmemcached") {
            o.lm_no_block = true;
            continue;
        }
        if (a == "--singleflight" && which == "memcoro") {
            o.mc_singleflight = true;
            continue;
        }
        if (a == "--ketama" && which == "libmemcached") {
            o.lm_ketama = true;
            continue;
        }
        if (i + 1 >= argc)
            usage(which, "unknown option or missing value: " + std::string(a));
        const std::string v = argv[++i];
        if (a == "--servers") {
            o.servers_text = v;
            for (const auto& s : split(v, ',')) {
                const auto colon = s.rfind(':');
                server srv;
                srv.host = s.substr(0, colon);
                if (colon != std::string::npos)
                    srv.port = number<unsigned>(which, a, std::string_view(s).substr(colon + 1));
                if (srv.host.empty())
                    usage(which, "bad server: " + s);
                o.servers.push_back(srv);
            }
        } else if (a == "--scenario") {
            for (const auto& name : split(v, ',')) {
                auto it = std::find_if(std::begin(scenarios), std::end(scenarios),
                                       [&](const scenario& sc) { return sc.name == name; });
                if (it == std::end(scenarios))
                    usage(which, "unknown scenario: " + name);
                o.selected.push_back(&*it);
            }
        } else if (a == "--seconds") {
            o.seconds = seconds_arg(which, a, v);
        } else if (a == "--warmup") {
            o.warmup = seconds_arg(which, a, v);
        } else if (a == "--max-ops") {
            o.max_ops = number<std::uint64_t>(which, a, v);
        } else if (a == "--ops") {
            o.fixed_ops = number<std::uint64_t>(which, a, v);
            ops_given = true;
        } else if (a == "--warmup-ops") {
            o.warmup_ops = number<std::uint64_t>(which, a, v);
            warmup_ops_given = true;
        } else if (a == "--keys") {
            o.keys = number<std::size_t>(which, a, v);
        } else if (a == "--hot-keys") {
            o.hot_keys = number<std::size_t>(which, a, v);
        } else if (a == "--value-size") {
            o.value_size = number<std::size_t>(which, a, v);
        } else if (a == "--seed") {
            o.seed = number<std::uint64_t>(which, a, v);
        } else if (a == "--io-hint" && which != "libmemcached") {
            if (v != "one" && v != "unsafe" && v != "default")
                usage(which, "--io-hint is one, unsafe or default");
            o.io_hint_unsafe = v == "unsafe";
            o.io_hint_default = v == "default";
        } else if (a == "--protocol" && which == "memcoro") {
            if (v != "text" && v != "meta")
                usage(which, "--protocol is text or meta");
            o.mc_meta = v == "meta";
        } else if (a == "--threads" && which == "memcoro") {
            o.threads = number<unsigned>(which, a, v);
        } else if (a == "--distribution" && which == "memcoro") {
            o.mc_distribution = v;
        } else if (a == "--max-keys-per-request" && which == "memcoro") {
            o.mc_max_keys = number<std::size_t>(which, a, v);
        } else if (a == "--hash" && which == "memcoro") {
            o.mc_hash = v;
        } else if (a == "--tls-ca" && which == "memcoro") {
            if (v.empty())
                usage(which, "--tls-ca needs a file");
            o.mc_tls_ca = v;
        } else if (a == "--udp-ports" && which == "memcoro") {
            for (std::size_t at = 0; at <= v.size();) {
                const std::size_t comma = std::min(v.find(',', at), v.size());
                o.mc_udp_ports.push_back(number<std::uint16_t>(which, a, v.substr(at, comma - at)));
                at = comma + 1;
            }
        } else if (a == "--tls-nudge-ms" && which == "memcoro") {
            o.mc_tls_nudge_ms = number<long>(which, a, v);
            if (o.mc_tls_nudge_ms < 0)
                usage(which, "--tls-nudge-ms must be 0 or more");
        } else if (a == "--get-api" && which == "memcoro") {
            if (v != "into" && v != "value")
                usage(which, "--get-api is into or value");
            o.mc_get_api = v;
        } else if (a == "--get-api" && which == "libmemcached") {
            if (v != "fetch" && v != "get")
                usage(which, "--get-api is fetch or get");
            o.lm_get_api = v;
        } else {
            usage(which, "unknown option: " + std::string(a));
        }
    }
    if (o.servers.empty())
        usage(which, "--servers is required");
    if (o.keys < 10'000 || o.keys > 10'000'000)
        usage(which, "--keys must be 10000 (mget10k) .. 10000000");
    if (o.hot_keys > o.keys)
        usage(which, "--hot-keys must be at most --keys");
    if (o.threads == 0 || o.threads > 64)
        usage(which, "--threads must be 1..64");
    if (ops_given && o.fixed_ops == 0)
        usage(which, "--ops must be positive");
    if (ops_given && !warmup_ops_given)
        o.warmup_ops = 1000;
    if (o.max_ops == 0)
        usage(which, "--max-ops must be positive");
    if (o.mc_tls_nudge_ms >= 0 && o.mc_tls_ca.empty())
        usage(which, "--tls-nudge-ms needs --tls-ca");
    if (o.selected.empty())
        for (const auto& sc : scenarios)
            o.selected.push_back(&sc);
    return o;
}

// ---- data ----------------------------------------------------------------------------------

keyspace::keyspace(std::size_t n, std::size_t value_size)
{
    static constexpr char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    keys_.reserve(n);
    values_.reserve(n);
    char digits[32];
    for (std::size_t i = 0; i < n; ++i) {
        std::snprintf(digits, sizeof digits, "%0*zu", static_cast<int>(key_digits), i);
        keys_.push_back(std::string(key_prefix) + digits);
        std::string v(value_size, '\0');
        std::uint64_t s = i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
        for (auto& c : v) {
            // splitmix64
            s += 0x9E3779B97F4A7C15ull;
            std::uint64_t z = s;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            c = alphabet[z % (sizeof alphabet - 1)];
        }
        values_.push_back(std::move(v));
    }
}

std::optional<std::size_t> keyspace::index_of(std::string_view key) const noexcept
{
    if (key.size() != key_prefix.size() + key_digits || !key.starts_with(key_prefix))
        return std::nullopt;
    std::size_t i = 0;
    auto digits = key.substr(key_prefix.size());
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
    if (ec != std::errc{} || p != digits.data() + digits.size() || i >= keys_.size())
        return std::nullopt;
    return i;
}

bool keyspace::matches(std::string_view key, std::string_view value) const noexcept
{
    auto i = index_of(key);
    return i && values_[*i] == value;
}

void multi_checker::reset(std::size_t first, std::size_t n)
{
    first_ = first;
    n_ = n;
    count_ = 0;
    ok_ = true;
    std::memset(seen_.data(), 0, n);
}

bool multi_checker::add(const keyspace& ks, std::string_view key, std::string_view value) noexcept
{
    auto i = ks.index_of(key);
    if (!i || *i < first_ || *i >= first_ + n_ || seen_[*i - first_] || ks.value(*i) != value) {
        ok_ = false;
        return false;
    }
    seen_[*i - first_] = 1;
    ++count_;
    return true;
}

// ---- histogram -----------------------------------------------------------------------------

namespace {
constexpr unsigned sub_bits = 6; // 64 sub-buckets per power of two
constexpr std::size_t sub = std::size_t{1} << sub_bits;
constexpr std::size_t buckets = sub + (64 - sub_bits) * sub;
} // namespace

histogram::histogram()
    : counts_(buckets, 0)
{
}

std::size_t histogram::index(std::uint64_t ns) noexcept
{
    if (ns < sub)
        return static_cast<std::size_t>(ns);
    const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(ns)); // >= sub_bits
    const unsigned shift = e - sub_bits;
    const std::uint64_t m = ns >> shift; // in [sub, 2*sub)
    return sub + static_cast<std::size_t>(shift) * sub + static_cast<std::size_t>(m - sub);
}

double histogram::value_of(std::size_t i) noexcept
{
    if (i < sub)
        return static_cast<double>(i);
    const std::size_t shift = (i - sub) / sub;
    const std::uint64_t m = sub + (i - sub) % sub;
    const double lo = std::ldexp(static_cast<double>(m), static_cast<int>(shift));
    const double width = std::ldexp(1.0, static_cast<int>(shift));
    return lo + (width - 1) / 2; // middle of the bucket
}

void histogram::merge(const histogram& o) noexcept
{
    for (std::size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += o.counts_[i];
}

std::uint64_t histogram::total() const noexcept
{
    std::uint64_t t = 0;
    for (auto c : counts_)
        t += c;
    return t;
}

double histogram::quantile(double q) const noexcept
{
    const std::uint64_t n = total();
    if (n == 0)
        return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(n)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= std::max<std::uint64_t>(rank, 1))
            return value_of(i);
    }
    return value_of(counts_.size() - 1);
}

// ---- run control ---------------------------------------------------------------------------

snapshot snapshot::take() noexcept
{
    snapshot s;
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    s.cpu_us = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    s.allocs = alloc_count();
    s.t = bench_clock::now();
    return s;
}

run_control::run_control(const options& o)
    : opt_(o)
    , bound_(o.fixed_ops ? o.fixed_ops : o.max_ops)
{
    if (opt_.fixed_ops && opt_.warmup_ops == 0)
        begin();
}

bool run_control::completed(std::uint64_t n) noexcept
{
    const int p = phase_.load(std::memory_order_acquire);
    if (p == measure) {
        const auto before = measured_.fetch_add(n, std::memory_order_relaxed);
        if (before >= bound_)
            return false;
        if (before + n >= bound_)
            end();
        return true;
    }
    if (p == warmup && opt_.fixed_ops) {
        const auto before = warmed_.fetch_add(n, std::memory_order_relaxed);
        if (before < opt_.warmup_ops && before + n >= opt_.warmup_ops)
            begin();
    }
    return false;
}

void run_control::begin() noexcept
{
    begin_ = snapshot::take();
#ifdef MEMCORO_BENCH_CALLGRIND
    CALLGRIND_ZERO_STATS;
#endif
    int expected = warmup;
    phase_.compare_exchange_strong(expected, measure, std::memory_order_acq_rel);
}

void run_control::end() noexcept
{
    int expected = measure;
    if (!phase_.compare_exchange_strong(expected, stop, std::memory_order_acq_rel))
        return;
#ifdef MEMCORO_BENCH_CALLGRIND
    CALLGRIND_DUMP_STATS_AT("measured");
#endif
    end_ = snapshot::take();
    {
        std::lock_guard lock(mutex_);
    }
    cv_.notify_all();
}

void run_control::wait()
{
    auto stopped = [this] { return phase_.load(std::memory_order_acquire) == stop; };
    std::unique_lock lock(mutex_);
    if (opt_.fixed_ops) {
        // The callers drive the phases; a generous limit guards against a hang.
        if (!cv_.wait_for(lock, std::chrono::minutes(30), stopped)) {
            lock.unlock();
            if (phase_.load() == warmup)
                begin();
            end();
        }
        return;
    }
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::duration<double>(opt_.warmup));
    begin();
    lock.lock();
    const auto until = begin_.t + std::chrono::duration_cast<bench_clock::duration>(
                                      std::chrono::duration<double>(opt_.seconds));
    if (!cv_.wait_until(lock, until, stopped)) {
        lock.unlock();
        end();
    }
}

// ---- tally and report ----------------------------------------------------------------------

void tally::error(std::string_view what)
{
    if (errors++ == 0 && first_problem.empty())
        first_problem = "error: " + std::string(what);
}

void tally::mismatch(std::string_view what)
{
    if (verified && first_problem.empty())
        first_problem = "wrong reply: " + std::string(what);
    verified = false;
}

void tally::merge(const tally& o)
{
    hist.merge(o.hist);
    ops += o.ops;
    errors += o.errors;
    verified = verified && o.verified;
    if (first_problem.empty())
        first_problem = o.first_problem;
}

bool report(std::string_view client, const scenario& sc, const options& opt, unsigned threads,
            unsigned callers, const run_control& ctl, const tally& t)
{
    const auto& a = ctl.first();
    const auto& b = ctl.last();
    const double secs = std::chrono::duration<double>(b.t - a.t).count();
    const double ops = static_cast<double>(t.ops);
    const std::uint64_t keys = t.ops * sc.keys_per_op;
    auto per_op = [&](double v) { return t.ops ? v / ops : 0.0; };
    auto round3 = [](double v) { return std::round(v * 1000) / 1000; };

    nlohmann::ordered_json j;
    j["client"] = client;
    j["scenario"] = sc.name;
    j["ops"] = t.ops;
    j["keys"] = keys;
    j["seconds"] = round3(secs);
    j["ops_per_s"] = std::round(secs > 0 ? ops / secs : 0);
    j["keys_per_s"] = std::round(secs > 0 ? static_cast<double>(keys) / secs : 0);
    j["p50_us"] = round3(t.hist.quantile(0.50) / 1000);
    j["p99_us"] = round3(t.hist.quantile(0.99) / 1000);
    j["cpu_us_per_op"] = round3(per_op(b.cpu_us - a.cpu_us));
    j["allocs_per_op"] = round3(per_op(static_cast<double>(b.allocs.total() - a.allocs.total())));
    j["new_per_op"] = round3(per_op(static_cast<double>(b.allocs.news - a.allocs.news)));
    j["malloc_per_op"] = round3(per_op(static_cast<double>(b.allocs.mallocs - a.allocs.mallocs)));
    j["errors"] = t.errors;
    j["verified"] = t.verified;
    j["callers"] = callers;
    j["threads"] = threads;
    j["value_size"] = opt.value_size;
    // "memcoro", "memcoro-meta", "memcoro-tls", "memcoro-2t", ...
    const bool mc = client.starts_with("memcoro");
    j["get_api"] = mc ? opt.mc_get_api : opt.lm_get_api;
    if (mc) {
        j["distribution"] = opt.mc_distribution.empty() ? "ketama" : opt.mc_distribution;
        j["hash"] = opt.mc_hash.empty() ? "default" : opt.mc_hash;
        j["tls"] = !opt.mc_tls_ca.empty();
        j["udp"] = !opt.mc_udp_ports.empty();
        if (!opt.mc_tls_ca.empty())
            j["nudge_after_ms"] = opt.mc_tls_nudge_ms;
    } else {
        j["distribution"] = opt.lm_ketama ? "ketama" : "modula";
        j["hash"] = opt.lm_ketama ? "md5" : "one-at-a-time";
    }
    std::cout << j.dump() << std::endl;
    if (!t.first_problem.empty())
        std::cerr << client << ' ' << sc.name << ": " << t.first_problem << '\n';
    return t.verified && t.errors == 0 && t.ops > 0;
}

} // namespace bench
