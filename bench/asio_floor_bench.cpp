// asio_floor_bench: the thinnest get an Asio coroutine can make, as a yardstick for the
// instruction counts of bench/callgrind.sh. One coroutine, one socket to the first server:
// `get KEY\r\n` goes out with a plain non-blocking write_some, the reply is read with
// `co_await async_read_some(use_awaitable)` until it is whole, and checked against the key
// space byte for byte. No key validation, no queue, no timeouts, no cluster, no pipelining:
// it is not a client, it is what every get of a client built on asio::awaitable and Asio's
// reactor pays before doing any work of its own. Scenario get_seq_1srv only.
//
//   asio_floor_bench --servers HOST:PORT [--ops N --warmup-ops N] [--keys N] [--value-size N]
//                    [--io-hint one|unsafe]
//
// --io-hint: the io_context's concurrency hint, 1 (default, as memcoro_bench) or
// ASIO_CONCURRENCY_HINT_UNSAFE (no locking in the scheduler and reactor).

#include "common.hpp"

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace bench;
using asio::ip::tcp;

/// Sets every key of the space (blocking; not measured).
bool preload(tcp::socket& s, const keyspace& ks)
{
    constexpr std::size_t batch = 100;
    std::string out;
    std::string in;
    for (std::size_t first = 0; first < ks.size(); first += batch) {
        out.clear();
        const std::size_t n = std::min(batch, ks.size() - first);
        for (std::size_t i = first; i < first + n; ++i)
            out += "set " + ks.key(i) + " 0 0 " + std::to_string(ks.value(i).size()) + "\r\n" +
                   ks.value(i) + "\r\n";
        asio::write(s, asio::buffer(out));
        for (std::size_t i = 0; i < n; ++i) {
            const std::size_t line = asio::read_until(s, asio::dynamic_buffer(in), "\r\n");
            if (std::string_view(in).substr(0, line) != "STORED\r\n")
                return false;
            in.erase(0, line);
        }
    }
    return true;
}

/// Checks a whole reply to `get key`: "VALUE key 0 N\r\n<value>\r\nEND\r\n".
bool check_reply(const keyspace& ks, std::size_t i, std::string_view r)
{
    const std::string& key = ks.key(i);
    const std::string& value = ks.value(i);
    if (r.size() < 6 + key.size() + 2 || r.substr(0, 6) != "VALUE " ||
        r.substr(6, key.size()) != key)
        return false;
    const std::size_t eol = r.find("\r\n", 6 + key.size());
    if (eol == std::string_view::npos || r.substr(6 + key.size(), 3) != " 0 ")
        return false;
    const std::string_view data = r.substr(eol + 2);
    return data.size() == value.size() + 7 && data.substr(0, value.size()) == value &&
           data.substr(value.size()) == "\r\nEND\r\n";
}

asio::awaitable<void> get_caller(tcp::socket& s, const keyspace& ks, run_control& ctl, tally& t,
                                 std::uint64_t seed)
{
    rng r(seed);
    std::string req;
    std::vector<char> buf(64 * 1024);
    while (ctl.running()) {
        const std::size_t i = r.below(ks.size());
        const auto t0 = bench_clock::now();
        req.assign("get ").append(ks.key(i)).append("\r\n");
        s.write_some(asio::buffer(req)); // a few bytes into an empty socket buffer
        std::size_t have = 0;
        for (;;) {
            have += co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                               asio::use_awaitable);
            const std::string_view got(buf.data(), have);
            if (got.ends_with("END\r\n") || got.ends_with("ERROR\r\n") || have == buf.size())
                break;
        }
        if (!check_reply(ks, i, std::string_view(buf.data(), have)))
            t.mismatch("wrong reply for " + ks.key(i));
        t.record(ctl, t0);
    }
}

} // namespace

int main(int argc, char** argv)
{
    const options o = parse_options(argc, argv, "asio_floor");
    if (o.selected.size() != 1 || o.selected[0]->name != "get_seq_1srv") {
        std::cerr << "asio_floor_bench: only --scenario get_seq_1srv\n";
        return 2;
    }
    const keyspace ks(o.keys, o.value_size);
    asio::io_context ioc{o.io_hint_unsafe    ? ASIO_CONCURRENCY_HINT_UNSAFE
                         : o.io_hint_default ? ASIO_CONCURRENCY_HINT_DEFAULT
                                             : 1};
    tcp::socket s(ioc);
    try {
        s.connect(tcp::endpoint(asio::ip::make_address(o.servers[0].host),
                                static_cast<unsigned short>(o.servers[0].port)));
        s.set_option(tcp::no_delay(true));
        if (!preload(s, ks)) {
            std::cerr << "asio_floor_bench: preload failed\n";
            return 1;
        }
        s.non_blocking(true);
    } catch (const std::exception& e) {
        std::cerr << "asio_floor_bench: " << e.what() << '\n';
        return 1;
    }
    const scenario& sc = *o.selected[0];
    run_control ctl(o);
    tally t;
    bool died = false;
    asio::co_spawn(ioc, get_caller(s, ks, ctl, t, o.seed * 1'000'003),
                   [&died](std::exception_ptr e) { died = e != nullptr; });
    std::thread th([&ioc] { ioc.run(); });
    ctl.wait();
    th.join();
    if (died)
        t.error("caller died");
    return report(o.io_hint_unsafe ? "asio-floor-unsafe" : "asio-floor", sc, o, 1, 1, ctl, t) ? 0
                                                                                              : 1;
}
