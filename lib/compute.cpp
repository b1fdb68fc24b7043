#include "detail/client_impl.hpp"
#include "detail/singleflight.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <optional>

namespace memcoro {
namespace {

using std::chrono::steady_clock;

/// Runs the computation, within `limit` when there is one: past it the computation is
/// cancelled and errc::timeout thrown.
asio::awaitable<std::string> run_compute(const compute_fn& compute, std::chrono::milliseconds limit)
{
    if (limit.count() <= 0)
        co_return co_await compute();
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto outcome = co_await (compute() || timer.async_wait(asio::use_awaitable));
    if (outcome.index() != 0)
        throw memcoro::error(errc::timeout, {}, "the computation did not finish in time");
    co_return std::get<0>(std::move(outcome));
}

/// Publishes a flight's outcome exactly once: the value or exception given, or, if the leader
/// is destroyed without one (its executor shut down), operation_aborted.
class flight_guard {
public:
    flight_guard(detail::singleflight& table, const std::string& key,
                 std::shared_ptr<detail::singleflight::flight> f)
        : table_(table)
        , key_(key)
        , flight_(std::move(f))
    {
    }
    flight_guard(const flight_guard&) = delete;
    flight_guard& operator=(const flight_guard&) = delete;
    ~flight_guard()
    {
        if (flight_)
            publish({}, std::make_exception_ptr(
                            memcoro::error(make_error_code(asio::error::operation_aborted))));
    }
    void publish(computed_value v, std::exception_ptr e)
    {
        auto f = std::move(flight_);
        table_.publish(key_, f, std::move(v), std::move(e));
    }

private:
    detail::singleflight& table_;
    const std::string& key_;
    std::shared_ptr<detail::singleflight::flight> flight_;
};

} // namespace

const char* to_string(value_source s) noexcept
{
    switch (s) {
    case value_source::cache:
        return "cache";
    case value_source::computed:
        return "computed";
    case value_source::stale:
        return "stale";
    case value_source::shared:
        return "shared";
    }
    return "?";
}

namespace {

/// The work of one async_get_or_compute call that leads (or runs without singleflight).
class compute_call {
public:
    compute_call(client& c, const std::string& key, const compute_fn& compute,
                 const compute_options& opts)
        : c_(c)
        , key_(key)
        , compute_(compute)
        , opts_(opts)
    {
    }

    asio::awaitable<computed_value> run()
    {
        if (c_.config().protocol == protocol::text || opts_.lease.count() <= 0)
            co_return co_await without_lease();
        co_return co_await with_lease();
    }

private:
    /// The text protocol (or no lease): a get, and on a miss the computation, added.
    asio::awaitable<computed_value> without_lease()
    {
        if (auto hit = co_await c_.async_get(key_))
            co_return computed_value{std::move(hit->value), hit->flags, value_source::cache};
        std::string v = co_await run_compute(compute_, opts_.compute_timeout);
        // (A newer value already there stays; a failed write does not fail the call.)
        co_await c_.async_add(key_, v, {opts_.expiry, opts_.flags},
                              asio::experimental::as_tuple(asio::use_awaitable));
        co_return computed_value{std::move(v), opts_.flags, value_source::computed};
    }

    asio::awaitable<computed_value> with_lease()
    {
        const auto deadline = steady_clock::now() + opts_.max_wait;
        auto backoff = std::max(opts_.first_backoff, std::chrono::milliseconds(1));
        meta_get_options mo;
        mo.lease = opts_.lease;
        mo.recache = opts_.recache;
        for (;;) {
            meta_get_result r;
            bool text_server = false;
            try {
                r = co_await c_.async_meta_get(key_, mo);
            } catch (const memcoro::error& e) {
                // protocol::automatic, and the key's server speaks text: no lease there.
                if (e.code() != errc::not_supported)
                    throw;
                text_server = true;
            }
            if (text_server)
                co_return co_await without_lease();
            if (!r) // (a miss with a lease makes a placeholder: only if it vanished at once)
                co_return co_await compute_alone();
            if (r->won && opts_.refresh_in_background && !r->placeholder() && !r->stale) {
                // An early recache won: the refresh is the caller's to start (see
                // async_get_or_compute), the value read is good meanwhile.
                refresh_cas_ = r->item.cas;
                co_return computed_value{std::move(r->item.value), r->item.flags,
                                         value_source::cache};
            }
            if (r->won)
                co_return co_await compute_and_store(*r);
            if (!r->lease_taken) // an item, fresh
                co_return computed_value{std::move(r->item.value), r->item.flags,
                                         value_source::cache};
            if (!r->placeholder()) {
                if (!r->stale) // being refreshed early by another: still good
                    co_return computed_value{std::move(r->item.value), r->item.flags,
                                             value_source::cache};
                if (opts_.serve_stale)
                    co_return computed_value{std::move(r->item.value), r->item.flags,
                                             value_source::stale};
            }
            // Another caller computes it: wait for its value.
            const auto now = steady_clock::now();
            if (now + backoff > deadline) {
                if (!opts_.compute_after_wait)
                    throw memcoro::error(errc::timeout, {},
                                         "no value arrived while another caller held the lease");
                co_return co_await compute_alone();
            }
            asio::steady_timer timer(co_await asio::this_coro::executor, backoff);
            co_await timer.async_wait(asio::use_awaitable);
            backoff = std::min(backoff * 2, std::max(opts_.max_backoff, backoff));
        }
    }

    /// Computed without the lease: returned, not written (the lease's winner writes).
    asio::awaitable<computed_value> compute_alone()
    {
        std::string v = co_await run_compute(compute_, opts_.compute_timeout);
        co_return computed_value{std::move(v), opts_.flags, value_source::computed};
    }

    /// This call won the lease (a placeholder, a stale item or an early recache): compute,
    /// write back on the CAS it read, or release the lease if the computation fails.
    asio::awaitable<computed_value> compute_and_store(const meta_item& won)
    {
        std::string v;
        std::exception_ptr failed;
        try {
            v = co_await run_compute(compute_, opts_.compute_timeout);
        } catch (...) {
            failed = std::current_exception();
        }
        const auto quiet = asio::experimental::as_tuple(asio::use_awaitable);
        if (failed) {
            // Hand the lease back while the item is still the one won: a placeholder goes
            // (the next reader makes and wins a new one); a stale item is invalidated again
            // (the next reader wins it). An early recache's item stays valid: nothing to do.
            if (won.placeholder())
                co_await c_.async_delete_cas(key_, won.item.cas, quiet);
            else if (won.stale)
                co_await c_.async_invalidate(key_, std::nullopt, won.item.cas, quiet);
            std::rethrow_exception(failed);
        }
        // On the CAS read: a newer value written meanwhile stays (exists), and the write
        // fails harmlessly if the placeholder expired (not_found).
        co_await c_.async_cas(key_, v, won.item.cas, {opts_.expiry, opts_.flags}, quiet);
        co_return computed_value{std::move(v), opts_.flags, value_source::computed};
    }

public:
    /// The CAS of an early recache won with refresh_in_background, for the refresh to write on.
    std::optional<std::uint64_t> refresh_cas() const noexcept { return refresh_cas_; }

private:
    client& c_;
    const std::string& key_;
    const compute_fn& compute_;
    const compute_options& opts_;
    std::optional<std::uint64_t> refresh_cas_;
};

} // namespace

asio::awaitable<computed_value> client::async_get_or_compute(std::string key, compute_fn compute,
                                                             compute_options opts)
{
    if (auto ec =
            proto::check_key(key, config().protocol != protocol::text, config().key_prefix.size()))
        throw memcoro::error(ec);
    if (!compute)
        throw memcoro::error(errc::invalid_argument, {}, "no computation given");
    if (!opts.singleflight) {
        compute_call call(*this, key, compute, opts);
        computed_value v = co_await call.run();
        if (const auto cas = call.refresh_cas()) {
            const asio::any_io_executor ex = co_await asio::this_coro::executor;
            refresh_later(ex, std::move(key), std::move(compute), opts, *cas);
        }
        co_return v;
    }
    // Kept alive by the call: the table outlives the flights of a client being closed.
    const auto impl = impl_;
    auto [f, leads] = impl->flights().join(key);
    if (!leads) {
        co_await f->async_wait(asio::use_awaitable);
        if (f->error())
            std::rethrow_exception(f->error());
        computed_value v = f->value();
        v.source = value_source::shared;
        co_return v;
    }
    flight_guard guard(impl->flights(), key, f);
    computed_value v;
    std::optional<std::uint64_t> refresh;
    try {
        compute_call call(*this, key, compute, opts);
        v = co_await call.run();
        refresh = call.refresh_cas();
    } catch (...) {
        guard.publish({}, std::current_exception());
        throw;
    }
    guard.publish(v, nullptr);
    if (refresh) {
        const asio::any_io_executor ex = co_await asio::this_coro::executor;
        refresh_later(ex, std::move(key), std::move(compute), opts, *refresh);
    }
    co_return v;
}

void client::refresh_later(const asio::any_io_executor& ex, std::string key, compute_fn compute,
                           const compute_options& opts, std::uint64_t cas_unique)
{
    // With the client's router, not the client: the refresh may outlive the client object
    // (its write then fails with errc::shutting_down, harmlessly).
    struct refresh {
        std::shared_ptr<detail::router> rt;
        std::string key;
        compute_fn compute;
        store_options write;
        std::uint64_t cas_unique;
    };
    auto r = std::make_shared<refresh>(refresh{
        router(), std::move(key), std::move(compute), {opts.expiry, opts.flags}, cas_unique});
    asio::co_spawn(
        ex, run_compute(r->compute, opts.compute_timeout),
        [r](std::exception_ptr failed, std::string v) {
            if (failed)
                return; // the item stays valid until its own expiry
            // On the CAS read: a newer value written meanwhile stays.
            auto done = [r](std::error_code, store_status) {};
            asio::async_initiate<decltype(done), detail::result_traits<store_status>::signature>(
                detail::initiate_op<store_status>{r->rt}, done,
                store(proto::store_mode::cas, r->key, v, r->write, r->cas_unique));
        });
}

} // namespace memcoro
