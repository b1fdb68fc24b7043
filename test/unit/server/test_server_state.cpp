// server_state with a hand-driven clock and a hand-fed jitter: transitions, probes, backoff.
#include <catch2/catch.hpp>

#include <memcoro/server_state.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

using namespace std::chrono_literals;
using memcoro::server_policy;
using memcoro::server_state;
using memcoro::server_status;
using change = server_state::change;
using duration = server_state::clock::duration;

namespace {
const server_state::clock::time_point t0{std::chrono::seconds(1000)};

/// A policy without jitter: every wait is exactly its nominal value.
server_policy exact(std::uint32_t failure_limit, std::chrono::milliseconds retry,
                    std::chrono::milliseconds max_retry = 30s)
{
    server_policy p;
    p.failure_limit = failure_limit;
    p.retry_interval = retry;
    p.max_retry_interval = max_retry;
    p.retry_jitter = 0;
    return p;
}

/// A jitter source that hands out `values` in turn (and counts what it was asked for).
struct sequence {
    std::vector<double> values;
    std::size_t next = 0;
    double operator()() { return values.at(next++); }
};

/// Fails the probe that is due at the state's retry_at(); returns the wait that follows.
duration fail_next_probe(server_state& s)
{
    const auto due = s.retry_at();
    REQUIRE_FALSE(s.take_probe(due - 1ms));
    REQUIRE(s.take_probe(due));
    CHECK(s.record_failure(due) == change::none);
    CHECK(s.status() == server_status::down);
    CHECK(s.retry_at() == due + s.retry_wait());
    return s.retry_wait();
}
} // namespace

TEST_CASE("server_state: up until failure_limit consecutive failures")
{
    server_state s(exact(3, 1000ms));
    CHECK(s.usable());
    CHECK(s.record_failure(t0) == change::none);
    CHECK(s.record_failure(t0) == change::none);
    CHECK(s.status() == server_status::up);
    CHECK(s.record_success() == change::none); // a success resets the count
    CHECK(s.consecutive_failures() == 0);
    CHECK(s.record_failure(t0) == change::none);
    CHECK(s.record_failure(t0) == change::none);
    CHECK(s.record_failure(t0) == change::marked_down);
    CHECK(s.status() == server_status::down);
    CHECK_FALSE(s.usable());
    CHECK_FALSE(s.take_probe(t0 + 999ms));
}

TEST_CASE("server_state: one probe per wait; its outcome decides")
{
    server_state s(exact(1, 1000ms));
    CHECK(s.record_failure(t0) == change::marked_down);
    CHECK(s.retry_at() == t0 + 1000ms); // the first wait is retry_interval
    CHECK_FALSE(s.take_probe(t0 + 500ms));
    CHECK(s.take_probe(t0 + 1000ms)); // the probe
    CHECK(s.probing());
    CHECK_FALSE(s.usable());                // requests still wait for the probe's outcome
    CHECK_FALSE(s.take_probe(t0 + 1000ms)); // only one
    CHECK_FALSE(s.take_probe(t0 + 5000ms));
    // The probe fails: wait again from now, twice as long.
    CHECK(s.record_failure(t0 + 1100ms) == change::none);
    CHECK(s.status() == server_status::down);
    CHECK(s.failed_probes() == 1);
    CHECK_FALSE(s.take_probe(t0 + 3099ms));
    CHECK(s.take_probe(t0 + 3100ms));
    CHECK(s.record_success() == change::marked_up);
    CHECK(s.status() == server_status::up);
    CHECK(s.usable());
    CHECK_FALSE(s.take_probe(t0 + 9000ms)); // up: nothing to probe
}

TEST_CASE("server_state: a cancelled probe lets another be sent")
{
    server_state s(exact(1, 100ms));
    s.record_failure(t0);
    CHECK(s.take_probe(t0 + 100ms));
    CHECK_FALSE(s.take_probe(t0 + 100ms));
    s.record_inconclusive();
    CHECK(s.take_probe(t0 + 100ms));
    CHECK(s.failed_probes() == 0); // a cancelled probe did not fail
}

TEST_CASE("server_state: marked by hand, and starting down")
{
    server_state s(exact(3, 100ms), server_status::down);
    CHECK(s.status() == server_status::down);
    s.mark_up();
    CHECK(s.usable());
    s.mark_down(t0);
    CHECK_FALSE(s.usable());
    CHECK_FALSE(s.take_probe(t0 + 99ms));
    CHECK(s.take_probe(t0 + 100ms));
}

TEST_CASE("server_state: each failed probe doubles the wait, up to max_retry_interval")
{
    server_state s(exact(1, 100ms, 1000ms));
    s.record_failure(t0);
    CHECK(s.retry_wait() == 100ms);
    std::vector<duration> waits;
    for (int i = 0; i < 7; ++i)
        waits.push_back(fail_next_probe(s));
    const std::vector<duration> expected = {200ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms, 1000ms};
    CHECK(waits == expected);
    CHECK(s.failed_probes() == 7);
}

TEST_CASE("server_state: the cap need not be a power of two times retry_interval")
{
    server_state s(exact(1, 100ms, 350ms));
    s.record_failure(t0);
    CHECK(fail_next_probe(s) == 200ms);
    CHECK(fail_next_probe(s) == 350ms);
    CHECK(fail_next_probe(s) == 350ms);
}

TEST_CASE("server_state: a max_retry_interval below retry_interval means a constant wait")
{
    server_state s(exact(1, 500ms, 100ms));
    s.record_failure(t0);
    CHECK(s.retry_wait() == 500ms);
    CHECK(fail_next_probe(s) == 500ms);
    CHECK(fail_next_probe(s) == 500ms);
}

TEST_CASE("server_state: the waits start again from retry_interval once the server is back")
{
    server_state s(exact(2, 100ms, 10s));
    s.record_failure(t0);
    s.record_failure(t0);
    REQUIRE(s.status() == server_status::down);
    fail_next_probe(s);
    fail_next_probe(s);
    CHECK(fail_next_probe(s) == 800ms);
    // The next probe succeeds: up, and the backoff is forgotten.
    const auto due = s.retry_at();
    REQUIRE(s.take_probe(due));
    CHECK(s.record_success() == change::marked_up);
    CHECK(s.failed_probes() == 0);
    // Down again later: the first wait is retry_interval again.
    const auto later = due + 1h;
    s.record_failure(later);
    CHECK(s.record_failure(later) == change::marked_down);
    CHECK(s.retry_at() == later + 100ms);
    CHECK(fail_next_probe(s) == 200ms);

    // Marked up by hand: the same.
    s.mark_up();
    s.mark_down(later);
    CHECK(s.retry_wait() == 100ms);
}

TEST_CASE("server_state: a failure while down with no probe out does not lengthen the wait")
{
    // Requests sent before the server was marked down may fail afterwards: they say nothing
    // new, and must not push the probe further away.
    server_state s(exact(1, 100ms));
    s.record_failure(t0);
    CHECK(s.record_failure(t0 + 10ms) == change::none);
    CHECK(s.record_failure(t0 + 50ms) == change::none);
    CHECK(s.retry_at() == t0 + 100ms);
    CHECK(s.failed_probes() == 0);
    CHECK(s.take_probe(t0 + 100ms));
}

TEST_CASE("server_state: jitter spreads each wait within ±retry_jitter of its nominal value")
{
    server_policy p = exact(1, 1000ms, 4000ms);
    p.retry_jitter = 0.2;
    // u = 0 gives the shortest wait, 0.5 the nominal one, u → 1 the longest.
    sequence draws{{0.0, 0.5, 0.75, 0.25, 1.0, 0.0}};
    server_state s(p, server_status::up, std::ref(draws));
    s.record_failure(t0);
    CHECK(s.retry_wait() == 800ms); // 1000 ms × 0.8
    CHECK(fail_next_probe(s) == 2000ms);
    CHECK(fail_next_probe(s) == 4400ms); // 4000 ms × 1.1
    CHECK(fail_next_probe(s) == 3600ms); // capped at 4000 ms, × 0.9
    CHECK(fail_next_probe(s) == 4800ms); // × 1.2: the jitter applies at the cap too
    CHECK(fail_next_probe(s) == 3200ms);
    CHECK(draws.next == 6); // one draw per wait

    // No jitter: no draw at all.
    sequence none{{}};
    server_state quiet(exact(1, 1000ms), server_status::up, std::ref(none));
    quiet.record_failure(t0);
    CHECK(quiet.retry_wait() == 1000ms);
    CHECK(none.next == 0);
}

TEST_CASE("server_state: a jitter out of [0, 1] is clamped")
{
    server_policy p = exact(1, 1000ms);
    p.retry_jitter = 3;
    sequence draws{{0.0, 1.0}};
    server_state s(p, server_status::up, std::ref(draws));
    s.record_failure(t0);
    CHECK(s.retry_wait() == 0ms);        // × (1 − 1)
    CHECK(fail_next_probe(s) == 4000ms); // 2000 ms × (1 + 1)
    CHECK(server_state::jittered(1000ms, -1, 0.9) == 1000ms);
}

TEST_CASE("server_state: without a source of its own, each state draws its own jitter")
{
    // A fleet of clients that lost a server at the same moment: their first probes are spread
    // over [800, 1200] ms instead of all landing at 1000 ms.
    server_policy p = exact(1, 1000ms);
    p.retry_jitter = 0.2;
    std::vector<duration> waits;
    for (int i = 0; i < 500; ++i) {
        server_state s(p);
        s.record_failure(t0);
        waits.push_back(s.retry_wait());
    }
    const auto [lo, hi] = std::minmax_element(waits.begin(), waits.end());
    CHECK(*lo >= 800ms);
    CHECK(*hi <= 1200ms);
    CHECK(*lo < 850ms); // spread over the whole range, not bunched
    CHECK(*hi > 1150ms);
    std::sort(waits.begin(), waits.end());
    CHECK(std::unique(waits.begin(), waits.end()) - waits.begin() > 400);
}

TEST_CASE("server_state: nominal waits never overflow")
{
    const server_policy p = exact(1, 1000ms, std::chrono::hours(24 * 365));
    CHECK(server_state::nominal_wait(p, 0) == 1000ms);
    CHECK(server_state::nominal_wait(p, 3) == 8000ms);
    CHECK(server_state::nominal_wait(p, 4'000'000'000U) == std::chrono::hours(24 * 365));
    const server_policy zero = exact(1, 0ms);
    CHECK(server_state::nominal_wait(zero, 4'000'000'000U) == 0ms);
    const server_policy huge = exact(1, 1000ms, std::chrono::milliseconds::max());
    const auto longest = server_state::nominal_wait(huge, 4'000'000'000U);
    CHECK(longest > std::chrono::hours(24 * 365 * 50));
    CHECK(longest <= server_state::clock::duration::max() / 4);
    CHECK(server_state::jittered(longest, 0.2, 1.0) > longest); // no overflow
}
