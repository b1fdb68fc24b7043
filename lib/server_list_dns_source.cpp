// server_list_dns_source (server_list_sources.hpp): a DNS name resolved on an interval, over
// UDP (TCP after a truncated reply), with the codec of dns.hpp.

#include <memcoro/error.hpp>
#include <memcoro/server_list_sources.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>

namespace memcoro {

namespace {

constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t max_nameservers = 3; // (MAXNS of the C library)

using asio::ip::tcp;
using asio::ip::udp;

/// Reads at most 64 KiB of `path`; "" when it cannot be read.
std::string read_small_file(const std::string& path)
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f)
        return "";
    std::string out;
    char buf[4096];
    std::size_t n;
    while (out.size() < 65536 && (n = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, n);
    std::fclose(f);
    return out;
}

/// A server's place in a sorted set: its address and weight.
std::pair<std::string, std::uint32_t> key_of(const server_address& a)
{
    return {a.to_string(), a.weight};
}

dns::dns_error make_err(std::error_code ec, std::string reason)
{
    dns::dns_error e;
    e.ec = ec;
    e.reason = std::move(reason);
    return e;
}

std::string endpoint_text(const udp::endpoint& ep)
{
    const auto a = ep.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
           std::to_string(ep.port());
}

} // namespace

struct server_list_dns_source::state {
    client* c;
    std::string name;
    std::string source; // "dns NAME"
    dns_source_options opt;
    asio::steady_timer timer;
    std::atomic<bool> stopped{false};
    std::shared_ptr<udp::socket> udp_socket; // the query in progress
    std::shared_ptr<tcp::socket> tcp_socket;
    std::mt19937 rng{std::random_device{}()};
    std::string last_failure; // the failure last reported

    state(client& cl, std::string n, dns_source_options o)
        : c(&cl)
        , name(std::move(n))
        , source("dns " + name)
        , opt(std::move(o))
        , timer(cl.get_executor())
    {
        std::string why;
        if (!dns::check_name(name, why))
            throw std::invalid_argument("memcoro: DNS name \"" + name + "\": " + why);
        // (Compared as the codec writes names: lower case, without the final dot.)
        if (name.back() == '.')
            name.pop_back();
        for (auto& ch : name)
            if (ch >= 'A' && ch <= 'Z')
                ch = static_cast<char>(ch - 'A' + 'a');
        source = "dns " + name;
        if (opt.type != dns::record_type::a && opt.type != dns::record_type::aaaa &&
            opt.type != dns::record_type::srv)
            throw std::invalid_argument("memcoro: a DNS source asks for A, AAAA or SRV records");
        if (opt.interval.count() <= 0 || opt.timeout.count() <= 0 || opt.attempts < 1)
            throw std::invalid_argument("memcoro: a DNS source's interval and timeout are "
                                        "positive, its attempts 1 or more");
    }

    void close_sockets()
    {
        std::error_code ignored;
        if (udp_socket)
            udp_socket->close(ignored);
        if (tcp_socket)
            tcp_socket->close(ignored);
    }

    /// The nameservers to ask: the options', else resolv.conf's.
    std::vector<udp::endpoint> nameservers() const
    {
        if (!opt.nameservers.empty())
            return opt.nameservers;
        std::vector<udp::endpoint> out;
        for (const auto& text : dns::resolv_conf_nameservers(read_small_file(opt.resolv_conf))) {
            std::error_code ec;
            const auto address = asio::ip::make_address(text, ec);
            if (!ec)
                out.emplace_back(address, 53);
            if (out.size() == max_nameservers)
                break;
        }
        return out;
    }

    /// Starts a deadline that closes the query's sockets; `timed_out` says whether it did.
    std::shared_ptr<asio::steady_timer> deadline(std::shared_ptr<bool> timed_out)
    {
        auto t = std::make_shared<asio::steady_timer>(timer.get_executor());
        t->expires_after(opt.timeout);
        t->async_wait([u = udp_socket, s = tcp_socket, timed_out](std::error_code ec) {
            if (ec)
                return;
            *timed_out = true;
            std::error_code ignored;
            if (u)
                u->close(ignored);
            if (s)
                s->close(ignored);
        });
        return t;
    }

    /// One query over UDP to `ns`; false with `err` on failure.
    asio::awaitable<bool> ask_udp(const udp::endpoint& ns, std::uint16_t id,
                                  const std::string& query, const std::string& qname,
                                  dns::record_type type, dns::reply& out, dns::dns_error& err)
    {
        const std::string where = "dns " + qname + " " + std::string(dns::to_string(type)) +
                                  " from " + endpoint_text(ns) + ": ";
        udp_socket = std::make_shared<udp::socket>(timer.get_executor());
        std::error_code ec;
        udp_socket->open(ns.protocol(), ec);
        if (ec) {
            err = make_err(ec, where + ec.message());
            co_return false;
        }
        auto sock = udp_socket;
        auto timed_out = std::make_shared<bool>(false);
        auto t = deadline(timed_out);
        auto [sec, sent] = co_await sock->async_send_to(asio::buffer(query), ns, as_tuple);
        (void)sent;
        if (sec) {
            t->cancel();
            err =
                make_err(*timed_out ? make_error_code(errc::timeout) : sec, where + sec.message());
            co_return false;
        }
        std::string buf(dns::max_message_bytes, '\0');
        dns::dns_error ignored; // the last datagram ignored, for the report
        for (;;) {
            udp::endpoint from;
            auto [rec, n] = co_await sock->async_receive_from(asio::buffer(buf), from, as_tuple);
            if (rec) {
                t->cancel();
                if (!*timed_out)
                    err = make_err(rec, where + rec.message());
                else if (ignored.ec)
                    err = make_err(ignored.ec, where + "no valid reply within " +
                                                   std::to_string(opt.timeout.count()) +
                                                   " ms; ignored: " + ignored.reason);
                else
                    err = make_err(make_error_code(errc::timeout),
                                   where + "no reply within " +
                                       std::to_string(opt.timeout.count()) + " ms");
                co_return false;
            }
            if (from != ns)
                continue; // (not our nameserver)
            dns::dns_error perr;
            if (dns::parse_reply(std::string_view(buf.data(), n), id, qname, type, out, perr)) {
                t->cancel();
                co_return true;
            }
            // Another query's reply (or a forgery) is not an answer: wait on for ours.
            if (perr.ec == dns::dns_errc::id_mismatch || perr.ec == dns::dns_errc::not_a_reply ||
                perr.ec == dns::dns_errc::question_mismatch) {
                ignored = perr;
                continue;
            }
            t->cancel();
            err = make_err(perr.ec, where + perr.reason);
            co_return false;
        }
    }

    /// One query over TCP to `ns` (after a truncated reply); false with `err` on failure.
    asio::awaitable<bool> ask_tcp(const udp::endpoint& ns, std::uint16_t id,
                                  const std::string& query, const std::string& qname,
                                  dns::record_type type, dns::reply& out, dns::dns_error& err)
    {
        const std::string where = "dns " + qname + " " + std::string(dns::to_string(type)) +
                                  " from " + endpoint_text(ns) + " over TCP: ";
        tcp_socket = std::make_shared<tcp::socket>(timer.get_executor());
        auto sock = tcp_socket;
        auto timed_out = std::make_shared<bool>(false);
        auto t = deadline(timed_out);
        const auto failed = [&](std::error_code ec) {
            t->cancel();
            err = make_err(*timed_out ? make_error_code(errc::timeout) : ec,
                           where + (*timed_out ? "no reply within " +
                                                     std::to_string(opt.timeout.count()) + " ms"
                                               : ec.message()));
            return false;
        };
        const tcp::endpoint to(ns.address(), ns.port());
        auto [cec] = co_await sock->async_connect(to, as_tuple);
        if (cec)
            co_return failed(cec);
        std::string framed;
        framed += static_cast<char>(query.size() >> 8);
        framed += static_cast<char>(query.size() & 0xFF);
        framed += query;
        auto [wec, wn] = co_await asio::async_write(*sock, asio::buffer(framed), as_tuple);
        (void)wn;
        if (wec)
            co_return failed(wec);
        unsigned char len[2];
        auto [lec, ln] = co_await asio::async_read(*sock, asio::buffer(len), as_tuple);
        (void)ln;
        if (lec)
            co_return failed(lec);
        std::string reply(static_cast<std::size_t>(len[0]) << 8 | len[1], '\0');
        auto [rec, rn] = co_await asio::async_read(*sock, asio::buffer(reply), as_tuple);
        (void)rn;
        if (rec)
            co_return failed(rec);
        t->cancel();
        std::error_code ignored;
        sock->close(ignored);
        dns::dns_error perr;
        if (dns::parse_reply(reply, id, qname, type, out, perr))
            co_return true;
        err = make_err(perr.ec, where + perr.reason);
        co_return false;
    }

    /// Resolves `qname` for `type`: each nameserver in turn, `opt.attempts` times each, until
    /// one answers (an NXDOMAIN is an answer); false with `err` on failure.
    asio::awaitable<bool> resolve(const std::string& qname, dns::record_type type, dns::reply& out,
                                  dns::dns_error& err)
    {
        const auto servers = nameservers();
        if (servers.empty()) {
            err = make_err(make_error_code(dns::dns_errc::no_nameserver),
                           "dns " + qname + ": no nameserver (none in " + opt.resolv_conf + ")");
            co_return false;
        }
        const std::size_t tries = servers.size() * static_cast<std::size_t>(opt.attempts);
        for (std::size_t i = 0; i < tries && !stopped.load(); ++i) {
            const auto& ns = servers[i % servers.size()];
            const auto id = static_cast<std::uint16_t>(rng());
            std::string query;
            dns::encode_query(id, qname, type, query);
            bool ok = co_await ask_udp(ns, id, query, qname, type, out, err);
            if (!ok && err.ec == dns::dns_errc::truncated_reply && !stopped.load())
                ok = co_await ask_tcp(ns, id, query, qname, type, out, err);
            if (ok || err.ec == dns::dns_errc::name_not_found)
                co_return ok;
        }
        co_return false;
    }

    /// The addresses of an SRV target: from the additional section, else asked for (A, then
    /// AAAA); IPv4 ones when there are any.
    asio::awaitable<bool> target_addresses(const std::string& target,
                                           const std::vector<dns::address_record>& additional,
                                           std::vector<std::string>& v4,
                                           std::vector<std::string>& v6, dns::dns_error& err)
    {
        for (const auto& a : additional)
            if (a.name == target)
                (a.address.find(':') == std::string::npos ? v4 : v6).push_back(a.address);
        if (!v4.empty() || !v6.empty())
            co_return true;
        dns::reply r;
        if (co_await resolve(target, dns::record_type::a, r, err) && !r.addresses.empty()) {
            for (const auto& a : r.addresses)
                v4.push_back(a.address);
            co_return true;
        }
        const auto a_err = err;
        if (co_await resolve(target, dns::record_type::aaaa, r, err) && !r.addresses.empty()) {
            for (const auto& a : r.addresses)
                v6.push_back(a.address);
            co_return true;
        }
        if (!err.ec)
            err = a_err.ec ? a_err
                           : make_err(make_error_code(dns::dns_errc::no_records),
                                      "dns " + target + ": no A or AAAA records");
        err.reason = "SRV target " + target + ": " + err.reason;
        co_return false;
    }

    /// The servers the name resolves to, sorted; false with `err` on failure.
    asio::awaitable<bool> servers_of(std::vector<server_address>& out, dns::dns_error& err)
    {
        dns::reply r;
        if (!co_await resolve(name, opt.type, r, err))
            co_return false;
        if (opt.type != dns::record_type::srv) {
            for (const auto& a : r.addresses) {
                server_address s;
                s.host = a.address;
                s.port = opt.port;
                out.push_back(std::move(s));
            }
        } else if (!r.services.empty()) {
            std::uint16_t lowest = UINT16_MAX;
            for (const auto& s : r.services)
                lowest = std::min(lowest, s.priority);
            for (const auto& s : r.services) {
                if (s.priority != lowest)
                    continue;
                std::vector<std::string> v4, v6;
                if (!co_await target_addresses(s.target, r.additional, v4, v6, err))
                    co_return false;
                for (const auto& a : v4.empty() ? v6 : v4) {
                    server_address sa;
                    sa.host = a;
                    sa.port = s.port;
                    sa.weight = s.weight == 0 ? 1 : s.weight;
                    out.push_back(std::move(sa));
                }
            }
        }
        if (out.empty()) {
            err = make_err(make_error_code(dns::dns_errc::no_records),
                           "dns " + name + " " + std::string(dns::to_string(opt.type)) +
                               ": no records");
            co_return false;
        }
        std::sort(out.begin(), out.end(), [](const server_address& a, const server_address& b) {
            return key_of(a) < key_of(b);
        });
        out.erase(std::unique(out.begin(), out.end(),
                              [](const server_address& a, const server_address& b) {
                                  return a.to_string() == b.to_string();
                              }),
                  out.end());
        co_return true;
    }

    void failed(const dns::dns_error& err)
    {
        if (err.reason == last_failure)
            return;
        last_failure = err.reason;
        server_list_event ev;
        ev.domain = name;
        ev.source = source;
        ev.old_version = c->current_server_list().version;
        ev.applied = false;
        ev.error = server_list_error{err.ec, err.reason};
        if (const auto& cb = c->config().on_server_list)
            cb(ev);
    }

    void resolved(const std::vector<server_address>& servers)
    {
        last_failure.clear();
        const server_list current = c->current_server_list();
        std::vector<std::pair<std::string, std::uint32_t>> now, next;
        for (const auto& e : current.servers)
            now.push_back(key_of(e.address));
        std::sort(now.begin(), now.end());
        for (const auto& s : servers)
            next.push_back(key_of(s));
        if (now == next)
            return;
        server_list list;
        list.domain = name;
        list.version = current.version + 1;
        list.distribution = c->config().distribution;
        list.hash = c->config().hash;
        for (const auto& s : servers) {
            server_list_entry e;
            e.address = s;
            list.servers.push_back(std::move(e));
        }
        server_list_error err;
        c->apply_server_list(list, err, source); // (the client reports the outcome)
    }

    asio::awaitable<void> run()
    {
        while (!stopped.load()) {
            std::vector<server_address> servers;
            dns::dns_error err;
            const bool ok = co_await servers_of(servers, err);
            udp_socket.reset();
            tcp_socket.reset();
            if (stopped.load())
                break;
            if (ok)
                resolved(servers);
            else
                failed(err);
            timer.expires_after(opt.interval);
            auto [ec] = co_await timer.async_wait(as_tuple);
            (void)ec;
        }
    }
};

server_list_dns_source::server_list_dns_source(client& c, std::string name,
                                               dns_source_options options)
    : state_(std::make_shared<state>(c, std::move(name), std::move(options)))
{
    asio::co_spawn(
        c.get_executor(), [st = state_]() -> asio::awaitable<void> { co_await st->run(); },
        asio::detached);
}

server_list_dns_source::~server_list_dns_source()
{
    state_->stopped.store(true);
    asio::post(state_->timer.get_executor(), [st = state_] {
        st->timer.cancel();
        st->close_sockets();
    });
}

} // namespace memcoro
