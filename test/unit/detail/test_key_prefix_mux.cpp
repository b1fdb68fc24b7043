// The key prefix in the multiplexer and the UDP core: requests go out with it, replies must
// name their keys with it (a key without it is a desync, never a hit), and the sinks get the
// keys without it. Text (single, multi-key and merged gets) and meta (echoed and base64 keys).

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/detail/udp_core.hpp>
#include <memcoro/error.hpp>
#include <memcoro/proto/udp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace memcoro;
using namespace std::chrono_literals;
using detail::multiplexer;
using proto::command;

using test::multi_get;
using test::set_req;
using test::single;

namespace {

struct prefix_fixture {
    multiplexer mux;
    test::recorder rec;
    std::vector<std::shared_ptr<test::recording_entry>> entries;

    explicit prefix_fixture(proto::dialect d = proto::dialect::text, std::size_t merge = 0,
                            std::string prefix = "ns:")
        : mux(proto::decoder_limits{}, merge, d)
    {
        mux.set_key_prefix(std::move(prefix));
    }
    auto add(proto::request r)
    {
        auto e = std::make_shared<test::recording_entry>(std::move(r), rec,
                                                         static_cast<int>(entries.size()));
        entries.push_back(e);
        mux.enqueue(e);
        return e;
    }
    std::string stage() { return test::stage(mux); }
    /// Feeds `in` a byte at a time; returns the first error.
    std::error_code feed_bytes(std::string_view in)
    {
        std::string buf;
        for (const char ch : in) {
            buf += ch;
            std::error_code ec;
            buf.erase(0, mux.feed(buf, ec));
            if (ec)
                return ec;
        }
        return {};
    }
};

} // namespace

TEST_CASE("key prefix multiplexer: text requests go out prefixed, hits come back without it")
{
    prefix_fixture f;
    auto one = f.add(single(command::get, "a"));
    auto many = f.add(multi_get(command::gets, {"b", "c", "d"}));
    auto set = f.add(set_req("e", "vv"));
    auto del = f.add(single(command::del, "f"));
    CHECK(f.stage() == "get ns:a\r\ngets ns:b ns:c ns:d\r\nset ns:e 0 0 2\r\nvv\r\n"
                       "delete ns:f\r\n");
    CHECK_FALSE(f.feed_bytes("VALUE ns:a 3 1\r\nx\r\nEND\r\n"
                             "VALUE ns:b 0 2 9\r\nyy\r\nVALUE ns:d 0 1 8\r\nz\r\nEND\r\n"
                             "STORED\r\nNOT_FOUND\r\n"));
    REQUIRE(f.rec.log.size() == 4);
    REQUIRE(one->resp.items.size() == 1);
    CHECK(one->resp.items[0].key == "a");
    CHECK(one->resp.items[0].value == "x");
    CHECK(one->resp.items[0].flags == 3);
    REQUIRE(many->resp.items.size() == 2);
    CHECK(many->resp.items[0].key == "b");
    CHECK(many->resp.items[0].cas == 9);
    CHECK(many->resp.items[1].key == "d");
    CHECK(set->resp.status == proto::reply_type::stored);
    CHECK(del->resp.status == proto::reply_type::not_found);
}

TEST_CASE("key prefix multiplexer: a reply key without the prefix, or another's, is a desync")
{
    for (std::string_view wrong : {"VALUE a 0 1\r\nx\r\nEND\r\n",       // no prefix
                                   "VALUE ns:ns:a 0 1\r\nx\r\nEND\r\n", // the prefix twice
                                   "VALUE ns:b 0 1\r\nx\r\nEND\r\n",    // another key
                                   "VALUE ns 0 1\r\nx\r\nEND\r\n",      // the prefix cut short
                                   "VALUE ns: 0 1\r\nx\r\nEND\r\n",     // the prefix alone
                                   "VALUE nS:a 0 1\r\nx\r\nEND\r\n"}) { // another prefix
        INFO(wrong);
        prefix_fixture f;
        auto e = f.add(single(command::get, "a"));
        f.stage();
        CHECK(f.feed_bytes(wrong) == errc::protocol_desync);
        CHECK(f.rec.log.empty());
        CHECK(e->resp.items.empty()); // never a wrong value
    }
    // The same in a multi-key get, whose keys are matched in order.
    prefix_fixture g;
    auto m = g.add(multi_get(command::get, {"a", "b"}));
    CHECK(g.stage() == "get ns:a ns:b\r\n");
    CHECK(g.feed_bytes("VALUE ns:a 0 1\r\nx\r\nVALUE b 0 1\r\ny\r\nEND\r\n") ==
          errc::protocol_desync);
    CHECK(g.rec.log.empty());
    CHECK(m->completions == 0);
}

TEST_CASE("key prefix multiplexer: merged single-key gets, each caller its own key")
{
    prefix_fixture f(proto::dialect::text, 100);
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(single(command::get, "b"));
    auto c = f.add(single(command::get, "c"));
    CHECK(f.stage() == "get ns:a ns:b ns:c\r\n");
    // Out of order (c before a) is a desync, as without a prefix.
    CHECK(f.feed_bytes("VALUE ns:c 0 1\r\nz\r\nVALUE ns:a 0 1\r\nx\r\nEND\r\n") ==
          errc::protocol_desync);
    CHECK(a->resp.items.empty());
    CHECK(b->resp.items.empty());
    prefix_fixture g(proto::dialect::text, 100);
    auto ga = g.add(single(command::get, "a"));
    auto gb = g.add(single(command::get, "b"));
    CHECK(g.stage() == "get ns:a ns:b\r\n");
    CHECK_FALSE(g.feed_bytes("VALUE ns:b 0 1\r\ny\r\nEND\r\n"));
    REQUIRE(g.rec.log.size() == 2);
    CHECK(ga->resp.items.empty()); // a miss
    REQUIRE(gb->resp.items.size() == 1);
    CHECK(gb->resp.items[0].key == "b");
    prefix_fixture h(proto::dialect::text, 100);
    h.add(single(command::get, "a"));
    h.add(single(command::get, "b"));
    h.stage();
    CHECK(h.feed_bytes("VALUE b 0 1\r\ny\r\nEND\r\n") == errc::protocol_desync);
    CHECK(h.rec.log.empty());
}

TEST_CASE("key prefix multiplexer: meta gets echo the prefixed key; base64 keys carry it too")
{
    prefix_fixture f(proto::dialect::meta);
    auto one = f.add(single(command::get, "a"));
    auto many = f.add(multi_get(command::get, {"b", "c"}));
    auto bin = f.add(single(command::get, "x y"));
    CHECK(f.stage() == "mg ns:a v f O1 k\r\nmg ns:b v f O2 k q\r\nmg ns:c v f O3 k q\r\nmn\r\n"
                       "mg bnM6eCB5 v f O4 k b\r\n");
    CHECK_FALSE(f.feed_bytes("VA 1 f2 O1 kns:a\r\nx\r\n"
                             "VA 1 O3 kns:c\r\nz\r\nMN\r\n"
                             "VA 1 O4 kbnM6eCB5 b\r\nw\r\n"));
    REQUIRE(f.rec.log.size() == 3);
    REQUIRE(one->resp.items.size() == 1);
    CHECK(one->resp.items[0].key == "a");
    CHECK(one->resp.items[0].flags == 2);
    REQUIRE(many->resp.items.size() == 1);
    CHECK(many->resp.items[0].key == "c");
    REQUIRE(bin->resp.items.size() == 1);
    CHECK(bin->resp.items[0].key == "x y");

    for (std::string_view wrong : {"VA 1 O1 ka\r\nx\r\n",         // no prefix
                                   "EN O1 ka\r\n",                // a miss without it
                                   "VA 1 O1 kns:b\r\nx\r\n",      // another key
                                   "VA 1 O1 keCB5 b\r\nx\r\n"}) { // base64 of "x y" alone
        INFO(wrong);
        prefix_fixture g(proto::dialect::meta);
        g.add(single(command::get, wrong.find(" b\r") != std::string_view::npos ? "x y" : "a"));
        g.stage();
        CHECK(g.feed_bytes(wrong) == errc::protocol_desync);
        CHECK(g.rec.log.empty());
    }
}

TEST_CASE("key prefix multiplexer: without a prefix nothing changes")
{
    prefix_fixture f(proto::dialect::text, 0, "");
    auto e = f.add(single(command::get, "ns:a"));
    CHECK(f.stage() == "get ns:a\r\n");
    CHECK_FALSE(f.feed_bytes("VALUE ns:a 0 1\r\nx\r\nEND\r\n"));
    REQUIRE(e->resp.items.size() == 1);
    CHECK(e->resp.items[0].key == "ns:a");
}

TEST_CASE("key prefix udp core: gets go out prefixed; answers must carry it; keys come back "
          "without it")
{
    static test::recorder journal;
    detail::udp_core_options o;
    o.timeout = 50ms;
    o.op_timeout = 1s;
    o.key_prefix = "ns:";
    const auto now = detail::clock::time_point{} + 1h;
    const auto datagram = [](std::uint16_t id, std::string_view payload) {
        std::string d(proto::udp_header_size, '\0');
        proto::write_udp_header(proto::udp_header{id, 0, 1, 0}, d.data());
        d.append(payload);
        return d;
    };
    {
        detail::udp_core core(o);
        auto e =
            std::make_shared<test::recording_entry>(multi_get(command::get, {"a", "b"}), journal);
        core.submit(e, now);
        std::vector<std::string_view> out;
        core.stage(now, out);
        REQUIRE(out.size() == 1);
        CHECK(out[0].substr(proto::udp_header_size) == "mg ns:a v f O0 k\r\nmg ns:b v f O1 k\r\n");
        const auto id = proto::read_udp_header(out[0])->request_id;
        std::vector<detail::entry_ptr> answered, lost;
        core.on_datagram(datagram(id, "VA 1 f0 O0 kns:a\r\nx\r\nEN O1 kns:b\r\n"), now, answered,
                         lost);
        REQUIRE(answered.size() == 1);
        CHECK(lost.empty());
        REQUIRE(e->resp.items.size() == 1);
        CHECK(e->resp.items[0].key == "a");
        CHECK(e->resp.items[0].value == "x");
    }
    {
        detail::udp_core core(o);
        auto e = std::make_shared<test::recording_entry>(multi_get(command::get, {"a"}), journal);
        core.submit(e, now);
        std::vector<std::string_view> out;
        core.stage(now, out);
        const auto id = proto::read_udp_header(out.at(0))->request_id;
        std::vector<detail::entry_ptr> answered, lost;
        core.on_datagram(datagram(id, "VA 1 f0 O0 ka\r\nx\r\n"), now, answered, lost);
        CHECK(answered.empty()); // without the prefix: not its answer, lost (sent over TCP)
        REQUIRE(lost.size() == 1);
        CHECK(e->resp.items.empty());
    }
}
