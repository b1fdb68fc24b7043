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
    /// The server's name and message, only on failure: a success moves nothing but `inner`.
    std::unique_ptr<std::pair<std::string, std::string>> diagnostics{};

    void annotate(std::string_view s, std::string_view d)
    {
        diagnostics = std::make_unique<std::pair<std::string, std::string>>(s, d);
    }

    template <class... Args>
    void operator()(std::error_code ec, Args&&... args)
    {
        std::exception_ptr ex;
        if (ec) {
            std::string server, detail;
            if (diagnostics) {
                server = std::move(diagnostics->first);
                detail = std::move(diagnostics->second);
            }
            ex = std::make_exception_ptr(memcoro::error(ec, std::move(server), std::move(detail)));
        }
        std::move(inner)(ex, std::forward<Args>(args)...);
    }
};

/// Gives a handler that can carry diagnostics the server's name and message.
template <class Handler>
void annotate(Handler& h, std::string_view server, std::string_view detail)
{
    if constexpr (requires { h.annotate(server, detail); })
        h.annotate(server, detail);
}

} // namespace detail
} // namespace memcoro

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct asio::associator<Associator, memcoro::detail::throwing_handler<Handler>, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const memcoro::detail::throwing_handler<Handler>& h,
        const DefaultCandidate& c = DefaultCandidate()) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
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
