#pragma once
/// \file
/// One connection's state machine, without I/O: the session's phases, the writer's and the
/// reader's steps, and the stall policy. The Asio shell (detail/connection.hpp) carries out
/// what it decides over a transport; here every step is a plain call, so each one is
/// unit-tested with bytes and times chosen by the test.

#include <memcoro/detail/multiplexer.hpp>
#include <memcoro/proto/decoder.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace memcoro::detail {

/// What one connection needs to know: nothing of the client, the cluster or the other servers.
struct connection_options {
    proto::decoder_limits limits{};
    /// Consecutive single-key gets merged into one request, at most this many keys (0: never).
    std::size_t merge_gets = 0;
    /// Gets of a key already asked share that request (see multiplexer::set_singleflight).
    bool singleflight_gets = false;
    /// About this many bytes are staged per write.
    std::size_t max_write_bytes = 256 * 1024;
    std::chrono::milliseconds connect_timeout{1000};
    /// The deadline of the requests sent on the connection (0: none).
    std::chrono::milliseconds op_timeout{0};
    /// A server that may sit on requests it has already read until more bytes arrive
    /// (memcached 1.6's TLS does, with pipelined requests: the rest of a TLS record waits in
    /// its OpenSSL buffer while it waits on the socket): after this long with replies awaited
    /// and not a byte read since the last write, a `version` request goes out to wake it (see
    /// nudge_due for the ones after it; 0: never).
    std::chrono::milliseconds nudge_after{0};
    /// The protocol spoken (see proto::dialect); with detect_dialect, the one spoken until
    /// the server has said which it speaks.
    proto::dialect dialect = proto::dialect::text;
    /// Ask the server at the start of every session (`version`, before anything else is
    /// written) and speak meta when it is a memcached that speaks it (proto::speaks_meta) and
    /// a meta get of dialect_probe_key is answered, else text. Requests that only meta can
    /// send then fail on a text server with errc::not_supported (binary keys:
    /// errc::invalid_key), unsent.
    bool detect_dialect = false;
    /// Sent before every key; replies must name keys with it (multiplexer::set_key_prefix).
    std::string key_prefix{};
};

/// The key of the meta get that confirms a version that says meta (it is only read).
inline constexpr std::string_view dialect_probe_key = "memcoro:dialect-probe";

/// The stall policy. A server that has stopped answering is dropped: the oldest request on the
/// wire has timed out and no reply has been completed for a whole timeout more. Bytes alone do
/// not count: a reply that trickles in forever is as dead as silence.
struct stall_verdict {
    bool stalled = false;
    /// When to look again if not stalled.
    clock::time_point recheck_at = clock::time_point::max();
};
stall_verdict stall_policy(clock::time_point oldest_deadline, clock::time_point last_progress,
                           clock::time_point now, std::chrono::milliseconds timeout) noexcept;

class connection_core {
public:
    /// idle: no session (none needed yet, or the last one ended); connecting; connected: the
    /// reader and the writer run; closed: for good.
    enum class phase : std::uint8_t { idle, connecting, connected, closed };

    explicit connection_core(const connection_options& o)
        : opts_(o)
        , mux_(o.limits, o.merge_gets, o.dialect)
    {
        mux_.screen_text(o.detect_dialect);
        mux_.set_singleflight(o.singleflight_gets);
        mux_.set_key_prefix(o.key_prefix);
    }
    connection_core(const connection_core&) = delete;
    connection_core& operator=(const connection_core&) = delete;

    const connection_options& options() const noexcept { return opts_; }
    void set_op_timeout(std::chrono::milliseconds t) noexcept { opts_.op_timeout = t; }
    phase state() const noexcept { return phase_; }
    bool connected() const noexcept { return phase_ == phase::connected; }
    bool closed() const noexcept { return phase_ == phase::closed; }
    /// Counts sessions: the transport's completions for an older one are ignored.
    std::uint64_t session() const noexcept { return session_; }
    /// Sessions made so far (reconnects included).
    std::uint64_t connects() const noexcept { return session_; }
    /// Requests queued or on the wire.
    std::size_t pending() const noexcept { return mux_.waiting_count() + mux_.written_count(); }
    const multiplexer& mux() const noexcept { return mux_; }
    /// The dialect spoken now (with detect_dialect: the last session's answer).
    proto::dialect dialect() const noexcept { return mux_.dialect(); }
    /// The server's version as its last dialect probe read it (empty: none read yet, or it
    /// answered with an error).
    const std::string& server_version() const noexcept { return server_version_; }
    /// The session is still asking the server which dialect it speaks.
    bool probing() const noexcept { return probing_; }
    /// True once after each answer of a dialect probe (for the shell to report it).
    bool take_dialect_news() noexcept { return std::exchange(dialect_news_, false); }

    // Requests.

    /// Queues a request at `now`; returns its deadline (now + op_timeout, or time_point::max()
    /// when there is no timeout). Not after close().
    clock::time_point submit(entry_ptr e, clock::time_point now)
    {
        // (A get that went over UDP first keeps its start and deadline.)
        if (e->started == clock::time_point{}) {
            e->started = now;
            if (opts_.op_timeout.count() > 0)
                e->deadline = now + opts_.op_timeout;
        }
        const auto deadline = e->deadline;
        mux_.enqueue(std::move(e));
        return deadline;
    }
    /// Any request waiting or on the wire?
    bool has_work() const noexcept { return !mux_.empty(); }

    // The session.

    void begin_connect() noexcept { phase_ = phase::connecting; }
    /// The connect failed: every queued request fails with `ec` (`cause`: the system error).
    void connect_failed(std::error_code ec, std::error_code cause);
    /// Connected at `now`: a new session with empty buffers. With detect_dialect, its first
    /// write is the dialect probe, and nothing else is written before its reply (which must
    /// come within connect_timeout, else the session ends as stalled).
    void session_started(clock::time_point now);
    /// The session ends (a transport error, a protocol error, a stall). False when there was
    /// none. Its requests on the wire fail in fail_session(), once the shell is outside the
    /// handler that ended it.
    bool end_session(std::error_code why) noexcept;
    /// What the requests on the wire of the session that ended fail with: a protocol error as
    /// such; a transport's error (reset, end of file...) as the cause of a lost connection.
    /// `requests_lost`: some were on the wire (an idle connection closed by the server cost
    /// nobody anything).
    struct session_end {
        std::error_code error;
        std::error_code cause;
        bool requests_lost = false;
    };
    session_end ended_session() const noexcept;
    /// They fail now (their replies will never come); queued ones go out on the next session,
    /// unless the session ended before the dialect probe was answered: the server took the
    /// connection but never spoke (a TLS server reading plaintext resets it), and the queued
    /// requests fail too, with errc::connection_failed, rather than wait on reconnects until
    /// their own deadlines.
    void fail_session(const session_end& end);
    /// Fails every request with `ec` and stops for good.
    void close(std::error_code ec);
    /// Drops every request unanswered (the execution context is going away).
    void drop_all() noexcept;

    // The writer.

    /// The bytes to send now: the rest of the write in progress, or the waiting requests staged.
    /// Empty when there is nothing to send or the writer may not send: no session, waiting on
    /// the transport, or held (see hold_writes).
    std::span<const write_piece> next_write()
    {
        if (phase_ != phase::connected || write_blocked_ || held_)
            return {};
        return mux_.prepare_write(opts_.max_write_bytes);
    }
    /// The transport took `n` bytes.
    void wrote(std::size_t n) noexcept { mux_.commit_write(n); }
    /// The transport could not take more: the writer waits for it (next_write gives nothing).
    void write_blocked() noexcept { write_blocked_ = true; }
    /// The transport may take more again.
    void write_unblocked() noexcept { write_blocked_ = false; }
    bool write_is_blocked() const noexcept { return write_blocked_; }
    /// Held writes wait until released (replies are being handed out: the requests their
    /// callers make then go out together).
    void hold_writes(bool held) noexcept { held_ = held; }
    bool writes_held() const noexcept { return held_; }
    /// Requests wait to be written, and the writer could write them now.
    bool can_write() const noexcept
    {
        return phase_ == phase::connected && !write_blocked_ && !held_ &&
               (mux_.has_waiting() || mux_.write_in_progress());
    }
    /// Requests are on the wire: their replies will come with the reader's next batch.
    bool awaiting_replies() const noexcept { return mux_.has_written(); }

    // The reader.

    /// Where the next bytes read go.
    std::span<char> read_buffer() { return mux_.prepare_read(); }
    /// `n` bytes were read at `now`: the replies they complete are settled into `answered`, in
    /// order. A protocol error or desync is returned (the session must end).
    std::error_code read(std::size_t n, clock::time_point now, std::vector<entry_ptr>& answered)
    {
        std::error_code ec;
        const std::size_t before = answered.size();
        if (n > 0)
            last_input_ = now;
        mux_.commit_read(n, ec, answered, now);
        if (answered.size() > before)
            last_progress_ = now; // a reply was completed (bytes alone are not progress)
        return ec;
    }

    // The watchdog.

    /// Fails with errc::timeout every request whose deadline has passed and applies the stall
    /// policy. Returns when to look again (time_point::max(): nothing to watch); `stalled`: the
    /// session must end.
    clock::time_point watch(clock::time_point now, bool& stalled);

    // Waking a server that sits on what it has read (connection_options::nudge_after).

    /// Bytes were written at `now` (the shell says so only when nudge_after is set).
    void note_written(clock::time_point now) noexcept { last_write_ = now; }
    /// Is a nudge due at `now`? When not, `next` is lowered to when one would be. While a nudge
    /// is unanswered and nothing has been read since, the next waits twice as long as the one
    /// before it; at most 8 are unanswered.
    bool nudge_due(clock::time_point now, clock::time_point& next) const noexcept;
    /// Queues the nudge (the shell writes it at once: a connection with replies awaited
    /// otherwise holds new requests until a reply comes).
    void nudge(clock::time_point now);
    /// Nudges sent so far.
    std::uint64_t nudges() const noexcept { return nudges_; }

private:
    class dialect_probe;
    void start_probe(proto::request r, bool confirming);
    void probe_answered(const op_entry& e);
    void settle(proto::dialect d);

    connection_options opts_;
    multiplexer mux_;
    entry_ptr probe_;           // this session's dialect probe
    bool probing_ = false;      // its reply is awaited
    bool skip_probe_ = false;   // the last probe was answered by a hang-up: text, unasked
    bool dialect_news_ = false; // see take_dialect_news
    clock::time_point probe_deadline_{};
    std::string server_version_;
    std::string no_meta_version_; // a version whose meta get was refused (a hang-up, an error)
    phase phase_ = phase::idle;
    bool write_blocked_ = false;
    bool held_ = false;
    std::uint64_t session_ = 0;
    std::error_code end_reason_;
    clock::time_point last_progress_{}; // when a reply was last completed
    clock::time_point last_input_{};    // when bytes were last read
    clock::time_point last_write_{};    // when bytes were last written (with nudge_after)
    entry_ptr nudge_;                   // the last nudge, while it is awaited
    clock::time_point last_nudge_{};    // when it was queued
    std::size_t unanswered_nudges_ = 0; // nudges since the last answered one
    static constexpr std::size_t max_unanswered_nudges = 8;
    std::uint64_t nudges_ = 0;
};

} // namespace memcoro::detail
