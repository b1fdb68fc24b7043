// libFuzzer target for the reply decoder, the multiplexer that feeds it and the connection state
// machine around them.
//
// Input layout: the first byte selects the run, the rest is the server's byte stream.
//   bits 0-2  the expected reply_kind (0 retrieval, 1 storage, 2 deletion, 3 touch,
//             4 arithmetic, 5 ok, 6 version, 7 stats): '0'..'7' select them too
//   bits 3-5  the chunking of the stream (see make_cuts)
//   bit  6    small decoder limits (max_item_size 64, max_line 48)
//   bit  7    abandon two written requests before their replies arrive
//
// Each input runs the decoder and the multiplexer twice, on the whole stream and chunked, and
// checks that both see the same replies and completions; then a connection_core takes the same
// requests through short writes and reads into its own growing buffer, and must answer them as
// the multiplexer did. Bytes not yet "received" and bytes already consumed are poisoned under
// AddressSanitizer, so any read outside the unconsumed input is caught. A broken invariant
// aborts (a crash for libFuzzer, a failure for the replay).

#include "../../lib/proto/base64.hpp"
#include "../support/recording_entry.hpp"
#include "../support/replies.hpp"
#include "../support/requests.hpp"
#include "../support/stage.hpp"

#include <memcoro/detail/connection_core.hpp>
#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/detail/pool.hpp>
#include <memcoro/error.hpp>
#include <memcoro/proto/auth.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/meta.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif

namespace {

using memcoro::errc;
using memcoro::proto::decoder;
using memcoro::proto::decoder_limits;
using memcoro::proto::parse_status;
using memcoro::proto::reply_kind;
using memcoro::proto::reply_type;
using memcoro::test::allowed;

[[noreturn]] void broken(const char* what, const char* file, int line)
{
    std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
    std::fflush(stderr);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __FILE__, __LINE__);                                                     \
    } while (0)

struct selector {
    reply_kind kind;
    unsigned chunking;
    bool small_limits;
    bool abandon;
};

selector decode_selector(std::uint8_t b)
{
    return {static_cast<reply_kind>(b & 7u), (b >> 3) & 7u, (b & 0x40u) != 0, (b & 0x80u) != 0};
}

decoder_limits limits_for(const selector& s)
{
    return s.small_limits ? decoder_limits{64, 48} : decoder_limits{};
}

/// Offsets at which the stream is split into reads.
std::vector<std::size_t> make_cuts(std::size_t n, unsigned pattern)
{
    std::vector<std::size_t> cuts;
    auto every = [&](std::size_t step) {
        for (std::size_t i = step; i < n; i += step)
            cuts.push_back(i);
    };
    switch (pattern) {
    case 0:
        break; // one read
    case 1:
        every(1);
        break;
    case 2:
        every(2);
        break;
    case 3:
        every(7);
        break;
    case 4:
        if (n > 1)
            cuts.push_back(n / 2);
        break;
    case 5: // growing reads: 1, 2, 3, ...
        for (std::size_t i = 1, step = 1; i < n; i += ++step)
            cuts.push_back(i);
        break;
    case 6: { // pseudo-random reads of 1..32 bytes, seeded by the length
        std::uint32_t x = static_cast<std::uint32_t>(n) * 2654435761u + 1;
        for (std::size_t i = 0;;) {
            x = x * 1664525u + 1013904223u;
            i += 1 + (x >> 27);
            if (i >= n)
                break;
            cuts.push_back(i);
        }
        break;
    }
    default: // alternating 3 and 61 bytes
        for (std::size_t i = 3, k = 0; i < n; i += (++k % 2) ? 61 : 3)
            cuts.push_back(i);
        break;
    }
    return cuts;
}

/// The stream in an allocation of its exact size; the part a reader does not hold is poisoned.
class stream_buffer {
public:
    explicit stream_buffer(std::string_view s)
        : size_(s.size())
        , data_(new char[s.size() ? s.size() : 1])
    {
        if (!s.empty())
            std::memcpy(data_.get(), s.data(), s.size());
    }
    ~stream_buffer() { ASAN_UNPOISON_MEMORY_REGION(data_.get(), size_); }
    stream_buffer(const stream_buffer&) = delete;
    stream_buffer& operator=(const stream_buffer&) = delete;

    /// The unconsumed, received bytes [from, to); everything else is made unreadable.
    std::string_view hold(std::size_t from, std::size_t to)
    {
        ASAN_UNPOISON_MEMORY_REGION(data_.get(), size_);
        ASAN_POISON_MEMORY_REGION(data_.get(), from);
        ASAN_POISON_MEMORY_REGION(data_.get() + to, size_ - to);
        return {data_.get() + from, to - from};
    }
    void release() { ASAN_UNPOISON_MEMORY_REGION(data_.get(), size_); }
    std::size_t size() const noexcept { return size_; }

private:
    std::size_t size_;
    std::unique_ptr<char[]> data_;
};

bool inside(std::string_view v, std::string_view in, std::size_t consumed)
{
    return v.empty() || (v.data() >= in.data() && v.data() + v.size() <= in.data() + consumed);
}

// ---- the decoder alone -----------------------------------------------------------------------

struct decoded {
    std::string replies; ///< every reply, serialized
    std::error_code ec;
    std::size_t consumed = 0;

    bool operator==(const decoded&) const = default;
};

void append_reply(std::string& out, const memcoro::proto::reply& r, std::size_t consumed)
{
    out += std::to_string(static_cast<int>(r.type)) + '|' + std::to_string(r.key.size()) + ':';
    out.append(r.key);
    out += '|' + std::to_string(r.data.size()) + ':';
    out.append(r.data);
    out += '|' + std::to_string(r.name.size()) + ':';
    out.append(r.name);
    out += '|' + std::to_string(r.flags) + '|' + std::to_string(r.cas) + '|' +
           std::to_string(r.has_cas) + '|' + std::to_string(r.number) + '|' +
           std::to_string(consumed) + '|' + std::to_string(r.has_opaque) + '|' +
           std::to_string(r.opaque) + '|' + std::to_string(r.meta.present) + '|' +
           std::to_string(r.meta.ttl) + '|' + std::to_string(r.meta.size) + '|' +
           std::to_string(r.meta.last_access) + '\n';
}

decoded run_decoder(stream_buffer& buf, reply_kind kind, const std::vector<std::size_t>& cuts,
                    const decoder_limits& limits)
{
    decoded out;
    decoder dec(limits);
    const std::size_t max_pending = limits.max_line + limits.max_item_size + 2;
    for (std::size_t i = 0; i <= cuts.size() && !out.ec; ++i) {
        const std::size_t received = i < cuts.size() ? cuts[i] : buf.size();
        for (;;) {
            const std::string_view in = buf.hold(out.consumed, received);
            memcoro::proto::reply r;
            std::error_code ec;
            const auto res = dec.parse(in, kind, r, ec);
            FUZZ_CHECK(dec.pending_size() <= max_pending);
            if (ec) {
                FUZZ_CHECK(ec == errc::protocol_error);
                FUZZ_CHECK(res.status == parse_status::need_more && res.consumed == 0);
                out.ec = ec;
                break;
            }
            if (res.status == parse_status::need_more) {
                FUZZ_CHECK(res.consumed == 0);
                // a pending size is more than what is held, never a lie about a line
                FUZZ_CHECK(dec.pending_size() == 0 || dec.pending_size() > in.size());
                break;
            }
            FUZZ_CHECK(res.consumed >= 2 && res.consumed <= in.size());
            FUZZ_CHECK(inside(r.key, in, res.consumed));
            FUZZ_CHECK(inside(r.data, in, res.consumed));
            FUZZ_CHECK(inside(r.name, in, res.consumed));
            FUZZ_CHECK(allowed(kind, r.type));
            FUZZ_CHECK(dec.pending_size() == 0);
            FUZZ_CHECK(in[res.consumed - 2] == '\r' && in[res.consumed - 1] == '\n');
            if (memcoro::proto::is_meta(kind)) {
                // (The key is echoed only when asked for; a number may come in a data block.)
                FUZZ_CHECK(r.key.size() <= memcoro::proto::max_key_length);
                FUZZ_CHECK(r.key.find(' ') == std::string_view::npos);
                FUZZ_CHECK(r.data.size() <= limits.max_item_size);
                // A binary key's echo (b): what decodes is canonical (re-encodes the same)
                // and fits in its room; nothing is written past the room.
                if (r.meta.has(memcoro::proto::meta_info::base64_key)) {
                    char room[memcoro::proto::max_key_length];
                    const auto n = memcoro::proto::base64::decode(r.key, room, sizeof room);
                    if (n >= 0) {
                        FUZZ_CHECK(static_cast<std::size_t>(n) <= sizeof room);
                        char again[memcoro::proto::base64::encoded_size(sizeof room)];
                        const char* end = memcoro::proto::base64::encode(
                            std::string_view(room, static_cast<std::size_t>(n)), again);
                        FUZZ_CHECK(std::string_view(again, static_cast<std::size_t>(end - again)) ==
                                   r.key);
                    }
                }
                if (r.type != reply_type::value && r.type != reply_type::number)
                    FUZZ_CHECK(res.consumed <= limits.max_line);
            } else if (r.type == reply_type::value) {
                FUZZ_CHECK(!r.key.empty() && r.key.size() <= memcoro::proto::max_key_length);
                FUZZ_CHECK(r.data.size() <= limits.max_item_size);
                FUZZ_CHECK(r.key.find(' ') == std::string_view::npos);
            } else {
                FUZZ_CHECK(res.consumed <= limits.max_line);
            }
            append_reply(out.replies, r, res.consumed);
            out.consumed += res.consumed;
        }
    }
    buf.release();
    return out;
}

// ---- the multiplexer -------------------------------------------------------------------------

using memcoro::detail::as;
using memcoro::detail::entry_state;
using memcoro::detail::make_request;
using memcoro::detail::multiplexer;
using memcoro::detail::op_entry;
using memcoro::detail::request_ptr;
using memcoro::test::get_request;
using memcoro::test::recorder;
using memcoro::test::recording_entry;
namespace proto = memcoro::proto;

request_ptr request_for(reply_kind k)
{
    switch (k) {
    case reply_kind::retrieval: {
        request_ptr r = make_request<proto::retrieval>();
        auto& q = as<proto::retrieval>(r);
        q.with_cas = true;
        q.keys.own() = {"a", "b", "c", "k"};
        return r;
    }
    case reply_kind::storage: {
        request_ptr r = make_request<proto::storage>();
        auto& q = as<proto::storage>(r);
        q.mode = proto::store_mode::set;
        // (a recycled storage request keeps one value's room: assign, never append)
        q.keys.own() = {"k"};
        q.values.own() = {"v"};
        return r;
    }
    case reply_kind::deletion: {
        request_ptr r = make_request<proto::deletion>();
        as<proto::deletion>(r).keys.own() = {"k"};
        return r;
    }
    case reply_kind::touch: {
        request_ptr r = make_request<proto::touch>();
        as<proto::touch>(r).key = "k";
        return r;
    }
    case reply_kind::arithmetic: {
        request_ptr r = make_request<proto::arithmetic>();
        auto& q = as<proto::arithmetic>(r);
        q.key = "k";
        q.delta = 1;
        return r;
    }
    case reply_kind::ok:
        return make_request<proto::flush>();
    case reply_kind::version:
        return make_request<proto::version>();
    case reply_kind::stats:
        return make_request<proto::stats>();
    default: // (the multiplexer speaks text here)
        break;
    }
    return make_request<proto::version>();
}

struct muxed {
    std::vector<std::string> log; ///< completions in order, described
    std::error_code ec;
    std::size_t consumed = 0;

    bool operator==(const muxed&) const = default;
};

/// `merge`: the multiplexer merges consecutive single-key gets (up to 8 per request), and
/// replies are fed with the settle-then-complete variant of feed(), as a connection does.
/// The selected kind first, then one request of every kind, and one cancelled before it was
/// sent (never staged, never owed a reply; index 2).
std::vector<request_ptr> requests_for(const selector& sel)
{
    std::vector<request_ptr> reqs;
    reqs.push_back(request_for(sel.kind));
    reqs.push_back(get_request({"k"}));
    reqs.push_back(get_request({"never"}));
    for (int k = 1; k < 8; ++k)
        reqs.push_back(request_for(static_cast<reply_kind>(k)));
    reqs.push_back(request_for(reply_kind::retrieval));
    // Single gets in a row: one request on the wire when merging.
    for (const char* key : {"a", "k", "b", "k"})
        reqs.push_back(get_request({key}));
    return reqs;
}

/// `share`: singleflight (the later gets of "k" follow the first one, sending nothing).
/// `prefix`: the key prefix sent before every key, which replies must carry.
muxed run_multiplexer(stream_buffer& buf, const selector& sel, const std::vector<std::size_t>& cuts,
                      bool merge, bool share = false, std::string_view prefix = {})
{
    std::vector<request_ptr> reqs = requests_for(sel);

    recorder rec;
    multiplexer mux(limits_for(sel), merge ? 8 : 0);
    mux.set_singleflight(share);
    mux.set_key_prefix(std::string(prefix));
    std::vector<std::shared_ptr<recording_entry>> entries;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        FUZZ_CHECK(!memcoro::proto::validate(*reqs[i]));
        entries.push_back(
            std::make_shared<recording_entry>(std::move(reqs[i]), rec, static_cast<int>(i)));
        mux.enqueue(entries.back());
    }
    entries[2]->finish(errc::timeout);

    // Singleflight: who follows whom (followers stay waiting, outside the queues).
    std::vector<int> leader_of(entries.size(), -1);
    std::size_t following = 0;
    for (std::size_t i = 0; i < entries.size(); ++i)
        for (const auto& f : entries[i]->followers) {
            leader_of[static_cast<std::size_t>(static_cast<recording_entry&>(*f).id())] =
                static_cast<int>(i);
            ++following;
        }
    FUZZ_CHECK(share ? following == 2 : following == 0);

    std::string wire;
    std::size_t staged = memcoro::test::stage(mux, wire, 16);
    FUZZ_CHECK(staged >= 1);
    staged += memcoro::test::stage(mux, wire, 1 << 20);
    FUZZ_CHECK(staged == reqs.size() - 1 - following);
    FUZZ_CHECK(!mux.has_waiting() && mux.written_count() == staged);
    FUZZ_CHECK(entries[2]->state == entry_state::done);
    if (sel.abandon) {
        entries[0]->finish(errc::timeout);
        entries[3]->finish(std::make_error_code(std::errc::operation_canceled));
        FUZZ_CHECK(entries[0]->abandoned() && entries[3]->abandoned());
    }

    muxed out;
    const std::size_t max_pending = limits_for(sel).max_line + limits_for(sel).max_item_size + 2;
    for (std::size_t i = 0; i <= cuts.size() && !out.ec; ++i) {
        const std::size_t received = i < cuts.size() ? cuts[i] : buf.size();
        const std::string_view in = buf.hold(out.consumed, received);
        std::error_code ec;
        std::size_t used = 0;
        if (merge) {
            std::vector<std::shared_ptr<op_entry>> answered;
            used = mux.feed(in, ec, answered);
            for (auto& e : answered) {
                FUZZ_CHECK(e->completed() && e->state == entry_state::done);
                e->complete(false);
            }
        } else {
            used = mux.feed(in, ec);
        }
        FUZZ_CHECK(used <= in.size());
        FUZZ_CHECK(mux.pending_size() <= max_pending);
        out.consumed += used;
        if (ec) {
            FUZZ_CHECK(ec == errc::protocol_error || ec == errc::protocol_desync);
            out.ec = ec;
        } else {
            // without an error, feed stops only for want of bytes (or of requests)
            FUZZ_CHECK(used == in.size() || mux.has_written());
        }
    }
    buf.release();

    // Requests answered by replies complete in queue order; each one exactly once.
    int last = -1;
    for (int id : rec.order()) {
        const bool early = id == 2 || (sel.abandon && (id == 0 || id == 3));
        if (!early && leader_of[static_cast<std::size_t>(id)] < 0) {
            FUZZ_CHECK(id > last);
            last = id;
        }
    }
    for (const auto& e : entries)
        FUZZ_CHECK(e->completions <= 1);
    // A follower is answered as its leader was, right after it (the leader here is a get of
    // the same key, never completed early).
    const auto order = rec.order();
    const auto lines = rec.summary();
    for (std::size_t at = 0; at < order.size(); ++at) {
        const int leader = leader_of[static_cast<std::size_t>(order[at])];
        if (leader < 0)
            continue;
        std::size_t led = 0;
        while (led < at && order[led] != leader)
            ++led;
        FUZZ_CHECK(led < at);
        const auto tail = [](const std::string& line) { return line.substr(line.find(' ')); };
        FUZZ_CHECK(tail(lines[at]) == tail(lines[led]));
    }
    out.log = lines;

    // The connection goes away: everything left is answered, once.
    mux.fail_written(out.ec ? out.ec : std::error_code(errc::connection_lost));
    FUZZ_CHECK(mux.empty());
    FUZZ_CHECK(mux.pending_size() == 0);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        FUZZ_CHECK(entries[i]->completions == 1);
        FUZZ_CHECK(entries[i]->state == entry_state::done);
    }
    return out;
}

/// The same requests through a connection's state machine, as its shell drives it: staged in
/// writes of about 16 bytes, each sent by short writes (the cut pattern's sizes), then the
/// stream read into the connection's own buffer in reads ending at the cuts. It must answer
/// every request as the merging multiplexer fed directly does.
muxed run_connection(stream_buffer& buf, const selector& sel, const std::vector<std::size_t>& cuts)
{
    memcoro::detail::connection_options o;
    o.limits = limits_for(sel);
    o.merge_gets = 8;
    o.max_write_bytes = 16;
    memcoro::detail::connection_core core(o);
    const auto now = memcoro::detail::clock::now();
    recorder rec;
    std::vector<std::shared_ptr<recording_entry>> entries;
    std::vector<request_ptr> reqs = requests_for(sel);
    for (std::size_t i = 0; i < reqs.size(); ++i) {
        entries.push_back(
            std::make_shared<recording_entry>(std::move(reqs[i]), rec, static_cast<int>(i)));
        core.submit(entries.back(), now);
    }
    entries[2]->finish(errc::timeout);
    FUZZ_CHECK(core.next_write().empty()); // no session yet
    core.session_started(now);

    // Short writes: each at most the next gap between cuts (at least one byte).
    std::string wire;
    std::size_t w = 0;
    for (auto pieces = core.next_write(); !pieces.empty(); pieces = core.next_write()) {
        const std::size_t step = w < cuts.size() ? (w ? cuts[w] - cuts[w - 1] : cuts[0]) : 5;
        ++w;
        std::size_t n = 0;
        for (const auto& p : pieces) {
            const std::size_t take = std::min(p.size, step - n);
            wire.append(p.data, take);
            n += take;
            if (n == step)
                break;
        }
        core.wrote(n);
    }
    FUZZ_CHECK(!core.mux().has_waiting() && !core.can_write());
    FUZZ_CHECK(core.mux().written_count() == entries.size() - 1);
    FUZZ_CHECK(wire.find("never") == std::string::npos);
    if (sel.abandon) {
        entries[0]->finish(errc::timeout);
        entries[3]->finish(std::make_error_code(std::errc::operation_canceled));
    }

    muxed out;
    const std::string_view all = buf.hold(0, buf.size());
    std::vector<memcoro::detail::entry_ptr> answered;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size() && !out.ec; ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : buf.size();
        while (from < to && !out.ec) {
            const auto room = core.read_buffer();
            FUZZ_CHECK(!room.empty());
            FUZZ_CHECK(core.mux().read_capacity() <=
                       std::max<std::size_t>(memcoro::detail::multiplexer::initial_read_buffer,
                                             o.limits.max_line + o.limits.max_item_size + 4096));
            const std::size_t n = std::min(room.size(), to - from);
            std::memcpy(room.data(), all.data() + from, n);
            from += n;
            answered.clear();
            out.ec = core.read(n, now, answered);
            for (auto& e : answered)
                e->complete(false);
        }
    }
    buf.release();
    if (out.ec)
        FUZZ_CHECK(out.ec == errc::protocol_error || out.ec == errc::protocol_desync);
    for (const auto& e : entries)
        FUZZ_CHECK(e->completions <= 1);
    out.log = rec.summary();

    // The connection goes away: everything left is answered, once.
    core.end_session(out.ec ? out.ec : std::make_error_code(std::errc::connection_reset));
    core.fail_session(core.ended_session());
    FUZZ_CHECK(!core.has_work());
    for (const auto& e : entries)
        FUZZ_CHECK(e->completions == 1);
    return out;
}

} // namespace

/// A request of the meta run that logs each key's reply (index and type) as the client's
/// gathers see them, and its completion.
class keyed_recording final : public op_entry {
public:
    /// `log`: the replies as delivered; `done`: the completions.
    keyed_recording(request_ptr r, std::string& log, std::string& done, int id)
        : op_entry(std::move(r))
        , log_(log)
        , done_(done)
        , id_(id)
    {
    }
    int completions = 0;
    std::size_t next_key = 0; ///< each key's terminal reply comes once, in key order

private:
    void on_value(std::size_t j, const memcoro::proto::reply& r, bool) override
    {
        log_ += std::to_string(id_) + " v" + std::to_string(j) + " " + std::string(r.key) + "=" +
                std::string(r.data) + "\n";
    }
    void on_reply(std::size_t j, const memcoro::proto::reply& r) override
    {
        if (std::holds_alternative<memcoro::proto::storage>(req) ||
            std::holds_alternative<memcoro::proto::deletion>(req)) {
            FUZZ_CHECK(j == next_key);
            ++next_key;
        }
        log_ += std::to_string(id_) + " r" + std::to_string(j) + " " +
                std::to_string(static_cast<int>(r.type)) + "\n";
    }
    void on_complete(bool) override
    {
        ++completions;
        done_ += std::to_string(id_) + " done " + ec.message() + "\n";
    }
    std::string& log_;
    std::string& done_;
    int id_;
};

/// The meta dialect's multiplexer: a single get, a quiet multi-get (a binary key among them),
/// a quiet multi-set, a quiet single set, a multi-delete and a quiet one, an arithmetic.
request_ptr meta_request(int i)
{
    switch (i) {
    case 0:
        return get_request({"a"});
    case 1:
        return get_request({"a", "b c", "k"});
    case 2:
    case 3: {
        request_ptr r = make_request<proto::storage>();
        auto& q = as<proto::storage>(r);
        q.quiet = true;
        q.keys.own() =
            i == 2 ? std::vector<std::string>{"a", "b", "k"} : std::vector<std::string>{"k"};
        q.values.own() =
            i == 2 ? std::vector<std::string>{"1", "", "xyz"} : std::vector<std::string>{"v"};
        return r;
    }
    case 4:
    case 5: {
        request_ptr r = make_request<proto::deletion>();
        auto& q = as<proto::deletion>(r);
        q.quiet = i == 5;
        q.keys.own() = {"a", "k"};
        return r;
    }
    default: {
        request_ptr r = make_request<proto::arithmetic>();
        as<proto::arithmetic>(r).key = "k";
        as<proto::arithmetic>(r).delta = 1;
        return r;
    }
    }
}

struct meta_muxed {
    std::string log, done;
    std::error_code ec;
    bool operator==(const meta_muxed&) const = default;
};

meta_muxed run_meta_multiplexer(stream_buffer& buf, const std::vector<std::size_t>& cuts,
                                const decoder_limits& limits)
{
    meta_muxed out;
    multiplexer mux(limits, 0, memcoro::proto::dialect::meta);
    std::vector<std::shared_ptr<keyed_recording>> entries;
    for (int i = 0; i < 7; ++i) {
        auto r = meta_request(i);
        FUZZ_CHECK(!memcoro::proto::validate(*r, true));
        entries.push_back(std::make_shared<keyed_recording>(std::move(r), out.log, out.done, i));
        mux.enqueue(entries.back());
    }
    std::string wire;
    FUZZ_CHECK(memcoro::test::stage(mux, wire, 1 << 20) == entries.size());
    std::size_t consumed = 0;
    for (std::size_t i = 0; i <= cuts.size() && !out.ec; ++i) {
        const std::size_t received = i < cuts.size() ? cuts[i] : buf.size();
        const std::string_view in = buf.hold(consumed, received);
        std::vector<std::shared_ptr<op_entry>> answered;
        std::error_code ec;
        const std::size_t used = mux.feed(in, ec, answered);
        for (auto& e : answered)
            e->complete(false);
        FUZZ_CHECK(used <= in.size());
        consumed += used;
        if (ec) {
            FUZZ_CHECK(ec == errc::protocol_error || ec == errc::protocol_desync);
            out.ec = ec;
        }
    }
    buf.release();
    for (const auto& e : entries)
        FUZZ_CHECK(e->completions <= 1);
    mux.fail_all(errc::connection_lost);
    for (const auto& e : entries)
        FUZZ_CHECK(e->completions == 1);
    return out;
}

/// The meta dialect's decoder on the same stream: reply kind selected by the same bits.
void check_meta_decoder(stream_buffer& buf, const selector& sel,
                        const std::vector<std::size_t>& cuts, const decoder_limits& limits)
{
    // Its multiplexer: any chunking answers the same, each request once, each key once.
    const meta_muxed mux_whole = run_meta_multiplexer(buf, {}, limits);
    const meta_muxed mux_chunked = run_meta_multiplexer(buf, cuts, limits);
    FUZZ_CHECK(mux_whole == mux_chunked);

    constexpr reply_kind meta_kinds[] = {reply_kind::meta_get, reply_kind::meta_storage,
                                         reply_kind::meta_deletion, reply_kind::meta_touch,
                                         reply_kind::meta_arithmetic};
    const reply_kind kind = meta_kinds[static_cast<unsigned>(sel.kind) % std::size(meta_kinds)];
    const decoded whole = run_decoder(buf, kind, {}, limits);
    const decoded chunked = run_decoder(buf, kind, cuts, limits);
    FUZZ_CHECK(whole == chunked);
    FUZZ_CHECK(whole.consumed <= buf.size());
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0)
        return 0;
    const selector sel = decode_selector(data[0]);
    stream_buffer buf(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
    const auto cuts = make_cuts(buf.size(), sel.chunking);
    const decoder_limits limits = limits_for(sel);

    check_meta_decoder(buf, sel, cuts, limits);
    // A version line's text decides the dialect (protocol::automatic): any bytes are safe,
    // and only a version number can say meta.
    {
        const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
        if (memcoro::proto::speaks_meta(text))
            FUZZ_CHECK(text[0] >= '0' && text[0] <= '9');
    }
    // The authentication reply (memcached -Y): read as the bytes arrive, any prefix says
    // "incomplete" or what the whole says, and a reply never reaches past its line.
    {
        const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
        const auto whole = memcoro::proto::parse_auth_reply(text);
        using memcoro::proto::auth_outcome;
        if (whole.outcome == auth_outcome::accepted || whole.outcome == auth_outcome::refused) {
            FUZZ_CHECK(whole.size >= 2 && whole.size <= text.size());
            FUZZ_CHECK(text.substr(whole.size - 2, 2) == "\r\n");
            FUZZ_CHECK(whole.message.size() <= whole.size);
            if (whole.outcome == auth_outcome::accepted)
                FUZZ_CHECK(text.starts_with("STORED\r\n"));
        }
        for (const std::size_t cut : cuts) {
            if (cut > text.size())
                continue;
            const auto part = memcoro::proto::parse_auth_reply(text.substr(0, cut));
            if (whole.outcome == auth_outcome::incomplete)
                FUZZ_CHECK(part.outcome == auth_outcome::incomplete);
            else if (part.outcome != auth_outcome::incomplete)
                FUZZ_CHECK(part.outcome == whole.outcome && part.size == whole.size);
        }
    }
#if defined(MEMCORO_FUZZ_META_DECODER)
    // (fuzz_meta_decoder: the meta decoder alone, fast enough for long runs.)
    return 0;
#endif

    // Any chunking gives the same replies, and the same error at the same place.
    const decoded whole = run_decoder(buf, sel.kind, {}, limits);
    const decoded chunked = run_decoder(buf, sel.kind, cuts, limits);
    FUZZ_CHECK(whole == chunked);
    FUZZ_CHECK(whole.consumed <= buf.size());

    for (const bool merge : {false, true}) {
        const muxed mux_whole = run_multiplexer(buf, sel, {}, merge);
        const muxed mux_chunked = run_multiplexer(buf, sel, cuts, merge);
        FUZZ_CHECK(mux_whole == mux_chunked);
        FUZZ_CHECK(mux_whole.consumed <= buf.size());
        // Singleflight: the same, whatever the chunking.
        const muxed shared_whole = run_multiplexer(buf, sel, {}, merge, true);
        const muxed shared_chunked = run_multiplexer(buf, sel, cuts, merge, true);
        FUZZ_CHECK(shared_whole == shared_chunked);
        // With a key prefix: the same whatever the chunking (a key without it is a desync).
        const muxed prefixed_whole = run_multiplexer(buf, sel, {}, merge, false, "p:");
        const muxed prefixed_chunked = run_multiplexer(buf, sel, cuts, merge, false, "p:");
        FUZZ_CHECK(prefixed_whole == prefixed_chunked);
        if (merge) {
            // A connection moving the bytes through its own buffers answers the same.
            const muxed conn = run_connection(buf, sel, cuts);
            FUZZ_CHECK(conn.log == mux_chunked.log);
            FUZZ_CHECK(conn.ec == mux_chunked.ec);
        }
    }
    return 0;
}
