// `memcoro dump`: `lru_crawler metadump all` over a plain connection; see dump.hpp.

#include "dump.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fmt/core.h>

#include <charconv>
#include <stdexcept>
#include <string_view>
#include <system_error>

namespace {

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/// memcached writes keys %XX-escaped in a metadump.
std::string url_decode(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

template <class T>
T number(std::string_view text)
{
    T value{};
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

/// Parses "key=K exp=E la=L cas=C fetch=yes|no cls=N size=S"; false if there is no key.
bool parse_line(std::string_view line, dump_entry& e)
{
    bool has_key = false;
    while (!line.empty()) {
        const auto space = line.find(' ');
        const std::string_view field = line.substr(0, space);
        line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        const auto eq = field.find('=');
        if (eq == std::string_view::npos)
            continue;
        const std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
        if (name == "key") {
            e.key = url_decode(value);
            has_key = true;
        } else if (name == "exp") {
            e.expiry = number<std::int64_t>(value);
        } else if (name == "la") {
            e.last_access = number<std::int64_t>(value);
        } else if (name == "cas") {
            e.cas = number<std::uint64_t>(value);
        } else if (name == "fetch") {
            e.fetched = value == "yes";
        } else if (name == "cls") {
            e.slab_class = number<std::uint32_t>(value);
        } else if (name == "size") {
            e.size = number<std::uint64_t>(value);
        }
    }
    return has_key;
}

/// Bounds each step of a dump: when a step outlasts the timeout, the socket is closed, which
/// ends the step with an error, and `fired` says why.
template <class Socket>
struct watchdog {
    Socket& socket;
    asio::steady_timer timer;
    std::chrono::milliseconds timeout;
    std::function<void()> also; ///< what else to cancel when it fires (a name resolution)
    bool fired = false;

    watchdog(Socket& s, std::chrono::milliseconds t)
        : socket(s)
        , timer(s.get_executor())
        , timeout(t)
    {
    }
    /// Starts the clock for the next step (and stops it for the last one).
    void arm()
    {
        timer.expires_after(timeout);
        timer.async_wait([this](std::error_code ec) {
            if (!ec) {
                fired = true;
                std::error_code ignored;
                socket.close(ignored);
                if (also)
                    also();
            }
        });
    }
    ~watchdog() { timer.cancel(); }
};

template <class Socket>
asio::awaitable<void> dump_over(Socket& socket, watchdog<Socket>& dog,
                                const std::function<void(const dump_entry&)>& on_entry)
{
    constexpr std::string_view request = "lru_crawler metadump all\r\n";
    dog.arm();
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
    std::string buffer;
    for (;;) {
        dog.arm();
        const std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer),
                                                              '\n', asio::use_awaitable);
        std::string_view line(buffer.data(), n - 1);
        if (line.ends_with('\r'))
            line.remove_suffix(1);
        if (line == "END")
            co_return;
        dump_entry e;
        if (line.starts_with("key=") && parse_line(line, e))
            on_entry(e);
        else if (!line.empty())
            // BUSY (another crawl is running), ERROR (no lru_crawler), CLIENT_ERROR, ...
            throw std::runtime_error(std::string(line));
        buffer.erase(0, n);
    }
}

/// Connects `socket` to `endpoints` and dumps; names the failure after `name`.
template <class Socket, class Connect>
asio::awaitable<void> connect_and_dump(std::string_view name, Socket& socket,
                                       std::chrono::milliseconds timeout, Connect connect,
                                       const std::function<void(const dump_entry&)>& on_entry)
{
    watchdog<Socket> dog(socket, timeout);
    bool connected = false;
    try {
        dog.arm();
        co_await connect(socket, dog);
        connected = true;
        co_await dump_over(socket, dog, on_entry);
    } catch (const std::system_error& e) {
        const char* what = connected ? "connection lost" : "connection failed";
        if (dog.fired)
            throw std::runtime_error(
                fmt::format("{}: {}", name,
                            connected ? "operation timed out" : "connection failed (timed out)"));
        throw std::runtime_error(fmt::format("{}: {} ({})", name, what, e.code().message()));
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(fmt::format("{}: {}", name, e.what()));
    }
}

} // namespace

asio::awaitable<void> async_metadump(const memcoro::server_address& server,
                                     std::chrono::milliseconds timeout,
                                     std::function<void(const dump_entry&)> on_entry)
{
    const std::string name = server.to_string();
    auto ex = co_await asio::this_coro::executor;
    if (server.is_unix()) {
        asio::local::stream_protocol::socket socket(ex);
        const auto connect = [&](auto& s, auto&) {
            return s.async_connect(asio::local::stream_protocol::endpoint(server.socket_path),
                                   asio::use_awaitable);
        };
        co_await connect_and_dump(name, socket, timeout, connect, on_entry);
        co_return;
    }
    asio::ip::tcp::socket socket(ex);
    asio::ip::tcp::resolver resolver(ex);
    const auto connect = [&](auto& s, auto& dog) -> asio::awaitable<void> {
        dog.also = [&] { resolver.cancel(); };
        const auto found = co_await resolver.async_resolve(server.host, std::to_string(server.port),
                                                           asio::use_awaitable);
        dog.also = nullptr;
        co_await asio::async_connect(s, found, asio::use_awaitable);
    };
    co_await connect_and_dump(name, socket, timeout, connect, on_entry);
}
