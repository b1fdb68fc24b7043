#pragma once
/// \file
/// The asynchronous operation behind every client call: an op_entry that owns the caller's
/// completion handler and answers it on the handler's own executor.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/detail/op_entry.hpp>
#include <memcoro/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>

namespace memcoro::detail {

/// What a result type is made of: its completion signature and how a reply becomes it.
template <class R>
struct result_traits {
    using signature = void(std::error_code, R);
};
template <>
struct result_traits<void> {
    using signature = void(std::error_code);
};

// Reply -> result conversions (response is consumed).
void convert(response& r, get_result& out);
void convert(response& r, meta_get_result& out);
void convert(response& r, bool& found); // get into the caller's item: hit or miss
/// A multi-key retrieval of `keys` (the call's own).
void convert(response& r, const proto::string_list& keys, get_multi_result& out);
void convert(response& r, store_status& out);
void convert(response& r, delete_status& out);
void convert(response& r, touch_status& out);
void convert(response& r, arith_result& out);
void convert(response& r, std::string& out);
void convert(response& r, stats_result& out);
void convert(response& r, store_multi_result& out);
void convert(response& r, delete_multi_result& out);
void convert(response& r, stats_all_result& out);

/// Routes an entry to its connection; implemented by the client.
class router {
public:
    virtual void submit(entry_ptr e) = 0;
    virtual const asio::any_io_executor& executor() const noexcept = 0;

protected:
    ~router() = default;
};

/// Where a call's result goes besides its handler: the caller's own memory, for the `_into`
/// calls, written only when the call succeeds.
template <class R>
struct destination {
};
/// async_get_into: the hit.
template <>
struct destination<bool> {
    item* out = nullptr;
};
/// The `_into` multi-gets: every key's outcome.
template <>
struct destination<void> {
    get_multi_result* out = nullptr;
};

/// Writes a multi-get of `keys` into the caller's result: the hits, swapping items so that
/// `out`'s strings keep their capacity (`r.items` returns to the thread's cache), and every
/// key's outcome, into `out`'s lists as they are (no allocation once they have grown).
void deliver_into(response& r, const proto::string_list& keys, get_multi_result& out);

template <class R, class Handler>
class op final : public op_entry {
public:
    using work_executor = asio::associated_executor_t<Handler, asio::any_io_executor>;

    op(request_ptr r, scope where, Handler&& h, const asio::any_io_executor& io_ex,
       destination<R> dest)
        : op_entry(std::move(r), where)
        , handler_(std::move(h))
        , ex_(asio::get_associated_executor(handler_, io_ex))
        , dest_(dest)
    {
        // Until it is answered, the operation is outstanding work of the handler's executor.
        // On the client's own executor the client's I/O already is: the connection's read,
        // connect or idle wait, or the posted answer (see connection::run).
        if constexpr (std::is_same_v<work_executor, asio::any_io_executor>) {
            if (ex_ == io_ex)
                return;
        }
        work_.emplace(ex_);
    }

    Handler& handler() noexcept { return handler_; }

    bool writes_into_caller() const noexcept override
    {
        if constexpr (std::is_same_v<R, bool> || std::is_void_v<R>)
            return dest_.out != nullptr;
        else
            return false;
    }

    void on_value(std::size_t key_index, const proto::reply& r, bool whole) override
    {
        if constexpr (std::is_same_v<R, get_result>) {
            assign_hit(resp.single, r);
            resp.found = true;
        } else if constexpr (std::is_same_v<R, meta_get_result>) {
            assign_hit(resp.single, r);
            resp.meta = r.meta;
            resp.found = true;
        } else if constexpr (std::is_same_v<R, bool>) {
            // The caller's item is written only when the call is sure to succeed: at once
            // when the reply's END came with the value, else into a spare item swapped in at
            // the end.
            if (whole) {
                assign_hit(*dest_.out, r);
            } else {
                if (!spare_)
                    resp.single = take_item();
                spare_ = true;
                assign_hit(resp.single, r);
            }
            resp.found = true;
        } else {
            op_entry::on_value(key_index, r, whole);
        }
    }

private:
    void on_complete(bool may_run_inline) override
    {
        if (ec)
            annotate(handler_, server ? std::string_view(*server) : std::string_view{}, resp.text,
                     cause);
        auto ex = std::move(ex_);
        // Released only once the handler is posted (or has run): the executor's context
        // must not run out of work in between, or its run() returns with the handler queued.
        const auto work = std::move(work_);
        if constexpr (std::is_same_v<R, bool>) {
            // A hit read into a spare item reaches the caller's only now, on success.
            if (spare_) {
                if (!ec)
                    swap(*dest_.out, resp.single);
                give_item(std::move(resp.single));
            }
        } else if constexpr (std::is_void_v<R>) {
            if (!ec && dest_.out)
                deliver_into(resp, std::get_if<proto::retrieval>(&req)->keys, *dest_.out);
        }
        if constexpr (std::is_void_v<R>) {
            deliver(may_run_inline, ex, [h = std::move(handler_), e = ec]() mutable {
                asio::get_associated_cancellation_slot(h).clear();
                std::move(h)(e);
            });
        } else {
            R result{};
            if (!ec) {
                if constexpr (std::is_same_v<R, get_multi_result>)
                    convert(resp, std::get_if<proto::retrieval>(&req)->keys, result);
                else
                    convert(resp, result);
            }
            deliver(may_run_inline, ex,
                    [h = std::move(handler_), e = ec, r = std::move(result)]() mutable {
                        asio::get_associated_cancellation_slot(h).clear();
                        std::move(h)(e, std::move(r));
                    });
        }
    }

    /// Runs `fn` (the call of the caller's handler) on the handler's executor: directly when
    /// allowed and already there, else dispatched or posted.
    template <class Fn>
    static void deliver(bool may_run_inline, const work_executor& ex, Fn&& fn)
    {
        if (!may_run_inline) {
            asio::post(ex, std::forward<Fn>(fn));
        } else if (running_in(ex)) {
            // What the executor would do inline, without wrapping `fn` in a function object:
            // an exception from the handler still surfaces from the executor's run().
            try {
                fn();
            } catch (...) {
                asio::post(ex, [p = std::current_exception()] { std::rethrow_exception(p); });
            }
        } else {
            asio::dispatch(ex, std::forward<Fn>(fn));
        }
    }

    Handler handler_;
    work_executor ex_;
    destination<R> dest_;
    bool spare_ = false; // async_get_into: the hit is in resp.single, a spare item
    std::optional<asio::executor_work_guard<work_executor>> work_;
};

/// Cancels a pending entry from the caller's cancellation slot.
struct canceller {
    canceller(std::weak_ptr<op_entry> e, asio::any_io_executor x)
        : entry(std::move(e))
        , ex(std::move(x))
    {
    }

    std::weak_ptr<op_entry> entry;
    asio::any_io_executor ex;

    void operator()(asio::cancellation_type type)
    {
        if (!is_cancellation(type))
            return;
        // Total cancellation promises no side effect: honoured only while the request has
        // not been written. Terminal and partial cancellation are honoured at any time (the
        // request may then have taken effect on the server).
        const bool any_time =
            (type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)) !=
            asio::cancellation_type::none;
        asio::dispatch(ex, [w = entry, any_time] {
            if (auto e = w.lock(); e && (any_time || e->state == entry_state::waiting))
                e->finish(asio::error::operation_aborted);
        });
    }
};

/// The initiation of every client operation.
template <class R>
struct initiate_op {
    std::shared_ptr<router> target;
    scope where = scope::key;
    destination<R> dest{};

    template <class Handler>
    void operator()(Handler&& handler, request_ptr req) const
    {
        using op_type = op<R, std::decay_t<Handler>>;
        auto e = std::allocate_shared<op_type>(pool_allocator<op_type>{}, std::move(req), where,
                                               std::move(handler), target->executor(), dest);
        auto slot = asio::get_associated_cancellation_slot(e->handler());
        if (slot.is_connected())
            slot.template emplace<canceller>(std::weak_ptr<op_entry>(e), target->executor());
        target->submit(std::move(e));
    }
};

} // namespace memcoro::detail
