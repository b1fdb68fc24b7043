// A program built against an installed or subproject memcoro: it must compile, link and run.
#include <memcoro/client.hpp>
#include <memcoro/version.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>

#include <cstdio>
#include <string_view>

#define CONSUMER_STR(x) #x
#define CONSUMER_XSTR(x) CONSUMER_STR(x)
// The numbers and the string of memcoro/version.hpp agree.
static_assert(std::string_view(MEMCORO_VERSION_STRING) ==
              CONSUMER_XSTR(MEMCORO_VERSION_MAJOR) "." CONSUMER_XSTR(
                  MEMCORO_VERSION_MINOR) "." CONSUMER_XSTR(MEMCORO_VERSION_PATCH));

int main()
{
    asio::io_context ioc;
    int failures = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);
            memcoro::client mc(co_await asio::this_coro::executor, "127.0.0.1:1");
            auto [bad, r1] = co_await mc.async_get("bad key", tuple);
            if (bad != memcoro::errc::invalid_key)
                ++failures;
            auto [refused, r2] = co_await mc.async_get("key", tuple);
            if (refused != memcoro::errc::connection_failed)
                ++failures;
            std::printf("invalid key: %s; refused: %s\n", bad.message().c_str(),
                        refused.message().c_str());
        },
        [&](std::exception_ptr e) {
            if (e)
                ++failures;
        });
    ioc.run();
    // The version the headers state (run.sh compares it with pkg-config's and CMake's).
    std::printf("memcoro %s\n", MEMCORO_VERSION_STRING);
    return failures == 0 ? 0 : 1;
}
