#pragma once
/// \file
/// Gets over UDP to one server: the Asio shell around udp_core (a connected UDP socket, the
/// receiver, the watchdog). What it cannot answer goes back to the server's TCP connections.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/udp_core.hpp>
#include <memcoro/udp.hpp>

#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace memcoro::detail {

/// A server's UDP counters, readable from any thread.
struct udp_stats {
    std::atomic<std::uint64_t> requests{0}, replies{0}, lost{0}, stray{0}, retried{0};
};

/// Opened on the first get, on the client's executor; everything runs there.
class udp_channel : public std::enable_shared_from_this<udp_channel> {
public:
    /// How a request goes over TCP instead (lost with udp_loss_policy::retry_tcp, or not
    /// sent because the socket could not be opened).
    using tcp_path = std::function<void(entry_ptr)>;

    /// `name`: the server's, for errors; `host`, `port`: where its UDP port is.
    udp_channel(asio::any_io_executor ex, std::string name, std::string host, std::uint16_t port,
                const udp_options& opts, udp_core_options core, entry_observer* observer,
                tcp_path tcp);

    /// May `e` go over UDP now?
    bool accepts(const op_entry& e) const noexcept;
    /// Sends an accepted request.
    void submit(entry_ptr e);
    /// Stops for good: what is in flight or queued goes over TCP.
    void close();

    const udp_stats& stats() const noexcept { return stats_; }

private:
    asio::awaitable<void> run();
    asio::awaitable<void> watchdog();
    /// Sends what the core stages.
    void flush();
    /// Completes what was answered, and sends the lost ones over TCP or fails them.
    void settle();
    void publish() noexcept;

    asio::any_io_executor ex_;
    std::string name_, host_;
    std::uint16_t port_;
    udp_loss_policy on_loss_;
    udp_core core_;
    entry_observer* observer_;
    tcp_path tcp_;
    asio::ip::udp::socket socket_;
    asio::steady_timer timer_;
    enum class phase { idle, opening, open, failed, closed } phase_ = phase::idle;
    clock::time_point retry_open_at_{};
    bool watching_ = false;
    std::vector<std::string_view> out_;
    std::vector<entry_ptr> answered_, lost_;
    std::vector<char> buffer_;
    udp_stats stats_;
};

} // namespace memcoro::detail
