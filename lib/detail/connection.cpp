#include <memcoro/detail/connection.hpp>
#include <memcoro/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>

namespace memcoro::detail {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
/// In a batch of replies, the requests started by the callers answered so far are written
/// after every quarter of the batch, but not more often than every `min_flush_every`
/// completions (see complete_answered).
constexpr std::size_t min_flush_every = 2;

} // namespace

connection::connection(asio::any_io_executor ex, server_address addr,
                       const connection_options& opts, std::shared_ptr<entry_observer> observer,
                       std::unique_ptr<transport> t)
    : ex_(std::move(ex))
    , addr_(std::move(addr))
    , name_(addr_.to_string())
    , observer_(std::move(observer))
    , core_(opts)
    , transport_(t ? std::move(t) : make_socket_transport(ex_))
    , wake_run_(ex_, clock::time_point::max())
    , session_end_(ex_, clock::time_point::max())
    , watchdog_timer_(ex_, clock::time_point::max())
{
}

connection::~connection() = default;

void connection::submit(entry_ptr e)
{
    e->server = &name_;
    e->observer = observer_.get();
    if (core_.closed()) {
        e->finish(asio::error::operation_aborted);
        return;
    }
    const auto deadline = core_.submit(std::move(e), clock::now());
    if (!running_) {
        running_ = true;
        asio::co_spawn(
            ex_, [self = shared_from_this()] { return self->run(); }, asio::detached);
    }
    if (!watching_ &&
        (core_.options().op_timeout.count() > 0 || core_.options().nudge_after.count() > 0)) {
        watching_ = true;
        asio::co_spawn(
            ex_, [self = shared_from_this()] { return self->watchdog(); }, asio::detached);
    } else if (deadline < watchdog_timer_.expiry()) {
        watchdog_timer_.cancel();
    }
    // Wake only who is asleep: a cancel costs a trip through the reactor.
    if (run_idle_)
        wake_run_.cancel();
    // A caller resumed by this connection's reader (writes held) is written at the end of the
    // batch; any other is written once the current handler is done.
    if (!core_.writes_held())
        schedule_flush();
}

void connection::close(std::error_code ec)
{
    end_session(asio::error::operation_aborted);
    core_.close(ec);
    transport_->close();
    wake_run_.cancel();
    watchdog_timer_.cancel();
}

void connection::drop_all() noexcept
{
    core_.drop_all();
}

asio::awaitable<void> connection::run()
{
    auto self = shared_from_this();
    while (!core_.closed()) {
        if (!core_.has_work()) {
            wake_run_.expires_at(clock::time_point::max());
            run_idle_ = true;
            co_await wake_run_.async_wait(use_tuple);
            run_idle_ = false;
            continue;
        }
        core_.begin_connect();
        std::error_code cause;
        const auto ec = co_await transport_->connect(
            addr_, clock::now() + core_.options().connect_timeout, cause);
        if (core_.closed())
            break;
        if (ec) {
            // Every queued request fails now; the server's state (failure count, retry
            // interval) decides when the next one may try again.
            if (observer_)
                observer_->on_connection_failed(ec, cause);
            core_.connect_failed(ec, cause);
            continue;
        }
        core_.session_started(clock::now());
        if (observer_) {
            observer_->on_connected();
            if (core_.take_dialect_news()) // (text, unasked: see connection_core)
                observer_->on_dialect(false);
        }
        flush_posted_ = false;
        session_end_.expires_at(clock::time_point::max());
        read();
        write(); // what was queued while connecting
        while (core_.connected())
            co_await session_end_.async_wait(use_tuple);
        if (core_.closed())
            break;
        const auto end = core_.ended_session();
        if (observer_ && end.requests_lost)
            observer_->on_connection_failed(end.error, end.cause);
        core_.fail_session(end);
    }
    running_ = false;
}

void connection::end_session(std::error_code why)
{
    if (!core_.end_session(why))
        return;
    transport_->close();
    session_end_.cancel();
}

/// A posted flush: pool memory, and the session it belongs to.
struct connection::flush_handler {
    std::shared_ptr<connection> self;
    std::uint64_t session;

    using allocator_type = pool_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }

    void operator()() { self->on_flush(session); }
};

/// Posts a flush. Through an io_context's own executor type the handler's memory comes from
/// its allocator (the pool); an any_io_executor drops that preference and wraps the handler
/// in a function object from Asio's per-thread cache, which holds two: with more connections
/// flushing at once, the rest were allocated.
void connection::post_flush(const asio::any_io_executor& ex, flush_handler&& h)
{
    if (const auto* io = held_executor<asio::io_context::executor_type>(ex))
        asio::post(*io, std::move(h));
    else
        asio::post(ex, std::move(h));
}

namespace {
/// The connection whose reader is handing out a batch of replies on this thread, if any:
/// requests that its callers queue on idle connections of the same executor are written when
/// the batch ends, all of a connection's at once, without a trip through the scheduler.
#if defined(__GNUC__)
// As the request pool's: a plain load from the thread pointer (see detail/pool.cpp).
__attribute__((tls_model("initial-exec")))
#endif
thread_local connection* batch_reader = nullptr;
} // namespace

void connection::schedule_flush()
{
    if (flush_posted_ || core_.write_is_blocked() || !core_.connected())
        return; // (a new session writes what is queued as soon as it is connected)
    // A connection with requests on the wire writes what is queued when it reads its next
    // replies (at the end of on_read): its server is still busy with what it has, and the
    // requests go out together, in fewer writes for both sides (see docs/performance.md). Its
    // reader is always waiting for those replies, or the watchdog ends the session (and the
    // next one writes what is queued).
    if (core_.awaiting_replies())
        return;
    flush_posted_ = true;
    // One with nothing on the wire has an idle server: its requests go out when the current
    // batch of replies ends, or else by a posted flush once the current handler is done.
    if (connection* r = batch_reader; r && r->ex_ == ex_) {
        r->batch_flush_.emplace_back(shared_from_this(), core_.session());
        return;
    }
    post_flush(ex_, flush_handler{shared_from_this(), core_.session()});
}

void connection::complete_batch()
{
    {
        // complete_answered() does not throw for a handler (op::deliver reposts its
        // exception); this covers anything else, such as an allocation failure.
        struct restore {
            connection& self;
            connection* outer;
            ~restore()
            {
                batch_reader = outer;
                if (std::uncaught_exceptions() > 0) {
                    for (auto& [c, session] : self.batch_flush_)
                        post_flush(c->ex_, flush_handler{std::move(c), session});
                    self.batch_flush_.clear();
                }
            }
        } guard{*this, batch_reader};
        batch_reader = this;
        core_.hold_writes(true);
        complete_answered();
        core_.hold_writes(false);
    }
    for (auto& [c, session] : batch_flush_)
        c->on_flush(session);
    batch_flush_.clear();
}

void connection::on_flush(std::uint64_t session)
{
    if (session != core_.session() || !core_.connected())
        return;
    flush_posted_ = false;
    write();
}

void connection::write()
{
    for (;;) {
        const auto pieces = core_.next_write();
        if (pieces.empty())
            return;
        buffers_.clear();
        for (const auto& p : pieces)
            buffers_.emplace_back(p.data, p.size);
        std::error_code ec;
        const std::size_t n = transport_->write_some(buffers_, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again || (!ec && n == 0)) {
            // The transport is full: the rest goes when it has room.
            core_.write_blocked();
            transport_->async_write_some(
                buffers_, io_handler{shared_from_this(), core_.session(), &connection::on_written});
            return;
        }
        if (ec) {
            end_session(ec);
            return;
        }
        core_.wrote(n);
        noted_write();
    }
}

void connection::noted_write()
{
    if (core_.options().nudge_after.count() <= 0) [[likely]]
        return;
    const auto now = clock::now();
    core_.note_written(now);
    // The watchdog looks again when a nudge would be due.
    if (now + core_.options().nudge_after < watchdog_timer_.expiry())
        watchdog_timer_.cancel();
}

void connection::on_written(connection& c, std::uint64_t session, std::error_code ec, std::size_t n)
{
    if (session != c.core_.session() || !c.core_.connected())
        return;
    c.core_.write_unblocked();
    if (ec) {
        c.end_session(ec);
        return;
    }
    c.core_.wrote(n);
    c.noted_write();
    c.write();
}

void connection::read()
{
    const auto room = core_.read_buffer();
    transport_->async_read_some(
        asio::buffer(room.data(), room.size()),
        io_handler{shared_from_this(), core_.session(), &connection::on_read});
}

void connection::on_read(connection& c, std::uint64_t session, std::error_code ec, std::size_t n)
{
    if (session != c.core_.session() || !c.core_.connected())
        return;
    if (ec) {
        c.end_session(ec); // (end of file: the server closed the connection)
        return;
    }
    c.answered_.clear();
    const std::error_code pec = c.core_.read(n, clock::now(), c.answered_);
    // Callers answered now may start their next requests while being completed: they are
    // written together once all of them have run.
    c.complete_batch();
    if (c.core_.take_dialect_news() && c.observer_) [[unlikely]]
        c.observer_->on_dialect(c.core_.dialect() == proto::dialect::meta);
    if (pec) {
        c.end_session(pec);
        return;
    }
    if (!c.core_.connected())
        return;
    c.write();
    c.read();
}

void connection::complete_answered()
{
    // The reader is between reads, its state consistent, so handlers may run inline here (a
    // handler whose executor is not the running one is still posted). A caller resumed now
    // may start its next request at once; it is queued for the writer as usual. The list is
    // swapped out first: a handler may close the client, which must find it empty.
    completing_.swap(answered_);
    // In a long batch, send what the callers answered so far have asked for, so that the
    // server works on it while the rest of the batch is handed out (docs/performance.md).
    const std::size_t flush_every = std::max(min_flush_every, completing_.size() / 4);
    std::size_t since_write = 0;
    for (auto& e : completing_) {
        e->complete(true);
        if (++since_write == flush_every) {
            since_write = 0;
            core_.hold_writes(false);
            write(); // unless a write is waiting on the transport: its completion sends them
            core_.hold_writes(true);
        }
    }
    completing_.clear();
}

asio::awaitable<void> connection::watchdog()
{
    auto self = shared_from_this();
    while (!core_.closed()) {
        bool stalled = false;
        const auto now = clock::now();
        auto next = core_.watch(now, stalled);
        if (stalled) {
            end_session(asio::error::timed_out);
        } else if (core_.nudge_due(now, next)) {
            core_.nudge(now);
            write();
            core_.nudge_due(now, next); // (not due again until it is answered)
        }
        watchdog_timer_.expires_at(next);
        co_await watchdog_timer_.async_wait(use_tuple);
    }
    watching_ = false;
}

} // namespace memcoro::detail
