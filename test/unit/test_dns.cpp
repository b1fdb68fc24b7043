// The DNS codec (dns.hpp): queries byte for byte; replies read (A, AAAA, SRV with its
// additional section, CNAME chains, compression), every refusal (id, QR, TC, each RCODE, the
// question, lengths, pointers), every prefix of a reply refused; resolv.conf's nameservers.

#include <catch2/catch.hpp>

#include "../support/dns_message.hpp"

#include <memcoro/dns.hpp>

#include <string>

using memcoro::dns::dns_errc;
using memcoro::dns::record_type;
using memcoro::test::dns_address;
using memcoro::test::dns_message;
using memcoro::test::dns_name;
using memcoro::test::dns_rr;
using memcoro::test::dns_srv;

namespace {

dns_message a_reply(std::uint16_t id = 7)
{
    dns_message m;
    m.id = id;
    m.qname = "cache.example";
    m.qtype = 1;
    m.answers.push_back({"cache.example", 1, dns_address("10.0.0.1"), 300});
    m.answers.push_back({"cache.example", 1, dns_address("10.0.0.2"), 60});
    return m;
}

memcoro::dns::dns_error parse_fails(const std::string& bytes, std::uint16_t id = 7,
                                    std::string_view name = "cache.example",
                                    record_type type = record_type::a)
{
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    CHECK_FALSE(memcoro::dns::parse_reply(bytes, id, name, type, r, err));
    CHECK_FALSE(err.reason.empty());
    return err;
}

} // namespace

TEST_CASE("dns: a query, byte for byte")
{
    std::string q;
    memcoro::dns::encode_query(0x1234, "Cache.Example.", record_type::srv, q);
    const std::string want = std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                             std::string("\x05"
                                         "Cache\x07"
                                         "Example\x00",
                                         15) +
                             std::string("\x00\x21\x00\x01", 4);
    CHECK(q == want);
    const auto back = memcoro::test::read_dns_query(q);
    REQUIRE(back);
    CHECK(back->id == 0x1234);
    CHECK(back->name == "Cache.Example");
    CHECK(back->type == 33);
}

TEST_CASE("dns: names that cannot be asked for")
{
    std::string why, q;
    CHECK(memcoro::dns::check_name("_memcache._tcp.example.com", why));
    CHECK(memcoro::dns::check_name("a.", why));
    CHECK(memcoro::dns::check_name(std::string(63, 'a') + ".b", why));
    CHECK_FALSE(memcoro::dns::check_name("", why));
    CHECK_FALSE(memcoro::dns::check_name(".", why));
    CHECK_FALSE(memcoro::dns::check_name("a..b", why));
    CHECK(why == "empty label");
    CHECK_FALSE(memcoro::dns::check_name(std::string(64, 'a'), why));
    CHECK(why == "label over 63 bytes");
    std::string long_name;
    for (int i = 0; i < 64; ++i)
        long_name += "abc.";
    CHECK_FALSE(memcoro::dns::check_name(long_name, why));
    CHECK(why == "name over 253 bytes");
    CHECK_FALSE(memcoro::dns::check_name("a b", why));
    CHECK_FALSE(memcoro::dns::check_name("a\\.b", why));
    CHECK_THROWS_AS(memcoro::dns::encode_query(1, "a..b", record_type::a, q),
                    std::invalid_argument);
    CHECK(q.empty());
}

TEST_CASE("dns: A and AAAA replies; the smallest TTL; names compared without case")
{
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    REQUIRE(
        memcoro::dns::parse_reply(a_reply().encode(), 7, "CACHE.example.", record_type::a, r, err));
    REQUIRE(r.addresses.size() == 2);
    CHECK(r.addresses[0].address == "10.0.0.1");
    CHECK(r.addresses[0].ttl == 300);
    CHECK(r.addresses[1].address == "10.0.0.2");
    CHECK(r.addresses[1].name == "cache.example");
    CHECK(r.ttl == 60);
    CHECK(r.canonical_name == "cache.example");

    dns_message m;
    m.id = 9;
    m.qname = "CaChE.example";
    m.qtype = 28;
    m.answers.push_back({"cache.EXAMPLE", 28, dns_address("2001:db8::1"), 0x80000001u});
    m.answers.push_back({"cache.example", 1, dns_address("10.0.0.9")});            // (another type)
    m.answers.push_back({"other.example", 28, dns_address("2001:db8::2")});        // (another name)
    m.answers.push_back({"cache.example", 28, dns_address("2001:db8::3"), 60, 3}); // (class CH)
    REQUIRE(memcoro::dns::parse_reply(m.encode(), 9, "cache.example", record_type::aaaa, r, err));
    REQUIRE(r.addresses.size() == 1);
    CHECK(r.addresses[0].address == "2001:db8::1");
    CHECK(r.ttl == 0); // (top bit set: zero)

    // The name exists without records of the type: success, empty.
    m.answers.clear();
    REQUIRE(memcoro::dns::parse_reply(m.encode(), 9, "cache.example", record_type::aaaa, r, err));
    CHECK(r.addresses.empty());
    CHECK(r.ttl == 0);
}

TEST_CASE("dns: SRV with addresses in the additional section; '.' targets left out")
{
    dns_message m;
    m.id = 1;
    m.qname = "_memcache._tcp.example";
    m.qtype = 33;
    m.answers.push_back({"_memcache._tcp.example", 33, dns_srv(10, 5, 11211, "n1.example"), 30});
    m.answers.push_back({"_memcache._tcp.example", 33, dns_srv(20, 0, 11212, "N2.Example."), 40});
    m.answers.push_back({"_memcache._tcp.example", 33, dns_srv(0, 0, 0, "."), 40});
    m.authority.push_back({"example", 2, dns_name("ns.example")});
    m.additional.push_back({"n1.example", 1, dns_address("127.0.0.1")});
    m.additional.push_back({"n2.example", 28, dns_address("::1")});
    dns_rr opt{"", 41, ""};
    opt.cls = 1232;
    m.additional.push_back(opt);
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    REQUIRE(memcoro::dns::parse_reply(m.encode(), 1, "_memcache._tcp.example", record_type::srv, r,
                                      err));
    REQUIRE(r.services.size() == 2);
    CHECK(r.services[0] ==
          memcoro::dns::srv_record{"_memcache._tcp.example", 10, 5, 11211, "n1.example", 30});
    CHECK(r.services[1].target == "n2.example");
    CHECK(r.services[1].weight == 0);
    CHECK(r.services[1].priority == 20);
    CHECK(r.ttl == 30);
    REQUIRE(r.additional.size() == 2);
    CHECK(r.additional[0] == memcoro::dns::address_record{"n1.example", "127.0.0.1", 60});
    CHECK(r.additional[1].address == "::1");

    // An SRV record too short, or with bytes after its target.
    m.answers[0].rdata = std::string("\0\1\0\2\0\3", 6);
    CHECK(parse_fails(m.encode(), 1, "_memcache._tcp.example", record_type::srv).ec ==
          dns_errc::malformed_reply);
    m.answers[0].rdata = dns_srv(1, 1, 1, "x.example") + "z";
    CHECK(parse_fails(m.encode(), 1, "_memcache._tcp.example", record_type::srv).reason ==
          "answer 1: SRV target: record data longer than its name");
}

TEST_CASE("dns: CNAME chains within the reply, compressed; loops bounded")
{
    // www.example -> alias.example -> host.example A, the names written with pointers.
    std::string msg = dns_message{3, 0x8180, "www.example", 1}.encode();
    const auto question_name = static_cast<char>(12); // "www.example" at offset 12
    const std::string to_question = std::string("\xC0", 1) + question_name;
    // answer 1: www.example CNAME alias.<example of the question>
    const std::size_t example_at = 12 + 4; // "\7example" inside the question name
    const std::string to_example = std::string("\xC0", 1) + static_cast<char>(example_at);
    std::string rr1 = to_question;
    memcoro::test::put16(rr1, 5);
    memcoro::test::put16(rr1, 1);
    memcoro::test::put32(rr1, 100);
    const std::string alias = std::string("\x05"
                                          "alias",
                                          6) +
                              to_example;
    memcoro::test::put16(rr1, static_cast<std::uint16_t>(alias.size()));
    const std::size_t alias_at = msg.size() + rr1.size();
    rr1 += alias;
    msg += rr1;
    // answer 2: alias.example CNAME host.example
    std::string rr2 = std::string("\xC0", 1) + static_cast<char>(alias_at);
    memcoro::test::put16(rr2, 5);
    memcoro::test::put16(rr2, 1);
    memcoro::test::put32(rr2, 50);
    const std::string host = std::string("\x04"
                                         "host",
                                         5) +
                             to_example;
    memcoro::test::put16(rr2, static_cast<std::uint16_t>(host.size()));
    const std::size_t host_at = msg.size() + rr2.size();
    rr2 += host;
    msg += rr2;
    // answer 3: host.example A
    std::string rr3 = std::string("\xC0", 1) + static_cast<char>(host_at);
    memcoro::test::put16(rr3, 1);
    memcoro::test::put16(rr3, 1);
    memcoro::test::put32(rr3, 200);
    memcoro::test::put16(rr3, 4);
    rr3 += dns_address("127.0.0.7");
    msg += rr3;
    msg[7] = 3; // ANCOUNT
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    REQUIRE(memcoro::dns::parse_reply(msg, 3, "www.example", record_type::a, r, err));
    CHECK(r.canonical_name == "host.example");
    REQUIRE(r.addresses.size() == 1);
    CHECK(r.addresses[0].address == "127.0.0.7");
    CHECK(r.ttl == 50);

    // A chain that loops (a -> b -> a) ends after 16 links.
    dns_message loop{4, 0x8180, "a.example", 1};
    loop.answers.push_back({"a.example", 5, dns_name("b.example")});
    loop.answers.push_back({"b.example", 5, dns_name("a.example")});
    CHECK(parse_fails(loop.encode(), 4, "a.example").reason == "CNAME chain over 16 links");
    // An alias of the root (found by fuzz_dns; kept in its corpus as cname_to_root).
    dns_message root{5, 0x8180, "a.example", 1};
    root.answers.push_back({"a.example", 5, std::string(1, '\0')});
    CHECK(parse_fails(root.encode(), 5, "a.example").reason == "CNAME of a.example to the root");
    // A chain that ends without the records: empty.
    loop.answers.pop_back();
    REQUIRE(memcoro::dns::parse_reply(loop.encode(), 4, "a.example", record_type::a, r, err));
    CHECK(r.canonical_name == "b.example");
    CHECK(r.addresses.empty());
}

TEST_CASE("dns: refusals: id, QR, opcode, TC, each RCODE, the question")
{
    const std::string good = a_reply().encode();
    CHECK(parse_fails(good, 8).ec == dns_errc::id_mismatch);
    auto m = a_reply();
    m.flags = 0x0100; // a query
    CHECK(parse_fails(m.encode()).ec == dns_errc::not_a_reply);
    m.flags = 0x8180 | (2 << 11); // STATUS
    CHECK(parse_fails(m.encode()).ec == dns_errc::not_a_reply);
    m.flags = 0x8380;
    CHECK(parse_fails(m.encode()).ec == dns_errc::truncated_reply);
    m.flags = 0x8183;
    CHECK(parse_fails(m.encode()).ec == dns_errc::name_not_found);
    m.flags = 0x8182;
    CHECK(parse_fails(m.encode()).ec == dns_errc::server_failure);
    m.flags = 0x8185;
    CHECK(parse_fails(m.encode()).ec == dns_errc::query_refused);
    m.flags = 0x8184;
    const auto notimp = parse_fails(m.encode());
    CHECK(notimp.ec == dns_errc::rcode_error);
    CHECK(notimp.reason == "RCODE 4 for cache.example");
    // An error reply without the question is still read as the error.
    m.qname.clear();
    m.answers.clear();
    m.flags = 0x8182;
    CHECK(parse_fails(m.encode()).ec == dns_errc::server_failure);
    m.flags = 0x8180;
    CHECK(parse_fails(m.encode()).ec == dns_errc::question_mismatch);
    // Another name, type or class.
    CHECK(parse_fails(good, 7, "other.example").ec == dns_errc::question_mismatch);
    CHECK(parse_fails(good, 7, "cache.example", record_type::aaaa).ec ==
          dns_errc::question_mismatch);
    std::string other_class = good;
    other_class[12 + 15 + 3] = 3; // QCLASS CH
    CHECK(parse_fails(other_class).ec == dns_errc::question_mismatch);
    // Two questions.
    std::string two = good;
    two[5] = 2;
    CHECK(parse_fails(two).ec == dns_errc::question_mismatch);
}

TEST_CASE("dns: every prefix of a reply, and each length, refused")
{
    const std::string good = a_reply().encode();
    for (std::size_t n = 0; n < good.size(); ++n) {
        INFO("prefix of " << n << " bytes");
        const auto err = parse_fails(good.substr(0, n));
        CHECK(err.ec == dns_errc::malformed_reply);
    }
    // One more answer announced than there is.
    std::string more = good;
    more[7] = 3;
    CHECK(parse_fails(more).reason == "answer 3: name runs past the end");
    // An A record of 5 bytes.
    auto m = a_reply();
    m.answers[1].rdata += 'x';
    CHECK(parse_fails(m.encode()).reason == "answer 2: A record of 5 bytes");
    // A record's length past the end.
    std::string past = good;
    past[past.size() - 5] = 9; // RDLENGTH of the last record
    CHECK(parse_fails(past).reason == "answer 2: record data runs past the end");
}

TEST_CASE("dns: names: pointers forward, to themselves, too long; label types; escapes")
{
    auto with_answer_name = [](const std::string& wire) {
        auto m = a_reply();
        m.answers[0].name = wire;
        m.answers[0].raw_name = true;
        return m.encode();
    };
    const std::size_t answer_at = 12 + 15 + 4;
    // A pointer to itself, and one forward (into its own record).
    const std::string self = std::string("\xC0", 1) + static_cast<char>(answer_at);
    CHECK(parse_fails(with_answer_name(self)).reason ==
          "answer 1: name's pointer does not point backwards");
    const std::string fwd = std::string("\xC0", 1) + static_cast<char>(answer_at + 4);
    CHECK(parse_fails(with_answer_name(fwd)).ec == dns_errc::malformed_reply);
    // Label types 01 and 10 (extended, obsolete).
    CHECK(parse_fails(with_answer_name(std::string("\x41\x00", 2))).reason ==
          "answer 1: name with an unknown label type");
    CHECK(parse_fails(with_answer_name(std::string("\x81\x00", 2))).ec ==
          dns_errc::malformed_reply);
    // A name of 4 x 63-byte labels: 257 bytes on the wire.
    std::string big;
    for (int i = 0; i < 4; ++i)
        big += static_cast<char>(63) + std::string(63, 'x');
    CHECK(parse_fails(with_answer_name(big + '\0')).reason == "answer 1: name over 255 bytes");
    // A name of 3 x 63 + 61: 255 bytes, the largest; read (another name: skipped).
    std::string largest;
    for (int i = 0; i < 3; ++i)
        largest += static_cast<char>(63) + std::string(63, 'x');
    largest += static_cast<char>(61) + std::string(61, 'x') + '\0';
    REQUIRE(largest.size() == 255);
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    CHECK(memcoro::dns::parse_reply(with_answer_name(largest), 7, "cache.example", record_type::a,
                                    r, err));
    CHECK(r.addresses.size() == 1);
    // Bytes that are not printable, a dot and a backslash in a label: escaped, never matched.
    auto m = a_reply();
    m.answers.push_back({std::string("\x05"
                                     "a.b\\\x01\x00",
                                     7),
                         28, dns_address("::1")});
    m.answers.back().raw_name = true;
    m.qtype = 28;
    REQUIRE(memcoro::dns::parse_reply(m.encode(), 7, "cache.example", record_type::aaaa, r, err));
    CHECK(r.addresses.empty());
    m.additional.push_back(m.answers.back());
    m.answers.pop_back();
    REQUIRE(memcoro::dns::parse_reply(m.encode(), 7, "cache.example", record_type::aaaa, r, err));
    REQUIRE(r.additional.size() == 1);
    CHECK(r.additional[0].name == "a\\046b\\092\\001");
}

TEST_CASE("dns: resolv.conf's nameservers")
{
    const std::string conf = "# generated\n"
                             "search example.com\n"
                             "nameserver 192.0.2.53\n"
                             "nameserver\t2001:db8::53   # a comment\n"
                             "  nameserver fe80::1%eth0\r\n"
                             ";nameserver 10.0.0.1\n"
                             "nameserver not-an-address\n"
                             "nameserver 10.0.0.2%eth0\n"
                             "nameserver fe80::2%\n"
                             "nameservers 10.0.0.3\n"
                             "options ndots:2\n"
                             "nameserver 10.0.0.4";
    const auto ns = memcoro::dns::resolv_conf_nameservers(conf);
    REQUIRE(ns.size() == 4);
    CHECK(ns[0] == "192.0.2.53");
    CHECK(ns[1] == "2001:db8::53");
    CHECK(ns[2] == "fe80::1%eth0");
    CHECK(ns[3] == "10.0.0.4");
    CHECK(memcoro::dns::resolv_conf_nameservers("").empty());
    CHECK(memcoro::dns::resolv_conf_nameservers("domain x\n\n\nnameserver").empty());
}

TEST_CASE("dns: the error category")
{
    const std::error_code ec = dns_errc::name_not_found;
    CHECK(std::string(ec.category().name()) == "memcoro.dns");
    CHECK(ec.message() == "dns: no such name (NXDOMAIN)");
    CHECK(memcoro::dns::to_string(record_type::srv) == "SRV");
}
