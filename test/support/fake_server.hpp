#pragma once
// A tiny memcached stand-in for tests that need a server to misbehave on purpose. It answers
// `get k...` with VALUE lines whose value is "value-of-<key>", in order, on its own thread.
// A key starting with "stall" holds that reply (and so, like a real server, every reply
// after it on the same connection) for `stall` before answering.

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace memcoro::test {

class fake_server {
public:
    explicit fake_server(std::chrono::milliseconds stall)
        : stall_(stall)
        , acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0})
    {
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~fake_server()
    {
        ioc_.stop();
        thread_.join();
    }

    std::string address() const
    {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }

    /// Connections accepted so far.
    int connections() const { return connections_.load(); }

    /// Request lines received so far.
    int lines() const { return lines_.load(); }

    /// Every key requested, in arrival order.
    std::vector<std::string> requested() const
    {
        std::lock_guard lock(mutex_);
        return requested_;
    }

private:
    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, sock] =
                co_await acceptor_.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
            if (ec)
                co_return;
            ++connections_;
            asio::co_spawn(ioc_, serve(std::move(sock)), asio::detached);
        }
    }

    asio::awaitable<void> serve(asio::ip::tcp::socket sock)
    {
        constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
        std::string buf;
        for (;;) {
            auto [ec, n] =
                co_await asio::async_read_until(sock, asio::dynamic_buffer(buf), "\r\n", tuple);
            if (ec)
                co_return;
            std::string line = buf.substr(0, n - 2);
            buf.erase(0, n);
            ++lines_;
            std::istringstream words(line);
            std::string cmd, key, reply;
            words >> cmd;
            bool stall = false;
            if (cmd == "get") {
                while (words >> key) {
                    {
                        std::lock_guard lock(mutex_);
                        requested_.push_back(key);
                    }
                    stall = stall || key.rfind("stall", 0) == 0;
                    const std::string value = "value-of-" + key;
                    reply += "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" +
                             value + "\r\n";
                }
                reply += "END\r\n";
            } else if (cmd == "version") {
                reply = "VERSION fake\r\n";
            } else {
                reply = "ERROR\r\n";
            }
            if (stall) {
                asio::steady_timer t(sock.get_executor(), stall_);
                co_await t.async_wait(tuple);
            }
            auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(reply), tuple);
            if (wec)
                co_return;
        }
    }

    std::chrono::milliseconds stall_;
    asio::io_context ioc_;
    asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<int> connections_{0};
    std::atomic<int> lines_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> requested_;
};

} // namespace memcoro::test
