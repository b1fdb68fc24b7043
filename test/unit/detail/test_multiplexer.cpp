// The per-connection request queue: staging writes and matching replies to requests, in order,
// across every state transition (waiting -> written -> done, abandoned, failed, expired).

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
using steady = detail::clock;
using detail::entry_state;
using detail::multiplexer;
using detail::write_piece;
using proto::command;
using proto::reply_type;

using test::bare;
using test::multi_get;
using test::set_req;
using test::single;

namespace {

using test_ptr = std::shared_ptr<test::recording_entry>;

/// The storage request's first value.
const std::string& value_of(const detail::op_entry& e)
{
    return std::get<proto::storage>(e.req).values[0];
}

/// A multiplexer and its entries, with helpers to push bytes through it like a connection.
struct fixture {
    multiplexer mux;
    test::recorder rec;
    std::vector<test_ptr> entries;
    std::string wire; ///< everything staged so far

    explicit fixture(proto::decoder_limits limits = {})
        : mux(limits)
    {
    }

    test_ptr add(proto::request r)
    {
        auto e = std::make_shared<test::recording_entry>(std::move(r), rec,
                                                         static_cast<int>(entries.size()));
        entries.push_back(e);
        mux.enqueue(e);
        return e;
    }

    std::size_t stage(std::size_t max_bytes = 1 << 20) { return test::stage(mux, wire, max_bytes); }
};

/// Feeds `stream` in chunks cut at `cuts` the way the read loop does: append, feed, drop what
/// was consumed. Stops at the first error. Returns the error and leaves `left` unconsumed.
struct feed_result {
    std::error_code ec;
    std::size_t unconsumed = 0;
    bool consumed_too_much = false;
};

feed_result feed_chunks(multiplexer& mux, std::string_view stream,
                        const std::vector<std::size_t>& cuts)
{
    feed_result out;
    std::string buf;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
        buf.append(stream.substr(from, to - from));
        from = to;
        std::error_code ec;
        const std::size_t used = mux.feed(buf, ec);
        if (used > buf.size()) {
            out.consumed_too_much = true;
            break;
        }
        buf.erase(0, used);
        if (ec) {
            out.ec = ec;
            break;
        }
    }
    out.unconsumed = buf.size();
    return out;
}

feed_result feed_whole(multiplexer& mux, std::string_view stream)
{
    return feed_chunks(mux, stream, {});
}

std::vector<std::size_t> every_byte(std::size_t n)
{
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < n; ++i)
        cuts.push_back(i);
    return cuts;
}

const std::error_code timed_out = errc::timeout;
const std::error_code aborted = std::make_error_code(std::errc::operation_canceled);

} // namespace

// ---- waiting -> written ----------------------------------------------------------------------

TEST_CASE("multiplexer waiting_to_written: stage sends header, value and CRLF for storage")
{
    fixture f;
    auto e = f.add(set_req("k", "abc", 5, 60));
    CHECK(e->state == entry_state::waiting);
    CHECK(f.mux.has_waiting());
    CHECK(f.mux.waiting_count() == 1);
    CHECK(f.stage() == 1);
    CHECK(f.wire == "set k 5 60 3\r\nabc\r\n");
    CHECK(e->state == entry_state::written);
    CHECK_FALSE(f.mux.has_waiting());
    CHECK(f.mux.has_written());
    CHECK(f.mux.written_count() == 1);
    CHECK(f.mux.oldest_written() == e.get());
    CHECK(f.rec.log.empty());
}

TEST_CASE("multiplexer waiting_to_written: a large value is sent from the request, not copied")
{
    fixture f;
    const std::string big(detail::multiplexer::inline_value_max + 1, 'v');
    auto e = f.add(set_req("k", big));
    f.add(set_req("s", "small"));
    std::vector<write_piece> pieces;
    REQUIRE(f.mux.stage(pieces, 1 << 20) == 2);
    REQUIRE(pieces.size() == 3);
    CHECK(std::string(pieces[0].data, pieces[0].size) ==
          "set k 0 0 " + std::to_string(big.size()) + "\r\n");
    CHECK(pieces[1].data == value_of(*e).data());
    CHECK(pieces[1].size == big.size());
    // The large value's CRLF starts the run of the next command line and small value.
    CHECK(std::string(pieces[2].data, pieces[2].size) == "\r\nset s 0 0 5\r\nsmall\r\n");
}

TEST_CASE("multiplexer waiting_to_written: command lines and small values form one piece")
{
    fixture f;
    for (int i = 0; i < 100; ++i)
        f.add(set_req("k" + std::to_string(i), std::string(100, 'x')));
    std::vector<write_piece> pieces;
    REQUIRE(f.mux.stage(pieces, 1 << 20) == 100);
    REQUIRE(pieces.size() == 1);
    const std::string wire(pieces[0].data, pieces[0].size);
    CHECK(wire.rfind("set k0 0 0 100\r\n" + std::string(100, 'x') + "\r\nset k1 ", 0) == 0);
    CHECK(wire.size() == 100 * (2 + 100) + 10 * std::string("set k0 0 0 100\r\n").size() +
                             90 * std::string("set k10 0 0 100\r\n").size());
}

TEST_CASE("multiplexer waiting_to_written: an empty value still gets its CRLF, no empty piece")
{
    fixture f;
    f.add(set_req("k", ""));
    std::vector<write_piece> pieces;
    REQUIRE(f.mux.stage(pieces, 1 << 20) == 1);
    for (const auto& p : pieces)
        CHECK(p.size > 0);
    std::string wire;
    for (const auto& p : pieces)
        wire.append(p.data, p.size);
    CHECK(wire == "set k 0 0 0\r\n\r\n");
}

TEST_CASE("multiplexer waiting_to_written: several entries staged at once, in order")
{
    fixture f;
    f.add(single(command::get, "a"));
    f.add(set_req("b", "xy"));
    f.add(multi_get(command::gets, {"c", "d"}));
    f.add(single(command::del, "e"));
    proto::request incr = single(command::incr, "n");
    std::get<proto::arithmetic>(incr).delta = 18446744073709551615ull;
    f.add(incr);
    proto::request cas = set_req("f", std::string("1\r\n2", 4), 3);
    std::get<proto::storage>(cas).mode = proto::store_mode::cas;
    std::get<proto::storage>(cas).cas_unique = 77;
    f.add(cas);
    f.add(bare(command::version));
    CHECK(f.stage() == 7);
    CHECK(f.wire == "get a\r\n"
                    "set b 0 0 2\r\nxy\r\n"
                    "gets c d\r\n"
                    "delete e\r\n"
                    "incr n 18446744073709551615\r\n"
                    "cas f 3 0 4 77\r\n1\r\n2\r\n"
                    "version\r\n");
    CHECK(f.mux.written_count() == 7);
    CHECK(f.mux.waiting_count() == 0);
    for (const auto& e : f.entries)
        CHECK(e->state == entry_state::written);
    // nothing more to stage
    CHECK(f.stage() == 0);
}

TEST_CASE("multiplexer waiting_to_written: max_bytes bounds a stage, at least one entry goes")
{
    fixture f;
    f.add(set_req("a", std::string(100, 'x'))); // 13 + 100 + 2 bytes
    f.add(set_req("b", std::string(100, 'y')));
    f.add(single(command::get, "c"));
    f.add(single(command::get, "d"));

    // a limit below the first entry still sends it, alone
    CHECK(f.stage(1) == 1);
    CHECK(f.wire == "set a 0 0 100\r\n" + std::string(100, 'x') + "\r\n");
    CHECK(f.mux.waiting_count() == 3);
    CHECK(f.mux.written_count() == 1);
    // zero too
    CHECK(f.stage(0) == 1);
    CHECK(f.mux.waiting_count() == 2);
    // staging stops once max_bytes are reached: "get c\r\n" (7) reaches 7
    CHECK(f.stage(7) == 1);
    CHECK(f.mux.waiting_count() == 1);
    CHECK(f.stage(7) == 1);
    CHECK(f.mux.waiting_count() == 0);
    CHECK(f.mux.written_count() == 4);
    CHECK(f.wire == "set a 0 0 100\r\n" + std::string(100, 'x') + "\r\n" + "set b 0 0 100\r\n" +
                        std::string(100, 'y') + "\r\n" + "get c\r\nget d\r\n");
}

TEST_CASE("multiplexer waiting_to_written: max_bytes above one entry takes the next ones")
{
    fixture f;
    for (int i = 0; i < 5; ++i)
        f.add(single(command::get, "k" + std::to_string(i))); // 8 bytes each
    CHECK(f.stage(9) == 2); // 8 < 9: a second one goes, then 16 >= 9 stops
    CHECK(f.wire == "get k0\r\nget k1\r\n");
    CHECK(f.stage(16) == 2);
    CHECK(f.stage(1000) == 1);
    CHECK(f.mux.written_count() == 5);
}

// ---- written -> done -------------------------------------------------------------------------

TEST_CASE("multiplexer written_to_done: replies complete entries in order")
{
    fixture f;
    f.add(set_req("k", "abc"));              // 0
    f.add(single(command::get, "k"));        // 1
    f.add(single(command::gets, "missing")); // 2
    f.add(single(command::del, "k"));        // 3
    f.add(single(command::incr, "n"));       // 4
    f.add(single(command::touch, "k"));      // 5
    f.add(bare(command::version));           // 6
    f.add(bare(command::stats));             // 7
    f.add(bare(command::flush_all));         // 8
    f.add(single(command::decr, "gone"));    // 9
    f.add(single(command::add, "k"));        // 10
    REQUIRE(f.stage() == 11);

    const std::string stream = "STORED\r\n"
                               "VALUE k 7 3\r\nabc\r\nEND\r\n"
                               "END\r\n"
                               "DELETED\r\n"
                               "18446744073709551615\r\n"
                               "TOUCHED\r\n"
                               "VERSION 1.6.18\r\n"
                               "STAT pid 1234\r\nSTAT name with spaces in value\r\nEND\r\n"
                               "OK\r\n"
                               "NOT_FOUND\r\n"
                               "NOT_STORED\r\n";
    const auto r = feed_whole(f.mux, stream);
    REQUIRE_FALSE(r.ec);
    CHECK(r.unconsumed == 0);
    CHECK(f.mux.empty());
    REQUIRE(f.rec.order() == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    for (const auto& c : f.rec.log)
        CHECK_FALSE(c.ec);
    const auto& log = f.rec.log;
    CHECK(log[0].resp.status == reply_type::stored);
    CHECK(log[1].resp.status == reply_type::end);
    REQUIRE(log[1].resp.items.size() == 1);
    CHECK(log[1].resp.items[0].key == "k");
    CHECK(log[1].resp.items[0].value == "abc");
    CHECK(log[1].resp.items[0].flags == 7);
    CHECK(log[1].resp.items[0].cas == 0);
    CHECK(log[2].resp.items.empty());
    CHECK(log[3].resp.status == reply_type::deleted);
    CHECK(log[4].resp.status == reply_type::number);
    CHECK(log[4].resp.number == 18446744073709551615ull);
    CHECK(log[5].resp.status == reply_type::touched);
    CHECK(log[6].resp.status == reply_type::version);
    CHECK(log[6].resp.text == "1.6.18");
    CHECK(log[7].resp.status == reply_type::end);
    const stats_result want_stats = {{"pid", "1234"}, {"name", "with spaces in value"}};
    CHECK(log[7].resp.stats == want_stats);
    CHECK(log[8].resp.status == reply_type::ok);
    CHECK(log[9].resp.status == reply_type::not_found);
    CHECK(log[10].resp.status == reply_type::not_stored);
    for (const auto& e : f.entries) {
        CHECK(e->state == entry_state::done);
        CHECK(e->completions == 1);
    }
}

TEST_CASE("multiplexer written_to_done: stats lines accumulate in order")
{
    fixture f;
    f.add(bare(command::stats));
    f.stage();
    const auto r = feed_whole(f.mux, "STAT pid 1234\r\nSTAT name with spaces in value\r\n"
                                     "STAT evictions 0\r\nEND\r\n");
    REQUIRE_FALSE(r.ec);
    REQUIRE(f.rec.log.size() == 1);
    const stats_result want = {
        {"pid", "1234"}, {"name", "with spaces in value"}, {"evictions", "0"}};
    CHECK(f.rec.log[0].resp.stats == want);
    CHECK(f.rec.log[0].resp.status == reply_type::end);
}

TEST_CASE("multiplexer written_to_done: multi-get matches VALUE keys, skipping misses")
{
    fixture f;
    f.add(multi_get(command::gets, {"a", "b", "c", "d", "e"}));
    f.add(single(command::get, "after"));
    f.stage();
    const auto r = feed_whole(f.mux, "VALUE b 1 2 100\r\nbb\r\n"
                                     "VALUE d 4294967295 0 18446744073709551615\r\n\r\n"
                                     "VALUE e 0 5 3\r\nEND\r\n\r\n"
                                     "END\r\n"
                                     "VALUE after 0 1\r\nz\r\nEND\r\n");
    REQUIRE_FALSE(r.ec);
    CHECK(r.unconsumed == 0);
    REQUIRE(f.rec.log.size() == 2);
    const auto& items = f.rec.log[0].resp.items;
    REQUIRE(items.size() == 3);
    CHECK(items[0].key == "b");
    CHECK(items[0].value == "bb");
    CHECK(items[0].flags == 1);
    CHECK(items[0].cas == 100);
    CHECK(items[1].key == "d");
    CHECK(items[1].value == "");
    CHECK(items[1].flags == 4294967295u);
    CHECK(items[1].cas == 18446744073709551615ull);
    CHECK(items[2].key == "e");
    CHECK(items[2].value == "END\r\n");
    REQUIRE(f.rec.log[1].resp.items.size() == 1);
    CHECK(f.rec.log[1].resp.items[0].key == "after");
    CHECK(f.rec.log[1].resp.items[0].value == "z");
}

TEST_CASE("multiplexer written_to_done: a multi-get of one key twice takes two VALUEs")
{
    fixture f;
    f.add(multi_get(command::get, {"k", "k"}));
    f.stage();
    const auto r = feed_whole(f.mux, "VALUE k 0 1\r\n1\r\nVALUE k 0 1\r\n1\r\nEND\r\n");
    REQUIRE_FALSE(r.ec);
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.rec.log[0].resp.items.size() == 2);
}

TEST_CASE("multiplexer written_to_done: error replies complete with their error code")
{
    fixture f;
    f.add(single(command::get, "a"));
    f.add(set_req("b", "v"));
    f.add(single(command::incr, "c"));
    f.add(bare(command::version));
    f.add(single(command::del, "d"));
    f.stage();
    const auto r = feed_whole(f.mux, "ERROR\r\n"
                                     "SERVER_ERROR out of memory storing object\r\n"
                                     "CLIENT_ERROR cannot increment or decrement non-numeric "
                                     "value\r\n"
                                     "ERROR unknown command\r\n"
                                     "DELETED\r\n");
    REQUIRE_FALSE(r.ec);
    REQUIRE(f.rec.log.size() == 5);
    CHECK(f.rec.log[0].ec == errc::unknown_command);
    CHECK(f.rec.log[0].resp.status == reply_type::error);
    CHECK(f.rec.log[1].ec == errc::server_error);
    CHECK(f.rec.log[1].resp.text == "out of memory storing object");
    CHECK(f.rec.log[2].ec == errc::client_error);
    CHECK(f.rec.log[2].resp.text == "cannot increment or decrement non-numeric value");
    CHECK(f.rec.log[3].ec == errc::unknown_command);
    CHECK(f.rec.log[3].resp.text == "unknown command");
    CHECK_FALSE(f.rec.log[4].ec);
    CHECK(f.rec.log[4].resp.status == reply_type::deleted);
}

TEST_CASE("multiplexer written_to_done: an incomplete reply completes nothing yet")
{
    fixture f;
    auto e = f.add(single(command::get, "k"));
    f.stage();
    std::error_code ec;
    const std::string part = "VALUE k 0 10\r\n01234";
    CHECK(f.mux.feed(part, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(f.mux.pending_size() == 14 + 10 + 2);
    CHECK(f.rec.log.empty());
    CHECK(e->state == entry_state::written);
    const std::string all = part + "56789\r\nEN";
    // A single key's VALUE waits for its END (its sink then knows the request succeeds).
    CHECK(f.mux.feed(all, ec) == 0);
    CHECK_FALSE(ec);
    CHECK(f.mux.pending_size() == 26 + 5);
    CHECK(f.rec.log.empty());
    CHECK(f.mux.feed(all + "D\r\n", ec) == 31);
    CHECK_FALSE(ec);
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.rec.log[0].resp.items.at(0).value == "0123456789");
}

// ---- cancellation ----------------------------------------------------------------------------

TEST_CASE("multiplexer cancel_waiting_never_sent: an entry finished before stage is not sent")
{
    fixture f;
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(set_req("b", "never"));
    auto c = f.add(single(command::del, "c"));
    auto d = f.add(single(command::get, "d"));
    b->finish(aborted);
    d->finish(timed_out);
    REQUIRE(f.rec.order() == std::vector<int>{1, 3});
    CHECK(f.rec.log[0].ec == aborted);
    CHECK(f.rec.log[1].ec == timed_out);

    CHECK(f.stage() == 2);
    CHECK(f.wire == "get a\r\ndelete c\r\n");
    CHECK(b->state == entry_state::done);
    CHECK(d->state == entry_state::done);
    CHECK_FALSE(b->abandoned());
    CHECK(f.mux.waiting_count() == 0);
    CHECK(f.mux.written_count() == 2);

    const auto r = feed_whole(f.mux, "END\r\nDELETED\r\n");
    REQUIRE_FALSE(r.ec);
    CHECK(f.rec.order() == std::vector<int>{1, 3, 0, 2});
    CHECK(f.rec.log[3].resp.status == reply_type::deleted);
    CHECK(b->completions == 1);
    CHECK(d->completions == 1);
    CHECK(f.mux.empty());
}

TEST_CASE("multiplexer cancel_waiting_never_sent: only cancelled entries leave nothing to send")
{
    fixture f;
    f.add(single(command::get, "a"))->finish(aborted);
    f.add(single(command::get, "b"))->finish(aborted);
    CHECK(f.stage() == 0);
    CHECK(f.wire.empty());
    CHECK(f.mux.empty());
    // and bytes arriving now are nobody's
    std::error_code ec;
    f.mux.feed("END\r\n", ec);
    CHECK(ec == errc::protocol_error);
}

TEST_CASE("multiplexer cancel_written_reply_discarded: the next entry gets its own reply")
{
    fixture f;
    auto first = f.add(single(command::get, "k"));
    auto second = f.add(single(command::get, "k"));
    f.stage();
    first->finish(timed_out);
    CHECK(first->abandoned());
    CHECK(first->state == entry_state::written);
    CHECK(f.mux.written_count() == 2); // still owed a reply
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.rec.log[0].ec == timed_out);
    CHECK(f.rec.log[0].resp.items.empty());

    const auto r = feed_whole(f.mux, "VALUE k 0 5\r\nfirst\r\nEND\r\n"
                                     "VALUE k 0 6\r\nsecond\r\nEND\r\n");
    REQUIRE_FALSE(r.ec);
    CHECK(r.unconsumed == 0);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK_FALSE(f.rec.log[1].ec);
    REQUIRE(f.rec.log[1].resp.items.size() == 1);
    CHECK(f.rec.log[1].resp.items[0].value == "second");
    CHECK(first->completions == 1);
    CHECK(first->state == entry_state::done);
    CHECK_FALSE(first->abandoned());
    CHECK(first->ec == timed_out);
    CHECK(first->resp.items.empty()); // the discarded reply never reached it
    CHECK(f.mux.empty());
}

TEST_CASE("multiplexer cancel_written_reply_discarded: abandoned replies of every kind")
{
    fixture f;
    f.add(set_req("a", "1"));              // 0 abandoned
    f.add(single(command::del, "a"));      // 1
    f.add(single(command::incr, "n"));     // 2 abandoned
    f.add(bare(command::stats));           // 3 abandoned
    f.add(single(command::touch, "a"));    // 4
    f.add(bare(command::version));         // 5 abandoned
    f.add(multi_get(command::get, {"x"})); // 6
    f.add(single(command::get, "e"));      // 7 abandoned, its reply is an error
    f.add(bare(command::flush_all));       // 8
    f.stage();
    for (int i : {0, 2, 3, 5, 7})
        f.entries[i]->finish(aborted);
    const auto r = feed_whole(f.mux, "STORED\r\nDELETED\r\n5\r\nSTAT pid 1\r\nEND\r\n"
                                     "TOUCHED\r\nVERSION 1.6.18\r\nVALUE x 0 1\r\nx\r\nEND\r\n"
                                     "SERVER_ERROR busy\r\nOK\r\n");
    REQUIRE_FALSE(r.ec);
    CHECK(r.unconsumed == 0);
    REQUIRE(f.rec.order() == std::vector<int>{0, 2, 3, 5, 7, 1, 4, 6, 8});
    for (std::size_t i = 0; i < 5; ++i)
        CHECK(f.rec.log[i].ec == aborted);
    CHECK(f.rec.log[5].resp.status == reply_type::deleted);
    CHECK(f.rec.log[6].resp.status == reply_type::touched);
    REQUIRE(f.rec.log[7].resp.items.size() == 1);
    CHECK(f.rec.log[7].resp.items[0].value == "x");
    CHECK(f.rec.log[8].resp.status == reply_type::ok);
    for (const auto& e : f.entries)
        CHECK(e->completions == 1);
    // nothing of the discarded replies leaked into the abandoned entries
    CHECK(f.entries[3]->resp.stats.empty());
    CHECK(f.entries[5]->resp.text.empty());
    CHECK(f.entries[7]->resp.text.empty());
    CHECK(f.entries[7]->ec == aborted);
    CHECK(f.mux.empty());
}

TEST_CASE("multiplexer cancel_written_half_parsed: abandoned while its VALUE is half received")
{
    fixture f;
    auto a = f.add(single(command::get, "k"));
    auto b = f.add(set_req("k", "v"));
    f.stage();
    std::string buf = "VALUE k 0 10\r\nabcd";
    std::error_code ec;
    CHECK(f.mux.feed(buf, ec) == 0);
    CHECK_FALSE(ec);
    a->finish(timed_out);
    CHECK(a->abandoned());
    buf += "efghij\r\nEND\r\nSTORED\r\n";
    CHECK(f.mux.feed(buf, ec) == buf.size());
    CHECK_FALSE(ec);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK(f.rec.log[0].ec == timed_out);
    CHECK(f.rec.log[0].resp.items.empty());
    CHECK_FALSE(f.rec.log[1].ec);
    CHECK(f.rec.log[1].resp.status == reply_type::stored);
    CHECK(a->completions == 1);
    CHECK(a->resp.items.empty());
    CHECK(f.mux.empty());
}

TEST_CASE("multiplexer cancel_written_half_parsed: abandoned between two VALUEs of a multi-get")
{
    fixture f;
    auto a = f.add(multi_get(command::get, {"x", "y"}));
    auto b = f.add(single(command::del, "x"));
    f.stage();
    std::error_code ec;
    const std::string first = "VALUE x 0 1\r\n1\r\n";
    CHECK(f.mux.feed(first, ec) == first.size());
    CHECK_FALSE(ec);
    CHECK(a->resp.items.size() == 1);
    a->finish(aborted);
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.rec.log[0].resp.items.size() == 1); // what had arrived when it was answered
    const std::string rest = "VALUE y 0 1\r\n2\r\nEND\r\nNOT_FOUND\r\n";
    CHECK(f.mux.feed(rest, ec) == rest.size());
    CHECK_FALSE(ec);
    CHECK(a->resp.items.size() == 1); // nothing added after completion
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK(f.rec.log[1].resp.status == reply_type::not_found);
    CHECK(a->completions == 1);
    CHECK(b->completions == 1);
}

TEST_CASE("multiplexer cancel_written_half_parsed: a desync is still detected when abandoned")
{
    fixture f;
    auto a = f.add(single(command::get, "k"));
    f.add(single(command::get, "j"));
    f.stage();
    a->finish(timed_out);
    const auto r = feed_whole(f.mux, "VALUE j 0 1\r\nx\r\nEND\r\n");
    CHECK(r.ec == errc::protocol_desync);
}

// ---- protocol failures -----------------------------------------------------------------------

TEST_CASE("multiplexer value_key_mismatch_is_desync: a VALUE for a key not requested")
{
    fixture f;
    auto a = f.add(single(command::get, "k"));
    f.stage();
    const auto r = feed_whole(f.mux, "VALUE other 0 1\r\nx\r\nEND\r\n");
    CHECK(r.ec == errc::protocol_desync);
    CHECK(f.rec.log.empty()); // the connection resets: fail_written answers it
    CHECK(a->resp.items.empty());
    f.mux.fail_written(r.ec);
    REQUIRE(f.rec.log.size() == 1);
    CHECK(f.rec.log[0].ec == errc::protocol_desync);
}

TEST_CASE("multiplexer value_key_mismatch_is_desync: keys out of request order or repeated")
{
    SECTION("out of order")
    {
        fixture f;
        f.add(multi_get(command::get, {"a", "b"}));
        f.stage();
        CHECK(feed_whole(f.mux, "VALUE b 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n").ec ==
              errc::protocol_desync);
    }
    SECTION("a single key answered twice")
    {
        fixture f;
        f.add(single(command::get, "a"));
        f.stage();
        CHECK(feed_whole(f.mux, "VALUE a 0 1\r\nx\r\nVALUE a 0 1\r\nx\r\nEND\r\n").ec ==
              errc::protocol_desync);
    }
    SECTION("the reply of the next request's key")
    {
        fixture f;
        f.add(single(command::get, "a"));
        f.add(single(command::get, "b"));
        f.stage();
        // the END of "a" was lost: b's VALUE would otherwise be taken for a's
        CHECK(feed_whole(f.mux, "VALUE b 0 1\r\nx\r\nEND\r\n").ec == errc::protocol_desync);
    }
    SECTION("a key differing in case or length")
    {
        fixture f;
        f.add(single(command::get, "key"));
        f.stage();
        CHECK(feed_whole(f.mux, "VALUE KEY 0 1\r\nx\r\n").ec == errc::protocol_desync);
        fixture g;
        g.add(single(command::get, "key"));
        g.stage();
        CHECK(feed_whole(g.mux, "VALUE key2 0 1\r\nx\r\n").ec == errc::protocol_desync);
    }
}

TEST_CASE("multiplexer unsolicited_bytes_are_protocol_error")
{
    SECTION("nothing written")
    {
        fixture f;
        std::error_code ec;
        CHECK(f.mux.feed("STORED\r\n", ec) == 0);
        CHECK(ec == errc::protocol_error);
    }
    SECTION("requests waiting but not yet written")
    {
        fixture f;
        f.add(single(command::get, "a"));
        std::error_code ec;
        CHECK(f.mux.feed("END\r\n", ec) == 0);
        CHECK(ec == errc::protocol_error);
        CHECK(f.rec.log.empty());
    }
    SECTION("bytes after the last reply")
    {
        fixture f;
        f.add(single(command::del, "a"));
        f.stage();
        std::error_code ec;
        CHECK(f.mux.feed("DELETED\r\nDELETED\r\n", ec) == 9);
        CHECK(ec == errc::protocol_error);
        REQUIRE(f.rec.log.size() == 1);
        CHECK_FALSE(f.rec.log[0].ec);
    }
    SECTION("even a partial line after the last reply")
    {
        fixture f;
        f.add(single(command::del, "a"));
        f.stage();
        std::error_code ec;
        CHECK(f.mux.feed("DELETED\r\nD", ec) == 9);
        CHECK(ec == errc::protocol_error);
    }
    SECTION("a reply of the wrong kind")
    {
        fixture f;
        f.add(single(command::get, "a"));
        f.stage();
        std::error_code ec;
        CHECK(f.mux.feed("STORED\r\n", ec) == 0);
        CHECK(ec == errc::protocol_error);
        CHECK(f.rec.log.empty());
    }
    SECTION("an empty feed is fine")
    {
        fixture f;
        std::error_code ec;
        CHECK(f.mux.feed("", ec) == 0);
        CHECK_FALSE(ec);
    }
}

// ---- connection failures ---------------------------------------------------------------------

TEST_CASE("multiplexer fail_written_keeps_waiting: written fail, waiting stay for the next "
          "connection")
{
    fixture f;
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(single(command::get, "b"));
    auto c = f.add(set_req("c", "v"));
    auto d = f.add(single(command::del, "d"));
    REQUIRE(f.stage(1) == 1);
    REQUIRE(f.stage(1) == 1);
    // half a reply in the decoder
    std::error_code ec;
    f.mux.feed("VALUE a 0 100\r\nxx", ec);
    REQUIRE_FALSE(ec);
    CHECK(f.mux.pending_size() > 0);

    const std::error_code lost = errc::connection_lost;
    f.mux.fail_written(lost);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK(f.rec.log[0].ec == lost);
    CHECK(f.rec.log[1].ec == lost);
    CHECK(a->state == entry_state::done);
    CHECK(b->state == entry_state::done);
    CHECK_FALSE(a->abandoned());
    CHECK(f.mux.pending_size() == 0); // decoder reset
    CHECK_FALSE(f.mux.has_written());
    CHECK(f.mux.waiting_count() == 2);
    CHECK(c->state == entry_state::waiting);
    CHECK_FALSE(c->completed());
    CHECK_FALSE(d->completed());

    // the next connection sends the waiting ones and reads fresh replies
    f.wire.clear();
    CHECK(f.stage() == 2);
    CHECK(f.wire == "set c 0 0 1\r\nv\r\ndelete d\r\n");
    const auto r = feed_whole(f.mux, "STORED\r\nDELETED\r\n");
    REQUIRE_FALSE(r.ec);
    CHECK(f.rec.order() == std::vector<int>{0, 1, 2, 3});
    CHECK(a->completions == 1);
}

TEST_CASE("multiplexer fail_written_keeps_waiting: abandoned written entries are not answered "
          "twice")
{
    fixture f;
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(single(command::get, "b"));
    f.stage();
    a->finish(timed_out);
    f.mux.fail_written(errc::connection_lost);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK(f.rec.log[0].ec == timed_out);
    CHECK(f.rec.log[1].ec == errc::connection_lost);
    CHECK(a->completions == 1);
    CHECK(a->state == entry_state::done);
    CHECK(f.mux.empty());
}

TEST_CASE("multiplexer fail_all fails written and waiting; drop_all answers nobody")
{
    fixture f;
    f.add(single(command::get, "a"));
    f.add(single(command::get, "b"));
    f.stage(1);
    f.mux.fail_all(errc::shutting_down);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    for (const auto& c : f.rec.log)
        CHECK(c.ec == errc::shutting_down);
    for (const auto& e : f.entries)
        CHECK(e->state == entry_state::done);
    CHECK(f.mux.empty());

    fixture g;
    g.add(single(command::get, "a"));
    g.add(single(command::get, "b"));
    g.stage(1);
    g.mux.drop_all();
    CHECK(g.mux.empty());
    CHECK(g.rec.log.empty());
}

// ---- deadlines -------------------------------------------------------------------------------

TEST_CASE("multiplexer expire: expired entries time out, the earliest pending deadline is "
          "returned")
{
    fixture f;
    const auto t0 = steady::now();
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(single(command::get, "b"));
    auto c = f.add(single(command::get, "c"));
    auto d = f.add(single(command::get, "d"));
    a->deadline = t0 + 1s;
    b->deadline = t0 + 2s;
    c->deadline = t0 + 3s;
    d->deadline = t0 + 4s;
    f.stage(1);
    f.stage(1); // a, b written; c, d waiting

    CHECK(f.mux.expire(t0, timed_out) == t0 + 1s);
    CHECK(f.rec.log.empty());

    // "at or before now"
    CHECK(f.mux.expire(t0 + 1s, timed_out) == t0 + 2s);
    REQUIRE(f.rec.order() == std::vector<int>{0});
    CHECK(f.rec.log[0].ec == timed_out);
    CHECK(a->abandoned());

    // past a written and a waiting one
    CHECK(f.mux.expire(t0 + 3500ms, timed_out) == t0 + 4s);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1, 2});
    CHECK(b->abandoned());
    CHECK_FALSE(c->abandoned()); // never written
    CHECK(c->state == entry_state::waiting);

    // the expired waiting one is never sent
    f.wire.clear();
    CHECK(f.stage() == 1);
    CHECK(f.wire == "get d\r\n");

    // the abandoned replies are still read and discarded; d gets its own
    const auto r =
        feed_whole(f.mux, "VALUE a 0 1\r\nA\r\nEND\r\nEND\r\nVALUE d 0 1\r\nD\r\nEND\r\n");
    REQUIRE_FALSE(r.ec);
    REQUIRE(f.rec.order() == std::vector<int>{0, 1, 2, 3});
    CHECK_FALSE(f.rec.log[3].ec);
    REQUIRE(f.rec.log[3].resp.items.size() == 1);
    CHECK(f.rec.log[3].resp.items[0].value == "D");

    CHECK(f.mux.expire(t0 + 100s, timed_out) == steady::time_point::max());
    CHECK(f.rec.log.size() == 4);
}

TEST_CASE("multiplexer expire: completed entries are skipped and answered once")
{
    fixture f;
    const auto t0 = steady::now();
    auto a = f.add(single(command::get, "a"));
    auto b = f.add(single(command::get, "b"));
    a->deadline = t0 + 1s;
    b->deadline = t0 + 2s;
    f.stage();
    a->finish(aborted); // cancelled before its deadline
    CHECK(f.mux.expire(t0 + 1s, timed_out) == t0 + 2s);
    CHECK(f.mux.expire(t0 + 5s, timed_out) == steady::time_point::max());
    CHECK(f.mux.expire(t0 + 9s, timed_out) == steady::time_point::max());
    REQUIRE(f.rec.order() == std::vector<int>{0, 1});
    CHECK(f.rec.log[0].ec == aborted);
    CHECK(f.rec.log[1].ec == timed_out);
    CHECK(a->completions == 1);
    CHECK(b->completions == 1);
}

TEST_CASE("multiplexer expire: no deadlines means nothing expires")
{
    fixture f;
    f.add(single(command::get, "a"));
    f.add(single(command::get, "b"));
    f.stage(1);
    CHECK(f.mux.expire(steady::now() + 24h, timed_out) == steady::time_point::max());
    CHECK(f.rec.log.empty());
    fixture empty;
    CHECK(empty.mux.expire(steady::now(), timed_out) == steady::time_point::max());
}

// ---- chunking ----------------------------------------------------------------------------------

namespace {

/// A pipeline of every kind of request, some abandoned, and the byte stream answering it.
struct mixed_scenario {
    fixture f;
    std::string stream;

    mixed_scenario()
    {
        f.add(multi_get(command::gets, {"a", "b", "c", "d"})); // 0 hits b, d
        f.add(set_req("k", "v", 1));                           // 1
        f.add(single(command::get, "k"));                      // 2 abandoned
        f.add(single(command::del, "k"));                      // 3 NOT_FOUND
        f.add(single(command::incr, "n"));                     // 4
        f.add(single(command::touch, "k"));                    // 5
        f.add(bare(command::stats));                           // 6
        f.add(bare(command::version));                         // 7
        f.add(single(command::get, "e"));  // 8 hit whose data looks like replies
        f.add(single(command::decr, "x")); // 9 CLIENT_ERROR
        f.add(bare(command::flush_all));   // 10 ERROR
        f.add(bare(command::stats));       // 11 abandoned
        f.add(set_req("z", "z"));          // 12 SERVER_ERROR
        f.add(single(command::gat, "g"));  // 13 miss
        f.stage();
        f.entries[2]->finish(aborted);
        f.entries[11]->finish(timed_out);
        stream = "VALUE b 0 2 10\r\nbb\r\nVALUE d 9 0 11\r\n\r\nEND\r\n"
                 "STORED\r\n"
                 "VALUE k 1 1\r\nv\r\nEND\r\n"
                 "NOT_FOUND\r\n"
                 "18446744073709551615\r\n"
                 "TOUCHED\r\n"
                 "STAT pid 1234\r\nSTAT name with spaces in value\r\nEND\r\n"
                 "VERSION 1.6.18\r\n"
                 "VALUE e 0 26\r\nEND\r\nSTORED\r\nVALUE e 0 1\r\n\r\nEND\r\n"
                 "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                 "ERROR\r\n"
                 "STAT a b\r\nEND\r\n"
                 "SERVER_ERROR out of memory storing object\r\n"
                 "END\r\n";
    }
};

} // namespace

TEST_CASE("multiplexer: every byte split of a mixed reply stream completes the same entries")
{
    mixed_scenario ref;
    const auto whole = feed_whole(ref.f.mux, ref.stream);
    REQUIRE_FALSE(whole.ec);
    REQUIRE(whole.unconsumed == 0);
    REQUIRE(ref.f.mux.empty());
    const auto want = ref.f.rec.summary();
    REQUIRE(ref.f.rec.order() == std::vector<int>{2, 11, 0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13});
    {
        const auto& log = ref.f.rec.log;
        REQUIRE(log[2].resp.items.size() == 2);
        CHECK(log[2].resp.items[0].key == "b");
        CHECK(log[2].resp.items[0].cas == 10);
        CHECK(log[2].resp.items[1].key == "d");
        CHECK(log[2].resp.items[1].flags == 9);
        CHECK(log[4].resp.status == reply_type::not_found);
        CHECK(log[5].resp.number == 18446744073709551615ull);
        CHECK(log[7].resp.stats.size() == 2);
        CHECK(log[8].resp.text == "1.6.18");
        REQUIRE(log[9].resp.items.size() == 1);
        CHECK(log[9].resp.items[0].value == "END\r\nSTORED\r\nVALUE e 0 1\r\n");
        CHECK(log[10].ec == errc::client_error);
        CHECK(log[11].ec == errc::unknown_command);
        CHECK(log[12].ec == errc::server_error);
        CHECK(log[13].resp.items.empty());
    }

    std::size_t mismatches = 0;
    for (std::size_t cut = 1; cut < ref.stream.size(); ++cut) {
        mixed_scenario s;
        const auto r = feed_chunks(s.f.mux, s.stream, {cut});
        if (r.ec || r.unconsumed != 0 || r.consumed_too_much || !s.f.mux.empty() ||
            s.f.rec.summary() != want) {
            ++mismatches;
            FAIL_CHECK("split at " << cut << ": " << r.ec.message());
        }
    }
    CHECK(mismatches == 0);

    mixed_scenario bytewise;
    const auto r = feed_chunks(bytewise.f.mux, bytewise.stream, every_byte(ref.stream.size()));
    CHECK_FALSE(r.ec);
    CHECK_FALSE(r.consumed_too_much);
    CHECK(r.unconsumed == 0);
    CHECK(bytewise.f.rec.summary() == want);

    // two cuts: a sample of pairs (every 5th offset)
    std::size_t pair_mismatches = 0;
    for (std::size_t i = 1; i < ref.stream.size(); i += 5)
        for (std::size_t j = i; j < ref.stream.size(); j += 5) {
            mixed_scenario s;
            const auto p = feed_chunks(s.f.mux, s.stream, {i, j});
            if (p.ec || p.unconsumed != 0 || s.f.rec.summary() != want)
                ++pair_mismatches;
        }
    CHECK(pair_mismatches == 0);
}
