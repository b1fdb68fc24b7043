#include "server.hpp"

#include <memcoro/error.hpp>

#include <algorithm>
#include <bit>

namespace memcoro::detail {

server_state::policy policy_for(const client_config& cfg, const server_options& opts) noexcept
{
    server_state::policy p;
    p.failure_limit = cfg.failure_limit;
    p.retry_interval = opts.retry_interval.count() > 0 ? opts.retry_interval : cfg.retry_interval;
    p.max_retry_interval = cfg.max_retry_interval;
    p.retry_jitter = cfg.retry_jitter;
    return p;
}

server_monitor::server_monitor(std::string name, server_state::policy policy, server_status initial,
                               server_event_callback callback, asio::any_io_executor ex,
                               hook_gate gate, std::shared_ptr<server_tracer> tracer)
    : name_(std::move(name))
    , ex_(std::move(ex))
    , state_(policy, initial)
    , callback_(std::move(callback))
    , gate_(std::move(gate))
    , tracer_(std::move(tracer))
    , status_(initial)
{
    if (initial == server_status::down)
        state_.mark_down(clock::now());
}

void server_monitor::on_finished(const op_entry& e) noexcept
{
    const auto now = e.finished != clock::time_point{} ? e.finished : clock::now();
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (tracer_) [[unlikely]]
        tracer_->finished(e,
                          e.started != clock::time_point{} ? now - e.started : clock::duration(-1));
    if (e.started != clock::time_point{}) {
        const auto us = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - e.started).count());
        // The first bucket whose upper bound (16 << b) is above `us`; the last one takes the rest.
        static_assert(latency_histogram::upper_us(0) == 16 && latency_histogram::upper_us(1) == 32);
        const auto b = std::min<std::size_t>(static_cast<std::size_t>(std::bit_width(us >> 4)),
                                             latency_histogram::buckets - 1);
        latency_[b].fetch_add(1, std::memory_order_relaxed);
    }
    const std::error_code& ec = e.ec;
    if (!ec || ec == errc::server_error || ec == errc::client_error ||
        ec == errc::unknown_command) {
        // The server answered: it is alive, whatever it said.
        if (ec)
            errors_.fetch_add(1, std::memory_order_relaxed);
        else if (const auto* r = std::get_if<proto::retrieval>(&e.req)) {
            const std::size_t asked = r->keys.size();
            const std::size_t found = e.hits;
            if (found > 0)
                hits_.fetch_add(found, std::memory_order_relaxed);
            if (asked > found)
                misses_.fetch_add(asked - found, std::memory_order_relaxed);
        }
        changed(state_.record_success(), {});
    } else if (ec == asio::error::operation_aborted || ec == errc::not_supported ||
               ec == errc::invalid_key) {
        // The caller gave up, or the request was refused before it was sent (what the
        // server's dialect cannot send): says nothing about the server.
        state_.record_inconclusive();
    } else {
        errors_.fetch_add(1, std::memory_order_relaxed);
        if (ec == errc::timeout)
            timeouts_.fetch_add(1, std::memory_order_relaxed);
        // A broken or refused connection is one failure of the server, counted once by
        // on_connection_failed, not once per request it took down.
        if (!connection_level(ec))
            changed(state_.record_failure(now), ec);
    }
    failures_.store(state_.consecutive_failures(), std::memory_order_relaxed);
}

bool server_monitor::connection_level(const std::error_code& ec) noexcept
{
    return ec == errc::connection_lost || ec == errc::connection_failed ||
           ec == errc::connect_timeout || ec == errc::resolve_failed ||
           ec == errc::protocol_error || ec == errc::protocol_desync ||
           ec == errc::tls_handshake_failed || ec == errc::tls_verify_failed ||
           ec == errc::auth_failed;
}

void server_monitor::on_connection_failed(std::error_code ec, std::error_code cause) noexcept
{
    if (tracer_) [[unlikely]]
        tracer_->connection_failed(ec, cause); // (before the transition it may cause)
    changed(state_.record_failure(clock::now()), ec);
    failures_.store(state_.consecutive_failures(), std::memory_order_relaxed);
}

void server_monitor::changed(server_state::change c, std::error_code why)
{
    if (c == server_state::change::none)
        return;
    const auto s = c == server_state::change::marked_down ? server_status::down : server_status::up;
    status_.store(s, std::memory_order_relaxed);
    transitions_.fetch_add(1, std::memory_order_relaxed);
    if (tracer_) [[unlikely]]
        tracer_->status_changed(s, why);
    if (callback_)
        // Posted: the callback may call the client, which must not re-enter the reply path.
        asio::post(ex_, [cb = callback_, gate = gate_, ev = server_event{name_, s, why}] {
            if (hooks_open(gate))
                cb(ev);
        });
}

void server_monitor::set_status(server_status s)
{
    if (s == state_.status())
        return;
    if (s == server_status::down) {
        state_.mark_down(clock::now());
        changed(server_state::change::marked_down, {});
    } else {
        state_.mark_up();
        changed(server_state::change::marked_up, {});
    }
}

void server_monitor::set_policy(server_state::policy p, server_event_callback cb)
{
    state_.set_policy(p);
    callback_ = std::move(cb);
}

void server_monitor::fill(server_info& info) const
{
    info.name = name_;
    info.status = status_.load(std::memory_order_relaxed);
    info.consecutive_failures = failures_.load(std::memory_order_relaxed);
    info.protocol = dialect_.load(std::memory_order_relaxed);
    auto& c = info.counters;
    c.requests = requests_.load(std::memory_order_relaxed);
    c.hits = hits_.load(std::memory_order_relaxed);
    c.misses = misses_.load(std::memory_order_relaxed);
    c.errors = errors_.load(std::memory_order_relaxed);
    c.timeouts = timeouts_.load(std::memory_order_relaxed);
    c.transitions = transitions_.load(std::memory_order_relaxed);
    c.connects = connects_.load(std::memory_order_relaxed);
    c.rejected = rejected_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < latency_histogram::buckets; ++i)
        c.latency.counts[i] = latency_[i].load(std::memory_order_relaxed);
}

connection& server::pick() const noexcept
{
    connection* best = connections.front().get();
    for (const auto& c : connections)
        if (c->pending() < best->pending())
            best = c.get();
    return *best;
}

void server::close(std::error_code ec)
{
    if (udp)
        udp->close(); // (what it holds goes to the connections, closed next)
    for (auto& c : connections)
        c->close(ec);
}

} // namespace memcoro::detail
