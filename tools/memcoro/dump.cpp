// `memcoro dump`: `lru_crawler metadump all`, or `stats items` and `stats cachedump`, over a
// plain connection; see dump.hpp.

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
#include <limits>
#include <map>
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

/// `text` as a whole number, or nothing when it is not one (or does not fit).
template <class T>
std::optional<T> whole_number(std::string_view text)
{
    T value{};
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

/// The longest reply line read: a metadump line is under 1 KB (a key of 250 bytes %XX-escaped
/// and seven fields), a cachedump line under 300 bytes. A longer one is an error, not a buffer
/// that grows without bound.
constexpr std::size_t max_line = 16 * 1024;

/// A reply line, quoted in an error message: at most 100 bytes of it.
std::string quoted(std::string_view line)
{
    constexpr std::size_t most = 100;
    return line.size() > most ? fmt::format("'{}...'", line.substr(0, most))
                              : fmt::format("'{}'", line);
}

/// Parses "ITEM <key> [<bytes> b; <exptime> s]" (memcached's item_cachedump): `bytes` is the
/// value's size; `exptime` 0 for an item that never expires, else a Unix time on the server's
/// clock (as a metadump's exp). The key is all between "ITEM " and the last " [". False for any
/// other line.
bool parse_cachedump_line(std::string_view line, std::uint32_t slab_class, dump_entry& e)
{
    constexpr std::string_view head = "ITEM ", tail = " s]";
    if (!line.starts_with(head) || !line.ends_with(tail))
        return false;
    line.remove_prefix(head.size());
    line.remove_suffix(tail.size());
    const auto open = line.rfind(" [");
    if (open == 0 || open == std::string_view::npos)
        return false;
    const std::string_view key = line.substr(0, open), fields = line.substr(open + 2);
    constexpr std::string_view middle = " b; ";
    const auto sep = fields.find(middle);
    if (sep == std::string_view::npos)
        return false;
    const auto bytes = whole_number<std::uint64_t>(fields.substr(0, sep));
    const auto exptime = whole_number<std::int64_t>(fields.substr(sep + middle.size()));
    if (!bytes || !exptime || *exptime < 0)
        return false;
    e.key = std::string(key);
    e.expiry = *exptime == 0 ? -1 : *exptime;
    e.size = *bytes;
    e.slab_class = slab_class;
    e.last_access.reset();
    e.fetched.reset();
    return true;
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

/// Reads one reply line (its "\r\n" or "\n" dropped) into `line`, from what `buffer` holds
/// beyond `used` bytes, which it first drops; `used` becomes the bytes of the line read.
template <class Socket>
asio::awaitable<void> read_line(Socket& socket, watchdog<Socket>& dog, std::string& buffer,
                                std::size_t& used, std::string_view& line)
{
    buffer.erase(0, used);
    dog.arm();
    try {
        used = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, max_line), '\n',
                                               asio::use_awaitable);
    } catch (const std::system_error& e) {
        if (e.code() == asio::error::not_found)
            throw std::runtime_error(fmt::format("a reply line longer than {} bytes", max_line));
        throw;
    }
    line = std::string_view(buffer.data(), used - 1);
    if (line.ends_with('\r'))
        line.remove_suffix(1);
}

template <class Socket>
asio::awaitable<void> send(Socket& socket, watchdog<Socket>& dog, std::string_view request)
{
    dog.arm();
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
}

/// Does the first line of a reply to `lru_crawler metadump all` say that the server has no LRU
/// crawler? memcached 1.6 started with `-o no_lru_crawler` answers "CLIENT_ERROR lru crawler
/// disabled"; a server older than 1.4.31 (no metadump) or without lru_crawler, "ERROR". (With
/// `-X`, "ERROR metadump not allowed": cachedump is refused too, so that one stays an error.)
bool metadump_refused(std::string_view line)
{
    return line == "ERROR" || line == "CLIENT_ERROR lru crawler disabled";
}

/// The fallback: `stats items` for the slab classes that hold items, then `stats cachedump
/// CLASS 0` for each (libmemcached's memdump).
template <class Socket>
asio::awaitable<void> cachedump_over(Socket& socket, watchdog<Socket>& dog, std::string& buffer,
                                     std::size_t& used,
                                     const std::function<void(const dump_entry&)>& on_entry,
                                     const std::function<void(const std::string&)>& on_note)
{
    // memcached has at most 64 slab classes (MAX_NUMBER_OF_SLAB_CLASSES), numbered from 1.
    constexpr std::uint32_t max_class = 255;
    co_await send(socket, dog, "stats items\r\n");
    std::map<std::uint32_t, std::uint64_t> items; // slab class -> its items:N:number
    std::string_view line;
    for (;;) {
        co_await read_line(socket, dog, buffer, used, line);
        if (line == "END")
            break;
        // STAT items:<class>:<field> <value>
        constexpr std::string_view head = "STAT items:";
        if (!line.starts_with(head))
            throw std::runtime_error(fmt::format("stats items: unexpected reply {}", quoted(line)));
        const std::string_view rest = line.substr(head.size());
        const auto colon = rest.find(':'), space = rest.find(' ');
        const auto id = whole_number<std::uint32_t>(rest.substr(0, colon));
        if (colon == std::string_view::npos || space == std::string_view::npos || colon > space ||
            !id || *id == 0 || *id > max_class)
            throw std::runtime_error(fmt::format("stats items: malformed line {}", quoted(line)));
        if (rest.substr(colon + 1, space - colon - 1) != "number")
            continue;
        const auto n = whole_number<std::uint64_t>(rest.substr(space + 1));
        if (!n)
            throw std::runtime_error(fmt::format("stats items: malformed line {}", quoted(line)));
        items[*id] = *n;
    }
    for (const auto& [id, number] : items) {
        if (number == 0)
            continue;
        co_await send(socket, dog, fmt::format("stats cachedump {} 0\r\n", id));
        std::uint64_t listed = 0;
        for (;;) {
            co_await read_line(socket, dog, buffer, used, line);
            if (line == "END")
                break;
            dump_entry e;
            if (!parse_cachedump_line(line, id, e)) {
                if (line.starts_with("ERROR") || line.starts_with("CLIENT_ERROR") ||
                    line.starts_with("SERVER_ERROR"))
                    throw std::runtime_error(fmt::format("stats cachedump: {}", line));
                throw std::runtime_error(
                    fmt::format("stats cachedump {}: malformed line {}", id, quoted(line)));
            }
            ++listed;
            on_entry(e);
        }
        // cachedump walks the class's cold LRU only, and stops at 2 MB of reply: items still in
        // the hot or warm LRU, or past the 2 MB, are not listed.
        if (listed < number)
            on_note(fmt::format("slab class {}: {} of its {} items listed (stats cachedump lists "
                                "the cold LRU only, at most 2 MB)",
                                id, listed, number));
    }
}

template <class Socket>
asio::awaitable<void> dump_over(Socket& socket, watchdog<Socket>& dog,
                                const std::function<void(const dump_entry&)>& on_entry,
                                const std::function<void(const std::string&)>& on_note)
{
    co_await send(socket, dog, "lru_crawler metadump all\r\n");
    std::string buffer;
    std::size_t used = 0;
    std::string_view line;
    for (bool first = true;; first = false) {
        co_await read_line(socket, dog, buffer, used, line);
        if (line == "END")
            co_return;
        if (first && metadump_refused(line)) {
            on_note(fmt::format("lru_crawler metadump refused ({}): listing the keys with stats "
                                "cachedump instead",
                                line));
            co_await cachedump_over(socket, dog, buffer, used, on_entry, on_note);
            co_return;
        }
        dump_entry e;
        if (line.starts_with("key=") && parse_line(line, e))
            on_entry(e);
        else if (!line.empty())
            // BUSY (another crawl is running), CLIENT_ERROR, ...
            throw std::runtime_error(std::string(line));
    }
}

/// Connects `socket` to `endpoints` and dumps; names the failure after `name`.
template <class Socket, class Connect>
asio::awaitable<void> connect_and_dump(std::string_view name, Socket& socket,
                                       std::chrono::milliseconds timeout, Connect connect,
                                       const std::function<void(const dump_entry&)>& on_entry,
                                       const std::function<void(const std::string&)>& on_note)
{
    watchdog<Socket> dog(socket, timeout);
    bool connected = false;
    try {
        dog.arm();
        co_await connect(socket, dog);
        connected = true;
        co_await dump_over(socket, dog, on_entry, on_note);
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

asio::awaitable<void> async_dump(const memcoro::server_address& server,
                                 std::chrono::milliseconds timeout,
                                 std::function<void(const dump_entry&)> on_entry,
                                 std::function<void(const std::string&)> on_note)
{
    const std::string name = server.to_string();
    auto ex = co_await asio::this_coro::executor;
    if (server.is_unix()) {
        asio::local::stream_protocol::socket socket(ex);
        const auto connect = [&](auto& s, auto&) {
            return s.async_connect(asio::local::stream_protocol::endpoint(server.socket_path),
                                   asio::use_awaitable);
        };
        co_await connect_and_dump(name, socket, timeout, connect, on_entry, on_note);
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
    co_await connect_and_dump(name, socket, timeout, connect, on_entry, on_note);
}
