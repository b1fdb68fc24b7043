// Servers that cannot be reached: refused, unresolvable, silent, or accepting and hanging up
// (scenario 6 of docs/reliability.md).
#include "faults_common.hpp"

#include <asio/detached.hpp>

#include <dlfcn.h>
#include <netdb.h>

#include <condition_variable>
#include <cstring>
#include <mutex>

using namespace memcoro::faults;

namespace {

/// A host name whose lookup hangs, as one waiting on an unreachable DNS server does: this
/// program's getaddrinfo (below) holds every lookup of it until the test releases them.
constexpr const char* hanging_name = "memcoro-hanging-lookup.invalid";

struct lookup_gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    int held = 0; // lookups of hanging_name that have started
};
lookup_gate gate;

/// Holds lookups of hanging_name from now until it is destroyed (declare it after the
/// io_context: the io_context's destructor joins the resolver's thread).
struct hold_lookups {
    hold_lookups()
    {
        std::lock_guard lock(gate.m);
        gate.open = false;
        gate.held = 0;
    }
    ~hold_lookups()
    {
        {
            std::lock_guard lock(gate.m);
            gate.open = true;
        }
        gate.cv.notify_all();
    }
    int held()
    {
        std::lock_guard lock(gate.m);
        return gate.held;
    }
};

struct failure {
    std::error_code ec;
    std::string server;
    std::string what;
    double took_ms = 0;
};

/// One get with the default token; the memcoro::error it throws, and how long it took.
asio::awaitable<failure> failing_get(memcoro::client& c)
{
    failure f;
    const auto t = clock::now();
    try {
        co_await c.async_get("k");
        f.what = "no error";
    } catch (const memcoro::error& e) {
        f.ec = e.code();
        f.server = e.server();
        f.what = e.what();
    }
    f.took_ms = to_ms(clock::now() - t);
    co_return f;
}

} // namespace

// Every lookup of the program comes here; all but those of hanging_name go on to the real one.
extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res)
{
    using real_fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
    static const auto real = reinterpret_cast<real_fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
    if (node && std::strcmp(node, hanging_name) == 0) {
        std::unique_lock lock(gate.m);
        ++gate.held;
        gate.cv.wait_for(lock, std::chrono::seconds(30), [] { return gate.open; });
        return EAI_AGAIN; // what a DNS timeout reports
    }
    return real(node, service, hints, res);
}

// Scenario 6.
TEST_CASE("connect: a refused connection fails quickly with connection_failed naming the server",
          "[faults][connect]")
{
    asio::io_context ioc;
    refusing_port port(ioc);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(port.address(), 2000ms);
        cfg.connect_timeout = 2000ms; // "quick" must not be the connect timeout
        memcoro::client c(ex, cfg);
        auto f = co_await failing_get(c);
        INFO(f.what);
        CHECK(f.ec == memcoro::errc::connection_failed);
        CHECK(f.server == port.address());
        CHECK(f.what.find(port.address()) != std::string::npos);
        CHECK(f.took_ms < to_ms(load_slack));
        auto again = co_await failing_get(c);
        CHECK(again.ec == memcoro::errc::connection_failed);
        CHECK(again.took_ms < to_ms(load_slack));
        WARN("refused: connection_failed after " << f.took_ms << " ms, then " << again.took_ms
                                                 << " ms: " << f.what);
    }());
}

TEST_CASE("connect: a name that does not resolve fails quickly with resolve_failed naming it",
          "[faults][connect]")
{
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // Not a valid host name ('!'): glibc refuses it without asking any DNS server, so the
        // test sends nothing off this machine.
        memcoro::server_address a;
        a.host = "no-such-host!.invalid";
        a.port = 11211;
        memcoro::client_config cfg;
        cfg.servers = {a};
        cfg.connect_timeout = 2000ms; // "quick" must not be the connect timeout
        memcoro::client c(ex, cfg);
        auto f = co_await failing_get(c);
        INFO(f.what);
        CHECK(f.ec == memcoro::errc::resolve_failed);
        CHECK(f.server == "no-such-host!.invalid:11211");
        CHECK(f.what.find("no-such-host!.invalid:11211") != std::string::npos);
        CHECK(f.took_ms < to_ms(load_slack));
        WARN("unresolvable: resolve_failed after " << f.took_ms << " ms: " << f.what);
    }());
}

TEST_CASE("connect: a host name lookup that hangs fails at connect_timeout; a client closed "
          "meanwhile answers at once",
          "[faults][connect]")
{
    asio::io_context ioc;
    hold_lookups hold; // after ioc: released before ioc joins the resolver's thread
    constexpr ms connect_timeout = 200ms;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        memcoro::server_address a;
        a.host = hanging_name;
        a.port = 11211;
        memcoro::client_config cfg;
        cfg.servers = {a};
        cfg.connect_timeout = connect_timeout;
        {
            memcoro::client c(ex, cfg);
            auto f = co_await failing_get(c);
            INFO(f.what);
            CHECK(hold.held() == 1); // the lookup was made, and is still hanging
            CHECK(f.ec == memcoro::errc::connect_timeout);
            CHECK(f.server == std::string(hanging_name) + ":11211");
            CHECK(f.took_ms >= to_ms(connect_timeout) - 1);
            CHECK(f.took_ms <= to_ms(connect_timeout + load_slack));
            WARN("hanging lookup: connect_timeout after " << f.took_ms << " ms");
        }
        // Closed while its lookup hangs (behind the first one, on the resolver's one
        // thread): the call ends at once with operation_aborted.
        cfg.connect_timeout = 10s;
        memcoro::client c(ex, cfg);
        failure f;
        bool done = false;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                f = co_await failing_get(c);
                done = true;
            },
            asio::detached);
        asio::steady_timer t(ex, 50ms);
        co_await t.async_wait(asio::use_awaitable);
        CHECK_FALSE(done);
        const auto closed_at = clock::now();
        c.close();
        while (!done && clock::now() - closed_at < 5s) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        INFO(f.what);
        CHECK(done);
        CHECK(f.ec == asio::error::operation_aborted);
        CHECK(to_ms(clock::now() - closed_at) <= to_ms(load_slack));
    }());
}

TEST_CASE("connect: a server that never completes the handshake fails with connect_timeout at "
          "connect_timeout",
          "[faults][connect]")
{
    asio::io_context ioc;
    black_hole hole(ioc);
    constexpr ms connect_timeout = 200ms;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(hole.address(), 2000ms);
        cfg.connect_timeout = connect_timeout;
        memcoro::client c(ex, cfg);
        auto f = co_await failing_get(c);
        INFO(f.what);
        CHECK(f.ec == memcoro::errc::connect_timeout);
        CHECK(f.server == hole.address());
        CHECK(f.what.find(hole.address()) != std::string::npos);
        CHECK(f.took_ms >= to_ms(connect_timeout) - 1);
        CHECK(f.took_ms <= to_ms(connect_timeout + load_slack));
        WARN("black hole: connect_timeout after " << f.took_ms << " ms (connect_timeout "
                                                  << connect_timeout.count() << " ms)");
    }());
}

TEST_CASE("connect: a Unix socket path that does not exist fails with connection_failed",
          "[faults][connect]")
{
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const std::string path = "/tmp/memcoro-faults-no-such-socket";
        memcoro::client c(ex, path);
        auto f = co_await failing_get(c);
        CHECK(f.ec == memcoro::errc::connection_failed);
        CHECK(f.server == path);
        CHECK(f.took_ms < to_ms(load_slack));
    }());
}

TEST_CASE("connect: a server that accepts and hangs up at once fails calls with "
          "connection_lost, without a reconnect storm",
          "[faults][connect][proxy]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    proxy.set_accept_mode(fault_proxy::accept_mode::close_at_once);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(proxy.address(), 2000ms);
        cfg.failure_limit = 1000000;
        memcoro::client c(ex, cfg);
        constexpr int calls = 50;
        double worst = 0;
        for (int i = 0; i < calls; ++i) {
            const auto t = clock::now();
            auto [ec, r] = co_await c.async_get("k", tuple);
            worst = std::max(worst, to_ms(clock::now() - t));
            CHECK((ec == memcoro::errc::connection_lost || ec == memcoro::errc::connection_failed));
        }
        CHECK(worst < to_ms(load_slack));
        // At most one connection per call: the client does not spin on a server that hangs up.
        CHECK(proxy.connections() <= calls);
        CHECK(proxy.connections() >= 1);
        WARN("hang-up: " << calls << " calls failed, worst " << worst << " ms, "
                         << proxy.connections() << " connections accepted");
        proxy.set_accept_mode(fault_proxy::accept_mode::normal);
        co_await c.async_set("k", "v");
        auto v = co_await c.async_get("k");
        REQUIRE(v);
        CHECK(v->value == "v");
    }());
}

TEST_CASE("connect: a proxy that stops listening refuses; one that stops accepting times out",
          "[faults][connect][proxy]")
{
    memcached_process mc;
    fault_proxy proxy(mc.port());
    asio::io_context ioc;
    constexpr ms op_timeout = 300ms;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = config_for(proxy.address(), op_timeout);
        cfg.failure_limit = 1000000;
        memcoro::client c(ex, cfg);
        co_await c.async_set("k", "v");
        proxy.drop_connections();
        proxy.set_accept_mode(fault_proxy::accept_mode::reject);
        co_await wait_until([&] { return proxy.active() == 0; }, 2s);
        co_await sleep_for(20ms); // the client has seen its connection go
        {
            auto f = co_await failing_get(c);
            CHECK(f.ec == memcoro::errc::connection_failed);
            CHECK(f.server == proxy.address());
            CHECK(f.took_ms < to_ms(load_slack));
        }
        // Not accepting: the kernel completes the handshake into the backlog, so the request
        // is written and simply never answered: a timeout at the deadline.
        proxy.set_accept_mode(fault_proxy::accept_mode::stop_accepting);
        co_await sleep_for(20ms);
        {
            auto f = co_await failing_get(c);
            CHECK(f.ec == memcoro::errc::timeout);
            CHECK(f.took_ms >= to_ms(op_timeout) - 1);
            CHECK(f.took_ms <= to_ms(op_timeout + load_slack));
        }
        proxy.set_accept_mode(fault_proxy::accept_mode::normal);
        const auto back = clock::now();
        std::error_code last;
        for (int i = 0; i < 200; ++i) {
            auto [ec, r] = co_await c.async_get("k", tuple);
            last = ec;
            if (!ec) {
                REQUIRE(r);
                CHECK(r->value == "v");
                break;
            }
            co_await sleep_for(10ms);
        }
        CHECK_FALSE(last);
        WARN("listening again: served after " << to_ms(clock::now() - back) << " ms");
    }());
}
