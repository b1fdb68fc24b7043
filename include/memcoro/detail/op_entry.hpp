#pragma once
/// \file
/// One request's life inside a connection: request, reply accumulated so far, completion.
/// No Asio here: completion is a virtual hook, so the queue logic is testable on its own.

#include <memcoro/detail/pool.hpp>
#include <memcoro/proto/reply.hpp>
#include <memcoro/proto/request.hpp>
#include <memcoro/types.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace memcoro::detail {

using clock = std::chrono::steady_clock;

/// The reply of one request, accumulated from the replies read (op_entry's default sink).
struct response {
    proto::reply_type status = proto::reply_type::end; ///< the terminal line
    std::uint64_t number = 0;                          ///< incr/decr result
    std::string text;                                  ///< VERSION text or the error message
    std::vector<item> items;                           ///< retrieval hits, in order
    /// Single-key retrieval: the hit, when `found`.
    item single;
    bool found = false;
    /// Single-key meta get: what the reply's flags said of the item.
    proto::meta_info meta;
    stats_result stats; ///< STAT lines
    /// For each of `items`, the index of its key in the request.
    index_list item_index;
    /// Multi-key retrieval of one request: the indexes of the keys the server answered with
    /// an error (rising), each with its error in `key_errors`.
    index_list failed_at;
    /// Multi-key retrievals split over servers (gathered): per key of the request, in order,
    /// its outcome (a hit's index in `items`, a miss's in `missed`, an error's in
    /// `key_errors`); the indexes of the keys that missed, and the errors of the keys whose
    /// server failed or is down, in request order.
    slot_list key_slots;
    index_list missed;
    error_list key_errors;
    /// Multi-key storage/delete: per key, its reply and error, in request order.
    struct keyed_outcome {
        std::string key;
        proto::reply_type status = proto::reply_type::end;
        std::error_code ec;
    };
    std::vector<keyed_outcome> outcomes;
    /// Requests to every server: per server, its name, error and stats.
    std::vector<std::tuple<std::string, std::error_code, stats_result>> per_server;
};

/// Where a call goes (the router's business; the connection never reads it).
enum class scope : std::uint8_t {
    key,          ///< the server of its one key
    keys,         ///< each key to its server, the results gathered
    first_server, ///< the first server
    every_server, ///< every server, one result each
};

/// The error a terminal reply stands for (an error line), or success.
std::error_code error_for(proto::reply_type t) noexcept;

class op_entry;

/// Told of every finished request, before its caller is: the server's health and counters.
class entry_observer {
public:
    virtual void on_finished(const op_entry& e) noexcept = 0;
    /// A connection to the server was established.
    virtual void on_connected() noexcept {}
    /// A connection failed (could not be made, or broke with requests on it): one failure of
    /// the server, however many requests it took down with it.
    virtual void on_connection_failed(std::error_code, std::error_code /*cause*/) noexcept {}
    /// A connection that asks its server's dialect has its answer: `meta` or text.
    virtual void on_dialect(bool /*meta*/) noexcept {}

protected:
    ~entry_observer() = default;
};

/// States: waiting (queued) -> written (on the wire) -> done. An entry completed early
/// (timeout, cancellation) after it was written stays queued, `abandoned`, until its reply
/// has been read and discarded, so later replies stay matched to their requests.
enum class entry_state : std::uint8_t { waiting, written, done };

class op_entry : public std::enable_shared_from_this<op_entry> {
public:
    explicit op_entry(request_ptr r, detail::scope where = scope::key)
        : box_(std::move(r))
        , req(*box_)
        , route(where)
    {
    }
    explicit op_entry(proto::request r, detail::scope where = scope::key)
        : op_entry(boxed(std::move(r)), where)
    {
    }
    op_entry(const op_entry&) = delete;
    op_entry& operator=(const op_entry&) = delete;
    virtual ~op_entry() = default;

private:
    request_ptr box_;
    static request_ptr boxed(proto::request&& r)
    {
        auto b = make_request(r.index());
        *b = std::move(r);
        return b;
    }

public:
    proto::request& req;
    detail::scope route;
    entry_state state = entry_state::waiting;
    clock::time_point deadline = clock::time_point::max();
    // ---- the multiplexer's bookkeeping while the reply is read -----------------------------
    proto::reply_kind kind = proto::reply_kind::ok; ///< set when queued
    std::size_t key_cursor = 0; ///< retrieval: next request key a VALUE may match
    std::size_t replies = 0;    ///< terminal replies read so far
    std::size_t hits = 0;       ///< retrieval: VALUEs read
    /// Single-key gets merged into one request on the wire: the first entry of the group
    /// holds the group's size, the others 0 (see multiplexer::stage).
    std::uint32_t group = 1;
    /// Stats: bytes of STAT lines received so far (bounded by decoder_limits).
    std::size_t stats_bytes = 0;
    /// Meta dialect: the opaque number of the request's first line (its key j's is
    /// opaque + j), and the first error line of a quiet batch (end: none), reported at its MN.
    std::uint32_t opaque = 0;
    proto::reply_type batch_error = proto::reply_type::end;
    /// Singleflight (multiplexer::set_singleflight): this get leads the gets of its key that
    /// follow it, which share its request and are answered with it.
    bool leads = false;
    std::vector<std::shared_ptr<op_entry>> followers;
    // -----------------------------------------------------------------------------------------
    response resp;
    std::error_code ec;
    /// The system error underneath a connection-level `ec` (refused, reset, ...), if any.
    std::error_code cause;
    /// The server that handled (or refused) the request, for error messages.
    const std::string* server = nullptr;
    /// Told when the request finishes; set by the connection it was sent on.
    entry_observer* observer = nullptr;
    clock::time_point started{};
    /// When its reply was read (set by the reader, once per batch of replies); unset for
    /// requests finished otherwise.
    clock::time_point finished{};

    // ---- the sink: where the reply goes, as it is read --------------------------------------
    // Called by the multiplexer, in order, only while the entry is not completed. Views in
    // the reply are valid during the call only. The defaults accumulate into `resp`.

    /// A VALUE, for the request's key `key_index`. `whole`: the reply's END was read with it
    /// and is delivered right after this call (a request of one key alone on the wire), so
    /// the request is sure to succeed: the value may go where the caller sees it at once.
    virtual void on_value(std::size_t key_index, const proto::reply& r, bool whole);
    /// A STAT line.
    virtual void on_stat(const proto::reply& r);
    /// Terminal reply number `index` (one per key for storage and delete, else only 0).
    virtual void on_reply(std::size_t index, const proto::reply& r);
    /// A multi-key retrieval's key `key_index` failed with `ec` (an error line in a quiet
    /// batch); its other keys go on. Called in rising key order.
    virtual void on_key_error(std::size_t key_index, std::error_code ec);

    /// Does the result go into the caller's own memory (an `_into` call)? Then hits must be
    /// kept aside until the call succeeds.
    virtual bool writes_into_caller() const noexcept { return false; }

    /// True once the caller has been answered (normally, by timeout or by cancellation).
    bool completed() const noexcept { return completed_; }
    /// Answered early while its reply is still owed by the server.
    bool abandoned() const noexcept { return completed_ && state == entry_state::written; }

    /// Answers the caller once; later calls do nothing. The caller's handler is posted.
    void finish(std::error_code e)
    {
        if (settle(e))
            on_complete(false);
    }

    /// First half of finish(): records the outcome (the entry is completed from now on) and
    /// tells the observer. Returns false if it was already completed. The caller must then
    /// call complete().
    bool settle(std::error_code e)
    {
        if (completed_)
            return false;
        completed_ = true;
        ec = e;
        if (observer)
            observer->on_finished(*this);
        return true;
    }

    /// Second half of finish(): hands the outcome to the caller. `may_run_inline`: the
    /// caller's handler may run before this returns (when its executor allows), which only a
    /// reader with nothing of its own left in flight may ask for.
    void complete(bool may_run_inline) { on_complete(may_run_inline); }

protected:
    /// Hands the outcome to the caller. Runs on the connection's executor.
    virtual void on_complete(bool may_run_inline) = 0;

private:
    bool completed_ = false;
};

/// Writes a VALUE reply into an item, reusing its strings' capacity.
void assign_hit(item& it, const proto::reply& r);

using entry_ptr = std::shared_ptr<op_entry>;

} // namespace memcoro::detail
