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

#include <map>
#include <memory>
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
    r.errors.emplace_back("x", errc::timeout);
    return r;
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
    REQUIRE(out.hits.size() == 1);
    CHECK(out.hits[0].value == "old value");
    REQUIRE(out.errors.size() == 1);
    CHECK(out.errors[0].first == "x");
}
