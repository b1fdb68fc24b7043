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

/// Is the calling thread inside `ex` (an io_context executor or a strand of one, or an
/// any_io_executor holding either), so that work bound to it may run directly, as
/// asio::dispatch would run it? False when unknown.
template <class Executor>
bool running_in(const Executor& ex) noexcept
{
    using io_executor = asio::io_context::executor_type;
    using strand_executor = asio::strand<io_executor>;
    if constexpr (std::is_same_v<Executor, io_executor> ||
                  std::is_same_v<Executor, strand_executor>) {
        return ex.running_in_this_thread();
    } else if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        if (const auto* io = held_executor<io_executor>(ex))
            return io->running_in_this_thread();
        if (const auto* strand = held_executor<strand_executor>(ex))
            return strand->running_in_this_thread();
        return false;
    } else {
        return false;
    }
}

} // namespace memcoro::detail
