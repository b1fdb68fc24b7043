#include "socket_transport.hpp"

#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>

#include <optional>
#include <string>
#include <vector>

namespace memcoro::detail {
namespace {

using namespace asio::experimental::awaitable_operators;

std::optional<asio::ip::address> numeric_address(const std::string& host)
{
    std::error_code ec;
    auto a = asio::ip::make_address(host, ec);
    if (ec)
        return std::nullopt;
    return a;
}

} // namespace

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
    asio::steady_timer timer(ex_, deadline);
    if (auto ec = co_await connect_socket(addr, timer, cause))
        co_return ec;
    if (auth_.empty())
        co_return std::error_code{};
    const auto ec = co_await authenticate(socket_, auth_, timer, closed_, cause);
    if (ec && !closed_)
        reset(); // (nothing more goes out on a refused connection)
    co_return ec;
}

asio::awaitable<std::error_code> socket_transport::connect_socket(const server_address& addr,
                                                                  asio::steady_timer& timer,
                                                                  std::error_code& cause)
{
    reset();
    closed_ = false;
    cause.clear();

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

std::unique_ptr<transport> make_socket_transport(const asio::any_io_executor& ex,
                                                 const std::optional<credentials>& auth)
{
    return std::make_unique<socket_transport>(ex, auth ? proto::encode_auth(*auth) : std::string{});
}

} // namespace memcoro::detail
