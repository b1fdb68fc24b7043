// The sans-I/O reply decoder: every reply type, every chunking, every malformed input.

#include "../../support/allocation_counter.hpp"
#include "../../support/replies.hpp"

#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

// Allocations are counted (test/support/allocation_counter.cpp replaces operator new for this
// program) so the tests can assert that parse() never allocates, whatever a hostile header
// announces.
namespace {
std::size_t allocations_now() noexcept
{
    return memcoro::test::allocation_count();
}
} // namespace

using namespace memcoro;
using proto::decoder;
using proto::decoder_limits;
using proto::parse_status;
using proto::reply_kind;
using proto::reply_type;
// The reply types each kind of request may draw (the protocol, written out independently).
using test::allowed;

namespace {

constexpr reply_kind all_kinds[] = {
    reply_kind::retrieval,  reply_kind::storage, reply_kind::deletion, reply_kind::touch,
    reply_kind::arithmetic, reply_kind::ok,      reply_kind::version,  reply_kind::stats,
};

const char* kind_name(reply_kind k)
{
    switch (k) {
    case reply_kind::retrieval:
        return "retrieval";
    case reply_kind::storage:
        return "storage";
    case reply_kind::deletion:
        return "deletion";
    case reply_kind::touch:
        return "touch";
    case reply_kind::arithmetic:
        return "arithmetic";
    case reply_kind::ok:
        return "ok";
    case reply_kind::version:
        return "version";
    case reply_kind::stats:
        return "stats";
    case reply_kind::meta_get:
        return "meta_get";
    case reply_kind::meta_touch:
        return "meta_touch";
    case reply_kind::meta_storage:
        return "meta_storage";
    case reply_kind::meta_deletion:
        return "meta_deletion";
    case reply_kind::meta_arithmetic:
        return "meta_arithmetic";
    }
    return "?";
}

/// A reply copied out of the decoder's input, with the bytes it consumed.
struct parsed {
    reply_type type = reply_type::end;
    std::string key;
    std::string data;
    std::string name;
    std::uint32_t flags = 0;
    std::uint64_t cas = 0;
    bool has_cas = false;
    std::uint64_t number = 0;
    std::size_t consumed = 0;

    bool operator==(const parsed&) const = default;
};

std::string printable(const std::string& s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c < 0x20 || c >= 0x7f) {
            const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else
            out += static_cast<char>(c);
    }
    return out;
}

std::ostream& operator<<(std::ostream& os, const parsed& p)
{
    os << "{type " << static_cast<int>(p.type) << ", key \"" << printable(p.key) << "\", data \""
       << printable(p.data) << "\", name \"" << printable(p.name) << "\", flags " << p.flags
       << ", cas " << p.cas << (p.has_cas ? "" : " (none)") << ", number " << p.number
       << ", consumed " << p.consumed << "}";
    return os;
}

/// The outcome of feeding a whole stream to a decoder.
struct run {
    std::vector<parsed> replies;
    std::error_code ec;
    std::size_t unconsumed = 0; ///< bytes of the stream not consumed (fed or not)
    std::string bad;            ///< the first broken invariant, if any

    bool operator==(const run&) const = default;
};

std::ostream& operator<<(std::ostream& os, const run& r)
{
    os << "{" << r.replies.size() << " replies:";
    for (const auto& p : r.replies)
        os << " " << p;
    os << ", ec " << r.ec.message() << ", unconsumed " << r.unconsumed;
    if (!r.bad.empty())
        os << ", BROKEN: " << r.bad;
    return os << "}";
}

struct drive_stats {
    std::size_t allocations = 0; ///< allocations made inside decoder::parse
    std::size_t max_pending = 0; ///< largest pending_size() seen
};

bool inside(std::string_view view, std::string_view buf, std::size_t consumed)
{
    if (view.empty())
        return true;
    return view.data() >= buf.data() && view.data() + view.size() <= buf.data() + consumed;
}

/// Drives a decoder the way a reader does: append each chunk to a buffer, parse until
/// need_more (or an error), drop what was consumed. `cuts` are the offsets between chunks.
run drive(std::string_view stream, reply_kind kind, const std::vector<std::size_t>& cuts,
          decoder_limits limits = {}, drive_stats* stats = nullptr)
{
    run out;
    decoder dec(limits);
    std::string buf;
    std::size_t from = 0, consumed = 0;
    for (std::size_t i = 0; i <= cuts.size() && !out.ec; ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
        buf.append(stream.substr(from, to - from));
        from = to;
        for (;;) {
            proto::reply r;
            std::error_code ec;
            const std::size_t before = allocations_now();
            const auto res = dec.parse(buf, kind, r, ec);
            if (stats) {
                stats->allocations += allocations_now() - before;
                stats->max_pending = std::max(stats->max_pending, dec.pending_size());
            }
            if (ec) {
                out.ec = ec;
                if (res.status != parse_status::need_more || res.consumed != 0)
                    out.bad = "an error with a consumed reply";
                break;
            }
            if (res.status == parse_status::need_more) {
                if (res.consumed != 0 && out.bad.empty())
                    out.bad = "need_more with consumed bytes";
                break;
            }
            if ((res.consumed == 0 || res.consumed > buf.size()) && out.bad.empty())
                out.bad = "done with consumed " + std::to_string(res.consumed) + " of " +
                          std::to_string(buf.size());
            if (!(inside(r.key, buf, res.consumed) && inside(r.data, buf, res.consumed) &&
                  inside(r.name, buf, res.consumed)) &&
                out.bad.empty())
                out.bad = "views outside the consumed input";
            if (dec.pending_size() != 0 && out.bad.empty())
                out.bad = "pending_size after a complete reply";
            out.replies.push_back(parsed{r.type, std::string(r.key), std::string(r.data),
                                         std::string(r.name), r.flags, r.cas, r.has_cas, r.number,
                                         res.consumed});
            buf.erase(0, res.consumed);
            consumed += res.consumed;
        }
    }
    out.unconsumed = stream.size() - consumed;
    return out;
}

run drive_whole(std::string_view stream, reply_kind kind, decoder_limits limits = {},
                drive_stats* stats = nullptr)
{
    return drive(stream, kind, {}, limits, stats);
}

std::vector<std::size_t> every_byte(std::size_t n)
{
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < n; ++i)
        cuts.push_back(i);
    return cuts;
}

// ---- expected replies ----------------------------------------------------------------------

parsed reply_of(reply_type t, std::size_t consumed)
{
    parsed p;
    p.type = t;
    p.consumed = consumed;
    return p;
}

std::string value_bytes(const std::string& key, std::uint32_t flags, const std::string& data,
                        std::optional<std::uint64_t> cas = std::nullopt)
{
    std::string s =
        "VALUE " + key + " " + std::to_string(flags) + " " + std::to_string(data.size());
    if (cas)
        s += " " + std::to_string(*cas);
    return s + "\r\n" + data + "\r\n";
}

parsed value_of(const std::string& key, std::uint32_t flags, const std::string& data,
                std::optional<std::uint64_t> cas = std::nullopt)
{
    parsed p = reply_of(reply_type::value, value_bytes(key, flags, data, cas).size());
    p.key = key;
    p.data = data;
    p.flags = flags;
    p.cas = cas.value_or(0);
    p.has_cas = cas.has_value();
    return p;
}

parsed text_of(reply_type t, std::string line, std::string data)
{
    parsed p = reply_of(t, line.size());
    p.data = std::move(data);
    return p;
}

parsed stat_of(std::string line, std::string name, std::string value)
{
    parsed p = reply_of(reply_type::stat, line.size());
    p.name = std::move(name);
    p.data = std::move(value);
    return p;
}

parsed number_of(std::string line, std::uint64_t n)
{
    parsed p = reply_of(reply_type::number, line.size());
    p.number = n;
    return p;
}

/// One well-formed reply and the kind of request that draws it.
struct sample {
    std::string what;
    reply_kind kind;
    std::string bytes;
    parsed want;
};

std::vector<sample> valid_samples()
{
    std::vector<sample> s;
    auto add_value = [&](std::string what, std::string key, std::uint32_t flags, std::string data,
                         std::optional<std::uint64_t> cas) {
        s.push_back({std::move(what), reply_kind::retrieval, value_bytes(key, flags, data, cas),
                     value_of(key, flags, data, cas)});
    };
    auto add_simple = [&](reply_kind k, std::string text, reply_type t) {
        std::string line = text + "\r\n";
        s.push_back({text + " for " + kind_name(k), k, line, reply_of(t, line.size())});
    };

    add_value("VALUE without cas", "k", 0, "abc", std::nullopt);
    add_value("VALUE with cas", "k", 0, "abc", 42);
    add_value("VALUE with cas 0", "k", 7, "abc", 0);
    add_value("VALUE with maximal flags and cas", "key:1", 4294967295u, "abc",
              18446744073709551615ull);
    add_value("VALUE with zero-length data", "k", 0, "", std::nullopt);
    add_value("VALUE with zero-length data and cas", "k", 3, "", 7);
    add_value("VALUE whose data holds CRLF, END and VALUE", "k", 1,
              "\r\nEND\r\nVALUE k 0 3\r\nabc\r\n", std::nullopt);
    add_value("VALUE whose data is only CRLF", "k", 0, "\r\n", std::nullopt);
    add_value("VALUE with binary data", "k", 0, std::string("\0\n\r\xff\x01 \r", 7), 5);
    add_value("VALUE with a 250-byte key", std::string(250, 'k'), 0, "v", std::nullopt);
    add_value("VALUE with a high-byte key", "\xd0\xba\xff", 0, "v", std::nullopt);
    add_value("VALUE with a 100 KiB block", "big", 0, std::string(100 * 1024, 'x'), 1);
    add_simple(reply_kind::retrieval, "END", reply_type::end);

    for (reply_kind k : {reply_kind::storage})
        for (auto [text, t] : {std::pair{"STORED", reply_type::stored},
                               std::pair{"NOT_STORED", reply_type::not_stored},
                               std::pair{"EXISTS", reply_type::exists}})
            add_simple(k, text, t);
    for (reply_kind k :
         {reply_kind::storage, reply_kind::deletion, reply_kind::touch, reply_kind::arithmetic})
        add_simple(k, "NOT_FOUND", reply_type::not_found);
    add_simple(reply_kind::deletion, "DELETED", reply_type::deleted);
    add_simple(reply_kind::touch, "TOUCHED", reply_type::touched);
    for (auto [line, n] :
         {std::pair{"0\r\n", 0ull}, std::pair{"1\r\n", 1ull}, std::pair{"42\r\n", 42ull},
          std::pair{"18446744073709551615\r\n", 18446744073709551615ull}})
        s.push_back(
            {std::string("number ") + line, reply_kind::arithmetic, line, number_of(line, n)});
    add_simple(reply_kind::ok, "OK", reply_type::ok);
    s.push_back({"VERSION", reply_kind::version, "VERSION 1.6.18\r\n",
                 text_of(reply_type::version, "VERSION 1.6.18\r\n", "1.6.18")});
    s.push_back({"STAT pid", reply_kind::stats, "STAT pid 1234\r\n",
                 stat_of("STAT pid 1234\r\n", "pid", "1234")});
    s.push_back({"STAT with spaces in its value", reply_kind::stats,
                 "STAT name with spaces in value\r\n",
                 stat_of("STAT name with spaces in value\r\n", "name", "with spaces in value")});
    add_simple(reply_kind::stats, "END", reply_type::end);

    for (reply_kind k : all_kinds) {
        add_simple(k, "ERROR", reply_type::error);
        const std::string err = "ERROR unknown command\r\n";
        s.push_back({std::string("ERROR with text for ") + kind_name(k), k, err,
                     text_of(reply_type::error, err, "unknown command")});
        const std::string ce = "CLIENT_ERROR bad command line format\r\n";
        s.push_back({std::string("CLIENT_ERROR for ") + kind_name(k), k, ce,
                     text_of(reply_type::client_error, ce, "bad command line format")});
        const std::string se = "SERVER_ERROR out of memory\r\n";
        s.push_back({std::string("SERVER_ERROR for ") + kind_name(k), k, se,
                     text_of(reply_type::server_error, se, "out of memory")});
        s.push_back({std::string("bare CLIENT_ERROR for ") + kind_name(k), k, "CLIENT_ERROR\r\n",
                     text_of(reply_type::client_error, "CLIENT_ERROR\r\n", "")});
        s.push_back({std::string("bare SERVER_ERROR for ") + kind_name(k), k, "SERVER_ERROR\r\n",
                     text_of(reply_type::server_error, "SERVER_ERROR\r\n", "")});
    }
    return s;
}

/// One reply of every type, to check which kinds accept which types.
std::vector<std::pair<reply_type, std::string>> one_of_each_type()
{
    return {
        {reply_type::value, "VALUE k 0 3\r\nabc\r\n"},
        {reply_type::stat, "STAT pid 1\r\n"},
        {reply_type::end, "END\r\n"},
        {reply_type::stored, "STORED\r\n"},
        {reply_type::not_stored, "NOT_STORED\r\n"},
        {reply_type::exists, "EXISTS\r\n"},
        {reply_type::not_found, "NOT_FOUND\r\n"},
        {reply_type::deleted, "DELETED\r\n"},
        {reply_type::touched, "TOUCHED\r\n"},
        {reply_type::number, "17\r\n"},
        {reply_type::ok, "OK\r\n"},
        {reply_type::version, "VERSION 1.6.18\r\n"},
        {reply_type::error, "ERROR\r\n"},
        {reply_type::client_error, "CLIENT_ERROR bad data chunk\r\n"},
        {reply_type::server_error, "SERVER_ERROR out of memory\r\n"},
    };
}

/// A malformed reply: protocol_error whatever the chunking, nothing allocated.
struct bad_sample {
    std::string what;
    reply_kind kind;
    std::string bytes;
};

std::vector<bad_sample> malformed_samples()
{
    const auto R = reply_kind::retrieval;
    std::vector<bad_sample> s = {
        // unknown lines
        {"unknown line", R, "FOO\r\n"},
        {"lower-case status", reply_kind::storage, "stored\r\n"},
        {"status with a trailing space", reply_kind::storage, "STORED \r\n"},
        {"status with a leading space", reply_kind::storage, " STORED\r\n"},
        {"status with a suffix", reply_kind::storage, "STOREDX\r\n"},
        {"END with a suffix", R, "END2\r\n"},
        {"ERROR with a suffix", R, "ERRORS\r\n"},
        {"CLIENT_ERROR glued to text", R, "CLIENT_ERRORbad\r\n"},
        {"SERVER_ERROR glued to text", R, "SERVER_ERRORbad\r\n"},
        {"empty line", R, "\r\n"},
        {"bare VALUE", R, "VALUE\r\n"},
        {"bare VERSION", reply_kind::version, "VERSION\r\n"},
        {"bare STAT", reply_kind::stats, "STAT\r\n"},
        {"STAT without a name", reply_kind::stats, "STAT \r\n"},
        {"STAT with a double space", reply_kind::stats, "STAT  pid 1\r\n"},
        {"NUL line", R, std::string("\0\r\n", 3)},
        // line ends
        {"missing CR before LF", reply_kind::storage, "STORED\n"},
        {"lone LF", reply_kind::storage, "\n"},
        {"END with LF only", R, "END\n"},
        {"VALUE header with LF only", R, "VALUE k 0 3\nabc\r\n"},
        {"CR CR LF", reply_kind::storage, "STORED\r\r\n"},
        // the data block must be followed by CRLF
        {"VALUE data followed by junk", R, "VALUE k 0 3\r\nabcd\r\n"},
        {"VALUE data followed by LF LF", R, "VALUE k 0 3\r\nabc\n\n"},
        {"VALUE data one byte short", R, "VALUE k 0 3\r\nab\r\n\r\n"},
        {"VALUE data followed by LF CR", R, "VALUE k 0 3\r\nabc\n\r"},
        {"VALUE zero-length data not followed by CRLF", R, "VALUE k 0 0\r\nXY"},
        // VALUE header: length
        {"VALUE with negative length", R, "VALUE k 0 -1\r\n"},
        {"VALUE with non-numeric length", R, "VALUE k 0 abc\r\n"},
        {"VALUE with a length suffix", R, "VALUE k 0 3x\r\nabc\r\n"},
        {"VALUE with a plus sign", R, "VALUE k 0 +3\r\nabc\r\n"},
        {"VALUE with a hex length", R, "VALUE k 0 0x3\r\nabc\r\n"},
        {"VALUE with length 2^64", R, "VALUE k 0 18446744073709551616\r\n"},
        {"VALUE with length 2^64-1", R, "VALUE k 0 18446744073709551615\r\n"},
        {"VALUE with length 2^40", R, "VALUE k 0 1099511627776\r\n"},
        {"VALUE with a 25-digit length", R, "VALUE k 0 9999999999999999999999999\r\n"},
        {"VALUE with max_item_size + 1", R, "VALUE k 0 1048577\r\n"},
        // VALUE header: flags and cas
        {"VALUE with flags 2^32", R, "VALUE k 4294967296 3\r\nabc\r\n"},
        {"VALUE with flags 2^64", R, "VALUE k 18446744073709551616 3\r\nabc\r\n"},
        {"VALUE with negative flags", R, "VALUE k -1 3\r\nabc\r\n"},
        {"VALUE with non-numeric flags", R, "VALUE k x 3\r\nabc\r\n"},
        {"VALUE with non-numeric cas", R, "VALUE k 0 3 abc\r\nabc\r\n"},
        {"VALUE with negative cas", R, "VALUE k 0 3 -1\r\nabc\r\n"},
        {"VALUE with cas 2^64", R, "VALUE k 0 3 18446744073709551616\r\nabc\r\n"},
        // VALUE header: key and tokens
        {"VALUE with a 251-byte key", R, value_bytes(std::string(251, 'k'), 0, "abc")},
        {"VALUE with a 1000-byte key", R, value_bytes(std::string(1000, 'k'), 0, "abc")},
        {"VALUE with extra tokens", R, "VALUE k 0 3 1 2\r\nabc\r\n"},
        {"VALUE without length", R, "VALUE k 0\r\n"},
        {"VALUE with key only", R, "VALUE k\r\n"},
        {"VALUE with a double space before the key", R, "VALUE  k 0 3\r\nabc\r\n"},
        {"VALUE with a double space before flags", R, "VALUE k  0 3\r\nabc\r\n"},
        {"VALUE with a double space before length", R, "VALUE k 0  3\r\nabc\r\n"},
        {"VALUE with a double space before cas", R, "VALUE k 0 3  1\r\nabc\r\n"},
        {"VALUE with a trailing space", R, "VALUE k 0 3 \r\nabc\r\n"},
        {"VALUE with a trailing space after cas", R, "VALUE k 0 3 1 \r\nabc\r\n"},
        {"VALUE with a tab separator", R, "VALUE k\t0 3\r\nabc\r\n"},
        // numbers
        {"negative number", reply_kind::arithmetic, "-1\r\n"},
        {"number 2^64", reply_kind::arithmetic, "18446744073709551616\r\n"},
        {"number with a trailing space", reply_kind::arithmetic, "12 \r\n"},
        {"number with a suffix", reply_kind::arithmetic, "12x\r\n"},
        {"two numbers", reply_kind::arithmetic, "1 2\r\n"},
        {"21-digit number", reply_kind::arithmetic, "000000000000000000001\r\n"},
    };
    // reply types the expected kind never draws
    for (reply_kind k : all_kinds)
        for (const auto& [t, bytes] : one_of_each_type())
            if (!allowed(k, t))
                s.push_back({"type " + std::to_string(static_cast<int>(t)) + " for " + kind_name(k),
                             k, bytes});
    return s;
}

} // namespace

TEST_CASE("decoder: every reply type parses whole for the kind that draws it")
{
    for (const auto& s : valid_samples()) {
        CAPTURE(s.what);
        drive_stats st;
        const run r = drive_whole(s.bytes, s.kind, {}, &st);
        CHECK(r.bad == "");
        CHECK_FALSE(r.ec);
        REQUIRE(r.replies.size() == 1);
        CHECK(r.replies[0] == s.want);
        CHECK(r.replies[0].consumed == s.bytes.size());
        CHECK(r.unconsumed == 0);
        CHECK(st.allocations == 0);
    }
}

TEST_CASE("decoder: every strict prefix of a reply needs more and is no error")
{
    for (const auto& s : valid_samples()) {
        CAPTURE(s.what);
        decoder dec;
        bool ok = true;
        for (std::size_t n = 0; n < s.bytes.size() && ok; ++n) {
            proto::reply r;
            std::error_code ec;
            const auto res = dec.parse(std::string_view(s.bytes).substr(0, n), s.kind, r, ec);
            ok = !ec && res.status == parse_status::need_more && res.consumed == 0;
            if (!ok)
                FAIL_CHECK("prefix of " << n << " bytes: " << ec.message());
        }
        CHECK(ok);
    }
}

TEST_CASE("decoder: every reply split at every byte offset parses the same")
{
    for (const auto& s : valid_samples()) {
        CAPTURE(s.what);
        const run whole = drive_whole(s.bytes, s.kind);
        REQUIRE(whole.replies.size() == 1);
        // the 100 KiB block is split at a few hundred offsets only, to keep the run short
        const std::size_t step = s.bytes.size() > 4096 ? 397 : 1;
        std::size_t mismatches = 0;
        for (std::size_t cut = 1; cut < s.bytes.size(); cut += step) {
            const run split = drive(s.bytes, s.kind, {cut});
            if (!(split == whole)) {
                ++mismatches;
                FAIL_CHECK("split at " << cut << ": " << split << " vs " << whole);
            }
        }
        CHECK(mismatches == 0);
    }
}

TEST_CASE("decoder: every reply fed one byte at a time parses the same")
{
    for (const auto& s : valid_samples()) {
        CAPTURE(s.what);
        drive_stats st;
        const run bytewise = drive(s.bytes, s.kind, every_byte(s.bytes.size()), {}, &st);
        CHECK(bytewise == drive_whole(s.bytes, s.kind));
        CHECK(st.allocations == 0);
        // the reader learns the whole size of a VALUE from its header, never more
        if (s.want.type == reply_type::value)
            CHECK(st.max_pending == s.bytes.size());
        else
            CHECK(st.max_pending == 0);
    }
}

TEST_CASE("decoder: each kind accepts exactly the reply types it draws")
{
    for (reply_kind k : all_kinds) {
        for (const auto& [t, bytes] : one_of_each_type()) {
            CAPTURE(kind_name(k), bytes);
            const run r = drive_whole(bytes, k);
            if (allowed(k, t)) {
                CHECK_FALSE(r.ec);
                REQUIRE(r.replies.size() == 1);
                CHECK(r.replies[0].type == t);
            } else {
                CHECK(r.ec == errc::protocol_error);
                CHECK(r.replies.empty());
            }
        }
    }
}

TEST_CASE("decoder: a whole multi-get stream parses the same at every split")
{
    const std::string a = value_bytes("a", 0, "1");
    const std::string b = value_bytes("b", 2, "bbb", 99);
    const std::string c = value_bytes("c", 0, "");
    const std::string d =
        value_bytes("d", 4294967295u, "END\r\nVALUE d 0 1\r\n", 18446744073709551615ull);
    const std::string stream = a + b + c + d + "END\r\n";
    const run whole = drive_whole(stream, reply_kind::retrieval);
    REQUIRE_FALSE(whole.ec);
    CHECK(whole.bad == "");
    REQUIRE(whole.replies.size() == 5);
    CHECK(whole.replies[0] == value_of("a", 0, "1"));
    CHECK(whole.replies[1] == value_of("b", 2, "bbb", 99));
    CHECK(whole.replies[2] == value_of("c", 0, ""));
    CHECK(whole.replies[3] ==
          value_of("d", 4294967295u, "END\r\nVALUE d 0 1\r\n", 18446744073709551615ull));
    CHECK(whole.replies[4] == reply_of(reply_type::end, 5));
    CHECK(whole.unconsumed == 0);

    std::size_t mismatches = 0;
    for (std::size_t i = 1; i < stream.size(); ++i)
        for (std::size_t j = i; j < stream.size(); ++j) {
            const run split = drive(stream, reply_kind::retrieval, {i, j});
            if (!(split == whole)) {
                ++mismatches;
                FAIL_CHECK("split at " << i << ", " << j << ": " << split);
            }
        }
    CHECK(mismatches == 0);
    CHECK(drive(stream, reply_kind::retrieval, every_byte(stream.size())) == whole);
}

TEST_CASE("decoder: a stats stream parses the same at every split")
{
    const std::string stream = "STAT pid 1234\r\n"
                               "STAT uptime 100\r\n"
                               "STAT version 1.6.18\r\n"
                               "STAT name with spaces in value\r\n"
                               "STAT libevent 2.1.12-stable\r\n"
                               "END\r\n";
    const run whole = drive_whole(stream, reply_kind::stats);
    REQUIRE_FALSE(whole.ec);
    REQUIRE(whole.replies.size() == 6);
    CHECK(whole.replies[0] == stat_of("STAT pid 1234\r\n", "pid", "1234"));
    CHECK(whole.replies[1] == stat_of("STAT uptime 100\r\n", "uptime", "100"));
    CHECK(whole.replies[2] == stat_of("STAT version 1.6.18\r\n", "version", "1.6.18"));
    CHECK(whole.replies[3] ==
          stat_of("STAT name with spaces in value\r\n", "name", "with spaces in value"));
    CHECK(whole.replies[4] ==
          stat_of("STAT libevent 2.1.12-stable\r\n", "libevent", "2.1.12-stable"));
    CHECK(whole.replies[5] == reply_of(reply_type::end, 5));

    std::size_t mismatches = 0;
    for (std::size_t i = 1; i < stream.size(); ++i)
        for (std::size_t j = i; j < stream.size(); ++j)
            if (!(drive(stream, reply_kind::stats, {i, j}) == whole))
                ++mismatches;
    CHECK(mismatches == 0);
    CHECK(drive(stream, reply_kind::stats, every_byte(stream.size())) == whole);
}

TEST_CASE("decoder: replies after a complete one are left unconsumed until parsed")
{
    decoder dec;
    proto::reply r;
    std::error_code ec;
    const std::string in = "STORED\r\nNOT_STO";
    auto res = dec.parse(in, reply_kind::storage, r, ec);
    REQUIRE_FALSE(ec);
    CHECK(res.status == parse_status::done);
    CHECK(res.consumed == 8);
    CHECK(r.type == reply_type::stored);
    res = dec.parse(std::string_view(in).substr(8), reply_kind::storage, r, ec);
    CHECK_FALSE(ec);
    CHECK(res.status == parse_status::need_more);
    CHECK(res.consumed == 0);
}

TEST_CASE("decoder: a good reply followed by garbage yields the reply then the error")
{
    const std::string stream = "STORED\r\nGARBAGE\r\nSTORED\r\n";
    const run whole = drive_whole(stream, reply_kind::storage);
    REQUIRE(whole.replies.size() == 1);
    CHECK(whole.replies[0] == reply_of(reply_type::stored, 8));
    CHECK(whole.ec == errc::protocol_error);
    for (std::size_t cut = 1; cut < stream.size(); ++cut)
        CHECK(drive(stream, reply_kind::storage, {cut}) == whole);
    CHECK(drive(stream, reply_kind::storage, every_byte(stream.size())) == whole);
}

TEST_CASE("decoder: malformed replies are protocol errors and allocate nothing")
{
    for (const auto& s : malformed_samples()) {
        CAPTURE(s.what, s.bytes.size());
        drive_stats st;
        const run whole = drive_whole(s.bytes, s.kind, {}, &st);
        CHECK(whole.bad == "");
        CHECK(whole.ec == errc::protocol_error);
        CHECK(whole.replies.empty());
        CHECK(st.allocations == 0);
        CHECK(st.max_pending < 64 * 1024);

        drive_stats bst;
        const run bytewise = drive(s.bytes, s.kind, every_byte(s.bytes.size()), {}, &bst);
        CHECK(bytewise == whole);
        CHECK(bst.allocations == 0);
        // the decoder never asks for the size an invalid header announces
        CHECK(bst.max_pending < 64 * 1024);
    }
}

TEST_CASE("decoder: a VALUE announcing max_item_size waits for it, one more is an error")
{
    const decoder_limits limits{};
    const std::string header = "VALUE k 0 " + std::to_string(limits.max_item_size) + "\r\n";
    decoder dec(limits);
    proto::reply r;
    std::error_code ec;
    auto res = dec.parse(header, reply_kind::retrieval, r, ec);
    CHECK_FALSE(ec);
    CHECK(res.status == parse_status::need_more);
    CHECK(dec.pending_size() == header.size() + limits.max_item_size + 2);
    dec.reset();
    CHECK(dec.pending_size() == 0);

    const std::string over = "VALUE k 0 " + std::to_string(limits.max_item_size + 1) + "\r\n";
    const std::size_t before = allocations_now();
    res = dec.parse(over, reply_kind::retrieval, r, ec);
    CHECK(allocations_now() == before);
    CHECK(ec == errc::protocol_error);
    CHECK(dec.pending_size() == 0);

    // and with custom limits
    decoder small(decoder_limits{10, 8192});
    res = small.parse("VALUE k 0 10\r\n", reply_kind::retrieval, r, ec);
    CHECK_FALSE(ec);
    CHECK(small.pending_size() == 14 + 10 + 2);
    res = small.parse("VALUE k 0 10\r\n0123456789\r\n", reply_kind::retrieval, r, ec);
    CHECK_FALSE(ec);
    CHECK(res.status == parse_status::done);
    CHECK(r.data == "0123456789");
    CHECK(small.pending_size() == 0);
    res = small.parse("VALUE k 0 11\r\n", reply_kind::retrieval, r, ec);
    CHECK(ec == errc::protocol_error);
    CHECK(small.pending_size() == 0);
}

TEST_CASE("decoder: pending_size is the whole size of a VALUE once its header is read")
{
    decoder dec;
    proto::reply r;
    std::error_code ec;
    const std::string full = value_bytes("key", 0, std::string(1000, 'x'));
    dec.parse(std::string_view(full).substr(0, 5), reply_kind::retrieval, r, ec);
    CHECK(dec.pending_size() == 0); // header not complete: unknown
    dec.parse(std::string_view(full).substr(0, 30), reply_kind::retrieval, r, ec);
    CHECK_FALSE(ec);
    CHECK(dec.pending_size() == full.size());
    auto res = dec.parse(full, reply_kind::retrieval, r, ec);
    CHECK(res.status == parse_status::done);
    CHECK(res.consumed == full.size());
    CHECK(dec.pending_size() == 0);
}

TEST_CASE("decoder: a line longer than max_line is an error as soon as max_line bytes are "
          "buffered")
{
    const decoder_limits limits{};
    for (reply_kind k : all_kinds) {
        CAPTURE(kind_name(k));
        decoder dec(limits);
        proto::reply r;
        std::error_code ec;
        const std::string line(limits.max_line, 'A');
        auto res = dec.parse(std::string_view(line).substr(0, limits.max_line - 1), k, r, ec);
        CHECK_FALSE(ec);
        CHECK(res.status == parse_status::need_more);
        res = dec.parse(line, k, r, ec);
        CHECK(ec == errc::protocol_error);
        CHECK(dec.pending_size() == 0);
    }

    // byte by byte with a small limit: the error comes with the max_line-th byte
    const decoder_limits small{1024, 16};
    const std::string stream = "STAT a 12345678901234567890\r\n";
    decoder dec(small);
    std::string buf;
    std::error_code ec;
    std::size_t fed = 0;
    while (!ec && fed < stream.size()) {
        buf += stream[fed++];
        proto::reply r;
        dec.parse(buf, reply_kind::stats, r, ec);
    }
    CHECK(ec == errc::protocol_error);
    CHECK(fed == small.max_line);

    // a line of exactly max_line bytes, CRLF included, is fine
    const run exact = drive_whole("STAT a 1234567\r\n", reply_kind::stats, small);
    CHECK_FALSE(exact.ec);
    REQUIRE(exact.replies.size() == 1);
    CHECK(exact.replies[0] == stat_of("STAT a 1234567\r\n", "a", "1234567"));
    const run over = drive_whole("STAT a 12345678\r\n", reply_kind::stats, small);
    CHECK(over.ec == errc::protocol_error);
}

TEST_CASE("decoder: a data block longer than max_line is not a long line")
{
    const decoder_limits limits{1024 * 1024, 64};
    const std::string data(5000, '\n');
    const std::string stream = value_bytes("k", 0, data) + "END\r\n";
    const run whole = drive_whole(stream, reply_kind::retrieval, limits);
    CHECK_FALSE(whole.ec);
    REQUIRE(whole.replies.size() == 2);
    CHECK(whole.replies[0] == value_of("k", 0, data));
    std::size_t mismatches = 0;
    for (std::size_t cut = 1; cut < stream.size(); cut += 7)
        if (!(drive(stream, reply_kind::retrieval, {cut}, limits) == whole))
            ++mismatches;
    CHECK(mismatches == 0);
}

TEST_CASE("decoder: the expected kind may change between replies of one stream")
{
    // A pipelined stream: each reply is parsed for the request it answers.
    decoder dec;
    const std::string stream = "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nDELETED\r\n5\r\nOK\r\n";
    const reply_kind kinds[] = {reply_kind::storage,  reply_kind::retrieval,  reply_kind::retrieval,
                                reply_kind::deletion, reply_kind::arithmetic, reply_kind::ok};
    const reply_type types[] = {reply_type::stored,  reply_type::value,  reply_type::end,
                                reply_type::deleted, reply_type::number, reply_type::ok};
    std::string_view in = stream;
    for (std::size_t i = 0; i < 6; ++i) {
        proto::reply r;
        std::error_code ec;
        const auto res = dec.parse(in, kinds[i], r, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(res.status == parse_status::done);
        CHECK(r.type == types[i]);
        in.remove_prefix(res.consumed);
    }
    CHECK(in.empty());
}
