#pragma once
/// \file
/// A completion handler that turns an inner operation's outcome into the caller's: the value
/// operations are built on the plain ones with it.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/use_awaitable.hpp>

#include <string_view>
#include <system_error>
#include <utility>

namespace memcoro::detail {

/// Called with the inner operation's `(error_code, R)`, it calls `fn(inner, ec, r)`, which
/// completes `inner`. It passes on `inner`'s associated executor, allocator and cancellation
/// slot (so the inner operation completes where the caller's handler runs, and the caller's
/// cancellation reaches it), and the server's diagnostics of a failure.
template <class Handler, class Fn>
struct then_handler {
    Handler inner;
    Fn fn;

    void annotate(std::string_view s, std::string_view d, std::error_code cause)
    {
        detail::annotate(inner, s, d, cause);
    }

    template <class... Args>
    void operator()(std::error_code ec, Args&&... args)
    {
        std::move(fn)(inner, ec, std::forward<Args>(args)...);
    }
};

} // namespace memcoro::detail

/// \cond
template <template <class, class> class Associator, class Handler, class Fn, class DefaultCandidate>
struct asio::associator<Associator, memcoro::detail::then_handler<Handler, Fn>, DefaultCandidate> {
    using type = typename Associator<Handler, DefaultCandidate>::type;

    static type get(const memcoro::detail::then_handler<Handler, Fn>& h,
                    const DefaultCandidate& c = DefaultCandidate()) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
    }
};
/// \endcond
