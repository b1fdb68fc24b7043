// Singleflight for plain single-key gets (multiplexer::set_singleflight): a get of a key that a
// queued or written get already asks sends nothing and is answered with that one's outcome.

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace memcoro;
using namespace std::chrono_literals;
using detail::multiplexer;
using proto::command;
using test::single;

namespace {

using entry = std::shared_ptr<test::recording_entry>;

struct flight_fixture {
    multiplexer mux;
    test::recorder rec;
    std::vector<entry> entries;

    explicit flight_fixture(std::size_t merge = 0, proto::dialect d = proto::dialect::text)
        : mux(proto::decoder_limits{}, merge, d)
    {
        mux.set_singleflight(true);
    }
    entry add(proto::request r)
    {
        auto e = std::make_shared<test::recording_entry>(std::move(r), rec,
                                                         static_cast<int>(entries.size()));
        entries.push_back(e);
        mux.enqueue(e);
        return e;
    }
    entry get(std::string key) { return add(single(command::get, std::move(key))); }
    std::string stage() { return test::stage(mux); }
    std::error_code feed(std::string_view in)
    {
        std::error_code ec;
        const auto used = mux.feed(in, ec);
        CHECK((ec || used == in.size()));
        return ec;
    }
};

bool hit(const entry& e, const std::string& value)
{
    return e->completions == 1 && !e->ec && e->resp.items.size() == 1 &&
           e->resp.items[0].value == value;
}

} // namespace

TEST_CASE("singleflight: gets of one key queued together send it once; each caller is answered")
{
    for (const std::size_t merge : {std::size_t(0), std::size_t(100)}) {
        INFO("merge_gets " << merge);
        flight_fixture f(merge);
        auto a1 = f.get("a");
        auto b = f.get("b");
        auto a2 = f.get("a");
        auto a3 = f.get("a");
        const std::string wire = f.stage();
        CHECK(wire == (merge ? "get a b\r\n" : "get a\r\nget b\r\n"));
        CHECK(f.mux.waiting_count() == 0);
        CHECK_FALSE(
            f.feed(merge ? "VALUE a 5 2\r\nA!\r\nEND\r\n" : "VALUE a 5 2\r\nA!\r\nEND\r\nEND\r\n"));
        for (const auto& e : {a1, a2, a3}) {
            CHECK(hit(e, "A!"));
            REQUIRE(!e->resp.items.empty());
            CHECK(e->resp.items[0].flags == 5);
        }
        CHECK(b->completions == 1);
        CHECK(b->resp.items.empty()); // a miss
        CHECK(f.mux.empty());
        // The key is free again: the next get of it is sent.
        f.get("a");
        CHECK(f.stage() == "get a\r\n");
    }
}

TEST_CASE("singleflight: a get of a key on the wire waits for that reply, sending nothing")
{
    flight_fixture f;
    auto first = f.get("k");
    CHECK(f.stage() == "get k\r\n");
    auto second = f.get("k");
    CHECK(!f.mux.has_waiting());
    CHECK(f.stage().empty());
    CHECK_FALSE(f.feed("END\r\n"));
    CHECK(first->completions == 1);
    CHECK(second->completions == 1);
    CHECK(!second->ec);
    CHECK(second->resp.items.empty()); // the same miss
    CHECK(f.mux.empty());
}

TEST_CASE("singleflight: an error reply answers the followers with it")
{
    flight_fixture f;
    auto first = f.get("k");
    auto second = f.get("k");
    f.stage();
    CHECK_FALSE(f.feed("SERVER_ERROR out of memory\r\n"));
    CHECK(first->ec == errc::server_error);
    CHECK(second->ec == errc::server_error);
    CHECK(second->resp.text == first->resp.text);
    CHECK(second->completions == 1);
}

TEST_CASE("singleflight: gets, touches, multi-key gets and writes are never shared")
{
    flight_fixture f;
    f.add(single(command::gets, "k"));
    f.add(single(command::gets, "k"));
    f.get("k");
    f.add(test::multi_get(command::get, {"k", "j"}));
    f.add(test::set_req("k", "v"));
    CHECK(f.mux.waiting_count() == 5);
}

TEST_CASE("singleflight: a follower's deadline and cancellation end it alone")
{
    flight_fixture f;
    const auto t0 = detail::clock::now();
    const auto cancel = std::make_error_code(std::errc::operation_canceled);
    auto leader = f.get("k");
    leader->deadline = t0 + 1s;
    auto early = f.get("k");
    early->deadline = t0 + 2s;
    auto cancelled = f.get("k");
    cancelled->deadline = t0 + 3s;
    auto late = f.get("k");
    late->deadline = t0 + 3s;
    f.stage();
    cancelled->finish(cancel);
    // The leader times out (abandoned on the wire); its followers go on.
    CHECK(f.mux.expire(t0 + 1s, errc::timeout) == t0 + 2s);
    CHECK(leader->ec == errc::timeout);
    CHECK(!early->completed());
    CHECK(f.mux.expire(t0 + 2s, errc::timeout) == t0 + 3s);
    CHECK(early->ec == errc::timeout);
    CHECK(!late->completed());
    // The reply comes: the follower still waiting takes it.
    CHECK_FALSE(f.feed("VALUE k 0 1\r\nv\r\nEND\r\n"));
    CHECK(hit(late, "v"));
    CHECK(leader->completions == 1);
    CHECK(early->completions == 1);
    CHECK(cancelled->completions == 1);
    CHECK(cancelled->ec == cancel);
    CHECK(f.mux.empty());
    CHECK(f.mux.expire(t0 + 10s, errc::timeout) == detail::clock::time_point::max());
}

TEST_CASE("singleflight: a leader cancelled before it was sent gives its place to a follower")
{
    flight_fixture f;
    auto leader = f.get("k");
    auto second = f.get("k");
    auto third = f.get("k");
    leader->finish(std::make_error_code(std::errc::operation_canceled));
    second->finish(std::make_error_code(std::errc::operation_canceled));
    CHECK(f.stage() == "get k\r\n"); // third's, in the leader's place
    auto fourth = f.get("k");        // follows third now
    CHECK(f.stage().empty());
    CHECK_FALSE(f.feed("VALUE k 0 2\r\nok\r\nEND\r\n"));
    CHECK(hit(third, "ok"));
    CHECK(hit(fourth, "ok"));
    CHECK(leader->completions == 1);
    CHECK(second->completions == 1);
    CHECK(f.mux.empty());
}

TEST_CASE("singleflight: a leader lost with its connection takes its followers; waiting "
          "leaders keep theirs")
{
    flight_fixture f;
    auto sent = f.get("k");
    auto sent_follower = f.get("k");
    f.stage();
    auto queued = f.get("j");
    auto queued_follower = f.get("j");
    f.mux.fail_written(errc::connection_lost);
    CHECK(sent->ec == errc::connection_lost);
    CHECK(sent_follower->ec == errc::connection_lost);
    CHECK(!queued->completed());
    CHECK(!queued_follower->completed());
    // The next connection: j is sent once, and both are answered.
    CHECK(f.stage() == "get j\r\n");
    CHECK_FALSE(f.feed("VALUE j 0 1\r\nJ\r\nEND\r\n"));
    CHECK(hit(queued, "J"));
    CHECK(hit(queued_follower, "J"));
    // fail_all: the waiting leaders' followers too.
    auto w = f.get("w");
    auto w2 = f.get("w");
    f.mux.fail_all(errc::timeout);
    CHECK(w->ec == errc::timeout);
    CHECK(w2->ec == errc::timeout);
    CHECK(w2->completions == 1);
}

TEST_CASE("singleflight: on the meta dialect too, every reply still checked")
{
    flight_fixture f(0, proto::dialect::meta);
    auto a = f.get("a");
    auto a2 = f.get("a");
    auto b = f.get("b");
    const std::string wire = f.stage();
    CHECK(wire == "mg a v f O1 k\r\nmg b v f O2 k\r\n");
    CHECK_FALSE(f.feed("VA 1 f0 O1 ka\r\nA\r\nEN O2 kb\r\n"));
    CHECK(hit(a, "A"));
    CHECK(hit(a2, "A"));
    CHECK(b->completions == 1);
    // A reply for another key fails the leader and its follower: never another key's value.
    auto c = f.get("c");
    auto c2 = f.get("c");
    f.stage();
    std::error_code ec;
    const std::string bad = "VA 1 f0 O3 kd\r\nD\r\n";
    f.mux.feed(bad, ec);
    CHECK(ec == errc::protocol_desync);
    f.mux.fail_written(ec);
    CHECK(c->ec == errc::protocol_desync);
    CHECK(c2->ec == errc::protocol_desync);
    CHECK(c2->resp.items.empty());
}
