#pragma once
/// \file
/// The pending-request queue of one connection: staging writes and matching replies, in order.

#include <memcoro/detail/fifo.hpp>
#include <memcoro/detail/op_entry.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/meta.hpp>

#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace memcoro::detail {

/// A piece of the next write: command lines and small values (copied into the multiplexer's
/// staging buffer), or a large value (sent from its request, not copied).
struct write_piece {
    const char* data;
    std::size_t size;
};

class multiplexer {
public:
    /// Values up to this size are copied into the staging buffer with the command lines;
    /// larger ones are written from their requests. (Copying 100 bytes costs less than one
    /// more piece of a gathered write: Asio sends at most 64 pieces per system call.)
    static constexpr std::size_t inline_value_max = 1024;

    /// `merge_gets`: consecutive single-key get (or gets) requests staged together go out as
    /// one multi-key request, at most `merge_gets` keys each (0 or 1: never merged). Each
    /// caller still gets exactly its own key's outcome.
    /// `dialect`: how requests are written and replies read. On the meta dialect every line
    /// carries an opaque number that its reply must echo (else errc::protocol_desync), and
    /// gets are never merged (each is its own `mg`; several keys go out as a quiet batch).
    explicit multiplexer(proto::decoder_limits limits = {}, std::size_t merge_gets = 0,
                         proto::dialect dialect = proto::dialect::text)
        : decoder_(limits)
        , merge_config_(merge_gets)
        , merge_gets_(dialect == proto::dialect::meta ? 0 : merge_gets)
        , meta_(dialect == proto::dialect::meta)
    {
    }

    /// Queues a request (state waiting). With screen_text(true), once set_dialect has settled
    /// on text, a request the text dialect cannot send fails at once (see
    /// proto::text_can_send), never sent.
    void enqueue(entry_ptr e)
    {
        if (screen_) [[unlikely]] {
            if (const auto ec = proto::text_can_send(e->req)) {
                e->state = entry_state::done;
                e->finish(ec);
                return;
            }
        }
        e->state = entry_state::waiting;
        if (singleflight_ && follow(e)) [[unlikely]]
            return;
        e->kind = meta_ ? proto::expected_meta_reply(e->req) : proto::expected_reply(e->req);
        waiting_.push_back(std::move(e));
    }

    /// Singleflight for plain single-key gets (no CAS, no touch, nothing only meta asks): a
    /// get of a key that a queued or written get already asks is not queued; it follows that
    /// one (the leader), which is answered for both: the same value, miss or error. A
    /// follower's own deadline and cancellation end it alone; the leader's cancellation or
    /// timeout does not end its followers, which still take its reply when it comes (or, if
    /// it was never sent, the first of them is sent in its place). A leader lost with its
    /// connection takes its followers with it.
    void set_singleflight(bool on) noexcept { singleflight_ = on; }

    /// Queues a request ahead of every waiting one, as a barrier: nothing queued behind it is
    /// written until its reply has been read (a session's first exchange, such as the
    /// dialect probe). One at a time.
    void enqueue_barrier(entry_ptr e)
    {
        e->state = entry_state::waiting;
        e->kind = meta_ ? proto::expected_meta_reply(e->req) : proto::expected_reply(e->req);
        barrier_ = e.get();
        waiting_.push_front(std::move(e));
    }

    /// The dialect spoken from now on. Only between sessions or while nothing is on the wire:
    /// the waiting requests are written in it. With screen_text(true), settling on text fails
    /// the waiting requests it cannot send (errc::not_supported, errc::invalid_key).
    void set_dialect(proto::dialect d);
    /// The dialect is being asked again: requests queued until set_dialect are screened then.
    void unsettle() noexcept { screen_ = false; }
    proto::dialect dialect() const noexcept
    {
        return meta_ ? proto::dialect::meta : proto::dialect::text;
    }
    /// Whether requests the text dialect cannot send are refused here (the dialect is chosen
    /// per server, after the client has checked them for the meta dialect).
    void screen_text(bool on) noexcept
    {
        detecting_ = on;
        screen_ = false;
    }

    /// The key prefix (the client's namespace, proto::valid_key_prefix) sent before every key
    /// from now on. A reply naming a key must then name it with the prefix (else
    /// errc::protocol_desync), and its sink is given the key without it. Empty: none.
    void set_key_prefix(std::string prefix) { prefix_ = std::move(prefix); }
    const std::string& key_prefix() const noexcept { return prefix_; }

    /// Are there requests waiting to be written?
    bool has_waiting() const noexcept { return !waiting_.empty(); }
    /// Are there requests on the wire whose replies are owed?
    bool has_written() const noexcept { return !written_.empty(); }
    bool empty() const noexcept { return waiting_.empty() && written_.empty(); }
    std::size_t waiting_count() const noexcept { return waiting_.size(); }
    std::size_t written_count() const noexcept { return written_.size(); }

    /// Moves waiting requests to written, appending the pieces to send to `out`, until about
    /// `max_bytes` are staged (at least one request). Requests already completed (timed out or
    /// cancelled before being sent) are dropped, never sent. Returns the number staged. The
    /// pieces stay valid until the next call (command lines are encoded into a buffer the
    /// multiplexer reuses).
    std::size_t stage(std::vector<write_piece>& out, std::size_t max_bytes);

    /// Parses replies from `in` and completes requests in order. Returns the bytes consumed;
    /// `ec` is set on a protocol error or desync (the connection must then be reset).
    std::size_t feed(std::string_view in, std::error_code& ec);
    /// The same, but the answered requests are only settled (op_entry::settle) and appended
    /// to `answered`, in order: the caller completes them once it is safe to run handlers.
    /// `now` (when the bytes were read) becomes their op_entry::finished.
    std::size_t feed(std::string_view in, std::error_code& ec, std::vector<entry_ptr>& answered,
                     clock::time_point now = {});

    // The byte buffers of a stream transport, in the manner of prepare/commit: the connection
    // asks where to read and what to write, moves the bytes, and says how many moved.

    /// The rest of the write in progress; when none is, the waiting requests are staged first
    /// (up to about `max_bytes`, see stage). Empty: nothing to send. Valid until the next
    /// commit_write, stage or fail_written.
    std::span<const write_piece> prepare_write(std::size_t max_bytes)
    {
        if (!write_in_progress()) {
            wpieces_.clear();
            wfirst_ = 0;
            if (waiting_.empty())
                return {};
            stage(wpieces_, max_bytes);
        }
        return std::span<const write_piece>(wpieces_).subspan(wfirst_);
    }
    /// `n` bytes of prepare_write()'s pieces were sent. True when the write is complete.
    bool commit_write(std::size_t n) noexcept;
    /// A staged write is not yet fully sent.
    bool write_in_progress() const noexcept { return wfirst_ < wpieces_.size(); }

    /// Where the next bytes read go: the unparsed bytes are moved to the front first, and the
    /// buffer grows only as far as the reply being parsed has announced (see pending_size,
    /// bounded by the decoder's limits). Valid until the next call or commit_read.
    std::span<char> prepare_read()
    {
        // Usually every byte read has been parsed and the buffer has its usual size.
        if (rbegin_ == rend_ && rbuf_.size() == initial_read_buffer &&
            pending_size() <= initial_read_buffer) {
            rbegin_ = rend_ = 0;
            return {rbuf_.data(), rbuf_.size()};
        }
        return prepare_read_slow();
    }
    /// `n` bytes were read into prepare_read()'s span at `now`: parses them as feed() does,
    /// settling the answered requests into `answered`. `ec`: a protocol error or desync.
    void commit_read(std::size_t n, std::error_code& ec, std::vector<entry_ptr>& answered,
                     clock::time_point now);
    /// Bytes read and not yet parsed (part of a reply).
    std::size_t unparsed() const noexcept { return rend_ - rbegin_; }
    /// The read buffer's size (it grows for a large reply, and shrinks back once it is parsed).
    std::size_t read_capacity() const noexcept { return rbuf_.size(); }

    /// The read buffer's usual size; it grows past it for a large reply only.
    static constexpr std::size_t initial_read_buffer = 64 * 1024;

    /// Bytes the reply being parsed needs in all, when known (see decoder::pending_size; a
    /// single key's VALUE is held until its END is read too).
    std::size_t pending_size() const noexcept
    {
        return decoder_.pending_size() > hold_ ? decoder_.pending_size() : hold_;
    }

    /// The connection is gone: requests on the wire fail with `ec` (their replies will never
    /// come); waiting ones stay queued for the next connection. Resets the decoder, drops the
    /// unparsed bytes and the unsent rest of the write in progress.
    /// `cause`: the system error underneath, if any (see op_entry::cause).
    void fail_written(std::error_code ec, std::error_code cause = {});
    /// Fails every request, written or waiting.
    void fail_all(std::error_code ec, std::error_code cause = {});
    /// Drops every request without completing it (the execution context is going away).
    void drop_all() noexcept;

    /// Completes with `ec` every request whose deadline is at or before `now`. Returns the
    /// earliest deadline still pending (time_point::max() when none).
    clock::time_point expire(clock::time_point now, std::error_code ec);

    /// The oldest request on the wire, or nullptr.
    const op_entry* oldest_written() const noexcept
    {
        return written_.empty() ? nullptr : written_.front().get();
    }

private:
    std::span<char> prepare_read_slow();
    // deliver and answer are inline (defined in multiplexer.cpp only, where they are used):
    // feed() runs them for every reply, without a call.

    /// `whole`: a single key's VALUE whose END is next in the input.
    inline std::error_code deliver(const proto::reply& r, bool whole = false);
    std::error_code deliver_merged(const proto::reply& r);
    /// A meta get's reply (VA, EN, MN or an error line).
    std::error_code deliver_meta_get(op_entry& e, const proto::reply& r);
    /// A meta get's VA or EN for its key `j`, the key checked.
    std::error_code deliver_meta_hit(op_entry& e, const proto::reply& r, std::uint32_t j);
    /// A meta get's VA for a reply whose key came back base64-encoded (a binary key).
    std::error_code deliver_base64_get(op_entry& e, const proto::reply& r, std::uint32_t j);
    /// A reply in a quiet batch of writes (ms/md ... q per key, then mn): a failure for the key
    /// its opaque number names, an error line, or the MN.
    std::error_code deliver_quiet_write(op_entry& e, const proto::reply& r);
    /// The keys of a quiet batch of writes from e.key_cursor up to `upto` sent nothing back:
    /// each succeeded, unless an error line came meanwhile (see deliver_quiet_write).
    void settle_silent_keys(op_entry& e, std::size_t upto);
    /// A quiet multi-get's keys from the cursor to `upto` fail with its pending error line.
    void fail_unanswered_gets(op_entry& e, std::size_t upto);
    /// Completes the oldest request with its last reply `r` (nullptr: its sink has already
    /// been told).
    void finish_front(const proto::reply* r, std::error_code ec);
    /// Fails the entries of a list taken from a queue (and their followers).
    template <class List>
    void fail_each(List& entries, std::error_code ec, std::error_code cause);
    /// Singleflight: makes `e` follow the leader of its key, or lead it. True: it follows.
    bool follow(entry_ptr& e);
    /// A VALUE for key `j` of `e` (and for its followers).
    inline void give_value(op_entry& e, std::size_t j, const proto::reply& r, bool whole);
    /// A leader is answered with `ec`: so are its followers.
    void release_followers(op_entry& leader, std::error_code ec);
    /// A leader dropped unsent (completed while waiting): its first live follower, made the
    /// leader of the others, to be sent in its place; or nullptr.
    entry_ptr successor(op_entry& leader);
    /// Ends the lead of `leader` in flights_.
    void end_flight(const op_entry& leader) noexcept;
    /// Expires followers of `e` due at `now`; the earliest deadline of those left in `next`.
    void expire_followers(op_entry& e, clock::time_point now, std::error_code ec,
                          clock::time_point& next);
    /// A request's reply is complete: settle it and complete it now or hand it to answered_.
    inline void answer(entry_ptr e, std::error_code ec);
    /// How many waiting entries from the front can go out merged with the first; their keys
    /// are left in merged_keys_.
    std::size_t mergeable();
    /// Is `got`, a key a reply names, the request key `key` as it was sent (after the prefix)?
    inline bool sent_key(const std::string& key, std::string_view got) const noexcept;
    /// `r` with its key as the caller knows it: without the prefix (copied into `scratch`
    /// only when there is one).
    inline const proto::reply& unprefixed(const proto::reply& r,
                                          proto::reply& scratch) const noexcept;

    proto::decoder decoder_;
    std::size_t merge_config_; // merge_gets as configured (the text dialect's)
    std::size_t merge_gets_;
    bool meta_;
    bool detecting_ = false; // screen_text(true)
    bool screen_ = false;    // settled on text while detecting: refuse at enqueue
    bool singleflight_ = false;
    std::string prefix_; // the key prefix sent before every key (see set_key_prefix)
    /// Singleflight: the leader of each key asked (its own key's bytes).
    std::unordered_map<std::string_view, op_entry*> flights_;
    /// The barrier request (enqueue_barrier) until its reply has been read.
    const op_entry* barrier_ = nullptr;
    std::uint32_t next_opaque_ = 1; // the next request line's (meta)
    std::size_t hold_ = 0;          // a VALUE held until its END: its bytes and the END's
    /// Command lines staged by the last stage() call.
    std::string lines_;
    std::vector<std::size_t> offsets_;            // of the staged pieces in lines_
    std::vector<entry_ptr> group_done_;           // scratch of deliver_merged
    std::vector<const std::string*> merged_keys_; // scratch of mergeable
    std::vector<entry_ptr>* answered_ = nullptr;
    std::vector<write_piece> wpieces_; // the write in progress
    std::size_t wfirst_ = 0;           // its first piece not fully sent
    std::vector<char> rbuf_;
    std::size_t rbegin_ = 0, rend_ = 0; // the unparsed bytes of rbuf_
    clock::time_point now_{};
    fifo<entry_ptr> waiting_;
    fifo<entry_ptr> written_;
};

} // namespace memcoro::detail
