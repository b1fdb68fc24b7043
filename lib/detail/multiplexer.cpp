#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/error.hpp>

#include "../proto/base64.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace memcoro::detail {
namespace {

/// The line ending a retrieval's reply.
constexpr std::string_view end_line = "END\r\n";

/// A retrieval's end, for a meta get (whose replies have no END of their own).
const proto::reply end_reply{};

/// Is the VALUE's key this request key? Keys of 8 to 16 bytes (most) are compared as two
/// overlapping words, without a call to memcmp.
bool same_key(const std::string& key, std::string_view got) noexcept
{
    const std::size_t n = key.size();
    if (n != got.size())
        return false;
    if (n < 8 || n > 16)
        return std::memcmp(key.data(), got.data(), n) == 0;
    std::uint64_t a, b, c, d;
    std::memcpy(&a, key.data(), 8);
    std::memcpy(&b, key.data() + n - 8, 8);
    std::memcpy(&c, got.data(), 8);
    std::memcpy(&d, got.data() + n - 8, 8);
    return ((a ^ c) | (b ^ d)) == 0;
}

bool is_error_line(proto::reply_type t) noexcept
{
    return t == proto::reply_type::error || t == proto::reply_type::client_error ||
           t == proto::reply_type::server_error;
}

/// The one key of a single-key get or gets (no touch), or nullptr.
const std::string* single_get_key(const op_entry& e, bool with_cas) noexcept
{
    const auto* r = std::get_if<proto::retrieval>(&e.req);
    if (!r || r->with_cas != with_cas || r->exptime || r->keys.size() != 1)
        return nullptr;
    return &r->keys[0];
}

/// The key of a get that singleflight may share: a plain single-key get.
const std::string* shared_get_key(const op_entry& e) noexcept
{
    const auto* r = std::get_if<proto::retrieval>(&e.req);
    if (!r || r->with_cas || r->exptime || r->keys.size() != 1 || r->meta_only())
        return nullptr;
    return &r->keys[0];
}

} // namespace

[[gnu::always_inline]] inline bool multiplexer::sent_key(const std::string& key,
                                                         std::string_view got) const noexcept
{
    if (prefix_.empty()) [[likely]]
        return same_key(key, got);
    // (A key that comes back without the prefix is not this one: a desync, never a hit.)
    return got.size() == prefix_.size() + key.size() && got.starts_with(prefix_) &&
           same_key(key, got.substr(prefix_.size()));
}

[[gnu::always_inline]] inline const proto::reply&
multiplexer::unprefixed(const proto::reply& r, proto::reply& scratch) const noexcept
{
    if (prefix_.empty() || r.key.empty()) [[likely]]
        return r;
    scratch = r;
    scratch.key.remove_prefix(std::min(prefix_.size(), r.key.size()));
    return scratch;
}

bool multiplexer::follow(entry_ptr& e)
{
    const std::string* key = shared_get_key(*e);
    if (!key)
        return false;
    auto [it, added] = flights_.try_emplace(std::string_view(*key), e.get());
    if (added) {
        e->leads = true;
        return false;
    }
    it->second->followers.push_back(std::move(e));
    return true;
}

void multiplexer::end_flight(const op_entry& leader) noexcept
{
    const std::string* key = shared_get_key(leader);
    if (!key)
        return;
    if (auto it = flights_.find(std::string_view(*key));
        it != flights_.end() && it->second == &leader)
        flights_.erase(it);
}

void multiplexer::release_followers(op_entry& leader, std::error_code ec)
{
    end_flight(leader);
    leader.leads = false;
    auto followers = std::move(leader.followers);
    leader.followers.clear();
    for (auto& f : followers) {
        f->state = entry_state::done;
        f->finished = now_;
        if (f->completed())
            continue;
        // What the leader's terminal reply told it (its sink's on_reply), and why it failed.
        f->resp.status = leader.resp.status;
        f->resp.text = leader.resp.text;
        if (ec) {
            f->server = leader.server;
            f->cause = leader.cause;
        }
        if (!answered_)
            f->finish(ec);
        else if (f->settle(ec))
            answered_->push_back(std::move(f));
    }
}

entry_ptr multiplexer::successor(op_entry& leader)
{
    end_flight(leader);
    leader.leads = false;
    auto followers = std::move(leader.followers);
    leader.followers.clear();
    entry_ptr next;
    for (auto& f : followers) {
        if (f->completed()) {
            f->state = entry_state::done;
        } else if (!next) {
            next = std::move(f);
        } else {
            next->followers.push_back(std::move(f));
        }
    }
    if (next) {
        next->leads = true;
        next->kind =
            meta_ ? proto::expected_meta_reply(next->req) : proto::expected_reply(next->req);
        flights_[std::string_view(*shared_get_key(*next))] = next.get();
    }
    return next;
}

void multiplexer::expire_followers(op_entry& e, clock::time_point now, std::error_code ec,
                                   clock::time_point& next)
{
    for (auto& f : e.followers) {
        if (f->completed())
            continue;
        if (f->deadline > now)
            next = std::min(next, f->deadline);
        else
            f->finish(ec);
    }
}

std::size_t multiplexer::mergeable()
{
    merged_keys_.clear();
    if (merge_gets_ < 2 || waiting_.size() < 2)
        return 1;
    const op_entry& first = *waiting_.front();
    const auto* head = std::get_if<proto::retrieval>(&first.req);
    if (!head)
        return 1;
    const std::string* key = single_get_key(first, head->with_cas);
    if (!key)
        return 1;
    merged_keys_.push_back(key);
    for (std::size_t n = 1; n < waiting_.size() && n < merge_gets_; ++n) {
        const op_entry& e = *waiting_[n];
        key = e.completed() ? nullptr : single_get_key(e, head->with_cas);
        if (!key)
            break;
        merged_keys_.push_back(key);
    }
    return merged_keys_.size();
}

std::size_t multiplexer::stage(std::vector<write_piece>& out, std::size_t max_bytes)
{
    std::size_t staged = 0;
    std::size_t bytes = 0; // of large values; with lines_.size(): all staged bytes
    lines_.clear();        // the previous write is complete
    offsets_.clear();
    // Command lines, small values and their "\r\n" go into lines_, one piece per run of them
    // between large values, which are sent from their requests. lines_ may move as it grows:
    // its pieces are recorded as offsets (data == nullptr) and resolved at the end.
    if (barrier_) [[unlikely]] {
        if (barrier_->state == entry_state::written)
            return 0; // nothing goes out behind it before its reply
        if (barrier_->state == entry_state::done)
            barrier_ = nullptr;
    }
    const std::size_t first_piece = out.size();
    std::size_t run = 0; // start of the current run in lines_
    const auto end_run = [&] {
        if (lines_.size() > run) {
            out.push_back({nullptr, lines_.size() - run});
            offsets_.push_back(run);
        }
        run = lines_.size();
    };
    while (!waiting_.empty()) {
        auto& e = waiting_.front();
        if (e->completed()) { // timed out or cancelled before it was sent: never send it
            e->state = entry_state::done;
            entry_ptr next = e->leads ? successor(*e) : nullptr;
            waiting_.pop_front();
            if (next) [[unlikely]] // a get that followed it goes in its place
                waiting_.push_front(std::move(next));
            continue;
        }
        if (staged > 0 && bytes + lines_.size() >= max_bytes)
            break;
        // (A merge needs two requests waiting at least.)
        const std::size_t n = merge_gets_ > 1 && waiting_.size() > 1 ? mergeable() : 1;
        if (n > 1) {
            // Concurrent single-key gets go out as one "get k1 k2 ...": one request for the
            // server to parse, one END for all of them.
            proto::encode_text_merged(*std::get_if<proto::retrieval>(&e->req), merged_keys_, lines_,
                                      prefix_);
            for (std::size_t i = 0; i < n; ++i) {
                auto& m = waiting_.front();
                m->group = i == 0 ? static_cast<std::uint32_t>(n) : 0;
                m->state = entry_state::written;
                written_.push_back(std::move(m));
                waiting_.pop_front();
            }
            staged += n;
            continue;
        }
        e->group = 1;
        std::uint32_t opaque = 0;
        if (meta_) {
            opaque = e->opaque = next_opaque_;
            next_opaque_ += static_cast<std::uint32_t>(proto::meta_opaques(e->req));
        }
        if (const auto* s = std::get_if<proto::storage>(&e->req)) {
            const std::size_t n = s->keys.size();
            for (std::size_t j = 0; j < n; ++j) {
                if (meta_)
                    proto::encode_meta_line(*s, j, static_cast<std::uint32_t>(opaque + j), lines_,
                                            s->quiet, prefix_);
                else
                    proto::encode_text_line(*s, j, lines_, prefix_);
                const std::string& v = s->values[j];
                if (v.size() <= inline_value_max) {
                    lines_ += v; // cheaper than one more piece of a gathered write
                } else {
                    end_run();
                    out.push_back({v.data(), v.size()});
                    bytes += v.size();
                }
                lines_ += "\r\n";
            }
            if (meta_ && s->quiet)
                lines_ += "mn\r\n"; // the end of the quiet batch
        } else if (meta_) {
            proto::encode_meta(e->req, opaque, lines_, prefix_);
        } else {
            proto::encode_text(e->req, lines_, prefix_);
        }
        e->state = entry_state::written;
        const bool barrier = e.get() == barrier_;
        written_.push_back(std::move(e));
        waiting_.pop_front();
        ++staged;
        if (barrier) [[unlikely]]
            break;
    }
    end_run();
    std::size_t k = 0;
    for (std::size_t i = first_piece; i < out.size(); ++i)
        if (out[i].data == nullptr)
            out[i].data = lines_.data() + offsets_[k++];
    return staged;
}

bool multiplexer::commit_write(std::size_t n) noexcept
{
    // Drop what was sent: whole pieces, then the sent head of a partly sent one.
    while (wfirst_ < wpieces_.size() && n >= wpieces_[wfirst_].size)
        n -= wpieces_[wfirst_++].size;
    if (wfirst_ < wpieces_.size()) {
        wpieces_[wfirst_].data += n;
        wpieces_[wfirst_].size -= n;
        return false;
    }
    return true;
}

std::span<char> multiplexer::prepare_read_slow()
{
    if (rbegin_ == rend_) {
        rbegin_ = rend_ = 0;
        // A large reply grew the buffer: give the memory back once it is parsed.
        if (rbuf_.size() > 4 * initial_read_buffer) {
            rbuf_.resize(initial_read_buffer);
            rbuf_.shrink_to_fit();
        }
    }
    if (rbuf_.size() < initial_read_buffer)
        rbuf_.resize(initial_read_buffer);
    // Room for the rest of the reply being parsed (as far as it has announced itself, see
    // pending_size), and always for a read: the unparsed tail moves to the front first when
    // the room is not behind it, and the buffer grows only when the reply needs more.
    const std::size_t need = std::max(pending_size(), rend_ - rbegin_ + 4096);
    if (rbegin_ > 0 && (rend_ == rbuf_.size() || rbegin_ + need > rbuf_.size())) {
        std::memmove(rbuf_.data(), rbuf_.data() + rbegin_, rend_ - rbegin_);
        rend_ -= rbegin_;
        rbegin_ = 0;
    }
    if (rbegin_ + need > rbuf_.size())
        rbuf_.resize(rbegin_ + need);
    return std::span<char>(rbuf_).subspan(rend_);
}

void multiplexer::commit_read(std::size_t n, std::error_code& ec, std::vector<entry_ptr>& answered,
                              clock::time_point now)
{
    rend_ += std::min(n, rbuf_.size() - rend_);
    answered_ = &answered;
    now_ = now;
    rbegin_ += feed(std::string_view(rbuf_.data() + rbegin_, rend_ - rbegin_), ec);
    answered_ = nullptr;
    now_ = {};
    if (rbegin_ == rend_)
        rbegin_ = rend_ = 0;
}

std::size_t multiplexer::feed(std::string_view in, std::error_code& ec,
                              std::vector<entry_ptr>& answered, clock::time_point now)
{
    answered_ = &answered;
    now_ = now;
    const std::size_t used = feed(in, ec);
    answered_ = nullptr;
    now_ = {};
    return used;
}

[[gnu::always_inline]] inline void multiplexer::answer(entry_ptr e, std::error_code ec)
{
    e->state = entry_state::done;
    e->finished = now_;
    op_entry* const leader = e->leads ? e.get() : nullptr;
    if (!answered_)
        e->finish(ec);
    else if (e->settle(ec))
        answered_->push_back(std::move(e));
    if (leader) [[unlikely]]
        release_followers(*leader, ec);
}

[[gnu::always_inline]] inline void multiplexer::give_value(op_entry& e, std::size_t j,
                                                           const proto::reply& r, bool whole)
{
    ++e.hits;
    if (!e.completed())
        e.on_value(j, r, whole);
    if (!e.followers.empty()) [[unlikely]] {
        for (auto& f : e.followers) {
            ++f->hits;
            if (!f->completed())
                f->on_value(0, r, whole);
        }
    }
}

std::size_t multiplexer::feed(std::string_view in, std::error_code& ec)
{
    ec = {};
    std::size_t used = 0;
    hold_ = 0;
    proto::reply r; // reset by each parse
    while (!written_.empty() && used < in.size()) {
        auto res = decoder_.parse(std::string_view(in.data() + used, in.size() - used),
                                  written_.front()->kind, r, ec);
        if (ec || res.status == proto::parse_status::need_more)
            return used;
        // The VALUE of a request of one key alone on the wire is delivered with its END, so
        // that its sink knows the request succeeds: until the END is read, neither is used.
        bool whole = false;
        if (r.type == proto::reply_type::value && written_.front()->group == 1 &&
            written_.front()->kind == proto::reply_kind::retrieval) {
            // (The decoder accepts a VALUE only for a retrieval.)
            const auto& keys = std::get_if<proto::retrieval>(&written_.front()->req)->keys;
            const char* after = in.data() + used + res.consumed;
            const std::size_t left = in.size() - used - res.consumed;
            if (keys.size() == 1 && left >= end_line.size()) {
                // (A VALUE for another key is a desync, which deliver() reports before
                // using the value.)
                whole = std::memcmp(after, end_line.data(), end_line.size()) == 0;
            } else if (keys.size() == 1 && end_line.starts_with(std::string_view(after, left)) &&
                       sent_key(keys[0], r.key)) {
                // Only part of what may be its END has been read: hold the VALUE. (One for
                // another key is delivered at once: it is a desync.)
                hold_ = res.consumed + end_line.size();
                return used;
            }
        }
        used += res.consumed;
        if ((ec = deliver(r, whole)))
            return used;
    }
    if (used < in.size() && written_.empty())
        ec = errc::protocol_error; // bytes nobody asked for
    return used;
}

std::error_code multiplexer::deliver_merged(const proto::reply& r)
{
    op_entry& head = *written_.front();
    const std::size_t n = head.group;
    if (r.type == proto::reply_type::value) {
        // Hits come in request order: the next group member (from the cursor) with this key.
        std::size_t j = head.key_cursor;
        for (; j < n; ++j)
            if (sent_key(std::get_if<proto::retrieval>(&written_[j]->req)->keys[0], r.key))
                break;
        if (j == n)
            return errc::protocol_desync;
        head.key_cursor = j + 1;
        proto::reply plain;
        give_value(*written_[j], 0, unprefixed(r, plain), false);
        return {};
    }
    if (r.type == proto::reply_type::stat)
        return errc::protocol_error;
    // END (or an error line) answers every get of the group.
    auto& done = group_done_;
    done.clear();
    for (std::size_t i = 0; i < n; ++i) {
        done.push_back(std::move(written_.front()));
        written_.pop_front();
    }
    const std::error_code ec = error_for(r.type);
    for (auto& e : done) {
        ++e->replies;
        if (!e->completed())
            e->on_reply(0, r);
        answer(std::move(e), ec);
    }
    return {};
}

[[gnu::always_inline]] inline std::error_code multiplexer::deliver(const proto::reply& r,
                                                                   bool whole)
{
    if (written_.front()->group > 1)
        return deliver_merged(r);
    op_entry& e = *written_.front();
    if (proto::is_meta(e.kind)) {
        if (e.kind == proto::reply_kind::meta_get)
            return deliver_meta_get(e, r);
        if (proto::is_quiet_write(e.req)) [[unlikely]]
            return deliver_quiet_write(e, r);
        // One reply per line, in order: it must echo that line's opaque number (error lines
        // carry none: their place in the order says whose they are).
        if (!is_error_line(r.type) &&
            (!r.has_opaque || r.opaque != static_cast<std::uint32_t>(e.opaque + e.replies)))
            return errc::protocol_desync;
    }
    switch (r.type) {
    case proto::reply_type::value: {
        // memcached answers the keys of a retrieval in request order, skipping misses: a
        // VALUE for a key that was not asked (at this position) means replies are shifted.
        // (The decoder accepts a VALUE only for a retrieval.)
        const proto::string_list& keys = std::get_if<proto::retrieval>(&e.req)->keys;
        const std::size_t n = keys.size();
        std::size_t j = e.key_cursor;
        for (; j < n; ++j)
            if (sent_key(keys[j], r.key))
                break;
        if (j == n)
            return errc::protocol_desync;
        e.key_cursor = j + 1;
        proto::reply plain;
        give_value(e, j, unprefixed(r, plain), whole);
        return {};
    }
    case proto::reply_type::stat:
        // A stats reply that never ends would grow without bound: cap it.
        e.stats_bytes += r.name.size() + r.data.size() + 7;
        if (e.stats_bytes > decoder_.limits().max_stats_bytes)
            return errc::protocol_error;
        if (!e.completed())
            e.on_stat(r);
        return {};
    default:
        break;
    }
    // A terminal reply: the request's last, or one of a batch's (one per key).
    const std::size_t index = e.replies++;
    if (!e.completed())
        e.on_reply(index, r);
    const std::size_t expected = proto::reply_count(e.req);
    if (e.replies < expected)
        return {};
    entry_ptr done = std::move(written_.front());
    written_.pop_front();
    // A batch reports each key's error to its sink; the request itself was carried out.
    // (error_for is called for an error line only: most replies are none.)
    const bool failed = expected == 1 && (r.type == proto::reply_type::error ||
                                          r.type == proto::reply_type::client_error ||
                                          r.type == proto::reply_type::server_error);
    answer(std::move(done), failed ? error_for(r.type) : std::error_code{});
    return {};
}

void multiplexer::finish_front(const proto::reply* r, std::error_code ec)
{
    entry_ptr done = std::move(written_.front());
    written_.pop_front();
    ++done->replies;
    if (r && !done->completed())
        done->on_reply(0, *r);
    answer(std::move(done), ec);
}

namespace {

/// The key a reply in a request of `n` meta lines names by its opaque number (`j`): one not
/// answered yet, else the replies are not this request's.
std::error_code batch_key(const op_entry& e, const proto::reply& r, std::size_t n,
                          std::uint32_t& j) noexcept
{
    if (!r.has_opaque)
        return errc::protocol_desync;
    j = r.opaque - e.opaque;
    if (j >= n || j < e.key_cursor)
        return errc::protocol_desync;
    return {};
}

} // namespace

std::error_code multiplexer::deliver_quiet_write(op_entry& e, const proto::reply& r)
{
    const std::size_t n = proto::reply_count(e.req);
    if (is_error_line(r.type)) {
        // An error line names no key: it is for one of the keys not answered yet, before the
        // next reply that names one. None of those is claimed written: all of them are
        // reported with this error when that reply (or the MN) comes.
        if (e.batch_error == proto::reply_type::end)
            e.batch_error = r.type;
        return {};
    }
    if (r.type == proto::reply_type::noop) { // MN: every key not answered
        // A write of one key fails with its error line, as it does when not quiet; a batch
        // reports each key's error to its sink (the request itself was carried out).
        const std::error_code ec =
            n == 1 && e.key_cursor == 0 && e.batch_error != proto::reply_type::end
                ? error_for(e.batch_error)
                : std::error_code{};
        settle_silent_keys(e, n);
        finish_front(nullptr, ec);
        return {};
    }
    // A failure (NS, EX, NF; a success is silent, but taken if a server sends it anyway) for
    // the key its opaque number names, after those already answered.
    std::uint32_t j = 0;
    if (const auto ec = batch_key(e, r, n, j))
        return ec;
    settle_silent_keys(e, j);
    e.key_cursor = j + 1;
    ++e.replies;
    if (!e.completed())
        e.on_reply(j, r);
    return {};
}

void multiplexer::settle_silent_keys(op_entry& e, std::size_t upto)
{
    proto::reply implied;
    if (e.batch_error != proto::reply_type::end) {
        implied.type = e.batch_error;
        implied.data = "an error line for one of these keys (a quiet batch names none)";
        e.batch_error = proto::reply_type::end;
    } else {
        implied.type = std::holds_alternative<proto::storage>(e.req) ? proto::reply_type::stored
                                                                     : proto::reply_type::deleted;
    }
    for (std::size_t k = e.key_cursor; k < upto; ++k) {
        ++e.replies;
        if (!e.completed())
            e.on_reply(k, implied);
    }
    e.key_cursor = upto;
}

std::error_code multiplexer::deliver_meta_get(op_entry& e, const proto::reply& r)
{
    const proto::string_list& keys = std::get_if<proto::retrieval>(&e.req)->keys;
    const std::size_t n = keys.size();
    if (is_error_line(r.type)) {
        if (n == 1) {
            finish_front(&r, error_for(r.type));
            return {};
        }
        // In a quiet batch the error is one key's, and the batch goes on to its MN. It names
        // no key: it is for one of the keys after the last one answered and before the next
        // one answered (the others of them missed, silently), and all of them fail with it
        // when that reply (or the MN) comes. Never a miss that may have been an error.
        if (e.batch_error == proto::reply_type::end) {
            e.batch_error = r.type;
            if (!e.completed())
                e.on_reply(0, r); // its text, for the message of a call that fails
        }
        return {};
    }
    if (r.type == proto::reply_type::noop) { // MN: the end of a quiet batch
        if (n == 1)
            return errc::protocol_error;
        if (e.hits == 0 && e.key_cursor == 0 && e.batch_error != proto::reply_type::end) {
            // Every key may be the one that failed: the request fails.
            finish_front(nullptr, error_for(e.batch_error));
            return {};
        }
        fail_unanswered_gets(e, n);
        finish_front(&end_reply, {});
        return {};
    }
    // VA (a hit) or EN (a miss, never in a quiet batch): for the line of key j, which the
    // opaque number says, and the key (when echoed) confirms.
    std::uint32_t j = 0;
    if (const auto ec = batch_key(e, r, n, j))
        return ec;
    if (e.batch_error != proto::reply_type::end) [[unlikely]]
        fail_unanswered_gets(e, j);
    if (r.meta.has(proto::meta_info::base64_key)) [[unlikely]]
        return deliver_base64_get(e, r, j);
    if (!r.key.empty() && !sent_key(keys[j], r.key))
        return errc::protocol_desync;
    proto::reply plain;
    return deliver_meta_hit(e, unprefixed(r, plain), j);
}

void multiplexer::fail_unanswered_gets(op_entry& e, std::size_t upto)
{
    if (e.batch_error == proto::reply_type::end)
        return;
    const std::error_code ec = error_for(e.batch_error);
    e.batch_error = proto::reply_type::end;
    for (std::size_t k = e.key_cursor; k < upto; ++k)
        if (!e.completed())
            e.on_key_error(k, ec);
    e.key_cursor = upto;
}

std::error_code multiplexer::deliver_base64_get(op_entry& e, const proto::reply& r, std::uint32_t j)
{
    // The echoed key is base64 (a binary key): decoded, it must be the key asked (after the
    // prefix), and the caller is given the key asked.
    const std::string& key = std::get_if<proto::retrieval>(&e.req)->keys[j];
    char decoded[proto::max_key_length];
    const auto n = proto::base64::decode(r.key, decoded, sizeof decoded);
    if (n < 0 || !sent_key(key, std::string_view(decoded, static_cast<std::size_t>(n))))
        return errc::protocol_desync;
    proto::reply plain = r;
    plain.key = key;
    return deliver_meta_hit(e, plain, j);
}

std::error_code multiplexer::deliver_meta_hit(op_entry& e, const proto::reply& r, std::uint32_t j)
{
    const std::size_t n = std::get_if<proto::retrieval>(&e.req)->keys.size();
    if (r.type == proto::reply_type::end) {
        if (n != 1)
            return errc::protocol_error;
        finish_front(&r, {});
        return {};
    }
    e.key_cursor = j + 1;
    give_value(e, j, r, n == 1);
    if (n == 1) // a single key's VA is its whole reply
        finish_front(&end_reply, {});
    return {};
}

void multiplexer::set_dialect(proto::dialect d)
{
    meta_ = d == proto::dialect::meta;
    merge_gets_ = meta_ ? 0 : merge_config_;
    screen_ = detecting_ && !meta_;
    const std::size_t n = waiting_.size();
    for (std::size_t i = 0; i < n; ++i) {
        auto e = std::move(waiting_.front());
        waiting_.pop_front();
        if (e->completed()) {
            e->state = entry_state::done;
            if (e.get() == barrier_)
                barrier_ = nullptr;
            if (e->leads) {
                if (entry_ptr next = successor(*e))
                    e = std::move(next); // screened and queued in its place
                else
                    continue;
            } else {
                continue;
            }
        }
        if (screen_) {
            if (const auto ec = proto::text_can_send(e->req)) {
                e->state = entry_state::done;
                e->finish(ec);
                if (e->leads) // (its followers have its key)
                    release_followers(*e, ec);
                continue;
            }
        }
        e->kind = meta_ ? proto::expected_meta_reply(e->req) : proto::expected_reply(e->req);
        waiting_.push_back(std::move(e));
    }
}

template <class List>
void multiplexer::fail_each(List& entries, std::error_code ec, std::error_code cause)
{
    for (auto& e : entries) {
        e->state = entry_state::done;
        if (!e->completed())
            e->cause = cause;
        e->finish(ec);
        if (e->leads) [[unlikely]] {
            end_flight(*e);
            e->leads = false;
            auto followers = std::move(e->followers);
            e->followers.clear();
            fail_each(followers, ec, cause);
        }
    }
}

void multiplexer::fail_written(std::error_code ec, std::error_code cause)
{
    if (barrier_) {
        // A barrier belongs to its session: one not yet written is not sent on the next.
        if (barrier_->state == entry_state::waiting && !waiting_.empty() &&
            waiting_.front().get() == barrier_) {
            waiting_.front()->state = entry_state::done;
            waiting_.pop_front();
        }
        barrier_ = nullptr;
    }
    auto written = written_.take();
    decoder_.reset();
    hold_ = 0;
    rbegin_ = rend_ = 0;
    wpieces_.clear();
    wfirst_ = 0;
    fail_each(written, ec, cause);
}

void multiplexer::fail_all(std::error_code ec, std::error_code cause)
{
    fail_written(ec, cause);
    auto waiting = waiting_.take();
    fail_each(waiting, ec, cause);
}

void multiplexer::drop_all() noexcept
{
    barrier_ = nullptr;
    flights_.clear();
    written_.clear();
    waiting_.clear();
    decoder_.reset();
    hold_ = 0;
    rbegin_ = rend_ = 0;
    wpieces_.clear();
    wfirst_ = 0;
}

clock::time_point multiplexer::expire(clock::time_point now, std::error_code ec)
{
    // Deadlines grow in queue order (written requests were queued before waiting ones), so
    // the scan stops at the first live request that has time left.
    auto next = clock::time_point::max();
    // A get's followers (singleflight) were queued after it: their deadlines are later.
    auto followers_next = clock::time_point::max();
    for (auto* q : {&written_, &waiting_}) {
        q->for_each([&](entry_ptr& e) {
            if (e->completed()) {
                if (!e->followers.empty()) [[unlikely]]
                    expire_followers(*e, now, ec, followers_next);
                return true;
            }
            if (e->deadline > now) {
                next = e->deadline;
                return false;
            }
            e->finish(ec);
            if (!e->followers.empty()) [[unlikely]]
                expire_followers(*e, now, ec, followers_next);
            return true;
        });
        if (next != clock::time_point::max())
            return std::min(next, followers_next);
    }
    return std::min(next, followers_next);
}

} // namespace memcoro::detail
