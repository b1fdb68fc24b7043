// The trace hook's events, from what a server's monitor is told: connects and reconnects,
// connection failures with the system error underneath, protocol errors, up/down changes, slow
// requests and rejected calls, each at its level. No sockets: the tracer is fed by hand, its
// events delivered on an io_context.

#include <memcoro/detail/gather.hpp>
#include <memcoro/detail/server_tracer.hpp>
#include <memcoro/error.hpp>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace memcoro;
using namespace std::chrono_literals;

namespace {

/// An event, its views copied.
struct seen {
    trace_kind kind;
    trace_level level;
    std::string server;
    std::error_code ec, cause;
    std::string command, key;
    std::size_t keys;
    std::chrono::microseconds latency;
    std::string line;
};

struct fixture {
    asio::io_context ioc;
    std::vector<seen> events;
    detail::hook_gate gate = std::make_shared<std::atomic<bool>>(true);
    std::shared_ptr<detail::server_tracer> tracer;

    explicit fixture(trace_level level = trace_level::debug, std::chrono::milliseconds slow = 100ms)
    {
        client_config cfg;
        cfg.trace_level = level;
        cfg.slow_request_threshold = slow;
        cfg.on_trace = [this](const trace_event& e) {
            events.push_back({e.kind, e.level, std::string(e.server), e.ec, e.cause,
                              std::string(e.command), std::string(e.key), e.keys, e.latency,
                              describe(e)});
        };
        tracer = detail::server_tracer::make(cfg, "10.0.0.1:11211", ioc.get_executor(), gate);
        REQUIRE(tracer);
    }

    /// The events delivered so far (they are posted).
    const std::vector<seen>& delivered()
    {
        ioc.restart();
        ioc.run();
        return events;
    }

    std::vector<trace_kind> kinds()
    {
        std::vector<trace_kind> k;
        for (const auto& e : delivered())
            k.push_back(e.kind);
        return k;
    }
};

/// A finished request: a get of `keys` (or a set of one key), with its error.
std::shared_ptr<detail::op_entry> request(std::vector<std::string> keys, std::error_code ec = {},
                                          std::error_code cause = {})
{
    auto r = detail::make_request<proto::retrieval>();
    detail::as<proto::retrieval>(r).keys.own() = std::move(keys);
    auto e = std::make_shared<detail::unanswered_entry>(std::move(r));
    e->ec = ec;
    e->cause = cause;
    return e;
}

} // namespace

TEST_CASE("trace: no callback, no tracer")
{
    asio::io_context ioc;
    auto gate = std::make_shared<std::atomic<bool>>(true);
    client_config cfg;
    CHECK_FALSE(detail::server_tracer::make(cfg, "s", ioc.get_executor(), gate));
    cfg.on_trace = [](const trace_event&) {};
    CHECK(detail::server_tracer::make(cfg, "s", ioc.get_executor(), gate));
}

TEST_CASE("trace: an event posted before the client is destroyed is dropped, not delivered")
{
    fixture f;
    f.tracer->connected();
    f.tracer->connection_failed(errc::connection_lost, asio::error::connection_reset);
    f.gate->store(false); // what ~client does
    CHECK(f.delivered().empty());
    f.tracer->connected();
    CHECK(f.delivered().empty());
}

TEST_CASE("trace: a connection, its failure with the system error, and the one after it")
{
    fixture f;
    f.tracer->connected();
    // The connection breaks, with the socket's error underneath.
    f.tracer->connection_failed(errc::connection_lost, asio::error::connection_reset);
    f.tracer->connected();
    const auto& e = f.delivered();
    REQUIRE(e.size() == 3);
    CHECK(e[0].kind == trace_kind::connected);
    CHECK(e[0].level == trace_level::info);
    CHECK(e[0].server == "10.0.0.1:11211");
    CHECK(e[1].kind == trace_kind::connection_failed);
    CHECK(e[1].level == trace_level::warning);
    CHECK(e[1].ec == errc::connection_lost);
    CHECK(e[1].cause == asio::error::connection_reset);
    CHECK(e[1].line ==
          "10.0.0.1:11211: connection failed: " + make_error_code(errc::connection_lost).message() +
              " (" + std::error_code(asio::error::connection_reset).message() + ")");
    CHECK(e[2].kind == trace_kind::reconnected);
    // And a connection after that one is a plain connect.
    f.tracer->connected();
    CHECK(f.delivered().back().kind == trace_kind::connected);
}

TEST_CASE("trace: each failed connect has its own cause, or none")
{
    fixture f;
    f.tracer->connection_failed(errc::connect_timeout);
    f.tracer->connection_failed(errc::connection_failed, asio::error::connection_refused);
    const auto& e = f.delivered();
    REQUIRE(e.size() == 2);
    CHECK(e[0].ec == errc::connect_timeout);
    CHECK_FALSE(e[0].cause);
    CHECK(e[1].ec == errc::connection_failed);
    CHECK(e[1].cause == asio::error::connection_refused);
}

TEST_CASE("trace: a protocol error is an error of its own")
{
    fixture f;
    f.tracer->connection_failed(errc::protocol_desync);
    const auto& e = f.delivered();
    REQUIRE(e.size() == 1);
    CHECK(e[0].kind == trace_kind::protocol_error);
    CHECK(e[0].level == trace_level::error);
    CHECK(e[0].ec == errc::protocol_desync);
}

TEST_CASE("trace: up/down transitions with their reason")
{
    fixture f;
    f.tracer->status_changed(server_status::down, errc::timeout);
    f.tracer->status_changed(server_status::up, {});
    const auto& e = f.delivered();
    REQUIRE(e.size() == 2);
    CHECK(e[0].kind == trace_kind::server_down);
    CHECK(e[0].level == trace_level::error);
    CHECK(e[0].ec == errc::timeout);
    CHECK(e[0].line == "10.0.0.1:11211: marked down: " + e[0].ec.message());
    CHECK(e[1].kind == trace_kind::server_up);
    CHECK(e[1].level == trace_level::info);
    CHECK_FALSE(e[1].ec);
}

TEST_CASE("trace: a request slower than the threshold, with its command, key and latency")
{
    fixture f(trace_level::info, 100ms);
    f.tracer->finished(*request({"fast"}), 99ms);
    f.tracer->finished(*request({"unknown"}), -1ns); // never sent: no latency
    f.tracer->finished(*request({"exactly"}), 100ms);
    f.tracer->finished(*request({"slow", "other"}), 250ms);
    f.tracer->finished(*request({"timed-out"}, errc::timeout), 1s);
    const auto& e = f.delivered();
    REQUIRE(e.size() == 2);
    CHECK(e[0].kind == trace_kind::slow_request);
    CHECK(e[0].level == trace_level::warning);
    CHECK(e[0].command == "get");
    CHECK(e[0].key == "slow");
    CHECK(e[0].keys == 2);
    CHECK(e[0].latency == 250ms);
    CHECK_FALSE(e[0].ec);
    CHECK(e[0].line == "10.0.0.1:11211: slow request: get slow (2 keys) took 250 ms");
    CHECK(e[1].key == "timed-out");
    CHECK(e[1].ec == errc::timeout);

    // Other commands name themselves.
    auto r = detail::make_request<proto::arithmetic>();
    detail::as<proto::arithmetic>(r).key = "counter";
    detail::as<proto::arithmetic>(r).decrement = true;
    detail::unanswered_entry decr(std::move(r));
    f.tracer->finished(decr, 2s);
    REQUIRE(f.delivered().size() == 3);
    CHECK(f.events.back().command == "decr");
    CHECK(f.events.back().key == "counter");
    CHECK(f.events.back().keys == 1);
    detail::unanswered_entry version(detail::make_request<proto::version>());
    f.tracer->finished(version, 2s);
    REQUIRE(f.delivered().size() == 4);
    CHECK(f.events.back().command == "version");
    CHECK(f.events.back().keys == 0);
    CHECK(f.events.back().line == "10.0.0.1:11211: slow request: version (0 keys) took 2000 ms");
}

TEST_CASE("trace: a zero threshold reports no slow request")
{
    fixture f(trace_level::debug, 0ms);
    f.tracer->finished(*request({"a"}), 10s);
    CHECK(f.delivered().empty());
}

TEST_CASE("trace: each level reports its events and those above it")
{
    const auto everything = [](fixture& f) {
        f.tracer->connected();
        f.tracer->connection_failed(errc::connection_failed);
        f.tracer->connection_failed(errc::protocol_error);
        f.tracer->status_changed(server_status::down, errc::connection_failed);
        f.tracer->finished(*request({"slow"}), 1s);
        f.tracer->rejected();
        f.tracer->status_changed(server_status::up, {});
        f.tracer->connected();
        return f.kinds();
    };
    using k = trace_kind;
    {
        fixture f(trace_level::error);
        CHECK(everything(f) == std::vector<k>{k::protocol_error, k::server_down});
    }
    {
        fixture f(trace_level::warning);
        CHECK(everything(f) == std::vector<k>{k::connection_failed, k::protocol_error,
                                              k::server_down, k::slow_request});
    }
    {
        fixture f(trace_level::info);
        CHECK(everything(f) == std::vector<k>{k::connected, k::connection_failed, k::protocol_error,
                                              k::server_down, k::slow_request, k::server_up,
                                              k::reconnected});
    }
    {
        fixture f(trace_level::debug);
        CHECK(everything(f) == std::vector<k>{k::connected, k::connection_failed, k::protocol_error,
                                              k::server_down, k::slow_request, k::rejected,
                                              k::server_up, k::reconnected});
        CHECK(f.events[5].ec == errc::server_down);
        CHECK(f.events[5].level == trace_level::debug);
    }
}

TEST_CASE("trace: names of levels and kinds")
{
    CHECK(std::string(to_string(trace_level::warning)) == "warning");
    CHECK(std::string(to_string(trace_kind::reconnected)) == "reconnected");
    CHECK(std::string(to_string(trace_kind::slow_request)) == "slow request");
}
