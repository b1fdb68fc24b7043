// Gets over UDP without a socket: memcached's frame header, the reassembly of a reply from its
// messages and datagrams (out of order, duplicated, lost, oversized), and the UDP core's window,
// request ids, checks and deadlines. The test makes the datagrams and chooses the times; the
// replies are shaped as memcached 1.6.18 sends them (a message per answer, each numbered from
// 0).

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"

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
using steady = detail::clock;
using detail::entry_ptr;
using detail::udp_core;
using detail::udp_core_options;
using proto::udp_header;
using proto::udp_reply_assembler;

namespace {

test::recorder& journal()
{
    static test::recorder r;
    return r;
}

std::shared_ptr<test::recording_entry> get(std::vector<std::string> keys, bool cas = false)
{
    return std::make_shared<test::recording_entry>(
        test::multi_get(cas ? proto::command::gets : proto::command::get, std::move(keys)),
        journal());
}

std::string datagram(std::uint16_t id, std::uint16_t seq, std::uint16_t count,
                     std::string_view payload)
{
    std::string d(proto::udp_header_size, '\0');
    proto::write_udp_header(udp_header{id, seq, count, 0}, d.data());
    d.append(payload);
    return d;
}

/// The request id of a datagram the core staged.
std::uint16_t id_of(std::string_view d)
{
    const auto h = proto::read_udp_header(d);
    REQUIRE(h);
    return h->request_id;
}

struct harness {
    udp_core core;
    steady::time_point now = steady::time_point{} + 1h;
    std::vector<entry_ptr> answered, lost;

    explicit harness(udp_core_options o = options())
        : core(o)
    {
    }
    static udp_core_options options()
    {
        udp_core_options o;
        o.window = 4;
        o.timeout = 50ms;
        o.op_timeout = 1s;
        return o;
    }
    std::vector<std::string> stage()
    {
        std::vector<std::string_view> views;
        core.stage(now, views);
        return {views.begin(), views.end()};
    }
    void receive(const std::string& d)
    {
        core.on_datagram(d, now, answered, lost);
        for (auto& e : answered)
            e->complete(false);
        answered.clear();
    }
};

} // namespace

TEST_CASE("udp: the frame header round-trips big-endian, and a bad one is refused")
{
    char buf[8];
    proto::write_udp_header(udp_header{0x1234, 2, 3, 0}, buf);
    CHECK(std::string_view(buf, 8) == std::string_view("\x12\x34\x00\x02\x00\x03\x00\x00", 8));
    const auto h = proto::read_udp_header(std::string_view(buf, 8));
    REQUIRE(h);
    CHECK(h->request_id == 0x1234);
    CHECK(h->sequence == 2);
    CHECK(h->count == 3);
    CHECK_FALSE(proto::read_udp_header(std::string_view(buf, 7)));       // short
    CHECK_FALSE(proto::read_udp_header(datagram(1, 3, 3, "x")));         // past its count
    CHECK_FALSE(proto::read_udp_header(datagram(1, 0, 0, "x")));         // no datagram
    CHECK(proto::read_udp_header(datagram(0xffff, 0xfffe, 0xffff, ""))); // the extremes
}

TEST_CASE("udp: messages are appended whole, their datagrams in any order")
{
    udp_reply_assembler a(1 << 20);
    using st = udp_reply_assembler::status;
    CHECK(a.add({1, 0, 1, 0}, "VALUE k0 0 1\r\nx\r\n") == st::accepted);
    CHECK_FALSE(a.in_message());
    // A message of three datagrams: the last first, then the first, then the middle.
    CHECK(a.add({1, 2, 3, 0}, "cc\r\n") == st::accepted);
    CHECK(a.bytes() == "VALUE k0 0 1\r\nx\r\n"); // not whole yet
    CHECK(a.add({1, 0, 3, 0}, "VALUE k1 0 6\r\naa") == st::accepted);
    CHECK(a.add({1, 0, 3, 0}, "VALUE k1 0 6\r\naa") == st::duplicate);
    CHECK(a.add({1, 2, 3, 0}, "cc\r\n") == st::duplicate);
    CHECK(a.add({1, 1, 3, 0}, "bb") == st::accepted);
    CHECK_FALSE(a.in_message());
    CHECK(a.add({1, 0, 1, 0}, "END\r\n") == st::accepted);
    CHECK(a.bytes() == "VALUE k0 0 1\r\nx\r\nVALUE k1 0 6\r\naabbcc\r\nEND\r\n");
    a.reset();
    CHECK(a.bytes().empty());
}

TEST_CASE("udp: a message overtaken by the next, or one too many ahead, breaks the reply")
{
    using st = udp_reply_assembler::status;
    udp_reply_assembler a(1 << 20);
    CHECK(a.add({1, 0, 2, 0}, "VALUE k 0 4\r\nxx") == st::accepted);
    // Its second datagram was lost: the END's message (count 1) comes.
    CHECK(a.add({1, 0, 1, 0}, "END\r\n") == st::broken);

    udp_reply_assembler b(1 << 20);
    // Empty datagrams ahead of their turn are bounded in number, not only in bytes.
    st last = st::accepted;
    for (std::uint16_t seq = 1; seq < 1000 && last == st::accepted; ++seq)
        last = b.add({1, seq, 1000, 0}, "");
    CHECK(last == st::broken);
}

TEST_CASE("udp: a reply never holds more than its maximum")
{
    using st = udp_reply_assembler::status;
    udp_reply_assembler a(100);
    CHECK(a.add({1, 0, 3, 0}, std::string(60, 'x')) == st::accepted);
    CHECK(a.add({1, 2, 3, 0}, std::string(41, 'x')) == st::too_large);
    CHECK(a.add({1, 2, 3, 0}, std::string(40, 'x')) == st::accepted);
}

TEST_CASE("udp core: which gets go over UDP")
{
    udp_core_options o;
    o.max_datagram = proto::udp_header_size + 2 * 15 + 21;
    udp_core core(o);
    // "mg a v f O0 k\r\n" and "mg b v f O1 k\r\n": 15 bytes each; what is staged is what
    // was counted.
    auto two = get({"a", "b"});
    CHECK(core.accepts(*two));
    core.submit(two, steady::now());
    std::vector<std::string_view> out;
    core.stage(steady::now(), out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].substr(proto::udp_header_size) == "mg a v f O0 k\r\nmg b v f O1 k\r\n");
    CHECK(core.accepts(*get({"a", "b", "abcdefg"})));             // 15 + 15 + 21 = 51
    CHECK_FALSE(core.accepts(*get({"a", "b", "abcdefgh"})));      // 52: does not fit
    CHECK_FALSE(core.accepts(*get({"a", "b", "abcdefg"}, true))); // " c" three times: 57
    CHECK_FALSE(core.accepts(*get({"sp ace"}))); // not printable ASCII: base64 on meta
    CHECK_FALSE(core.accepts(*get({"caf\xc3\xa9"})));
    auto gat = std::make_shared<test::recording_entry>(test::multi_get(proto::command::gat, {"a"}),
                                                       journal());
    std::get_if<proto::retrieval>(&gat->req)->exptime = 10;
    CHECK_FALSE(core.accepts(*gat)); // touches: a write, over TCP
    auto set = std::make_shared<test::recording_entry>(test::set_req("a", "v"), journal());
    CHECK_FALSE(core.accepts(*set));
}

TEST_CASE("udp core: a multi-get's reply in memcached's messages is delivered whole")
{
    harness h;
    auto e = get({"k0", "big", "k1", "none"}, true);
    h.core.submit(e, h.now);
    auto out = h.stage();
    REQUIRE(out.size() == 1);
    CHECK(out[0].substr(proto::udp_header_size) ==
          "mg k0 v f c O0 k\r\nmg big v f c O1 k\r\nmg k1 v f c O2 k\r\nmg none v f c O3 k\r\n");
    const auto id = id_of(out[0]);
    const std::string big(3000, 'y');
    const std::string big_msg = "VA 3000 f0 c6 O1 kbig\r\n" + big + "\r\n";
    h.receive(datagram(id, 0, 1, "VA 3 f7 c1 O0 kk0\r\nabc\r\n"));
    h.receive(datagram(id, 0, 3, big_msg.substr(0, 1392)));
    h.receive(datagram(id, 2, 3, big_msg.substr(2784)));
    h.receive(datagram(id, 1, 3, big_msg.substr(1392, 1392)));
    // The miss's answer overtakes k1's: answers are placed by their opaque numbers.
    h.receive(datagram(id, 0, 1, "EN O3 knone\r\n"));
    CHECK_FALSE(e->completed()); // nothing delivered before every key is answered
    CHECK(e->resp.items.empty());
    h.receive(datagram(id, 0, 1, "VA 3 f0 c2 O2 kk1\r\nabc\r\n"));
    REQUIRE(e->completed());
    CHECK(e->completions == 1);
    CHECK_FALSE(e->ec);
    REQUIRE(e->resp.items.size() == 3);
    CHECK(e->resp.items[0].key == "k0");
    CHECK(e->resp.items[0].flags == 7);
    CHECK(e->resp.items[0].cas == 1);
    CHECK(e->resp.items[1].value == big);
    CHECK(e->resp.items[2].key == "k1");
    CHECK(h.core.in_flight() == 0);
    CHECK(h.core.counters().replies == 1);
    // Its datagrams, late or repeated, are strays now.
    h.receive(datagram(id, 0, 1, "EN O3 knone\r\n"));
    CHECK(h.core.counters().stray == 1);
}

TEST_CASE("udp core: a lost datagram loses the request, with nothing of it delivered")
{
    harness h;
    auto e = get({"a", "b"});
    h.core.submit(e, h.now);
    const auto id = id_of(h.stage().at(0));
    h.receive(datagram(id, 0, 1, "VA 1 f0 O0 ka\r\nx\r\n"));
    // b's answer never comes: it cannot pass for a miss.
    std::vector<entry_ptr> lost;
    auto next = h.core.expire(h.now + 49ms, lost);
    CHECK(lost.empty());
    CHECK(next == h.now + 50ms);
    h.core.expire(h.now + 50ms, lost);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0] == e);
    CHECK_FALSE(e->completed()); // the caller's to send over TCP (or fail)
    CHECK(e->resp.items.empty());
    CHECK(h.core.counters().lost == 1);
    CHECK(h.core.in_flight() == 0);
}

TEST_CASE("udp core: answers for other keys, without their tag, or error lines: lost, never "
          "delivered")
{
    for (const std::string answer :
         {"VA 1 f0 O1 kother\r\nz\r\n", "VA 1 f0 O0 kb\r\nz\r\n", "VA 1 f0 O7 ka\r\nz\r\n",
          "VA 1 f0 ka\r\nz\r\n", "VALUE a 0 1\r\nz\r\nEND\r\n", "ERROR\r\n",
          "SERVER_ERROR out of memory\r\n", "HD O0 ka\r\n"}) {
        INFO(answer);
        harness h;
        auto e = get({"a", "b"});
        h.core.submit(e, h.now);
        const auto id = id_of(h.stage().at(0));
        h.receive(datagram(id, 0, 1, answer));
        REQUIRE(h.lost.size() == 1);
        CHECK(h.lost[0] == e);
        CHECK(e->resp.items.empty());
        CHECK_FALSE(e->completed());
    }
}

TEST_CASE("udp core: a key answered twice (a message received twice) keeps its first answer")
{
    harness h;
    auto e = get({"a", "b"});
    h.core.submit(e, h.now);
    const auto id = id_of(h.stage().at(0));
    h.receive(datagram(id, 0, 1, "VA 1 f0 O0 ka\r\nx\r\n"));
    h.receive(datagram(id, 0, 1, "VA 1 f0 O0 ka\r\nx\r\n"));
    CHECK_FALSE(e->completed());
    h.receive(datagram(id, 0, 1, "EN O1 kb\r\n"));
    REQUIRE(e->completed());
    REQUIRE(e->resp.items.size() == 1);
    CHECK(e->resp.items[0].value == "x");
    CHECK(h.core.counters().duplicates == 1);
}

TEST_CASE("udp core: a window of requests in flight, ids never shared, errors delivered")
{
    harness h; // window 4
    std::vector<std::shared_ptr<test::recording_entry>> es;
    for (int i = 0; i < 6; ++i) {
        es.push_back(get({"k" + std::to_string(i)}));
        h.core.submit(es.back(), h.now);
    }
    auto out = h.stage();
    CHECK(out.size() == 4);
    CHECK(h.core.in_flight() == 4);
    CHECK(h.core.queued() == 2);
    std::vector<std::uint16_t> ids;
    for (const auto& d : out)
        ids.push_back(id_of(d));
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    // One answered: one more goes out.
    h.receive(datagram(id_of(out[0]), 0, 1, "EN O0 kk0\r\n"));
    CHECK(es[0]->completed());
    CHECK(es[0]->resp.items.empty());
    CHECK(h.stage().size() == 1);
    CHECK(h.core.queued() == 1);
    // Each request's answers are matched by its id: k2's answer under k1's id is k1's
    // request's broken reply.
    h.receive(datagram(id_of(out[1]), 0, 1, "VA 1 f0 O0 kk2\r\nx\r\n"));
    CHECK(h.lost.size() == 1);
    CHECK_FALSE(es[1]->completed());
}

TEST_CASE("udp core: deadlines: the request's own, queued or in flight, and cancellation")
{
    harness h;
    auto a = get({"a"});
    h.core.submit(a, h.now);
    h.stage();
    std::vector<entry_ptr> lost;
    // The op deadline (1 s) is later than the loss (50 ms): lost first.
    h.core.expire(h.now + 50ms, lost);
    CHECK(lost.size() == 1);

    auto o = harness::options();
    o.op_timeout = 20ms;
    harness g(o);
    auto b = get({"b"});
    g.core.submit(b, g.now);
    g.stage();
    lost.clear();
    g.core.expire(g.now + 20ms, lost);
    CHECK(lost.empty());
    REQUIRE(b->completed());
    CHECK(b->ec == errc::timeout);

    // Cancelled in flight: the slot is freed and its reply is a stray.
    auto c = get({"c"});
    g.core.submit(c, g.now);
    const auto id = id_of(g.stage().at(0));
    c->finish(std::make_error_code(std::errc::operation_canceled));
    g.core.expire(g.now + 1ms, lost);
    CHECK(g.core.in_flight() == 0);
    g.receive(datagram(id, 0, 1, "VA 1 f0 O0 kc\r\nx\r\n"));
    CHECK(g.core.counters().stray >= 1);
    CHECK(c->completions == 1);
}

TEST_CASE("udp core: hostile datagrams: short, huge, unparsable")
{
    auto o = harness::options();
    o.max_reply = 4096;
    harness h(o);
    auto e = get({"a"});
    h.core.submit(e, h.now);
    const auto id = id_of(h.stage().at(0));
    h.receive("abc"); // shorter than a header
    CHECK(h.core.counters().stray == 1);
    // A VA announcing more than the item limit: broken at once, nothing allocated for it.
    h.receive(datagram(id, 0, 1, "VA 99999999999 f0 O0 ka\r\n"));
    REQUIRE(h.lost.size() == 1);
    h.lost.clear();
    auto f = get({"b"});
    h.core.submit(f, h.now);
    const auto id2 = id_of(h.stage().at(0));
    h.receive(datagram(id2, 0, 9, std::string(3000, 'z')));
    h.receive(datagram(id2, 1, 9, std::string(3000, 'z'))); // over max_reply
    REQUIRE(h.lost.size() == 1);
    CHECK_FALSE(f->completed());
}
