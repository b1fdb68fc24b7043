#pragma once
/// \file
/// The Asio pieces memcoro uses, in one place, so version-dependent spellings live here.

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/associator.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <type_traits>
#include <typeinfo>
#include <utility>

namespace memcoro::detail {

inline bool is_cancellation(asio::cancellation_type t) noexcept
{
    return (t & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                 asio::cancellation_type::total)) != asio::cancellation_type::none;
}

/// The executor of type T an any_io_executor holds, or nullptr if it holds another.
/// (any_io_executor::target<T>() does not check T in Asio 1.22: the type is compared first.)
template <class T>
const T* held_executor(const asio::any_io_executor& ex) noexcept
{
    return ex.target_type() == typeid(T) ? ex.template target<T>() : nullptr;
}

/// Is the calling thread inside `ex` (an io_context executor, a strand of one or of an
/// any_io_executor, or an any_io_executor holding one of those), so that work bound to it may
/// run directly, as asio::dispatch would run it? False when unknown.
template <class Executor>
bool running_in(const Executor& ex) noexcept
{
    using io_executor = asio::io_context::executor_type;
    using strand_executor = asio::strand<io_executor>;
    using any_strand_executor = asio::strand<asio::any_io_executor>;
    if constexpr (std::is_same_v<Executor, io_executor> ||
                  std::is_same_v<Executor, strand_executor> ||
                  std::is_same_v<Executor, any_strand_executor>) {
        return ex.running_in_this_thread();
    } else if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        if (const auto* io = held_executor<io_executor>(ex))
            return io->running_in_this_thread();
        if (const auto* strand = held_executor<strand_executor>(ex))
            return strand->running_in_this_thread();
        if (const auto* strand = held_executor<any_strand_executor>(ex))
            return strand->running_in_this_thread();
        return false;
    } else {
        return false;
    }
}

/// Does `ex` run one handler at a time? A strand does, and so does the executor of an
/// io_context made for one thread: concurrency hint 1, or a hint that turns Asio's locking off
/// (what Asio itself takes to mean one thread). An io_context of any other hint may be run by
/// several threads at once; any other executor is not known to run one handler at a time.
inline bool runs_one_at_a_time(const asio::any_io_executor& ex) noexcept
{
    using io_executor = asio::io_context::executor_type;
    if (held_executor<asio::strand<io_executor>>(ex) ||
        held_executor<asio::strand<asio::any_io_executor>>(ex))
        return true;
    if (const auto* io = held_executor<io_executor>(ex)) {
        // The io_context's scheduler knows its hint (Asio 1.22: asio::detail, no public way).
        const int hint =
            asio::use_service<asio::detail::io_context_impl>(io->context()).concurrency_hint();
        return hint == 1 || !ASIO_CONCURRENCY_HINT_IS_LOCKING(SCHEDULER, hint) ||
               !ASIO_CONCURRENCY_HINT_IS_LOCKING(REACTOR_IO, hint);
    }
    return false;
}

/// `ex` if it runs one handler at a time, else a strand of it: an executor on which state that
/// is touched only from its handlers needs no lock.
inline asio::any_io_executor one_at_a_time(asio::any_io_executor ex)
{
    if (runs_one_at_a_time(ex))
        return ex;
    // Of the io_context's own executor type where possible: running_in() recognises it.
    if (const auto* io = held_executor<asio::io_context::executor_type>(ex))
        return asio::make_strand(*io);
    return asio::make_strand(std::move(ex));
}

} // namespace memcoro::detail
