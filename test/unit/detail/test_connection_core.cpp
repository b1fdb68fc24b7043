// One connection's state machine without a socket: the writer's steps (short writes, a full
// transport, held writes, write errors), the reader's (half replies, growth, limits),
// cancellation in every state, the session's phases and the stall policy. The test moves the
// bytes and chooses the times.

#include "../../support/recording_entry.hpp"
#include "../../support/requests.hpp"

#include <memcoro/detail/connection_core.hpp>
#include <memcoro/error.hpp>

#include <asio/error.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using namespace memcoro;
using namespace std::chrono_literals;
using steady = detail::clock;
using detail::connection_core;
using detail::connection_options;
using detail::entry_ptr;
using detail::stall_policy;

namespace {

const std::error_code canceled = std::make_error_code(std::errc::operation_canceled);
const std::error_code reset = std::make_error_code(std::errc::connection_reset);

using entry = test::recording_entry;

/// The completions of the test: each entry records there (see test/support).
test::recorder& journal()
{
    static test::recorder r;
    return r;
}

std::shared_ptr<entry> get(std::string key)
{
    return std::make_shared<entry>(test::single(proto::command::get, std::move(key)), journal());
}

std::shared_ptr<entry> set(std::string key, std::string value)
{
    return std::make_shared<entry>(test::set_req(std::move(key), std::move(value)), journal());
}

/// A connection core, a clock the test moves, and the bytes on the wire.
struct harness {
    connection_core core;
    steady::time_point now = steady::time_point{} + 1h;
    std::vector<entry_ptr> answered;

    explicit harness(connection_options o = options())
        : core(o)
    {
    }

    static connection_options options()
    {
        connection_options o;
        o.op_timeout = 100ms;
        return o;
    }

    void submit(const entry_ptr& e) { core.submit(e, now); }

    /// A session, and a get of `key` written in it.
    std::shared_ptr<entry> get_on_the_wire(std::string key)
    {
        core.session_started(now);
        auto e = get(std::move(key));
        submit(e);
        send_all();
        return e;
    }

    /// Everything the writer has to send now, as one string, without sending it.
    std::string pending_write()
    {
        std::string s;
        for (const auto& p : core.next_write())
            s.append(p.data, p.size);
        return s;
    }

    /// The transport takes at most `n` bytes; returns them.
    std::string send(std::size_t n)
    {
        std::string s = pending_write().substr(0, n);
        core.wrote(s.size());
        return s;
    }

    /// The transport takes everything (in writes of at most `chunk` bytes).
    std::string send_all(std::size_t chunk = std::size_t(-1))
    {
        std::string out;
        for (std::string s; !(s = send(chunk)).empty();)
            out += s;
        return out;
    }

    /// `bytes` arrive, in reads of at most `chunk`; the answered requests are completed.
    std::error_code receive(std::string_view bytes, std::size_t chunk = std::size_t(-1))
    {
        while (!bytes.empty()) {
            auto room = core.read_buffer();
            REQUIRE(!room.empty());
            const std::size_t n = std::min({room.size(), bytes.size(), chunk});
            std::memcpy(room.data(), bytes.data(), n);
            bytes.remove_prefix(n);
            answered.clear();
            const auto ec = core.read(n, now, answered);
            for (auto& e : answered)
                e->complete(false);
            if (ec)
                return ec;
        }
        return {};
    }
};

} // namespace

TEST_CASE("connection core: the writer sends only within a session", "[connection]")
{
    harness h;
    auto a = get("a");
    h.submit(a);
    CHECK(h.core.state() == connection_core::phase::idle);
    CHECK(h.pending_write().empty());
    CHECK(!h.core.can_write());
    h.core.begin_connect();
    CHECK(h.pending_write().empty());
    h.core.session_started(h.now);
    CHECK(h.core.connected());
    CHECK(h.core.session() == 1);
    CHECK(h.core.can_write());
    CHECK(h.send_all() == "get a\r\n");
    CHECK(!h.core.can_write());
    CHECK(h.core.awaiting_replies());
}

TEST_CASE("connection core: short writes resume where they stopped", "[connection]")
{
    harness h;
    h.core.session_started(h.now);
    const std::string big(5000, 'x'); // sent from its request, not copied
    auto a = set("a", "small");
    auto b = set("b", big);
    auto c = get("c");
    for (const auto& e : {a, b, c})
        h.submit(e);
    const std::string expected =
        "set a 0 0 5\r\nsmall\r\nset b 0 0 5000\r\n" + big + "\r\nget c\r\n";
    SECTION("one byte at a time")
    {
        CHECK(h.send_all(1) == expected);
    }
    SECTION("across the pieces' boundaries")
    {
        CHECK(h.send_all(7) == expected);
        CHECK(h.send_all(4999) == "");
    }
    SECTION("a request queued during a write goes out after it")
    {
        std::string out = h.send(10);
        auto d = get("d");
        h.submit(d);
        out += h.send_all(333);
        CHECK(out == expected + "get d\r\n");
    }
    CHECK(h.core.mux().written_count() == h.core.pending()); // all of them on the wire
    CHECK(h.receive("STORED\r\nSTORED\r\nEND\r\n").value() == 0);
    CHECK(a->completions == 1);
    CHECK(b->completions == 1);
    CHECK(c->completions == 1);
    CHECK(!a->ec);
    CHECK(a->resp.status == proto::reply_type::stored);
}

TEST_CASE("connection core: a full transport and held writes wait", "[connection]")
{
    harness h;
    h.core.session_started(h.now);
    h.submit(get("a"));
    CHECK(h.send(3) == "get");
    h.core.write_blocked();
    CHECK(h.core.write_is_blocked());
    CHECK(h.pending_write().empty());
    h.core.write_unblocked();
    CHECK(h.pending_write() == " a\r\n");
    h.core.hold_writes(true);
    CHECK(h.pending_write().empty());
    CHECK(!h.core.can_write());
    h.core.hold_writes(false);
    CHECK(h.send_all() == " a\r\n");
}

TEST_CASE("connection core: a write error ends the session; queued requests wait for the next",
          "[connection]")
{
    harness h;
    h.core.session_started(h.now);
    auto a = get("a");
    auto b = get("b");
    h.submit(a);
    h.submit(b); // merged with a: "get a b"
    CHECK(h.send(4) == "get ");
    auto c = get("c");
    h.submit(c); // queued while the write is in progress
    REQUIRE(h.core.end_session(reset));
    CHECK(!h.core.connected());
    CHECK(!h.core.end_session(reset)); // once
    CHECK(h.pending_write().empty());
    const auto end = h.core.ended_session();
    CHECK(end.error == errc::connection_lost);
    CHECK(end.cause == reset);
    CHECK(end.requests_lost);
    h.core.fail_session(end);
    CHECK(a->completions == 1);
    CHECK(a->ec == errc::connection_lost);
    CHECK(a->cause == reset);
    CHECK(b->ec == errc::connection_lost);
    CHECK(c->completions == 0);
    // The next session sends the waiting request alone, from its start: nothing of the
    // interrupted write.
    h.core.session_started(h.now);
    CHECK(h.core.session() == 2);
    CHECK(h.send_all() == "get c\r\n");
    CHECK(h.receive("VALUE c 0 1\r\nC\r\nEND\r\n").value() == 0);
    CHECK(c->completions == 1);
    CHECK(c->resp.items.size() == 1);
    CHECK(c->resp.items.at(0).value == "C");
}

TEST_CASE("connection core: a protocol error is reported as itself", "[connection]")
{
    harness h;
    auto a = h.get_on_the_wire("a");
    const auto ec = h.receive("VALUE zz 0 1\r\nZ\r\nEND\r\n");
    CHECK(ec == errc::protocol_desync);
    REQUIRE(h.core.end_session(ec));
    const auto end = h.core.ended_session();
    CHECK(end.error == errc::protocol_desync);
    CHECK(!end.cause);
    h.core.fail_session(end);
    CHECK(a->ec == errc::protocol_desync);
    CHECK(a->resp.items.empty());
}

TEST_CASE("connection core: an idle session's end loses nothing", "[connection]")
{
    harness h;
    h.core.session_started(h.now);
    REQUIRE(h.core.end_session(std::make_error_code(std::errc::broken_pipe)));
    CHECK(!h.core.ended_session().requests_lost);
}

TEST_CASE("connection core: cancellation in every state", "[connection]")
{
    harness h;
    h.core.session_started(h.now);
    SECTION("waiting: never sent")
    {
        auto a = get("a");
        auto b = set("b", "v");
        h.submit(a);
        h.submit(b);
        a->finish(canceled);
        CHECK(a->completions == 1);
        CHECK(h.send_all() == "set b 0 0 1\r\nv\r\n");
        CHECK(h.receive("STORED\r\n").value() == 0);
        CHECK(b->completions == 1);
        CHECK(b->resp.status == proto::reply_type::stored);
    }
    SECTION("half written: the rest still goes, the reply is read and dropped")
    {
        auto a = set("a", "v");
        auto b = get("b");
        h.submit(a);
        std::string out = h.send(5);
        a->finish(canceled);
        h.submit(b);
        out += h.send_all();
        CHECK(out == "set a 0 0 1\r\nv\r\nget b\r\n");
        CHECK(h.receive("STORED\r\nVALUE b 0 2\r\nhi\r\nEND\r\n").value() == 0);
        CHECK(a->completions == 1);
        CHECK(a->ec == canceled);
        CHECK(b->completions == 1);
        CHECK(b->resp.items.at(0).value == "hi");
    }
    SECTION("written: its reply is dropped, the next request gets its own")
    {
        auto a = get("a");
        auto b = set("b", "v");
        h.submit(a);
        h.send_all();
        h.submit(b);
        h.send_all();
        a->finish(canceled);
        CHECK(a->abandoned());
        CHECK(h.receive("VALUE a 0 3\r\nold\r\nEND\r\nNOT_STORED\r\n", 5).value() == 0);
        CHECK(a->completions == 1);
        CHECK(a->resp.items.empty());
        CHECK(b->completions == 1);
        CHECK(b->resp.status == proto::reply_type::not_stored);
        CHECK(!h.core.has_work());
    }
    SECTION("while connecting: a new session sends only the live requests")
    {
        h.core.end_session(reset);
        h.core.fail_session(h.core.ended_session());
        auto a = get("a");
        auto b = get("b");
        h.submit(a);
        h.submit(b);
        h.core.begin_connect();
        b->finish(canceled);
        h.core.session_started(h.now);
        CHECK(h.send_all() == "get a\r\n");
    }
}

TEST_CASE("connection core: replies split anywhere are reassembled", "[connection]")
{
    const std::string value(3000, 'v');
    const std::string wire = "VALUE a 7 3000\r\n" + value + "\r\nEND\r\nSTORED\r\n";
    for (std::size_t chunk : {1u, 2u, 5u, 17u, 1000u, 4096u}) {
        harness h;
        h.core.session_started(h.now);
        auto a = get("a");
        auto b = set("b", "x");
        h.submit(a);
        h.submit(b);
        h.send_all();
        CHECK(h.receive(wire, chunk).value() == 0);
        CHECK(a->completions == 1);
        CHECK(a->resp.items.at(0).flags == 7);
        CHECK(a->resp.items.at(0).value == value);
        CHECK(b->resp.status == proto::reply_type::stored);
        CHECK(h.core.mux().unparsed() == 0);
    }
}

TEST_CASE("connection core: the read buffer grows for a large reply and shrinks after",
          "[connection]")
{
    harness h;
    auto a = h.get_on_the_wire("a");
    const std::size_t size = 900 * 1024;
    const std::string head = "VALUE a 0 " + std::to_string(size) + "\r\n";
    CHECK(h.receive(head).value() == 0);
    // The reply announced its size: the buffer makes room for all of it at once.
    CHECK(h.core.read_buffer().size() >= size + 2);
    CHECK(h.core.mux().read_capacity() >= size + head.size());
    CHECK(h.receive(std::string(size, 'z') + "\r\nEND\r\n").value() == 0);
    CHECK(a->resp.items.at(0).value.size() == size);
    // Parsed: the memory goes back.
    CHECK(h.core.read_buffer().size() <= detail::multiplexer::initial_read_buffer);
}

TEST_CASE("connection core: a reply over the limits allocates nothing near its claim",
          "[connection]")
{
    connection_options o = harness::options();
    o.limits.max_item_size = 1024;
    harness h(o);
    h.core.session_started(h.now);
    auto a = get("a");
    h.submit(a);
    h.send_all();
    CHECK(h.receive("VALUE a 0 4000000000\r\n") == errc::protocol_error);
    CHECK(h.core.mux().read_capacity() <= detail::multiplexer::initial_read_buffer);
    SECTION("a line that never ends")
    {
        harness h2(o);
        h2.core.session_started(h2.now);
        auto b = get("b");
        h2.submit(b);
        h2.send_all();
        CHECK(h2.receive(std::string(100000, 'V')) == errc::protocol_error);
        CHECK(h2.core.mux().read_capacity() <= detail::multiplexer::initial_read_buffer);
    }
}

TEST_CASE("stall policy: the oldest deadline, the last progress, now", "[connection]")
{
    const auto t0 = steady::time_point{} + 1h;
    // The oldest request's deadline passed, no progress since: dropped a timeout later.
    CHECK(!stall_policy(t0, t0 - 1s, t0 + 99ms, 100ms).stalled);
    CHECK(stall_policy(t0, t0 - 1s, t0 + 99ms, 100ms).recheck_at == t0 + 100ms);
    CHECK(stall_policy(t0, t0 - 1s, t0 + 100ms, 100ms).stalled);
    // A reply completed after the deadline postpones it.
    CHECK(!stall_policy(t0, t0 + 50ms, t0 + 100ms, 100ms).stalled);
    CHECK(stall_policy(t0, t0 + 50ms, t0 + 100ms, 100ms).recheck_at == t0 + 150ms);
    CHECK(stall_policy(t0, t0 + 50ms, t0 + 150ms, 100ms).stalled);
}

TEST_CASE("connection core: the watchdog times requests out, then drops a silent server",
          "[connection]")
{
    harness h;
    auto a = h.get_on_the_wire("a");
    bool stalled = true;
    CHECK(h.core.watch(h.now, stalled) == h.now + 100ms);
    CHECK(!stalled);
    h.now += 100ms;
    auto b = get("b"); // queued at the first one's deadline
    h.submit(b);
    h.send_all();
    auto next = h.core.watch(h.now, stalled);
    CHECK(a->ec == errc::timeout);
    CHECK(a->abandoned());
    CHECK(!stalled);
    CHECK(next == h.now + 100ms); // b's deadline, and the silence limit
    SECTION("silence: the session is dropped")
    {
        h.now += 100ms;
        h.core.watch(h.now, stalled);
        CHECK(stalled);
        CHECK(b->ec == errc::timeout);
    }
    SECTION("replies keep the session; a later silent request starts the count again")
    {
        auto c = get("c");
        h.submit(c);
        h.send_all();
        h.now += 50ms;
        CHECK(h.receive("END\r\nEND\r\n").value() == 0); // a's dropped, b's a miss
        CHECK(b->completions == 1);
        CHECK(!b->ec);
        CHECK(b->resp.items.empty());
        h.now += 50ms; // c times out; silence is counted from its deadline
        CHECK(h.core.watch(h.now, stalled) == h.now + 100ms);
        CHECK(c->ec == errc::timeout);
        CHECK(!stalled);
        h.now += 99ms;
        h.core.watch(h.now, stalled);
        CHECK(!stalled);
        h.now += 1ms;
        h.core.watch(h.now, stalled);
        CHECK(stalled);
    }
}

TEST_CASE("connection core: a failed connect fails the queue with its cause; close fails all",
          "[connection]")
{
    harness h;
    auto a = get("a");
    h.submit(a);
    h.core.begin_connect();
    h.core.connect_failed(errc::connection_failed,
                          std::make_error_code(std::errc::connection_refused));
    CHECK(h.core.state() == connection_core::phase::idle);
    CHECK(a->ec == errc::connection_failed);
    CHECK(a->cause == std::errc::connection_refused);
    CHECK(!h.core.has_work());
    auto b = get("b");
    auto c = get("c");
    h.submit(b);
    h.core.session_started(h.now);
    h.send_all();
    h.submit(c);
    h.core.close(canceled);
    CHECK(h.core.closed());
    CHECK(b->ec == canceled);
    CHECK(c->ec == canceled);
    CHECK(!h.core.has_work());
    CHECK(h.pending_write().empty());
}

// ---- the dialect probe (protocol::automatic) ------------------------------------------------

namespace {

connection_options detecting()
{
    connection_options o = harness::options();
    o.detect_dialect = true;
    o.connect_timeout = 50ms;
    return o;
}

/// A get asking for a lease: something only the meta dialect can send.
std::shared_ptr<entry> lease_get(std::string key)
{
    auto r = test::single(proto::command::get, std::move(key));
    std::get<proto::retrieval>(r).vivify = 30;
    return std::make_shared<entry>(std::move(r), journal());
}

/// Answers the meta get that confirms a version that says meta: a miss (`reply` "EN"), a hit
/// ("VA"), each carrying the request's opaque and key, or `reply` as it is.
void confirm_meta(harness& h, std::string reply = "EN")
{
    const std::string wire = h.send_all();
    INFO(wire);
    CHECK(wire.starts_with("mg memcoro:dialect-probe "));
    CHECK(h.core.probing());
    const auto o = wire.find(" O");
    REQUIRE(o != std::string::npos);
    const std::string echo =
        wire.substr(o + 1, wire.find(' ', o + 1) - o - 1) + " kmemcoro:dialect-probe\r\n";
    if (reply == "EN")
        reply = "EN " + echo;
    else if (reply == "VA")
        reply = "VA 2 f0 " + echo + "hi\r\n";
    CHECK(h.receive(reply) == std::error_code{});
}

} // namespace

TEST_CASE("speaks_meta: memcached 1.6.10 and later only", "[connection][dialect]")
{
    for (const char* v :
         {"1.6.10", "1.6.18", "1.6.21-rc1", "1.7.0", "1.10.2", "2.0.0", "1.6.18 (Debian)"})
        CHECK(proto::speaks_meta(v));
    for (const char* v : {"1.6.9", "1.6.0", "1.5.22", "1.4.39", "0.9.9", "", "1.6", "1..6.18",
                          "mcrouter 0.41.0", "twemproxy", "1.6.x", ".1.6.18"})
        CHECK_FALSE(proto::speaks_meta(v));
}

TEST_CASE("connection core: the dialect probe goes first and alone, and picks meta",
          "[connection][dialect]")
{
    harness h(detecting());
    journal().log.clear();
    auto a = get("a");
    h.submit(a); // queued while connecting
    h.core.session_started(h.now);
    CHECK(h.core.probing());
    CHECK(h.send_all() == "version\r\n");
    auto b = set("b", "v"); // queued behind the probe: not written before its reply
    h.submit(b);
    CHECK(h.pending_write().empty());
    CHECK(!a->completed());
    CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
    CHECK(h.core.probing()); // the version says meta: a meta get confirms it
    CHECK(!h.core.take_dialect_news());
    CHECK(!h.pending_write().empty());
    confirm_meta(h);
    CHECK(!h.core.probing());
    CHECK(h.core.dialect() == proto::dialect::meta);
    CHECK(h.core.server_version() == "1.6.18");
    CHECK(h.core.take_dialect_news());
    CHECK(!h.core.take_dialect_news());
    CHECK(journal().log.empty()); // the probe answers no caller
    const std::string wire = h.send_all();
    CHECK(wire.starts_with("mg a "));
    CHECK(wire.find("ms b 1 ") != std::string::npos);
}

TEST_CASE("connection core: an older memcached, a proxy or an error line means text",
          "[connection][dialect]")
{
    for (const char* reply :
         {"VERSION 1.5.22\r\n", "VERSION 1.6.9\r\n", "VERSION twemproxy 0.5.0\r\n", "ERROR\r\n",
          "CLIENT_ERROR unknown command\r\n", "SERVER_ERROR no\r\n"}) {
        INFO(reply);
        harness h(detecting());
        journal().log.clear();
        auto a = get("a");
        h.submit(a);
        h.core.session_started(h.now);
        CHECK(h.send_all() == "version\r\n");
        CHECK(h.receive(reply) == std::error_code{});
        CHECK(h.core.dialect() == proto::dialect::text);
        CHECK(h.send_all() == "get a\r\n");
        CHECK(h.receive("VALUE a 0 1\r\nx\r\nEND\r\n") == std::error_code{});
        REQUIRE(journal().log.size() == 1);
        CHECK(!journal().log[0].ec);
        CHECK(journal().log[0].resp.items.size() == 1);
    }
}

TEST_CASE("connection core: on a text server, what only meta can send fails unsent",
          "[connection][dialect]")
{
    harness h(detecting());
    journal().log.clear();
    auto lease = lease_get("l");
    auto binary = get(std::string("bin key\x01", 8));
    auto plain = get("p");
    h.submit(lease);
    h.submit(binary);
    h.submit(plain);
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    CHECK(h.receive("VERSION 1.4.39\r\n") == std::error_code{});
    CHECK(lease->ec == errc::not_supported);
    CHECK(binary->ec == errc::invalid_key);
    CHECK(!plain->completed());
    CHECK(h.send_all() == "get p\r\n"); // only the one text can send
    // Later ones are refused as they are queued.
    auto later = lease_get("m");
    h.submit(later);
    CHECK(later->ec == errc::not_supported);
    CHECK(h.pending_write().empty());
}

TEST_CASE("connection core: every session asks again, and the answer may change",
          "[connection][dialect]")
{
    harness h(detecting());
    h.core.session_started(h.now);
    h.send_all();
    CHECK(h.receive("VERSION 1.5.22\r\n") == std::error_code{});
    CHECK(h.core.dialect() == proto::dialect::text);
    // The server is upgraded and restarted: the next session speaks meta.
    CHECK(h.core.end_session(reset));
    h.core.fail_session(h.core.ended_session());
    auto a = get("a");
    h.submit(a);
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
    confirm_meta(h);
    CHECK(h.core.dialect() == proto::dialect::meta);
    CHECK(h.send_all().starts_with("mg a "));
}

TEST_CASE("connection core: a hang-up in answer to the probe means text next time, unasked",
          "[connection][dialect]")
{
    harness h(detecting());
    journal().log.clear();
    auto a = get("a");
    h.submit(a);
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    // The server closes the connection (end of file): the probe fails, the get stays queued.
    CHECK(h.core.end_session(asio::error::eof));
    h.core.fail_session(h.core.ended_session());
    CHECK(!a->completed());
    h.core.session_started(h.now);
    CHECK(!h.core.probing());
    CHECK(h.core.dialect() == proto::dialect::text);
    CHECK(h.send_all() == "get a\r\n");
    CHECK(h.receive("END\r\n") == std::error_code{});
    CHECK(a->completed());
    CHECK(!a->ec);
    // The session after that asks again.
    CHECK(h.core.end_session(reset));
    h.core.fail_session(h.core.ended_session());
    h.submit(get("b"));
    h.core.session_started(h.now);
    CHECK(h.core.probing());
    CHECK(h.send_all() == "version\r\n");
}

TEST_CASE("connection core: a probe unanswered within connect_timeout ends the session",
          "[connection][dialect]")
{
    harness h(detecting());
    auto a = get("a");
    h.submit(a);
    h.core.session_started(h.now);
    h.send_all();
    bool stalled = false;
    const auto next = h.core.watch(h.now + 10ms, stalled);
    CHECK(!stalled);
    CHECK(next <= h.now + 50ms);
    h.core.watch(h.now + 50ms, stalled);
    CHECK(stalled);
    CHECK(h.core.end_session(asio::error::timed_out));
    const auto end = h.core.ended_session();
    CHECK(end.requests_lost); // the probe was on the wire: a failure of the server
    h.core.fail_session(end);
    // The server took the connection and never spoke: the request queued behind the probe
    // fails now, rather than wait on reconnects until its own deadline.
    CHECK(a->completed());
    CHECK(a->ec == errc::connection_failed);
    CHECK(a->cause == asio::error::timed_out);
    CHECK_FALSE(h.core.has_work());
}

TEST_CASE("connection core: a session reset before the probe's answer fails what is queued",
          "[connection][dialect]")
{
    harness h(detecting());
    auto a = get("a");
    h.submit(a);
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    // (A TLS server reading plaintext resets the connection.)
    CHECK(h.core.end_session(asio::error::connection_reset));
    h.core.fail_session(h.core.ended_session());
    CHECK(a->ec == errc::connection_failed);
    CHECK(a->cause == asio::error::connection_reset);
    CHECK_FALSE(h.core.has_work());
}

TEST_CASE("connection core: requests behind the probe time out on time", "[connection][dialect]")
{
    harness h(detecting());
    auto a = get("a");
    const auto t0 = h.now;
    h.submit(a);   // its deadline: t0 + 100 ms
    h.now += 70ms; // the session starts late: the probe's deadline is t0 + 120 ms
    h.core.session_started(h.now);
    h.send_all();
    bool stalled = false;
    CHECK(h.core.watch(t0 + 71ms, stalled) == t0 + 100ms);
    CHECK(!stalled);
    CHECK(h.core.watch(t0 + 100ms, stalled) == t0 + 120ms);
    CHECK(a->ec == errc::timeout);
    CHECK(!stalled);
    h.core.watch(t0 + 120ms, stalled);
    CHECK(stalled);
}

TEST_CASE("connection core: what is queued before the answer waits for it, unscreened",
          "[connection][dialect]")
{
    harness h(detecting());
    auto binary = get(std::string("a b", 3));
    h.submit(binary); // before any session: the server's dialect is not known yet
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    CHECK(h.receive("VERSION 1.5.22\r\n") == std::error_code{});
    CHECK(binary->ec == errc::invalid_key); // text: refused, unsent
    CHECK(h.pending_write().empty());
    // The server is upgraded: a binary key queued while reconnecting goes out base64-encoded.
    CHECK(h.core.end_session(reset));
    h.core.fail_session(h.core.ended_session());
    auto again = get(std::string("a b", 3));
    h.submit(again);
    CHECK(!again->completed());
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
    confirm_meta(h);
    CHECK(!again->completed());
    const std::string wire = h.send_all();
    INFO(wire);
    CHECK(wire.starts_with("mg YSBi "));
    CHECK(wire.ends_with(" b\r\n")); // base64 of "a b", flagged b
}

TEST_CASE("connection core: a meta get confirms meta; a hit answers it as well as a miss",
          "[connection][dialect]")
{
    harness h(detecting());
    journal().log.clear();
    auto a = get("a");
    h.submit(a);
    h.core.session_started(h.now);
    CHECK(h.send_all() == "version\r\n");
    CHECK(h.receive("VERSION 1.6.21\r\n") == std::error_code{});
    confirm_meta(h, "VA");
    CHECK(h.core.dialect() == proto::dialect::meta);
    CHECK(h.core.take_dialect_news());
    CHECK(journal().log.empty()); // neither probe answers a caller
    CHECK(h.send_all().starts_with("mg a "));
}

TEST_CASE("connection core: a version that says meta but a meta get refused means text",
          "[connection][dialect]")
{
    // A proxy that passes `version` through to a modern memcached but does not know the meta
    // commands: it answers them with an error line, or hangs up (as twemproxy 0.5 does).
    SECTION("an error line: text at once, in this session")
    {
        harness h(detecting());
        journal().log.clear();
        auto a = get("a");
        auto lease = lease_get("l");
        h.submit(a);
        h.submit(lease);
        h.core.session_started(h.now);
        h.send_all();
        CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
        confirm_meta(h, "ERROR\r\n");
        CHECK(!h.core.probing());
        CHECK(h.core.dialect() == proto::dialect::text);
        CHECK(h.core.take_dialect_news());
        CHECK(lease->ec == errc::not_supported); // screened for text, unsent
        CHECK(h.send_all() == "get a\r\n");
        CHECK(h.receive("END\r\n") == std::error_code{});
        CHECK(a->completed());
        CHECK(!a->ec);
    }
    SECTION("a hang-up: text from the next session on, while the version stays the same")
    {
        harness h(detecting());
        journal().log.clear();
        auto a = get("a");
        h.submit(a);
        h.core.session_started(h.now);
        h.send_all();
        CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
        CHECK(h.send_all().starts_with("mg memcoro:dialect-probe "));
        CHECK(h.core.end_session(asio::error::eof));
        h.core.fail_session(h.core.ended_session());
        CHECK(!a->completed()); // never written: it waits for the next session
        for (int session = 0; session < 2; ++session) {
            h.core.session_started(h.now);
            CHECK(h.send_all() == "version\r\n"); // still asked: an upgrade shows here
            CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
            CHECK(!h.core.probing()); // the same version: no meta get this time
            CHECK(h.core.dialect() == proto::dialect::text);
            if (session == 0) {
                CHECK(h.send_all() == "get a\r\n");
                CHECK(h.receive("END\r\n") == std::error_code{});
                CHECK(a->completed());
                CHECK(!a->ec);
            }
            CHECK(h.core.end_session(reset));
            h.core.fail_session(h.core.ended_session());
        }
        // Another version behind the same address is asked again.
        h.core.session_started(h.now);
        h.send_all();
        CHECK(h.receive("VERSION 1.6.21\r\n") == std::error_code{});
        confirm_meta(h);
        CHECK(h.core.dialect() == proto::dialect::meta);
    }
}

TEST_CASE("connection core: the meta get that confirms meta counts against connect_timeout",
          "[connection][dialect]")
{
    harness h(detecting());
    h.core.session_started(h.now);
    h.send_all();
    h.now += 30ms;
    CHECK(h.receive("VERSION 1.6.18\r\n") == std::error_code{});
    CHECK(h.send_all().starts_with("mg memcoro:dialect-probe "));
    bool stalled = false;
    CHECK(h.core.watch(h.now + 10ms, stalled) <= h.now + 20ms); // 50 ms from the session's start
    CHECK(!stalled);
    h.core.watch(h.now + 20ms, stalled);
    CHECK(stalled);
}

TEST_CASE("connection core: a server silent with replies awaited is nudged, again after twice "
          "the wait while silent, at most 8 unanswered",
          "[connection][nudge]")
{
    connection_options o = harness::options();
    o.nudge_after = 5ms;
    harness h(o);
    auto a = h.get_on_the_wire("a");
    h.core.note_written(h.now);
    auto next = steady::time_point::max();
    CHECK_FALSE(h.core.nudge_due(h.now + 4ms, next));
    CHECK(next == h.now + 5ms);
    CHECK(h.core.nudge_due(h.now + 5ms, next));
    h.now += 5ms;
    h.core.nudge(h.now);
    CHECK(h.send_all() == "version\r\n");
    h.core.note_written(h.now);
    // While it is unanswered and nothing is read: again after 10 ms, then 20 ms, ...
    next = steady::time_point::max();
    CHECK_FALSE(h.core.nudge_due(h.now + 9ms, next));
    CHECK(next == h.now + 10ms);
    h.now += 10ms;
    REQUIRE(h.core.nudge_due(h.now, next));
    h.core.nudge(h.now);
    CHECK(h.send_all() == "version\r\n");
    h.core.note_written(h.now);
    next = steady::time_point::max();
    CHECK_FALSE(h.core.nudge_due(h.now + 19ms, next));
    CHECK(next == h.now + 20ms);
    // ... at most 8 unanswered.
    for (int i = 2; i < 8; ++i) {
        h.now += 1h;
        REQUIRE(h.core.nudge_due(h.now, next));
        h.core.nudge(h.now);
        h.send_all();
        h.core.note_written(h.now);
    }
    CHECK(h.core.nudges() == 8);
    CHECK_FALSE(h.core.nudge_due(h.now + 24h, next));
    // The server wakes: the get is answered, then the nudge, which nobody sees.
    std::string versions;
    for (int i = 0; i < 8; ++i)
        versions += "VERSION 1.6.18\r\n";
    CHECK_FALSE(h.receive("VALUE a 0 1\r\nx\r\nEND\r\n" + versions));
    CHECK(a->completed());
    CHECK(a->hits == 1);
    CHECK_FALSE(h.core.awaiting_replies());
    // Nothing awaited: no nudge, however long the silence.
    CHECK_FALSE(h.core.nudge_due(h.now + 1h, next));
    // Bytes read count as life: a nudge is due only after the last of them.
    auto b = get("b");
    h.submit(b);
    h.send_all();
    h.core.note_written(h.now);
    h.now += 3ms;
    CHECK_FALSE(h.receive("VALUE b 0 3\r\nxy"));
    next = steady::time_point::max();
    CHECK_FALSE(h.core.nudge_due(h.now + 4ms, next));
    CHECK(next == h.now + 5ms);
}

TEST_CASE("connection core: without nudge_after nothing is ever nudged", "[connection][nudge]")
{
    harness h;
    h.get_on_the_wire("a");
    auto next = steady::time_point::max();
    CHECK_FALSE(h.core.nudge_due(h.now + 1h, next));
    CHECK(next == steady::time_point::max());
}
