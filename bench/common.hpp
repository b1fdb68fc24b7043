#pragma once
/// \file
/// What memcoro_bench and libmemcached_bench share: options, the scenarios, the data set, the
/// run control (warm-up, measured interval, op bound), latency histograms and the JSON report.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using bench_clock = std::chrono::steady_clock;

// ---- allocation counting (alloc_count.cpp, compiled into each bench binary) ---------------

struct alloc_counts {
    std::uint64_t news = 0;    ///< global operator new / new[] (every overload)
    std::uint64_t mallocs = 0; ///< malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign
    std::uint64_t total() const noexcept { return news + mallocs; }
};
/// Calls so far, process-wide. operator new takes its memory from glibc directly, so a `new`
/// is counted once (as a new, not also as a malloc).
alloc_counts alloc_count() noexcept;

// ---- scenarios -----------------------------------------------------------------------------

enum class kind { get, mget, set, set_pipe, mixed };

struct scenario {
    std::string_view name;
    kind k;
    unsigned callers;     ///< requests in flight (coroutines, threads, or set_pipe's batch)
    unsigned servers;     ///< 1: the first server only; 4: the first four
    unsigned keys_per_op; ///< keys of one multi-get (1 otherwise)
};

inline constexpr scenario scenarios[] = {
    {"get_seq_1srv", kind::get, 1, 1, 1},
    {"get_conc8_1srv", kind::get, 8, 1, 1},
    {"get_conc32_1srv", kind::get, 32, 1, 1},
    {"get_conc256_1srv", kind::get, 256, 1, 1},
    {"mget100_4srv", kind::mget, 1, 4, 100},
    {"mget100_conc8_4srv", kind::mget, 8, 4, 100},
    {"mget10k_4srv", kind::mget, 1, 4, 10000},
    {"set_seq_1srv", kind::set, 1, 1, 1},
    {"set_pipe100_1srv", kind::set_pipe, 100, 1, 1},
    {"mixed90_conc32_4srv", kind::mixed, 32, 4, 1},
};

// ---- options -------------------------------------------------------------------------------

struct server {
    std::string host;
    unsigned port = 11211;
};

struct options {
    std::vector<server> servers;
    std::string servers_text;
    double seconds = 2.0;              ///< measured interval (time mode)
    double warmup = 0.5;               ///< warm-up before it (time mode)
    std::uint64_t max_ops = 5'000'000; ///< bound on the measured ops (time mode)
    std::uint64_t fixed_ops = 0;       ///< --ops: measure exactly this many ops, no time limit
    std::uint64_t warmup_ops = 0;      ///< warm-up ops in --ops mode
    std::size_t keys = 100'000;        ///< size of the key space
    std::size_t value_size = 100;
    /// Single gets read only the first this many keys (0: the whole key space): hot keys.
    std::size_t hot_keys = 0;
    std::vector<const scenario*> selected;
    unsigned threads = 1;             ///< memcoro: io_context threads, one client each
    bool io_hint_unsafe = false;      ///< memcoro, asio_floor: ASIO_CONCURRENCY_HINT_UNSAFE
    bool io_hint_default = false;     ///< memcoro, asio_floor: ASIO_CONCURRENCY_HINT_DEFAULT
    bool mc_meta = false;             ///< memcoro: --protocol meta
    bool lm_no_block = false;         ///< libmemcached: MEMCACHED_BEHAVIOR_NO_BLOCK
    bool lm_ketama = false;           ///< libmemcached: MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (MD5)
    std::string lm_get_api = "fetch"; ///< libmemcached single gets: "fetch" or "get"
    std::string mc_get_api = "into";  ///< memcoro single gets: "into" or "value"
    std::string mc_distribution;      ///< memcoro: a distribution name (default: ketama)
    std::string mc_hash;              ///< memcoro: a hash name (default: the distribution's)
    std::size_t mc_max_keys = 0;      ///< memcoro: client_config::max_keys_per_request (0: default)
    bool mc_singleflight = false;     ///< memcoro: client_config::singleflight_gets
    /// memcoro: every server over TLS, trusting this CA file (empty: plaintext).
    std::string mc_tls_ca;
    /// memcoro: gets over UDP to these ports, one per server in --servers order (empty: TCP).
    std::vector<std::uint16_t> mc_udp_ports;
    long mc_tls_nudge_ms = -1; ///< memcoro: tls_options::nudge_after in ms (-1: its default)
    std::uint64_t seed = 1;
};

/// Parses the command line; prints usage and exits on errors. `which` ("memcoro" or
/// "libmemcached") selects the client-specific options.
options parse_options(int argc, char** argv, std::string_view which);

// ---- data ----------------------------------------------------------------------------------

/// Keys "mcb:0000000".. and a deterministic value per key; every reply is checked against it.
class keyspace {
public:
    keyspace(std::size_t n, std::size_t value_size);
    std::size_t size() const noexcept { return keys_.size(); }
    const std::string& key(std::size_t i) const noexcept { return keys_[i]; }
    const std::string& value(std::size_t i) const noexcept { return values_[i]; }
    const std::vector<std::string>& keys() const noexcept { return keys_; }
    /// The index of a key of this space, or nullopt.
    std::optional<std::size_t> index_of(std::string_view key) const noexcept;
    /// True if `key` is key i... and `value` its value, byte for byte.
    bool matches(std::string_view key, std::string_view value) const noexcept;

private:
    std::vector<std::string> keys_;
    std::vector<std::string> values_;
};

/// Checks one multi-get: every key of the window [first, first+n) exactly once, right value.
class multi_checker {
public:
    explicit multi_checker(std::size_t max_keys)
        : seen_(max_keys)
    {
    }
    void reset(std::size_t first, std::size_t n);
    /// Returns false (and remembers it) for a key outside the window, a duplicate or a wrong value.
    bool add(const keyspace& ks, std::string_view key, std::string_view value) noexcept;
    /// True if every key came back once with its value.
    bool complete() const noexcept { return ok_ && count_ == n_; }
    std::size_t count() const noexcept { return count_; }

private:
    std::vector<unsigned char> seen_;
    std::size_t first_ = 0, n_ = 0, count_ = 0;
    bool ok_ = true;
};

/// xorshift64*: cheap, deterministic per caller.
class rng {
public:
    explicit rng(std::uint64_t seed)
        : s_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull)
    {
        if (s_ == 0)
            s_ = 1;
    }
    std::uint64_t next() noexcept
    {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return s_ * 0x2545F4914F6CDD1Dull;
    }
    std::size_t below(std::size_t n) noexcept { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t s_;
};

// ---- measurement ---------------------------------------------------------------------------

/// Log-linear latency histogram in nanoseconds (relative bucket width 1/64).
class histogram {
public:
    histogram();
    void add(std::uint64_t ns, std::uint64_t count = 1) noexcept { counts_[index(ns)] += count; }
    void merge(const histogram& o) noexcept;
    std::uint64_t total() const noexcept;
    /// The value at quantile q (0..1), in nanoseconds.
    double quantile(double q) const noexcept;

private:
    static std::size_t index(std::uint64_t ns) noexcept;
    static double value_of(std::size_t index) noexcept;
    std::vector<std::uint64_t> counts_;
};

struct snapshot {
    bench_clock::time_point t{};
    double cpu_us = 0; ///< user + system time of the process
    alloc_counts allocs;
    static snapshot take() noexcept;
};

/// Phases of one scenario: warm-up, then the measured interval, then stop. In time mode the
/// main thread drives the phases (wait()); with --ops the callers do, by counting ops.
class run_control {
public:
    explicit run_control(const options& o);

    /// Callers loop while this holds.
    bool running() const noexcept { return phase_.load(std::memory_order_acquire) != stop; }
    /// An op (or `n` ops) completed: counts it toward the bound. True if it falls in the
    /// measured interval (record it then).
    bool completed(std::uint64_t n = 1) noexcept;

    /// Main thread, once the callers are started: returns once the measured interval is over.
    void wait();

    const snapshot& first() const noexcept { return begin_; }
    const snapshot& last() const noexcept { return end_; }

private:
    enum : int { warmup = 0, measure = 1, stop = 2 };
    void begin() noexcept;
    void end() noexcept;

    const options& opt_;
    std::atomic<int> phase_{warmup};
    std::atomic<std::uint64_t> warmed_{0};
    std::atomic<std::uint64_t> measured_{0};
    std::uint64_t bound_;
    snapshot begin_, end_;
    std::mutex mutex_;
    std::condition_variable cv_;
};

/// One caller's (or one thread's) tally.
struct tally {
    histogram hist;
    std::uint64_t ops = 0;
    std::uint64_t errors = 0;
    bool verified = true;
    std::string first_problem;

    /// Records `n` ops that started at t0 and just completed.
    void record(run_control& ctl, bench_clock::time_point t0, std::uint64_t n = 1) noexcept
    {
        const auto t1 = bench_clock::now();
        if (ctl.completed(n)) {
            hist.add(static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()),
                     n);
            ops += n;
        }
    }
    void error(std::string_view what);
    void mismatch(std::string_view what);
    void merge(const tally& o);
};

/// Prints the scenario's JSON line on stdout. Returns false if it failed (errors or not verified).
bool report(std::string_view client, const scenario& sc, const options& opt, unsigned threads,
            unsigned callers, const run_control& ctl, const tally& t);

} // namespace bench
