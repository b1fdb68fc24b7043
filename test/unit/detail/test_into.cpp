// Calls into the caller's memory (async_get_into, the `_into` multi-gets): the caller's item or
// result is written only when the call succeeds; a reply cut short by a lost connection, a
// timeout or a cancellation leaves it as it was. No sockets: operations fed through
// multiplexers by hand, their handlers run on an io_context.

#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <memcoro/detail/fan_out.hpp>
#include <memcoro/detail/gather.hpp>
#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/detail/op.hpp>
#include <memcoro/error.hpp>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <ranges>
#include <string>
#include <vector>

using namespace memcoro;
using detail::multiplexer;
using test::get_request;
using test::stage;

namespace {

struct outcome {
    bool called = false;
    std::error_code ec;
    bool hit = false;
};

/// An async_get_into operation on `ioc`, into `out`.
auto get_into(asio::io_context& ioc, std::string key, item& out, outcome& o)
{
    auto h = [&o](std::error_code ec, bool hit) {
        o.called = true;
        o.ec = ec;
        o.hit = hit;
    };
    using op_type = detail::op<bool, decltype(h)>;
    return std::make_shared<op_type>(get_request({std::move(key)}), detail::scope::key,
                                     std::move(h), asio::any_io_executor(ioc.get_executor()),
                                     detail::destination<bool>{&out});
}

/// What each multiplexer left unconsumed, as a connection's read buffer keeps it.
std::map<const multiplexer*, std::string>& unconsumed()
{
    static std::map<const multiplexer*, std::string> bytes;
    return bytes;
}

/// The connection is gone, and its unread bytes with it.
void forget(const multiplexer& m)
{
    unconsumed().erase(&m);
}

/// Feeds `bytes` after what `m` left unconsumed so far, as a connection's reader does.
/// Returns the bytes consumed of all that.
std::size_t feed(multiplexer& m, std::string_view bytes)
{
    std::string& buf = unconsumed()[&m];
    buf.append(bytes);
    std::error_code ec;
    const std::size_t used = m.feed(buf, ec);
    REQUIRE_FALSE(ec);
    buf.erase(0, used);
    if (buf.empty())
        forget(m); // (a later multiplexer may have the same address)
    return used;
}

item old_item()
{
    return item{"k", "old value", 5, 9};
}

void check_untouched(const item& out)
{
    CHECK(out.key == "k");
    CHECK(out.value == "old value");
    CHECK(out.flags == 5);
    CHECK(out.cas == 9);
}

} // namespace

TEST_CASE("get_into: the hit is written into the caller's item when the reply is complete")
{
    asio::io_context ioc;
    multiplexer m;
    item out = old_item();
    outcome o;
    auto e = get_into(ioc, "k", out, o);
    m.enqueue(e);
    CHECK(stage(m) == "get k\r\n");
    feed(m, "VALUE k 3 9\r\nnew value\r\n");
    check_untouched(out); // not before the END
    feed(m, "END\r\n");
    ioc.run();
    REQUIRE(o.called);
    CHECK_FALSE(o.ec);
    CHECK(o.hit);
    CHECK(out.key == "k");
    CHECK(out.value == "new value");
    CHECK(out.flags == 3);
}

TEST_CASE("get_into: a miss leaves the caller's item as it was")
{
    asio::io_context ioc;
    multiplexer m;
    item out = old_item();
    outcome o;
    m.enqueue(get_into(ioc, "k", out, o));
    stage(m);
    feed(m, "END\r\n");
    ioc.run();
    REQUIRE(o.called);
    CHECK_FALSE(o.hit);
    check_untouched(out);
}

TEST_CASE("get_into written_half_parsed: the VALUE came, the END did not")
{
    asio::io_context ioc;
    multiplexer m;
    item out = old_item();
    outcome o;
    auto e = get_into(ioc, "k", out, o);
    m.enqueue(e);
    stage(m);
    feed(m, "VALUE k 0 9\r\nnew value\r\n");

    SECTION("the connection is lost")
    {
        m.fail_written(errc::connection_lost);
        forget(m);
        ioc.run();
        CHECK(o.ec == errc::connection_lost);
    }
    SECTION("the request times out")
    {
        e->deadline = detail::clock::now();
        m.expire(detail::clock::now() + std::chrono::seconds(1), errc::timeout);
        ioc.run();
        CHECK(o.ec == errc::timeout);
        // Its END still arrives: the reply is read and dropped.
        CHECK(feed(m, "END\r\n") == std::string_view("VALUE k 0 9\r\nnew value\r\nEND\r\n").size());
        CHECK_FALSE(m.has_written());
    }
    SECTION("the caller cancels")
    {
        e->finish(asio::error::operation_aborted);
        ioc.run();
        CHECK(o.ec == asio::error::operation_aborted);
        CHECK(feed(m, "END\r\n") > 5);
        CHECK_FALSE(m.has_written());
    }
    REQUIRE(o.called);
    CHECK_FALSE(o.hit);
    check_untouched(out);
}

TEST_CASE("get_into merged with other gets: each caller's item only on its own success")
{
    asio::io_context ioc;
    multiplexer m({}, 8);
    item out1 = old_item(), out2 = old_item();
    outcome o1, o2;
    auto e1 = get_into(ioc, "a", out1, o1);
    auto e2 = get_into(ioc, "b", out2, o2);
    m.enqueue(e1);
    m.enqueue(e2);
    CHECK(stage(m) == "get a b\r\n");
    feed(m, "VALUE a 0 1\r\nA\r\nVALUE b 0 1\r\nB\r\n");
    e1->finish(asio::error::operation_aborted); // cancelled with its hit read
    feed(m, "END\r\n");
    ioc.run();
    CHECK(o1.ec == asio::error::operation_aborted);
    check_untouched(out1);
    CHECK_FALSE(o2.ec);
    CHECK(o2.hit);
    CHECK(out2.value == "B");
}

// ---- multi-gets into the caller's result, through the gatherer -----------------------------

namespace {

struct multi_call {
    asio::io_context& ioc;
    get_multi_result& out;
    outcome o;
    std::shared_ptr<detail::op_entry> parent;
    std::shared_ptr<detail::retrieval_gather> gather;
    std::vector<detail::entry_ptr> parts;
    multiplexer servers[2];

    /// keys: "a" "b" "c" "d"; a and c on server 0, b and d on server 1.
    multi_call(asio::io_context& i, get_multi_result& result)
        : ioc(i)
        , out(result)
    {
        auto h = [this](std::error_code ec) {
            o.called = true;
            o.ec = ec;
        };
        using op_type = detail::op<void, decltype(h)>;
        parent = std::make_shared<op_type>(get_request({"a", "b", "c", "d"}), detail::scope::keys,
                                           std::move(h), asio::any_io_executor(ioc.get_executor()),
                                           detail::destination<void>{&out});
        const auto& keys = std::get<proto::retrieval>(parent->req).keys;
        const std::uint32_t target[] = {0, 1, 0, 1};
        detail::fan_out_planner planner;
        detail::index_list order;
        std::vector<detail::fan_out_part> planned;
        planner.plan(target, 2, keys, {}, order, planned);
        REQUIRE(planned.size() == 2);
        gather = std::make_shared<detail::retrieval_gather>(parent, planned.size(), keys,
                                                            std::move(order));
        for (const auto& p : planned) {
            parts.push_back(gather->make_part(p.from, p.to, get_request({})));
            servers[p.server].enqueue(parts.back());
        }
        CHECK(stage(servers[0]) == "get a c\r\n");
        CHECK(stage(servers[1]) == "get b d\r\n");
    }
};

get_multi_result old_result()
{
    get_multi_result r;
    r.hits.push_back(old_item());
    r.misses.emplace_back("y");
    r.errors.emplace_back("x", errc::timeout);
    r.slots = {{key_status::hit, 0}, {key_status::error, 0}, {key_status::miss, 0}};
    return r;
}

void check_untouched(const get_multi_result& out)
{
    REQUIRE(out.hits.size() == 1);
    CHECK(out.hits[0].value == "old value");
    REQUIRE(out.errors.size() == 1);
    CHECK(out.errors[0].first == "x");
    REQUIRE(out.misses.size() == 1);
    CHECK(out.misses[0] == "y");
    REQUIRE(out.slots.size() == 3);
    CHECK(out.slots[1].status == key_status::error);
    CHECK(out.slots[2].status == key_status::miss);
}

} // namespace

TEST_CASE("multi-get into: hits in request order, written when every part is done")
{
    asio::io_context ioc;
    auto out = old_result();
    multi_call call(ioc, out);
    feed(call.servers[1], "VALUE b 0 1\r\nB\r\nVALUE d 0 1\r\nD\r\nEND\r\n");
    CHECK(out.hits.size() == 1); // server 0 has not answered
    feed(call.servers[0], "VALUE c 0 1\r\nC\r\nEND\r\n");
    ioc.run();
    REQUIRE(call.o.called);
    CHECK_FALSE(call.o.ec);
    REQUIRE(out.hits.size() == 3);
    CHECK(out.hits[0].key == "b");
    CHECK(out.hits[1].key == "c");
    CHECK(out.hits[1].value == "C");
    CHECK(out.hits[2].key == "d");
    CHECK(out.errors.empty());
}

TEST_CASE("multi-get into: one server lost, the other's hits and the lost keys' errors")
{
    asio::io_context ioc;
    auto out = old_result();
    multi_call call(ioc, out);
    feed(call.servers[0], "VALUE a 0 1\r\nA\r\nEND\r\n");
    feed(call.servers[1], "VALUE b 0 1\r\nB\r\n");
    call.servers[1].fail_written(errc::connection_lost);
    ioc.run();
    REQUIRE(call.o.called);
    CHECK_FALSE(call.o.ec);
    REQUIRE(out.hits.size() == 1);
    CHECK(out.hits[0].key == "a");
    REQUIRE(out.errors.size() == 2);
    CHECK(out.errors[0].first == "b");
    CHECK(out.errors[1].first == "d");
    CHECK(out.errors[0].second == errc::connection_lost);
}

TEST_CASE("multi-get into written_half_parsed: a failed or cancelled call leaves the result")
{
    asio::io_context ioc;
    auto out = old_result();
    multi_call call(ioc, out);
    feed(call.servers[0], "VALUE a 0 1\r\nA\r\n");
    feed(call.servers[1], "VALUE b 0 1\r\nB\r\n");

    SECTION("every server lost")
    {
        call.servers[0].fail_written(errc::connection_lost);
        call.servers[1].fail_written(errc::connection_lost);
        ioc.run();
        CHECK(call.o.ec == errc::connection_lost);
    }
    SECTION("every part timed out")
    {
        for (auto& p : call.parts)
            p->deadline = detail::clock::now();
        for (auto& s : call.servers)
            s.expire(detail::clock::now() + std::chrono::seconds(1), errc::timeout);
        ioc.run();
        CHECK(call.o.ec == errc::timeout);
    }
    SECTION("the caller cancels; the servers answer afterwards")
    {
        call.parent->finish(asio::error::operation_aborted);
        feed(call.servers[0], "END\r\n");
        feed(call.servers[1], "END\r\n");
        ioc.run();
        CHECK(call.o.ec == asio::error::operation_aborted);
    }
    REQUIRE(call.o.called);
    check_untouched(out);
}

// ---- every key's outcome: hit, miss or error -------------------------------------------------

namespace {

constexpr std::uint32_t down = detail::fan_out_planner::none;

/// A multi-get of `keys`, key i bound for server `target[i]` (`down`: its server is down, as
/// the client fails it), gathered as the client does: into `*into` (an `_into` call), or
/// returned by value (`into` null).
struct spread_call {
    asio::io_context& ioc;
    get_multi_result* into;
    outcome o;
    get_multi_result returned;
    std::shared_ptr<detail::op_entry> parent;
    std::shared_ptr<detail::retrieval_gather> gather;
    std::vector<detail::entry_ptr> parts;
    std::vector<std::unique_ptr<multiplexer>> servers;
    std::vector<std::string> wire; ///< each server's request

    spread_call(asio::io_context& i, get_multi_result* result, std::vector<std::string> keys,
                const std::vector<std::uint32_t>& target, std::size_t server_count)
        : ioc(i)
        , into(result)
    {
        const auto ex = asio::any_io_executor(ioc.get_executor());
        if (into) {
            auto h = [this](std::error_code ec) {
                o.called = true;
                o.ec = ec;
            };
            parent = std::make_shared<detail::op<void, decltype(h)>>(
                get_request(std::move(keys)), detail::scope::keys, std::move(h), ex,
                detail::destination<void>{into});
        } else {
            auto h = [this](std::error_code ec, get_multi_result r) {
                o.called = true;
                o.ec = ec;
                returned = std::move(r);
            };
            parent = std::make_shared<detail::op<get_multi_result, decltype(h)>>(
                get_request(std::move(keys)), detail::scope::keys, std::move(h), ex,
                detail::destination<get_multi_result>{});
        }
        const auto& list = std::get<proto::retrieval>(parent->req).keys;
        REQUIRE(target.size() == list.size());
        detail::fan_out_planner planner;
        detail::index_list order;
        std::vector<detail::fan_out_part> planned;
        planner.plan(target, server_count, list, {}, order, planned);
        gather = std::make_shared<detail::retrieval_gather>(parent, planned.size(), list,
                                                            std::move(order));
        for (std::uint32_t k = 0; k < target.size(); ++k)
            if (target[k] == down) {
                gather->fail_key(k, errc::server_down);
                gather->note_error(errc::server_down, nullptr);
            }
        for (std::size_t s = 0; s < server_count; ++s)
            servers.push_back(std::make_unique<multiplexer>());
        if (planned.empty())
            gather->finish_failed();
        for (const auto& p : planned) {
            parts.push_back(gather->make_part(p.from, p.to, get_request({})));
            servers[p.server]->enqueue(parts.back());
        }
        for (auto& m : servers)
            wire.push_back(stage(*m));
    }

    multiplexer& server(std::size_t s) { return *servers[s]; }

    /// The result the caller got.
    const get_multi_result& result() const { return into ? *into : returned; }
};

/// Each key's outcome as "key:hit", "key:miss" or "key:<error message>", in request order.
std::vector<std::string> outcomes(const get_multi_result& r)
{
    std::vector<std::string> out;
    for (const key_outcome& o : r.outcomes()) {
        switch (o.status) {
        case key_status::hit:
            REQUIRE(o.hit != nullptr);
            CHECK(o.hit->key == o.key);
            CHECK_FALSE(o.ec);
            out.push_back(std::string(o.key) + ":hit");
            break;
        case key_status::miss:
            CHECK(o.hit == nullptr);
            CHECK_FALSE(o.ec);
            out.push_back(std::string(o.key) + ":miss");
            break;
        case key_status::error:
            CHECK(o.hit == nullptr);
            CHECK(o.ec);
            out.push_back(std::string(o.key) + ":" + o.ec.message());
            break;
        }
    }
    return out;
}

std::vector<std::string> keys_of(const std::vector<item>& items)
{
    std::vector<std::string> keys;
    for (const auto& i : items)
        keys.push_back(i.key);
    return keys;
}

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, std::error_code>>& e)
{
    std::vector<std::string> keys;
    for (const auto& [k, ec] : e)
        keys.push_back(k);
    return keys;
}

using strings = std::vector<std::string>;

} // namespace

static_assert(std::ranges::forward_range<get_multi_result::outcome_range>);
static_assert(std::ranges::sized_range<get_multi_result::outcome_range>);

TEST_CASE("multi-get outcomes: every key is a hit, a miss or an error, in request order")
{
    asio::io_context ioc;
    get_multi_result reused = old_result();
    const bool into = GENERATE(true, false);
    INFO((into ? "into a caller's result" : "returned"));
    // a, d on server 0; b, e on server 1; c, f on server 2.
    spread_call call(ioc, into ? &reused : nullptr, {"a", "b", "c", "d", "e", "f"},
                     {0, 1, 2, 0, 1, 2}, 3);
    CHECK(call.wire == strings{"get a d\r\n", "get b e\r\n", "get c f\r\n"});
    feed(call.server(0), "VALUE a 0 1\r\nA\r\nEND\r\n"); // d missed
    feed(call.server(1), "VALUE b 0 1\r\nB\r\n");        // then the connection drops
    call.server(1).fail_written(errc::connection_lost);
    forget(call.server(1));
    feed(call.server(2), "VALUE f 0 1\r\nF\r\nEND\r\n"); // c missed
    ioc.run();
    REQUIRE(call.o.called);
    CHECK_FALSE(call.o.ec);
    const get_multi_result& r = call.result();
    const std::string lost = make_error_code(errc::connection_lost).message();
    CHECK(outcomes(r) == strings{"a:hit", "b:" + lost, "c:miss", "d:miss", "e:" + lost, "f:hit"});
    // The lists, each in request order; b's hit read before the failure is not a hit.
    CHECK(keys_of(r.hits) == strings{"a", "f"});
    CHECK(r.hits[1].value == "F");
    CHECK(r.misses == strings{"c", "d"});
    CHECK(keys_of(r.errors) == strings{"b", "e"});
    CHECK(r.errors[1].second == errc::connection_lost);
    // By key.
    REQUIRE(r.outcome("d"));
    CHECK(r.outcome("d")->status == key_status::miss);
    REQUIRE(r.outcome("f"));
    CHECK(r.outcome("f")->hit == &r.hits[1]);
    REQUIRE(r.outcome("e"));
    CHECK(r.outcome("e")->ec == errc::connection_lost);
    CHECK_FALSE(r.outcome("x")); // not asked (the reused result's old key is gone)
    CHECK(r.outcomes().size() == 6);
    CHECK(r.outcomes()[2].key == "c");
}

TEST_CASE("multi-get outcomes: a down server's keys and a failed server's keys are errors in "
          "request order")
{
    asio::io_context ioc;
    get_multi_result reused = old_result();
    const bool into = GENERATE(true, false);
    INFO((into ? "into a caller's result" : "returned"));
    // k0, k3 on server 0; k1 on server 1, which times out; k2's server is down.
    spread_call call(ioc, into ? &reused : nullptr, {"k0", "k1", "k2", "k3"}, {0, 1, down, 0}, 2);
    CHECK(call.wire == strings{"get k0 k3\r\n", "get k1\r\n"});
    feed(call.server(0), "VALUE k3 0 2\r\nK3\r\nEND\r\n");
    for (auto& p : call.parts)
        p->deadline = detail::clock::now();
    call.server(1).expire(detail::clock::now() + std::chrono::seconds(1), errc::timeout);
    ioc.run();
    REQUIRE(call.o.called);
    CHECK_FALSE(call.o.ec);
    const get_multi_result& r = call.result();
    CHECK(outcomes(r) == strings{"k0:miss", "k1:" + make_error_code(errc::timeout).message(),
                                 "k2:" + make_error_code(errc::server_down).message(), "k3:hit"});
    // Request order, not the order the failures were known in (k2 failed first).
    REQUIRE(keys_of(r.errors) == strings{"k1", "k2"});
    CHECK(r.errors[0].second == errc::timeout);
    CHECK(r.errors[1].second == errc::server_down);
    CHECK(r.misses == strings{"k0"});
}

TEST_CASE("multi-get outcomes: every key failed, the call fails and the result is untouched")
{
    asio::io_context ioc;
    get_multi_result out = old_result();
    SECTION("every server down")
    {
        spread_call call(ioc, &out, {"a", "b"}, {down, down}, 2);
        ioc.run();
        REQUIRE(call.o.called);
        CHECK(call.o.ec == errc::server_down);
    }
    SECTION("one server down, the other lost")
    {
        spread_call call(ioc, &out, {"a", "b"}, {down, 1}, 2);
        feed(call.server(1), "VALUE b 0 1\r\nB\r\n");
        call.server(1).fail_written(errc::connection_lost);
        forget(call.server(1));
        ioc.run();
        REQUIRE(call.o.called);
        CHECK(call.o.ec == errc::server_down); // the first failure names the call's error
    }
    check_untouched(out);
}

TEST_CASE("multi-get outcomes: a key asked twice has an outcome per occurrence")
{
    asio::io_context ioc;
    get_multi_result reused;
    const bool into = GENERATE(true, false);
    INFO((into ? "into a caller's result" : "returned"));
    // a (twice) and c on server 0, b (twice) on server 1.
    spread_call call(ioc, into ? &reused : nullptr, {"a", "b", "a", "c", "b"}, {0, 1, 0, 0, 1}, 2);
    CHECK(call.wire == strings{"get a a c\r\n", "get b b\r\n"});
    // memcached answers each occurrence.
    feed(call.server(0), "VALUE a 0 1\r\nA\r\nVALUE a 0 1\r\nA\r\nEND\r\n");
    feed(call.server(1), "END\r\n");
    ioc.run();
    REQUIRE(call.o.called);
    CHECK_FALSE(call.o.ec);
    const get_multi_result& r = call.result();
    CHECK(outcomes(r) == strings{"a:hit", "b:miss", "a:hit", "c:miss", "b:miss"});
    CHECK(keys_of(r.hits) == strings{"a", "a"});
    CHECK(r.misses == strings{"b", "c", "b"});
    // By key: the first occurrence.
    REQUIRE(r.outcome("a"));
    CHECK(r.outcome("a")->hit == &r.hits[0]);
    CHECK(r.slots[2].index == 1);
    CHECK(r.slots[4].index == 2);
}

TEST_CASE("multi-get outcomes: one request, returned, with a key asked twice")
{
    // A call whose keys all go to one server is sent as it is, without a gather: the
    // outcomes come from the hits' key indexes.
    asio::io_context ioc;
    outcome o;
    get_multi_result got;
    auto h = [&](std::error_code ec, get_multi_result r) {
        o.called = true;
        o.ec = ec;
        got = std::move(r);
    };
    multiplexer m;
    m.enqueue(std::make_shared<detail::op<get_multi_result, decltype(h)>>(
        get_request({"a", "b", "a", "c"}), detail::scope::keys, std::move(h),
        asio::any_io_executor(ioc.get_executor()), detail::destination<get_multi_result>{}));
    CHECK(stage(m) == "get a b a c\r\n");
    feed(m, "VALUE a 0 1\r\nA\r\nVALUE a 0 1\r\nA\r\nVALUE c 0 1\r\nC\r\nEND\r\n");
    ioc.run();
    REQUIRE(o.called);
    CHECK_FALSE(o.ec);
    CHECK(outcomes(got) == strings{"a:hit", "b:miss", "a:hit", "c:hit"});
    CHECK(got.misses == strings{"b"});
    CHECK(got.errors.empty());
    REQUIRE(got.outcome("c"));
    CHECK(got.outcome("c")->hit->value == "C");
}

TEST_CASE("multi-get outcomes: a reused result holds the latest call's outcomes only")
{
    asio::io_context ioc;
    get_multi_result out;
    const std::string long_key(40, 'k'); // longer than a string's inline buffer
    {
        spread_call call(ioc, &out, {"a", long_key, "c", "d"}, {0, 1, down, 1}, 2);
        feed(call.server(0), "END\r\n");
        feed(call.server(1), "VALUE d 0 1\r\nD\r\nEND\r\n");
        ioc.run();
        REQUIRE(call.o.called);
        CHECK(outcomes(out) == strings{"a:miss", long_key + ":miss",
                                       "c:" + make_error_code(errc::server_down).message(),
                                       "d:hit"});
    }
    ioc.restart();
    {
        // Fewer keys: one hit, one miss, no error.
        spread_call call(ioc, &out, {long_key, "e"}, {1, 0}, 2);
        feed(call.server(0), "END\r\n");
        feed(call.server(1), "VALUE " + long_key + " 0 1\r\nL\r\nEND\r\n");
        ioc.run();
        REQUIRE(call.o.called);
        CHECK(outcomes(out) == strings{long_key + ":hit", "e:miss"});
        CHECK(out.misses == strings{"e"});
        CHECK(out.errors.empty());
        CHECK(out.hits.size() == 1);
    }
    ioc.restart();
    {
        // More misses than before.
        spread_call call(ioc, &out, {"x", long_key, "y", "z"}, {0, 0, 1, 1}, 2);
        feed(call.server(0), "END\r\n");
        feed(call.server(1), "END\r\n");
        ioc.run();
        REQUIRE(call.o.called);
        CHECK(outcomes(out) == strings{"x:miss", long_key + ":miss", "y:miss", "z:miss"});
        CHECK(out.hits.empty());
    }
}
