#include <memcoro/detail/server_tracer.hpp>
#include <memcoro/error.hpp>

#include <utility>
#include <variant>

namespace memcoro::detail {
namespace {

bool protocol_level(const std::error_code& ec) noexcept
{
    return ec == errc::protocol_error || ec == errc::protocol_desync;
}

/// The request's command, its first key (if any) and how many keys it has.
struct request_summary {
    std::string_view command;
    std::string_view key;
    std::size_t keys = 0;
};

request_summary summary_of(const proto::request& req) noexcept
{
    return std::visit(
        [](const auto& r) {
            request_summary s{proto::command_name(r.cmd()), {}, 0};
            using R = std::decay_t<decltype(r)>;
            if constexpr (requires { r.keys; }) {
                s.keys = r.keys.size();
                if (s.keys > 0)
                    s.key = r.keys[0];
            } else if constexpr (std::is_same_v<R, proto::arithmetic> ||
                                 std::is_same_v<R, proto::touch>) {
                s.key = r.key;
                s.keys = 1;
            }
            return s;
        },
        req);
}

} // namespace

std::shared_ptr<server_tracer> server_tracer::make(const client_config& cfg, std::string server,
                                                   asio::any_io_executor ex, hook_gate gate)
{
    if (!cfg.on_trace)
        return nullptr;
    return std::make_shared<server_tracer>(
        cfg.on_trace, cfg.trace_level,
        std::chrono::duration_cast<std::chrono::microseconds>(cfg.slow_request_threshold),
        std::move(server), std::move(ex), std::move(gate));
}

server_tracer::server_tracer(trace_callback callback, memcoro::trace_level level,
                             std::chrono::microseconds slow_threshold, std::string server,
                             asio::any_io_executor ex, hook_gate gate)
    : callback_(std::move(callback))
    , level_(level)
    , slow_(slow_threshold)
    , server_(std::move(server))
    , ex_(std::move(ex))
    , gate_(std::move(gate))
{
}

trace_event server_tracer::event(trace_kind kind, memcoro::trace_level level, std::error_code ec)
{
    trace_event e;
    e.kind = kind;
    e.level = level;
    e.ec = ec;
    return e;
}

void server_tracer::post(trace_event e, std::string key)
{
    // Posted, as the server events are: the callback may call the client, which must not
    // re-enter the path that reported the event.
    asio::post(ex_, [self = shared_from_this(), e, key = std::move(key)]() mutable {
        if (!hooks_open(self->gate_))
            return; // the client is gone
        e.server = self->server_;
        if (!key.empty())
            e.key = key;
        self->callback_(e);
    });
}

void server_tracer::connected()
{
    const bool again = std::exchange(failed_since_connected_, false);
    if (!wants(trace_level::info))
        return;
    post(event(again ? trace_kind::reconnected : trace_kind::connected, trace_level::info));
}

void server_tracer::connection_failed(std::error_code ec, std::error_code cause)
{
    failed_since_connected_ = true;
    const bool protocol = protocol_level(ec);
    const auto level = protocol ? trace_level::error : trace_level::warning;
    if (!wants(level))
        return;
    trace_event e =
        event(protocol ? trace_kind::protocol_error : trace_kind::connection_failed, level, ec);
    e.cause = cause;
    post(e);
}

void server_tracer::finished(const op_entry& e, clock::duration latency)
{
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(latency);
    if (slow_.count() <= 0 || us <= slow_ || !wants(trace_level::warning))
        return;
    const request_summary s = summary_of(e.req);
    trace_event ev = event(trace_kind::slow_request, trace_level::warning, e.ec);
    ev.command = s.command; // (static strings)
    ev.keys = s.keys;
    ev.latency = us;
    post(ev, std::string(s.key));
}

void server_tracer::status_changed(server_status s, std::error_code why)
{
    const bool down = s == server_status::down;
    const auto level = down ? trace_level::error : trace_level::info;
    if (!wants(level))
        return;
    post(event(down ? trace_kind::server_down : trace_kind::server_up, level, why));
}

void server_tracer::rejected()
{
    if (!wants(trace_level::debug))
        return;
    trace_event e;
    e.kind = trace_kind::rejected;
    e.level = trace_level::debug;
    e.ec = errc::server_down;
    post(e);
}

} // namespace memcoro::detail
