#pragma once
/// \file
/// memcoro's default completion token: `asio::use_awaitable`, but failures throw
/// `memcoro::error`, whose message names the server and quotes the server's own words.

#include <memcoro/detail/asio_compat.hpp>
#include <memcoro/error.hpp>

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace memcoro {

/// Completion token: the operation returns an `asio::awaitable<T>`; on failure
/// `co_await` throws `memcoro::error`. Use `asio::experimental::as_tuple(asio::use_awaitable)`
/// or `asio::redirect_error` to get the `std::error_code` instead.
struct use_awaitable_t {
    constexpr use_awaitable_t() noexcept = default;
};

/// The default completion token of every memcoro operation.
inline constexpr use_awaitable_t use_awaitable{};

namespace detail {

/// Turns `(error_code, T...)` into `(exception_ptr, T...)` for `asio::use_awaitable`.
template <class Handler>
struct throwing_handler {
    Handler inner;
    /// The diagnostics, only on failure: a success moves nothing but `inner`.
    std::unique_ptr<memcoro::diagnostics> diag{};

    void annotate(std::string_view s, std::string_view d, std::error_code cause)
    {
        diag = std::make_unique<memcoro::diagnostics>(
            memcoro::diagnostics{std::string(s), std::string(d), cause});
    }

    template <class... Args>
    void operator()(std::error_code ec, Args&&... args)
    {
        std::exception_ptr ex;
        if (ec) {
            memcoro::diagnostics d;
            if (diag)
                d = std::move(*diag);
            ex = std::make_exception_ptr(
                memcoro::error(ec, std::move(d.server), std::move(d.message), d.cause));
        }
        std::move(inner)(ex, std::forward<Args>(args)...);
    }
};

/// Gives a handler that can carry diagnostics the server's name, its message and the system
/// error underneath.
template <class Handler>
void annotate(Handler& h, std::string_view server, std::string_view detail, std::error_code cause)
{
    if constexpr (requires { h.annotate(server, detail, cause); })
        h.annotate(server, detail, cause);
}

/// The handler behind `with_diagnostics`: fills the caller's diagnostics, then calls `inner`.
template <class Handler>
struct diagnostics_handler {
    Handler inner;
    memcoro::diagnostics* out;

    void annotate(std::string_view s, std::string_view d, std::error_code cause)
    {
        out->server.assign(s);
        out->message.assign(d);
        out->cause = cause;
        detail::annotate(inner, s, d, cause); // (an inner memcoro::use_awaitable throws them)
    }

    template <class... Args>
    void operator()(Args&&... args)
    {
        std::move(inner)(std::forward<Args>(args)...);
    }
};

} // namespace detail

/// A completion token adapter: the operation completes as with `token`, and on failure `diag`
/// holds the server's name, its message and the system error underneath (on success it is
/// left as it was). For the tokens that see only an error code: `as_tuple`, `redirect_error`,
/// `use_future`, callbacks. `diag` must outlive the operation.
///
///     memcoro::diagnostics diag;
///     auto [ec, r] = co_await c.async_get(key,
///         memcoro::with_diagnostics(diag, asio::experimental::as_tuple(asio::use_awaitable)));
template <class Token>
struct with_diagnostics_t {
    memcoro::diagnostics* diag; ///< where a failure's diagnostics are written
    Token token;                ///< the token the operation completes with
};

/// Wraps `token` in a with_diagnostics_t that writes a failure's diagnostics to `diag`.
template <class Token>
with_diagnostics_t<std::decay_t<Token>> with_diagnostics(diagnostics& diag, Token&& token)
{
    return {&diag, std::forward<Token>(token)};
}

} // namespace memcoro

/// \cond
// Specializations of Asio's traits, left out of the API reference (they are Asio's names): the
// handlers above pass on their inner handler's associated executor, allocator and cancellation
// slot, and async_result makes the two tokens work.
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct asio::associator<Associator, memcoro::detail::throwing_handler<Handler>, DefaultCandidate> {
    using type = typename Associator<Handler, DefaultCandidate>::type;

    static type get(const memcoro::detail::throwing_handler<Handler>& h,
                    const DefaultCandidate& c = DefaultCandidate()) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
    }
};

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct asio::associator<Associator, memcoro::detail::diagnostics_handler<Handler>,
                        DefaultCandidate> {
    using type = typename Associator<Handler, DefaultCandidate>::type;

    static type get(const memcoro::detail::diagnostics_handler<Handler>& h,
                    const DefaultCandidate& c = DefaultCandidate()) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
    }
};

template <class Token, class Signature>
struct asio::async_result<memcoro::with_diagnostics_t<Token>, Signature> {
    using return_type = typename asio::async_result<Token, Signature>::return_type;

    template <class Initiation, class RawToken, class... InitArgs>
    static return_type initiate(Initiation&& init, RawToken&& token, InitArgs&&... args)
    {
        return asio::async_initiate<Token, Signature>(
            [init = std::forward<Initiation>(init), diag = token.diag](auto&& handler,
                                                                       auto&&... a) mutable {
                using h_type = std::decay_t<decltype(handler)>;
                std::move(init)(
                    memcoro::detail::diagnostics_handler<h_type>{std::move(handler), diag},
                    std::forward<decltype(a)>(a)...);
            },
            token.token, std::forward<InitArgs>(args)...);
    }
};

template <class... Args>
struct asio::async_result<memcoro::use_awaitable_t, void(std::error_code, Args...)> {
    using inner = asio::async_result<asio::use_awaitable_t<>, void(std::exception_ptr, Args...)>;
    using return_type = typename inner::return_type;

    template <class Initiation, class... InitArgs>
    static return_type initiate(Initiation&& init, memcoro::use_awaitable_t, InitArgs&&... args)
    {
        return asio::async_initiate<const asio::use_awaitable_t<>&,
                                    void(std::exception_ptr, Args...)>(
            [init = std::forward<Initiation>(init)](auto&& handler, auto&&... a) mutable {
                using h_type = std::decay_t<decltype(handler)>;
                std::move(init)(memcoro::detail::throwing_handler<h_type>{std::move(handler)},
                                std::forward<decltype(a)>(a)...);
            },
            asio::use_awaitable, std::forward<InitArgs>(args)...);
    }
};
/// \endcond
