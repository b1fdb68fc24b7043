// Merged gets: concurrent single-key gets staged together go out as one multi-key request,
// and each caller still receives exactly its own key's outcome.
#include <catch2/catch.hpp>

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include <string>
#include <vector>

using namespace memcoro;

namespace {

struct outcome {
    std::string key;
    std::error_code ec;
    std::vector<item> items;
};

class get_entry final : public detail::op_entry {
public:
    get_entry(proto::command cmd, std::string key, std::vector<outcome>& log)
        : op_entry(make(cmd, std::move(key)))
        , log_(&log)
    {
    }

private:
    static proto::request make(proto::command cmd, std::string key)
    {
        if (cmd == proto::command::touch)
            return proto::touch{std::move(key), 0};
        proto::retrieval r;
        r.with_cas = cmd == proto::command::gets;
        r.keys.own().push_back(std::move(key));
        return r;
    }
    void on_complete(bool) override
    {
        const auto* r = std::get_if<proto::retrieval>(&req);
        log_->push_back({r ? r->keys[0] : std::get<proto::touch>(req).key, ec, resp.items});
    }
    std::vector<outcome>* log_;
};

std::string staged_bytes(detail::multiplexer& m, std::size_t max_bytes = 1 << 20)
{
    std::vector<detail::write_piece> pieces;
    m.stage(pieces, max_bytes);
    std::string out;
    for (auto& p : pieces)
        out.append(p.data, p.size);
    return out;
}

std::shared_ptr<get_entry> enqueue(detail::multiplexer& m, std::vector<outcome>& log,
                                   std::string key, proto::command cmd = proto::command::get)
{
    auto e = std::make_shared<get_entry>(cmd, std::move(key), log);
    m.enqueue(e);
    return e;
}

} // namespace

TEST_CASE("merge: consecutive gets go out as one request; each gets its own outcome")
{
    detail::multiplexer m({}, 100);
    std::vector<outcome> log;
    enqueue(m, log, "a");
    enqueue(m, log, "b");
    enqueue(m, log, "c");
    enqueue(m, log, "a"); // the same key twice: two callers, two answers
    CHECK(staged_bytes(m) == "get a b c a\r\n");
    CHECK(m.written_count() == 4);

    std::error_code ec;
    const std::string reply =
        "VALUE a 1 2\r\nA1\r\nVALUE c 3 2\r\nC3\r\nVALUE a 1 2\r\nA1\r\nEND\r\n";
    // Split at every byte: the same outcome.
    for (std::size_t cut = 0; cut <= reply.size(); ++cut) {
        detail::multiplexer mm({}, 100);
        std::vector<outcome> l;
        enqueue(mm, l, "a");
        enqueue(mm, l, "b");
        enqueue(mm, l, "c");
        enqueue(mm, l, "a");
        staged_bytes(mm);
        std::string buf = reply.substr(0, cut);
        buf.erase(0, mm.feed(buf, ec));
        REQUIRE_FALSE(ec);
        buf += reply.substr(cut);
        CHECK(mm.feed(buf, ec) == buf.size());
        REQUIRE_FALSE(ec);
        REQUIRE(l.size() == 4);
        CHECK(l[0].key == "a");
        REQUIRE(l[0].items.size() == 1);
        CHECK(l[0].items[0].value == "A1");
        CHECK(l[0].items[0].flags == 1);
        CHECK(l[1].key == "b");
        CHECK(l[1].items.empty()); // a miss
        CHECK(l[2].items.size() == 1);
        CHECK(l[2].items[0].value == "C3");
        CHECK(l[3].key == "a");
        CHECK(l[3].items.size() == 1);
    }
}

TEST_CASE("merge: only single-key gets of one kind merge, up to the limit")
{
    detail::multiplexer m({}, 3);
    std::vector<outcome> log;
    enqueue(m, log, "a");
    enqueue(m, log, "b");
    enqueue(m, log, "c");
    enqueue(m, log, "d");
    enqueue(m, log, "e", proto::command::gets);
    enqueue(m, log, "f", proto::command::gets);
    m.enqueue(std::make_shared<get_entry>(proto::command::touch, "g", log));
    enqueue(m, log, "h");
    CHECK(staged_bytes(m) == "get a b c\r\nget d\r\ngets e f\r\ntouch g 0\r\nget h\r\n");

    detail::multiplexer off; // merging off: one request per get
    enqueue(off, log, "a");
    enqueue(off, log, "b");
    CHECK(staged_bytes(off) == "get a\r\nget b\r\n");
}

TEST_CASE("merge: a caller that gave up does not shift the others' values")
{
    detail::multiplexer m({}, 100);
    std::vector<outcome> log;
    auto a = enqueue(m, log, "a");
    enqueue(m, log, "b");
    staged_bytes(m);
    a->finish(errc::timeout); // abandoned while its reply is owed
    std::error_code ec;
    const std::string reply = "VALUE a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n";
    CHECK(m.feed(reply, ec) == reply.size());
    REQUIRE_FALSE(ec);
    REQUIRE(log.size() == 2);
    CHECK(log[0].key == "a");
    CHECK(log[0].ec == errc::timeout);
    CHECK(log[1].key == "b");
    REQUIRE(log[1].items.size() == 1);
    CHECK(log[1].items[0].value == "y");
}

TEST_CASE("merge: a foreign key is a desync; an error line fails the whole group")
{
    {
        detail::multiplexer m({}, 100);
        std::vector<outcome> log;
        enqueue(m, log, "a");
        enqueue(m, log, "b");
        staged_bytes(m);
        std::error_code ec;
        m.feed("VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\ny\r\n", ec); // out of order
        CHECK(ec == errc::protocol_desync);
    }
    {
        detail::multiplexer m({}, 100);
        std::vector<outcome> log;
        enqueue(m, log, "a");
        enqueue(m, log, "b");
        enqueue(m, log, "next");
        staged_bytes(m);
        std::error_code ec;
        const std::string reply = "SERVER_ERROR out of memory\r\n";
        m.feed(reply, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(log.size() == 3); // all three were one request
        for (auto& o : log)
            CHECK(o.ec == errc::server_error);
    }
}
