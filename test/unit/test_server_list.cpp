// Versioned server lists, sans-I/O: parsing a file's domain and a memcached item's object, the
// checks and their reasons, the JSON written back, what changes from one list to the next, and
// which versions may replace the list in force.

#include <catch2/catch.hpp>

#include <memcoro/server_list.hpp>

#include <string>

using memcoro::server_list;
using memcoro::server_list_errc;
using memcoro::server_list_error;

namespace {

const char* const two_domains = R"({"domains": {
  "web": {"version": 7, "distribution": "ketama",
          "servers": [{"address": "10.0.0.1:11211", "weight": 2, "name": "a"},
                      {"address": "10.0.0.2:11212", "status": "down"},
                      {"address": "/run/memcached.sock"},
                      {"address": "tls://10.0.0.3:11211"}]},
  "jobs": {"version": 1, "distribution": "modula", "hash": "crc32",
           "servers": [{"address": "127.0.0.1:11211"}]}
}})";

server_list_error refused(const std::string& text, std::string_view domain = "d")
{
    server_list out;
    server_list_error err;
    CHECK_FALSE(memcoro::parse_server_list(text, domain, out, err));
    CHECK(out.servers.empty()); // (unchanged)
    return err;
}

std::string one(const std::string& domain_object)
{
    return R"({"domains": {"d": )" + domain_object + "}}";
}

} // namespace

TEST_CASE("server list: a file's domain, every field")
{
    server_list web;
    server_list_error err;
    REQUIRE(memcoro::parse_server_list(two_domains, "web", web, err));
    CHECK(web.domain == "web");
    CHECK(web.version == 7);
    CHECK(web.distribution == memcoro::ring::distribution_kind::ketama);
    CHECK_FALSE(web.hash);
    REQUIRE(web.servers.size() == 4);
    CHECK(web.servers[0].address.host == "10.0.0.1");
    CHECK(web.servers[0].address.port == 11211);
    CHECK(web.servers[0].address.weight == 2);
    CHECK(web.servers[0].address.name == "a");
    CHECK(web.servers[0].status == memcoro::server_status::up);
    CHECK(web.servers[1].status == memcoro::server_status::down);
    CHECK(web.servers[2].address.is_unix());
    CHECK(web.servers[3].address.tls);

    server_list jobs;
    REQUIRE(memcoro::parse_server_list(two_domains, "jobs", jobs, err));
    CHECK(jobs.distribution == memcoro::ring::distribution_kind::modula);
    CHECK(jobs.hash == memcoro::ring::hash_kind::crc32);

    const auto domains = memcoro::server_list_domains(two_domains);
    REQUIRE(domains);
    CHECK(domains->size() == 2);
    CHECK_FALSE(memcoro::server_list_domains("[1, 2]"));
}

TEST_CASE("server list: what is written reads back the same, and edits keep other domains")
{
    server_list web;
    server_list_error err;
    REQUIRE(memcoro::parse_server_list(two_domains, "web", web, err));
    server_list again;
    REQUIRE(memcoro::parse_domain_list(memcoro::to_json(web), "web", again, err));
    CHECK(again == web);

    web.version = 8;
    web.servers.pop_back();
    const std::string edited = memcoro::with_domain_list(two_domains, web);
    server_list web8, jobs;
    REQUIRE(memcoro::parse_server_list(edited, "web", web8, err));
    CHECK(web8 == web);
    REQUIRE(memcoro::parse_server_list(edited, "jobs", jobs, err));
    CHECK(jobs.version == 1);
    // A new file.
    const std::string fresh = memcoro::with_domain_list("", web);
    server_list back;
    REQUIRE(memcoro::parse_server_list(fresh, "web", back, err));
    CHECK(back == web);
    CHECK_THROWS_AS(memcoro::with_domain_list("not json", web), std::invalid_argument);
}

TEST_CASE("server list: a socket path that ends like a weight is written so it reads back whole")
{
    // (Found by fuzz_server_list: "/run/m:12:5" is the path "/run/m:12" with weight 5.)
    server_list l;
    server_list_error err;
    REQUIRE(memcoro::parse_server_list(one(R"({"version": 1, "servers": [
        {"address": "/run/m:12:5"}, {"address": "/run/plain.sock", "weight": 3}]})"),
                                       "d", l, err));
    REQUIRE(l.servers.size() == 2);
    CHECK(l.servers[0].address.socket_path == "/run/m:12");
    CHECK(l.servers[0].address.weight == 5);
    server_list again;
    REQUIRE(memcoro::parse_domain_list(memcoro::to_json(l), "d", again, err));
    CHECK(again == l);
}

TEST_CASE("server list: every bad list is refused with its reason")
{
    auto e = refused("{not json");
    CHECK(e.ec == server_list_errc::invalid_json);
    e = refused(R"({"servers": []})");
    CHECK(e.ec == server_list_errc::invalid_field);
    e = refused(two_domains, "absent");
    CHECK(e.ec == server_list_errc::no_such_domain);
    CHECK(e.reason.find("absent") != std::string::npos);
    e = refused(one(R"({"servers": [{"address": "a:1"}]})"));
    CHECK(e.ec == server_list_errc::invalid_field); // no version
    e = refused(one(R"({"version": -1, "servers": [{"address": "a:1"}]})"));
    CHECK(e.ec == server_list_errc::invalid_field);
    e = refused(
        one(R"({"version": 1, "distribution": "random", "servers": [{"address": "a:1"}]})"));
    CHECK(e.ec == server_list_errc::unknown_distribution);
    e = refused(one(R"({"version": 1, "hash": "sha9", "servers": [{"address": "a:1"}]})"));
    CHECK(e.ec == server_list_errc::unknown_hash);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:99999"}]})"));
    CHECK(e.ec == server_list_errc::invalid_address);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1", "weight": 0}]})"));
    CHECK(e.ec == server_list_errc::invalid_weight);
    CHECK(e.reason.find("servers[0]") != std::string::npos);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1", "weight": -3}]})"));
    CHECK(e.ec == server_list_errc::invalid_weight);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1", "weight": 1.5}]})"));
    CHECK(e.ec == server_list_errc::invalid_weight);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1", "weight": 4294967296}]})"));
    CHECK(e.ec == server_list_errc::invalid_weight);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1"}, {"address": "b:2"},
                                                   {"address": "a:1", "weight": 2}]})"));
    CHECK(e.ec == server_list_errc::duplicate_server);
    CHECK(e.reason.find("servers[2]") != std::string::npos);
    e = refused(one(R"({"version": 1, "servers": []})"));
    CHECK(e.ec == server_list_errc::empty_list);
    e = refused(one(R"({"version": 1, "servers": [{"address": "a:1", "status": "sleepy"}]})"));
    CHECK(e.ec == server_list_errc::invalid_field);
    e = refused(one(R"({"version": 1, "servers": [{"host": "a"}]})"));
    CHECK(e.ec == server_list_errc::invalid_field);
    e = refused(std::string(memcoro::max_server_list_bytes + 1, ' '));
    CHECK(e.ec == server_list_errc::list_too_large);
    CHECK_FALSE(e.ec.message().empty());
}

TEST_CASE("server list: what changes, and which versions may replace the list in force")
{
    server_list a;
    a.version = 3;
    for (const char* s : {"h1:1", "h2:2", "h3:3"})
        a.servers.push_back({memcoro::server_address::parse(s), memcoro::server_status::up});
    server_list b = a;
    b.version = 4;
    b.servers.erase(b.servers.begin() + 1);             // h2 removed
    b.servers[1].address.weight = 5;                    // h3 reweighted
    b.servers[0].status = memcoro::server_status::down; // h1 down
    b.servers.push_back({memcoro::server_address::parse("h4:4"), memcoro::server_status::up});
    const auto d = memcoro::diff(a, b);
    REQUIRE(d.added.size() == 1);
    CHECK(d.added[0].address.host == "h4");
    REQUIRE(d.removed.size() == 1);
    CHECK(d.removed[0].address.host == "h2");
    REQUIRE(d.reweighted.size() == 1);
    CHECK(d.reweighted[0].address.weight == 5);
    REQUIRE(d.restatused.size() == 1);
    CHECK_FALSE(d.reordered);
    CHECK(memcoro::diff(a, a).empty());
    server_list c = a;
    std::swap(c.servers[0], c.servers[2]);
    CHECK(memcoro::diff(a, c).reordered);

    server_list_error err;
    CHECK(memcoro::may_replace(a, b, err));
    CHECK(memcoro::may_replace(a, a, err)); // (no change)
    CHECK_FALSE(memcoro::may_replace(b, a, err));
    CHECK(err.ec == server_list_errc::older_version);
    server_list same_version = b;
    same_version.version = a.version;
    CHECK_FALSE(memcoro::may_replace(a, same_version, err));
    CHECK(err.ec == server_list_errc::same_version_changed);
}

namespace {

/// Feeds `reply` to a discovery_reply in pieces of `step` bytes; the final state.
memcoro::discovery_reply::state feed_split(memcoro::discovery_reply& d, std::string_view reply,
                                           std::size_t step)
{
    using state = memcoro::discovery_reply::state;
    auto st = state::incomplete;
    for (std::size_t n = std::min(step, reply.size());; n = std::min(n + step, reply.size())) {
        st = d.feed(reply.substr(0, n));
        if (st != state::incomplete || n == reply.size())
            return st;
    }
}

std::string config_reply(const std::string& body, const std::string& eol = "\r\n")
{
    return "CONFIG cluster 0 " + std::to_string(body.size()) + eol + body + eol + "END" + eol;
}

} // namespace

TEST_CASE("discovery: config get cluster replies at every split, both line endings")
{
    using state = memcoro::discovery_reply::state;
    const std::string body =
        "12\nnode1.cache.example|10.0.0.1|11211 node2.cache.example||11212 ::1-host|::1|11213\n";
    for (const std::string& eol : {std::string("\r\n"), std::string("\n")}) {
        const std::string reply = config_reply(body, eol) + "trailing";
        for (std::size_t step = 1; step <= reply.size(); ++step) {
            memcoro::discovery_reply d;
            REQUIRE(feed_split(d, reply, step) == state::complete);
            CHECK(d.size() == reply.size() - 8);
            const auto& l = d.list();
            CHECK(l.version == 12);
            REQUIRE(l.servers.size() == 3);
            CHECK(l.servers[0].address.to_string() == "10.0.0.1:11211");
            CHECK(l.servers[1].address.to_string() == "node2.cache.example:11212");
            CHECK(l.servers[2].address.port == 11213);
        }
    }
    // A \r\n body (other implementations).
    memcoro::discovery_reply d;
    CHECK(d.feed(config_reply("3\r\na|10.0.0.9|11211\r\n")) == state::complete);
    CHECK(d.list().version == 3);
}

TEST_CASE("discovery: bad replies are refused with a reason, never read past")
{
    using state = memcoro::discovery_reply::state;
    for (const std::string& bad : {
             std::string("ERROR\r\n"),
             std::string("CONFIG cluster 0 x\r\n"),
             std::string("CONFIG cluster 0 99999999999\r\n"),
             config_reply("x\na|1.2.3.4|11211\n"),
             config_reply("1\na|1.2.3.4|0\n"),
             config_reply("1\na|1.2.3.4\n"),
             config_reply("1\na|1.2.3.4|11211|9\n"),
             config_reply("1\n||11211\n"),
             config_reply("1\n"),
             config_reply("1\na|1.2.3.4|11211 a|1.2.3.4|11211\n"),
             config_reply("1\na|1.2.3.4|11211\nmore\n"),
             std::string("CONFIG cluster 0 2\r\n1\nXXEND\r\n"),
             std::string(300, 'x'),
         }) {
        memcoro::discovery_reply d;
        INFO(bad);
        CHECK(d.feed(bad) == state::failed);
        CHECK_FALSE(d.reason().empty());
    }
    memcoro::discovery_reply d;
    CHECK(d.feed("CONFIG cluster 0 500\r\n1\n") == state::incomplete);
}
