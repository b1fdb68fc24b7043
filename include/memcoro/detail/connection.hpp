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
#include <utility>
#include <vector>

namespace memcoro::detail {

/// Opened lazily on the first request, reopened after failures. A writer sends all queued
/// requests in one gathered write; a reader parses replies and completes requests in order;
/// a watchdog enforces deadlines. All of it runs on the connection's executor. The reader and
/// writer are plain completion handlers whose memory comes from the pool (detail/pool.hpp),
/// so a request costs no allocation once the connection is warm.
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
    bool is_connected() const noexcept { return in_session_; }
    /// Connections made so far (reconnects included).
    std::uint64_t connects() const noexcept { return connects_; }
    /// Requests queued or on the wire.
    std::size_t pending() const noexcept { return mux_.waiting_count() + mux_.written_count(); }
    void set_op_timeout(std::chrono::milliseconds t) noexcept { op_timeout_ = t; }

private:
    struct io_handler;
    friend struct io_handler;
    struct flush_handler;
    friend struct flush_handler;
    static void post_flush(const asio::any_io_executor& ex, flush_handler&& h);

    asio::awaitable<void> run();
    asio::awaitable<std::error_code> connect();
    asio::awaitable<void> watchdog();
    void reset_socket();
    /// Writes the waiting requests, unless a write is in progress (or corked): straight to
    /// the socket, waiting for it to become writable only when it is full.
    void start_write();
    /// Sends what is left of the staged write until it is all sent or the socket is full.
    void continue_write();
    void on_writable(std::uint64_t session, std::error_code ec, std::size_t n);
    /// A request queued from outside a batch of replies: written once the current handler
    /// is done, together with whatever else it queues (one post per write, not per request).
    void schedule_flush();
    void on_flush(std::uint64_t session);
    void start_read();
    void on_read(std::uint64_t session, std::error_code ec, std::size_t n);
    /// Ends the session (the connection is gone): wakes run() to clean up and reconnect.
    void end_session(std::error_code why);
    /// Hands the replies read in the last batch to their callers.
    void complete_answered();
    /// complete_answered with this connection corked and made this thread's batch reader:
    /// requests the callers queue on idle connections are written at the batch's end.
    void complete_batch();

    asio::any_io_executor ex_;
    server_address addr_;
    std::string name_;
    client_config cfg_;
    std::shared_ptr<entry_observer> observer_;
    std::chrono::milliseconds op_timeout_;
    multiplexer mux_;
    asio::generic::stream_protocol::socket socket_;
    asio::steady_timer wake_run_;    // idle run loop: waits for work
    asio::steady_timer session_end_; // run() waits on it while connected
    asio::steady_timer watchdog_timer_;
    asio::steady_timer* connect_wait_ = nullptr; // connect() waits for a host name lookup
    bool running_ = false;
    bool run_idle_ = false;     // run() waits on wake_run_
    std::uint64_t session_ = 0; // counts connections; handlers of an older one are ignored
    bool in_session_ = false;   // connected, reader running
    bool writing_ = false;      // a write is in progress (waiting for the socket)
    bool flush_posted_ = false; // on_flush is posted
    bool corked_ = false;       // completing replies: writes wait until they are all done
    std::error_code session_error_;
    std::error_code connect_cause_; // the system error of the last failed connect

    bool watching_ = false;
    bool closed_ = false;
    std::uint64_t connects_ = 0;
    clock::time_point last_progress_{}; // when a reply was last completed
    std::vector<char> rbuf_;
    std::size_t rbegin_ = 0, rend_ = 0;
    std::vector<write_piece> pieces_;
    std::vector<asio::const_buffer> buffers_;
    std::size_t wfirst_ = 0;            // first buffer of the write not yet fully sent
    std::vector<entry_ptr> answered_;   // settled by the last feed, to be completed
    std::vector<entry_ptr> completing_; // being completed
    // The idle connections to flush when this reader's batch of replies ends.
    std::vector<std::pair<std::shared_ptr<connection>, std::uint64_t>> batch_flush_;
};

} // namespace memcoro::detail
