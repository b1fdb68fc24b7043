// The client's value operations against real memcached: typed values in each format (strings,
// integers, floats, booleans, JSON, a codec of the test's own), compression by the policy,
// user flags, incr/decr on typed integers, multi-key typed reads and writes with each key's
// own flags, values that do not decode (a type mismatch, a compression bomb, corrupt
// compressed bytes) failing their key only, writes refused before anything is sent, the
// completion tokens; and the cache shared with PHP's clients (php-memcached, PECL memcache):
// each reads what the other wrote.

#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"

#include <memcoro/client.hpp>
#include <memcoro/value/chunk.hpp>
#include <memcoro/value/json.hpp>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::value::codec;
using memcoro::value::value_errc;
using memcoro::value::value_format;
using memcoro::value::value_type;

namespace {

constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

memcoro::client_config config(const memcached_process& m, value_format f)
{
    memcoro::client_config cfg = memcoro::test::config_for(m.address());
    cfg.values.format = f;
    return cfg;
}

std::string long_text()
{
    std::string s;
    while (s.size() < 10000)
        s += "memcoro compresses this. ";
    return s;
}

/// `n` bytes that do not compress (so that they are chunked as they are).
std::string noise(std::size_t n, std::uint64_t seed)
{
    std::mt19937_64 gen(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        const auto v = gen();
        for (int b = 0; b < 8; ++b)
            s[i + static_cast<std::size_t>(b)] = static_cast<char>(v >> (8 * b));
    }
    return s;
}

/// The index a chunked value's key holds, read with a plain get.
asio::awaitable<memcoro::value::chunk::index> index_of(memcoro::client& c, std::string key)
{
    namespace chunk = memcoro::value::chunk;
    const auto it = co_await c.async_get(key);
    chunk::index ix;
    REQUIRE(it);
    REQUIRE(it->flags == chunk::index_flags);
    REQUIRE(!chunk::parse_index(it->value, std::size_t{1} << 30, ix));
    co_return ix;
}

/// A type of the test's own, stored as "x,y".
struct point {
    int x = 0;
    int y = 0;
    bool operator==(const point&) const = default;
};

} // namespace

template <>
struct memcoro::value_codec<point> {
    static value::value_type encode(const point& p, value::value_format, std::string& out)
    {
        out += std::to_string(p.x) + "," + std::to_string(p.y);
        return value::value_type::bytes;
    }
    static std::error_code decode(const value_view& in, point& out)
    {
        const auto comma = in.data.find(',');
        if (in.type != value::value_type::bytes || comma == std::string_view::npos)
            return value::value_errc::type_mismatch;
        value_view x{value::value_type::integer, in.data.substr(0, comma), in.format};
        value_view y{value::value_type::integer, in.data.substr(comma + 1), in.format};
        if (auto ec = value_codec<int>::decode(x, out.x))
            return ec;
        return value_codec<int>::decode(y, out.y);
    }
};

static_assert(memcoro::value_codec_for<point>);
static_assert(memcoro::value_codec_for<std::string>);
static_assert(memcoro::value_codec_for<std::uint64_t>);
static_assert(memcoro::value_codec_for<nlohmann::json>);
static_assert(!memcoro::value_codec_for<std::vector<int>>);

TEST_CASE("values: typed values round-trip in every format, compressed by the policy")
{
    memcached_process m;
    for (const auto f :
         {value_format::memcoro, value_format::php_memcached, value_format::pecl_memcache}) {
        INFO("format " << memcoro::value::format_name(f));
        asio::io_context ioc;
        run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto cfg = config(m, f);
            // (PECL memcache's default threshold is 20000 bytes: the same 2000 for all here.)
            auto policy = memcoro::value::default_compression(f);
            policy.threshold = 2000;
            cfg.values.compression = policy;
            memcoro::client c(ioc.get_executor(), cfg);
            const std::string p = std::string(memcoro::value::format_name(f)) + ":";
            const std::string text = long_text();
            co_await c.async_set_as(p + "s", std::string("hello"));
            co_await c.async_set_as(p + "long", text);
            co_await c.async_set_as(p + "empty", std::string());
            co_await c.async_set_as(p + "i", std::int64_t{-42});
            co_await c.async_set_as(p + "u", std::numeric_limits<std::uint64_t>::max());
            co_await c.async_set_as(p + "d", 0.1);
            co_await c.async_set_as(p + "t", true);
            co_await c.async_set_as(p + "f", false);
            co_await c.async_set_as(p + "pt", point{3, -4});

            const auto s = co_await c.async_get_as<std::string>(p + "s");
            CHECK(s == std::optional<std::string>("hello"));
            const auto l = co_await c.async_get_as<std::string>(p + "long");
            CHECK(l == std::optional<std::string>(text));
            const auto e = co_await c.async_get_as<std::string>(p + "empty");
            CHECK(e == std::optional<std::string>(""));
            const auto i = co_await c.async_get_as<std::int64_t>(p + "i");
            CHECK(i == std::optional<std::int64_t>(-42));
            const auto u = co_await c.async_get_as<std::uint64_t>(p + "u");
            CHECK(u == std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
            const auto d = co_await c.async_get_as<double>(p + "d");
            CHECK(d == std::optional<double>(0.1));
            const auto t = co_await c.async_get_as<bool>(p + "t");
            CHECK(t == std::optional<bool>(true));
            const auto fl = co_await c.async_get_as<bool>(p + "f");
            CHECK(fl == std::optional<bool>(false));
            const auto pt = co_await c.async_get_as<point>(p + "pt");
            CHECK(pt == std::optional<point>(point{3, -4}));
            const auto miss = co_await c.async_get_as<std::int64_t>(p + "absent");
            CHECK_FALSE(miss);

            // What is stored: the long text compressed, with the format's codec.
            const auto raw = co_await c.async_get(p + "long");
            REQUIRE(raw);
            CHECK(raw->value.size() < text.size() / 4);
            const auto v = co_await c.async_get_value(p + "long");
            REQUIRE(v);
            CHECK(v->data == text);
            CHECK(v->type == value_type::bytes);
            CHECK(v->compressed_with == memcoro::value::default_compression(f).algorithm);
            const auto vi = co_await c.async_get_value(p + "i");
            REQUIRE(vi);
            CHECK(vi->type == value_type::integer);
            CHECK(vi->data == "-42");
            CHECK(vi->compressed_with == codec::none);
            // A short string is stored as it is: the plain get reads the same bytes.
            const auto rs = co_await c.async_get(p + "s");
            REQUIRE(rs);
            CHECK(rs->value == "hello");
        }());
    }
}

TEST_CASE("values: JSON where the format has a type for it, refused before sending where not")
{
    memcached_process m;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        const auto cfg = config(m, value_format::php_memcached);
        memcoro::client c(ioc.get_executor(), cfg);
        const nlohmann::json doc = {{"name", "memcoro"}, {"n", 3}, {"list", {1, 2, 3}}};
        co_await c.async_set_as("j", doc);
        const auto j = co_await c.async_get_as<nlohmann::json>("j");
        CHECK(j == std::optional<nlohmann::json>(doc));
        const auto v = co_await c.async_get_value("j");
        REQUIRE(v);
        CHECK(v->type == value_type::json);

        const auto pecl_cfg = config(m, value_format::pecl_memcache);
        const memcoro::value_store_options no_options;
        memcoro::client pecl(ioc.get_executor(), pecl_cfg);
        auto [ec, st_unused] = co_await pecl.async_set_as("j2", doc, no_options, tuple);
        CHECK(ec == value_errc::type_not_in_format);
        const auto absent = co_await pecl.async_get("j2");
        CHECK_FALSE(absent);
        // User flags the format has no room for.
        memcoro::value_store_options bad_flags;
        bad_flags.user_flags = 5; // pecl_memcache takes multiples of 0x10000 only
        auto [ec2, st2_unused] =
            co_await pecl.async_set_as("j3", std::string("x"), bad_flags, tuple);
        CHECK(ec2 == value_errc::invalid_user_flags);
        const auto absent2 = co_await pecl.async_get("j3");
        CHECK_FALSE(absent2);
        // The thrown error names the key.
        std::string what;
        try {
            co_await pecl.async_set_as("j4", doc);
        } catch (const memcoro::error& err) {
            what = err.what();
        }
        CHECK(what.find("j4") != std::string::npos);
        CHECK(what.find("json") != std::string::npos);
    }());
}

TEST_CASE("values: user flags beside the format's bits; incr and decr on typed integers")
{
    memcached_process m;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        const auto cfg = config(m, value_format::php_memcached);
        memcoro::client c(ioc.get_executor(), cfg);
        memcoro::value_store_options o;
        o.user_flags = 7;
        o.expiry = 100s;
        co_await c.async_set_as("flagged", long_text(), o);
        const auto v = co_await c.async_get_value("flagged");
        REQUIRE(v);
        CHECK(v->user_flags == 7);
        CHECK(v->compressed_with == codec::fastlz);
        const auto raw = co_await c.async_get("flagged");
        REQUIRE(raw);
        CHECK(raw->flags == (7u << 16 | 0x10 | 0x40)); // php-memcached: user, compressed, FastLZ

        co_await c.async_set_as("n", std::int64_t{10});
        const auto up = co_await c.async_incr("n", 5);
        CHECK(up == std::optional<std::uint64_t>(15));
        const auto n1 = co_await c.async_get_as<std::int64_t>("n");
        CHECK(n1 == std::optional<std::int64_t>(15));
        const auto down = co_await c.async_decr("n", 6); // "9 ": shorter, padded in place
        CHECK(down == std::optional<std::uint64_t>(9));
        const auto n2 = co_await c.async_get_as<std::int64_t>("n");
        CHECK(n2 == std::optional<std::int64_t>(9));
        const auto n3 = co_await c.async_get_as<std::string>("n");
        CHECK(n3 == std::optional<std::string>("9"));

        // A typed CAS loop.
        const auto g = co_await c.async_gets_value("n");
        REQUIRE(g);
        CHECK(g->cas != 0);
        const auto ok = co_await c.async_cas_as("n", std::int64_t{100}, g->cas);
        CHECK(ok == memcoro::store_status::stored);
        const auto stale = co_await c.async_cas_as("n", std::int64_t{200}, g->cas);
        CHECK(stale == memcoro::store_status::exists);
        const auto added = co_await c.async_add_as("n", std::int64_t{1});
        CHECK(added == memcoro::store_status::not_stored);
        const auto replaced = co_await c.async_replace_as("n", std::int64_t{-1});
        CHECK(replaced == memcoro::store_status::stored);
        const auto n4 = co_await c.async_get_as<std::int64_t>("n");
        CHECK(n4 == std::optional<std::int64_t>(-1));
    }());
}

TEST_CASE("values: a value that does not decode fails its key only, and the connection goes on")
{
    const std::vector<std::string> keys = {"num", "text", "bomb", "absent", "corrupt", "odd"};
    memcached_process m;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = config(m, value_format::memcoro);
        cfg.values.max_value_size = 64 * 1024;
        memcoro::client c(ioc.get_executor(), cfg);
        co_await c.async_set("text", "not a number");
        co_await c.async_set_as("num", std::int64_t{5});

        auto [ec, r] = co_await c.async_get_as<std::int64_t>("text", tuple);
        CHECK(ec == value_errc::type_mismatch);
        CHECK_FALSE(r);
        std::string what;
        try {
            co_await c.async_get_as<std::int64_t>("text");
        } catch (const memcoro::error& err) {
            what = err.what();
        }
        CHECK(what.find("key 'text'") != std::string::npos);
        const std::string message = std::error_code(value_errc::type_mismatch).message();
        CHECK(what.find(message) == 0);
        CHECK(what.find(message, 1) == std::string::npos); // (said once)

        // A bomb: memcoro's flags say zlib, the length prefix claims 1 GiB.
        const std::uint32_t zlib_bytes = 1u << 26; // codec 1 in bits 26-28
        std::string bomb("\x00\x00\x00\x40", 4);
        bomb += "garbage that no zlib stream starts with";
        memcoro::store_options raw_opts;
        raw_opts.flags = zlib_bytes;
        co_await c.async_set("bomb", bomb, raw_opts);
        auto [ec2, r2] = co_await c.async_get_value("bomb", tuple);
        CHECK(ec2 == memcoro::value::compression_errc::too_large);
        CHECK_FALSE(r2);
        // Corrupt compressed bytes with a plausible length.
        std::string corrupt("\x10\x00\x00\x00", 4);
        corrupt += "xxxxxxxxxxxxxxxx";
        co_await c.async_set("corrupt", corrupt, raw_opts);
        auto [ec3, r3] = co_await c.async_get_value("corrupt", tuple);
        CHECK(ec3 == memcoro::value::compression_errc::corrupt_data);
        // Flags with a type memcoro's format does not define (7).
        memcoro::store_options odd;
        odd.flags = 6u << 29;
        co_await c.async_set("odd", "x", odd);

        // In one multi-key read, each key keeps its own outcome.
        const auto all = co_await c.async_get_multi_as<std::int64_t>(keys);
        REQUIRE(all.size() == keys.size());
        CHECK(all[0].key == "num");
        CHECK(all[0].value == std::optional<std::int64_t>(5));
        CHECK(!all[0].ec);
        CHECK(all[1].ec == value_errc::type_mismatch);
        CHECK(all[2].ec == memcoro::value::compression_errc::too_large);
        CHECK(all[3].key == "absent");
        CHECK(!all[3].value);
        CHECK(!all[3].ec);
        CHECK(all[4].ec == memcoro::value::compression_errc::corrupt_data);
        CHECK(all[5].ec == value_errc::unsupported_flags);
        for (std::size_t k = 1; k < keys.size(); ++k)
            CHECK(!all[k].value);

        // The connection is fine: the next read works.
        const auto n = co_await c.async_get_as<std::int64_t>("num");
        CHECK(n == std::optional<std::int64_t>(5));
        CHECK(c.servers().at(0).counters.connects == 1);
    }());
}

TEST_CASE("values: multi-key typed sets over two servers, each key with its own flags")
{
    const std::vector<std::pair<std::string, std::int64_t>> nums = {{"n1", 1}, {"n2", -2}};
    const std::vector<std::string> nkeys = {"n1", "n2", "mk1"};
    memcached_process m1;
    memcached_process m2;
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = memcoro::test::config_for(m1.address() + "," + m2.address());
        cfg.values.format = value_format::memcoro;
        memcoro::client c(ioc.get_executor(), cfg);
        std::vector<std::pair<std::string, std::string>> items;
        const std::string text = long_text();
        for (int i = 0; i < 200; ++i)
            items.emplace_back("mk" + std::to_string(i),
                               i % 2 ? text + std::to_string(i) : std::to_string(i));
        const auto stored = co_await c.async_set_multi_as(items);
        REQUIRE(stored.size() == items.size());
        bool all_stored = true;
        for (const auto& s : stored)
            all_stored = all_stored && !s.ec && s.status == memcoro::store_status::stored;
        CHECK(all_stored);
        std::vector<std::string> keys;
        for (const auto& kv : items)
            keys.push_back(kv.first);
        const auto got = co_await c.async_get_multi_values(keys);
        REQUIRE(got.size() == items.size());
        bool right = true;
        std::size_t compressed = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            right = right && got[i].key == items[i].first && got[i].value &&
                    got[i].value->data == items[i].second;
            compressed += got[i].value && got[i].value->compressed_with == codec::zlib;
        }
        CHECK(right);
        CHECK(compressed == 100);
        // Both servers hold some of them.
        CHECK(c.servers().at(0).counters.requests > 0);
        CHECK(c.servers().at(1).counters.requests > 0);
        // Integers stored typed in one batch, read back typed.
        co_await c.async_set_multi_as(nums);
        const auto typed = co_await c.async_get_multi_as<std::int64_t>(nkeys);
        REQUIRE(typed.size() == 3);
        CHECK(typed[0].value == std::optional<std::int64_t>(1));
        CHECK(typed[1].value == std::optional<std::int64_t>(-2));
        CHECK(typed[2].ec == value_errc::type_mismatch);
    }());
}

TEST_CASE("values: every completion token; handlers run on their own executor")
{
    memcached_process m;
    asio::io_context ioc;
    const auto cfg = config(m, value_format::memcoro);
    memcoro::client c(ioc.get_executor(), cfg);
    auto strand = asio::make_strand(ioc);
    bool set_done = false;
    bool on_strand = false;
    bool plain_on_strand = false;
    std::optional<std::int64_t> got;
    std::error_code got_ec;
    c.async_set_as("cb", std::int64_t{77}, {}, [&](std::error_code ec, memcoro::store_status s) {
        CHECK(!ec);
        CHECK(s == memcoro::store_status::stored);
        set_done = true;
        c.async_get("cb", asio::bind_executor(strand, [&](std::error_code, memcoro::get_result) {
                        plain_on_strand = strand.running_in_this_thread();
                    }));
        c.async_get_as<std::int64_t>(
            "cb",
            asio::bind_executor(strand, [&](std::error_code ec2, std::optional<std::int64_t> v) {
                on_strand = strand.running_in_this_thread();
                got_ec = ec2;
                got = v;
            }));
    });
    // A refused write completes through its handler, never inline.
    bool refused_inline = true;
    bool refused_called = false;
    memcoro::value_store_options bad;
    bad.user_flags = 1u << 30; // past memcoro's 26 bits
    c.async_set_as("bad", std::string("x"), bad, [&](std::error_code ec, memcoro::store_status) {
        CHECK(ec == value_errc::invalid_user_flags);
        refused_called = true;
    });
    refused_inline = refused_called;
    ioc.run_for(5s);
    CHECK(set_done);
    CHECK(plain_on_strand);
    CHECK(on_strand);
    CHECK(!got_ec);
    CHECK(got == std::optional<std::int64_t>(77));
    CHECK(refused_called);
    CHECK_FALSE(refused_inline);

    // with_diagnostics: a failed decode's message names the key.
    asio::io_context ioc2;
    run_coro(ioc2, [&]() -> asio::awaitable<void> {
        memcoro::client c2(ioc2.get_executor(), cfg);
        co_await c2.async_set("word", "seven");
        memcoro::diagnostics diag;
        auto [ec, v] =
            co_await c2.async_get_as<int>("word", memcoro::with_diagnostics(diag, tuple));
        CHECK(ec == value_errc::type_mismatch);
        CHECK(diag.message.find("key 'word'") != std::string::npos);
    }());
}

namespace {

/// Runs `php test/data/php/client_values.php MODE PORT` and returns its output; `ok` false when
/// it failed.
std::string run_php(const std::string& mode, std::uint16_t port, bool& ok)
{
    const std::string script = std::string(MEMCORO_TEST_DATA_DIR) + "/php/client_values.php";
    const std::string cmd = "php " + script + " " + mode + " " + std::to_string(port);
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) {
        ok = false;
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    ok = pclose(p) == 0;
    return out;
}

bool php_clients_installed()
{
    return std::system("php -r 'exit(class_exists(\"Memcached\") && class_exists(\"Memcache\") "
                       "? 0 : 1);' >/dev/null 2>&1") == 0;
}

std::string hex(std::string_view s)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char ch : s) {
        out += digits[ch >> 4];
        out += digits[ch & 15];
    }
    return out;
}

} // namespace

TEST_CASE("values: one cache with PHP: memcoro reads what php-memcached and PECL memcache "
          "wrote, and they read what memcoro wrote")
{
    if (!php_clients_installed()) {
        std::fputs("php, php-memcached or php-memcache not installed: skipped\n", stderr);
        std::exit(77); // meson: skipped
    }
    memcached_process m;
    bool ok = false;
    const std::string wrote = run_php("write", m.port(), ok);
    REQUIRE(ok);
    const std::string text = long_text();
    asio::io_context ioc;
    std::string php_read;
    const std::array<value_format, 2> php_formats = {value_format::php_memcached,
                                                     value_format::pecl_memcache};
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        for (const auto f : php_formats) {
            const std::string p = f == value_format::php_memcached ? "pm:" : "pc:";
            INFO("keys " << p);
            auto cfg = config(m, f);
            // As the PHP side: both compress from 2000 bytes, keeping a 20% saving.
            auto policy = memcoro::value::default_compression(f);
            policy.threshold = 2000;
            cfg.values.compression = policy;
            memcoro::client c(ioc.get_executor(), cfg);
            const auto s = co_await c.async_get_as<std::string>(p + "s_short");
            CHECK(s == std::optional<std::string>("hello"));
            const auto e = co_await c.async_get_as<std::string>(p + "s_empty");
            CHECK(e == std::optional<std::string>(""));
            const auto l = co_await c.async_get_value(p + "s_long");
            REQUIRE(l);
            CHECK(l->data == text);
            CHECK(l->compressed_with != codec::none); // PHP compressed it
            const auto ip = co_await c.async_get_as<std::int64_t>(p + "i_pos");
            CHECK(ip == std::optional<std::int64_t>(42));
            const auto in = co_await c.async_get_as<std::int64_t>(p + "i_neg");
            CHECK(in == std::optional<std::int64_t>(-7));
            const auto im = co_await c.async_get_as<std::int64_t>(p + "i_max");
            CHECK(im == std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
            const auto ft = co_await c.async_get_as<double>(p + "f_tenth");
            CHECK(ft == std::optional<double>(0.1));
            const auto fb = co_await c.async_get_as<double>(p + "f_big");
            CHECK(fb == std::optional<double>(1.0e25));
            const auto fn = co_await c.async_get_as<double>(p + "f_neg");
            CHECK(fn == std::optional<double>(-2.5));
            const auto bt = co_await c.async_get_as<bool>(p + "b_true");
            CHECK(bt == std::optional<bool>(true));
            const auto bf = co_await c.async_get_as<bool>(p + "b_false");
            CHECK(bf == std::optional<bool>(false));
            // An array PHP serialized: its bytes, reported as such, and not a string.
            const auto arr = co_await c.async_get_value(p + "arr");
            REQUIRE(arr);
            CHECK(arr->type == value_type::php_serialized);
            CHECK(arr->data == "a:3:{i:0;i:1;i:1;i:2;i:2;i:3;}");
            auto [ec, as_string] = co_await c.async_get_as<std::string>(p + "arr", tuple);
            CHECK(ec == value_errc::type_mismatch);
            const auto flagged = co_await c.async_get_value(p + "flagged");
            REQUIRE(flagged);
            CHECK(flagged->data == "with flags");
            CHECK(flagged->user_flags == (f == value_format::php_memcached ? 7u : 0x70000u));

            // memcoro writes the same values for PHP to read.
            const std::string q = "mc-" + p;
            co_await c.async_set_as(q + "s_short", std::string("hello"));
            co_await c.async_set_as(q + "s_empty", std::string());
            co_await c.async_set_as(q + "s_long", text);
            co_await c.async_set_as(q + "i_pos", std::int64_t{42});
            co_await c.async_set_as(q + "i_neg", std::int64_t{-7});
            co_await c.async_set_as(q + "i_max", std::numeric_limits<std::int64_t>::max());
            co_await c.async_set_as(q + "f_tenth", 0.1);
            co_await c.async_set_as(q + "f_big", 1.0e25);
            co_await c.async_set_as(q + "f_neg", -2.5);
            co_await c.async_set_as(q + "b_true", true);
            co_await c.async_set_as(q + "b_false", false);
            const auto stored_long = co_await c.async_get(q + "s_long");
            REQUIRE(stored_long);
            CHECK(stored_long->value.size() < text.size() / 4); // compressed for PHP too
        }
    }());
    php_read = run_php("read", m.port(), ok);
    REQUIRE(ok);
    std::map<std::string, std::string> seen;
    std::istringstream lines(php_read);
    for (std::string line; std::getline(lines, line);) {
        const auto tab = line.find('\t');
        if (tab != std::string::npos)
            seen[line.substr(0, tab)] = line.substr(tab + 1);
    }
    for (const std::string& p : {std::string("mc-pm:"), std::string("mc-pc:")}) {
        INFO(php_read);
        CHECK(seen[p + "s_short"] == "string\t" + hex("hello"));
        CHECK(seen[p + "s_empty"] == "string\t");
        CHECK(seen[p + "s_long"] == "string\t" + hex(text));
        CHECK(seen[p + "i_pos"] == "integer\t42");
        CHECK(seen[p + "i_neg"] == "integer\t-7");
        CHECK(seen[p + "i_max"] == "integer\t9223372036854775807");
        CHECK(seen[p + "f_tenth"] == "double\t0.1");
        CHECK(seen[p + "f_big"] == "double\t1.0E+25");
        CHECK(seen[p + "f_neg"] == "double\t-2.5");
        CHECK(seen[p + "b_true"] == "boolean\ttrue");
        CHECK(seen[p + "b_false"] == "boolean\tfalse");
    }
    CHECK(seen.size() == 22);
}

TEST_CASE("values: a value bigger than an item is chunked and read back whole, alone and among "
          "other keys; a missing chunk is a miss; a wrong chunk an error")
{
    namespace chunk = memcoro::value::chunk;
    memcached_process m({"-m", "256"});
    memcached_process m2({"-m", "256"});
    asio::io_context ioc;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = memcoro::test::config_for(m.address() + "," + m2.address());
        cfg.values.chunk_large_values = true;
        memcoro::client c(ioc.get_executor(), cfg);
        const std::string big = noise(10 * 1024 * 1024 + 17, 1);
        const auto r1 = co_await c.async_set_value("big", value_type::bytes, big);
        CHECK(r1 == memcoro::store_status::stored);
        const auto got = co_await c.async_get_value("big");
        REQUIRE(got);
        CHECK(got->data.size() == big.size());
        CHECK(got->data == big);
        CHECK(got->type == value_type::bytes);
        const auto r2 = co_await c.async_get_as<std::string>("big");
        CHECK(r2 == std::optional<std::string>(big));

        // Under the key: the index; the chunks: items of their own, spread over both servers.
        const auto ix = co_await index_of(c, "big");
        CHECK(ix.size == big.size());
        CHECK(ix.count == 11); // 10 MiB + 17 bytes in chunks of 1 MiB - 1 KiB
        std::vector<std::string> chunk_keys;
        for (std::uint32_t i = 0; i < ix.count; ++i)
            chunk_keys.push_back(chunk::chunk_key(ix, i));
        const auto raw = co_await c.async_get_multi(chunk_keys);
        CHECK(raw.hits.size() == ix.count);
        CHECK(c.servers().at(0).counters.requests > 0);
        CHECK(c.servers().at(1).counters.requests > 0);

        // Compressible data smaller than an item once compressed is stored as one item.
        std::string text;
        while (text.size() < 3 * 1024 * 1024)
            text += "memcoro chunks only what does not fit. ";
        co_await c.async_set_value("text", value_type::bytes, text);
        const auto text_item = co_await c.async_get("text");
        REQUIRE(text_item);
        CHECK(text_item->flags != chunk::index_flags);
        CHECK(text_item->value.size() < 1024 * 1024);
        // A compressed value bigger than an item: compressed, then chunked.
        std::string mixed = noise(2 * 1024 * 1024, 2);
        mixed += text;
        co_await c.async_set_value("mixed", value_type::bytes, mixed);
        const auto mixed_ix = co_await index_of(c, "mixed");
        CHECK(mixed_ix.size < mixed.size());

        // Many keys at once: chunked and plain values, misses, each in its place.
        const std::vector<std::string> keys = {"small", "big", "absent", "mixed", "text"};
        co_await c.async_set_as("small", std::string("s"));
        const auto all = co_await c.async_get_multi_values(keys);
        REQUIRE(all.size() == keys.size());
        CHECK((all[0].value && all[0].value->data == "s"));
        CHECK((all[1].value && all[1].value->data == big));
        CHECK((!all[2].value && !all[2].ec));
        CHECK((all[3].value && all[3].value->data == mixed));
        CHECK((all[3].value && all[3].value->compressed_with == codec::zlib));
        CHECK((all[4].value && all[4].value->data == text));

        // cas on a chunked value: the index's CAS unique.
        const auto before = co_await c.async_gets_value("big");
        REQUIRE(before);
        CHECK(before->cas != 0);
        const std::string big2 = noise(4 * 1024 * 1024, 3);
        const auto r3 = co_await c.async_cas_as("big", big2, before->cas);
        CHECK(r3 == memcoro::store_status::stored);
        const auto r4 = co_await c.async_cas_as("big", big, before->cas);
        CHECK(r4 == memcoro::store_status::exists);
        const auto r5 = co_await c.async_get_as<std::string>("big");
        CHECK(r5 == std::optional<std::string>(big2));
        const auto r6 = co_await c.async_add_as("big", big);
        CHECK(r6 == memcoro::store_status::not_stored);

        // A reader without chunking reads it too when its bound allows, and refuses it by its
        // index alone when not.
        auto plain_cfg = memcoro::test::config_for(m.address() + "," + m2.address());
        plain_cfg.values.max_value_size = 5 * 1024 * 1024;
        memcoro::client plain(ioc.get_executor(), plain_cfg);
        const auto r7 = co_await plain.async_get_as<std::string>("big");
        CHECK(r7 == std::optional<std::string>(big2));
        plain_cfg.values.max_value_size = 1024 * 1024;
        memcoro::client small_reader(ioc.get_executor(), plain_cfg);
        auto [ec_small, r_small] = co_await small_reader.async_get_value("big", tuple);
        CHECK(ec_small == memcoro::value::compression_errc::too_large);
        CHECK_FALSE(r_small);
        // ... and cannot write it: the server refuses a value bigger than an item.
        auto [ec_w, st_w] =
            co_await plain.async_set_value("big3", value_type::bytes, big, {}, tuple);
        CHECK(ec_w);
        // A writer refuses, before sending, a value bigger than its own bound on reads.
        auto limited_cfg = cfg;
        limited_cfg.values.max_value_size = 5 * 1024 * 1024;
        memcoro::client limited(ioc.get_executor(), limited_cfg);
        auto [ec_max, st_max] =
            co_await limited.async_set_value("big3", value_type::bytes, big, {}, tuple);
        CHECK(ec_max == memcoro::value::compression_errc::too_large);
        CHECK(limited.servers().at(0).counters.requests == 0);
        CHECK(limited.servers().at(1).counters.requests == 0);

        // A missing chunk: the value is a miss, never part of it.
        const auto ix2 = co_await index_of(c, "big");
        const auto r8 = co_await c.async_delete(chunk::chunk_key(ix2, 2));
        CHECK(r8 == memcoro::delete_status::deleted);
        auto [ec_miss, r_miss] = co_await c.async_get_value("big", tuple);
        CHECK(!ec_miss);
        CHECK_FALSE(r_miss);
        const std::vector<std::string> two = {"big", "small"};
        const auto after = co_await c.async_get_multi_values(two);
        CHECK((!after[0].value && !after[0].ec));
        CHECK((after[1].value && after[1].value->data == "s"));

        // A chunk of another write in its place: an error, never the mix.
        co_await c.async_set_value("v1", value_type::bytes, noise(3 * 1024 * 1024, 4));
        co_await c.async_set_value("v2", value_type::bytes, noise(3 * 1024 * 1024, 5));
        const auto i1 = co_await index_of(c, "v1");
        const auto i2 = co_await index_of(c, "v2");
        const auto other = co_await c.async_get(chunk::chunk_key(i2, 1));
        REQUIRE(other);
        memcoro::store_options chunk_opts;
        chunk_opts.flags = chunk::chunk_flags;
        co_await c.async_set(chunk::chunk_key(i1, 1), other->value, chunk_opts);
        auto [ec_mix, r_mix] = co_await c.async_get_value("v1", tuple);
        CHECK(ec_mix == value_errc::chunk_mismatch);
        CHECK_FALSE(r_mix);
        // Its own chunk with one byte changed: the CRC-32 tells.
        auto own = co_await c.async_get(chunk::chunk_key(i2, 0));
        REQUIRE(own);
        own->value[100] ^= 1;
        co_await c.async_set(chunk::chunk_key(i2, 0), own->value, chunk_opts);
        auto [ec_crc, r_crc] = co_await c.async_get_value("v2", tuple);
        CHECK(ec_crc == value_errc::chunk_mismatch);
        CHECK_FALSE(r_crc);
        std::string what;
        try {
            co_await c.async_get_value("v2");
        } catch (const memcoro::error& e) {
            what = e.what();
        }
        CHECK(what.find("key 'v2'") != std::string::npos);
        // An index that claims more than the bound: refused by the index alone.
        auto fake = i1;
        fake.size = std::uint64_t{1} << 40;
        fake.chunk_size = 1u << 30;
        fake.count = 1024;
        memcoro::store_options index_opts;
        index_opts.flags = chunk::index_flags;
        co_await c.async_set("huge", chunk::encode_index(fake), index_opts);
        auto [ec_huge, r_huge] = co_await c.async_get_value("huge", tuple);
        CHECK(ec_huge == memcoro::value::compression_errc::too_large);
        // The connections are fine.
        const auto r9 = co_await c.async_get_as<std::string>("small");
        CHECK(r9 == std::optional<std::string>("s"));
    }());
}

TEST_CASE("values: chunked values under writers racing on one key: a reader gets one write "
          "whole or a miss, never a mix")
{
    memcached_process m({"-m", "512"});
    asio::io_context ioc;
    constexpr int writers = 3;
    constexpr int readers = 2;
    constexpr int writes = 12;
    constexpr std::size_t size = 700 * 1024; // 11 chunks of 64 KiB
    int done = 0;
    int readers_done = 0;
    int hits = 0;
    int misses = 0;
    int wrong = 0;
    int errors = 0;
    run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto cfg = memcoro::test::config_for(m.address());
        cfg.values.chunk_large_values = true;
        cfg.values.chunk_size = 64 * 1024;
        memcoro::client c(ioc.get_executor(), cfg);
        // Every write's value is one byte repeated, its own: a mix of writes shows at once.
        for (int w = 0; w < writers; ++w)
            asio::co_spawn(
                ioc,
                [&, w]() -> asio::awaitable<void> {
                    for (int i = 0; i < writes; ++i) {
                        const std::string v(size, static_cast<char>('A' + w * writes + i));
                        auto [ec, st] =
                            co_await c.async_set_value("raced", value_type::bytes, v, {}, tuple);
                        errors += ec ? 1 : 0;
                    }
                    ++done;
                },
                asio::detached);
        for (int r = 0; r < readers; ++r)
            asio::co_spawn(
                ioc,
                [&]() -> asio::awaitable<void> {
                    while (done < writers) {
                        auto [ec, got] = co_await c.async_get_value("raced", tuple);
                        if (ec) {
                            ++errors;
                        } else if (!got) {
                            ++misses;
                        } else {
                            ++hits;
                            const auto& d = got->data;
                            if (d.size() != size || d.find_first_not_of(d[0]) != std::string::npos)
                                ++wrong;
                        }
                    }
                    ++readers_done;
                },
                asio::detached);
        asio::steady_timer t(ioc);
        while (done < writers || readers_done < readers) {
            t.expires_after(10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
    }());
    CHECK(done == writers);
    CHECK(errors == 0);
    CHECK(wrong == 0);
    CHECK(hits > 0);
    INFO("misses: " << misses);
}
