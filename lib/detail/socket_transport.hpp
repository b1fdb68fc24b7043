#pragma once
// The stream-socket transport (TCP and Unix), and the steps of a connect that the transports
// share: a deadline on each, and memcached's authentication. Internal to the library.

#include <memcoro/detail/transport.hpp>
#include <memcoro/error.hpp>
#include <memcoro/proto/auth.hpp>

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace memcoro::detail {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

class socket_transport final : public transport {
public:
    /// `auth`: the authentication request (proto::encode_auth) sent once connected.
    explicit socket_transport(const asio::any_io_executor& ex, std::string auth = {})
        : ex_(ex)
        , socket_(ex)
        , auth_(std::move(auth))
    {
    }

    asio::awaitable<std::error_code> connect(const server_address& addr, clock::time_point deadline,
                                             std::error_code& cause) override;
    /// Connects the socket by the timer's expiry, and nothing more (transports layered on this
    /// one go on from there).
    asio::awaitable<std::error_code>
    connect_socket(const server_address& addr, asio::steady_timer& timer, std::error_code& cause);

    std::size_t write_some(std::span<const asio::const_buffer> buffers,
                           std::error_code& ec) override
    {
        return socket_.write_some(buffers, ec);
    }

    void async_write_some(std::span<const asio::const_buffer>, io_handler h) override
    {
        // The socket is full: write_some sends the rest when it has room.
        socket_.async_wait(asio::socket_base::wait_write, std::move(h));
    }

    void async_read_some(asio::mutable_buffer buffer, io_handler h) override
    {
        socket_.async_read_some(buffer, std::move(h));
    }

    void close() noexcept override
    {
        closed_ = true;
        reset();
        if (lookup_wait_)
            lookup_wait_->cancel();
    }
    bool closed() const noexcept { return closed_; }
    /// Set by close(): a connect in progress checks it after every wait.
    const bool& closed_flag() const noexcept { return closed_; }

    asio::generic::stream_protocol::socket& socket() noexcept { return socket_; }
    /// Closes the socket of a connect that failed after it was opened (a handshake or an
    /// authentication refused), without closing the transport.
    void drop() noexcept { reset(); }

private:
    void reset() noexcept
    {
        std::error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_both, ignored);
        socket_.close(ignored);
    }

    /// Host name → endpoints, by the deadline. errc::connect_timeout, resolve_failed or
    /// operation_aborted (closed meanwhile).
    asio::awaitable<std::error_code>
    resolve(const server_address& addr, asio::steady_timer& timer,
            std::vector<asio::generic::stream_protocol::endpoint>& out, std::error_code& cause);

    asio::any_io_executor ex_;
    asio::generic::stream_protocol::socket socket_;
    std::string auth_;
    asio::steady_timer* lookup_wait_ = nullptr; // connect() waits for a host name lookup
    bool closed_ = false;
};

/// memcached's ASCII authentication on a connected `stream`, by the timer's expiry: sends
/// `request` (proto::encode_auth) and reads the one-line reply. errc::auth_failed on a refusal
/// (`refusal` gets the server's message), protocol_error on anything but a reply line,
/// connect_timeout, connection_failed (with `cause`). `closed`: the transport was closed
/// meanwhile (operation_aborted).
template <class Stream>
asio::awaitable<std::error_code> authenticate(Stream& stream, const std::string& request,
                                              asio::steady_timer& timer, const bool& closed,
                                              std::error_code& cause)
{
    using namespace asio::experimental::awaitable_operators;
    auto w = co_await (asio::async_write(stream, asio::buffer(request), use_tuple) ||
                       timer.async_wait(use_tuple));
    if (closed)
        co_return asio::error::operation_aborted;
    if (w.index() == 1)
        co_return errc::connect_timeout;
    if (auto [ec, n] = std::get<0>(w); ec) {
        cause = ec;
        co_return errc::connection_failed;
    }
    std::array<char, proto::max_auth_reply + 2> buf;
    std::size_t have = 0;
    for (;;) {
        auto r = co_await (
            stream.async_read_some(asio::buffer(buf.data() + have, buf.size() - have), use_tuple) ||
            timer.async_wait(use_tuple));
        if (closed)
            co_return asio::error::operation_aborted;
        if (r.index() == 1)
            co_return errc::connect_timeout;
        auto [ec, n] = std::get<0>(r);
        if (ec) {
            // A server that closes the connection on a refusal: the refusal is what happened.
            cause = ec;
            co_return errc::connection_failed;
        }
        have += n;
        const auto reply = proto::parse_auth_reply(std::string_view(buf.data(), have));
        switch (reply.outcome) {
        case proto::auth_outcome::incomplete:
            if (have == buf.size())
                co_return errc::protocol_error;
            continue;
        case proto::auth_outcome::accepted:
            // Nothing may follow an answer to the one request sent.
            co_return reply.size == have ? std::error_code{}
                                         : make_error_code(errc::protocol_error);
        case proto::auth_outcome::refused:
            co_return errc::auth_failed;
        case proto::auth_outcome::malformed:
            co_return errc::protocol_error;
        }
    }
}

} // namespace memcoro::detail
