// Planning a multi-key call over servers (pure) and gathering its parts' outcomes (entries fed
// by hand through multiplexers): no sockets, no Asio.

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <memcoro/detail/fan_out.hpp>
#include <memcoro/detail/gather.hpp>
#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace memcoro;
using detail::fan_out_part;
using detail::fan_out_planner;
using test::list_of;
using test::stage;

namespace {

std::vector<std::uint32_t> to_vector(const detail::index_list& l)
{
    return {l.begin(), l.end()};
}

bool same(const fan_out_part& a, const fan_out_part& b)
{
    return a.server == b.server && a.from == b.from && a.to == b.to;
}

} // namespace

TEST_CASE("planner: keys grouped by server in request order, down keys left out")
{
    fan_out_planner planner;
    const auto keys = list_of({"k0", "k1", "k2", "k3", "k4", "k5"});
    const std::uint32_t target[] = {2, 0, fan_out_planner::none, 0, 2, 1};
    detail::index_list order;
    std::vector<fan_out_part> parts;
    planner.plan(target, 3, keys, {}, order, parts);
    CHECK(to_vector(order) == std::vector<std::uint32_t>{1, 3, 5, 0, 4});
    REQUIRE(parts.size() == 3);
    CHECK(same(parts[0], {0, 0, 2}));
    CHECK(same(parts[1], {1, 2, 3}));
    CHECK(same(parts[2], {2, 3, 5}));
}

TEST_CASE("planner: a server's keys in chunks of at most max_keys")
{
    fan_out_planner planner;
    std::vector<std::string> k(7, "key");
    const auto keys = list_of(k);
    const std::uint32_t target[] = {0, 0, 0, 0, 0, 1, 0};
    detail::index_list order;
    std::vector<fan_out_part> parts;
    planner.plan(target, 2, keys, {.max_keys = 2}, order, parts);
    REQUIRE(parts.size() == 4);
    CHECK(same(parts[0], {0, 0, 2}));
    CHECK(same(parts[1], {0, 2, 4}));
    CHECK(same(parts[2], {0, 4, 6}));
    CHECK(same(parts[3], {1, 6, 7}));
    // A planner reused for a smaller call keeps nothing of the last one.
    const std::uint32_t two[] = {1, 1};
    planner.plan(two, 2, list_of({"a", "b"}), {}, order, parts);
    CHECK(to_vector(order) == std::vector<std::uint32_t>{0, 1});
    REQUIRE(parts.size() == 1);
    CHECK(same(parts[0], {1, 0, 2}));
}

TEST_CASE("planner: touch lines cut at the line limit; a key alone always fits")
{
    fan_out_planner planner;
    // 200-byte keys: 201 bytes each with its space; 10 fit in 2016 bytes of keys, not 11.
    std::vector<std::string> k(25, std::string(200, 'x'));
    const auto keys = list_of(k);
    std::vector<std::uint32_t> target(25, 0);
    detail::index_list order;
    std::vector<fan_out_part> parts;
    planner.plan(target, 1, keys,
                 {.max_keys = 250, .max_line_key_bytes = detail::touch_line_key_bytes}, order,
                 parts);
    REQUIRE(parts.size() == 3);
    CHECK(same(parts[0], {0, 0, 10}));
    CHECK(same(parts[1], {0, 10, 20}));
    CHECK(same(parts[2], {0, 20, 25}));
    // Limits smaller than one key: one key per part.
    planner.plan(target, 1, keys, {.max_keys = 250, .max_line_key_bytes = 10}, order, parts);
    CHECK(parts.size() == 25);
    // Every part's line fits memcached's limit.
    planner.plan(target, 1, keys,
                 {.max_keys = 250, .max_line_key_bytes = detail::touch_line_key_bytes}, order,
                 parts);
    for (const auto& p : parts) {
        std::string line = "gats 2592000";
        for (auto i = p.from; i < p.to; ++i)
            line += " " + keys[order[i]];
        line += "\r\n";
        CHECK(line.size() <= proto::max_touch_line);
    }
}

TEST_CASE("planner: no usable server at all plans nothing")
{
    fan_out_planner planner;
    const std::uint32_t target[] = {fan_out_planner::none, fan_out_planner::none};
    detail::index_list order;
    std::vector<fan_out_part> parts{{9, 9, 9}};
    planner.plan(target, 3, list_of({"a", "b"}), {}, order, parts);
    CHECK(order.empty());
    CHECK(parts.empty());
}

// ---- gathering writes ---------------------------------------------------------------------

namespace {

/// A set_multi of k0..k(n-1), planned over `servers` multiplexers by `target`.
struct write_call {
    test::recorder rec;
    std::shared_ptr<test::recording_entry> parent;
    std::shared_ptr<detail::write_gather> gather;
    std::vector<detail::entry_ptr> parts;

    write_call(std::vector<std::uint32_t> target, detail::multiplexer* servers)
    {
        proto::storage s;
        for (std::size_t i = 0; i < target.size(); ++i) {
            s.keys.own().push_back("k" + std::to_string(i));
            s.values.own().push_back("v" + std::to_string(i));
        }
        parent = std::make_shared<test::recording_entry>(proto::request(std::move(s)), rec, 0,
                                                         detail::scope::keys);
        const auto& keys = std::get<proto::storage>(parent->req).keys;
        fan_out_planner planner;
        detail::index_list order;
        std::vector<fan_out_part> planned;
        planner.plan(target, 2, keys, {}, order, planned);
        gather =
            std::make_shared<detail::write_gather>(parent, planned.size(), keys, std::move(order));
        for (std::uint32_t i = 0; i < target.size(); ++i)
            if (target[i] == fan_out_planner::none)
                gather->fail_key(i, errc::server_down);
        for (const auto& p : planned) {
            parts.push_back(
                gather->make_part(p.from, p.to, detail::make_request<proto::storage>()));
            servers[p.server].enqueue(parts.back());
        }
    }
};

} // namespace

TEST_CASE("write gather: one request per server, each key's outcome in request order")
{
    detail::multiplexer servers[2];
    write_call call({1, 0, 1}, servers);
    CHECK(stage(servers[0]) == "set k1 0 0 2\r\nv1\r\n");
    CHECK(stage(servers[1]) == "set k0 0 0 2\r\nv0\r\nset k2 0 0 2\r\nv2\r\n");
    std::error_code ec;
    servers[1].feed("STORED\r\nNOT_STORED\r\n", ec);
    REQUIRE_FALSE(ec);
    CHECK(call.parent->completions == 0);
    servers[0].feed("SERVER_ERROR out of memory\r\n", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(call.parent->completions == 1);
    CHECK_FALSE(call.parent->ec);
    const auto& out = call.parent->resp.outcomes;
    REQUIRE(out.size() == 3);
    CHECK(out[0].key == "k0");
    CHECK(out[0].status == proto::reply_type::stored);
    CHECK(out[1].ec == errc::server_error);
    CHECK(out[2].status == proto::reply_type::not_stored);
}

TEST_CASE("write gather: a connection lost mid-batch fails only the keys not answered")
{
    detail::multiplexer servers[2];
    write_call call({0, 0, 0, fan_out_planner::none}, servers);
    stage(servers[0]);
    std::error_code ec;
    servers[0].feed("STORED\r\n", ec);
    REQUIRE_FALSE(ec);
    servers[0].fail_written(errc::connection_lost);
    REQUIRE(call.parent->completions == 1);
    CHECK_FALSE(call.parent->ec); // k0 was stored
    const auto& out = call.parent->resp.outcomes;
    CHECK_FALSE(out[0].ec);
    CHECK(out[1].ec == errc::connection_lost);
    CHECK(out[2].ec == errc::connection_lost);
    CHECK(out[3].ec == errc::server_down);
}

TEST_CASE("write gather: every key failed fails the call with the first error")
{
    detail::multiplexer servers[2];
    write_call call({0, 1}, servers);
    stage(servers[0]);
    stage(servers[1]);
    servers[1].fail_written(errc::connection_lost);
    servers[0].fail_written(errc::timeout);
    REQUIRE(call.parent->completions == 1);
    CHECK(call.parent->ec == errc::connection_lost);
}

// ---- gathering every server's answer ---------------------------------------------------------

TEST_CASE("server gather: per-server results; a down server has its error")
{
    detail::multiplexer mux;
    const std::string names[] = {"s0", "s1"};
    test::recorder rec;
    for (const bool per_server : {true, false}) {
        auto parent = std::make_shared<test::recording_entry>(proto::request(proto::stats{}), rec,
                                                              0, detail::scope::every_server);
        auto g = std::make_shared<detail::server_gather>(
            parent, std::vector<const std::string*>{&names[0], &names[1]}, per_server);
        g->fail_server(0, errc::server_down, &names[0]);
        mux.enqueue(g->make_part(1, detail::make_request<proto::stats>()));
        CHECK(stage(mux) == "stats\r\n");
        std::error_code ec;
        mux.feed("STAT pid 1\r\nEND\r\n", ec);
        REQUIRE(parent->completions == 1);
        const auto& per = parent->resp.per_server;
        REQUIRE(per.size() == 2);
        CHECK(std::get<0>(per[0]) == "s0");
        CHECK(std::get<1>(per[0]) == errc::server_down);
        CHECK_FALSE(std::get<1>(per[1]));
        REQUIRE(std::get<2>(per[1]).size() == 1);
        CHECK(std::get<2>(per[1])[0].first == "pid");
        // stats of every server succeed; flush_all / verbosity fail when one server failed.
        CHECK(!!parent->ec == !per_server);
        if (!per_server)
            CHECK(parent->ec == errc::server_down);
    }
}
