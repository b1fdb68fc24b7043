#pragma once
/// \file
/// A server's up/down state: consecutive failures mark it down; once its retry interval has
/// passed, one probe is sent, and the probe's outcome marks it up again or restarts the
/// interval. No Asio and
/// no clock of its own: callers pass the time, so tests run instantly.

#include <chrono>
#include <cstdint>

namespace memcoro {

enum class server_status : std::uint8_t { up, down };

const char* to_string(server_status s) noexcept;

struct server_policy {
    /// Consecutive failures (refused, reset, timeout, protocol error) that mark it down.
    std::uint32_t failure_limit = 3;
    /// How long a down server is left alone before one probe request is let through.
    std::chrono::milliseconds retry_interval{1000};
};

class server_state {
public:
    using clock = std::chrono::steady_clock;
    using policy = server_policy;

    /// What a recorded outcome did to the state.
    enum class change : std::uint8_t { none, marked_down, marked_up };

    explicit server_state(policy p = {}, server_status initial = server_status::up) noexcept
        : policy_(p)
        , status_(initial)
    {
    }

    /// May requests be sent to it now? Only while it is up.
    bool usable() const noexcept { return status_ == server_status::up; }

    /// Down, and its retry interval has passed with no probe under way: the caller sends one
    /// probe request now (its outcome, recorded like any other, decides). True once per
    /// interval.
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
            status_ = server_status::up;
            return change::marked_up;
        }
        return change::none;
    }

    /// The server failed a request.
    change record_failure(clock::time_point now) noexcept
    {
        ++failures_;
        if (status_ == server_status::down) {
            probing_ = false;
            retry_at_ = now + policy_.retry_interval; // the probe failed: wait again
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

    void mark_down(clock::time_point now) noexcept
    {
        status_ = server_status::down;
        probing_ = false;
        retry_at_ = now + policy_.retry_interval;
    }

    void mark_up() noexcept
    {
        status_ = server_status::up;
        failures_ = 0;
        probing_ = false;
    }

    void set_policy(policy p) noexcept { policy_ = p; }
    const policy& get_policy() const noexcept { return policy_; }
    server_status status() const noexcept { return status_; }
    std::uint32_t consecutive_failures() const noexcept { return failures_; }
    bool probing() const noexcept { return probing_; }
    clock::time_point retry_at() const noexcept { return retry_at_; }

private:
    policy policy_;
    server_status status_;
    bool probing_ = false;
    std::uint32_t failures_ = 0;
    clock::time_point retry_at_{};
};

} // namespace memcoro
