// memcached's ASCII authentication (memcached -Y) against a real memcached: credentials on every
// connection and every protocol, refusals (auth_failed naming the server, nothing else sent, the
// server not hammered), reconnects, a new auth file, a server without authentication, and the
// sources of credentials.
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"
#include "../support/stat.hpp"

#include <memcoro/client.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// A file that is removed with the object.
class temp_file {
public:
    explicit temp_file(const std::string& content)
    {
        char tmpl[] = "/tmp/memcoro-auth-XXXXXX";
        const int fd = ::mkstemp(tmpl);
        REQUIRE(fd >= 0);
        ::close(fd);
        path_ = tmpl;
        write(content);
    }
    ~temp_file() { std::remove(path_.c_str()); }
    void write(const std::string& content) const { std::ofstream(path_) << content; }
    const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

memcoro::client_config auth_config(const std::string& address, memcoro::credentials creds,
                                   memcoro::protocol p = memcoro::protocol::text)
{
    memcoro::client_config cfg;
    cfg.servers = memcoro::server_address::parse_list(address);
    cfg.auth = std::move(creds);
    cfg.protocol = p;
    cfg.connect_timeout = 1000ms;
    cfg.op_timeout = 2000ms;
    return cfg;
}

/// A counter of the server's `stats`, read by an authenticated client.
asio::awaitable<long long> server_stat(std::string address, std::string name)
{
    const memcoro::credentials admin_creds{"alice", "s3cret"};
    const auto cfg = auth_config(address, admin_creds);
    memcoro::client admin(co_await asio::this_coro::executor, cfg);
    auto st = co_await admin.async_stats();
    co_return std::stoll(memcoro::test::stat(st, name));
}

} // namespace

TEST_CASE("auth: the right credentials open every connection, on every protocol")
{
    temp_file users("alice:s3cret\nbob:hunter2\n");
    memcached_process mc({"-Y", users.path()});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (auto p :
             {memcoro::protocol::text, memcoro::protocol::meta, memcoro::protocol::automatic}) {
            const memcoro::credentials bob{"bob", "hunter2"};
            auto cfg = auth_config(mc.address(), bob, p);
            cfg.connections_per_server = 3;
            memcoro::client c(ex, cfg);
            // Enough concurrent calls to use every connection.
            int ok = 0, done = 0;
            for (int i = 0; i < 60; ++i)
                asio::co_spawn(
                    ex,
                    [&, i]() -> asio::awaitable<void> {
                        const std::string key = "auth:" + std::to_string(i);
                        co_await c.async_set(key, key);
                        auto v = co_await c.async_get(key);
                        if (v && v->value == key)
                            ++ok;
                    },
                    [&](std::exception_ptr) { ++done; });
            while (done < 60)
                co_await sleep_for(1ms);
            CHECK(ok == 60);
            const auto info = c.servers().at(0);
            CHECK(info.authenticated);
            CHECK(info.counters.connects == 3);
            CHECK(info.counters.errors == 0);
        }
    }());
}

TEST_CASE("auth: refused credentials fail with auth_failed naming the server, send nothing "
          "else, and count as connection failures")
{
    temp_file users("alice:s3cret\n");
    memcached_process mc({"-Y", users.path()});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const std::string address = mc.address();
        const std::string cmd_get = "cmd_get", cmd_set = "cmd_set";
        const long long gets_before = co_await server_stat(address, cmd_get);
        const long long sets_before = co_await server_stat(address, cmd_set);

        const memcoro::credentials wrong{"alice", "wrong"};
        auto cfg = auth_config(mc.address(), wrong);
        cfg.failure_limit = 3;
        cfg.retry_interval = 60s;
        memcoro::client c(ex, cfg);
        for (int i = 0; i < 3; ++i) {
            memcoro::diagnostics diag;
            const auto t0 = std::chrono::steady_clock::now();
            auto [ec, r] = co_await c.async_get("k", memcoro::with_diagnostics(diag, tuple));
            CHECK(ec == memcoro::errc::auth_failed);
            CHECK(diag.server == mc.address());
            CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
        }
        // Down after failure_limit refusals: the next calls fail at once, with no connection.
        auto info = c.servers().at(0);
        CHECK(info.status == memcoro::server_status::down);
        const auto connects = info.counters.connects;
        auto [ec, r] = co_await c.async_get("k", tuple);
        CHECK(ec == memcoro::errc::server_down);
        CHECK(c.servers().at(0).counters.connects == connects);
        try {
            memcoro::client again(ex, cfg);
            co_await again.async_set("k", "v");
            FAIL("no exception");
        } catch (const memcoro::error& e) {
            CHECK(e.code() == memcoro::errc::auth_failed);
            CHECK(std::string(e.what()).find(mc.address()) != std::string::npos);
            CHECK(std::string(e.what()).find("authentication failed") != std::string::npos);
        }
        // Nothing but the authentication reached the server: no get, and the only sets are
        // the two admin clients' authentications and the refused ones.
        const long long gets_after = co_await server_stat(address, cmd_get);
        CHECK(gets_after == gets_before);
        const long long sets_after = co_await server_stat(address, cmd_set);
        CHECK(sets_after - sets_before <= 6);
    }());
}

TEST_CASE("auth: credentials again on every reconnect, and a server restarted with a new "
          "auth file")
{
    temp_file users("alice:s3cret\n");
    memcached_process mc({"-Y", users.path()});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const memcoro::credentials alice{"alice", "s3cret"};
        auto cfg = auth_config(mc.address(), alice);
        cfg.retry_interval = 20ms;
        memcoro::client c(ex, cfg);
        co_await c.async_set("k", "before");

        mc.signal(SIGKILL);
        mc.wait();
        mc.restart();
        std::error_code last;
        for (int i = 0; i < 100; ++i) {
            auto [e, st] = co_await c.async_set("k", "after", {}, tuple);
            last = e;
            if (!e)
                break;
            co_await sleep_for(20ms);
        }
        CHECK_FALSE(last);
        CHECK(c.servers().at(0).counters.connects >= 2);

        // The password changes: the old one is refused on the next connection, the new one
        // works.
        users.write("alice:n3w-secret\n");
        mc.signal(SIGKILL);
        mc.wait();
        mc.restart();
        std::error_code refused;
        for (int i = 0; i < 100; ++i) {
            auto [e, v] = co_await c.async_get("k", tuple);
            refused = e;
            if (e == memcoro::errc::auth_failed)
                break;
            co_await sleep_for(20ms);
        }
        CHECK(refused == memcoro::errc::auth_failed);
        const memcoro::credentials renewed_creds{"alice", "n3w-secret"};
        const auto renewed_cfg = auth_config(mc.address(), renewed_creds);
        memcoro::client renewed(ex, renewed_cfg);
        auto [e, st] = co_await renewed.async_set("k", "renewed", {}, tuple);
        CHECK_FALSE(e);
    }());
}

TEST_CASE("auth: a server without authentication refuses the credentials and never stores them")
{
    memcached_process mc;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        const memcoro::credentials alice{"alice", "s3cret"};
        const auto cfg = auth_config(mc.address(), alice);
        memcoro::client c(ex, cfg);
        auto [ec, r] = co_await c.async_get("k", tuple);
        CHECK(ec == memcoro::errc::auth_failed);

        memcoro::client_config plain;
        plain.servers = memcoro::server_address::parse_list(mc.address());
        memcoro::client p(ex, plain);
        auto st = co_await p.async_stats();
        CHECK(memcoro::test::stat(st, "curr_items") == "0");
        CHECK(memcoro::test::stat(st, "total_items") == "0");
    }());
}

TEST_CASE("auth: credentials that cannot be sent are refused at configuration")
{
    asio::io_context ioc;
    for (const memcoro::credentials& bad :
         {memcoro::credentials{"", "pw"}, memcoro::credentials{"user", ""},
          memcoro::credentials{"us er", "pw"}, memcoro::credentials{"user", "p w"},
          memcoro::credentials{"user", "pw\r\nflush_all"}}) {
        CHECK_FALSE(memcoro::invalid_credentials_reason(bad).empty());
        CHECK_THROWS_AS(memcoro::client(ioc.get_executor(), auth_config("127.0.0.1:1", bad)),
                        std::invalid_argument);
    }
    CHECK(memcoro::invalid_credentials_reason({"user", "pw"}).empty());
}

TEST_CASE("auth: credentials from a file and from the environment")
{
    temp_file f("alice:s3:cr3t\r\nignored:line\n");
    const auto c = memcoro::credentials::from_file(f.path());
    CHECK(c.username == "alice");
    CHECK(c.password == "s3:cr3t"); // the password is everything after the first ':'
    temp_file no_colon("alice\n");
    CHECK_THROWS_WITH(memcoro::credentials::from_file(no_colon.path()),
                      Catch::Contains(no_colon.path()));
    CHECK_THROWS_WITH(memcoro::credentials::from_file("/nonexistent/memcoro-auth"),
                      Catch::Contains("/nonexistent/memcoro-auth"));

    ::unsetenv("MEMCACHED_USERNAME");
    ::unsetenv("MEMCACHED_PASSWORD");
    ::unsetenv("MEMCACHED_PASSWORD_FILE");
    CHECK_FALSE(memcoro::credentials::from_environment());
    ::setenv("MEMCACHED_USERNAME", "bob", 1);
    CHECK_THROWS_AS(memcoro::credentials::from_environment(), std::invalid_argument);
    ::setenv("MEMCACHED_PASSWORD", "hunter2", 1);
    auto env = memcoro::credentials::from_environment();
    REQUIRE(env);
    CHECK(env->username == "bob");
    CHECK(env->password == "hunter2");
    temp_file pw("from-file\n");
    ::setenv("MEMCACHED_PASSWORD_FILE", pw.path().c_str(), 1);
    env = memcoro::credentials::from_environment();
    REQUIRE(env);
    CHECK(env->password == "from-file"); // the file wins over the variable
    ::unsetenv("MEMCACHED_USERNAME");
    ::unsetenv("MEMCACHED_PASSWORD");
    ::unsetenv("MEMCACHED_PASSWORD_FILE");
}
