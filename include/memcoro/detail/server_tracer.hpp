#pragma once
/// \file
/// One server's share of the trace hook (client_config::on_trace): what the server's monitor
/// is told (connects, connection failures, finished requests, up/down changes, rejected calls)
/// as trace events, each posted to the client's executor. A client without a trace callback
/// has no tracer at all.

#include <memcoro/config.hpp>
#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/op_entry.hpp>
#include <memcoro/server_state.hpp>
#include <memcoro/trace.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace memcoro::detail {

/// Whether the client's hooks (trace, server events, write failures) may still be called:
/// cleared when the client is destroyed, so that an event posted before then is dropped
/// instead of reaching a hook whose captures may be gone.
using hook_gate = std::shared_ptr<std::atomic<bool>>;

/// True while `gate` is open.
inline bool hooks_open(const hook_gate& gate) noexcept
{
    return gate->load(std::memory_order_acquire);
}

class server_tracer final : public std::enable_shared_from_this<server_tracer> {
public:
    /// The tracer of server `server`, or null when `cfg.on_trace` is empty.
    static std::shared_ptr<server_tracer> make(const client_config& cfg, std::string server,
                                               asio::any_io_executor ex, hook_gate gate);

    server_tracer(trace_callback callback, memcoro::trace_level level,
                  std::chrono::microseconds slow_threshold, std::string server,
                  asio::any_io_executor ex, hook_gate gate);

    /// A connection to the server was opened.
    void connected();
    /// A connection failed (could not be opened, or broke with requests on it); `cause`: the
    /// system error underneath, if any.
    void connection_failed(std::error_code ec, std::error_code cause = {});
    /// A request finished after `latency` (negative: unknown).
    void finished(const op_entry& e, clock::duration latency);
    /// The server was marked up or down (`why`: the failure that marked it down).
    void status_changed(server_status s, std::error_code why);
    /// A call failed at once because the server is down.
    void rejected();

private:
    bool wants(memcoro::trace_level l) const noexcept { return l <= level_; }
    static trace_event event(trace_kind kind, memcoro::trace_level level, std::error_code ec = {});
    /// Posts `e` (its server set on delivery); `key` is owned until then.
    void post(trace_event e, std::string key = {});

    trace_callback callback_;
    memcoro::trace_level level_;
    std::chrono::microseconds slow_;
    std::string server_;
    asio::any_io_executor ex_;
    hook_gate gate_;
    /// Has a connection of the server failed since one was last opened?
    bool failed_since_connected_ = false;
};

} // namespace memcoro::detail
