#pragma once
// Shared helpers of the fault tests (test/faults): timing, memory probes, faulty servers.

#include <catch2/catch.hpp>

#include "../support/config_for.hpp"
#include "../support/fault_proxy.hpp"
#include "../support/memcached_process.hpp"
#include "../support/run_coro.hpp"
#include "../support/stat.hpp"

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define MEMCORO_FAULTS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMCORO_FAULTS_SANITIZED 1
#endif
#endif
#ifndef MEMCORO_FAULTS_SANITIZED
#define MEMCORO_FAULTS_SANITIZED 0
#endif

namespace memcoro::faults {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using memcoro::test::config_for;
using memcoro::test::fault_proxy;
using memcoro::test::memcached_process;
using memcoro::test::run_coro;
using memcoro::test::sleep_for;
using memcoro::test::stat;
using memcoro::test::stat_num;
using memcoro::test::wait_until;

inline constexpr auto tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// Built with AddressSanitizer: everything is slower and larger.
inline constexpr bool sanitized = MEMCORO_FAULTS_SANITIZED != 0;

/// How far behind a bare Asio timer armed for the same instant (reference_timer) a memcoro
/// deadline may fire: the cost of memcoro's own timeout handling.
inline constexpr ms timer_slack = sanitized ? ms(50) : ms(20);
/// Absolute bound for "promptly" on a loaded machine (2 shared cores, other builds running,
/// scheduling stalls of ~100 ms seen): tells "on time, give or take a stall" from "hung".
inline constexpr ms load_slack = sanitized ? ms(600) : ms(300);

inline double to_ms(clock::duration d)
{
    return std::chrono::duration<double, std::milli>(d).count();
}

/// A bare steady_timer armed for `at`; the returned time point is set when its handler runs.
/// Its lateness is the scheduling delay of that moment, which memcoro's deadlines share.
inline std::shared_ptr<clock::time_point> reference_timer(const asio::any_io_executor& ex,
                                                          clock::time_point at)
{
    auto fired = std::make_shared<clock::time_point>();
    auto t = std::make_shared<asio::steady_timer>(ex, at);
    t->async_wait([t, fired](std::error_code) { *fired = clock::now(); });
    return fired;
}

/// True once a counter has reached `min` and then not moved for `quiet` (call repeatedly):
/// "all the replies are in", whether the client sent one request per get or merged them.
class settled {
public:
    bool operator()(std::uint64_t value, std::uint64_t min, clock::duration quiet = 20ms)
    {
        const auto now = clock::now();
        if (value != last_) {
            last_ = value;
            since_ = now;
        }
        return value >= min && now - since_ >= quiet;
    }

private:
    std::uint64_t last_ = ~std::uint64_t{0};
    clock::time_point since_{};
};

/// Waits until every thread of `pid` is stopped (after SIGSTOP, which kill() only queues),
/// or none is; false if that does not happen within `limit`.
inline bool wait_stopped(pid_t pid, bool stopped, ms limit = 2000ms)
{
    const auto until = clock::now() + limit;
    while (!memcoro::test::threads_stopped(pid, stopped)) {
        if (clock::now() >= until)
            return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/// Resident set size now (/proc/self/statm).
inline std::size_t rss_bytes()
{
    std::ifstream in("/proc/self/statm");
    std::size_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Peak resident set size (VmHWM in /proc/self/status).
inline std::size_t hwm_bytes()
{
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stoull(line.substr(6)) * 1024;
    return 0;
}

/// Resets VmHWM to the current RSS (Linux: "5" > /proc/self/clear_refs).
inline bool reset_hwm()
{
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

inline double to_mib(std::size_t bytes)
{
    return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

/// The value stored under key number i: distinct for every key.
inline std::string value_for(int i)
{
    return "value-" + std::to_string(i) + "-" + std::to_string(i * 7919 + 13);
}

inline std::string key_for(int i)
{
    return "key-" + std::to_string(i);
}

/// Stores key_for(i) = value_for(i) for i in [0, n), pipelined.
inline asio::awaitable<void> preload(memcoro::client& c, int n)
{
    // Shared with the callbacks: a failed REQUIRE must not leave them writing to a dead frame.
    auto count = std::make_shared<std::pair<int, int>>(0, 0); // done, failed
    for (int i = 0; i < n; ++i)
        c.async_set(key_for(i), value_for(i), {},
                    [count](std::error_code ec, memcoro::store_status st) {
                        ++count->first;
                        if (ec || st != memcoro::store_status::stored)
                            ++count->second;
                    });
    co_await wait_until([&] { return count->first == n; }, 20s);
    REQUIRE(count->first == n);
    REQUIRE(count->second == 0);
}

/// The outcome of one operation, recorded by a callback.
struct outcome {
    clock::time_point start{};
    clock::time_point end{};
    bool done = false;
    std::error_code ec;
    memcoro::get_result value;

    double latency_ms() const { return to_ms(end - start); }
};

/// Outcomes of a batch, shared with the callbacks that fill them.
using outcomes = std::shared_ptr<std::vector<outcome>>;

/// Issues async_get(key_for(i % keys)) for i in [from, to) as callbacks, recording every
/// outcome into (*out)[i].
inline void launch_range(memcoro::client& c, const outcomes& out, int from, int to, int keys)
{
    for (int i = from; i < to; ++i) {
        const auto at = static_cast<std::size_t>(i);
        (*out)[at].start = clock::now();
        c.async_get(key_for(i % keys), [out, at](std::error_code ec, memcoro::get_result r) {
            auto& o = (*out)[at];
            o.end = clock::now();
            o.done = true;
            o.ec = ec;
            o.value = std::move(r);
        });
    }
}

/// Issues async_get(key_for(i % keys)) for i in [0, n) as callbacks, recording every outcome.
inline outcomes launch_gets(memcoro::client& c, int n, int keys)
{
    auto out = std::make_shared<std::vector<outcome>>(static_cast<std::size_t>(n));
    launch_range(c, out, 0, n, keys);
    return out;
}

inline bool all_done(const outcomes& v)
{
    return std::all_of(v->begin(), v->end(), [](const outcome& o) { return o.done; });
}

inline int count_done(const outcomes& v)
{
    return static_cast<int>(std::count_if(v->begin(), v->end(), [](auto& o) { return o.done; }));
}

/// Successes (a hit with the requested key and its own value) of a launch_gets() batch.
inline int right_values(const outcomes& v, int keys)
{
    int right = 0;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const auto& o = (*v)[i];
        const int k = static_cast<int>(i) % keys;
        if (o.done && !o.ec && o.value && o.value->key == key_for(k) &&
            o.value->value == value_for(k))
            ++right;
    }
    return right;
}

/// Completions without an error that are not right: another key's value, a wrong value, or
/// a miss for a key that is stored. Must always be 0.
inline int wrong_values(const outcomes& v, int keys)
{
    int wrong = 0;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const auto& o = (*v)[i];
        if (!o.done || o.ec)
            continue;
        const int k = static_cast<int>(i) % keys;
        if (!o.value || o.value->key != key_for(k) || o.value->value != value_for(k))
            ++wrong;
    }
    return wrong;
}

/// Completions whose error is `ec`.
inline int count_error(const outcomes& v, std::error_code ec)
{
    return static_cast<int>(
        std::count_if(v->begin(), v->end(), [&](auto& o) { return o.done && o.ec == ec; }));
}

/// Largest latency of the batch, in ms.
inline double max_latency_ms(const outcomes& v)
{
    double m = 0;
    for (const auto& o : *v)
        if (o.done)
            m = std::max(m, o.latency_ms());
    return m;
}

/// A TCP port on 127.0.0.1 that refuses connections: bound, never listening (kept bound so
/// nobody else takes it).
class refusing_port {
public:
    explicit refusing_port(asio::io_context& ioc)
        : sock_(ioc)
    {
        sock_.open(asio::ip::tcp::v4());
        sock_.bind({asio::ip::make_address_v4("127.0.0.1"), 0});
    }
    std::uint16_t port() const { return sock_.local_endpoint().port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

private:
    asio::ip::tcp::socket sock_;
};

/// A listener on 127.0.0.1 that never completes a handshake: backlog 0, never accepting, its
/// accept queue filled by a connection of its own, so further SYNs are dropped and connects
/// hang until the caller gives up.
class black_hole {
public:
    explicit black_hole(asio::io_context& ioc)
        : acceptor_(ioc)
    {
        acceptor_.open(asio::ip::tcp::v4());
        acceptor_.bind({asio::ip::make_address_v4("127.0.0.1"), 0});
        acceptor_.listen(0);
        fillers_.reserve(2);
        const asio::ip::tcp::endpoint ep = acceptor_.local_endpoint();
        for (int i = 0; i < 2; ++i) {
            auto& s = fillers_.emplace_back(ioc);
            s.open(asio::ip::tcp::v4());
            s.native_non_blocking(true);
            // Asio's connect() waits for the handshake even on a non-blocking socket; the
            // second one would wait minutes. EINPROGRESS is all we want.
            [[maybe_unused]] int rc = ::connect(s.native_handle(), ep.data(), ep.size());
        }
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

private:
    asio::ip::tcp::acceptor acceptor_;
    std::vector<asio::ip::tcp::socket> fillers_;
};

} // namespace memcoro::faults
