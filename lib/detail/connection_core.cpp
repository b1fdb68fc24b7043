#include <memcoro/detail/connection_core.hpp>
#include <memcoro/error.hpp>

#include <asio/error.hpp>

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

/// The first exchanges of a session on a connection that detects its server's dialect:
/// `version`, then, if the version says meta, a meta get that confirms it (a proxy may pass
/// `version` through to a modern memcached and still not know the meta commands).
class connection_core::dialect_probe final : public op_entry {
public:
    dialect_probe(connection_core& core, proto::request r, bool confirming)
        : op_entry(std::move(r))
        , confirming(confirming)
        , core_(core)
    {
    }
    const bool confirming;

private:
    void on_complete(bool) override { core_.probe_answered(*this); }
    connection_core& core_;
};

namespace {

proto::request confirm_request()
{
    proto::retrieval r;
    r.keys.own().emplace_back(dialect_probe_key);
    return r;
}

} // namespace

void connection_core::start_probe(proto::request r, bool confirming)
{
    probe_ = std::make_shared<dialect_probe>(*this, std::move(r), confirming);
    probe_->started = last_progress_;
    probing_ = true;
    mux_.enqueue_barrier(probe_);
}

void connection_core::session_started(clock::time_point now)
{
    phase_ = phase::connected;
    ++session_;
    write_blocked_ = held_ = false;
    end_reason_ = {};
    last_progress_ = last_input_ = last_write_ = now;
    nudge_.reset();
    unanswered_nudges_ = 0;
    probing_ = false;
    if (!opts_.detect_dialect)
        return;
    if (skip_probe_) {
        // The server hung up on `version` last time (some proxies close the connection on a
        // command they do not know): this session speaks text without asking.
        skip_probe_ = false;
        mux_.set_dialect(proto::dialect::text);
        dialect_news_ = true;
        return;
    }
    mux_.unsettle(); // until the answer, requests wait unscreened
    probe_deadline_ = now + opts_.connect_timeout;
    start_probe(proto::version{}, false);
}

void connection_core::settle(proto::dialect d)
{
    dialect_news_ = true;
    mux_.set_dialect(d);
}

void connection_core::probe_answered(const op_entry& e)
{
    if (&e != probe_.get() || !probing_)
        return;
    probing_ = false;
    const bool confirming = static_cast<const dialect_probe&>(e).confirming;
    const bool hung_up = e.ec == errc::connection_lost && e.cause == asio::error::eof;
    // An error line: the server does not know the command.
    const bool refused =
        e.ec == errc::unknown_command || e.ec == errc::client_error || e.ec == errc::server_error;
    if (confirming) {
        if (!e.ec) {
            settle(proto::dialect::meta);
            return;
        }
        if (hung_up || refused) {
            // Something between says a modern memcached's version but does not take its meta
            // commands: text from now on, for as long as it says this version.
            no_meta_version_ = server_version_;
            if (refused)
                settle(proto::dialect::text);
        }
        return; // anything else ended the session: the next one asks again
    }
    if (e.ec) {
        if (hung_up)
            skip_probe_ = true;
        // An error line: not meta either. Anything else ended the session (or the
        // connection): the next one asks again.
        if (!refused)
            return;
        server_version_.clear();
        settle(proto::dialect::text);
        return;
    }
    server_version_ = e.resp.text;
    if (!proto::speaks_meta(server_version_) || server_version_ == no_meta_version_) {
        settle(proto::dialect::text);
        return;
    }
    // Meta, if a meta command confirms it: the requests behind wait one more round trip.
    mux_.set_dialect(proto::dialect::meta);
    start_probe(confirm_request(), true);
}

bool connection_core::end_session(std::error_code why) noexcept
{
    if (phase_ != phase::connected)
        return false;
    phase_ = phase::idle;
    end_reason_ = why;
    write_blocked_ = held_ = false;
    if (opts_.detect_dialect)
        mux_.unsettle(); // the next session asks again
    return true;
}

void connection_core::fail_session(const session_end& end)
{
    const bool unestablished = probing_;
    const bool skip_before = skip_probe_;
    const std::string no_meta_before = no_meta_version_;
    mux_.fail_written(end.error, end.cause);
    // (A hang-up that taught the connection something, text from now on, is not a failure
    // to connect: the next session speaks text without asking.)
    if (unestablished && skip_probe_ == skip_before && no_meta_version_ == no_meta_before)
        mux_.fail_all(errc::connection_failed, end.cause ? end.cause : end.error);
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
    if (probing_ && phase_ == phase::connected) {
        // The dialect probe counts against connect_timeout: a server that takes a connection
        // but does not answer is not connected.
        if (now >= probe_deadline_)
            stalled = true;
        else
            next = std::min(next, probe_deadline_);
    }
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

namespace {

/// A nudge: a request no caller waits for.
class nudge_entry final : public op_entry {
public:
    nudge_entry()
        : op_entry(proto::version{})
    {
    }

private:
    void on_complete(bool) override {}
};

} // namespace

bool connection_core::nudge_due(clock::time_point now, clock::time_point& next) const noexcept
{
    if (opts_.nudge_after.count() <= 0 || phase_ != phase::connected || !mux_.has_written())
        return false;
    auto wait = std::chrono::duration_cast<clock::duration>(opts_.nudge_after);
    if (nudge_ && !nudge_->completed()) {
        // A nudge may itself be left unread: the server is nudged again, each time after
        // twice the silence while it says nothing, a bounded number of times.
        if (unanswered_nudges_ >= max_unanswered_nudges)
            return false;
        if (last_input_ < last_nudge_)
            wait *= std::size_t{1} << unanswered_nudges_;
    }
    const auto due = std::max(last_input_, last_write_) + wait;
    if (now >= due)
        return true;
    next = std::min(next, due);
    return false;
}

void connection_core::nudge(clock::time_point now)
{
    auto e = std::make_shared<nudge_entry>();
    e->started = now;
    if (opts_.op_timeout.count() > 0)
        e->deadline = now + opts_.op_timeout;
    unanswered_nudges_ = nudge_ && !nudge_->completed() ? unanswered_nudges_ + 1 : 1;
    nudge_ = e;
    last_nudge_ = now;
    ++nudges_;
    mux_.enqueue(std::move(e));
}

} // namespace memcoro::detail
