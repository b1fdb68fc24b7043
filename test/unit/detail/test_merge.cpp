// Merged gets: concurrent single-key gets staged together go out as one multi-key request,
// and each caller still receives exactly its own key's outcome.
#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <catch2/catch.hpp>

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace memcoro;

namespace {

using test::stage;

std::shared_ptr<test::recording_entry> enqueue(detail::multiplexer& m, test::recorder& rec,
                                               std::string key,
                                               proto::command cmd = proto::command::get)
{
    auto e = std::make_shared<test::recording_entry>(test::single(cmd, std::move(key)), rec);
    m.enqueue(e);
    return e;
}

} // namespace

TEST_CASE("merge: consecutive gets go out as one request; each gets its own outcome")
{
    detail::multiplexer m({}, 100);
    test::recorder rec;
    enqueue(m, rec, "a");
    enqueue(m, rec, "b");
    enqueue(m, rec, "c");
    enqueue(m, rec, "a"); // the same key twice: two callers, two answers
    CHECK(stage(m) == "get a b c a\r\n");
    CHECK(m.written_count() == 4);

    std::error_code ec;
    const std::string reply =
        "VALUE a 1 2\r\nA1\r\nVALUE c 3 2\r\nC3\r\nVALUE a 1 2\r\nA1\r\nEND\r\n";
    // Split at every byte: the same outcome.
    for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
        detail::multiplexer mm({}, 100);
        test::recorder r;
        enqueue(mm, r, "a");
        enqueue(mm, r, "b");
        enqueue(mm, r, "c");
        enqueue(mm, r, "a");
        stage(mm);
        std::string buf = reply.substr(0, cut);
        buf.erase(0, mm.feed(buf, ec));
        REQUIRE_FALSE(ec);
        buf += reply.substr(cut);
        CHECK(mm.feed(buf, ec) == buf.size());
        REQUIRE_FALSE(ec);
        REQUIRE(r.log.size() == 4);
        CHECK(r.log[0].key == "a");
        REQUIRE(r.log[0].resp.items.size() == 1);
        CHECK(r.log[0].resp.items[0].value == "A1");
        CHECK(r.log[0].resp.items[0].flags == 1);
        CHECK(r.log[1].key == "b");
        CHECK(r.log[1].resp.items.empty()); // a miss
        CHECK(r.log[2].resp.items.size() == 1);
        CHECK(r.log[2].resp.items[0].value == "C3");
        CHECK(r.log[3].key == "a");
        CHECK(r.log[3].resp.items.size() == 1);
    }
}

TEST_CASE("merge: only single-key gets of one kind merge, up to the limit")
{
    detail::multiplexer m({}, 3);
    test::recorder rec;
    enqueue(m, rec, "a");
    enqueue(m, rec, "b");
    enqueue(m, rec, "c");
    enqueue(m, rec, "d");
    enqueue(m, rec, "e", proto::command::gets);
    enqueue(m, rec, "f", proto::command::gets);
    enqueue(m, rec, "g", proto::command::touch);
    enqueue(m, rec, "h");
    CHECK(stage(m) == "get a b c\r\nget d\r\ngets e f\r\ntouch g 0\r\nget h\r\n");

    detail::multiplexer off; // merging off: one request per get
    enqueue(off, rec, "a");
    enqueue(off, rec, "b");
    CHECK(stage(off) == "get a\r\nget b\r\n");
}

TEST_CASE("merge: a caller that gave up does not shift the others' values")
{
    detail::multiplexer m({}, 100);
    test::recorder rec;
    auto a = enqueue(m, rec, "a");
    enqueue(m, rec, "b");
    stage(m);
    a->finish(errc::timeout); // abandoned while its reply is owed
    std::error_code ec;
    const std::string reply = "VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n";
    CHECK(m.feed(reply, ec) == reply.size());
    REQUIRE_FALSE(ec);
    REQUIRE(rec.log.size() == 2);
    CHECK(rec.log[0].key == "a");
    CHECK(rec.log[0].ec == errc::timeout);
    CHECK(rec.log[1].key == "b");
    REQUIRE(rec.log[1].resp.items.size() == 1);
    CHECK(rec.log[1].resp.items[0].value == "y");
}

TEST_CASE("merge: a foreign key is a desync; an error line fails the whole group")
{
    {
        detail::multiplexer m({}, 100);
        test::recorder rec;
        enqueue(m, rec, "a");
        enqueue(m, rec, "b");
        stage(m);
        std::error_code ec;
        m.feed("VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\n", ec); // out of order
        CHECK(ec == errc::protocol_desync);
    }
    {
        detail::multiplexer m({}, 100);
        test::recorder rec;
        enqueue(m, rec, "a");
        enqueue(m, rec, "b");
        enqueue(m, rec, "next");
        stage(m);
        std::error_code ec;
        const std::string reply = "SERVER_ERROR out of memory\r\n";
        m.feed(reply, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(rec.log.size() == 3); // all three were one request
        for (auto& o : rec.log)
            CHECK(o.ec == errc::server_error);
    }
}
