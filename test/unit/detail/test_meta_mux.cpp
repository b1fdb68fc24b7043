// The multiplexer on the meta dialect: every reply is matched to its request by the opaque
// number of its line (and the key, for gets); anything else is a desync, never a value.

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"
#include "../../support/stage.hpp"

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace memcoro;
using detail::multiplexer;
using proto::command;
using test::multi_get;
using test::set_req;
using test::single;

namespace {

struct meta_fixture {
    multiplexer mux{proto::decoder_limits{}, 100, proto::dialect::meta};
    test::recorder rec;
    std::vector<std::shared_ptr<test::recording_entry>> entries;

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

TEST_CASE("meta multiplexer: requests go out as meta lines with consecutive opaque numbers")
{
    meta_fixture f;
    f.add(single(command::get, "a"));
    f.add(single(command::get, "b")); // never merged on meta
    f.add(multi_get(command::gets, {"c", "d"}));
    f.add(set_req("e", "val"));
    CHECK(f.stage() == "mg a v f O1 k\r\nmg b v f O2 k\r\n"
                       "mg c v f c O3 k q\r\nmg d v f c O4 k q\r\nmn\r\n"
                       "ms e 3 O5\r\nval\r\n");
    CHECK_FALSE(f.feed_bytes("VA 1 f0 O1 ka\r\nA\r\nEN O2 kb\r\nVA 1 f0 c9 O4 kd\r\nD\r\nMN\r\n"
                             "HD O5\r\n"));
    REQUIRE(f.rec.log.size() == 4);
    REQUIRE(f.rec.log[0].resp.items.size() == 1);
    CHECK(f.rec.log[0].resp.items[0].value == "A");
    CHECK(f.rec.log[1].resp.items.empty());
    REQUIRE(f.rec.log[2].resp.items.size() == 1);
    CHECK(f.rec.log[2].resp.items[0].key == "d");
    CHECK(f.rec.log[2].resp.items[0].cas == 9);
    CHECK(f.rec.log[3].resp.status == proto::reply_type::stored);
    CHECK(f.mux.empty());
}

TEST_CASE("meta multiplexer: a reply that is not its request's is a desync")
{
    const std::vector<std::string> wrong = {
        "VA 1 O2 ka\r\nX\r\n",          // another line's opaque
        "VA 1 ka\r\nX\r\n",             // no opaque
        "VA 1 O1 kb\r\nX\r\n",          // the right opaque, another key
        "EN O7\r\n",                    // a miss for a line never sent
        "HD O1\r\n",                    // (a get draws VA or EN: protocol error)
        "MN\r\n",                       // no batch was sent
        "VA 3 O1 ka\r\nX\r\nEN O2\r\n", // a length that lies long: no \r\n where it ends
        "VA 0 O1 ka\r\nX\r\n",          // a length that lies short
    };
    for (const auto& in : wrong) {
        INFO(in);
        meta_fixture f;
        f.add(single(command::get, "a"));
        f.stage();
        const auto ec = f.feed_bytes(in);
        CHECK((ec == errc::protocol_desync || ec == errc::protocol_error));
        CHECK(f.rec.log.empty()); // nobody was answered with it
    }
    // A write's reply with the next line's opaque (a duplicated or lost reply).
    meta_fixture f;
    f.add(set_req("a", "1"));
    f.add(set_req("b", "2"));
    f.stage();
    CHECK(f.feed_bytes("HD O2\r\n") == errc::protocol_desync);
    CHECK(f.rec.log.empty());
}

TEST_CASE("meta multiplexer: a duplicated reply is a desync for the request after it")
{
    meta_fixture f;
    f.add(single(command::get, "a"));
    f.add(single(command::get, "b"));
    f.stage();
    CHECK(f.feed_bytes("VA 1 O1 ka\r\nA\r\nVA 1 O1 ka\r\nA\r\n") == errc::protocol_desync);
    REQUIRE(f.rec.log.size() == 1); // the first was its own; the copy answered nobody
    REQUIRE(f.rec.log[0].resp.items.size() == 1);
    CHECK(f.rec.log[0].resp.items[0].value == "A");
    // The same for a write's reply, and for a lease's (the opaque of the line before).
    meta_fixture g;
    g.add(set_req("a", "1"));
    g.add(set_req("b", "2"));
    g.stage();
    CHECK(g.feed_bytes("HD O1\r\nHD O1\r\n") == errc::protocol_desync);
    CHECK(g.rec.log.size() == 1);
}

TEST_CASE("meta multiplexer: a binary key's reply: its base64 key must decode to the key asked")
{
    meta_fixture f;
    f.add(single(command::get, "foo bar"));
    f.add(multi_get(command::get, {"a b", "plain"}));
    f.stage();
    CHECK_FALSE(f.feed_bytes("VA 1 O1 kZm9vIGJhcg== b\r\nX\r\n"
                             "VA 1 O2 kYSBi b\r\nY\r\nVA 1 O3 kcGxhaW4= b\r\nZ\r\nMN\r\n"));
    REQUIRE(f.rec.log.size() == 2);
    REQUIRE(f.rec.log[0].resp.items.size() == 1);
    CHECK(f.rec.log[0].resp.items[0].key == "foo bar"); // the key asked, not its encoding
    REQUIRE(f.rec.log[1].resp.items.size() == 2);
    CHECK(f.rec.log[1].resp.items[0].key == "a b");
    CHECK(f.rec.log[1].resp.items[1].key == "plain");

    for (std::string_view wrong : {"VA 1 O1 kYSBi b\r\nX\r\n",       // another key's
                                   "VA 1 O1 kZm9vIGJhcg b\r\nX\r\n", // not base64
                                   "VA 1 O1 b\r\nX\r\n",             // no key at all
                                   "EN O1 kYSBj b\r\n"}) {           // a miss of another
        INFO(wrong);
        meta_fixture g;
        g.add(single(command::get, "foo bar"));
        g.stage();
        CHECK(g.feed_bytes(wrong) == errc::protocol_desync);
        CHECK(g.rec.log.empty());
    }
}

TEST_CASE("meta multiplexer: a quiet batch: hits in key order, misses silent, its end at MN")
{
    meta_fixture f;
    f.add(multi_get(command::get, {"a", "b", "c"}));
    f.stage();
    // A hit for a key before one already answered is a desync.
    CHECK(f.feed_bytes("VA 1 O3 kc\r\nC\r\nVA 1 O2 kb\r\nB\r\n") == errc::protocol_desync);

    meta_fixture g;
    g.add(multi_get(command::get, {"a", "b", "c"}));
    g.stage();
    // An error line in the batch names no key: it is for one of the keys after the last one
    // answered and before the next one answered. Each of those fails with it (none is taken
    // for a miss); the others keep their outcome, and the request succeeds.
    CHECK_FALSE(g.feed_bytes("VA 1 O1 ka\r\nA\r\nSERVER_ERROR out of memory\r\nMN\r\n"));
    REQUIRE(g.rec.log.size() == 1);
    CHECK(!g.rec.log[0].ec);
    REQUIRE(g.rec.log[0].resp.items.size() == 1);
    CHECK(g.rec.log[0].resp.items[0].key == "a");
    CHECK(g.rec.log[0].resp.failed_at == detail::index_list{1, 2});
    CHECK(g.rec.log[0].resp.key_errors ==
          detail::error_list{errc::server_error, errc::server_error});

    // Before a hit: the keys between the last answered and the hit.
    meta_fixture h;
    h.add(multi_get(command::get, {"a", "b", "c", "d", "e"}));
    h.stage();
    CHECK_FALSE(h.feed_bytes("VA 1 O1 ka\r\nA\r\nCLIENT_ERROR bad\r\nERROR\r\n"
                             "VA 1 O4 kd\r\nD\r\nMN\r\n"));
    REQUIRE(h.rec.log.size() == 1);
    CHECK(!h.rec.log[0].ec);
    CHECK(h.rec.log[0].resp.items.size() == 2);
    CHECK(h.rec.log[0].resp.failed_at == detail::index_list{1, 2}); // e: a silent miss
    CHECK(h.rec.log[0].resp.key_errors ==
          detail::error_list{errc::client_error, errc::client_error});

    // Before any key answered, with nothing answered after: every key may be the one, and
    // the request fails with it.
    meta_fixture k;
    k.add(multi_get(command::get, {"a", "b"}));
    k.stage();
    CHECK_FALSE(k.feed_bytes("SERVER_ERROR out of memory\r\nMN\r\n"));
    REQUIRE(k.rec.log.size() == 1);
    CHECK(k.rec.log[0].ec == errc::server_error);
    CHECK(k.mux.empty());
}

TEST_CASE("meta multiplexer: an abandoned request's reply is read and dropped")
{
    meta_fixture f;
    auto first = f.add(single(command::get, "k"));
    f.add(single(command::get, "k"));
    f.stage();
    first->finish(errc::timeout);
    CHECK_FALSE(f.feed_bytes("VA 5 O1 kk\r\nfirst\r\nVA 6 O2 kk\r\nsecond\r\n"));
    REQUIRE(f.rec.log.size() == 2);
    CHECK(f.rec.log[0].ec == errc::timeout);
    CHECK(f.rec.log[0].resp.items.empty());
    REQUIRE(f.rec.log[1].resp.items.size() == 1);
    CHECK(f.rec.log[1].resp.items[0].value == "second");
}

TEST_CASE("a recycled request forgets its lease, metadata, invalidation and CAS")
{
    {
        auto r = detail::make_request<proto::retrieval>();
        auto& q = detail::as<proto::retrieval>(r);
        detail::add_key(q.keys.own(), "k");
        q.vivify = 30;
        q.recache = 10;
        q.item_info = true;
        auto d = detail::make_request<proto::deletion>();
        auto& del = detail::as<proto::deletion>(d);
        detail::add_key(del.keys.own(), "k");
        del.invalidate = true;
        del.stale_ttl = 5;
        del.cas_unique = 9;
        del.quiet = true;
        auto w = detail::make_request<proto::storage>();
        auto& st = detail::as<proto::storage>(w);
        detail::add_key(st.keys.own(), "k");
        st.quiet = true;
    } // (they go back to the thread's cache)
    auto r = detail::make_request<proto::retrieval>();
    const auto& q = detail::as<proto::retrieval>(r);
    CHECK_FALSE(q.vivify);
    CHECK_FALSE(q.recache);
    CHECK_FALSE(q.item_info);
    CHECK_FALSE(proto::needs_meta(*r));
    auto d = detail::make_request<proto::deletion>();
    const auto& del = detail::as<proto::deletion>(d);
    CHECK_FALSE(del.invalidate);
    CHECK_FALSE(del.stale_ttl);
    CHECK(del.cas_unique == 0);
    CHECK_FALSE(del.quiet);
    auto w = detail::make_request<proto::storage>();
    CHECK_FALSE(detail::as<proto::storage>(w).quiet);
}

namespace {

/// Records each key's terminal reply of a write of several keys, as the client's gather does.
class keyed_entry final : public detail::op_entry {
public:
    using op_entry::op_entry;
    std::vector<std::pair<std::size_t, proto::reply_type>> replies;
    int completions = 0;

private:
    void on_reply(std::size_t j, const proto::reply& r) override
    {
        replies.emplace_back(j, r.type);
    }
    void on_complete(bool) override { ++completions; }
};

proto::request set_of(std::vector<std::string> keys)
{
    proto::storage s;
    s.mode = proto::store_mode::set;
    s.quiet = true;
    for (auto& k : keys) {
        s.values.own().push_back("v:" + k);
        s.keys.own().push_back(std::move(k));
    }
    return s;
}

using R = proto::reply_type;
using keyed = std::vector<std::pair<std::size_t, proto::reply_type>>;

} // namespace

TEST_CASE("meta multiplexer: a quiet write of several keys: only failures answer, MN ends it")
{
    meta_fixture f;
    auto e = std::make_shared<keyed_entry>(set_of({"a", "b", "c"}));
    f.mux.enqueue(e);
    CHECK(f.stage() == "ms a 3 O1 q\r\nv:a\r\nms b 3 O2 q\r\nv:b\r\nms c 3 O3 q\r\nv:c\r\nmn\r\n");
    CHECK_FALSE(f.feed_bytes("NS O2\r\nMN\r\n"));
    CHECK(e->replies == keyed{{0, R::stored}, {1, R::not_stored}, {2, R::stored}});
    CHECK(e->completions == 1);
    CHECK(!e->ec);
    CHECK(f.mux.empty());

    // A delete of several keys, and the request after it on the same connection.
    proto::deletion d;
    d.quiet = true;
    d.keys.own() = {"a", "x", "b"};
    auto del = std::make_shared<keyed_entry>(proto::request(d));
    f.mux.enqueue(del);
    f.add(single(command::get, "a"));
    CHECK(f.stage() == "md a O4 q\r\nmd x O5 q\r\nmd b O6 q\r\nmn\r\nmg a v f O7 k\r\n");
    CHECK_FALSE(f.feed_bytes("NF O5\r\nMN\r\nEN O7 ka\r\n"));
    CHECK(del->replies == keyed{{0, R::deleted}, {1, R::not_found}, {2, R::deleted}});
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.mux.empty());
}

TEST_CASE("meta multiplexer: an error line in a quiet write batch: no key it may be is called "
          "written")
{
    // memcached answers an error line without the key's opaque number: it is for one of the
    // keys after the last one answered and before the next one answered. All of those are
    // reported with it.
    meta_fixture f;
    auto e = std::make_shared<keyed_entry>(set_of({"a", "b", "c", "d"}));
    f.mux.enqueue(e);
    f.stage();
    CHECK_FALSE(f.feed_bytes("NS O1\r\nSERVER_ERROR out of memory storing object\r\nEX O4\r\n"
                             "MN\r\n"));
    CHECK(e->replies ==
          keyed{{0, R::not_stored}, {1, R::server_error}, {2, R::server_error}, {3, R::exists}});
    // At the batch's end: every key not answered since.
    auto g = std::make_shared<keyed_entry>(set_of({"a", "b"}));
    f.mux.enqueue(g);
    f.stage();
    CHECK_FALSE(f.feed_bytes("CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n"));
    CHECK(g->replies == keyed{{0, R::client_error}, {1, R::client_error}});
    CHECK(f.mux.empty());
}

TEST_CASE("meta multiplexer: a quiet write batch's replies must name its keys, in order")
{
    for (const std::string bad : {"NS O9\r\n",          // not one of its keys
                                  "NS\r\n",             // no opaque number
                                  "NS O2\r\nNS O1\r\n", // going back
                                  "NS O2\r\nNS O2\r\n", // twice
                                  "VA 1 O1\r\nx\r\n"}) {
        INFO(bad);
        meta_fixture f;
        auto e = std::make_shared<keyed_entry>(set_of({"a", "b", "c"}));
        f.mux.enqueue(e);
        f.stage();
        const auto ec = f.feed_bytes(bad);
        CHECK((ec == errc::protocol_desync || ec == errc::protocol_error));
    }
}

TEST_CASE("meta multiplexer: writes are not quiet unless asked; a quiet write of one key")
{
    meta_fixture f;
    proto::storage two;
    two.keys.own() = {"a", "b"};
    two.values.own() = {"1", "2"};
    auto loud = std::make_shared<keyed_entry>(proto::request(two));
    f.mux.enqueue(loud);
    auto one = std::make_shared<keyed_entry>(set_of({"c"}));
    f.mux.enqueue(one);
    CHECK(f.stage() == "ms a 1 O1\r\n1\r\nms b 1 O2\r\n2\r\nms c 3 O3 q\r\nv:c\r\nmn\r\n");
    CHECK_FALSE(f.feed_bytes("HD O1\r\nNS O2\r\nMN\r\n"));
    CHECK(loud->replies == keyed{{0, R::stored}, {1, R::not_stored}});
    CHECK(one->replies == keyed{{0, R::stored}});
    CHECK(!one->ec);
    CHECK(f.mux.empty());
    // A quiet write of one key that draws an error line fails with it.
    auto bad = std::make_shared<keyed_entry>(set_of({"d"}));
    f.mux.enqueue(bad);
    f.stage();
    CHECK_FALSE(f.feed_bytes("SERVER_ERROR object too large for cache\r\nMN\r\n"));
    CHECK(bad->replies == keyed{{0, R::server_error}});
    CHECK(bad->ec == errc::server_error);
    CHECK(f.mux.empty());
}
