#pragma once
/// \file
/// The transport seam: how a connection reaches its server and moves bytes. A connection
/// (detail/connection.hpp) is written against this interface only; TCP and Unix stream
/// sockets are one implementation (make_socket_transport), TLS over TCP another
/// (make_tls_transport), beside it without touching the connection's state machine.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/pool.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/tls.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
/// and report a full one instead of blocking. With `auth`, a connect ends with memcached's
/// authentication (errc::auth_failed on a refusal), within the same deadline.
std::unique_ptr<transport> make_socket_transport(const asio::any_io_executor& ex,
                                                 const std::optional<credentials>& auth = {});

/// A server's TLS setup, shared by its connections: the OpenSSL context made from its
/// tls_options, the last session (offered again on reconnect), and counters.
class tls_client;
/// Builds it; throws std::invalid_argument with the reason (a CA or certificate file that
/// cannot be loaded, a cipher list OpenSSL refuses, a memcoro built without TLS).
std::shared_ptr<tls_client> make_tls_client(const tls_options& o);
/// TCP, then a TLS handshake (verifying the server as `tls` says, for `addr`'s host), then,
/// with `auth`, memcached's authentication: all by connect's deadline. Handshake failures are
/// errc::tls_handshake_failed, certificates refused errc::tls_verify_failed (the cause: why).
std::unique_ptr<transport> make_tls_transport(const asio::any_io_executor& ex,
                                              std::shared_ptr<tls_client> tls,
                                              const std::optional<credentials>& auth = {});
/// Handshakes completed, and how many of them resumed an earlier session.
struct tls_counters {
    std::uint64_t handshakes = 0;
    std::uint64_t resumed = 0;
};
tls_counters counters_of(const tls_client& t) noexcept;

} // namespace memcoro::detail
