#pragma once
/// \file
/// One connection to one server, pipelining every request submitted to it.

#include <memcoro/config.hpp>
#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/server_address.hpp>

#include <asio/awaitable.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace memcoro::detail {

/// Opened lazily on the first request, reopened after failures. One writer coroutine sends all
/// queued requests in one gathered write; one reader parses replies and completes requests
/// in order; a watchdog enforces deadlines. All of it runs on the connection's executor.
class connection : public std::enable_shared_from_this<connection> {
public:
    /// `observer` is told of every finished request (the server's health and counters);
    /// `op_timeout` is the deadline of the requests sent on this connection (0: none).
    connection(asio::any_io_executor ex, server_address addr, const client_config& cfg,
               std::shared_ptr<entry_observer> observer, std::chrono::milliseconds op_timeout);
    ~connection();

    /// Queues a request; must be called on the executor.
    void submit(entry_ptr e);
    /// Fails every request with `ec` and stops for good.
    void close(std::error_code ec);
    /// Drops every request unanswered (the execution context is shutting down).
    void drop_all() noexcept;

    const std::string& name() const noexcept { return name_; }
    const server_address& address() const noexcept { return addr_; }
    bool is_connected() const noexcept { return connected_; }
    /// Connections made so far (reconnects included).
    std::uint64_t connects() const noexcept { return connects_; }
    /// Requests queued or on the wire.
    std::size_t pending() const noexcept { return mux_.waiting_count() + mux_.written_count(); }
    void set_op_timeout(std::chrono::milliseconds t) noexcept { op_timeout_ = t; }

private:
    asio::awaitable<void> run();
    asio::awaitable<std::error_code> connect();
    asio::awaitable<std::error_code> write_loop();
    asio::awaitable<std::error_code> read_loop();
    asio::awaitable<void> watchdog();
    void reset_socket();

    asio::any_io_executor ex_;
    server_address addr_;
    std::string name_;
    client_config cfg_;
    std::shared_ptr<entry_observer> observer_;
    std::chrono::milliseconds op_timeout_;
    multiplexer mux_;
    asio::generic::stream_protocol::socket socket_;
    asio::steady_timer wake_run_;    // idle run loop: waits for work
    asio::steady_timer wake_writer_; // idle writer: waits for work
    asio::steady_timer watchdog_timer_;
    bool running_ = false;
    bool run_idle_ = false;    // run() waits on wake_run_
    bool writer_idle_ = false; // the writer waits on wake_writer_
    bool watching_ = false;
    bool closed_ = false;
    bool connected_ = false;
    std::uint64_t connects_ = 0;
    clock::time_point last_progress_{}; // when a reply was last completed
    std::vector<char> rbuf_;
    std::size_t rbegin_ = 0, rend_ = 0;
    std::vector<write_piece> pieces_;
    std::vector<asio::const_buffer> buffers_;
};

} // namespace memcoro::detail
