// Gets over UDP against real memcached (-U): single and multi-key gets, values of several
// datagrams, a fan-out cut into datagram-sized requests within the window; and what no real
// server does, from a UDP socket of the test's own: replies that never come (retried over TCP,
// or failed), replies for other keys, out of order, duplicated or late (never delivered), and
// a port where nothing listens.

#include <catch2/catch.hpp>

#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/proto/udp.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

memcoro::client_config udp_config(const memcached_process& m)
{
    memcoro::client_config cfg;
    cfg.servers = memcoro::server_address::parse_list(m.address());
    cfg.udp.enabled = true;
    cfg.udp.port = m.udp_port();
    return cfg;
}

std::string value_for(const std::string& key, std::size_t size)
{
    std::string v;
    while (v.size() < size)
        v += key + ":";
    v.resize(size);
    return v;
}

/// A UDP socket of the test's own on loopback: each request datagram is handed to `respond`,
/// which sends what it likes back (or nothing).
struct fake_udp_server {
    using responder = std::function<void(asio::ip::udp::socket&, const asio::ip::udp::endpoint&,
                                         memcoro::proto::udp_header, std::string)>;
    asio::ip::udp::socket socket;
    responder respond;
    std::size_t requests = 0;

    fake_udp_server(asio::io_context& ioc, responder r)
        : socket(ioc, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
        , respond(std::move(r))
    {
    }
    std::uint16_t port() const { return socket.local_endpoint().port(); }

    asio::awaitable<void> serve()
    {
        std::vector<char> buf(65536);
        asio::ip::udp::endpoint from;
        for (;;) {
            auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from, tuple);
            if (ec)
                co_return;
            const std::string_view d(buf.data(), n);
            const auto h = memcoro::proto::read_udp_header(d);
            if (!h)
                continue;
            ++requests;
            respond(socket, from, *h, std::string(d.substr(memcoro::proto::udp_header_size)));
        }
    }
};

void send_datagram(asio::ip::udp::socket& s, const asio::ip::udp::endpoint& to, std::uint16_t id,
                   std::uint16_t seq, std::uint16_t count, std::string_view payload)
{
    std::string d(memcoro::proto::udp_header_size, '\0');
    memcoro::proto::write_udp_header({id, seq, count, 0}, d.data());
    d.append(payload);
    s.send_to(asio::buffer(d), to);
}

} // namespace

TEST_CASE("udp: gets and multi-gets over UDP return exactly what was set, big values included")
{
    memcached_process m({"-U", "-1"});
    REQUIRE(m.udp_port() != 0);
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client c(co_await asio::this_coro::executor, udp_config(m));
        std::vector<std::string> keys;
        for (int i = 0; i < 300; ++i) {
            keys.push_back("udp:" + std::to_string(i));
            // Sizes from 1 byte to several datagrams (memcached sends at most 1,400 bytes each).
            const std::size_t size = i % 3 == 0 ? 1 + i * 37 % 6000 : 10;
            if (i % 5 != 4) // every fifth key is missing
                CHECK(co_await c.async_set(keys.back(), value_for(keys.back(), size)) ==
                      memcoro::store_status::stored);
        }
        // One by one.
        bool right = true;
        for (int i = 0; i < 300; i += 7) {
            const auto v = co_await c.async_get(keys[i]);
            const std::size_t size = i % 3 == 0 ? 1 + i * 37 % 6000 : 10;
            right = right && (i % 5 == 4 ? !v : v && v->value == value_for(keys[i], size));
        }
        CHECK(right);
        // All at once: cut into requests that each fit in a datagram.
        const auto r = co_await c.async_get_multi(keys);
        CHECK(r.errors.empty());
        CHECK(r.misses.size() == 60);
        REQUIRE(r.hits.size() == 240);
        for (const auto& h : r.hits) {
            const int i = std::stoi(h.key.substr(4));
            const std::size_t size = i % 3 == 0 ? 1 + i * 37 % 6000 : 10;
            right = right && h.value == value_for(h.key, size);
        }
        CHECK(right);
        const auto info = c.servers().at(0);
        CHECK(info.udp);
        CHECK(info.udp_requests > 300 / 7);
        CHECK(info.udp_replies == info.udp_requests);
        CHECK(info.udp_lost == 0);
    }());
}

TEST_CASE("udp: gets need no TCP connection at all: the TCP port may be dead")
{
    memcached_process m({"-U", "-1"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        {
            memcoro::client w(co_await asio::this_coro::executor, m.address());
            co_await w.async_set("only-udp", "seen over UDP");
        }
        // The client's TCP address: a port nothing listens on (the fixture's own, closed).
        memcoro::client_config cfg = udp_config(m);
        asio::ip::tcp::acceptor closed(
            ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        const auto dead_port = closed.local_endpoint().port();
        closed.close();
        cfg.servers = memcoro::server_address::parse_list("127.0.0.1:" + std::to_string(dead_port));
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        const auto v = co_await c.async_get("only-udp");
        REQUIRE(v);
        CHECK(v->value == "seen over UDP");
        // A write goes over TCP, and fails.
        auto [ec, st] = co_await c.async_set("x", "y", {}, tuple);
        CHECK(ec);
    }());
}

TEST_CASE("udp: a fan-out of 3,000 keys over two servers within a small window")
{
    memcached_process a({"-U", "-1"}), b({"-U", "-1"});
    asio::io_context ioc;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            memcoro::client_config cfg;
            cfg.servers = memcoro::server_address::parse_list(a.address() + "," + b.address());
            memcoro::client w(co_await asio::this_coro::executor, cfg);
            std::vector<std::string> keys;
            std::vector<std::pair<std::string, std::string>> items;
            for (int i = 0; i < 3000; ++i) {
                keys.push_back("fan:" + std::to_string(i));
                items.emplace_back(keys.back(), value_for(keys.back(), 50));
            }
            co_await w.async_set_multi(items);
            // Each server's UDP port is its own: per-server settings.
            const memcoro::client_config empty;
            memcoro::client c(co_await asio::this_coro::executor, empty);
            memcoro::udp_options ua;
            ua.enabled = true;
            ua.port = a.udp_port();
            ua.window = 4;
            memcoro::udp_options ub = ua;
            ub.port = b.udp_port();
            // (Named options: g++ 12 mishandles braced temporaries in coroutines.)
            memcoro::server_options oa, ob;
            oa.udp = ua;
            ob.udp = ub;
            const auto addr_a = memcoro::server_address::parse(a.address());
            const auto addr_b = memcoro::server_address::parse(b.address());
            c.add_server(addr_a, oa);
            c.add_server(addr_b, ob);
            const auto r = co_await c.async_get_multi(keys);
            CHECK(r.errors.empty());
            REQUIRE(r.hits.size() == keys.size());
            bool right = true;
            for (std::size_t i = 0; i < keys.size(); ++i)
                right =
                    right && r.hits[i].key == keys[i] && r.hits[i].value == value_for(keys[i], 50);
            CHECK(right);
            std::uint64_t requests = 0, lost = 0;
            for (const auto& s : c.servers()) {
                requests += s.udp_requests;
                lost += s.udp_lost;
            }
            // "get " and 3,000 keys of about 8 bytes each: 1,392-byte requests hold ~150.
            CHECK(requests >= 3000 / 160);
            CHECK(lost == 0);
        }(),
        60s);
}

TEST_CASE("udp: a reply that never comes: retried over TCP, or failed, per policy")
{
    memcached_process m({"-U", "-1"});
    asio::io_context ioc;
    fake_udp_server silent(ioc, [](auto&, const auto&, auto, std::string) {});
    asio::co_spawn(ioc, silent.serve(), asio::detached);
    const auto policy =
        GENERATE(memcoro::udp_loss_policy::retry_tcp, memcoro::udp_loss_policy::fail);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = udp_config(m);
        cfg.udp.port = silent.port();
        cfg.udp.timeout = 50ms;
        cfg.udp.on_loss = policy;
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        co_await c.async_set("lost", "found over TCP");
        const auto start = std::chrono::steady_clock::now();
        auto [ec, v] = co_await c.async_get("lost", tuple);
        const auto took = std::chrono::steady_clock::now() - start;
        if (policy == memcoro::udp_loss_policy::retry_tcp) {
            CHECK_FALSE(ec);
            REQUIRE(v);
            CHECK(v->value == "found over TCP");
        } else {
            CHECK(ec == memcoro::errc::timeout);
        }
        CHECK(took >= 50ms);
        CHECK(took < 900ms); // (well before the op timeout)
        CHECK(silent.requests == 1);
        CHECK(c.servers().at(0).udp_lost == 1);
    }());
    silent.socket.close();
}

TEST_CASE("udp: answers for other keys, under another id, broken, reordered or duplicated")
{
    memcached_process m({"-U", "-1"});
    asio::io_context ioc;
    std::string mode;
    // The answers a and b should have: what the test stored over TCP.
    const std::map<std::string, std::string> stored{{"a", "right"}, {"b", "rightb"}};
    fake_udp_server hostile(ioc, [&](asio::ip::udp::socket& s, const asio::ip::udp::endpoint& to,
                                     memcoro::proto::udp_header h, std::string req) {
        // Each request line: "mg <key> v f O<index> k".
        std::vector<std::pair<std::string, std::string>> asked; // key, opaque
        std::istringstream lines(req);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string mg, key, word, opaque;
            words >> mg >> key;
            while (words >> word)
                if (word[0] == 'O')
                    opaque = word;
            asked.emplace_back(key, opaque);
        }
        auto answer = [&](const std::string& key, const std::string& opaque,
                          const std::string& value) {
            return "VA " + std::to_string(value.size()) + " f0 " + opaque + " k" + key + "\r\n" +
                   value + "\r\n";
        };
        std::vector<std::string> out;
        for (const auto& [key, opaque] : asked) {
            const std::string& v = stored.at(key);
            if (mode == "other key")
                out.push_back(answer("other", opaque, "WRONG"));
            else if (mode == "swapped tags") // a's key with b's opaque number
                out.push_back(answer(key == "a" ? "a" : "b", key == "a" ? "O1" : "O0", "WRONG"));
            else
                out.push_back(answer(key, opaque, v));
        }
        if (mode == "reordered")
            std::reverse(out.begin(), out.end());
        for (const auto& a : out) {
            if (mode == "other id") {
                send_datagram(s, to, static_cast<std::uint16_t>(h.request_id + 1), 0, 1, a);
            } else if (mode == "lost middle") { // each answer in 3 datagrams, without the 2nd
                send_datagram(s, to, h.request_id, 0, 3, a.substr(0, 4));
                send_datagram(s, to, h.request_id, 2, 3, a.substr(8));
            } else if (mode == "duplicated") { // each answer in 2 datagrams, each sent twice
                for (int twice = 0; twice < 2; ++twice) {
                    send_datagram(s, to, h.request_id, 0, 2, a.substr(0, 5));
                    send_datagram(s, to, h.request_id, 1, 2, a.substr(5));
                }
            } else {
                send_datagram(s, to, h.request_id, 0, 1, a);
            }
        }
    });
    asio::co_spawn(ioc, hostile.serve(), asio::detached);
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg = udp_config(m);
        cfg.udp.port = hostile.port();
        cfg.udp.timeout = 50ms;
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        co_await c.async_set("a", "right");
        co_await c.async_set("b", "rightb");
        std::uint64_t lost = 0, replies = 0;
        for (const std::string mo :
             {"other key", "swapped tags", "other id", "lost middle", "reordered", "duplicated"}) {
            mode = mo;
            INFO(mode);
            const std::vector<std::string> keys{"a", "b"};
            const auto r = co_await c.async_get_multi(keys);
            CHECK(r.errors.empty());
            REQUIRE(r.hits.size() == 2);
            CHECK(r.hits[0].value == "right");
            CHECK(r.hits[1].value == "rightb");
            // The first four were lost (then answered over TCP), the others answered over UDP.
            const auto info = c.servers().at(0);
            const bool over_udp = mode == "reordered" || mode == "duplicated";
            CHECK(info.udp_lost == lost + (over_udp ? 0 : 1));
            CHECK(info.udp_replies == replies + (over_udp ? 1 : 0));
            lost = info.udp_lost;
            replies = info.udp_replies;
        }
        CHECK(c.servers().at(0).udp_dropped >= 2 + 2); // the other id's, the duplicates
    }());
    hostile.socket.close();
}

TEST_CASE("udp: nothing listens on the UDP port: gets go over TCP at once")
{
    memcached_process m; // no UDP
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        memcoro::client_config cfg;
        cfg.servers = memcoro::server_address::parse_list(m.address());
        cfg.udp.enabled = true; // the TCP port's number: no UDP socket there
        cfg.udp.timeout = 2s;
        memcoro::client c(co_await asio::this_coro::executor, cfg);
        co_await c.async_set("k", "v");
        const auto start = std::chrono::steady_clock::now();
        const auto v = co_await c.async_get("k");
        REQUIRE(v);
        CHECK(v->value == "v");
        // The host said so (ICMP port unreachable): not after the 2 s loss timeout.
        CHECK(std::chrono::steady_clock::now() - start < 1500ms);
    }());
}

TEST_CASE("udp: refused where it cannot be: over TLS, with credentials, to a Unix socket")
{
    asio::io_context ioc;
    memcoro::client_config cfg;
    cfg.servers = memcoro::server_address::parse_list("127.0.0.1:11211");
    cfg.udp.enabled = true;
    cfg.auth = memcoro::credentials{"user", "secret"};
    CHECK_THROWS_AS(memcoro::client(ioc.get_executor(), cfg), std::invalid_argument);
    cfg.auth.reset();
    memcoro::client c(ioc.get_executor(), memcoro::client_config{});
    memcoro::udp_options u;
    u.enabled = true;
    CHECK_THROWS_AS(c.add_server(memcoro::server_address::parse("/tmp/memcoro.sock"), {.udp = u}),
                    std::invalid_argument);
}
