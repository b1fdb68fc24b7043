// The request model: command table, key checks, validation and the exact text encoding.

#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace memcoro;
using proto::command;
using proto::reply_kind;
using proto::request;

namespace {

std::string encode(const request& r)
{
    std::string out;
    proto::encode_text(r, out);
    return out;
}

request single(command c, std::string key)
{
    request r;
    r.cmd = c;
    r.key = std::move(key);
    return r;
}

request multi(command c, std::vector<std::string> keys)
{
    request r;
    r.cmd = c;
    r.multi_key = true;
    r.keys = std::move(keys);
    return r;
}

request storage(command c, std::string key, std::string value, std::uint32_t flags = 0,
                std::int64_t exptime = 0, std::uint64_t cas = 0)
{
    request r = single(c, std::move(key));
    r.value = std::move(value);
    r.flags = flags;
    r.exptime = exptime;
    r.cas = cas;
    return r;
}

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::uint64_t uint64_max = std::numeric_limits<std::uint64_t>::max();

} // namespace

TEST_CASE("request: every command maps to its name and reply kind")
{
    struct row {
        command cmd;
        const char* name;
        reply_kind kind;
        bool retrieval;
        bool storage;
    };
    const row rows[] = {
        {command::get, "get", reply_kind::retrieval, true, false},
        {command::gets, "gets", reply_kind::retrieval, true, false},
        {command::gat, "gat", reply_kind::retrieval, true, false},
        {command::gats, "gats", reply_kind::retrieval, true, false},
        {command::touch, "touch", reply_kind::touch, false, false},
        {command::set, "set", reply_kind::storage, false, true},
        {command::add, "add", reply_kind::storage, false, true},
        {command::replace, "replace", reply_kind::storage, false, true},
        {command::append, "append", reply_kind::storage, false, true},
        {command::prepend, "prepend", reply_kind::storage, false, true},
        {command::cas, "cas", reply_kind::storage, false, true},
        {command::del, "delete", reply_kind::deletion, false, false},
        {command::incr, "incr", reply_kind::arithmetic, false, false},
        {command::decr, "decr", reply_kind::arithmetic, false, false},
        {command::flush_all, "flush_all", reply_kind::ok, false, false},
        {command::version, "version", reply_kind::version, false, false},
        {command::stats, "stats", reply_kind::stats, false, false},
        {command::verbosity, "verbosity", reply_kind::ok, false, false},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        CHECK(std::string(proto::command_name(r.cmd)) == r.name);
        CHECK(proto::expected_reply(r.cmd) == r.kind);
        CHECK(proto::is_retrieval(r.cmd) == r.retrieval);
        CHECK(proto::is_storage(r.cmd) == r.storage);
    }
}

TEST_CASE("request: retrieval commands encode key and expiry exactly")
{
    CHECK(encode(single(command::get, "k")) == "get k\r\n");
    CHECK(encode(single(command::gets, "user:42")) == "gets user:42\r\n");

    request gat = single(command::gat, "k");
    gat.exptime = 100;
    CHECK(encode(gat) == "gat 100 k\r\n");
    gat.exptime = 0;
    CHECK(encode(gat) == "gat 0 k\r\n");
    gat.exptime = -1;
    CHECK(encode(gat) == "gat -1 k\r\n");
    gat.exptime = int64_max;
    CHECK(encode(gat) == "gat 9223372036854775807 k\r\n");
    gat.exptime = int64_min;
    CHECK(encode(gat) == "gat -9223372036854775808 k\r\n");

    request gats = single(command::gats, "k");
    gats.exptime = 2592001; // over 30 days: an absolute Unix time for memcached
    CHECK(encode(gats) == "gats 2592001 k\r\n");
    gats.exptime = -100;
    CHECK(encode(gats) == "gats -100 k\r\n");
}

TEST_CASE("request: multi-key retrievals list every key in order")
{
    CHECK(encode(multi(command::get, {"a", "b", "c"})) == "get a b c\r\n");
    CHECK(encode(multi(command::gets, {"a"})) == "gets a\r\n");
    CHECK(encode(multi(command::get, {"dup", "dup"})) == "get dup dup\r\n");

    request gat = multi(command::gat, {"x", "y"});
    gat.exptime = 30;
    CHECK(encode(gat) == "gat 30 x y\r\n");
    request gats = multi(command::gats, {"x", "y", "z"});
    gats.exptime = -5;
    CHECK(encode(gats) == "gats -5 x y z\r\n");

    // multi_key wins over `key`
    request both = multi(command::get, {"a", "b"});
    both.key = "ignored";
    CHECK(encode(both) == "get a b\r\n");
}

TEST_CASE("request: a retrieval that borrows its keys lists the lent ones it indexes")
{
    // One server's share of a larger multi-get: keys 3, 0 and 2 of the caller's request.
    const std::vector<std::string> lender{"k0", "k1", "k2", std::string(250, 'x')};
    const std::uint32_t index[] = {3, 0, 2};
    request part;
    part.cmd = command::gat;
    part.multi_key = true;
    part.exptime = 7;
    part.borrowed_keys = lender.data();
    part.borrowed_index = index;
    part.borrowed_count = 3;
    REQUIRE(part.key_count() == 3);
    CHECK(part.key_at(0) == lender[3]);
    CHECK(part.key_at(2) == "k2");
    CHECK_FALSE(proto::validate(part));
    CHECK(encode(part) == "gat 7 " + lender[3] + " k0 k2\r\n");
    part.borrowed_count = 1;
    CHECK(encode(part) == "gat 7 " + lender[3] + "\r\n");

    // A bad lent key is refused like an owned one; storage never borrows.
    const std::vector<std::string> bad{"ok", "not ok"};
    const std::uint32_t both[] = {0, 1};
    part.borrowed_keys = bad.data();
    part.borrowed_index = both;
    part.borrowed_count = 2;
    CHECK(proto::validate(part) == errc::invalid_key);
    part.borrowed_count = 0;
    CHECK(proto::validate(part) == errc::invalid_argument);
    part.cmd = command::set;
    part.borrowed_keys = lender.data();
    part.borrowed_count = 1;
    part.values = {"v"};
    CHECK(proto::validate(part) == errc::invalid_argument);
}

TEST_CASE("request: touch encodes key then expiry, negative and large")
{
    request t = single(command::touch, "k");
    t.exptime = 60;
    CHECK(encode(t) == "touch k 60\r\n");
    t.exptime = -1;
    CHECK(encode(t) == "touch k -1\r\n");
    t.exptime = 0;
    CHECK(encode(t) == "touch k 0\r\n");
    t.exptime = int64_max;
    CHECK(encode(t) == "touch k 9223372036854775807\r\n");
    t.exptime = int64_min;
    CHECK(encode(t) == "touch k -9223372036854775808\r\n");
}

TEST_CASE("request: storage commands encode only the header line")
{
    CHECK(encode(storage(command::set, "k", "abc")) == "set k 0 0 3\r\n");
    CHECK(encode(storage(command::add, "k", "abc", 5, 60)) == "add k 5 60 3\r\n");
    CHECK(encode(storage(command::replace, "k", "", 1, -1)) == "replace k 1 -1 0\r\n");
    CHECK(encode(storage(command::append, "k", "tail")) == "append k 0 0 4\r\n");
    CHECK(encode(storage(command::prepend, "k", "head")) == "prepend k 0 0 4\r\n");
    CHECK(encode(storage(command::set, "k", "v", 4294967295u, int64_max)) ==
          "set k 4294967295 9223372036854775807 1\r\n");
    CHECK(encode(storage(command::set, "k", "v", 0, int64_min)) ==
          "set k 0 -9223372036854775808 1\r\n");
    // the payload may contain anything, its length is what counts
    CHECK(encode(storage(command::set, "k", std::string("a\r\nb\0c", 6))) == "set k 0 0 6\r\n");
    CHECK(encode(storage(command::set, "k", std::string(1024 * 1024, 'x'))) ==
          "set k 0 0 1048576\r\n");

    // cas: the unique goes last; other storage commands never print it
    CHECK(encode(storage(command::cas, "k", "abc", 7, 10, 12345)) == "cas k 7 10 3 12345\r\n");
    CHECK(encode(storage(command::cas, "k", "abc", 0, 0, uint64_max)) ==
          "cas k 0 0 3 18446744073709551615\r\n");
    CHECK(encode(storage(command::cas, "k", "abc", 0, 0, 0)) == "cas k 0 0 3 0\r\n");
    CHECK(encode(storage(command::set, "k", "abc", 0, 0, 99)) == "set k 0 0 3\r\n");
}

TEST_CASE("request: the longest single-key lines encode whole; longer keys too")
{
    // A 250-byte key with every number at its widest: the longest line of a valid request.
    const std::string key(250, 'k');
    CHECK(encode(storage(command::cas, key, "abc", 4294967295u, int64_min, uint64_max)) ==
          "cas " + key + " 4294967295 -9223372036854775808 3 18446744073709551615\r\n");
    CHECK(encode(storage(command::prepend, key, "", 4294967295u, int64_min)) ==
          "prepend " + key + " 4294967295 -9223372036854775808 0\r\n");
    // Keys beyond memcached's limit never pass validate(); encoded anyway, they are whole.
    const std::string huge(4000, 'h');
    CHECK(validate(storage(command::cas, huge, "abc")) == errc::invalid_key);
    CHECK(encode(storage(command::cas, huge, "abc", 1, 2, 3)) == "cas " + huge + " 1 2 3 3\r\n");
    request g;
    g.cmd = command::gat;
    g.key = huge;
    g.exptime = int64_min;
    CHECK(encode(g) == "gat -9223372036854775808 " + huge + "\r\n");
}

TEST_CASE("request: delete, incr and decr encode exactly")
{
    CHECK(encode(single(command::del, "k")) == "delete k\r\n");

    request incr = single(command::incr, "counter");
    incr.cas = 1;
    CHECK(encode(incr) == "incr counter 1\r\n");
    incr.cas = 0;
    CHECK(encode(incr) == "incr counter 0\r\n");
    incr.cas = uint64_max;
    CHECK(encode(incr) == "incr counter 18446744073709551615\r\n");

    request decr = single(command::decr, "counter");
    decr.cas = 42;
    CHECK(encode(decr) == "decr counter 42\r\n");
    decr.cas = uint64_max;
    CHECK(encode(decr) == "decr counter 18446744073709551615\r\n");
}

TEST_CASE("request: flush_all, verbosity, version and stats encode exactly")
{
    request flush;
    flush.cmd = command::flush_all;
    CHECK(encode(flush) == "flush_all\r\n");
    flush.exptime = 10; // ignored without has_delay
    CHECK(encode(flush) == "flush_all\r\n");
    flush.has_delay = true;
    CHECK(encode(flush) == "flush_all 10\r\n");
    flush.exptime = 0;
    CHECK(encode(flush) == "flush_all 0\r\n");
    flush.exptime = -1;
    CHECK(encode(flush) == "flush_all -1\r\n");

    request verbosity;
    verbosity.cmd = command::verbosity;
    CHECK(encode(verbosity) == "verbosity 0\r\n");
    verbosity.exptime = 1;
    CHECK(encode(verbosity) == "verbosity 1\r\n");

    request version;
    version.cmd = command::version;
    CHECK(encode(version) == "version\r\n");

    request stats;
    stats.cmd = command::stats;
    CHECK(encode(stats) == "stats\r\n");
    stats.group = "items";
    CHECK(encode(stats) == "stats items\r\n");
    stats.group = "slabs";
    CHECK(encode(stats) == "stats slabs\r\n");
}

TEST_CASE("request: encode_text appends to what is already in the buffer")
{
    std::string out = "prefix|";
    proto::encode_text(single(command::get, "a"), out);
    proto::encode_text(single(command::del, "b"), out);
    CHECK(out == "prefix|get a\r\ndelete b\r\n");
}

TEST_CASE("request: check_key accepts 1- to 250-byte keys of printable and high bytes")
{
    CHECK_FALSE(proto::check_key("a"));
    CHECK_FALSE(proto::check_key("user:42/session_id-x.y"));
    CHECK_FALSE(proto::check_key(std::string(proto::max_key_length, 'k')));
    CHECK_FALSE(proto::check_key(std::string(249, 'k')));
    CHECK_FALSE(proto::check_key("\x80"));
    CHECK_FALSE(proto::check_key("\xff\xfe\x80"));
    CHECK_FALSE(proto::check_key("\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87")); // UTF-8 Cyrillic
    CHECK_FALSE(proto::check_key("!~")); // 0x21 and 0x7e are the printable bounds

    // every byte from 0x21 to 0x7e and from 0x80 to 0xff is fine on its own
    for (int b = 0x21; b <= 0xff; ++b) {
        if (b == 0x7f)
            continue;
        CAPTURE(b);
        CHECK_FALSE(proto::check_key(std::string(1, static_cast<char>(b))));
    }
}

TEST_CASE("request: check_key refuses empty, 251-byte and control/space keys")
{
    const std::error_code invalid = errc::invalid_key;
    CHECK(proto::check_key("") == invalid);
    CHECK(proto::check_key(std::string(251, 'k')) == invalid);
    CHECK(proto::check_key(std::string(1000, 'k')) == invalid);

    std::vector<int> bad;
    for (int b = 0x00; b <= 0x20; ++b)
        bad.push_back(b);
    bad.push_back(0x7f);
    for (int b : bad) {
        const char ch = static_cast<char>(b);
        CAPTURE(b);
        CHECK(proto::check_key(std::string(1, ch)) == invalid);
        CHECK(proto::check_key(std::string(1, ch) + "key") == invalid);
        CHECK(proto::check_key("ke" + std::string(1, ch) + "y") == invalid);
        CHECK(proto::check_key("key" + std::string(1, ch)) == invalid);
        // at the very end of a maximal key
        CHECK(proto::check_key(std::string(249, 'k') + std::string(1, ch)) == invalid);
    }

    // command injection
    CHECK(proto::check_key("a\r\nflush_all") == invalid);
    CHECK(proto::check_key("a\nflush_all") == invalid);
    CHECK(proto::check_key("a flush_all") == invalid);
    CHECK(proto::check_key(std::string("a\0b", 3)) == invalid);
}

TEST_CASE("request: check_key agrees with the byte rule for every byte at every position")
{
    // The check works on 8-byte words with a padded tail: cover both, and the neighbours of
    // a bad byte being good or bad (0x80+ bytes next to a bad one must not hide it).
    const auto rule = [](const std::string& k) {
        for (const unsigned char c : k)
            if (c <= 0x20 || c == 0x7f)
                return false;
        return true;
    };
    const char fillers[] = {'k', '\x80', '\xff', '!', '~'};
    std::size_t checked = 0, refused = 0;
    for (std::size_t len = 1; len <= 17; ++len)
        for (const char fill : fillers)
            for (std::size_t pos = 0; pos < len; ++pos)
                for (int b = 0; b <= 0xff; ++b) {
                    std::string key(len, fill);
                    key[pos] = static_cast<char>(b);
                    const bool ok = !proto::check_key(key);
                    if (ok != rule(key)) {
                        CAPTURE(len, fill, pos, b);
                        FAIL("check_key disagrees with the rule");
                    }
                    ++checked;
                    refused += ok ? 0 : 1;
                }
    CHECK(checked == 5 * 153 * 256);
    CHECK(refused == 5 * 153 * 34); // 0x00-0x20 and 0x7f at each position
}

TEST_CASE("request: validate checks keys of single-key commands")
{
    for (command c : {command::get, command::gets, command::gat, command::gats, command::touch,
                      command::set, command::add, command::replace, command::append,
                      command::prepend, command::cas, command::del, command::incr, command::decr}) {
        CAPTURE(proto::command_name(c));
        CHECK_FALSE(proto::validate(single(c, "k")));
        CHECK(proto::validate(single(c, "")) == errc::invalid_key);
        CHECK(proto::validate(single(c, "a\r\nflush_all")) == errc::invalid_key);
        CHECK(proto::validate(single(c, std::string(251, 'k'))) == errc::invalid_key);
    }
    // commands without a key ignore it
    for (command c : {command::flush_all, command::version, command::verbosity, command::stats}) {
        CAPTURE(proto::command_name(c));
        CHECK_FALSE(proto::validate(single(c, "")));
    }
}

TEST_CASE("request: validate accepts single-token stats groups only")
{
    request stats;
    stats.cmd = command::stats;
    CHECK_FALSE(proto::validate(stats));
    for (const char* g : {"items", "slabs", "sizes", "settings", "conns", "detail"}) {
        stats.group = g;
        CHECK_FALSE(proto::validate(stats));
    }
    stats.group = std::string(64, 'g');
    CHECK_FALSE(proto::validate(stats));

    const std::error_code invalid = errc::invalid_argument;
    stats.group = std::string(65, 'g');
    CHECK(proto::validate(stats) == invalid);
    stats.group = "items slabs";
    CHECK(proto::validate(stats) == invalid);
    stats.group = " items";
    CHECK(proto::validate(stats) == invalid);
    stats.group = "items\r\nflush_all";
    CHECK(proto::validate(stats) == invalid);
    for (int b = 0x00; b <= 0x20; ++b) {
        CAPTURE(b);
        stats.group = "it" + std::string(1, static_cast<char>(b)) + "ems";
        CHECK(proto::validate(stats) == invalid);
    }
    stats.group = "\x7f";
    CHECK(proto::validate(stats) == invalid);
}

TEST_CASE("request: validate of multi-key requests")
{
    for (command c : {command::get, command::gets, command::gat, command::gats}) {
        CAPTURE(proto::command_name(c));
        CHECK_FALSE(proto::validate(multi(c, {"a"})));
        CHECK_FALSE(proto::validate(multi(c, {"a", "b", std::string(250, 'c')})));
        CHECK(proto::validate(multi(c, {})) == errc::invalid_argument);
        CHECK(proto::validate(multi(c, {"a", ""})) == errc::invalid_key);
        CHECK(proto::validate(multi(c, {"a", "b c"})) == errc::invalid_key);
        CHECK(proto::validate(multi(c, {"a\r\nflush_all", "b"})) == errc::invalid_key);
        CHECK(proto::validate(multi(c, {"a", std::string(251, 'c')})) == errc::invalid_key);
    }
    // several keys of a command that takes one: never
    for (command c : {command::touch, command::incr, command::decr, command::flush_all,
                      command::version, command::stats, command::verbosity}) {
        CAPTURE(proto::command_name(c));
        CHECK(proto::validate(multi(c, {"a", "b"})) == errc::invalid_argument);
    }
}

TEST_CASE("request: validate of multi-key storage and delete (one request per key)")
{
    for (command c : {command::set, command::add, command::replace, command::append,
                      command::prepend, command::cas}) {
        CAPTURE(proto::command_name(c));
        request r = multi(c, {"a", "b"});
        CHECK(proto::validate(r) == errc::invalid_argument); // no values
        r.values = {"1"};
        CHECK(proto::validate(r) == errc::invalid_argument); // one value short
        r.values = {"1", "2", "3"};
        CHECK(proto::validate(r) == errc::invalid_argument); // one too many
        r.values = {"1", "2"};
        CHECK_FALSE(proto::validate(r));
        r.keys = {"a", "b\r\nflush_all"};
        CHECK(proto::validate(r) == errc::invalid_key);
        r.keys.clear();
        r.values.clear();
        CHECK(proto::validate(r) == errc::invalid_argument);
    }
    CHECK_FALSE(proto::validate(multi(command::del, {"a", "b"})));
    CHECK(proto::validate(multi(command::del, {})) == errc::invalid_argument);
    CHECK(proto::validate(multi(command::del, {"a", "b c"})) == errc::invalid_key);
}
