#include <memcoro/detail/transport.hpp>
#include <memcoro/error.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <string>
#include <vector>

namespace memcoro::detail {
namespace {

using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

std::optional<asio::ip::address> numeric_address(const std::string& host)
{
    std::error_code ec;
    auto a = asio::ip::make_address(host, ec);
    if (ec)
        return std::nullopt;
    return a;
}

class socket_transport final : public transport {
public:
    explicit socket_transport(const asio::any_io_executor& ex)
        : ex_(ex)
        , socket_(ex)
    {
    }

    asio::awaitable<std::error_code> connect(const server_address& addr, clock::time_point deadline,
                                             std::error_code& cause) override;

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
    asio::steady_timer* lookup_wait_ = nullptr; // connect() waits for a host name lookup
    bool closed_ = false;
};

asio::awaitable<std::error_code>
socket_transport::resolve(const server_address& addr, asio::steady_timer& timer,
                          std::vector<asio::generic::stream_protocol::endpoint>& out,
                          std::error_code& cause)
{
    // The resolver calls getaddrinfo on a thread of its own, and nothing interrupts that call
    // (it may wait on an unreachable DNS server far longer than connect_timeout). So the
    // lookup is not awaited: its completion cancels the deadline's timer, and the connect
    // waits on that timer alone. At the deadline, or when the transport is closed, the lookup
    // is abandoned: it finishes on its own and its result is dropped.
    struct lookup {
        asio::ip::tcp::resolver resolver;
        asio::steady_timer* waiter = nullptr;
        bool done = false;
        std::error_code ec;
        asio::ip::tcp::resolver::results_type results;
        explicit lookup(const asio::any_io_executor& ex)
            : resolver(ex)
        {
        }
    };
    auto l = std::make_shared<lookup>(ex_);
    l->waiter = &timer;
    l->resolver.async_resolve(addr.host, std::to_string(addr.port),
                              asio::ip::tcp::resolver::numeric_service,
                              [l](std::error_code ec, asio::ip::tcp::resolver::results_type r) {
                                  l->done = true;
                                  l->ec = ec;
                                  l->results = std::move(r);
                                  if (l->waiter)
                                      l->waiter->cancel();
                              });
    {
        // close() cancels the wait; cleared however the wait ends (even if the frame is
        // destroyed with its io_context).
        struct waiting {
            socket_transport& self;
            lookup& l;
            ~waiting() { self.lookup_wait_ = l.waiter = nullptr; }
        } w{*this, *l};
        lookup_wait_ = &timer;
        co_await timer.async_wait(use_tuple);
    }
    if (closed_)
        co_return asio::error::operation_aborted;
    if (!l->done)
        co_return errc::connect_timeout;
    if (l->ec) {
        cause = l->ec;
        co_return errc::resolve_failed;
    }
    for (const auto& entry : l->results)
        out.emplace_back(entry.endpoint());
    if (out.empty())
        co_return errc::resolve_failed;
    co_return std::error_code{};
}

asio::awaitable<std::error_code> socket_transport::connect(const server_address& addr,
                                                           clock::time_point deadline,
                                                           std::error_code& cause)
{
    reset();
    closed_ = false;
    cause.clear();
    asio::steady_timer timer(ex_, deadline);

    std::vector<asio::generic::stream_protocol::endpoint> endpoints;
    if (addr.is_unix()) {
        endpoints.emplace_back(asio::local::stream_protocol::endpoint(addr.socket_path));
    } else if (const auto ip = numeric_address(addr.host)) {
        // A numeric address needs no resolver (nor its thread: an io_context made with
        // ASIO_CONCURRENCY_HINT_UNSAFE has none to offer).
        endpoints.emplace_back(asio::ip::tcp::endpoint(*ip, addr.port));
    } else if (auto ec = co_await resolve(addr, timer, endpoints, cause)) {
        co_return ec;
    }

    for (const auto& ep : endpoints) {
        reset();
        std::error_code ec;
        socket_.open(ep.protocol(), ec);
        if (ec) {
            cause = ec;
            continue;
        }
        auto r = co_await (socket_.async_connect(ep, use_tuple) || timer.async_wait(use_tuple));
        if (closed_)
            co_return asio::error::operation_aborted;
        if (r.index() == 1)
            co_return errc::connect_timeout;
        if (auto [cec] = std::get<0>(r); cec) {
            cause = cec;
            continue;
        }
        if (!addr.is_unix())
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        // Writes go straight to the socket and report a full one instead of blocking.
        socket_.non_blocking(true, ec);
        if (ec) {
            cause = ec;
            continue;
        }
        co_return std::error_code{};
    }
    co_return errc::connection_failed;
}

} // namespace

std::unique_ptr<transport> make_socket_transport(const asio::any_io_executor& ex)
{
    return std::make_unique<socket_transport>(ex);
}

} // namespace memcoro::detail
