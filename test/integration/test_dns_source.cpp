// The DNS server list source against real memcached and a DNS server of the test's own on
// loopback (UDP, and TCP on the same port for truncated replies), whose records the test
// changes: A, AAAA and CNAME; SRV records over several memcached processes added, removed and
// reweighted while callers do sets and gets; truncated replies asked again over TCP; replies
// to other queries ignored; NXDOMAIN, empty answers, garbage, SERVFAIL, silence and SRV
// targets that do not resolve reported once each, with the list in force kept.

#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/dns_message.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/server_list_sources.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;
using memcoro::test::dns_rr;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(tuple);
}

/// Waits (up to 5 s) until `done` holds; returns whether it does.
asio::awaitable<bool> eventually(std::function<bool()> done)
{
    for (int i = 0; i < 500; ++i) {
        if (done())
            co_return true;
        co_await sleep_for(10ms);
    }
    co_return done();
}

/// A DNS server of the test's own, on 127.0.0.1 (UDP and TCP, one kernel-chosen port): answers
/// from `records` (by name and type), the A records of SRV targets in the additional section
/// when `additional`, or misbehaves as `mode` says.
struct fake_dns {
    enum class behaviour {
        answer,         ///< the records
        nxdomain,       ///< RCODE 3
        servfail,       ///< RCODE 2
        garbage,        ///< the query's id, then bytes that are not a reply
        silent,         ///< nothing
        truncate,       ///< TC over UDP; the records over TCP
        other_id_first, ///< a reply with another id, then the records
    };
    asio::ip::tcp::acceptor acceptor;
    asio::ip::udp::socket socket;
    std::map<std::pair<std::string, std::uint16_t>, std::vector<dns_rr>> records;
    bool additional = true;
    behaviour mode = behaviour::answer;
    std::map<std::pair<std::string, std::uint16_t>, int> asked; // over UDP
    int tcp_asked = 0;

    explicit fake_dns(asio::io_context& ioc)
        : acceptor(ioc)
        , socket(ioc)
    {
        // One port for both: the kernel picks the TCP one, UDP takes the same (tried again in
        // the rare case it is taken).
        for (int i = 0;; ++i) {
            asio::ip::tcp::acceptor a(
                ioc, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
            asio::ip::udp::socket s(ioc, asio::ip::udp::v4());
            std::error_code ec;
            s.bind(asio::ip::udp::endpoint(a.local_endpoint().address(), a.local_endpoint().port()),
                   ec);
            if (!ec) {
                acceptor = std::move(a);
                socket = std::move(s);
                break;
            }
            if (i == 20)
                throw std::runtime_error("fake_dns: no port free for both UDP and TCP");
        }
    }
    asio::ip::udp::endpoint endpoint() const { return socket.local_endpoint(); }
    int udp_asked(const std::string& name, std::uint16_t type) const
    {
        const auto it = asked.find(std::make_pair(name, type));
        return it == asked.end() ? 0 : it->second;
    }
    std::vector<dns_rr>& rrs(const std::string& name, std::uint16_t type)
    {
        return records[std::make_pair(name, type)];
    }
    void close()
    {
        acceptor.close();
        socket.close();
    }

    std::string reply_to(const memcoro::test::dns_query& q, std::uint16_t flags) const
    {
        memcoro::test::dns_message m;
        m.id = q.id;
        m.flags = flags;
        m.qname = q.name;
        m.qtype = q.type;
        if (flags != 0x8180)
            return m.encode();
        if (const auto it = records.find({q.name, q.type}); it != records.end())
            m.answers = it->second;
        if (additional && q.type == 33)
            for (const auto& rr : m.answers) {
                const std::string target = rr.rdata.size() > 6 ? target_of(rr.rdata) : "";
                if (const auto a = records.find({target, 1}); a != records.end())
                    m.additional.insert(m.additional.end(), a->second.begin(), a->second.end());
            }
        return m.encode();
    }
    static std::string target_of(const std::string& srv_rdata)
    {
        std::string name;
        for (std::size_t at = 6; at < srv_rdata.size() && srv_rdata[at] != 0;) {
            const auto len = static_cast<std::size_t>(srv_rdata[at]);
            if (!name.empty())
                name += '.';
            name += srv_rdata.substr(at + 1, len);
            at += 1 + len;
        }
        return name;
    }

    asio::awaitable<void> serve_udp()
    {
        std::string buf(512, '\0');
        for (;;) {
            asio::ip::udp::endpoint from;
            auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from, tuple);
            if (ec == asio::error::operation_aborted || !socket.is_open())
                co_return;
            if (ec)
                continue;
            const auto q = memcoro::test::read_dns_query(std::string_view(buf.data(), n));
            if (!q)
                continue;
            ++asked[{q->name, q->type}];
            std::string out;
            switch (mode) {
            case behaviour::answer:
                out = reply_to(*q, 0x8180);
                break;
            case behaviour::nxdomain:
                out = reply_to(*q, 0x8183);
                break;
            case behaviour::servfail:
                out = reply_to(*q, 0x8182);
                break;
            case behaviour::garbage:
                out = buf.substr(0, 2) + "\x81\x80\x00\x01\x00\x05garbage";
                break;
            case behaviour::silent:
                continue;
            case behaviour::truncate:
                out = reply_to(*q, 0x8380);
                break;
            case behaviour::other_id_first: {
                auto other = *q;
                other.id = static_cast<std::uint16_t>(q->id + 1);
                const std::string forged = reply_to(other, 0x8183);
                co_await socket.async_send_to(asio::buffer(forged), from, tuple);
                out = reply_to(*q, 0x8180);
                break;
            }
            }
            co_await socket.async_send_to(asio::buffer(out), from, tuple);
        }
    }

    asio::awaitable<void> serve_tcp()
    {
        for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(tuple);
            if (ec)
                co_return;
            unsigned char len[2];
            auto [lec, ln] = co_await asio::async_read(sock, asio::buffer(len), tuple);
            (void)ln;
            if (lec)
                continue;
            std::string query(static_cast<std::size_t>(len[0] << 8 | len[1]), '\0');
            auto [qec, qn] = co_await asio::async_read(sock, asio::buffer(query), tuple);
            (void)qn;
            const auto q = memcoro::test::read_dns_query(query);
            if (qec || !q)
                continue;
            ++tcp_asked;
            const std::string reply = reply_to(*q, 0x8180);
            std::string framed;
            framed += static_cast<char>(reply.size() >> 8);
            framed += static_cast<char>(reply.size() & 0xFF);
            framed += reply;
            co_await asio::async_write(sock, asio::buffer(framed), tuple);
        }
    }
};

dns_rr a_record(const std::string& name, const std::string& address)
{
    return dns_rr{name, static_cast<std::uint16_t>(address.find(':') == std::string::npos ? 1 : 28),
                  memcoro::test::dns_address(address)};
}

dns_rr srv_record(const std::string& name, std::uint16_t priority, std::uint16_t weight,
                  std::uint16_t port, const std::string& target)
{
    return dns_rr{name, 33, memcoro::test::dns_srv(priority, weight, port, target)};
}

/// The servers of `c` as "address/weight", in ring order.
std::vector<std::string> servers_of(const memcoro::client& c)
{
    std::vector<std::string> out;
    for (const auto& s : c.servers())
        out.push_back(s.name + "/" + std::to_string(s.address.weight));
    return out;
}

/// `v` sorted, as the source orders the servers it applies.
std::vector<std::string> sorted(std::vector<std::string> v)
{
    std::sort(v.begin(), v.end());
    return v;
}

std::string entry(const memcached_process& m, std::uint32_t weight = 1)
{
    return m.address() + "/" + std::to_string(weight);
}

int count(const std::vector<memcoro::server_list_event>& events, std::error_code ec)
{
    int n = 0;
    for (const auto& e : events)
        n += !e.applied && e.error.ec == ec;
    return n;
}

} // namespace

TEST_CASE("dns source: A, CNAME and AAAA; NXDOMAIN, empty answers, garbage, SERVFAIL and silence "
          "reported once each, the list in force kept")
{
    // (Everything braced is made here, out of the coroutine: g++ 12.)
    memcached_process m1, m2;
    asio::io_context ioc;
    fake_dns dns(ioc);
    dns.rrs("cache.test", 1).push_back(a_record("cache.test", "127.0.0.1"));
    asio::co_spawn(ioc, dns.serve_udp(), asio::detached);
    std::vector<memcoro::server_list_event> events;
    memcoro::dns_source_options opt{.port = m1.port(),
                                    .interval = 30ms,
                                    .timeout = 150ms,
                                    .attempts = 1,
                                    .nameservers = {dns.endpoint()}};
    const std::vector<std::string> just_m1{entry(m1)};
    const std::vector<std::string> v6{"[::1]:" + std::to_string(m1.port()) + "/1"};
    const auto reported = [&](memcoro::dns::dns_errc e) {
        return [&events, e] { return count(events, e) > 0; };
    };
    const auto through_cname = [&] {
        dns.rrs("cache.test", 1) = {dns_rr{"cache.test", 5, memcoro::test::dns_name("real.test")},
                                    a_record("real.test", "127.0.0.1")};
    };
    const auto to_aaaa = [&] {
        dns.rrs("cache.test", 28) = {a_record("cache.test", "::1")};
        opt.type = memcoro::dns::record_type::aaaa;
    };
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(m2.address());
            cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
            memcoro::client c(ioc.get_executor(), cfg);
            co_await c.async_set("k", "on m2");
            auto source = std::make_unique<memcoro::server_list_dns_source>(c, "Cache.Test.", opt);
            CHECK(co_await eventually([&] { return c.current_server_list().version == 1; }));
            CHECK(servers_of(c) == just_m1);
            CHECK(c.current_server_list().domain == "cache.test");
            const auto miss = co_await c.async_get("k"); // (m1's cache: empty)
            CHECK_FALSE(miss.has_value());
            co_await c.async_set("k", "on m1");
            const auto hit = co_await c.async_get("k");
            CHECK((hit && hit->value == "on m1"));

            // The same record again and again: nothing more applied.
            co_await sleep_for(150ms);
            CHECK(c.current_server_list().version == 1);
            CHECK(dns.udp_asked("cache.test", 1) >= 3);

            // Each failure reported once while it lasts; the list kept.
            dns.mode = fake_dns::behaviour::nxdomain;
            CHECK(co_await eventually(reported(memcoro::dns::dns_errc::name_not_found)));
            co_await sleep_for(150ms);
            dns.mode = fake_dns::behaviour::answer;
            dns.rrs("cache.test", 1).clear();
            CHECK(co_await eventually(reported(memcoro::dns::dns_errc::no_records)));
            co_await sleep_for(150ms);
            dns.mode = fake_dns::behaviour::garbage;
            CHECK(co_await eventually(reported(memcoro::dns::dns_errc::malformed_reply)));
            co_await sleep_for(150ms);
            dns.mode = fake_dns::behaviour::servfail;
            CHECK(co_await eventually(reported(memcoro::dns::dns_errc::server_failure)));
            co_await sleep_for(150ms);
            dns.mode = fake_dns::behaviour::silent;
            CHECK(co_await eventually([&] { return count(events, memcoro::errc::timeout) > 0; }));
            co_await sleep_for(500ms);
            CHECK(c.current_server_list().version == 1);
            CHECK(servers_of(c) == just_m1);
            const auto kept = co_await c.async_get("k");
            CHECK((kept && kept->value == "on m1"));

            // Back, through a CNAME, with replies to other queries in between (ignored): the
            // same server, nothing to apply.
            dns.mode = fake_dns::behaviour::other_id_first;
            through_cname();
            const int before = dns.udp_asked("cache.test", 1);
            co_await sleep_for(200ms);
            CHECK(dns.udp_asked("cache.test", 1) > before);
            CHECK(c.current_server_list().version == 1);
            // AAAA: [::1] (memcached listens on 127.0.0.1 only: the list alone is checked).
            source.reset();
            dns.mode = fake_dns::behaviour::answer;
            to_aaaa();
            source = std::make_unique<memcoro::server_list_dns_source>(c, "cache.test", opt);
            CHECK(co_await eventually([&] { return c.current_server_list().version == 2; }));
            CHECK(servers_of(c) == v6);
            source.reset();
            dns.close();
        }(),
        std::chrono::seconds(60));
    CHECK(count(events, memcoro::dns::dns_errc::name_not_found) == 1);
    CHECK(count(events, memcoro::dns::dns_errc::no_records) == 1);
    CHECK(count(events, memcoro::dns::dns_errc::malformed_reply) == 1);
    CHECK(count(events, memcoro::dns::dns_errc::server_failure) == 1);
    CHECK(count(events, memcoro::errc::timeout) == 1);
    int applied = 0;
    for (const auto& e : events) {
        INFO(e.source << " " << e.error.reason);
        applied += e.applied;
        CHECK(e.source == "dns cache.test");
        if (!e.applied) {
            CHECK(e.old_version == 1);
            CHECK(e.error.reason.find("dns cache.test A") == 0);
        }
    }
    CHECK(applied == 2);
    CHECK(events.size() == 7);
}

TEST_CASE("dns source: SRV records over three memcached, added, removed and reweighted while "
          "callers set and get; truncated replies asked over TCP; targets asked for")
{
    memcached_process m1, m2, m3;
    asio::io_context ioc;
    fake_dns dns(ioc);
    const std::string name = "_memcache._tcp.test";
    for (const char* n : {"n1.test", "n2.test", "n3.test"})
        dns.rrs(n, 1).push_back(a_record(n, "127.0.0.1"));
    auto& srv = dns.rrs(name, 33);
    srv = {srv_record(name, 10, 1, m1.port(), "n1.test"),
           srv_record(name, 10, 1, m2.port(), "n2.test")};
    asio::co_spawn(ioc, dns.serve_udp(), asio::detached);
    asio::co_spawn(ioc, dns.serve_tcp(), asio::detached);
    std::vector<memcoro::server_list_event> events;
    const memcoro::dns_source_options opt{.type = memcoro::dns::record_type::srv,
                                          .interval = 30ms,
                                          .timeout = 300ms,
                                          .nameservers = {dns.endpoint()}};
    const auto v1 = sorted({entry(m1), entry(m2)});
    const auto v2 = sorted({entry(m1), entry(m2), entry(m3, 2)});
    const auto v3 = sorted({entry(m1, 3), entry(m2), entry(m3, 2)});
    const auto v4 = sorted({entry(m1, 3), entry(m3, 2)});
    const auto add_m3 = [&] { srv.push_back(srv_record(name, 10, 2, m3.port(), "n3.test")); };
    const auto reweight = [&] {
        // m1: 3; the records in another order; m2's weight 0 (counts as 1).
        srv = {srv_record(name, 10, 2, m3.port(), "n3.test"),
               srv_record(name, 10, 0, m2.port(), "n2.test"),
               srv_record(name, 10, 3, m1.port(), "n1.test")};
    };
    const auto m2_lower_priority = [&] { srv[1] = srv_record(name, 20, 1, m2.port(), "n2.test"); };
    const auto m2_back = [&] { srv[1] = srv_record(name, 10, 1, m2.port(), "n2.test"); };
    const auto add_gone = [&] { srv.push_back(srv_record(name, 10, 1, 1, "gone.test")); };
    const auto target_reported = [&] {
        for (const auto& e : events)
            if (!e.applied && e.error.reason.find("SRV target gone.test") != std::string::npos)
                return true;
        return false;
    };
    int ops = 0, failures = 0;
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto cfg = memcoro::test::config_for(m3.address());
            cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
            memcoro::client c(ioc.get_executor(), cfg);
            memcoro::server_list_dns_source source(c, name, opt);
            CHECK(co_await eventually([&] { return c.current_server_list().version == 1; }));
            CHECK(servers_of(c) == v1);

            // 16 callers setting and getting while the records change.
            bool stop = false;
            int running = 0;
            for (int w = 0; w < 16; ++w) {
                ++running;
                asio::co_spawn(
                    ioc,
                    [&, w]() -> asio::awaitable<void> {
                        memcoro::store_options so;
                        for (int i = 0;; ++i) {
                            if (stop) // (set by the test's coroutine)
                                break;
                            const std::string k =
                                "w" + std::to_string(w) + "." + std::to_string(i % 50);
                            auto [sec, st] = co_await c.async_set(k, "v", so, tuple);
                            (void)st;
                            auto [gec, r] = co_await c.async_get(k, tuple);
                            (void)r;
                            ops += 2;
                            failures += (sec ? 1 : 0) + (gec ? 1 : 0);
                        }
                        --running;
                    },
                    asio::detached);
            }
            add_m3();
            CHECK(co_await eventually([&] { return c.current_server_list().version == 2; }));
            CHECK(servers_of(c) == v2);
            reweight();
            CHECK(co_await eventually([&] { return c.current_server_list().version == 3; }));
            CHECK(servers_of(c) == v3);
            m2_lower_priority(); // (removed: a lower priority is not used)
            CHECK(co_await eventually([&] { return c.current_server_list().version == 4; }));
            CHECK(servers_of(c) == v4);

            // No additional section: the targets are asked for; the same set, nothing applied.
            dns.additional = false;
            CHECK(co_await eventually([&] { return dns.udp_asked("n3.test", 1) >= 2; }));
            CHECK(c.current_server_list().version == 4);
            // Truncated over UDP: asked over TCP, where m2 is back.
            m2_back();
            dns.mode = fake_dns::behaviour::truncate;
            CHECK(co_await eventually([&] { return c.current_server_list().version == 5; }));
            CHECK(dns.tcp_asked > 0);
            CHECK(servers_of(c) == v3);
            dns.mode = fake_dns::behaviour::answer;

            // A target that does not resolve: reported, the list kept.
            add_gone();
            CHECK(co_await eventually(target_reported));
            CHECK(c.current_server_list().version == 5);
            // No SRV records at all: reported, the fleet not emptied.
            srv.clear();
            CHECK(co_await eventually(
                [&] { return count(events, memcoro::dns::dns_errc::no_records) > 1; }));
            CHECK(servers_of(c) == v3);

            stop = true;
            CHECK(co_await eventually([&] { return running == 0; }));
            dns.close();
        }(),
        std::chrono::seconds(60));
    CHECK(ops > 200);
    CHECK(failures == 0);
    int applied = 0;
    for (const auto& e : events)
        applied += e.applied;
    CHECK(applied == 5);
}

TEST_CASE("dns source: bad options refused; no nameserver reported")
{
    memcached_process m1;
    asio::io_context ioc;
    std::vector<memcoro::server_list_event> events;
    const std::string conf =
        (std::filesystem::temp_directory_path() / ("resolv.conf." + std::to_string(::getpid())))
            .string();
    {
        std::ofstream f(conf);
        f << "# no nameserver here\nsearch example.com\nnameserver not-an-address\n";
    }
    auto cfg = memcoro::test::config_for(m1.address());
    cfg.on_server_list = [&](const memcoro::server_list_event& e) { events.push_back(e); };
    memcoro::client c(ioc.get_executor(), cfg);
    using src = memcoro::server_list_dns_source;
    CHECK_THROWS_AS(src(c, "a..b"), std::invalid_argument);
    CHECK_THROWS_AS(src(c, "a.test", {.type = memcoro::dns::record_type::cname}),
                    std::invalid_argument);
    CHECK_THROWS_AS(src(c, "a.test", {.interval = 0ms}), std::invalid_argument);
    CHECK_THROWS_AS(src(c, "a.test", {.attempts = 0}), std::invalid_argument);
    const memcoro::dns_source_options none{.resolv_conf = conf};
    run_coro(
        ioc,
        [&]() -> asio::awaitable<void> {
            src s(c, "a.test", none);
            CHECK(co_await eventually([&] { return !events.empty(); }));
            co_await sleep_for(100ms);
            CHECK(c.servers().size() == 1);
        }(),
        std::chrono::seconds(20));
    std::remove(conf.c_str());
    REQUIRE(events.size() == 1);
    CHECK(events[0].error.ec == memcoro::dns::dns_errc::no_nameserver);
    CHECK(events[0].source == "dns a.test");
}
