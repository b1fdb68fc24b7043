#include <memcoro/detail/connection_core.hpp>
#include <memcoro/error.hpp>

#include <algorithm>

namespace memcoro::detail {

stall_verdict stall_policy(clock::time_point oldest_deadline, clock::time_point last_progress,
                           clock::time_point now, std::chrono::milliseconds timeout) noexcept
{
    const auto silent_until = std::max(last_progress, oldest_deadline) + timeout;
    if (now >= silent_until)
        return {true, clock::time_point::max()};
    return {false, silent_until};
}

void connection_core::connect_failed(std::error_code ec, std::error_code cause)
{
    if (phase_ == phase::connecting)
        phase_ = phase::idle;
    mux_.fail_all(ec, cause);
}

void connection_core::session_started(clock::time_point now) noexcept
{
    phase_ = phase::connected;
    ++session_;
    write_blocked_ = held_ = false;
    end_reason_ = {};
    last_progress_ = now;
}

bool connection_core::end_session(std::error_code why) noexcept
{
    if (phase_ != phase::connected)
        return false;
    phase_ = phase::idle;
    end_reason_ = why;
    write_blocked_ = held_ = false;
    return true;
}

connection_core::session_end connection_core::ended_session() const noexcept
{
    const std::error_code why = end_reason_;
    const bool own = why.category() == error_category();
    return {own ? why : std::error_code(errc::connection_lost), own ? std::error_code{} : why,
            mux_.has_written()};
}

void connection_core::close(std::error_code ec)
{
    phase_ = phase::closed;
    write_blocked_ = held_ = false;
    mux_.fail_all(ec);
}

void connection_core::drop_all() noexcept
{
    phase_ = phase::closed;
    mux_.drop_all();
}

clock::time_point connection_core::watch(clock::time_point now, bool& stalled)
{
    stalled = false;
    auto next = mux_.expire(now, errc::timeout);
    // The requests behind a stalled one could only time out too, and abandoned requests
    // would pile up: the session ends.
    if (const op_entry* oldest = mux_.oldest_written();
        oldest && oldest->completed() && phase_ == phase::connected) {
        const auto v = stall_policy(oldest->deadline, last_progress_, now, opts_.op_timeout);
        if (v.stalled)
            stalled = true;
        else
            next = std::min(next, v.recheck_at);
    }
    return next;
}

} // namespace memcoro::detail
