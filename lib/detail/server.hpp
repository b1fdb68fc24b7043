#pragma once
// One server of a client: its connections, its up/down state and its counters.

#include "udp_channel.hpp"
#include <memcoro/config.hpp>
#include <memcoro/detail/connection.hpp>
#include <memcoro/detail/op_entry.hpp>
#include <memcoro/detail/server_tracer.hpp>
#include <memcoro/server_info.hpp>
#include <memcoro/server_state.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace memcoro::detail {

/// The up/down policy of a server: the client's, with the server's own retry interval if it
/// has one.
server_state::policy policy_for(const client_config& cfg, const server_options& opts) noexcept;

/// Health and counters of one server, told of every finished request. State changes happen
/// on the client's executor; snapshots may be taken from any thread.
class server_monitor final : public entry_observer {
public:
    /// `tracer`: where its events go, or null (no trace hook); `gate`: whether `callback` may
    /// still be called.
    server_monitor(std::string name, server_state::policy policy, server_status initial,
                   server_event_callback callback, asio::any_io_executor ex, hook_gate gate,
                   std::shared_ptr<server_tracer> tracer = nullptr);

    void on_finished(const op_entry& e) noexcept override;

    /// The up/down state, which the client's key_router reads and whose probes it takes (on
    /// the client's executor only).
    server_state& state() noexcept { return state_; }
    /// Marks the server up or down by hand.
    void set_status(server_status s);
    void set_policy(server_state::policy p, server_event_callback cb);
    server_status status() const noexcept { return status_.load(std::memory_order_relaxed); }
    void on_connected() noexcept override
    {
        connects_.fetch_add(1, std::memory_order_relaxed);
        if (tracer_) [[unlikely]]
            tracer_->connected();
    }
    void on_connection_failed(std::error_code ec, std::error_code cause) noexcept override;
    void on_dialect(bool meta) noexcept override
    {
        dialect_.store(meta ? protocol::meta : protocol::text, std::memory_order_relaxed);
    }
    /// A call (or one key of a multi-key call) failed with server_down, unsent, because this
    /// server is down.
    void note_rejected() noexcept
    {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        if (tracer_) [[unlikely]]
            tracer_->rejected();
    }

    /// Counters and state, readable from any thread.
    void fill(server_info& info) const;
    const std::string& name() const noexcept { return name_; }

private:
    static bool connection_level(const std::error_code& ec) noexcept;
    void changed(server_state::change c, std::error_code why);

    std::string name_;
    asio::any_io_executor ex_;
    server_state state_;
    server_event_callback callback_;
    hook_gate gate_;
    std::shared_ptr<server_tracer> tracer_;
    std::atomic<server_status> status_;
    /// What its connections speak (automatic: not known, or not asked).
    std::atomic<protocol> dialect_{protocol::automatic};
    std::atomic<std::uint32_t> failures_{0};
    std::atomic<std::uint64_t> requests_{0}, hits_{0}, misses_{0}, errors_{0}, timeouts_{0},
        transitions_{0}, connects_{0}, rejected_{0};
    std::array<std::atomic<std::uint64_t>, latency_histogram::buckets> latency_{};
};

/// A server: where it is, its options, its monitor and its connections.
struct server {
    server_address address;
    std::string name;
    server_options options;
    std::shared_ptr<server_monitor> monitor;
    std::vector<std::shared_ptr<connection>> connections;
    /// Its TLS setup (null: plaintext), shared by its connections.
    std::shared_ptr<tls_client> tls;
    /// Where its gets go over UDP (null: they do not).
    std::shared_ptr<udp_channel> udp;

    /// The connection with the fewest requests pending.
    connection& pick() const noexcept;
    void close(std::error_code ec);
};

} // namespace memcoro::detail
