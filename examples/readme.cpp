// The README's first example, built so that it cannot drift from the API.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <iostream>
#include <memcoro/client.hpp>

asio::awaitable<void> demo()
{
    memcoro::client mc(co_await asio::this_coro::executor, "127.0.0.1:11211");
    co_await mc.async_set("greeting", "hello", {.expiry = std::chrono::minutes(5)});
    if (auto item = co_await mc.async_get("greeting")) // std::optional<item>
        std::cout << item->value << '\n';
    const std::vector<std::string> keys{"a", "b", "greeting"};
    auto hits = co_await mc.async_get_multi(keys);
    auto n = co_await mc.async_incr("counter", 1); // empty if missing
    std::cout << hits.hits.size() << " hit(s), counter " << n.value_or(0) << '\n';
} // the client closes its connection here

int main()
{
    asio::io_context ioc;
    asio::co_spawn(ioc, demo(), asio::detached);
    ioc.run();
}
