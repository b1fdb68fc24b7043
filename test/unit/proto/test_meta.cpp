// The meta dialect's codec: request lines byte for byte, and replies parsed at every split.

#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/meta.hpp>

#include <catch2/catch.hpp>

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
        {"MN\r\n", reply_kind::meta_storage},
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
