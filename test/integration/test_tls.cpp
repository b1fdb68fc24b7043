// TLS against a real memcached (-Z) with certificates the fixture makes: verification by
// default, each refusal with its reason and within connect_timeout, mutual TLS, session
// resumption, a server killed mid-stream, a handshake that stalls, and TLS with authentication.
#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"
#include "../support/tls_certs.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::memcached_tls_args;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;
using memcoro::test::tls_certs;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

const tls_certs& certs()
{
    return memcoro::test::shared_tls_certs();
}

/// A client configuration for `address` over TLS, trusting the fixture's CA.
memcoro::client_config tls_config(const std::string& address)
{
    memcoro::client_config cfg;
    cfg.servers = memcoro::server_address::parse_list("tls://" + address);
    cfg.tls.ca_file = certs().ca_file();
    cfg.connect_timeout = 1000ms;
    cfg.op_timeout = 3000ms;
    return cfg;
}

/// memcached serving TLS with `cert`/`key` (and `more` arguments).
std::vector<std::string> tls_server(const std::string& cert, const std::string& key,
                                    std::vector<std::string> more = {})
{
    auto args = memcached_tls_args(cert, key);
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

struct outcome {
    std::error_code ec;
    memcoro::diagnostics diag;
    std::chrono::milliseconds took{};
};

/// One get through `c`, with its error, diagnostics and duration.
asio::awaitable<outcome> try_get(memcoro::client& c, std::string key)
{
    outcome o;
    const auto t0 = std::chrono::steady_clock::now();
    auto [ec, r] = co_await c.async_get(key, memcoro::with_diagnostics(o.diag, tuple));
    o.ec = ec;
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    co_return o;
}

bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("TLS: every operation over a verified connection, by IP address and by host name")
{
    memcached_process mc(tls_server(certs().server_cert(), certs().server_key()));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (const std::string host : {"127.0.0.1", "localhost"}) {
            memcoro::client c(ex, tls_config(host + ":" + std::to_string(mc.port())));
            const std::string k = "tls:" + host;
            const auto st = co_await c.async_set(k, "value over TLS");
            CHECK(st == memcoro::store_status::stored);
            auto v = co_await c.async_get(k);
            REQUIRE(v);
            CHECK(v->value == "value over TLS");
            // Values bigger than a TLS record, and a multi-get, pipelined.
            const std::string big(300 * 1024, 'b');
            std::vector<std::string> keys;
            for (int i = 0; i < 50; ++i) {
                keys.push_back(k + ":" + std::to_string(i));
                co_await c.async_set(keys.back(), i % 10 == 0 ? big : keys.back());
            }
            auto got = co_await c.async_get_multi(keys);
            REQUIRE(got.hits.size() == keys.size());
            for (std::size_t i = 0; i < keys.size(); ++i)
                CHECK(got.hits[i].value == (i % 10 == 0 ? big : keys[i]));
            const auto info = c.servers().at(0);
            CHECK(info.tls);
            CHECK(info.tls_handshakes == 1);
        }
    }());
}

TEST_CASE("TLS: refused certificates fail with tls_verify_failed, the reason and the server, "
          "within connect_timeout")
{
    struct refusal {
        const char* what;
        std::string cert, key, host, reason;
    };
    const std::vector<refusal> cases = {
        {"unknown CA", certs().untrusted_cert(), certs().untrusted_key(), "127.0.0.1",
         "unable to get local issuer certificate"},
        {"another host name", certs().wrong_host_cert(), certs().wrong_host_key(), "localhost",
         "hostname mismatch"},
        {"another IP address", certs().wrong_host_cert(), certs().wrong_host_key(), "127.0.0.1",
         "IP address mismatch"},
        {"expired", certs().expired_cert(), certs().expired_key(), "127.0.0.1",
         "certificate has expired"},
    };
    for (const auto& rc : cases) {
        SECTION(rc.what)
        {
            memcached_process mc(tls_server(rc.cert, rc.key));
            asio::io_context ioc;
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                const std::string address = rc.host + ":" + std::to_string(mc.port());
                memcoro::client c(co_await asio::this_coro::executor, tls_config(address));
                auto o = co_await try_get(c, "k");
                CHECK(o.ec == memcoro::errc::tls_verify_failed);
                CHECK(o.diag.server == address);
                CHECK(o.diag.cause.category().name() == std::string("memcoro.x509"));
                CHECK(contains(o.diag.cause.message(), rc.reason));
                CHECK(o.took < 1000ms);
                // The exception names the server and says why.
                try {
                    co_await c.async_get("k");
                    FAIL("no exception");
                } catch (const memcoro::error& e) {
                    CHECK(contains(e.what(), address));
                    CHECK(contains(e.what(), rc.reason));
                }
                // Without verification the same server is reached (a choice made by name).
                auto cfg = tls_config(address);
                cfg.tls.verify_peer = false;
                memcoro::client unchecked(co_await asio::this_coro::executor, cfg);
                const auto st = co_await unchecked.async_set("k", "v");
                CHECK(st == memcoro::store_status::stored);
            }());
        }
    }
}

TEST_CASE("TLS: the wrong side of a plaintext or TLS port fails within connect_timeout")
{
    SECTION("a TLS client talking to a plaintext memcached")
    {
        memcached_process mc;
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            memcoro::client c(co_await asio::this_coro::executor, tls_config(mc.address()));
            auto o = co_await try_get(c, "k");
            // memcached takes the ClientHello for a command line: it answers an error line
            // (not a TLS record), or waits for the line's end until the deadline.
            CHECK((o.ec == memcoro::errc::tls_handshake_failed ||
                   o.ec == memcoro::errc::connect_timeout));
            CHECK(o.diag.server == mc.address());
            CHECK(o.took < 1500ms);
        }());
    }
    SECTION("a plaintext client talking to a TLS memcached")
    {
        memcached_process mc(tls_server(certs().server_cert(), certs().server_key()));
        for (auto p :
             {memcoro::protocol::text, memcoro::protocol::meta, memcoro::protocol::automatic}) {
            asio::io_context ioc;
            run_coro(ioc, [&]() -> asio::awaitable<void> {
                memcoro::client_config cfg;
                cfg.servers = memcoro::server_address::parse_list(mc.address());
                cfg.protocol = p;
                cfg.connect_timeout = 1000ms;
                cfg.op_timeout = 10000ms;
                memcoro::client c(co_await asio::this_coro::executor, cfg);
                auto o = co_await try_get(c, "k");
                // memcached resets a connection whose first bytes are not a TLS handshake.
                CHECK(o.ec);
                CHECK(o.diag.server == mc.address());
                CHECK(o.took < 1500ms); // not the op timeout
            }());
        }
    }
}

TEST_CASE("mutual TLS: a client certificate the server trusts is required")
{
    memcached_process mc(
        memcached_tls_args(certs().server_cert(), certs().server_key(), certs().ca_file()));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = tls_config(mc.address());
        cfg.tls.cert_file = certs().client_cert();
        cfg.tls.key_file = certs().client_key();
        memcoro::client with_cert(ex, cfg);
        const auto st = co_await with_cert.async_set("mtls", "ok");
        CHECK(st == memcoro::store_status::stored);
        const auto v = co_await with_cert.async_get("mtls");
        CHECK((v && v->value == "ok"));

        for (const bool untrusted : {false, true}) {
            auto other = tls_config(mc.address());
            if (untrusted) {
                other.tls.cert_file = certs().untrusted_client_cert();
                other.tls.key_file = certs().untrusted_client_key();
            }
            memcoro::client refused(ex, other);
            auto o = co_await try_get(refused, "mtls");
            // TLS 1.3 finishes the client's handshake before the server checks the client's
            // certificate: the server's alert comes with the first reply.
            CHECK(o.ec);
            CHECK(o.diag.server == mc.address());
            CHECK(o.took < 1500ms);
            // (Under load the server's reset may overtake its alert.)
            const std::string why = o.diag.cause.message();
            CHECK((contains(why, "certificate") || contains(why, "unknown ca") ||
                   o.diag.cause == asio::error::connection_reset));
        }
    }());
    // A key that does not belong to its certificate is refused at configuration.
    auto bad = tls_config(mc.address());
    bad.tls.cert_file = certs().client_cert();
    bad.tls.key_file = certs().server_key();
    CHECK_THROWS_WITH(memcoro::client(ioc.get_executor(), bad), Catch::Contains("client key"));
    auto missing = tls_config(mc.address());
    missing.tls.ca_file = certs().dir() + "/no-such-ca.pem";
    CHECK_THROWS_WITH(memcoro::client(ioc.get_executor(), missing),
                      Catch::Contains("no-such-ca.pem"));
}

TEST_CASE("TLS: a reconnect resumes the session where the server keeps sessions")
{
    // idle_timeout: memcached closes a connection idle for a second (its check runs every
    // second or so), so the next call reconnects.
    memcached_process mc(tls_server(certs().server_cert(), certs().server_key(),
                                    {"-o", "ssl_session_cache,idle_timeout=1"}));
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = tls_config(mc.address());
            memcoro::client c(co_await asio::this_coro::executor, cfg);
            co_await c.async_set("resume", "1");
            // A get after every idle close: each reconnect resumes.
            for (int i = 0; i < 2; ++i) {
                co_await sleep_for(4000ms);
                auto [ec, v] = co_await c.async_get("resume", tuple);
                if (ec) // the close raced the get: once more
                    std::tie(ec, v) = co_await c.async_get("resume", tuple);
                CHECK_FALSE(ec);
                CHECK((v && v->value == "1"));
            }
            const auto info = c.servers().at(0);
            CHECK(info.tls_handshakes >= 3);
            CHECK(info.tls_resumed >= 2);
            CHECK(info.tls_resumed == info.tls_handshakes - 1);

            // Turned off: every handshake is a full one.
            cfg.tls.resume_sessions = false;
            memcoro::client full(co_await asio::this_coro::executor, cfg);
            co_await full.async_set("resume", "2");
            co_await sleep_for(4000ms);
            auto [ec, v] = co_await full.async_get("resume", tuple);
            if (ec)
                std::tie(ec, v) = co_await full.async_get("resume", tuple);
            CHECK_FALSE(ec);
            CHECK(full.servers().at(0).tls_handshakes >= 2);
            CHECK(full.servers().at(0).tls_resumed == 0);
        }(),
        40s);
}

TEST_CASE("TLS: a server killed mid-stream; the client reconnects and carries on")
{
    memcached_process mc(tls_server(certs().server_cert(), certs().server_key()));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto cfg = tls_config(mc.address());
        cfg.retry_interval = 20ms;
        memcoro::client c(ex, cfg);
        int wrong = 0, failed = 0, ok = 0, done = 0;
        bool killed = false;
        for (int w = 0; w < 16; ++w) {
            asio::co_spawn(
                ex,
                [&, w]() -> asio::awaitable<void> {
                    for (int i = 0; i < 200; ++i) {
                        const std::string key = "kill:" + std::to_string(w);
                        const std::string value = std::to_string(w * 100000 + i);
                        auto [e1, st] = co_await c.async_set(key, value, {}, tuple);
                        auto [e2, r] = co_await c.async_get(key, tuple);
                        if (e1 || e2)
                            ++failed;
                        else if (!r || r->value != value)
                            ++wrong;
                        else
                            ++ok;
                        if (w == 0 && i == 50 && !killed) {
                            killed = true;
                            mc.signal(SIGKILL);
                            mc.wait();
                            mc.restart();
                        }
                        if (e1 || e2)
                            co_await sleep_for(5ms);
                    }
                },
                [&](std::exception_ptr) { ++done; });
        }
        while (done < 16)
            co_await sleep_for(5ms);
        CHECK(killed);
        CHECK(wrong == 0);
        CHECK(failed > 0);
        CHECK(ok > 16 * 100);
        CHECK(c.servers().at(0).tls_handshakes >= 2);
        const auto last = co_await c.async_get("kill:3");
        CHECK(last.has_value());
    }());
}

TEST_CASE("TLS: a server that stalls during the handshake fails within connect_timeout")
{
    memcached_process mc(tls_server(certs().server_cert(), certs().server_key()));
    mc.signal(SIGSTOP); // the kernel still accepts the connection; nobody answers
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = tls_config(mc.address());
        cfg.connect_timeout = 300ms;
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        auto o = co_await try_get(c, "k");
        CHECK(o.ec == memcoro::errc::connect_timeout);
        CHECK(o.took >= 250ms);
        CHECK(o.took < 1000ms);
    }());
    mc.signal(SIGCONT);
}

TEST_CASE("TLS with authentication: credentials go inside the TLS session")
{
    const std::string auth_file = certs().dir() + "/tls-auth";
    std::ofstream(auth_file) << "tls-user:tls-pass\n";
    memcached_process mc(
        tls_server(certs().server_cert(), certs().server_key(), {"-Y", auth_file}));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (auto p :
             {memcoro::protocol::text, memcoro::protocol::meta, memcoro::protocol::automatic}) {
            auto cfg = tls_config(mc.address());
            cfg.protocol = p;
            const memcoro::credentials good{"tls-user", "tls-pass"};
            cfg.auth = good;
            memcoro::client c(ex, cfg);
            const auto st = co_await c.async_set("tls-auth", "yes");
            CHECK(st == memcoro::store_status::stored);
            const auto v = co_await c.async_get("tls-auth");
            CHECK((v && v->value == "yes"));

            const memcoro::credentials wrong{"tls-user", "wrong"};
            cfg.auth = wrong;
            memcoro::client refused(ex, cfg);
            auto o = co_await try_get(refused, "tls-auth");
            CHECK(o.ec == memcoro::errc::auth_failed);
            CHECK(o.diag.server == mc.address());
        }
    }());
    std::remove(auth_file.c_str());
}

TEST_CASE("TLS: multi-key sets and gets of thousands of keys, pipelined")
{
    memcached_process mc(tls_server(certs().server_cert(), certs().server_key()));
    memcached_process mc2(tls_server(certs().server_cert(), certs().server_key()));
    memcached_process mc3(tls_server(certs().server_cert(), certs().server_key()));
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = tls_config(mc.address());
        cfg.servers.push_back(memcoro::server_address::parse("tls://" + mc2.address()));
        cfg.servers.push_back(memcoro::server_address::parse("tls://" + mc3.address()));
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        std::vector<std::pair<std::string, std::string>> items;
        std::vector<std::string> keys;
        for (int i = 0; i < 2000; ++i) {
            keys.push_back("many:" + std::to_string(i));
            items.emplace_back(keys.back(), "value of " + keys.back());
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto [ec, st] = co_await c.async_set_multi(items, {}, tuple);
        CHECK_FALSE(ec);
        CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);
        auto [ec2, got] = co_await c.async_get_multi(keys, tuple);
        CHECK_FALSE(ec2);
        CHECK(got.hits.size() == keys.size());
    }());
}
