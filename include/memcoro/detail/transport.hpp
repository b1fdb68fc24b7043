#pragma once
/// \file
/// The transport seam: how a connection reaches its server and moves bytes. A connection
/// (detail/connection.hpp) is written against this interface only; TCP and Unix stream
/// sockets are one implementation (make_socket_transport), and other streams (TLS) plug in
/// beside it without touching the connection's state machine.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/pool.hpp>
#include <memcoro/server_address.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

namespace memcoro::detail {

class connection;

/// The completion handler of a transport's read or write: its memory comes from the pool, and
/// it names the session it belongs to (a completion for an older session does nothing).
struct io_handler {
    std::shared_ptr<connection> self;
    std::uint64_t session;
    void (*fn)(connection&, std::uint64_t session, std::error_code, std::size_t);

    using allocator_type = pool_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }

    void operator()(std::error_code ec, std::size_t n) { fn(*self, session, ec, n); }
    void operator()(std::error_code ec) { fn(*self, session, ec, 0); } // a wait
};

class transport {
public:
    using clock = std::chrono::steady_clock;

    virtual ~transport() = default;

    /// Opens a connection to `addr`, done by `deadline` (errc::connect_timeout after it).
    /// Returns a memcoro error (connection_failed, resolve_failed, connect_timeout...) and
    /// sets `cause` to the system error underneath, if any. close() makes it return promptly.
    virtual asio::awaitable<std::error_code>
    connect(const server_address& addr, clock::time_point deadline, std::error_code& cause) = 0;
    /// Sends what it can of `buffers` now, without waiting: the bytes taken, or `ec` set
    /// (asio::error::would_block when nothing could be taken yet).
    virtual std::size_t write_some(std::span<const asio::const_buffer> buffers,
                                   std::error_code& ec) = 0;
    /// Once it can take more, sends some of `buffers` and calls `h(ec, n)`. `n` may be 0: the
    /// transport only says it may take more now (write_some sends the bytes). The buffers
    /// must stay valid until then.
    virtual void async_write_some(std::span<const asio::const_buffer> buffers, io_handler h) = 0;
    /// Reads some bytes into `buffer`: `h(ec, n)` (end of file as an error).
    virtual void async_read_some(asio::mutable_buffer buffer, io_handler h) = 0;
    /// Ends the connection; pending operations complete with operation_aborted.
    virtual void close() noexcept = 0;
};

/// TCP (numeric addresses connect at once; host names are looked up without blocking the
/// connection beyond its deadline) and Unix stream sockets. Writes go straight to the socket
/// and report a full one instead of blocking.
std::unique_ptr<transport> make_socket_transport(const asio::any_io_executor& ex);

} // namespace memcoro::detail
