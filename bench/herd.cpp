// herd: N concurrent callers over C clients ask for one missing key at once. Counts how many
// times the value is computed, and how long until every caller has it, for three ways of
// caching: a plain get-then-set (every caller that misses computes), async_get_or_compute on
// the text protocol (singleflight per client), and on the meta protocol (a lease as well).
//
//   herd --server 127.0.0.1:11211 [--callers 1000] [--clients 4] [--compute-ms 50] [--rounds 5]

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct options {
    std::string server;
    int callers = 1000;
    int clients = 4;
    std::chrono::milliseconds compute{50};
    int rounds = 5;
};

enum class mode { get_then_set, text, meta };

const char* name(mode m)
{
    switch (m) {
    case mode::get_then_set:
        return "get_then_set";
    case mode::text:
        return "get_or_compute_text";
    case mode::meta:
        return "get_or_compute_meta";
    }
    return "?";
}

struct outcome {
    int computes = 0;
    int answered = 0;
    int failed = 0;
    int distinct_values = 0;
    double ms = 0;
};

outcome round(const options& o, mode m, const std::string& key)
{
    asio::io_context ioc(1);
    std::vector<std::unique_ptr<memcoro::client>> clients;
    for (int i = 0; i < o.clients; ++i) {
        memcoro::client_config cfg;
        cfg.servers = memcoro::server_address::parse_list(o.server);
        cfg.protocol = m == mode::meta ? memcoro::protocol::meta : memcoro::protocol::text;
        clients.push_back(std::make_unique<memcoro::client>(ioc.get_executor(), cfg));
    }
    auto computes = std::make_shared<std::atomic<int>>(0);
    const memcoro::compute_fn compute = [computes,
                                         d = o.compute]() -> asio::awaitable<std::string> {
        const int n = ++*computes;
        asio::steady_timer t(co_await asio::this_coro::executor, d);
        co_await t.async_wait(asio::use_awaitable);
        co_return "value #" + std::to_string(n);
    };
    memcoro::compute_options copts;
    copts.expiry = 60s;
    copts.max_wait = 10s;
    outcome out;
    std::vector<std::string> values;
    const auto start = clock_type::now();
    for (int i = 0; i < o.callers; ++i) {
        memcoro::client& c = *clients[static_cast<std::size_t>(i % o.clients)];
        asio::co_spawn(
            ioc,
            [&, m]() -> asio::awaitable<void> {
                try {
                    std::string v;
                    if (m == mode::get_then_set) {
                        if (auto hit = co_await c.async_get(key)) {
                            v = std::move(hit->value);
                        } else {
                            v = co_await compute();
                            co_await c.async_set(key, v, {.expiry = 60s});
                        }
                    } else {
                        v = (co_await c.async_get_or_compute(key, compute, copts)).value;
                    }
                    values.push_back(std::move(v));
                    ++out.answered;
                } catch (const std::exception& e) {
                    if (out.failed++ == 0)
                        std::cerr << "herd: " << e.what() << '\n';
                }
                if (out.answered + out.failed == o.callers) {
                    out.ms = std::chrono::duration<double, std::milli>(clock_type::now() - start)
                                 .count();
                    for (auto& cl : clients)
                        cl->close();
                }
            },
            asio::detached);
    }
    ioc.run();
    out.computes = *computes;
    std::sort(values.begin(), values.end());
    out.distinct_values =
        static_cast<int>(std::unique(values.begin(), values.end()) - values.begin());
    return out;
}

[[noreturn]] void usage(const std::string& why)
{
    std::cerr << "herd: " << why
              << "\nusage: herd --server HOST:PORT [--callers N] [--clients N] [--compute-ms MS]"
                 " [--rounds N]\n";
    std::exit(2);
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc)
            usage("missing value for " + a);
        const std::string v = argv[++i];
        if (a == "--server")
            o.server = v;
        else if (a == "--callers")
            o.callers = std::stoi(v);
        else if (a == "--clients")
            o.clients = std::stoi(v);
        else if (a == "--compute-ms")
            o.compute = std::chrono::milliseconds(std::stoi(v));
        else if (a == "--rounds")
            o.rounds = std::stoi(v);
        else
            usage("unknown option " + a);
    }
    if (o.server.empty())
        usage("--server is required");
    if (o.callers < 1 || o.clients < 1 || o.rounds < 1)
        usage("--callers, --clients and --rounds must be positive");
    std::cout << "mode,round,callers,clients,computes,answered,failed,distinct_values,ms\n";
    const auto run_id = std::to_string(clock_type::now().time_since_epoch().count());
    int bad = 0;
    // Rounds alternate the modes, each on a key never used before (a miss).
    for (int r = 0; r < o.rounds; ++r) {
        for (mode m : {mode::get_then_set, mode::text, mode::meta}) {
            const std::string key = "herd:" + run_id + ":" + name(m) + ":" + std::to_string(r);
            const outcome x = round(o, m, key);
            std::cout << name(m) << ',' << r << ',' << o.callers << ',' << o.clients << ','
                      << x.computes << ',' << x.answered << ',' << x.failed << ','
                      << x.distinct_values << ',' << x.ms << '\n';
            if (x.failed > 0 || (m == mode::meta && x.computes != 1))
                ++bad;
        }
    }
    return bad == 0 ? 0 : 1;
}
