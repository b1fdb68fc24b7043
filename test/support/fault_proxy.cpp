#include "fault_proxy.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace memcoro::test {
namespace {

using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t max_held_per_session = 16 * 1024 * 1024;

tcp::endpoint loopback(std::uint16_t port)
{
    return {asio::ip::make_address_v4("127.0.0.1"), port};
}

} // namespace

struct fault_proxy::impl {
    struct session;

    explicit impl(std::uint16_t upstream)
        : upstream_port(upstream)
    {
        open_acceptor(0);
        port = acceptor.local_endpoint().port();
        asio::co_spawn(ioc, accept_loop(), asio::detached);
        thread = std::thread([this] { ioc.run(); });
    }

    ~impl()
    {
        ioc.stop();
        thread.join();
    }

    void open_acceptor(std::uint16_t p)
    {
        acceptor.open(tcp::v4());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(loopback(p));
        acceptor.listen();
    }

    // ---- settings, shared with the test thread (under mutex) ------------------------------

    struct settings {
        std::chrono::milliseconds delay{0};
        bool stalled = false;
        std::optional<std::size_t> close_after;
        std::optional<std::size_t> truncate_after;
        std::size_t truncate_drop = 0; // bytes still to drop once truncate_after reached 0
        bool split = false;
        std::chrono::microseconds gap{0};
        std::string inject_next;
        accept_mode mode = accept_mode::normal;
        std::string rewrite_from, rewrite_to;
        std::string close_needle;
        std::string request_from, request_to;
    };

    template <class F>
    void change(F&& f)
    {
        {
            std::lock_guard lock(mutex);
            f(cfg);
        }
        asio::post(ioc, [this] { wake_all(); });
    }

    /// The settings that are not one-shot (copied without the injection bytes).
    struct view {
        std::chrono::milliseconds delay;
        bool stalled;
        bool split;
        std::chrono::microseconds gap;
        accept_mode mode;
    };

    view snapshot() const
    {
        std::lock_guard lock(mutex);
        return {cfg.delay, cfg.stalled, cfg.split, cfg.gap, cfg.mode};
    }

    // ---- sessions (proxy thread only) --------------------------------------------------------

    struct chunk {
        std::string data;
        clock::time_point at;
    };

    struct session : std::enable_shared_from_this<session> {
        session(impl& owner, tcp::socket c)
            : p(owner)
            , client(std::move(c))
            , server(owner.ioc)
            , wake(owner.ioc, clock::time_point::max())
        {
        }

        impl& p;
        tcp::socket client;
        tcp::socket server;
        asio::steady_timer wake;
        std::deque<chunk> queue;
        std::size_t queued = 0;
        std::string unsolicited;
        bool stalled = false; // this connection alone (stall_open_connections)
        bool upstream_done = false;
        bool closed = false;

        void close()
        {
            if (closed)
                return;
            closed = true;
            std::error_code ignored;
            client.shutdown(tcp::socket::shutdown_both, ignored);
            client.close(ignored);
            server.shutdown(tcp::socket::shutdown_both, ignored);
            server.close(ignored);
            wake.cancel();
            p.held -= queued;
            queued = 0;
            queue.clear();
            --p.active;
        }
    };

    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            const auto mode = snapshot().mode;
            if (mode == accept_mode::reject) {
                if (acceptor.is_open()) {
                    std::error_code ignored;
                    acceptor.close(ignored);
                }
                accept_wake.expires_at(clock::time_point::max());
                co_await accept_wake.async_wait(tuple);
                continue;
            }
            if (!acceptor.is_open()) {
                bool reopened = true;
                try {
                    open_acceptor(port);
                } catch (const std::system_error&) {
                    reopened = false;
                    std::error_code ignored;
                    acceptor.close(ignored);
                }
                if (!reopened) { // the port is busy for a moment: try again soon
                    accept_wake.expires_after(std::chrono::milliseconds(10));
                    co_await accept_wake.async_wait(tuple);
                    continue;
                }
            }
            if (mode == accept_mode::stop_accepting) { // listening, not accepting
                accept_wake.expires_at(clock::time_point::max());
                co_await accept_wake.async_wait(tuple);
                continue;
            }
            auto [ec, sock] = co_await acceptor.async_accept(tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open())
                    continue; // woken to look at the mode again
                co_return;
            }
            ++connections;
            if (snapshot().mode == accept_mode::close_at_once) {
                std::error_code ignored;
                sock.close(ignored);
                continue;
            }
            auto s = std::make_shared<session>(*this, std::move(sock));
            ++active;
            sessions.push_back(s);
            asio::co_spawn(ioc, run(s), asio::detached);
        }
    }

    void wake_all()
    {
        std::error_code ignored;
        accept_wake.cancel();
        // A pending accept is cancelled so that the loop sees a new mode at once.
        if (acceptor.is_open())
            acceptor.cancel(ignored);
        std::erase_if(sessions, [](const std::weak_ptr<session>& w) { return w.expired(); });
        for (auto& w : sessions)
            if (auto s = w.lock())
                s->wake.cancel();
    }

    template <class F>
    void for_each_session(F f)
    {
        for (auto& w : sessions)
            if (auto s = w.lock(); s && !s->closed)
                f(*s);
    }

    asio::awaitable<void> run(std::shared_ptr<session> s)
    {
        std::error_code ec;
        s->client.set_option(tcp::no_delay(true), ec);
        auto [cec] = co_await s->server.async_connect(loopback(upstream_port), tuple);
        if (cec || s->closed) {
            s->close();
            co_return;
        }
        s->server.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(ioc, to_server(s), asio::detached);
        asio::co_spawn(ioc, from_server(s), asio::detached);
        co_await to_client(s);
    }

    asio::awaitable<void> to_server(std::shared_ptr<session> s)
    {
        std::vector<char> buf(read_chunk);
        while (!s->closed) {
            auto [ec, n] = co_await s->client.async_read_some(asio::buffer(buf), tuple);
            if (ec || s->closed)
                break;
            {
                std::lock_guard lock(mutex);
                if (!cfg.close_needle.empty() &&
                    std::string_view(buf.data(), n).find(cfg.close_needle) !=
                        std::string_view::npos)
                    break;
            }
            std::string rewritten;
            bool rewrite = false;
            {
                std::lock_guard lock(mutex);
                if (!cfg.request_from.empty()) {
                    rewrite = true;
                    rewritten.assign(buf.data(), n);
                    for (std::size_t at = 0;
                         (at = rewritten.find(cfg.request_from, at)) != std::string::npos;
                         at += cfg.request_to.size())
                        rewritten.replace(at, cfg.request_from.size(), cfg.request_to);
                }
            }
            const auto out = rewrite ? asio::buffer(rewritten) : asio::buffer(buf.data(), n);
            bytes_to_server += out.size(); // counted first, like bytes_to_client
            auto [wec, wn] = co_await asio::async_write(s->server, out, tuple);
            if (wec)
                break;
        }
        s->close();
    }

    asio::awaitable<void> from_server(std::shared_ptr<session> s)
    {
        std::vector<char> buf(read_chunk);
        asio::steady_timer backoff(ioc);
        while (!s->closed) {
            if (s->queued > max_held_per_session) {
                backoff.expires_after(std::chrono::milliseconds(1));
                co_await backoff.async_wait(tuple);
                continue;
            }
            auto [ec, n] = co_await s->server.async_read_some(asio::buffer(buf), tuple);
            if (s->closed)
                break;
            if (ec) {
                s->upstream_done = true; // forward what is held, then close
                s->wake.cancel();
                break;
            }
            s->queue.push_back({std::string(buf.data(), n), clock::now()});
            s->queued += n;
            held += n;
            s->wake.cancel();
        }
    }

    asio::awaitable<std::error_code> write_client(session& s, std::string_view data, bool split,
                                                  std::chrono::microseconds gap)
    {
        // Counted before writing: a client that has read the bytes sees them counted.
        if (!split || data.size() <= 1) {
            ++client_writes;
            bytes_to_client += data.size();
            auto [ec, n] = co_await asio::async_write(s.client, asio::buffer(data), tuple);
            co_return ec;
        }
        asio::steady_timer pause(ioc);
        for (std::size_t i = 0; i < data.size(); ++i) {
            ++client_writes;
            ++bytes_to_client;
            auto [ec, n] =
                co_await asio::async_write(s.client, asio::buffer(data.data() + i, 1), tuple);
            if (ec || s.closed)
                co_return ec ? ec : asio::error::operation_aborted;
            if (gap.count() > 0 && i + 1 < data.size()) {
                pause.expires_after(gap);
                co_await pause.async_wait(tuple);
            }
        }
        co_return std::error_code{};
    }

    asio::awaitable<void> to_client(std::shared_ptr<session> s)
    {
        while (!s->closed) {
            if (!s->unsolicited.empty()) {
                std::string bytes = std::move(s->unsolicited);
                s->unsolicited.clear();
                auto ec = co_await write_client(*s, bytes, false, {});
                if (ec)
                    break;
                continue;
            }
            auto now = clock::now();
            const auto cfg_now = snapshot();
            if (s->queue.empty() || cfg_now.stalled || s->stalled) {
                if (s->queue.empty() && s->upstream_done)
                    break;
                s->wake.expires_at(clock::time_point::max());
                co_await s->wake.async_wait(tuple);
                continue;
            }
            if (cfg_now.delay.count() > 0 && now < s->queue.front().at + cfg_now.delay) {
                s->wake.expires_at(s->queue.front().at + cfg_now.delay);
                co_await s->wake.async_wait(tuple);
                continue;
            }
            chunk c = std::move(s->queue.front());
            s->queue.pop_front();
            s->queued -= c.data.size();
            held -= c.data.size();

            // Apply the one-shot faults to this chunk.
            std::string injected;
            bool close_now = false;
            {
                std::lock_guard lock(mutex);
                injected = std::move(cfg.inject_next);
                cfg.inject_next.clear();
                std::string& d = c.data;
                if (!cfg.rewrite_from.empty())
                    for (std::size_t at = 0;
                         (at = d.find(cfg.rewrite_from, at)) != std::string::npos;
                         at += cfg.rewrite_to.size())
                        d.replace(at, cfg.rewrite_from.size(), cfg.rewrite_to);
                if (cfg.truncate_after) {
                    std::size_t& pass = *cfg.truncate_after;
                    if (pass >= d.size()) {
                        pass -= d.size();
                    } else {
                        const std::size_t drop = std::min(cfg.truncate_drop, d.size() - pass);
                        d.erase(pass, drop);
                        cfg.truncate_drop -= drop;
                        if (cfg.truncate_drop == 0)
                            cfg.truncate_after.reset();
                        else
                            pass = 0; // keep dropping from the start of the next chunk
                    }
                }
                if (cfg.close_after) {
                    if (*cfg.close_after >= d.size()) {
                        *cfg.close_after -= d.size();
                    } else {
                        d.resize(*cfg.close_after);
                        cfg.close_after.reset();
                        close_now = true;
                    }
                }
            }
            if (!injected.empty()) {
                auto ec = co_await write_client(*s, injected, cfg_now.split, cfg_now.gap);
                if (ec)
                    break;
            }
            if (!c.data.empty()) {
                auto ec = co_await write_client(*s, c.data, cfg_now.split, cfg_now.gap);
                if (ec)
                    break;
            }
            if (close_now)
                break;
        }
        s->close();
    }

    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    asio::steady_timer accept_wake{ioc, clock::time_point::max()};
    std::uint16_t upstream_port;
    std::uint16_t port = 0;
    std::vector<std::weak_ptr<session>> sessions;

    mutable std::mutex mutex;
    settings cfg;

    std::atomic<int> connections{0};
    std::atomic<int> active{0};
    std::atomic<std::uint64_t> bytes_to_server{0};
    std::atomic<std::uint64_t> bytes_to_client{0};
    std::atomic<std::uint64_t> held{0};
    std::atomic<std::uint64_t> client_writes{0};

    std::thread thread;
};

fault_proxy::fault_proxy(std::uint16_t upstream_port)
    : impl_(std::make_unique<impl>(upstream_port))
{
}

fault_proxy::~fault_proxy() = default;

std::uint16_t fault_proxy::port() const noexcept
{
    return impl_->port;
}

std::string fault_proxy::address() const
{
    return "127.0.0.1:" + std::to_string(impl_->port);
}

void fault_proxy::set_delay(std::chrono::milliseconds d)
{
    impl_->change([&](impl::settings& s) { s.delay = d; });
}

void fault_proxy::set_stalled(bool stalled)
{
    impl_->change([&](impl::settings& s) { s.stalled = stalled; });
    if (!stalled)
        asio::post(impl_->ioc, [p = impl_.get()] {
            p->for_each_session([](impl::session& s) {
                s.stalled = false;
                s.wake.cancel();
            });
        });
}

void fault_proxy::stall_open_connections()
{
    std::promise<void> applied;
    asio::post(impl_->ioc, [p = impl_.get(), &applied] {
        p->for_each_session([](impl::session& s) { s.stalled = true; });
        applied.set_value();
    });
    applied.get_future().wait();
}

void fault_proxy::close_after(std::size_t n)
{
    impl_->change([&](impl::settings& s) { s.close_after = n; });
}

void fault_proxy::truncate_after(std::size_t n, std::size_t drop)
{
    impl_->change([&](impl::settings& s) {
        s.truncate_after = n;
        s.truncate_drop = drop;
    });
}

void fault_proxy::set_split(bool on, std::chrono::microseconds gap)
{
    impl_->change([&](impl::settings& s) {
        s.split = on;
        s.gap = gap;
    });
}

void fault_proxy::rewrite_replies(std::string from, std::string to)
{
    impl_->change([&](auto& s) {
        s.rewrite_from = std::move(from);
        s.rewrite_to = std::move(to);
    });
}

void fault_proxy::rewrite_requests(std::string from, std::string to)
{
    impl_->change([&](auto& s) {
        s.request_from = std::move(from);
        s.request_to = std::move(to);
    });
}

void fault_proxy::close_on_request(std::string needle)
{
    impl_->change([&](auto& s) { s.close_needle = std::move(needle); });
}

void fault_proxy::inject_before_next_reply(std::string bytes)
{
    impl_->change([&](impl::settings& s) { s.inject_next = std::move(bytes); });
}

void fault_proxy::inject_now(std::string bytes)
{
    asio::post(impl_->ioc, [p = impl_.get(), bytes = std::move(bytes)] {
        p->for_each_session([&](impl::session& s) {
            s.unsolicited += bytes;
            s.wake.cancel();
        });
    });
}

void fault_proxy::set_accept_mode(accept_mode m)
{
    impl_->change([&](impl::settings& s) { s.mode = m; });
}

void fault_proxy::drop_connections()
{
    asio::post(impl_->ioc,
               [p = impl_.get()] { p->for_each_session([](impl::session& s) { s.close(); }); });
}

void fault_proxy::clear_faults()
{
    impl_->change([](impl::settings& s) { s = impl::settings{}; });
    set_stalled(false);
}

int fault_proxy::connections() const noexcept
{
    return impl_->connections.load();
}

int fault_proxy::active() const noexcept
{
    return impl_->active.load();
}

std::uint64_t fault_proxy::bytes_to_server() const noexcept
{
    return impl_->bytes_to_server.load();
}

std::uint64_t fault_proxy::bytes_to_client() const noexcept
{
    return impl_->bytes_to_client.load();
}

std::uint64_t fault_proxy::held_bytes() const noexcept
{
    return impl_->held.load();
}

std::uint64_t fault_proxy::client_writes() const noexcept
{
    return impl_->client_writes.load();
}

} // namespace memcoro::test
