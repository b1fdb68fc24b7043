// The meta dialect's codec: request lines byte for byte, and replies parsed at every split.

#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/meta.hpp>

#include <catch2/catch.hpp>

#include "../../../lib/proto/base64.hpp"

#include <random>

#include <string>
#include <string_view>
#include <vector>

using namespace memcoro;
using proto::reply_kind;
using proto::reply_type;

namespace {

proto::retrieval get_of(std::vector<std::string> keys, bool cas = false,
                        std::optional<std::int64_t> exptime = {})
{
    proto::retrieval r;
    r.with_cas = cas;
    r.exptime = exptime;
    r.keys.own() = std::move(keys);
    return r;
}

proto::storage store_of(proto::store_mode mode, std::string key, std::string value,
                        std::uint32_t flags = 0, std::int64_t exptime = 0, std::uint64_t cas = 0)
{
    proto::storage s;
    s.mode = mode;
    s.keys.own() = {std::move(key)};
    s.values.own() = {std::move(value)};
    s.flags = flags;
    s.exptime = exptime;
    s.cas_unique = cas;
    return s;
}

std::string meta(const proto::request& r, std::uint32_t opaque)
{
    std::string out;
    proto::encode_meta(r, opaque, out);
    return out;
}

struct parsed {
    std::error_code ec;
    proto::parse_status status = proto::parse_status::need_more;
    std::size_t consumed = 0;
    proto::reply r;
    std::string key, data; // copies: the views die with the input
};

parsed parse_all(std::string_view in, reply_kind kind, proto::decoder_limits limits = {})
{
    proto::decoder d(limits);
    parsed p;
    const auto res = d.parse(in, kind, p.r, p.ec);
    p.status = res.status;
    p.consumed = res.consumed;
    p.key = std::string(p.r.key);
    p.data = std::string(p.r.data);
    return p;
}

/// Parses `in` fed a byte at a time (need_more until whole), then whole: the same reply.
parsed parse_split(std::string_view in, reply_kind kind)
{
    proto::decoder d;
    for (std::size_t n = 0; n < in.size(); ++n) {
        proto::reply r;
        std::error_code ec;
        const auto res = d.parse(in.substr(0, n), kind, r, ec);
        INFO("prefix of " << n << " bytes");
        if (ec) {
            parsed p;
            p.ec = ec;
            return p;
        }
        if (res.status == proto::parse_status::done) {
            parsed p;
            p.status = res.status;
            p.consumed = res.consumed;
            p.r = r;
            p.key = std::string(r.key);
            p.data = std::string(r.data);
            return p;
        }
    }
    return parse_all(in, kind);
}

} // namespace

TEST_CASE("meta encoder: each request's lines, tagged with consecutive opaque numbers")
{
    CHECK(meta(get_of({"k"}), 1) == "mg k v f O1 k\r\n");
    CHECK(meta(get_of({"k"}, true), 0x1f) == "mg k v f c O1f k\r\n");
    CHECK(meta(get_of({"k"}, false, 300), 2) == "mg k v f T300 O2 k\r\n");
    CHECK(meta(get_of({"a", "b"}, true, 5), 0xfffffffe) ==
          "mg a v f c T5 Offfffffe k q\r\nmg b v f c T5 Offffffff k q\r\nmn\r\n");
    CHECK(meta(store_of(proto::store_mode::set, "k", "val"), 7) == "ms k 3 O7\r\nval\r\n");
    CHECK(meta(store_of(proto::store_mode::set, "k", "", 5, -1), 7) == "ms k 0 F5 T-1 O7\r\n\r\n");
    CHECK(meta(store_of(proto::store_mode::add, "k", "v"), 1) == "ms k 1 ME O1\r\nv\r\n");
    CHECK(meta(store_of(proto::store_mode::replace, "k", "v", 1, 2), 1) ==
          "ms k 1 F1 T2 MR O1\r\nv\r\n");
    // Append and prepend keep the item's flags and expiry, as their text commands do.
    CHECK(meta(store_of(proto::store_mode::append, "k", "v", 1, 2), 1) == "ms k 1 MA O1\r\nv\r\n");
    CHECK(meta(store_of(proto::store_mode::prepend, "k", "v", 1, 2), 1) == "ms k 1 MP O1\r\nv\r\n");
    CHECK(meta(store_of(proto::store_mode::cas, "k", "v", 0, 0, 18446744073709551615ull), 3) ==
          "ms k 1 C18446744073709551615 O3\r\nv\r\n");
    proto::deletion del;
    del.keys.own() = {"a", "b"};
    CHECK(meta(del, 9) == "md a O9\r\nmd b Oa\r\n");
    // Quiet writes: only failures answer, and mn closes the batch.
    del.quiet = true;
    CHECK(meta(del, 9) == "md a O9 q\r\nmd b Oa q\r\nmn\r\n");
    {
        proto::storage two = store_of(proto::store_mode::add, "a", "1");
        two.quiet = true;
        two.keys.own().push_back("b");
        two.values.own().push_back("22");
        CHECK(meta(two, 2) == "ms a 1 ME O2 q\r\n1\r\nms b 2 ME O3 q\r\n22\r\nmn\r\n");
    }
    CHECK(meta(proto::arithmetic{false, "n", 5}, 4) == "ma n v D5 O4\r\n");
    CHECK(meta(proto::arithmetic{true, "n", 18446744073709551615ull}, 4) ==
          "ma n v D18446744073709551615 MD O4\r\n");
    CHECK(meta(proto::touch{"k", 60}, 1) == "mg k T60 O1\r\n");
    // No meta form: text.
    CHECK(meta(proto::version{}, 1) == "version\r\n");
    CHECK(meta(proto::flush{std::int64_t{10}}, 1) == "flush_all 10\r\n");
    CHECK(proto::meta_opaques(get_of({"a", "b", "c"})) == 3);
    CHECK(proto::meta_opaques(proto::request(proto::version{})) == 0);
}

TEST_CASE("meta encoder: leases, early recache, item metadata, invalidation, CAS deletes")
{
    auto lease = get_of({"k"}, true);
    lease.vivify = 30;
    lease.recache = 2147483647;
    CHECK(meta(lease, 1) == "mg k v f c N30 R2147483647 O1 k\r\n");
    auto info = get_of({"k"}, true, 60);
    info.item_info = true;
    CHECK(meta(info, 2) == "mg k v f c t l h s T60 O2 k\r\n");
    CHECK(proto::needs_meta(lease));
    CHECK(proto::needs_meta(info));
    CHECK_FALSE(proto::needs_meta(get_of({"k"}, true, 60)));

    proto::deletion inv;
    inv.keys.own() = {"k"};
    inv.invalidate = true;
    CHECK(meta(inv, 3) == "md k I O3\r\n");
    inv.stale_ttl = 30;
    inv.cas_unique = 77;
    CHECK(meta(inv, 3) == "md k I T30 C77 O3\r\n");
    CHECK(proto::needs_meta(inv));
    proto::deletion cas_del;
    cas_del.keys.own() = {"k"};
    cas_del.cas_unique = 5;
    CHECK(meta(cas_del, 4) == "md k C5 O4\r\n");
    CHECK(proto::needs_meta(cas_del));
    proto::deletion plain;
    plain.keys.own() = {"k"};
    CHECK_FALSE(proto::needs_meta(plain));

    // What the server could not take is refused.
    CHECK(proto::validate(lease) == std::error_code{});
    lease.vivify = 0;
    CHECK(proto::validate(lease) == errc::invalid_argument);
    lease.vivify = std::int64_t{1} << 31;
    CHECK(proto::validate(lease) == errc::invalid_argument);
    lease.vivify = 30;
    lease.recache = -1;
    CHECK(proto::validate(lease) == errc::invalid_argument);
    cas_del.keys.own() = {"a", "b"}; // one CAS, two items
    CHECK(proto::validate(cas_del) == errc::invalid_argument);
    plain.stale_ttl = 30; // a stale TTL without an invalidation
    CHECK(proto::validate(plain) == errc::invalid_argument);
}

TEST_CASE("base64: every length round-trips; what is not canonical base64 is refused")
{
    std::mt19937 rng(7);
    for (std::size_t n = 0; n <= 200; ++n) {
        std::string raw(n, '\0');
        for (auto& c : raw)
            c = static_cast<char>(rng());
        std::string enc(proto::base64::encoded_size(n), '?');
        CHECK(proto::base64::encode(raw, enc.data()) == enc.data() + enc.size());
        std::string dec(n + 3, '\0');
        const auto got = proto::base64::decode(enc, dec.data(), dec.size());
        REQUIRE(got == static_cast<std::ptrdiff_t>(n));
        dec.resize(n);
        CHECK(dec == raw);
        if (n > 0) // no room for it: refused, nothing written past the room
            CHECK(proto::base64::decode(enc, dec.data(), n - 1) == -1);
    }
    char out[16];
    CHECK(std::string_view(out, proto::base64::encode("foo bar", out) - out) == "Zm9vIGJhcg==");
    for (std::string_view bad :
         {"Zm9", "Zm9vIGJhcg=", "Zm=v", "Zm9v=GJh", "Zm9v\r\nAA",
          "Zm9vIGJhch==", "Zm9vIGJhcl=", "====", "Zm9vIGJ*cg==", "Zm9vIGJhc==="}) {
        INFO(bad);
        CHECK(proto::base64::decode(bad, out, sizeof out) == -1);
    }
}

TEST_CASE("meta encoder: binary keys go out base64-encoded, flagged b")
{
    CHECK(meta(get_of({"foo bar"}), 1) == "mg Zm9vIGJhcg== v f O1 k b\r\n");
    CHECK(meta(store_of(proto::store_mode::set, std::string("\x01\x7f", 2), "v"), 2) ==
          "ms AX8= 1 O2 b\r\nv\r\n");
    proto::deletion del;
    del.keys.own() = {"a b", "plain"};
    CHECK(meta(del, 3) == "md YSBi O3 b\r\nmd plain O4\r\n");
    // Non-ASCII bytes are valid in a key's text form: sent as they are.
    CHECK(meta(get_of({"\xd0\xba\xd0\xbb"}), 5) == "mg \xd0\xba\xd0\xbb v f O5 k\r\n");
    CHECK_FALSE(proto::needs_base64("\xd0\xba"));
    CHECK(proto::needs_base64("tab\tkey"));

    // Valid on the meta dialect up to 186 bytes (250 encoded), never on the text one.
    CHECK(proto::validate(get_of({"foo bar"})) == errc::invalid_key);
    CHECK(proto::validate(get_of({"foo bar"}), true) == std::error_code{});
    CHECK(proto::validate(get_of({std::string(186, ' ')}), true) == std::error_code{});
    CHECK(proto::validate(get_of({std::string(187, ' ')}), true) == errc::invalid_key);
    CHECK(proto::validate(get_of({std::string(250, 'x')}), true) == std::error_code{});
    CHECK(proto::validate(get_of({std::string(251, 'x')}), true) == errc::invalid_key);
    CHECK(proto::validate(get_of({""}), true) == errc::invalid_key);
    CHECK(proto::check_key("a b", true) == std::error_code{});
    CHECK(proto::check_key("a b") == errc::invalid_key);
    std::string longest;
    proto::encode_meta(get_of({std::string(186, '\n')}, true, 1), 0xffffffff, longest);
    CHECK(longest.find(" v f c T1 Offffffff k b\r\n") == 3 + 248);
}

TEST_CASE("meta encoder: a storage line without its value, for values sent from the request")
{
    const auto s = store_of(proto::store_mode::set, "key", std::string(5000, 'x'), 3, 10);
    std::string out;
    proto::encode_meta_line(s, 0, 0xabc, out);
    CHECK(out == "ms key 5000 F3 T10 Oabc\r\n");
}

TEST_CASE("meta decoder: every reply code, with its flags, at every split")
{
    struct row {
        std::string in;
        reply_kind kind;
        reply_type type;
    };
    const std::vector<row> rows = {
        {"VA 3 f5 kfoo c2 t-1 s3 l7 h1 O4\r\nbar\r\n", reply_kind::meta_get, reply_type::value},
        {"EN kmiss O1\r\n", reply_kind::meta_get, reply_type::end},
        {"EN\r\n", reply_kind::meta_get, reply_type::end},
        {"MN\r\n", reply_kind::meta_get, reply_type::noop},
        {"HD O5\r\n", reply_kind::meta_touch, reply_type::touched},
        {"EN O6\r\n", reply_kind::meta_touch, reply_type::not_found},
        {"HD O3 c1\r\n", reply_kind::meta_storage, reply_type::stored},
        {"NS O17\r\n", reply_kind::meta_storage, reply_type::not_stored},
        {"EX O21\r\n", reply_kind::meta_storage, reply_type::exists},
        {"NF O22\r\n", reply_kind::meta_storage, reply_type::not_found},
        {"HD O13\r\n", reply_kind::meta_deletion, reply_type::deleted},
        {"NF O14\r\n", reply_kind::meta_deletion, reply_type::not_found},
        {"VA 2 O9\r\n15\r\n", reply_kind::meta_arithmetic, reply_type::number},
        {"NF O12\r\n", reply_kind::meta_arithmetic, reply_type::not_found},
        {"CLIENT_ERROR bad command line format\r\n", reply_kind::meta_get,
         reply_type::client_error},
        {"SERVER_ERROR out of memory\r\n", reply_kind::meta_storage, reply_type::server_error},
        {"ERROR\r\n", reply_kind::meta_deletion, reply_type::error},
    };
    for (const auto& row : rows) {
        INFO(row.in);
        const auto p = parse_split(row.in, row.kind);
        REQUIRE_FALSE(p.ec);
        REQUIRE(p.status == proto::parse_status::done);
        CHECK(p.consumed == row.in.size());
        CHECK(p.r.type == row.type);
    }
    const auto v =
        parse_split("VA 3 f5 kfoo c2 t-1 s3 l7 h1 O4 W X Z\r\nbar\r\n", reply_kind::meta_get);
    REQUIRE_FALSE(v.ec);
    CHECK(v.data == "bar");
    CHECK(v.key == "foo");
    CHECK(v.r.flags == 5);
    CHECK(v.r.has_cas);
    CHECK(v.r.cas == 2);
    CHECK(v.r.has_opaque);
    CHECK(v.r.opaque == 4);
    CHECK(v.r.meta.ttl == -1);
    CHECK(v.r.meta.size == 3);
    CHECK(v.r.meta.last_access == 7);
    CHECK(v.r.meta.has(proto::meta_info::hit_before));
    CHECK(v.r.meta.has(proto::meta_info::won));
    CHECK(v.r.meta.has(proto::meta_info::stale));
    CHECK(v.r.meta.has(proto::meta_info::win_sent));
    CHECK_FALSE(v.r.meta.has(proto::meta_info::base64_key));
    const auto n = parse_split("VA 2 O9\r\n15\r\n", reply_kind::meta_arithmetic);
    CHECK(n.r.number == 15);
}

TEST_CASE("meta decoder: values are byte-exact, numbers padded with spaces are read")
{
    const std::vector<std::string> values = {
        "", " ", "ends in a space ", "\r\n", "END\r\n", "VA 1\r\n", std::string("\0\xff\r", 3)};
    for (const auto& value : values) {
        const std::string in = "VA " + std::to_string(value.size()) + " O1 kk\r\n" + value + "\r\n";
        const auto p = parse_split(in, reply_kind::meta_get);
        REQUIRE_FALSE(p.ec);
        CHECK(p.data == value);
        CHECK(p.consumed == in.size());
    }
    const auto padded = parse_split("VA 3 O2\r\n1  \r\n", reply_kind::meta_arithmetic);
    REQUIRE_FALSE(padded.ec);
    CHECK(padded.r.number == 1);
}

TEST_CASE("meta decoder: hostile or misplaced replies are protocol errors")
{
    const std::vector<std::pair<std::string, reply_kind>> bad = {
        {"VA 3 O1\r\nbarx\r\n", reply_kind::meta_get},       // the length lies
        {"VA 3 O1\r\nba\r\n\r\n", reply_kind::meta_get},     // short block
        {"VA x O1\r\n", reply_kind::meta_get},               // no length
        {"VA 1 Oxyz\r\na\r\n", reply_kind::meta_get},        // an opaque never sent
        {"VA 1 O123456789\r\na\r\n", reply_kind::meta_get},  // longer than any sent
        {"VA 1 O1 O2\r\na\r\n", reply_kind::meta_get},       // two opaques
        {"VA 1 O1  k\r\na\r\n", reply_kind::meta_get},       // empty flag
        {"VA 1 cx\r\na\r\n", reply_kind::meta_get},          // CAS not a number
        {"VA 1 f4294967296\r\na\r\n", reply_kind::meta_get}, // flags over 32 bits
        {"VA 1 h2\r\na\r\n", reply_kind::meta_get},          // hit is 0 or 1
        {"VA 1 t-2\r\na\r\n", reply_kind::meta_get},         // TTL -1 or more
        {"VA 1 W1\r\na\r\n", reply_kind::meta_get},          // W takes no token
        {"VA 1 \x01\r\na\r\n", reply_kind::meta_get},        // not a flag
        {"VA 2 O1\r\nab\r\n", reply_kind::meta_arithmetic},  // not a number
        {"VA 21 O1\r\n111111111111111111111\r\n", reply_kind::meta_arithmetic}, // > 2^64
        {"HD O1\r\n", reply_kind::meta_get}, // a get always asks a value
        {"NS O1\r\n", reply_kind::meta_deletion},
        {"EN O1\r\n", reply_kind::meta_storage},
        {"MN O1\r\n", reply_kind::meta_get},
        {"MN\r\n", reply_kind::meta_touch},
        {"END\r\n", reply_kind::meta_get}, // a text reply to a meta command
        {"STORED\r\n", reply_kind::meta_storage},
        {"VALUE k 0 1\r\na\r\nEND\r\n", reply_kind::meta_get},
        {"HD O1\n", reply_kind::meta_storage}, // no \r
        {"VAX\r\n", reply_kind::meta_get},
    };
    for (const auto& [in, kind] : bad) {
        INFO(in);
        CHECK(parse_all(in, kind).ec == errc::protocol_error);
    }
}

TEST_CASE("meta decoder: a size over the item limit allocates nothing; long lines are refused")
{
    proto::decoder_limits limits;
    limits.max_item_size = 1000;
    CHECK(parse_all("VA 1001 O1\r\n", reply_kind::meta_get, limits).ec == errc::protocol_error);
    proto::decoder d(limits);
    proto::reply r;
    std::error_code ec;
    const std::string in = "VA 1000 O1\r\n";
    const auto res = d.parse(in, reply_kind::meta_get, r, ec);
    CHECK_FALSE(ec);
    CHECK(res.status == proto::parse_status::need_more);
    CHECK(d.pending_size() == in.size() + 1002);
    CHECK(parse_all("HD " + std::string(9000, 'x'), reply_kind::meta_storage).ec ==
          errc::protocol_error);
}
