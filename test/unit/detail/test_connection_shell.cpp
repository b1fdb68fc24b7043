// The connection's Asio shell over a transport of the test's own, in memory: the transport seam
// carries a connection end to end without a socket. The transport takes a few bytes per write,
// reports a full buffer every other time, and sends the rest from async_write_some with a
// byte count (as a TLS stream does, where the socket transport only waits for room); replies
// arrive when the test delivers them, split as it likes.

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"

#include <memcoro/detail/connection.hpp>
#include <memcoro/error.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace memcoro;
using namespace std::chrono_literals;
using detail::connection;
using detail::io_handler;

namespace {

class memory_transport final : public detail::transport {
public:
    explicit memory_transport(asio::io_context& io)
        : io_(io)
    {
    }

    std::size_t chunk = 3;       // bytes taken per write
    std::error_code refuse;      // connect() fails with it when set
    std::error_code write_error; // writes fail with it when set
    std::string sent;            // everything written, in order
    int connects = 0;
    int async_writes = 0;

    asio::awaitable<std::error_code> connect(const server_address&, clock::time_point,
                                             std::error_code& cause) override
    {
        ++connects;
        closed_ = false;
        if (refuse) {
            cause = refuse;
            co_return errc::connection_failed;
        }
        co_return std::error_code{};
    }

    std::size_t write_some(std::span<const asio::const_buffer> buffers,
                           std::error_code& ec) override
    {
        if (write_error) {
            ec = write_error;
            return 0;
        }
        if ((full_ = !full_)) { // every other call: no room
            ec = asio::error::would_block;
            return 0;
        }
        return take(buffers);
    }

    void async_write_some(std::span<const asio::const_buffer> buffers, io_handler h) override
    {
        ++async_writes;
        asio::post(io_, [this, buffers, h = std::move(h)]() mutable {
            std::size_t n = 0;
            if (!closed_)
                n = take(buffers);
            h(closed_ ? std::error_code(asio::error::operation_aborted) : write_error, n);
        });
    }

    void async_read_some(asio::mutable_buffer b, io_handler h) override
    {
        read_.emplace(pending_read{b, std::move(h)});
        pump();
    }

    void close() noexcept override
    {
        closed_ = true;
        if (read_) {
            auto r = std::move(*read_);
            read_.reset();
            asio::post(io_,
                       [h = std::move(r.h)]() mutable { h(asio::error::operation_aborted, 0); });
        }
    }

    /// The server sends `bytes`; each read takes at most `per_read` of them.
    void deliver(std::string bytes, std::size_t per_read = 1000000)
    {
        inbox_ += bytes;
        per_read_ = per_read;
        pump();
    }
    /// The server resets the connection.
    void reset()
    {
        if (read_) {
            auto r = std::move(*read_);
            read_.reset();
            asio::post(io_, [h = std::move(r.h)]() mutable {
                h(std::make_error_code(std::errc::connection_reset), 0);
            });
        }
    }

private:
    struct pending_read {
        asio::mutable_buffer b;
        io_handler h;
    };

    std::size_t take(std::span<const asio::const_buffer> buffers)
    {
        std::size_t n = 0;
        for (const auto& b : buffers) {
            const std::size_t k = std::min(b.size(), chunk - n);
            sent.append(static_cast<const char*>(b.data()), k);
            n += k;
            if (n == chunk)
                break;
        }
        return n;
    }

    void pump()
    {
        if (!read_ || inbox_.empty() || closed_)
            return;
        auto r = std::move(*read_);
        read_.reset();
        const std::size_t n = std::min({r.b.size(), inbox_.size(), per_read_});
        std::memcpy(r.b.data(), inbox_.data(), n);
        inbox_.erase(0, n);
        asio::post(io_, [h = std::move(r.h), n]() mutable { h(std::error_code{}, n); });
    }

    asio::io_context& io_;
    std::optional<pending_read> read_;
    std::string inbox_;
    std::size_t per_read_ = 1000000;
    bool full_ = false;
    bool closed_ = false;
};

struct harness {
    asio::io_context io;
    memory_transport* t = nullptr;
    std::shared_ptr<connection> c;
    test::recorder rec;

    harness()
    {
        auto mt = std::make_unique<memory_transport>(io);
        t = mt.get();
        detail::connection_options o;
        o.merge_gets = 0;
        c = std::make_shared<connection>(io.get_executor(), server_address{"memory", 1}, o, nullptr,
                                         std::move(mt));
    }
    ~harness()
    {
        c->close(asio::error::operation_aborted);
        io.poll();
    }

    std::shared_ptr<test::recording_entry> submit(proto::request r)
    {
        auto e = std::make_shared<test::recording_entry>(std::move(r), rec);
        c->submit(e);
        return e;
    }

    /// Runs the handlers until `done` or nothing is left to run.
    template <class Pred>
    bool run_until(Pred done)
    {
        for (int i = 0; i < 10000 && !done(); ++i)
            if (io.poll() == 0 && !done())
                io.run_one_for(1ms);
        return done();
    }
};

} // namespace

TEST_CASE("connection shell: short writes through a transport that reports its byte counts",
          "[connection]")
{
    harness h;
    const std::string big(3000, 'b'); // a piece of its own in the gathered write
    auto a = h.submit(test::set_req("a", big));
    auto b = h.submit(test::single(proto::command::get, "b"));
    const std::string expected = "set a 0 0 3000\r\n" + big + "\r\nget b\r\n";
    REQUIRE(h.run_until([&] { return h.t->sent.size() == expected.size(); }));
    CHECK(h.t->sent == expected);
    CHECK(h.t->async_writes > 0);
    CHECK(h.t->connects == 1);
    CHECK(h.c->is_connected());
    h.t->deliver("STORED\r\nVALUE b 0 2\r\nhi\r\nEND\r\n", 3);
    REQUIRE(h.run_until([&] { return b->completions == 1; }));
    CHECK(a->completions == 1);
    CHECK(!a->ec);
    CHECK(a->resp.status == proto::reply_type::stored);
    REQUIRE(b->resp.items.size() == 1);
    CHECK(b->resp.items[0].value == "hi");
    CHECK(h.c->pending() == 0);
}

TEST_CASE("connection shell: a reset fails the requests on the wire; the next one reconnects",
          "[connection]")
{
    harness h;
    auto a = h.submit(test::single(proto::command::get, "a"));
    REQUIRE(h.run_until([&] { return h.t->sent == "get a\r\n"; }));
    h.t->reset();
    REQUIRE(h.run_until([&] { return a->completions == 1; }));
    CHECK(a->ec == errc::connection_lost);
    CHECK(a->cause == std::errc::connection_reset);
    auto b = h.submit(test::single(proto::command::get, "b"));
    REQUIRE(h.run_until([&] { return h.t->sent == "get a\r\nget b\r\n"; }));
    CHECK(h.t->connects == 2);
    CHECK(h.c->connects() == 2);
    h.t->deliver("END\r\n");
    REQUIRE(h.run_until([&] { return b->completions == 1; }));
    CHECK(!b->ec);
    CHECK(b->resp.items.empty());
}

TEST_CASE("connection shell: a refused connect fails the queue with its cause", "[connection]")
{
    harness h;
    h.t->refuse = std::make_error_code(std::errc::connection_refused);
    auto a = h.submit(test::single(proto::command::get, "a"));
    REQUIRE(h.run_until([&] { return a->completions == 1; }));
    CHECK(a->ec == errc::connection_failed);
    CHECK(a->cause == std::errc::connection_refused);
    CHECK(h.t->sent.empty());
}

TEST_CASE("connection shell: a write error ends the session", "[connection]")
{
    harness h;
    auto a = h.submit(test::single(proto::command::get, "a"));
    REQUIRE(h.run_until([&] { return h.t->sent == "get a\r\n"; }));
    h.t->write_error = std::make_error_code(std::errc::broken_pipe);
    // Queued behind a request on the wire: written when its reply is read.
    auto b = h.submit(test::single(proto::command::get, "b"));
    h.io.poll();
    CHECK(b->completions == 0);
    h.t->deliver("END\r\n");
    REQUIRE(h.run_until([&] { return b->completions == 1; }));
    CHECK(a->completions == 1);
    CHECK(!a->ec);
    CHECK(b->ec == errc::connection_lost); // staged into the failed write
    CHECK(b->cause == std::errc::broken_pipe);
    CHECK(h.t->sent == "get a\r\n");
}

TEST_CASE("connection shell: close fails everything and stops", "[connection]")
{
    harness h;
    auto a = h.submit(test::single(proto::command::get, "a"));
    REQUIRE(h.run_until([&] { return h.t->sent == "get a\r\n"; }));
    auto b = h.submit(test::single(proto::command::get, "b"));
    h.c->close(errc::shutting_down);
    h.io.poll();
    CHECK(a->ec == errc::shutting_down);
    CHECK(b->ec == errc::shutting_down);
    auto c = h.submit(test::single(proto::command::get, "c"));
    CHECK(c->completions == 1);
    CHECK(c->ec == asio::error::operation_aborted);
    CHECK(h.t->connects == 1);
}
