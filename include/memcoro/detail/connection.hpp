#pragma once
/// \file
/// One connection to one server, pipelining every request submitted to it: the Asio shell
/// around connection_core (detail/connection_core.hpp), over a transport (detail/transport.hpp).

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/connection_core.hpp>
#include <memcoro/detail/transport.hpp>
#include <memcoro/server_address.hpp>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace memcoro::detail {

/// Opened lazily on the first request, reopened after failures. The core decides; the shell
/// carries it out: a run loop (connect, wait for the session to end, clean up), a writer that
/// sends what the core stages straight to the transport, a reader that hands the core what it
/// reads and completes the answered requests, and a watchdog for deadlines. All of it runs on
/// the connection's executor. The reader's and writer's completion handlers take their memory
/// from the pool (detail/pool.hpp), so a request costs no allocation once the connection is
/// warm.
class connection : public std::enable_shared_from_this<connection> {
public:
    /// `observer` is told of every finished request and of connects (the server's health and
    /// counters). `t`: how the server is reached (null: TCP or a Unix socket, by address).
    connection(asio::any_io_executor ex, server_address addr, const connection_options& opts,
               std::shared_ptr<entry_observer> observer, std::unique_ptr<transport> t = nullptr);
    ~connection();

    /// Queues a request; must be called on the executor.
    void submit(entry_ptr e);
    /// Fails every request with `ec` and stops for good.
    void close(std::error_code ec);
    /// Drops every request unanswered (the execution context is shutting down).
    void drop_all() noexcept;

    const std::string& name() const noexcept { return name_; }
    const server_address& address() const noexcept { return addr_; }
    bool is_connected() const noexcept { return core_.connected(); }
    /// Connections made so far (reconnects included).
    std::uint64_t connects() const noexcept { return core_.connects(); }
    /// Requests queued or on the wire.
    std::size_t pending() const noexcept { return core_.pending(); }
    void set_op_timeout(std::chrono::milliseconds t) noexcept { core_.set_op_timeout(t); }

private:
    struct flush_handler;
    friend struct flush_handler;
    static void post_flush(const asio::any_io_executor& ex, flush_handler&& h);

    asio::awaitable<void> run();
    asio::awaitable<void> watchdog();
    /// Sends what the core has to send, straight to the transport, until all of it is sent or
    /// the transport is full (then the rest goes when it has room).
    void write();
    static void on_written(connection& c, std::uint64_t session, std::error_code ec, std::size_t n);
    /// Bytes went out: with nudges (connection_options::nudge_after), the time is noted and
    /// the watchdog set to look when a nudge would be due.
    void noted_write();
    /// A request queued from outside a batch of replies: written once the current handler
    /// is done, together with whatever else it queues (one post per write, not per request).
    void schedule_flush();
    void on_flush(std::uint64_t session);
    void read();
    static void on_read(connection& c, std::uint64_t session, std::error_code ec, std::size_t n);
    /// Ends the session: wakes run() to clean up and reconnect.
    void end_session(std::error_code why);
    /// Hands the replies read in the last batch to their callers, with writes held and this
    /// connection made this thread's batch reader: requests the callers queue on idle
    /// connections are written at the batch's end.
    void complete_batch();
    void complete_answered();

    asio::any_io_executor ex_;
    server_address addr_;
    std::string name_;
    std::shared_ptr<entry_observer> observer_;
    connection_core core_;
    std::unique_ptr<transport> transport_;
    asio::steady_timer wake_run_;    // idle run loop: waits for work
    asio::steady_timer session_end_; // run() waits on it while connected
    asio::steady_timer watchdog_timer_;
    // The shell's own tasks: is each one running, or asleep.
    bool running_ = false;                    // run() is spawned
    bool run_idle_ = false;                   // run() waits on wake_run_
    bool watching_ = false;                   // watchdog() is spawned
    bool flush_posted_ = false;               // on_flush is posted
    std::vector<asio::const_buffer> buffers_; // the write in progress, as the transport takes it
    std::vector<entry_ptr> answered_;         // settled by the last read, to be completed
    std::vector<entry_ptr> completing_;       // being completed
    // The idle connections to flush when this reader's batch of replies ends.
    std::vector<std::pair<std::shared_ptr<connection>, std::uint64_t>> batch_flush_;
};

} // namespace memcoro::detail
