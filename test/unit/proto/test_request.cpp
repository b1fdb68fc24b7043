// The request model: command table, key lists, key checks, validation and the exact text
// encoding.

#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace memcoro;
using proto::command;
using proto::reply_kind;
using proto::request;
using proto::store_mode;

namespace {

std::string encode(const request& r)
{
    std::string out;
    proto::encode_text(r, out);
    return out;
}

std::string line_of(const proto::storage& s, std::size_t j)
{
    std::string out;
    proto::encode_text_line(s, j, out);
    return out;
}

std::string merged(const proto::retrieval& head, const std::vector<std::string>& keys)
{
    std::vector<const std::string*> ptrs;
    for (const auto& k : keys)
        ptrs.push_back(&k);
    std::string out;
    proto::encode_text_merged(head, ptrs, out);
    return out;
}

proto::retrieval retrieval(std::vector<std::string> keys, bool with_cas = false,
                           std::optional<std::int64_t> exptime = std::nullopt)
{
    proto::retrieval r;
    r.with_cas = with_cas;
    r.exptime = exptime;
    r.keys.own() = std::move(keys);
    return r;
}

proto::retrieval get(std::string key)
{
    return retrieval({std::move(key)});
}

proto::storage storage(store_mode mode, std::string key, std::string value, std::uint32_t flags = 0,
                       std::int64_t exptime = 0, std::uint64_t cas_unique = 0)
{
    proto::storage s;
    s.mode = mode;
    s.keys.own().push_back(std::move(key));
    s.values.own().push_back(std::move(value));
    s.flags = flags;
    s.exptime = exptime;
    s.cas_unique = cas_unique;
    return s;
}

proto::storage storage_of(store_mode mode, std::vector<std::string> keys,
                          std::vector<std::string> values)
{
    proto::storage s;
    s.mode = mode;
    s.keys.own() = std::move(keys);
    s.values.own() = std::move(values);
    return s;
}

proto::deletion deletion(std::vector<std::string> keys)
{
    proto::deletion d;
    d.keys.own() = std::move(keys);
    return d;
}

proto::arithmetic arithmetic(bool decrement, std::string key, std::uint64_t delta)
{
    return proto::arithmetic{decrement, std::move(key), delta};
}

proto::touch touch(std::string key, std::int64_t exptime)
{
    return proto::touch{std::move(key), exptime};
}

/// A request of command `c` about `key` (with a value for storage), or, for commands that take
/// no key, the command's default request.
request with_key(command c, std::string key)
{
    switch (c) {
    case command::get:
        return retrieval({std::move(key)});
    case command::gets:
        return retrieval({std::move(key)}, true);
    case command::gat:
        return retrieval({std::move(key)}, false, 10);
    case command::gats:
        return retrieval({std::move(key)}, true, 10);
    case command::touch:
        return touch(std::move(key), 10);
    case command::set:
        return storage(store_mode::set, std::move(key), "v");
    case command::add:
        return storage(store_mode::add, std::move(key), "v");
    case command::replace:
        return storage(store_mode::replace, std::move(key), "v");
    case command::append:
        return storage(store_mode::append, std::move(key), "v");
    case command::prepend:
        return storage(store_mode::prepend, std::move(key), "v");
    case command::cas:
        return storage(store_mode::cas, std::move(key), "v", 0, 0, 1);
    case command::del:
        return deletion({std::move(key)});
    case command::incr:
        return arithmetic(false, std::move(key), 1);
    case command::decr:
        return arithmetic(true, std::move(key), 1);
    case command::flush_all:
        return proto::flush{};
    case command::version:
        return proto::version{};
    case command::stats:
        return proto::stats{};
    case command::verbosity:
        return proto::verbosity{};
    }
    return proto::version{};
}

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::uint64_t uint64_max = std::numeric_limits<std::uint64_t>::max();

const command all_commands[] = {
    command::get,     command::gets,  command::gat,       command::gats,   command::touch,
    command::set,     command::add,   command::replace,   command::append, command::prepend,
    command::cas,     command::del,   command::incr,      command::decr,   command::flush_all,
    command::version, command::stats, command::verbosity,
};

} // namespace

TEST_CASE("request: every command maps to its name and reply kind")
{
    struct row {
        command cmd;
        const char* name;
        reply_kind kind;
    };
    const row rows[] = {
        {command::get, "get", reply_kind::retrieval},
        {command::gets, "gets", reply_kind::retrieval},
        {command::gat, "gat", reply_kind::retrieval},
        {command::gats, "gats", reply_kind::retrieval},
        {command::touch, "touch", reply_kind::touch},
        {command::set, "set", reply_kind::storage},
        {command::add, "add", reply_kind::storage},
        {command::replace, "replace", reply_kind::storage},
        {command::append, "append", reply_kind::storage},
        {command::prepend, "prepend", reply_kind::storage},
        {command::cas, "cas", reply_kind::storage},
        {command::del, "delete", reply_kind::deletion},
        {command::incr, "incr", reply_kind::arithmetic},
        {command::decr, "decr", reply_kind::arithmetic},
        {command::flush_all, "flush_all", reply_kind::ok},
        {command::version, "version", reply_kind::version},
        {command::stats, "stats", reply_kind::stats},
        {command::verbosity, "verbosity", reply_kind::ok},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        CHECK(std::string(proto::command_name(r.cmd)) == r.name);
        CHECK(proto::expected_reply(r.cmd) == r.kind);
        // a request of the command is sent as it and draws its reply kind
        const request q = with_key(r.cmd, "k");
        CHECK(proto::command_of(q) == r.cmd);
        CHECK(proto::expected_reply(q) == r.kind);
    }
}

TEST_CASE("request: command_of names every alternative's command")
{
    // retrieval: with_cas and exptime choose among get, gets, gat and gats
    CHECK(proto::command_of(retrieval({"k"})) == command::get);
    CHECK(proto::command_of(retrieval({"k"}, true)) == command::gets);
    CHECK(proto::command_of(retrieval({"k"}, false, 0)) == command::gat);
    CHECK(proto::command_of(retrieval({"k"}, true, 0)) == command::gats);
    CHECK(proto::command_of(retrieval({"k"}, true, -1)) == command::gats);
    CHECK(proto::command_of(retrieval({"a", "b"}, false, 5)) == command::gat);

    // storage: one command per mode
    CHECK(proto::command_of(storage(store_mode::set, "k", "v")) == command::set);
    CHECK(proto::command_of(storage(store_mode::add, "k", "v")) == command::add);
    CHECK(proto::command_of(storage(store_mode::replace, "k", "v")) == command::replace);
    CHECK(proto::command_of(storage(store_mode::append, "k", "v")) == command::append);
    CHECK(proto::command_of(storage(store_mode::prepend, "k", "v")) == command::prepend);
    CHECK(proto::command_of(storage(store_mode::cas, "k", "v")) == command::cas);

    CHECK(proto::command_of(deletion({"a", "b"})) == command::del);
    CHECK(proto::command_of(arithmetic(false, "k", 1)) == command::incr);
    CHECK(proto::command_of(arithmetic(true, "k", 1)) == command::decr);
    CHECK(proto::command_of(touch("k", 1)) == command::touch);
    CHECK(proto::command_of(proto::flush{}) == command::flush_all);
    CHECK(proto::command_of(proto::flush{10}) == command::flush_all);
    CHECK(proto::command_of(proto::verbosity{1}) == command::verbosity);
    CHECK(proto::command_of(proto::stats{}) == command::stats);
    CHECK(proto::command_of(proto::stats{"items"}) == command::stats);
    CHECK(proto::command_of(proto::version{}) == command::version);

    CHECK(proto::expected_reply(request(retrieval({"k"}, true, 3))) == reply_kind::retrieval);
    CHECK(proto::expected_reply(request(deletion({"a", "b"}))) == reply_kind::deletion);
    CHECK(proto::expected_reply(request(proto::flush{10})) == reply_kind::ok);
    CHECK(proto::expected_reply(request(proto::verbosity{1})) == reply_kind::ok);
}

TEST_CASE("request: reply_count is one per key for storage and delete, else one")
{
    CHECK(proto::reply_count(storage(store_mode::set, "k", "v")) == 1);
    CHECK(proto::reply_count(storage_of(store_mode::set, {"a", "b", "c"}, {"1", "2", "3"})) == 3);
    CHECK(proto::reply_count(storage_of(store_mode::append, {"a", "b"}, {"1", "2"})) == 2);
    CHECK(proto::reply_count(deletion({"a"})) == 1);
    CHECK(proto::reply_count(deletion({"a", "b", "c", "d"})) == 4);

    // a retrieval's VALUE lines and END are one reply, however many keys
    CHECK(proto::reply_count(retrieval({"a"})) == 1);
    CHECK(proto::reply_count(retrieval({"a", "b", "c"}, true, 5)) == 1);
    CHECK(proto::reply_count(arithmetic(false, "k", 1)) == 1);
    CHECK(proto::reply_count(touch("k", 1)) == 1);
    CHECK(proto::reply_count(proto::flush{}) == 1);
    CHECK(proto::reply_count(proto::verbosity{}) == 1);
    CHECK(proto::reply_count(proto::stats{"items"}) == 1);
    CHECK(proto::reply_count(proto::version{}) == 1);

    // a selection counts its selected keys
    const std::vector<std::string> base{"k0", "k1", "k2"};
    const std::uint32_t index[] = {2, 0};
    proto::deletion d;
    d.keys.select(base.data(), index, 2);
    CHECK(proto::reply_count(d) == 2);
}

TEST_CASE("request: string_list owns its strings or selects another list's")
{
    proto::string_list list;
    CHECK(list.empty());
    CHECK(list.size() == 0);
    CHECK(list.owned().empty());

    auto& own = list.own();
    own = {"a", "bb", "ccc"};
    CHECK_FALSE(list.empty());
    REQUIRE(list.size() == 3);
    CHECK(list[0] == "a");
    CHECK(list[1] == "bb");
    CHECK(list[2] == "ccc");
    CHECK(&list[1] == &list.owned()[1]);
    list.own().push_back("dddd");
    REQUIRE(list.size() == 4);
    CHECK(list[3] == "dddd");

    // A selection: element j is base[index[j]], the strings themselves, not copies.
    const std::vector<std::string> base{"k0", "k1", "k2", std::string(250, 'x')};
    const std::uint32_t index[] = {3, 0, 2, 0};
    proto::string_list part;
    part.select(base.data(), index, 4);
    CHECK_FALSE(part.empty());
    REQUIRE(part.size() == 4);
    CHECK(part[0] == base[3]);
    CHECK(part[1] == "k0");
    CHECK(part[2] == "k2");
    CHECK(part[3] == "k0");
    CHECK(&part[0] == &base[3]);
    CHECK(&part[2] == &base[2]);
    CHECK(part.owned().empty()); // a selection owns nothing

    // fewer of the same indexes; none is an empty list
    part.select(base.data(), index + 1, 2);
    REQUIRE(part.size() == 2);
    CHECK(part[0] == "k0");
    CHECK(part[1] == "k2");
    part.select(base.data(), index, 0);
    CHECK(part.empty());
    CHECK(part.size() == 0);

    // own() drops the selection: the list is its own strings again
    list.select(base.data(), index, 2);
    REQUIRE(list.size() == 2);
    CHECK(list[0] == base[3]);
    auto& again = list.own();
    again.clear();
    again.push_back("mine");
    REQUIRE(list.size() == 1);
    CHECK(list[0] == "mine");
    CHECK(&list[0] == &list.owned()[0]);
}

TEST_CASE("request: retrieval commands encode key and expiry exactly")
{
    CHECK(encode(get("k")) == "get k\r\n");
    CHECK(encode(retrieval({"user:42"}, true)) == "gets user:42\r\n");

    proto::retrieval gat = retrieval({"k"}, false, 100);
    CHECK(encode(gat) == "gat 100 k\r\n");
    gat.exptime = 0;
    CHECK(encode(gat) == "gat 0 k\r\n");
    gat.exptime = -1;
    CHECK(encode(gat) == "gat -1 k\r\n");
    gat.exptime = int64_max;
    CHECK(encode(gat) == "gat 9223372036854775807 k\r\n");
    gat.exptime = int64_min;
    CHECK(encode(gat) == "gat -9223372036854775808 k\r\n");
    gat.exptime.reset(); // no expiry: a plain get
    CHECK(encode(gat) == "get k\r\n");

    proto::retrieval gats = retrieval({"k"}, true, 2592001); // over 30 days: a Unix time
    CHECK(encode(gats) == "gats 2592001 k\r\n");
    gats.exptime = -100;
    CHECK(encode(gats) == "gats -100 k\r\n");
}

TEST_CASE("request: multi-key retrievals list every key in order")
{
    CHECK(encode(retrieval({"a", "b", "c"})) == "get a b c\r\n");
    CHECK(encode(retrieval({"a"}, true)) == "gets a\r\n");
    CHECK(encode(retrieval({"dup", "dup"})) == "get dup dup\r\n");
    CHECK(encode(retrieval({"x", "y"}, false, 30)) == "gat 30 x y\r\n");
    CHECK(encode(retrieval({"x", "y", "z"}, true, -5)) == "gats -5 x y z\r\n");

    // many 250-byte keys: one line, of any length
    std::vector<std::string> keys;
    std::string expected = "gets";
    for (char c = 'a'; c <= 'j'; ++c) {
        keys.emplace_back(250, c);
        expected += ' ' + keys.back();
    }
    CHECK(encode(retrieval(keys, true)) == expected + "\r\n");
}

TEST_CASE("request: a retrieval whose keys select another list's lists them in index order")
{
    // One server's share of a larger multi-get: keys 3, 0 and 2 of the caller's request.
    const std::vector<std::string> lender{"k0", "k1", "k2", std::string(250, 'x')};
    const std::uint32_t index[] = {3, 0, 2};
    proto::retrieval part;
    part.exptime = 7;
    part.keys.select(lender.data(), index, 3);
    REQUIRE(part.keys.size() == 3);
    CHECK(part.keys[0] == lender[3]);
    CHECK(part.keys[2] == "k2");
    CHECK_FALSE(proto::validate(part));
    CHECK(encode(part) == "gat 7 " + lender[3] + " k0 k2\r\n");
    part.keys.select(lender.data(), index, 1); // one selected key: the single-line path
    CHECK(encode(part) == "gat 7 " + lender[3] + "\r\n");
    part.exptime.reset();
    part.keys.select(lender.data(), index + 1, 2);
    CHECK(encode(part) == "get k0 k2\r\n");

    // A bad selected key is refused like an owned one; an empty selection too.
    const std::vector<std::string> bad{"ok", "not ok"};
    const std::uint32_t both[] = {0, 1};
    part.keys.select(bad.data(), both, 2);
    CHECK(proto::validate(part) == errc::invalid_key);
    part.keys.select(bad.data(), both, 1);
    CHECK_FALSE(proto::validate(part));
    part.keys.select(bad.data(), both, 0);
    CHECK(proto::validate(part) == errc::invalid_argument);

    // Storage and delete select their keys (and values) the same way.
    const std::vector<std::string> values{"v0", "v1", "v2", "v3"};
    proto::storage s;
    s.keys.select(lender.data(), index + 1, 2);
    s.values.select(values.data(), index + 1, 2);
    CHECK_FALSE(proto::validate(s));
    CHECK(encode(s) == "set k0 0 0 2\r\nv0\r\nset k2 0 0 2\r\nv2\r\n");
    s.values.select(values.data(), index + 1, 1);
    CHECK(proto::validate(s) == errc::invalid_argument);

    proto::deletion d;
    d.keys.select(lender.data(), index, 3);
    CHECK_FALSE(proto::validate(d));
    CHECK(encode(d) == "delete " + lender[3] + "\r\ndelete k0\r\ndelete k2\r\n");
}

TEST_CASE("request: touch encodes key then expiry, negative and large")
{
    proto::touch t = touch("k", 60);
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

TEST_CASE("request: storage commands encode their line, then the value")
{
    struct row {
        proto::storage req;
        const char* line;
    };
    const row rows[] = {
        {storage(store_mode::set, "k", "abc"), "set k 0 0 3\r\n"},
        {storage(store_mode::add, "k", "abc", 5, 60), "add k 5 60 3\r\n"},
        {storage(store_mode::replace, "k", "", 1, -1), "replace k 1 -1 0\r\n"},
        {storage(store_mode::append, "k", "tail"), "append k 0 0 4\r\n"},
        {storage(store_mode::prepend, "k", "head"), "prepend k 0 0 4\r\n"},
        {storage(store_mode::set, "k", "v", 4294967295u, int64_max),
         "set k 4294967295 9223372036854775807 1\r\n"},
        {storage(store_mode::set, "k", "v", 0, int64_min), "set k 0 -9223372036854775808 1\r\n"},
        // cas: the unique goes last; other storage commands never print it
        {storage(store_mode::cas, "k", "abc", 7, 10, 12345), "cas k 7 10 3 12345\r\n"},
        {storage(store_mode::cas, "k", "abc", 0, 0, uint64_max),
         "cas k 0 0 3 18446744073709551615\r\n"},
        {storage(store_mode::cas, "k", "abc", 0, 0, 0), "cas k 0 0 3 0\r\n"},
        {storage(store_mode::set, "k", "abc", 0, 0, 99), "set k 0 0 3\r\n"},
        {storage(store_mode::append, "k", "abc", 0, 0, 99), "append k 0 0 3\r\n"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.line);
        CHECK(line_of(r.req, 0) == r.line);
        CHECK(encode(r.req) == std::string(r.line) + r.req.values[0] + "\r\n");
    }

    // the payload may contain anything, its length is what counts
    const std::string binary("a\r\nb\0c", 6);
    const auto b = storage(store_mode::set, "k", binary);
    CHECK(line_of(b, 0) == "set k 0 0 6\r\n");
    CHECK(encode(b) == "set k 0 0 6\r\n" + binary + "\r\n");
    const std::string mib(1024 * 1024, 'x');
    const auto big = storage(store_mode::set, "k", mib);
    CHECK(line_of(big, 0) == "set k 0 0 1048576\r\n");
    CHECK(encode(big) == "set k 0 0 1048576\r\n" + mib + "\r\n");
}

TEST_CASE("request: storage of several keys encodes one command per key, each with its value")
{
    proto::storage s = storage_of(store_mode::set, {"a", "bb", "c"}, {"1", "", "three"});
    s.flags = 9;
    s.exptime = -1;
    s.cas_unique = 77; // not a cas: never printed
    CHECK_FALSE(proto::validate(s));
    CHECK(encode(s) == "set a 9 -1 1\r\n1\r\n"
                       "set bb 9 -1 0\r\n\r\n"
                       "set c 9 -1 5\r\nthree\r\n");

    // encode_text_line: key j's line alone, without its value
    CHECK(line_of(s, 0) == "set a 9 -1 1\r\n");
    CHECK(line_of(s, 1) == "set bb 9 -1 0\r\n");
    CHECK(line_of(s, 2) == "set c 9 -1 5\r\n");

    // every mode but cas takes several keys; the flags and expiry are every key's
    for (store_mode m :
         {store_mode::add, store_mode::replace, store_mode::append, store_mode::prepend}) {
        proto::storage q = storage_of(m, {"x", "y"}, {"ab", "a\r\nb"});
        q.flags = 4294967295u;
        q.exptime = int64_min;
        const std::string name(proto::command_name(q.cmd()));
        CAPTURE(name);
        CHECK_FALSE(proto::validate(q));
        CHECK(encode(q) == name + " x 4294967295 -9223372036854775808 2\r\nab\r\n" + name +
                               " y 4294967295 -9223372036854775808 4\r\na\r\nb\r\n");
        CHECK(line_of(q, 1) == name + " y 4294967295 -9223372036854775808 4\r\n");
    }

    // a key whose value is large, among small ones
    const std::string mib(1024 * 1024, 'v');
    const proto::storage mixed = storage_of(store_mode::set, {"s", "l"}, {"x", mib});
    CHECK(encode(mixed) == "set s 0 0 1\r\nx\r\nset l 0 0 1048576\r\n" + mib + "\r\n");
    CHECK(line_of(mixed, 1) == "set l 0 0 1048576\r\n");
}

TEST_CASE("request: the longest single-key lines encode whole; longer keys too")
{
    // A 250-byte key with every number at its widest: the longest line of a valid request.
    const std::string key(250, 'k');
    const auto widest = storage(store_mode::cas, key, "abc", 4294967295u, int64_min, uint64_max);
    CHECK_FALSE(proto::validate(widest));
    const std::string widest_line =
        "cas " + key + " 4294967295 -9223372036854775808 3 18446744073709551615\r\n";
    CHECK(line_of(widest, 0) == widest_line);
    CHECK(encode(widest) == widest_line + "abc\r\n");
    const auto prepend = storage(store_mode::prepend, key, "", 4294967295u, int64_min);
    CHECK(line_of(prepend, 0) == "prepend " + key + " 4294967295 -9223372036854775808 0\r\n");
    CHECK(encode(prepend) == "prepend " + key + " 4294967295 -9223372036854775808 0\r\n\r\n");
    CHECK(encode(retrieval({key}, true, int64_min)) == "gats -9223372036854775808 " + key + "\r\n");
    CHECK(encode(touch(key, int64_min)) == "touch " + key + " -9223372036854775808\r\n");
    CHECK(encode(arithmetic(true, key, uint64_max)) == "decr " + key + " 18446744073709551615\r\n");
    CHECK(encode(deletion({key})) == "delete " + key + "\r\n");

    // Keys beyond memcached's limit never pass validate(); encoded anyway, they are whole.
    const std::string huge(4000, 'h');
    const auto cas = storage(store_mode::cas, huge, "abc", 1, 2, 3);
    CHECK(proto::validate(cas) == errc::invalid_key);
    CHECK(line_of(cas, 0) == "cas " + huge + " 1 2 3 3\r\n");
    CHECK(encode(cas) == "cas " + huge + " 1 2 3 3\r\nabc\r\n");
    CHECK(encode(retrieval({huge}, false, int64_min)) ==
          "gat -9223372036854775808 " + huge + "\r\n");
    CHECK(encode(get(huge)) == "get " + huge + "\r\n");
    CHECK(encode(deletion({huge})) == "delete " + huge + "\r\n");
    CHECK(encode(touch(huge, int64_min)) == "touch " + huge + " -9223372036854775808\r\n");
    CHECK(encode(arithmetic(false, huge, uint64_max)) ==
          "incr " + huge + " 18446744073709551615\r\n");
    // a long key after a short one, in a list
    const auto two = storage_of(store_mode::set, {"a", huge}, {"1", "2"});
    CHECK(encode(two) == "set a 0 0 1\r\n1\r\nset " + huge + " 0 0 1\r\n2\r\n");
}

TEST_CASE("request: delete, incr and decr encode exactly")
{
    CHECK(encode(deletion({"k"})) == "delete k\r\n");

    proto::arithmetic incr = arithmetic(false, "counter", 1);
    CHECK(encode(incr) == "incr counter 1\r\n");
    incr.delta = 0;
    CHECK(encode(incr) == "incr counter 0\r\n");
    incr.delta = uint64_max;
    CHECK(encode(incr) == "incr counter 18446744073709551615\r\n");

    proto::arithmetic decr = arithmetic(true, "counter", 42);
    CHECK(encode(decr) == "decr counter 42\r\n");
    decr.delta = uint64_max;
    CHECK(encode(decr) == "decr counter 18446744073709551615\r\n");
}

TEST_CASE("request: delete of several keys encodes one delete line per key, in order")
{
    CHECK(encode(deletion({"a", "bb", "c"})) == "delete a\r\ndelete bb\r\ndelete c\r\n");
    CHECK(encode(deletion({"dup", "dup"})) == "delete dup\r\ndelete dup\r\n");
    const std::string key(250, 'k');
    CHECK(encode(deletion({key, "x"})) == "delete " + key + "\r\ndelete x\r\n");
}

TEST_CASE("request: flush_all, verbosity, version and stats encode exactly")
{
    proto::flush flush;
    CHECK(encode(flush) == "flush_all\r\n");
    flush.delay = 10;
    CHECK(encode(flush) == "flush_all 10\r\n");
    flush.delay = 0; // a delay of 0 is still printed
    CHECK(encode(flush) == "flush_all 0\r\n");
    flush.delay = -1;
    CHECK(encode(flush) == "flush_all -1\r\n");
    flush.delay = int64_min;
    CHECK(encode(flush) == "flush_all -9223372036854775808\r\n");
    flush.delay.reset();
    CHECK(encode(flush) == "flush_all\r\n");

    proto::verbosity verbosity;
    CHECK(encode(verbosity) == "verbosity 0\r\n");
    verbosity.level = 1;
    CHECK(encode(verbosity) == "verbosity 1\r\n");
    verbosity.level = std::numeric_limits<unsigned>::max();
    CHECK(encode(verbosity) ==
          "verbosity " + std::to_string(std::numeric_limits<unsigned>::max()) + "\r\n");

    CHECK(encode(proto::version{}) == "version\r\n");

    proto::stats stats;
    CHECK(encode(stats) == "stats\r\n");
    stats.group = "items";
    CHECK(encode(stats) == "stats items\r\n");
    stats.group = "slabs";
    CHECK(encode(stats) == "stats slabs\r\n");
    stats.group = std::string(64, 'g');
    CHECK(encode(stats) == "stats " + stats.group + "\r\n");
}

TEST_CASE("request: encode_text appends to what is already in the buffer")
{
    std::string out = "prefix|";
    proto::encode_text(get("a"), out);
    proto::encode_text(deletion({"b"}), out);
    proto::encode_text(storage(store_mode::set, "c", "v"), out);
    proto::encode_text_line(storage(store_mode::add, "d", "vv"), 0, out);
    proto::retrieval head;
    const std::string e = "e";
    const std::string* keys[] = {&e};
    proto::encode_text_merged(head, keys, out);
    CHECK(out == "prefix|get a\r\ndelete b\r\nset c 0 0 1\r\nv\r\nadd d 0 0 2\r\nget e\r\n");
}

TEST_CASE("request: encode_text_merged asks the given keys with the head's command")
{
    // the head's own keys are not asked
    const proto::retrieval get_head = retrieval({"ignored"});
    CHECK(merged(get_head, {"a", "b", "c"}) == "get a b c\r\n");
    CHECK(merged(get_head, {"a"}) == "get a\r\n");
    CHECK(merged(get_head, {"k", "k"}) == "get k k\r\n");
    const proto::retrieval gets_head = retrieval({"ignored"}, true);
    CHECK(merged(gets_head, {"a", "b", "c"}) == "gets a b c\r\n");
    CHECK(merged(gets_head, {"x"}) == "gets x\r\n");
    // a head that touches prints its expiry first
    CHECK(merged(retrieval({}, true, -3), {"a", "b"}) == "gats -3 a b\r\n");

    // long keys, many of them: one line
    const std::string key(250, 'k');
    const std::string huge(4000, 'h');
    CHECK(merged(get_head, {key, huge, "z"}) == "get " + key + ' ' + huge + " z\r\n");

    // the keys are read through their pointers, in the order given
    const std::string one = "one", two = "two";
    const std::string* order[] = {&two, &one, &two};
    std::string out;
    proto::encode_text_merged(gets_head, order, out);
    CHECK(out == "gets two one two\r\n");
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

TEST_CASE("request: validate checks the key of every command that takes one")
{
    for (command c : {command::get, command::gets, command::gat, command::gats, command::touch,
                      command::set, command::add, command::replace, command::append,
                      command::prepend, command::cas, command::del, command::incr, command::decr}) {
        CAPTURE(proto::command_name(c));
        CHECK_FALSE(proto::validate(with_key(c, "k")));
        CHECK_FALSE(proto::validate(with_key(c, std::string(250, 'k'))));
        CHECK(proto::validate(with_key(c, "")) == errc::invalid_key);
        CHECK(proto::validate(with_key(c, "a\r\nflush_all")) == errc::invalid_key);
        CHECK(proto::validate(with_key(c, std::string(251, 'k'))) == errc::invalid_key);
    }
    // commands without a key are valid as they are
    for (command c : {command::flush_all, command::version, command::verbosity, command::stats}) {
        CAPTURE(proto::command_name(c));
        CHECK_FALSE(proto::validate(with_key(c, "")));
    }
    CHECK_FALSE(proto::validate(proto::flush{int64_min}));
    CHECK_FALSE(proto::validate(proto::verbosity{std::numeric_limits<unsigned>::max()}));
    // every command is covered by with_key
    for (command c : all_commands)
        CHECK(proto::command_of(with_key(c, "k")) == c);
}

TEST_CASE("request: validate accepts single-token stats groups only")
{
    proto::stats stats;
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
    stats.group = std::string(1000, 'g');
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

TEST_CASE("request: validate of multi-key retrievals")
{
    for (const bool with_cas : {false, true})
        for (const std::optional<std::int64_t> exptime :
             {std::optional<std::int64_t>{}, std::optional<std::int64_t>{30}}) {
            const auto r = [&](std::vector<std::string> keys) {
                return retrieval(std::move(keys), with_cas, exptime);
            };
            CAPTURE(proto::command_name(r({"a"}).cmd()));
            CHECK_FALSE(proto::validate(r({"a"})));
            CHECK_FALSE(proto::validate(r({"a", "b", std::string(250, 'c')})));
            CHECK(proto::validate(r({})) == errc::invalid_argument); // no key at all
            CHECK(proto::validate(r({"a", ""})) == errc::invalid_key);
            CHECK(proto::validate(r({"a", "b c"})) == errc::invalid_key);
            CHECK(proto::validate(r({"a\r\nflush_all", "b"})) == errc::invalid_key);
            CHECK(proto::validate(r({"a", std::string(251, 'c')})) == errc::invalid_key);
            CHECK(proto::validate(r({"a", "b\nc", "d"})) == errc::invalid_key); // in the middle
        }
}

TEST_CASE("request: validate of multi-key storage and delete (one command per key)")
{
    for (store_mode m : {store_mode::set, store_mode::add, store_mode::replace, store_mode::append,
                         store_mode::prepend}) {
        proto::storage r = storage_of(m, {"a", "b"}, {});
        CAPTURE(proto::command_name(r.cmd()));
        CHECK(proto::validate(r) == errc::invalid_argument); // no values
        r.values.own() = {"1"};
        CHECK(proto::validate(r) == errc::invalid_argument); // one value short
        r.values.own() = {"1", "2", "3"};
        CHECK(proto::validate(r) == errc::invalid_argument); // one too many
        r.values.own() = {"1", "2"};
        CHECK_FALSE(proto::validate(r));
        r.keys.own() = {"a", "b\r\nflush_all"};
        CHECK(proto::validate(r) == errc::invalid_key);
        r.keys.own() = {"a", "b c", "d"}; // an invalid key in the middle of the list
        r.values.own() = {"1", "2", "3"};
        CHECK(proto::validate(r) == errc::invalid_key);
        r.keys.own() = {"a", "b", "d"};
        CHECK_FALSE(proto::validate(r));
        r.keys.own().clear();
        r.values.own().clear();
        CHECK(proto::validate(r) == errc::invalid_argument); // no key at all
    }

    // cas: exactly one key, with its value
    CHECK_FALSE(proto::validate(storage_of(store_mode::cas, {"a"}, {"1"})));
    CHECK(proto::validate(storage_of(store_mode::cas, {"a", "b"}, {"1", "2"})) ==
          errc::invalid_argument);
    CHECK(proto::validate(storage_of(store_mode::cas, {}, {})) == errc::invalid_argument);
    CHECK(proto::validate(storage_of(store_mode::cas, {"a"}, {})) == errc::invalid_argument);
    CHECK(proto::validate(storage_of(store_mode::cas, {"a b"}, {"1"})) == errc::invalid_key);

    CHECK_FALSE(proto::validate(deletion({"a"})));
    CHECK_FALSE(proto::validate(deletion({"a", "b"})));
    CHECK(proto::validate(deletion({})) == errc::invalid_argument);
    CHECK(proto::validate(deletion({"a", "b c"})) == errc::invalid_key);
    CHECK(proto::validate(deletion({"a", "", "c"})) == errc::invalid_key);
    CHECK(proto::validate(deletion({"a", std::string(251, 'b'), "c"})) == errc::invalid_key);
}
