#pragma once
/// \file
/// A server's up/down state: consecutive failures mark it down; once its retry wait has passed,
/// one probe is sent, and the probe's outcome marks it up again or starts a longer wait (bounded
/// exponential backoff with jitter). No Asio, no clock and no randomness of its own: callers
/// pass the time, and the jitter comes from a replaceable source, so tests are instant and exact.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <utility>

namespace memcoro {

/// Whether a server is used (up) or left alone until a probe succeeds (down).
enum class server_status : std::uint8_t { up, down };

/// The status's name: "up" or "down".
const char* to_string(server_status s) noexcept;

/// When a server_state marks its server down, and how long it waits between probes.
struct server_policy {
    /// Consecutive failures (refused, reset, timeout, protocol error) that mark it down.
    std::uint32_t failure_limit = 3;
    /// How long a down server is left alone before the first probe request is let through.
    std::chrono::milliseconds retry_interval{1000};
    /// Each failed probe doubles the wait before the next one, up to this. A value below
    /// retry_interval means no growth: every wait is retry_interval.
    std::chrono::milliseconds max_retry_interval{30000};
    /// Each wait is drawn uniformly from [w·(1 − j), w·(1 + j)] around its nominal value w, so
    /// that clients that lost a server at the same moment do not probe it in lockstep. 0: exact
    /// waits; values outside [0, 1] are clamped.
    double retry_jitter = 0.2;
};

/// One server's up/down state: consecutive failures mark it down, and a probe that succeeds,
/// sent once its retry wait has passed, marks it up again.
class server_state {
public:
    /// The clock of the times callers pass.
    using clock = std::chrono::steady_clock;
    /// The failure limit and the retry waits.
    using policy = server_policy;
    /// A number drawn uniformly from [0, 1): where the jitter comes from. It must not throw.
    using uniform_source = std::function<double()>;

    /// What a recorded outcome did to the state.
    enum class change : std::uint8_t { none, marked_down, marked_up };

    /// `uniform`: the jitter's source; empty: a generator of the state's own, seeded
    /// differently for every server_state of the process.
    explicit server_state(policy p = {}, server_status initial = server_status::up,
                          uniform_source uniform = {}) noexcept
        : policy_(p)
        , status_(initial)
        , uniform_(std::move(uniform))
        , seed_(next_seed())
    {
    }

    /// May requests be sent to it now? Only while it is up.
    bool usable() const noexcept { return status_ == server_status::up; }

    /// Down, and its retry wait has passed with no probe under way: the caller sends one
    /// probe request now (its outcome, recorded like any other, decides). True once per wait.
    bool take_probe(clock::time_point now) noexcept
    {
        if (status_ == server_status::up || probing_ || now < retry_at_)
            return false;
        probing_ = true;
        return true;
    }

    /// A reply arrived (any reply: an error line is still a working server).
    change record_success() noexcept
    {
        failures_ = 0;
        probing_ = false;
        if (status_ == server_status::down) {
            mark_up();
            return change::marked_up;
        }
        return change::none;
    }

    /// The server failed a request.
    change record_failure(clock::time_point now) noexcept
    {
        ++failures_;
        if (status_ == server_status::down) {
            // Only the probe's failure tells anything new: a request sent before the server
            // was marked down failing now must not lengthen the wait.
            if (probing_) {
                probing_ = false;
                ++failed_probes_;
                schedule_retry(now);
            }
            return change::none;
        }
        if (failures_ >= policy_.failure_limit) {
            mark_down(now);
            return change::marked_down;
        }
        return change::none;
    }

    /// A request ended without telling anything about the server (cancelled): if it was the
    /// probe, another may be sent.
    void record_inconclusive() noexcept { probing_ = false; }

    /// Marks it down; the first probe is due after retry_interval (jittered).
    void mark_down(clock::time_point now) noexcept
    {
        status_ = server_status::down;
        probing_ = false;
        failed_probes_ = 0;
        schedule_retry(now);
    }

    /// Marks it up; the next time it goes down, the waits start again from retry_interval.
    void mark_up() noexcept
    {
        status_ = server_status::up;
        failures_ = 0;
        probing_ = false;
        failed_probes_ = 0;
    }

    /// Replaces the policy; the status and the current wait are kept.
    void set_policy(policy p) noexcept { policy_ = p; }
    /// The current policy.
    const policy& get_policy() const noexcept { return policy_; }
    /// Up or down.
    server_status status() const noexcept { return status_; }
    /// Failures recorded since the last success (or since it was marked up).
    std::uint32_t consecutive_failures() const noexcept { return failures_; }
    /// Is a probe under way (taken with take_probe, its outcome not yet recorded)?
    bool probing() const noexcept { return probing_; }
    /// When the next probe may be sent (while down).
    clock::time_point retry_at() const noexcept { return retry_at_; }
    /// The wait that ends at retry_at(), jitter included.
    clock::duration retry_wait() const noexcept { return retry_wait_; }
    /// Probes that failed since the server was marked down.
    std::uint32_t failed_probes() const noexcept { return failed_probes_; }

    /// The wait before probe number `failed_probes` + 1, before jitter: retry_interval doubled
    /// once per failed probe, at most max(retry_interval, max_retry_interval).
    static clock::duration nominal_wait(const policy& p, std::uint32_t failed_probes) noexcept
    {
        using std::chrono::milliseconds;
        // Far beyond any sensible setting, and twice it (the most jitter adds) still fits.
        constexpr milliseconds longest =
            std::chrono::duration_cast<milliseconds>(clock::duration::max() / 4);
        const milliseconds first = std::clamp(p.retry_interval, milliseconds(0), longest);
        const milliseconds cap = std::clamp(p.max_retry_interval, first, longest);
        milliseconds wait = first;
        for (std::uint32_t i = 0; i < failed_probes && wait < cap && wait.count() > 0; ++i)
            wait = wait > cap / 2 ? cap : wait * 2;
        return wait;
    }

    /// `nominal` scaled by 1 + jitter·(2u − 1): u = 0 gives the shortest wait, u → 1 the longest.
    static clock::duration jittered(clock::duration nominal, double jitter, double u) noexcept
    {
        const double j = std::clamp(jitter, 0.0, 1.0);
        const double factor = 1.0 + j * (2.0 * std::clamp(u, 0.0, 1.0) - 1.0);
        return clock::duration(
            static_cast<clock::rep>(std::llround(static_cast<double>(nominal.count()) * factor)));
    }

private:
    void schedule_retry(clock::time_point now) noexcept
    {
        retry_wait_ = jittered(nominal_wait(policy_, failed_probes_), policy_.retry_jitter,
                               policy_.retry_jitter > 0 ? draw() : 0.5);
        retry_at_ = now + retry_wait_;
    }

    /// The next number of the jitter's source.
    double draw() noexcept
    {
        if (uniform_)
            return uniform_();
        // splitmix64: good enough to spread probes, and no state shared between servers.
        std::uint64_t z = (seed_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return static_cast<double>(z >> 11) * 0x1.0p-53;
    }

    /// A different seed for every server_state, and for every process (the time is mixed in).
    static std::uint64_t next_seed() noexcept
    {
        static std::atomic<std::uint64_t> counter{0};
        const auto t = static_cast<std::uint64_t>(clock::now().time_since_epoch().count());
        return t ^ ((counter.fetch_add(1, std::memory_order_relaxed) + 1) * 0xd1b54a32d192ed03ULL);
    }

    policy policy_;
    server_status status_;
    bool probing_ = false;
    std::uint32_t failures_ = 0;
    std::uint32_t failed_probes_ = 0;
    clock::time_point retry_at_{};
    clock::duration retry_wait_{};
    uniform_source uniform_;
    std::uint64_t seed_;
};

} // namespace memcoro
