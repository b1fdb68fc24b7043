// server_state with a hand-driven clock: transitions, probes, intervals.
#include <catch2/catch.hpp>

#include <memcoro/server_state.hpp>

using namespace std::chrono_literals;
using memcoro::server_state;
using memcoro::server_status;
using change = server_state::change;

namespace {
const server_state::clock::time_point t0{std::chrono::seconds(1000)};
}

TEST_CASE("server_state: up until failure_limit consecutive failures")
{
    server_state s({3, 1000ms});
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

TEST_CASE("server_state: one probe per retry interval; its outcome decides")
{
    server_state s({1, 1000ms});
    CHECK(s.record_failure(t0) == change::marked_down);
    CHECK_FALSE(s.take_probe(t0 + 500ms));
    CHECK(s.take_probe(t0 + 1000ms)); // the probe
    CHECK(s.probing());
    CHECK_FALSE(s.usable());                // requests still wait for the probe's outcome
    CHECK_FALSE(s.take_probe(t0 + 1000ms)); // only one
    CHECK_FALSE(s.take_probe(t0 + 5000ms));
    // The probe fails: wait a whole interval again from now.
    CHECK(s.record_failure(t0 + 1100ms) == change::none);
    CHECK(s.status() == server_status::down);
    CHECK_FALSE(s.take_probe(t0 + 2000ms));
    CHECK(s.take_probe(t0 + 2100ms));
    CHECK(s.record_success() == change::marked_up);
    CHECK(s.status() == server_status::up);
    CHECK(s.usable());
    CHECK_FALSE(s.take_probe(t0 + 9000ms)); // up: nothing to probe
}

TEST_CASE("server_state: a cancelled probe lets another be sent")
{
    server_state s({1, 100ms});
    s.record_failure(t0);
    CHECK(s.take_probe(t0 + 100ms));
    CHECK_FALSE(s.take_probe(t0 + 100ms));
    s.record_inconclusive();
    CHECK(s.take_probe(t0 + 100ms));
}

TEST_CASE("server_state: marked by hand, and starting down")
{
    server_state s({3, 100ms}, server_status::down);
    CHECK(s.status() == server_status::down);
    s.mark_up();
    CHECK(s.usable());
    s.mark_down(t0);
    CHECK_FALSE(s.usable());
    CHECK_FALSE(s.take_probe(t0 + 99ms));
    CHECK(s.take_probe(t0 + 100ms));
}
