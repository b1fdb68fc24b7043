// Chaos soak: a mixed workload of concurrent coroutines over 4 real memcached servers, each
// behind a fault proxy, while a chaos thread kills, freezes and restarts the servers and makes
// the proxies delay, stall, cut, truncate, split and corrupt replies. Every value read is
// checked: it must name the key it was read for and a version that was written for that key,
// byte for byte. Uses memcoro's public API only (docs/reliability.md, "Chaos soak").
//
//   soak [--duration SECONDS] [--seed N] [--workers N] [--policy fail_fast|failover|both]
//        [--connections N] [--protocol text|meta|auto] [--strict-into] [--json]
//
// Exit status: 0 clean, 1 a wrong value, a hang or another failure, 2 bad arguments,
// 77 no memcached (Meson: skipped).

#include "../support/config_for.hpp"
#include "../support/fault_proxy.hpp"
#include "../support/memcached_process.hpp"

#include <memcoro/client.hpp>
#include <memcoro/config.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/types.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using us = std::chrono::microseconds;
using memcoro::test::fault_proxy;
using memcoro::test::memcached_process;
using json = nlohmann::ordered_json;

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

#if defined(__SANITIZE_ADDRESS__)
#define MEMCORO_SOAK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMCORO_SOAK_SANITIZED 1
#endif
#endif
#ifndef MEMCORO_SOAK_SANITIZED
#define MEMCORO_SOAK_SANITIZED 0
#endif

/// A completion later than op_timeout + connect_timeout + this is a hang. Generous: the
/// event loop itself was seen 100 ms late on a loaded machine, 570 ms under AddressSanitizer.
constexpr ms hang_slack = MEMCORO_SOAK_SANITIZED ? ms(5000) : ms(2000);

/// Set by SIGINT/SIGTERM (e.g. a test timeout): the run ends early and tidies up, so that no
/// memcached is left behind.
volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_interrupt(int)
{
    interrupted = 1;
}
constexpr std::size_t n_servers = 4;

// ---- options -------------------------------------------------------------------------------

struct options {
    double duration_s = 30;
    std::uint64_t seed = 0;
    bool seed_given = false;
    int workers = 32;
    std::vector<memcoro::down_policy> policies{memcoro::down_policy::fail_fast,
                                               memcoro::down_policy::failover};
    std::size_t connections = 1;
    memcoro::protocol protocol = memcoro::protocol::text;
    bool tls = false;
    std::size_t data_keys = 4000;
    std::size_t counter_keys = 200;
    bool strict_into = false;
    bool json_out = false;
    // Client timing.
    ms op_timeout{500};
    ms connect_timeout{300};
    ms retry_interval{250};
};

const char* policy_name(memcoro::down_policy p)
{
    return p == memcoro::down_policy::fail_fast ? "fail_fast" : "failover";
}

void usage(std::FILE* to)
{
    std::fprintf(to, "usage: soak [--duration SECONDS] [--seed N] [--workers N]\n"
                     "            [--policy fail_fast|failover|both] [--connections N]\n"
                     "            [--keys N] [--protocol text|meta|auto] [--tls] [--strict-into]\n"
                     "            [--json]\n"
                     "  --duration     seconds per policy (default 30)\n"
                     "  --seed         workload and chaos seed (default: random, printed)\n"
                     "  --workers      concurrent coroutines (default 32)\n"
                     "  --policy       client_config::on_down (default both, one after the other)\n"
                     "  --connections  connections_per_server (default 1)\n"
                     "  --keys         data keys (default 4000; plus 200 counters)\n"
                     "  --protocol     client_config::protocol (default text)\n"
                     "  --tls          the servers serve TLS (certificates made for the run); the\n"
                     "                 proxies' faults then corrupt TLS records\n"
                     "  --strict-into  fail also when an _into output was clobbered\n"
                     "  --json         machine-readable report on stdout (summary on stderr)\n");
}

std::optional<options> parse_args(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> std::optional<std::string_view> {
            if (i + 1 >= argc)
                return std::nullopt;
            return std::string_view(argv[++i]);
        };
        try {
            if (a == "--duration") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                o.duration_s = std::stod(std::string(*v));
                if (!(o.duration_s > 0))
                    return std::nullopt;
            } else if (a == "--seed") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                o.seed = std::stoull(std::string(*v));
                o.seed_given = true;
            } else if (a == "--workers") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                o.workers = std::stoi(std::string(*v));
                if (o.workers < 1 || o.workers > 4096)
                    return std::nullopt;
            } else if (a == "--connections") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                o.connections = std::stoul(std::string(*v));
                if (o.connections < 1 || o.connections > 64)
                    return std::nullopt;
            } else if (a == "--protocol") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                if (*v == "text")
                    o.protocol = memcoro::protocol::text;
                else if (*v == "meta")
                    o.protocol = memcoro::protocol::meta;
                else if (*v == "auto")
                    o.protocol = memcoro::protocol::automatic;
                else
                    return std::nullopt;
            } else if (a == "--tls") {
                o.tls = true;
                // memcached_process serves TLS with the shared test certificates.
                ::setenv("MEMCORO_TEST_TRANSPORT", "tls", 1);
            } else if (a == "--keys") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                o.data_keys = std::stoul(std::string(*v));
                if (o.data_keys < 100 || o.data_keys > 999999)
                    return std::nullopt;
            } else if (a == "--policy") {
                auto v = value();
                if (!v)
                    return std::nullopt;
                if (*v == "fail_fast")
                    o.policies = {memcoro::down_policy::fail_fast};
                else if (*v == "failover")
                    o.policies = {memcoro::down_policy::failover};
                else if (*v == "both")
                    o.policies = {memcoro::down_policy::fail_fast, memcoro::down_policy::failover};
                else
                    return std::nullopt;
            } else if (a == "--strict-into") {
                o.strict_into = true;
            } else if (a == "--json") {
                o.json_out = true;
            } else {
                return std::nullopt;
            }
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    return o;
}

// ---- values ------------------------------------------------------------------------------

std::uint64_t mix(std::uint64_t x)
{
    // splitmix64's finalizer.
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/// Padding bytes: lower case and digits only, so no stretch of a value can read as a reply
/// keyword ("END", "VALUE") when a fault splices bytes into a data block.
constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz012345";
static_assert(alphabet.size() == 32);

/// Fixed-width key names: losing bytes of one never makes another.
std::string key_name(char prefix, std::size_t i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%c:%06zu", prefix, i);
    return buf;
}

/// The length of version `v` of data key `k`: mostly short, some over 1 KiB, some tens of KiB.
std::size_t value_length(std::size_t k, std::uint64_t v)
{
    const std::uint64_t h = mix(mix(k) ^ v);
    const std::uint64_t r = h % 1000, x = h >> 16;
    if (r < 650)
        return 32 + x % 200;
    if (r < 900)
        return 232 + x % 3800;
    if (r < 980)
        return 4096 + x % 12288;
    return 16384 + x % 49152;
}

/// "key|version|" and padding determined by (key, version): any splice, loss or substitution
/// of bytes is seen.
struct value_gen {
    std::uint64_t state;
    explicit value_gen(std::size_t k, std::uint64_t v)
        : state(mix(mix(k + 0x51ed) ^ (v * 0x2545f4914f6cdd1dull)))
    {
    }
    char next()
    {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return alphabet[state >> 59];
    }
};

void make_value(std::string& out, const std::string& key, std::size_t k, std::uint64_t v)
{
    out.assign(key);
    out += '|';
    out += std::to_string(v);
    out += '|';
    const std::size_t len = value_length(k, v);
    value_gen g(k, v);
    out.reserve(len);
    while (out.size() < len)
        out += g.next();
}

/// Counters hold B + n * step(k): 16 digits, B = 10^15.
constexpr std::uint64_t counter_base = 1000000000000000ull;

std::optional<std::uint64_t> parse_u64(std::string_view s)
{
    std::uint64_t v = 0;
    if (s.empty() || s.size() > 20)
        return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9')
            return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
        return std::nullopt;
    return v;
}

bool is_prime(std::uint64_t n)
{
    if (n < 2)
        return false;
    for (std::uint64_t d = 2; d * d <= n; ++d)
        if (n % d == 0)
            return false;
    return true;
}

// ---- statistics --------------------------------------------------------------------------

enum kind : std::size_t {
    k_set,
    k_get,
    k_get_into,
    k_gets_into,
    k_gets,
    k_cas,
    k_get_multi,
    k_get_multi_into,
    k_gets_multi_into,
    k_delete,
    k_incr,
    k_add,
    k_touch,
    k_gat,
    k_set_multi,
    k_delete_multi,
    n_kinds
};

constexpr std::array<const char*, n_kinds> kind_names = {"set",
                                                         "get",
                                                         "get_into",
                                                         "gets_into",
                                                         "gets",
                                                         "cas",
                                                         "get_multi",
                                                         "get_multi_into",
                                                         "gets_multi_into",
                                                         "delete",
                                                         "incr",
                                                         "add",
                                                         "touch",
                                                         "gat",
                                                         "set_multi",
                                                         "delete_multi"};

/// Latencies in power-of-two microsecond buckets.
struct latency_hist {
    std::array<std::uint64_t, 40> counts{};
    std::uint64_t n = 0;
    void add(us d)
    {
        const auto v = static_cast<std::uint64_t>(std::max<us::rep>(d.count(), 0));
        std::size_t b = 0;
        while (b + 1 < counts.size() && (1ull << (b + 1)) <= v)
            ++b;
        ++counts[b];
        ++n;
    }
    /// Upper bound (µs) of the bucket holding quantile q.
    std::uint64_t quantile_us(double q) const
    {
        if (n == 0)
            return 0;
        const auto want = static_cast<std::uint64_t>(q * static_cast<double>(n));
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < counts.size(); ++b) {
            seen += counts[b];
            if (seen > want)
                return 1ull << (b + 1);
        }
        return 1ull << counts.size();
    }
};

struct phase_stats {
    std::string policy;
    double seconds = 0;
    std::array<std::uint64_t, n_kinds> ops{};
    std::array<us, n_kinds> max_latency_by_kind{};
    std::array<std::uint64_t, n_kinds> over_deadline_by_kind{};
    std::uint64_t ops_total = 0;
    std::uint64_t hits = 0;     // items returned by retrievals
    std::uint64_t verified = 0; // of which checked right
    std::uint64_t misses = 0;   // keys not found
    std::uint64_t wrong_values = 0;
    std::uint64_t counter_digits_lost = 0;
    std::uint64_t into_checked = 0;
    std::uint64_t into_clobbered = 0;
    std::uint64_t into_clobbered_valid = 0;   // this key's own value, although the call failed
    std::uint64_t into_clobbered_foreign = 0; // anything else
    std::uint64_t into_late_writes = 0;       // changed after the call had completed
    std::uint64_t multi_into_partial = 0;     // failed multi_into that left hits (allowed)
    std::uint64_t multi_into_blank_slots = 0; // empty items a failed multi_into left
    std::uint64_t cancel_attempts = 0;
    std::uint64_t cancelled = 0; // completed with operation_aborted
    std::map<std::string, std::uint64_t> errors;
    std::map<std::string, std::uint64_t> key_errors; // per-key errors of multi-key calls
    std::map<std::string, std::uint64_t> outcomes;   // store/delete/touch statuses
    latency_hist latency;
    us max_latency{0};
    std::string max_latency_op;
    std::uint64_t over_deadline = 0; // latency > op_timeout + 100 ms
    std::uint64_t over_margin = 0;   // latency > op_timeout + connect_timeout
    us max_loop_lag{0};              // how late a 10 ms ticker on the io_context ran
    std::uint64_t loop_stalls = 0;   // ticks more than 50 ms late
    std::uint64_t hangs = 0;         // latency > op_timeout + connect_timeout + hang_slack
    std::uint64_t stuck = 0;         // seen outstanding past the hang bound by the watchdog
    bool drained = true;             // every worker finished after the end
    bool recovered = false;
    double recovery_ms = 0;
    std::uint64_t server_events_down = 0, server_events_up = 0;
    std::map<std::string, std::uint64_t> chaos;
    std::uint64_t truncations = 0;
    std::size_t peak_rss_kib = 0;
    std::vector<std::string> samples;         // first wrong values, hangs, late writes
    std::vector<std::string> clobber_samples; // first clobbered _into outputs
    std::vector<std::string> failures;

    void sample(std::string s)
    {
        if (samples.size() < 30)
            samples.push_back(std::move(s));
    }
    void clobber_sample(std::string s)
    {
        if (clobber_samples.size() < 10)
            clobber_samples.push_back(std::move(s));
    }
};

std::string describe(std::error_code ec)
{
    return std::string(ec.category().name()) + ": " + ec.message();
}

std::string preview(std::string_view v)
{
    std::string s(v.substr(0, 60));
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
            c = '?';
    if (v.size() > 60)
        s += "...(" + std::to_string(v.size()) + " bytes)";
    return s;
}

std::size_t vm_hwm_kib()
{
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoull(line.substr(6));
    return 0;
}

void reset_hwm()
{
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
}

// ---- the servers and the chaos -------------------------------------------------------------

struct fleet {
    std::vector<std::unique_ptr<memcached_process>> servers;
    std::vector<std::unique_ptr<fault_proxy>> proxies;

    fleet()
    {
        for (std::size_t i = 0; i < n_servers; ++i) {
            servers.push_back(std::make_unique<memcached_process>());
            proxies.push_back(std::make_unique<fault_proxy>(servers.back()->port()));
        }
    }
};

/// Bytes injected before a reply or on an idle connection. Each is refused by the decoder or
/// answers a retrieval only (a lying END): none is a valid reply to a storage, arithmetic or
/// delete request, so a shifted reply can never be taken for another key's number. The proxy
/// may also insert them in the middle of a reply (between two reads from the server), so none
/// starts with "\r\n" (that would cut a number short) and none holds "\r\nEND\r\n" (a data
/// block with bytes spliced in could then end as a well-formed reply).
const std::vector<std::string>& garbage()
{
    static const std::vector<std::string> g = {
        "BOGUS\r\n",
        "VALUE\r\n",
        "END\n",
        "SERVER_ERRORx\r\n",
        "VALUE zz:nokey 0 5\r\nhello\r\n",
        "END\r\n",
        "STAT pid 1\r\n",
        "VALUE k:000001 0 99999999999999999999\r\n",
        "VALUE k:000002 0 -1\r\n",
        std::string(10000, 'x'),
    };
    return g;
}

class chaos {
public:
    chaos(fleet& f, std::uint64_t seed, ms op_timeout, bool meta = false)
        : fleet_(f)
        , rng_(seed)
        , op_timeout_(op_timeout)
        , meta_(meta)
    {
    }
    ~chaos()
    {
        stop();
        if (thread_.joinable())
            thread_.join();
    }

    void start()
    {
        thread_ = std::thread([this] { run(); });
    }
    void stop() { stop_ = true; }
    bool done() const { return done_; }
    void join()
    {
        if (thread_.joinable())
            thread_.join();
    }
    const std::map<std::string, std::uint64_t>& counts() const { return counts_; }
    /// The last faults applied to server i ("+12.345 s kill_restart"); read once done().
    const std::vector<std::string>& history(std::size_t i) const { return history_[i]; }
    std::uint64_t truncations() const { return truncations_; }
    const std::string& failure() const { return failure_; }

private:
    enum class fault {
        none,
        killed,
        stopped,
        delay,
        stall,
        stall_open,
        cut,
        truncate,
        split,
        inject,
        accept_mode
    };
    struct slot {
        fault f = fault::none;
        clock_type::time_point until{};
    };

    template <class Rep, class Period>
    auto pick(std::chrono::duration<Rep, Period> lo, std::chrono::duration<Rep, Period> hi)
    {
        std::uniform_int_distribution<Rep> d(lo.count(), hi.count());
        return std::chrono::duration<Rep, Period>(d(rng_));
    }
    std::size_t pick(std::size_t n)
    {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }

    void run()
    {
        try {
            loop();
        } catch (const std::exception& e) {
            failure_ = std::string("chaos: ") + e.what();
        }
        try {
            for (std::size_t i = 0; i < slots_.size(); ++i)
                revert(i);
        } catch (const std::exception& e) {
            failure_ = std::string("chaos revert: ") + e.what();
        }
        done_ = true;
    }

    void loop()
    {
        auto next = clock_type::now() + 200ms;
        while (!stop_) {
            const auto now = clock_type::now();
            for (std::size_t i = 0; i < slots_.size(); ++i)
                if (slots_[i].f != fault::none && now >= slots_[i].until)
                    revert(i);
            if (now >= next) {
                next = now + pick(ms(80), ms(500));
                std::vector<std::size_t> free;
                int busy = 0;
                for (std::size_t i = 0; i < slots_.size(); ++i) {
                    if (slots_[i].f == fault::none)
                        free.push_back(i);
                    else
                        ++busy;
                }
                if (!free.empty() && busy < 2)
                    apply(free[pick(free.size())]);
            }
            std::this_thread::sleep_for(5ms);
        }
    }

    void note(std::size_t i, const std::string& what)
    {
        ++counts_[what];
        char at[32];
        std::snprintf(at, sizeof at, "+%.3f s ",
                      std::chrono::duration<double>(clock_type::now() - t0_).count());
        auto& h = history_[i];
        if (h.size() == 8)
            h.erase(h.begin());
        h.push_back(at + what);
    }

    void apply(std::size_t i)
    {
        auto& s = slots_[i];
        auto& mc = *fleet_.servers[i];
        auto& px = *fleet_.proxies[i];
        const auto now = clock_type::now();
        const std::size_t r = pick(100);
        if (r < 12) {
            mc.signal(SIGKILL);
            mc.wait();
            s = {fault::killed, now + pick(ms(0), ms(1500))};
            note(i, "kill_restart");
        } else if (r < 26) {
            mc.signal(SIGSTOP);
            // Some pauses end before the deadline, some long after it.
            s = {fault::stopped, now + pick(ms(50), op_timeout_ * 5)};
            note(i, "stop_cont");
        } else if (r < 38) {
            px.set_delay(pick(ms(5), op_timeout_ * 3 / 2));
            s = {fault::delay, now + pick(ms(300), ms(3000))};
            note(i, "delay");
        } else if (r < 45) {
            px.set_stalled(true);
            s = {fault::stall, now + pick(ms(100), ms(2000))};
            note(i, "stall");
        } else if (r < 49) {
            px.stall_open_connections();
            s = {fault::stall_open, now + pick(ms(100), ms(2000))};
            note(i, "stall_open_connections");
        } else if (r < 60) {
            px.close_after(pick(std::size_t(200000)));
            s = {fault::cut, now + ms(500)};
            note(i, "close_after");
        } else if (r < 68) {
            // Bytes lost in a data block are seen by its framing unless the bytes that slide
            // into the block end it with "\r\n" after all: losing d bytes, that is when they
            // are "\r\nEND" (d = 5), or "\r\nEND\r\n" and the first d - 7 bytes of a reply
            // line of d - 7 bytes ("OK": 9, a miss's "END": 10, "ERROR" or injected "BOGUS":
            // 12). Those are the text protocol's limit (docs/reliability.md, "Known gaps"),
            // not memcoro's: the soak never drops them.
            static constexpr std::array<std::size_t, 8> drops = {1, 2, 3, 4, 6, 7, 8, 11};
            // On the meta protocol the lines after a block are "MN" (d = 4) and "HD O<k hex
            // digits>" and the like (d = 6 + k): 1, 2, 3, 5 and 6 are the sizes that can never
            // complete a block.
            static constexpr std::array<std::size_t, 5> meta_drops = {1, 2, 3, 5, 6};
            const std::size_t drop =
                meta_ ? meta_drops[pick(meta_drops.size())] : drops[pick(drops.size())];
            px.truncate_after(pick(std::size_t(100000)), drop);
            ++truncations_;
            s = {fault::truncate, now + ms(500)};
            note(i, "truncate_after");
        } else if (r < 76) {
            px.set_split(true, pick(100) < 80 ? us(0) : us(20));
            s = {fault::split, now + pick(ms(200), ms(1500))};
            note(i, "split");
        } else if (r < 88) {
            const auto& g = garbage()[pick(garbage().size())];
            if (pick(100) < 70) {
                px.inject_before_next_reply(g);
                note(i, "inject_before_next_reply");
            } else {
                px.inject_now(g);
                note(i, "inject_now");
            }
            s = {fault::inject, now + ms(300)};
        } else if (r < 93) {
            px.drop_connections();
            s = {fault::inject, now + ms(100)};
            note(i, "drop_connections");
        } else {
            static constexpr std::array<fault_proxy::accept_mode, 3> modes = {
                fault_proxy::accept_mode::close_at_once, fault_proxy::accept_mode::reject,
                fault_proxy::accept_mode::stop_accepting};
            const std::size_t m = pick(modes.size());
            px.set_accept_mode(modes[m]);
            if (modes[m] != fault_proxy::accept_mode::stop_accepting)
                px.drop_connections(); // so that new connections are needed
            s = {fault::accept_mode, now + pick(ms(200), ms(1500))};
            static constexpr std::array<const char*, 3> names = {
                "accept_close_at_once", "accept_reject", "accept_stop_accepting"};
            note(i, names[m]);
        }
    }

    void revert(std::size_t i)
    {
        auto& s = slots_[i];
        auto& mc = *fleet_.servers[i];
        auto& px = *fleet_.proxies[i];
        switch (s.f) {
        case fault::none:
            break;
        case fault::killed:
            mc.restart();
            break;
        case fault::stopped:
            mc.signal(SIGCONT);
            break;
        case fault::delay:
        case fault::stall:
        case fault::stall_open:
        case fault::cut:
        case fault::truncate:
        case fault::split:
        case fault::inject:
        case fault::accept_mode:
            px.clear_faults();
            px.set_stalled(false); // also resumes stall_open_connections()
            break;
        }
        s.f = fault::none;
    }

    fleet& fleet_;
    std::mt19937_64 rng_;
    ms op_timeout_;
    std::array<slot, n_servers> slots_{};
    std::atomic<bool> stop_{false};
    std::atomic<bool> done_{false};
    std::map<std::string, std::uint64_t> counts_;
    std::array<std::vector<std::string>, n_servers> history_;
    clock_type::time_point t0_ = clock_type::now();
    bool meta_ = false;
    std::uint64_t truncations_ = 0;
    std::string failure_;
    std::thread thread_;
};

// ---- the workload ---------------------------------------------------------------------------

enum class cancel_mode { none, race, signal };

struct worker_state {
    clock_type::time_point op_started = clock_type::time_point::max();
    kind op = k_get;
    bool flagged = false;
};

class soak {
public:
    soak(const options& o, memcoro::down_policy policy, std::uint64_t seed, phase_stats& st)
        : opt_(o)
        , policy_(policy)
        , seed_(seed)
        , st_(st)
        , hang_bound_(o.op_timeout + o.connect_timeout + hang_slack)
        , issued_(o.data_keys, 0)
        , units_(o.counter_keys, 0)
    {
        for (std::size_t i = 0; i < o.data_keys; ++i)
            data_keys_.push_back(key_name('k', i));
        for (std::size_t i = 0; i < o.counter_keys; ++i)
            counter_keys_.push_back(key_name('c', i));
        for (std::uint64_t p = 1000003; steps_.size() < o.counter_keys; p += 2)
            if (is_prime(p))
                steps_.push_back(p);
        for (std::size_t i = 0; i < o.data_keys; ++i)
            key_index_.emplace(data_keys_[i], i);
        for (std::size_t i = 0; i < o.counter_keys; ++i)
            key_index_.emplace(counter_keys_[i], counter_flag | i);
    }

    /// Runs one phase; returns false if it could not be run at all.
    void run()
    {
        fleet f;
        memcoro::client_config cfg;
        for (auto& p : f.proxies)
            cfg.servers.push_back(memcoro::server_address::parse(p->address()));
        cfg.on_down = policy_;
        cfg.op_timeout = opt_.op_timeout;
        cfg.connect_timeout = opt_.connect_timeout;
        cfg.retry_interval = opt_.retry_interval;
        cfg.connections_per_server = opt_.connections;
        cfg.protocol = opt_.protocol;
        if (opt_.tls) {
            cfg.tls.enabled = true;
            cfg.tls.ca_file = memcoro::test::test_tls_ca_file();
        }
        cfg.on_server_event = [this](const memcoro::server_event& e) {
            if (e.status == memcoro::server_status::up)
                ++st_.server_events_up;
            else
                ++st_.server_events_down;
        };

        fleet_ = &f;
        asio::io_context ioc;
        memcoro::client c(ioc.get_executor(), cfg);
        chaos ch(f, seed_ ^ 0xc4a05, opt_.op_timeout, opt_.protocol != memcoro::protocol::text);
        chaos_ = &ch;
        reset_hwm();
        started_ = clock_type::now();
        end_ = started_ + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(opt_.duration_s));
        workers_.assign(static_cast<std::size_t>(opt_.workers), worker_state{});
        bool main_done = false;
        std::exception_ptr main_failure;
        asio::co_spawn(ioc, main_loop(c), [&](std::exception_ptr e) {
            main_done = true;
            main_failure = e;
        });
        ch.start();
        ioc.run();
        ch.stop();
        ch.join();
        st_.seconds = std::chrono::duration<double>(stopped_at_ - started_).count();
        st_.chaos = ch.counts();
        st_.truncations = ch.truncations();
        st_.peak_rss_kib = vm_hwm_kib();
        if (!ch.failure().empty())
            st_.failures.push_back(ch.failure());
        if (!main_done)
            st_.failures.push_back("the soak's main coroutine did not finish");
        if (main_failure) {
            try {
                std::rethrow_exception(main_failure);
            } catch (const std::exception& e) {
                st_.failures.push_back(std::string("exception: ") + e.what());
            }
        }
        chaos_ = nullptr;
        fleet_ = nullptr;
    }

private:
    static constexpr std::size_t counter_flag = std::size_t(1) << 40;

    asio::awaitable<void> main_loop(memcoro::client& c)
    {
        auto ex = co_await asio::this_coro::executor;
        running_ = opt_.workers;
        for (int w = 0; w < opt_.workers; ++w)
            asio::co_spawn(
                ex, worker(c, static_cast<std::size_t>(w)), [this](std::exception_ptr e) {
                    --running_;
                    if (e) {
                        try {
                            std::rethrow_exception(e);
                        } catch (const std::exception& x) {
                            st_.failures.push_back(std::string("worker exception: ") + x.what());
                        }
                    }
                });
        asio::co_spawn(ex, lag_meter(), asio::detached);
        asio::steady_timer t(ex);
        auto last_report = clock_type::now();
        std::uint64_t last_ops = 0;
        while (clock_type::now() < end_ && !interrupted) {
            t.expires_after(100ms);
            co_await t.async_wait(tuple);
            watchdog();
            const auto now = clock_type::now();
            if (now - last_report >= 10s) {
                const double secs = std::chrono::duration<double>(now - last_report).count();
                std::fprintf(
                    stderr,
                    "[%s] %5.0f s: %llu ops (%.0f/s), %llu verified, %llu wrong, "
                    "%llu into_clobbered, max latency %.0f ms, peak RSS %zu MiB\n",
                    st_.policy.c_str(), std::chrono::duration<double>(now - started_).count(),
                    static_cast<unsigned long long>(st_.ops_total),
                    static_cast<double>(st_.ops_total - last_ops) / secs,
                    static_cast<unsigned long long>(st_.verified),
                    static_cast<unsigned long long>(st_.wrong_values),
                    static_cast<unsigned long long>(st_.into_clobbered),
                    static_cast<double>(st_.max_latency.count()) / 1000.0, vm_hwm_kib() / 1024);
                last_report = now;
                last_ops = st_.ops_total;
            }
        }
        stopping_ = true;
        stopped_at_ = clock_type::now();
        if (interrupted)
            st_.failures.push_back("interrupted by a signal");
        chaos_->stop();

        // Every worker finishes its operation in flight: within the hang bound.
        const auto drain_until = clock_type::now() + hang_bound_ + 3s;
        while (running_ > 0 && clock_type::now() < drain_until) {
            t.expires_after(10ms);
            co_await t.async_wait(tuple);
            watchdog();
        }
        if (running_ > 0) {
            st_.drained = false;
            st_.failures.push_back(std::to_string(running_) +
                                   " workers still in an operation long after the end");
        }

        // The chaos thread puts everything back (restarts, SIGCONT, clears the proxies).
        const auto chaos_until = clock_type::now() + 30s;
        while (!chaos_->done() && clock_type::now() < chaos_until) {
            t.expires_after(10ms);
            co_await t.async_wait(tuple);
        }
        if (!chaos_->done())
            st_.failures.push_back("the chaos thread did not finish");

        // Recovery: without faults, every server is up again and serves a key of its own.
        co_await recovery(c);

        c.close();
        // Workers stuck in an operation get operation_aborted from close().
        const auto close_until = clock_type::now() + 5s;
        while (running_ > 0 && clock_type::now() < close_until) {
            t.expires_after(10ms);
            co_await t.async_wait(tuple);
        }
        if (running_ > 0)
            st_.failures.push_back(std::to_string(running_) +
                                   " workers did not finish even after close()");
    }

    asio::awaitable<void> recovery(memcoro::client& c)
    {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex);
        // A key owned by each server (by the ring, ignoring up/down).
        std::vector<std::size_t> probe;
        const auto infos = c.servers();
        for (const auto& s : infos) {
            for (std::size_t k = 0; k < data_keys_.size(); ++k)
                if (c.server_for_key(data_keys_[k]) == s.name) {
                    probe.push_back(k);
                    break;
                }
        }
        const auto start = clock_type::now();
        const auto until = start + 20s;
        std::string value;
        std::string last_problem = "no probe ran";
        while (clock_type::now() < until) {
            // Traffic first: a server marked down is probed only when a request wants it.
            bool all = probe.size() == n_servers;
            for (std::size_t k : probe) {
                const std::uint64_t v = ++issued_[k];
                make_value(value, data_keys_[k], k, v);
                auto [ec, status] = co_await c.async_set(data_keys_[k], value, {}, tuple);
                if (ec || status != memcoro::store_status::stored) {
                    all = false;
                    last_problem = "set " + data_keys_[k] + ": " +
                                   (ec ? describe(ec) : memcoro::to_string(status));
                    break;
                }
                auto [gec, r] = co_await c.async_get(data_keys_[k], tuple);
                if (gec || !r || r->key != data_keys_[k] || r->value != value) {
                    all = false;
                    last_problem = "get " + data_keys_[k] + ": " +
                                   (gec ? describe(gec)
                                    : r ? "another value"
                                        : "miss");
                    if (!gec && r && r->value != value)
                        check_data(k, r->value, "recovery get");
                    break;
                }
            }
            for (const auto& s : c.servers())
                if (all && s.status != memcoro::server_status::up) {
                    all = false;
                    last_problem = s.name + " is still marked down";
                }
            if (all) {
                st_.recovered = true;
                st_.recovery_ms =
                    std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
                co_return;
            }
            t.expires_after(50ms);
            co_await t.async_wait(tuple);
        }
        st_.failures.push_back("no recovery within 20 s after the chaos stopped: " + last_problem);
        co_await diagnose(c);
    }

    /// Sends "version" on a new connection to 127.0.0.1:port: what comes back within 1 s.
    static asio::awaitable<std::string> raw_version(std::uint16_t port)
    {
        using namespace asio::experimental::awaitable_operators;
        auto ex = co_await asio::this_coro::executor;
        asio::ip::tcp::socket sock(ex);
        asio::steady_timer t(ex, 1s);
        auto talk = [&]() -> asio::awaitable<std::string> {
            auto [cec] =
                co_await sock.async_connect({asio::ip::make_address_v4("127.0.0.1"), port}, tuple);
            if (cec)
                co_return "connect: " + cec.message();
            auto [wec, wn] =
                co_await asio::async_write(sock, asio::buffer("version\r\n", 9), tuple);
            if (wec)
                co_return "write: " + wec.message();
            std::string line;
            auto [rec, rn] =
                co_await asio::async_read_until(sock, asio::dynamic_buffer(line), "\r\n", tuple);
            if (rec)
                co_return "read: " + rec.message();
            co_return line.substr(0, rn - 2);
        };
        auto r = co_await (talk() || t.async_wait(tuple));
        if (r.index() == 1)
            co_return "no reply within 1 s";
        co_return std::get<0>(r);
    }

    /// What each server looks like to the client and to its proxy, and its last faults.
    asio::awaitable<void> diagnose(memcoro::client& c)
    {
        const auto infos = c.servers();
        for (std::size_t i = 0; i < infos.size() && i < n_servers; ++i) {
            const auto& s = infos[i];
            const auto& k = s.counters;
            std::string d =
                "server " + s.name + ": " + memcoro::to_string(s.status) +
                ", consecutive_failures " + std::to_string(s.consecutive_failures) + ", requests " +
                std::to_string(k.requests) + ", errors " + std::to_string(k.errors) +
                ", timeouts " + std::to_string(k.timeouts) + ", connects " +
                std::to_string(k.connects) + ", transitions " + std::to_string(k.transitions) +
                "; proxy: " + std::to_string(fleet_->proxies[i]->connections()) + " connections, " +
                std::to_string(fleet_->proxies[i]->active()) +
                " open, version through it: " + co_await raw_version(fleet_->proxies[i]->port()) +
                "; memcached directly: " + co_await raw_version(fleet_->servers[i]->port()) +
                "; last faults:";
            for (const auto& h : chaos_->history(i))
                d += " [" + h + "]";
            st_.sample(d);
        }
    }

    /// The machine's share of the latency: how late a bare timer on the same io_context
    /// fires (a loaded machine delays memcoro's deadlines as much).
    asio::awaitable<void> lag_meter()
    {
        asio::steady_timer t(co_await asio::this_coro::executor);
        auto next = clock_type::now() + 10ms;
        while (!stopping_) {
            t.expires_at(next);
            co_await t.async_wait(tuple);
            const auto now = clock_type::now();
            const auto lag = std::chrono::duration_cast<us>(now - next);
            st_.max_loop_lag = std::max(st_.max_loop_lag, lag);
            if (lag > 50ms)
                ++st_.loop_stalls;
            next = std::max(next + 10ms, now + 1ms);
        }
    }

    void watchdog()
    {
        const auto now = clock_type::now();
        for (auto& w : workers_) {
            if (!w.flagged && w.op_started != clock_type::time_point::max() &&
                now - w.op_started > hang_bound_) {
                w.flagged = true;
                ++st_.stuck;
                st_.sample(
                    std::string("STUCK: a ") + kind_names[w.op] + " outstanding for " +
                    std::to_string(std::chrono::duration_cast<ms>(now - w.op_started).count()) +
                    " ms");
            }
        }
    }

    // ---- checks ----------------------------------------------------------------------------

    void wrong(const std::string& what)
    {
        ++st_.wrong_values;
        st_.sample("WRONG VALUE: " + what);
    }

    /// A data value read for data key k.
    bool check_data(std::size_t k, std::string_view v, const char* op)
    {
        const std::string& key = data_keys_[k];
        auto fail = [&](const char* why) {
            wrong(std::string(op) + " " + key + ": " + why + ": \"" + preview(v) + "\"");
            return false;
        };
        if (v.size() < key.size() + 3 || v.substr(0, key.size()) != key || v[key.size()] != '|')
            return fail("does not name its key");
        const auto rest = v.substr(key.size() + 1);
        const auto bar = rest.find('|');
        if (bar == std::string_view::npos)
            return fail("malformed");
        const auto version = parse_u64(rest.substr(0, bar));
        if (!version)
            return fail("malformed version");
        if (*version == 0 || *version > issued_[k])
            return fail("a version never written");
        if (v.size() != value_length(k, *version))
            return fail("wrong length");
        value_gen g(k, *version);
        std::size_t first_bad = v.size(), bad = 0, last_bad = 0;
        for (std::size_t i = key.size() + 2 + bar; i < v.size(); ++i)
            if (v[i] != g.next()) {
                first_bad = std::min(first_bad, i);
                last_bad = i;
                ++bad;
            }
        if (bad > 0) {
            const std::size_t from = first_bad > 20 ? first_bad - 20 : 0;
            const std::string where = "corrupt bytes: " + std::to_string(bad) + " differ in [" +
                                      std::to_string(first_bad) + ", " + std::to_string(last_bad) +
                                      "], from " + std::to_string(from) + ": \"" +
                                      preview(v.substr(from, 60)) + "\"";
            return fail(where.c_str());
        }
        ++st_.verified;
        return true;
    }

    /// A counter's value, read by get or returned by incr.
    bool check_counter(std::size_t c, std::string_view v, bool from_incr, const char* op)
    {
        const std::string& key = counter_keys_[c];
        const auto n = parse_u64(v);
        if (n && from_incr && *n < counter_base) {
            // Digits lost from an incr reply: a line reply has no length to check, so this
            // is the text protocol's limit under the truncate fault (bounded by the number of
            // truncations, checked at the end).
            ++st_.counter_digits_lost;
            st_.sample(std::string(op) + " " + key + ": digits lost: " + std::string(v));
            return false;
        }
        if (!n || *n < counter_base || (*n - counter_base) % steps_[c] != 0 ||
            (*n - counter_base) / steps_[c] > units_[c]) {
            wrong(std::string(op) + " " + key + ": implausible counter \"" + preview(v) + "\"");
            return false;
        }
        ++st_.verified;
        return true;
    }

    /// An item returned for `requested` (the key asked for).
    bool check_item(const memcoro::item& it, std::string_view requested, const char* op)
    {
        ++st_.hits;
        if (it.key != requested) {
            wrong(std::string(op) + " asked " + std::string(requested) + ", got key \"" +
                  preview(it.key) + "\"");
            return false;
        }
        const auto idx = key_index_.at(std::string(requested));
        if (idx & counter_flag)
            return check_counter(idx & ~counter_flag, it.value, false, op);
        return check_data(idx, it.value, op);
    }

    void error(std::error_code ec)
    {
        ++st_.errors[describe(ec)];
        if (ec == asio::error::operation_aborted)
            ++st_.cancelled;
    }

    void outcome(const char* op, const char* status)
    {
        ++st_.outcomes[std::string(op) + ": " + status];
    }

    // ---- the operations --------------------------------------------------------------------

    /// Runs one operation: `start(token)` returns its awaitable, with no cancellation, raced
    /// against a short timer (awaitable_operators ||), or with a cancellation signal emitted
    /// by a timer.
    template <class Res, class Start>
    asio::awaitable<Res> run_op(worker_state& w, kind k, Start start, std::mt19937_64& rng)
    {
        using namespace asio::experimental::awaitable_operators;
        auto ex = co_await asio::this_coro::executor;
        ++st_.ops[k];
        ++st_.ops_total;
        const std::uint64_t r = rng() % 1000;
        const cancel_mode mode = r < 40   ? cancel_mode::race
                                 : r < 80 ? cancel_mode::signal
                                          : cancel_mode::none;
        const us after(static_cast<us::rep>(rng() % 3000));
        w.op = k;
        w.flagged = false;
        const auto t0 = clock_type::now();
        w.op_started = t0;
        Res res{};
        if (mode == cancel_mode::none) {
            res = co_await start(tuple);
        } else if (mode == cancel_mode::race) {
            ++st_.cancel_attempts;
            std::optional<Res> got;
            asio::steady_timer timer(ex, after);
            auto op = [&]() -> asio::awaitable<void> { got = co_await start(tuple); };
            co_await (op() || timer.async_wait(tuple));
            if (got)
                res = std::move(*got);
            else
                std::get<0>(res) = asio::error::operation_aborted; // never started
        } else {
            ++st_.cancel_attempts;
            auto sig = std::make_shared<asio::cancellation_signal>();
            auto timer = std::make_shared<asio::steady_timer>(ex, after);
            static constexpr std::array<asio::cancellation_type, 3> types = {
                asio::cancellation_type::terminal, asio::cancellation_type::partial,
                asio::cancellation_type::total};
            const auto type = types[rng() % types.size()];
            timer->async_wait([sig, timer, type](std::error_code e) {
                if (!e)
                    sig->emit(type);
            });
            res = co_await start(asio::bind_cancellation_slot(sig->slot(), tuple));
            timer->cancel();
        }
        const auto took = std::chrono::duration_cast<us>(clock_type::now() - t0);
        w.op_started = clock_type::time_point::max();
        st_.latency.add(took);
        if (took > st_.max_latency) {
            st_.max_latency = took;
            st_.max_latency_op = kind_names[k];
        }
        st_.max_latency_by_kind[k] = std::max(st_.max_latency_by_kind[k], took);
        if (took > opt_.op_timeout + 100ms) {
            ++st_.over_deadline;
            ++st_.over_deadline_by_kind[k];
        }
        if (took > opt_.op_timeout + opt_.connect_timeout)
            ++st_.over_margin;
        if (took > hang_bound_) {
            ++st_.hangs;
            st_.sample(std::string("HANG: ") + kind_names[k] + " took " +
                       std::to_string(took.count() / 1000) + " ms");
        }
        if (std::get<0>(res))
            error(std::get<0>(res));
        co_return res;
    }

    std::size_t pick_data(std::mt19937_64& rng)
    {
        // Half of the accesses go to 200 hot keys.
        if (rng() % 2 == 0)
            return rng() % std::min<std::size_t>(200, data_keys_.size());
        return rng() % data_keys_.size();
    }

    static std::uint64_t fingerprint(const memcoro::item& it)
    {
        std::uint64_t h = std::hash<std::string>{}(it.key);
        h = mix(h ^ std::hash<std::string>{}(it.value));
        return mix(h ^ it.flags ^ (it.cas << 7));
    }
    static std::uint64_t fingerprint(const memcoro::get_multi_result& r)
    {
        std::uint64_t h = r.hits.size() * 31 + r.errors.size();
        for (const auto& it : r.hits)
            h = mix(h ^ fingerprint(it));
        for (const auto& [k, ec] : r.errors)
            h = mix(h ^ std::hash<std::string>{}(k) ^ static_cast<std::uint64_t>(ec.value()));
        for (const auto& k : r.misses)
            h = mix(h ^ std::hash<std::string>{}(k));
        for (const auto& slot : r.slots)
            h = mix(h ^ (static_cast<std::uint64_t>(slot.status) << 32) ^ slot.index);
        return h;
    }

    struct into_memory {
        memcoro::item item;
        memcoro::get_multi_result multi;
        std::optional<std::uint64_t> item_after_failure;  // fingerprint when a call failed
        std::optional<std::uint64_t> multi_after_failure; // same for the multi result
    };

    void late_write_check(into_memory& m, const char* what)
    {
        if (m.item_after_failure && fingerprint(m.item) != *m.item_after_failure) {
            ++st_.into_late_writes;
            st_.sample(std::string("LATE WRITE into an item after a failed ") + what);
        }
        if (m.multi_after_failure && fingerprint(m.multi) != *m.multi_after_failure) {
            ++st_.into_late_writes;
            st_.sample(std::string("LATE WRITE into a get_multi_result after a failed ") + what);
        }
        m.item_after_failure.reset();
        m.multi_after_failure.reset();
    }

    static void set_sentinel(memcoro::item& it)
    {
        it.key = "sentinel";
        it.value = "sentinel-value";
        it.flags = 4242;
        it.cas = 4242;
    }
    /// An empty slot a failed multi-get into the caller's result leaves (not data).
    static bool is_blank(const memcoro::item& it)
    {
        return it.key.empty() && it.value.empty() && it.flags == 0 && it.cas == 0;
    }
    static bool is_sentinel(const memcoro::item& it)
    {
        return it.key == "sentinel" && it.value == "sentinel-value" && it.flags == 4242 &&
               it.cas == 4242;
    }

    asio::awaitable<void> worker(memcoro::client& c, std::size_t id)
    {
        std::mt19937_64 rng(mix(seed_ + id * 0x9e37));
        auto& w = workers_[id];
        into_memory mem;
        std::string value;
        std::vector<std::string> keys;
        while (!stopping_) {
            late_write_check(mem, "call");
            const std::uint64_t r = rng() % 1000;
            if (r < 170) {
                co_await do_set(c, w, rng, value);
            } else if (r < 320) {
                co_await do_get(c, w, rng);
            } else if (r < 440) {
                co_await do_get_into(c, w, rng, mem, false);
            } else if (r < 470) {
                co_await do_get_into(c, w, rng, mem, true);
            } else if (r < 550) {
                co_await do_gets_cas(c, w, rng, value);
            } else if (r < 610) {
                co_await do_get_multi(c, w, rng, keys);
            } else if (r < 670) {
                co_await do_get_multi_into(c, w, rng, keys, mem, false);
            } else if (r < 690) {
                co_await do_get_multi_into(c, w, rng, keys, mem, true);
            } else if (r < 740) {
                co_await do_delete(c, w, rng);
            } else if (r < 850) {
                co_await do_incr(c, w, rng);
            } else if (r < 910) {
                co_await do_touch(c, w, rng);
            } else if (r < 950) {
                co_await do_gat(c, w, rng);
            } else if (r < 980) {
                co_await do_set_multi(c, w, rng);
            } else {
                co_await do_delete_multi(c, w, rng);
            }
        }
        late_write_check(mem, "call");
    }

    asio::awaitable<void> do_set(memcoro::client& c, worker_state& w, std::mt19937_64& rng,
                                 std::string& value)
    {
        const std::size_t k = pick_data(rng);
        const std::uint64_t v = ++issued_[k];
        make_value(value, data_keys_[k], k, v);
        auto [ec, status] = co_await run_op<std::tuple<std::error_code, memcoro::store_status>>(
            w, k_set, [&](auto token) { return c.async_set(data_keys_[k], value, {}, token); },
            rng);
        if (!ec)
            outcome("set", memcoro::to_string(status));
    }

    asio::awaitable<void> do_get(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        const bool counter = rng() % 10 == 0;
        const std::string& key =
            counter ? counter_keys_[rng() % counter_keys_.size()] : data_keys_[pick_data(rng)];
        auto [ec, r] = co_await run_op<std::tuple<std::error_code, memcoro::get_result>>(
            w, k_get, [&](auto token) { return c.async_get(key, token); }, rng);
        if (ec)
            co_return;
        if (r)
            check_item(*r, key, "get");
        else
            ++st_.misses;
    }

    asio::awaitable<void> do_get_into(memcoro::client& c, worker_state& w, std::mt19937_64& rng,
                                      into_memory& mem, bool gets)
    {
        const std::string& key = data_keys_[pick_data(rng)];
        memcoro::item& out = mem.item;
        set_sentinel(out);
        auto [ec, hit] = co_await run_op<std::tuple<std::error_code, bool>>(
            w, gets ? k_gets_into : k_get_into,
            [&](auto token) {
                return gets ? c.async_gets_into(key, out, token)
                            : c.async_get_into(key, out, token);
            },
            rng);
        const char* op = gets ? "gets_into" : "get_into";
        ++st_.into_checked;
        if (!ec && hit) {
            check_item(out, key, op);
            co_return;
        }
        if (!ec)
            ++st_.misses;
        if (!is_sentinel(out)) {
            ++st_.into_clobbered;
            const auto idx = key_index_.find(out.key);
            const bool valid = out.key == key && idx != key_index_.end() &&
                               !(idx->second & counter_flag) &&
                               value_is_written(idx->second, out.value);
            if (valid)
                ++st_.into_clobbered_valid;
            else
                ++st_.into_clobbered_foreign;
            st_.clobber_sample(std::string("INTO CLOBBERED: ") + op + " " + key +
                               " completed with " + (ec ? describe(ec) : std::string("a miss")) +
                               " but out holds key \"" + preview(out.key) + "\" value \"" +
                               preview(out.value) + "\"" +
                               (valid ? " (that key's own value)" : " (foreign)"));
        }
        if (ec)
            mem.item_after_failure = fingerprint(out);
    }

    /// Is `v` a value written for data key k (without counting it as a verified read)?
    bool value_is_written(std::size_t k, std::string_view v) const
    {
        const std::string& key = data_keys_[k];
        if (v.size() < key.size() + 3 || v.substr(0, key.size()) != key || v[key.size()] != '|')
            return false;
        const auto rest = v.substr(key.size() + 1);
        const auto bar = rest.find('|');
        if (bar == std::string_view::npos)
            return false;
        const auto version = parse_u64(rest.substr(0, bar));
        if (!version || *version == 0 || *version > issued_[k] ||
            v.size() != value_length(k, *version))
            return false;
        value_gen g(k, *version);
        for (std::size_t i = key.size() + 2 + bar; i < v.size(); ++i)
            if (v[i] != g.next())
                return false;
        return true;
    }

    asio::awaitable<void> do_gets_cas(memcoro::client& c, worker_state& w, std::mt19937_64& rng,
                                      std::string& value)
    {
        const std::size_t k = pick_data(rng);
        const std::string& key = data_keys_[k];
        auto [ec, r] = co_await run_op<std::tuple<std::error_code, memcoro::get_result>>(
            w, k_gets, [&](auto token) { return c.async_gets(key, token); }, rng);
        if (ec)
            co_return;
        if (!r) {
            ++st_.misses;
            co_return;
        }
        if (!check_item(*r, key, "gets"))
            co_return;
        const std::uint64_t v = ++issued_[k];
        make_value(value, key, k, v);
        const std::uint64_t unique = r->cas;
        auto [cec, status] = co_await run_op<std::tuple<std::error_code, memcoro::store_status>>(
            w, k_cas, [&](auto token) { return c.async_cas(key, value, unique, {}, token); }, rng);
        if (!cec)
            outcome("cas", memcoro::to_string(status));
    }

    void pick_keys(std::mt19937_64& rng, std::vector<std::string>& keys)
    {
        keys.clear();
        const std::uint64_t r = rng() % 100;
        const std::size_t n = r < 90 ? 2 + rng() % 30 : 100 + rng() % 300;
        std::unordered_set<std::string_view> seen;
        while (keys.size() < n) {
            const bool counter = rng() % 20 == 0;
            const std::string& k =
                counter ? counter_keys_[rng() % counter_keys_.size()] : data_keys_[pick_data(rng)];
            if (seen.insert(k).second)
                keys.push_back(k);
        }
    }

    /// Checks a multi-key result against the keys asked for. `failed`: the call itself
    /// failed (then leftovers may be sentinels or this call's hits).
    void check_multi(const memcoro::get_multi_result& res, const std::vector<std::string>& keys,
                     const char* op, bool failed)
    {
        std::unordered_map<std::string_view, int> asked; // 0 asked, 1 hit, 2 error
        for (const auto& k : keys)
            asked.emplace(k, 0);
        std::size_t answered = 0;
        std::size_t blank = 0;
        for (const auto& it : res.hits) {
            if (failed && (is_sentinel(it) || is_blank(it))) {
                blank += is_blank(it) ? 1 : 0;
                continue;
            }
            auto a = asked.find(it.key);
            if (a == asked.end()) {
                if (failed) {
                    ++st_.into_clobbered;
                    ++st_.into_clobbered_foreign;
                    st_.clobber_sample(std::string("INTO CLOBBERED: failed ") + op +
                                       " left an item for a key not asked: \"" + preview(it.key) +
                                       "\"");
                } else {
                    wrong(std::string(op) + ": a hit for a key not asked: \"" + preview(it.key) +
                          "\"");
                }
                continue;
            }
            if (a->second != 0) {
                wrong(std::string(op) + ": key " + std::string(it.key) + " answered twice");
                continue;
            }
            a->second = 1;
            ++answered;
            if (failed) {
                const auto idx = key_index_.at(it.key);
                const bool valid = (idx & counter_flag) ? true : value_is_written(idx, it.value);
                if (!valid) {
                    ++st_.into_clobbered;
                    ++st_.into_clobbered_foreign;
                    st_.clobber_sample(std::string("INTO CLOBBERED: failed ") + op + " left key " +
                                       it.key + " with \"" + preview(it.value) + "\"");
                }
                continue;
            }
            check_item(it, it.key, op);
        }
        if (failed) {
            st_.multi_into_blank_slots += blank;
            return;
        }
        for (const auto& [k, ec] : res.errors) {
            auto a = asked.find(k);
            if (a == asked.end() || a->second != 0) {
                wrong(std::string(op) +
                      ": an error for a key not asked or already answered: " + preview(k));
                continue;
            }
            a->second = 2;
            ++answered;
            ++st_.key_errors[describe(ec)];
        }
        st_.misses += keys.size() - answered;
        // The per-key view says the same, key by key, in request order.
        if (res.slots.size() != keys.size() || res.misses.size() != keys.size() - answered) {
            wrong(std::string(op) + ": " + std::to_string(res.slots.size()) + " outcomes and " +
                  std::to_string(res.misses.size()) + " misses for " + std::to_string(keys.size()) +
                  " keys, " + std::to_string(answered) + " answered");
            return;
        }
        std::size_t i = 0;
        for (const auto& o : res.outcomes()) {
            const auto a = asked.find(keys[i]);
            const int expected = o.status == memcoro::key_status::hit     ? 1
                                 : o.status == memcoro::key_status::error ? 2
                                                                          : 0;
            if (o.key != keys[i] || a == asked.end() || a->second != expected)
                wrong(std::string(op) + ": the outcome of key " + keys[i] + " (" +
                      memcoro::to_string(o.status) + ") disagrees with the result");
            ++i;
        }
    }

    asio::awaitable<void> do_get_multi(memcoro::client& c, worker_state& w, std::mt19937_64& rng,
                                       std::vector<std::string>& keys)
    {
        pick_keys(rng, keys);
        auto [ec, res] = co_await run_op<std::tuple<std::error_code, memcoro::get_multi_result>>(
            w, k_get_multi, [&](auto token) { return c.async_get_multi(keys, token); }, rng);
        if (ec)
            co_return;
        check_multi(res, keys, "get_multi", false);
    }

    asio::awaitable<void> do_get_multi_into(memcoro::client& c, worker_state& w,
                                            std::mt19937_64& rng, std::vector<std::string>& keys,
                                            into_memory& mem, bool gets)
    {
        pick_keys(rng, keys);
        auto& out = mem.multi;
        out.hits.resize(3);
        for (auto& it : out.hits)
            set_sentinel(it);
        out.errors.clear();
        const char* op = gets ? "gets_multi_into" : "get_multi_into";
        auto [ec] = co_await run_op<std::tuple<std::error_code>>(
            w, gets ? k_gets_multi_into : k_get_multi_into,
            [&](auto token) {
                return gets ? c.async_gets_multi_into(keys, out, token)
                            : c.async_get_multi_into(keys, out, token);
            },
            rng);
        ++st_.into_checked;
        if (!ec) {
            check_multi(out, keys, op, false);
            co_return;
        }
        const bool untouched =
            out.hits.size() == 3 && std::all_of(out.hits.begin(), out.hits.end(), is_sentinel);
        if (!untouched && !out.hits.empty())
            ++st_.multi_into_partial;
        check_multi(out, keys, op, true);
        mem.multi_after_failure = fingerprint(out);
    }

    asio::awaitable<void> do_delete(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        const std::string& key = data_keys_[pick_data(rng)];
        auto [ec, status] = co_await run_op<std::tuple<std::error_code, memcoro::delete_status>>(
            w, k_delete, [&](auto token) { return c.async_delete(key, token); }, rng);
        if (!ec)
            outcome("delete", memcoro::to_string(status));
    }

    asio::awaitable<void> do_incr(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        const std::size_t i = rng() % counter_keys_.size();
        const std::string& key = counter_keys_[i];
        const std::uint64_t m = 1 + rng() % 5;
        units_[i] += m;
        const std::uint64_t delta = m * steps_[i];
        auto [ec, r] = co_await run_op<std::tuple<std::error_code, memcoro::arith_result>>(
            w, k_incr, [&](auto token) { return c.async_incr(key, delta, token); }, rng);
        if (ec)
            co_return;
        if (r) {
            ++st_.hits;
            check_counter(i, std::to_string(*r), true, "incr");
            co_return;
        }
        ++st_.misses;
        static const std::string base = std::to_string(counter_base);
        auto [aec, status] = co_await run_op<std::tuple<std::error_code, memcoro::store_status>>(
            w, k_add, [&](auto token) { return c.async_add(key, base, {}, token); }, rng);
        if (!aec)
            outcome("add", memcoro::to_string(status));
    }

    asio::awaitable<void> do_touch(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        const std::string& key = data_keys_[pick_data(rng)];
        auto [ec, status] = co_await run_op<std::tuple<std::error_code, memcoro::touch_status>>(
            w, k_touch, [&](auto token) { return c.async_touch(key, 3600s, token); }, rng);
        if (!ec)
            outcome("touch", memcoro::to_string(status));
    }

    asio::awaitable<void> do_gat(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        const std::string& key = data_keys_[pick_data(rng)];
        auto [ec, r] = co_await run_op<std::tuple<std::error_code, memcoro::get_result>>(
            w, k_gat, [&](auto token) { return c.async_gat(key, 3600s, token); }, rng);
        if (ec)
            co_return;
        if (r)
            check_item(*r, key, "gat");
        else
            ++st_.misses;
    }

    asio::awaitable<void> do_set_multi(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        std::vector<std::pair<std::string, std::string>> items;
        std::unordered_set<std::size_t> seen;
        const std::size_t n = 2 + rng() % 10;
        while (items.size() < n) {
            const std::size_t k = pick_data(rng);
            if (!seen.insert(k).second)
                continue;
            std::string v;
            make_value(v, data_keys_[k], k, ++issued_[k]);
            items.emplace_back(data_keys_[k], std::move(v));
        }
        auto [ec, res] = co_await run_op<std::tuple<std::error_code, memcoro::store_multi_result>>(
            w, k_set_multi, [&](auto token) { return c.async_set_multi(items, {}, token); }, rng);
        if (ec)
            co_return;
        for (const auto& kr : res) {
            if (kr.ec)
                ++st_.key_errors[describe(kr.ec)];
            else
                outcome("set_multi", memcoro::to_string(kr.status));
        }
    }

    asio::awaitable<void> do_delete_multi(memcoro::client& c, worker_state& w, std::mt19937_64& rng)
    {
        std::vector<std::string> keys;
        std::unordered_set<std::size_t> seen;
        const std::size_t n = 2 + rng() % 8;
        while (keys.size() < n) {
            const std::size_t k = pick_data(rng);
            if (seen.insert(k).second)
                keys.push_back(data_keys_[k]);
        }
        auto [ec, res] = co_await run_op<std::tuple<std::error_code, memcoro::delete_multi_result>>(
            w, k_delete_multi, [&](auto token) { return c.async_delete_multi(keys, token); }, rng);
        if (ec)
            co_return;
        for (const auto& kr : res) {
            if (kr.ec)
                ++st_.key_errors[describe(kr.ec)];
            else
                outcome("delete_multi", memcoro::to_string(kr.status));
        }
    }

    const options& opt_;
    memcoro::down_policy policy_;
    std::uint64_t seed_;
    phase_stats& st_;
    clock_type::duration hang_bound_;
    std::vector<std::string> data_keys_;
    std::vector<std::string> counter_keys_;
    std::unordered_map<std::string, std::size_t> key_index_;
    std::vector<std::uint64_t> issued_; // per data key: versions 1..issued_ were written
    std::vector<std::uint64_t> units_;  // per counter: increments (in steps) issued
    std::vector<std::uint64_t> steps_;  // per counter: a prime above 10^6
    std::vector<worker_state> workers_;
    chaos* chaos_ = nullptr;
    fleet* fleet_ = nullptr;
    bool stopping_ = false;
    int running_ = 0;
    clock_type::time_point started_{}, end_{}, stopped_at_{};
};

// ---- report ---------------------------------------------------------------------------------

json to_json(const phase_stats& s, const options& o)
{
    json j;
    j["policy"] = s.policy;
    j["seconds"] = s.seconds;
    j["ops"] = s.ops_total;
    j["ops_per_second"] = s.seconds > 0 ? static_cast<double>(s.ops_total) / s.seconds : 0.0;
    json kinds = json::object();
    for (std::size_t k = 0; k < n_kinds; ++k)
        kinds[kind_names[k]] = s.ops[k];
    j["ops_by_kind"] = kinds;
    j["hits"] = s.hits;
    j["verified_reads"] = s.verified;
    j["misses"] = s.misses;
    j["wrong_values"] = s.wrong_values;
    j["counter_digits_lost"] = s.counter_digits_lost;
    j["truncations"] = s.truncations;
    j["into_checked"] = s.into_checked;
    j["into_clobbered"] = s.into_clobbered;
    j["into_clobbered_own_value"] = s.into_clobbered_valid;
    j["into_clobbered_foreign"] = s.into_clobbered_foreign;
    j["into_late_writes"] = s.into_late_writes;
    j["multi_into_partial_on_error"] = s.multi_into_partial;
    j["multi_into_blank_slots_on_error"] = s.multi_into_blank_slots;
    j["cancel_attempts"] = s.cancel_attempts;
    j["cancelled"] = s.cancelled;
    j["errors"] = s.errors;
    j["key_errors"] = s.key_errors;
    j["outcomes"] = s.outcomes;
    j["op_timeout_ms"] = o.op_timeout.count();
    j["connect_timeout_ms"] = o.connect_timeout.count();
    j["max_latency_ms"] = static_cast<double>(s.max_latency.count()) / 1000.0;
    j["max_latency_op"] = s.max_latency_op;
    j["latency_p50_us_below"] = s.latency.quantile_us(0.5);
    j["latency_p99_us_below"] = s.latency.quantile_us(0.99);
    j["latency_p999_us_below"] = s.latency.quantile_us(0.999);
    j["over_deadline_100ms"] = s.over_deadline;
    json by_kind = json::object();
    for (std::size_t k = 0; k < n_kinds; ++k)
        by_kind[kind_names[k]] = {
            {"max_ms", static_cast<double>(s.max_latency_by_kind[k].count()) / 1000.0},
            {"over_deadline_100ms", s.over_deadline_by_kind[k]}};
    j["latency_by_kind"] = by_kind;
    j["over_op_plus_connect_timeout"] = s.over_margin;
    j["max_loop_lag_ms"] = static_cast<double>(s.max_loop_lag.count()) / 1000.0;
    j["loop_stalls_over_50ms"] = s.loop_stalls;
    j["hangs"] = s.hangs;
    j["stuck"] = s.stuck;
    j["drained"] = s.drained;
    j["recovered"] = s.recovered;
    j["recovery_ms"] = s.recovery_ms;
    j["server_events_down"] = s.server_events_down;
    j["server_events_up"] = s.server_events_up;
    j["chaos"] = s.chaos;
    j["peak_rss_mib"] = static_cast<double>(s.peak_rss_kib) / 1024.0;
    j["samples"] = s.samples;
    j["clobber_samples"] = s.clobber_samples;
    j["failures"] = s.failures;
    return j;
}

void print_summary(std::FILE* to, const phase_stats& s, const options& o)
{
    auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
    std::fprintf(to, "== policy %s: %.1f s, %llu ops (%.0f/s)\n", s.policy.c_str(), s.seconds,
                 u(s.ops_total),
                 s.seconds > 0 ? static_cast<double>(s.ops_total) / s.seconds : 0.0);
    std::fprintf(to, "   ops:");
    for (std::size_t k = 0; k < n_kinds; ++k)
        std::fprintf(to, " %s %llu", kind_names[k], u(s.ops[k]));
    std::fprintf(to, "\n   reads: %llu hits, %llu verified, %llu misses\n", u(s.hits),
                 u(s.verified), u(s.misses));
    std::fprintf(to,
                 "   WRONG VALUES: %llu   (counter digits lost to truncation: %llu of %llu "
                 "truncations)\n",
                 u(s.wrong_values), u(s.counter_digits_lost), u(s.truncations));
    std::fprintf(to,
                 "   into_clobbered: %llu of %llu _into calls (own value %llu, foreign %llu), "
                 "late writes %llu; failed multi_into that left items %llu (blank slots %llu)\n",
                 u(s.into_clobbered), u(s.into_checked), u(s.into_clobbered_valid),
                 u(s.into_clobbered_foreign), u(s.into_late_writes), u(s.multi_into_partial),
                 u(s.multi_into_blank_slots));
    std::fprintf(to, "   cancellation: %llu attempts, %llu completed with operation_aborted\n",
                 u(s.cancel_attempts), u(s.cancelled));
    std::fprintf(to, "   errors:\n");
    for (const auto& [m, n] : s.errors)
        std::fprintf(to, "     %10llu  %s\n", u(n), m.c_str());
    if (!s.key_errors.empty()) {
        std::fprintf(to, "   per-key errors of multi-key calls:\n");
        for (const auto& [m, n] : s.key_errors)
            std::fprintf(to, "     %10llu  %s\n", u(n), m.c_str());
    }
    std::fprintf(to,
                 "   latency: max %.1f ms (%s) vs op_timeout %lld ms; p50 < %.2f ms, p99 < %.1f "
                 "ms, p99.9 < %.1f ms; over op_timeout+100ms: %llu, over "
                 "op_timeout+connect_timeout: %llu; hangs (> %lld ms): %llu, stuck: %llu\n",
                 static_cast<double>(s.max_latency.count()) / 1000.0, s.max_latency_op.c_str(),
                 static_cast<long long>(o.op_timeout.count()),
                 static_cast<double>(s.latency.quantile_us(0.5)) / 1000.0,
                 static_cast<double>(s.latency.quantile_us(0.99)) / 1000.0,
                 static_cast<double>(s.latency.quantile_us(0.999)) / 1000.0, u(s.over_deadline),
                 u(s.over_margin),
                 static_cast<long long>((o.op_timeout + o.connect_timeout + hang_slack).count()),
                 u(s.hangs), u(s.stuck));
    std::fprintf(
        to, "   event loop lag (a bare 10 ms timer): max %.1f ms, %llu ticks over 50 ms late\n",
        static_cast<double>(s.max_loop_lag.count()) / 1000.0, u(s.loop_stalls));
    std::fprintf(to, "   max latency by kind (ms; over op_timeout+100ms):");
    for (std::size_t k = 0; k < n_kinds; ++k)
        std::fprintf(to, " %s %.0f", kind_names[k],
                     static_cast<double>(s.max_latency_by_kind[k].count()) / 1000.0);
    std::fprintf(to, " (");
    for (std::size_t k = 0; k < n_kinds; ++k)
        if (s.over_deadline_by_kind[k])
            std::fprintf(to, " %s %llu", kind_names[k], u(s.over_deadline_by_kind[k]));
    std::fprintf(to, " )\n");
    std::fprintf(to, "   servers: %llu down, %llu up events; recovered %s (%.0f ms after chaos)\n",
                 u(s.server_events_down), u(s.server_events_up), s.recovered ? "yes" : "NO",
                 s.recovery_ms);
    std::fprintf(to, "   chaos:");
    for (const auto& [m, n] : s.chaos)
        std::fprintf(to, " %s %llu", m.c_str(), u(n));
    std::fprintf(to, "\n   peak RSS %.1f MiB\n", static_cast<double>(s.peak_rss_kib) / 1024.0);
    if (!s.samples.empty()) {
        std::fprintf(to, "   samples:\n");
        for (const auto& m : s.samples)
            std::fprintf(to, "     %s\n", m.c_str());
    }
    if (!s.clobber_samples.empty()) {
        std::fprintf(to, "   first clobbered _into outputs:\n");
        for (const auto& m : s.clobber_samples)
            std::fprintf(to, "     %s\n", m.c_str());
    }
    for (const auto& f : s.failures)
        std::fprintf(to, "   FAILURE: %s\n", f.c_str());
}

/// Why this phase fails the run (empty: it passes).
std::vector<std::string> verdict(const phase_stats& s, const options& o)
{
    std::vector<std::string> why = s.failures;
    if (s.wrong_values > 0)
        why.push_back(std::to_string(s.wrong_values) + " wrong values");
    if (s.counter_digits_lost > s.truncations)
        why.push_back("more counters with lost digits than truncations");
    if (s.hangs > 0 || s.stuck > 0)
        why.push_back(std::to_string(s.hangs + s.stuck) + " completions far beyond the deadline");
    if (!s.recovered)
        why.push_back("the client did not recover after the chaos");
    if (s.ops_total == 0)
        why.push_back("no operation ran");
    if (o.strict_into && (s.into_clobbered > 0 || s.into_late_writes > 0))
        why.push_back("_into outputs clobbered (--strict-into)");
    return why;
}

} // namespace

int main(int argc, char** argv)
{
    auto parsed = parse_args(argc, argv);
    if (!parsed) {
        usage(stderr);
        return 2;
    }
    options o = *parsed;
    if (memcoro::test::memcached_binary().empty()) {
        std::fprintf(stderr, "memcached not found (set MEMCACHED_BINARY): skipping\n");
        return 77;
    }
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGINT, on_interrupt);
    ::signal(SIGTERM, on_interrupt);
    if (!o.seed_given)
        o.seed = std::random_device{}() * 0x100000001ull ^ std::random_device{}();
    std::FILE* human = o.json_out ? stderr : stdout;
    std::fprintf(human,
                 "soak: seed %llu, %d workers, %.0f s per policy, op_timeout %lld ms, "
                 "connect_timeout %lld ms, %zu connection(s) per server, %zu keys + %zu "
                 "counters, 4 servers behind fault proxies\n",
                 static_cast<unsigned long long>(o.seed), o.workers, o.duration_s,
                 static_cast<long long>(o.op_timeout.count()),
                 static_cast<long long>(o.connect_timeout.count()), o.connections, o.data_keys,
                 o.counter_keys);
    std::fflush(human);

    std::vector<phase_stats> phases;
    bool failed = false;
    for (std::size_t i = 0; i < o.policies.size(); ++i) {
        phase_stats& st = phases.emplace_back();
        st.policy = policy_name(o.policies[i]);
        try {
            soak s(o, o.policies[i], mix(o.seed + i), st);
            s.run();
        } catch (const std::exception& e) {
            st.failures.push_back(std::string("exception: ") + e.what());
        }
        print_summary(human, st, o);
        std::fflush(human);
        if (interrupted)
            break;
    }

    json report;
    report["seed"] = o.seed;
    report["workers"] = o.workers;
    report["duration_per_policy_s"] = o.duration_s;
    report["connections_per_server"] = o.connections;
    json jp = json::array();
    std::fprintf(human, "== verdict\n");
    for (const auto& st : phases) {
        jp.push_back(to_json(st, o));
        const auto why = verdict(st, o);
        jp.back()["pass"] = why.empty();
        jp.back()["why"] = why;
        if (!why.empty()) {
            failed = true;
            for (const auto& w : why)
                std::fprintf(human, "   %s: FAIL: %s\n", st.policy.c_str(), w.c_str());
        } else {
            std::fprintf(human, "   %s: pass (%llu ops, %llu verified reads, 0 wrong values)\n",
                         st.policy.c_str(), static_cast<unsigned long long>(st.ops_total),
                         static_cast<unsigned long long>(st.verified));
        }
    }
    report["phases"] = jp;
    report["pass"] = !failed;
    report["peak_rss_mib"] = static_cast<double>(vm_hwm_kib()) / 1024.0;
    if (o.json_out)
        std::cout << report.dump(2) << std::endl;
    return failed ? 1 : 0;
}
