// A tour of memcoro: every kind of operation against real memcached servers, each step printed
// with what it does and what came back.
//
//   tour [host:port,...]
//
// With no argument and no MEMCACHED_SERVERS in the environment, the tour starts two memcached
// processes of its own on loopback ports the kernel chooses, and stops them at the end. On
// servers of your own it only touches keys that start with "tour:", which expire after five
// minutes.

#include <memcoro/client.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// ---- a memcached of our own ----------------------------------------------------------------

/// A memcached process on 127.0.0.1 and a port the kernel chose (`-p -1`: memcached writes the
/// port to $MEMCACHED_PORT_FILENAME). Killed (SIGKILL) and reaped by the destructor.
class memcached_process {
public:
    memcached_process()
    {
        char dir[] = "/tmp/memcoro-tour-XXXXXX";
        if (!::mkdtemp(dir))
            throw std::runtime_error("mkdtemp failed");
        dir_ = dir;
        const std::string port_file = dir_ + "/ports";

        const char* env = std::getenv("MEMCACHED_BINARY");
        std::string binary = env && *env ? env : "memcached";
        std::vector<std::string> args = {binary, "-l", "127.0.0.1", "-p", "-1", "-U", "0"};
        if (::geteuid() == 0) { // memcached refuses to run as root without -u
            args.push_back("-u");
            args.push_back("root");
        }
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        pid_ = ::fork();
        if (pid_ < 0)
            throw std::runtime_error("fork failed");
        if (pid_ == 0) {
#ifdef __linux__
            ::prctl(PR_SET_PDEATHSIG, SIGKILL); // no orphan if the tour itself is killed
#endif
            ::setenv("MEMCACHED_PORT_FILENAME", port_file.c_str(), 1);
            if (int null = ::open("/dev/null", O_RDWR); null >= 0) {
                ::dup2(null, 0);
                ::dup2(null, 1);
            }
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }

        // Wait for the port file's "TCP INET: <port>" line.
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            std::ifstream in(port_file);
            const std::string tag = "TCP INET: ";
            for (std::string line; std::getline(in, line);)
                if (line.starts_with(tag)) {
                    port_ = std::stoi(line.substr(tag.size()));
                    return;
                }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                stop();
                throw std::runtime_error(
                    fmt::format("could not start {} (set MEMCACHED_BINARY, or give servers as "
                                "the argument)",
                                binary));
            }
            std::this_thread::sleep_for(5ms);
        }
        stop();
        throw std::runtime_error("memcached did not report its port in time");
    }

    ~memcached_process()
    {
        stop();
    }
    memcached_process(const memcached_process&) = delete;
    memcached_process& operator=(const memcached_process&) = delete;

    std::string address() const
    {
        return fmt::format("127.0.0.1:{}", port_);
    }
    pid_t pid() const
    {
        return pid_;
    }

private:
    void stop() noexcept
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string dir_;
    pid_t pid_ = -1;
    int port_ = 0;
};

// ---- printing --------------------------------------------------------------------------------

void step(std::string_view title)
{
    fmt::print("\n== {}\n", title);
}

std::string show(const memcoro::get_result& r)
{
    if (!r)
        return "miss";
    return fmt::format("hit: value \"{}\", flags {}{}", r->value, r->flags,
                       r->cas ? fmt::format(", cas {}", r->cas) : std::string());
}

std::string show(const memcoro::arith_result& r)
{
    return r ? std::to_string(*r) : std::string("miss (no such key)");
}

// ---- the tour --------------------------------------------------------------------------------

/// Keys the tour writes expire after five minutes, so it leaves nothing behind for long.
const memcoro::store_options temporary{.expiry = 300s, .flags = 0};

/// One of the 100 concurrent readers: reads its own key and records what it got.
asio::awaitable<void> reader(memcoro::client& c, std::size_t i, std::vector<std::string>& got,
                             std::size_t& pending, asio::steady_timer& all_done)
{
    try {
        auto r = co_await c.async_get(fmt::format("tour:c{}", i));
        got[i] = r ? r->value : std::string("(miss)");
    } catch (const std::exception& e) { // (detached: nothing else would see it)
        got[i] = fmt::format("(error: {})", e.what());
    }
    if (--pending == 0)
        all_done.cancel();
}

std::string stat_of(const memcoro::stats_result& stats, std::string_view name)
{
    for (const auto& [k, v] : stats)
        if (k == name)
            return v;
    return "?";
}

asio::awaitable<void> tour(const memcoro::client_config& cfg)
{
    auto ex = co_await asio::this_coro::executor;
    memcoro::client c(ex, cfg);
    std::string list;
    for (const auto& s : cfg.servers)
        list += (list.empty() ? "" : ", ") + s.to_string();
    fmt::print("client over {} server(s): {}\n", cfg.servers.size(), list);
    if (cfg.servers.size() > 1)
        fmt::print("(each key lives on one of them, chosen by a hash of the key)\n");

    step("set and get");
    {
        auto s = co_await c.async_set("tour:greeting", "hello, memcached",
                                      {.expiry = 300s, .flags = 42});
        fmt::print("set tour:greeting = \"hello, memcached\" (flags 42) -> {}\n",
                   memcoro::to_string(s));
        auto r = co_await c.async_get("tour:greeting");
        fmt::print("get tour:greeting -> {}\n", show(r));
    }

    step("get into a reused item: no allocation once it is warm");
    {
        memcoro::item buf; // keep it: its strings' capacity is reused by the next get
        for (int i = 0; i < 2; ++i) {
            const bool hit = co_await c.async_get_into("tour:greeting", buf);
            fmt::print("get_into tour:greeting -> {} \"{}\" (value capacity {})\n",
                       hit ? "hit" : "miss", buf.value, buf.value.capacity());
        }
    }

    step("a miss is a value, not an error");
    {
        auto r = co_await c.async_get("tour:nothing-here");
        fmt::print("get tour:nothing-here -> {}\n", show(r));
    }

    step("add stores only new keys");
    {
        co_await c.async_delete("tour:fresh"); // from an earlier tour on the same servers
        auto a1 = co_await c.async_add("tour:greeting", "replaced?", temporary);
        fmt::print("add tour:greeting (exists) -> {}\n", memcoro::to_string(a1));
        auto a2 = co_await c.async_add("tour:fresh", "new", temporary);
        fmt::print("add tour:fresh (new)       -> {}\n", memcoro::to_string(a2));
        auto r = co_await c.async_get("tour:greeting");
        fmt::print("get tour:greeting -> {}\n", show(r));
    }

    step("check-and-set: gets, then cas");
    {
        co_await c.async_set("tour:doc", "version 1", temporary);
        auto read = co_await c.async_gets("tour:doc");
        fmt::print("gets tour:doc -> {}\n", show(read));
        const std::uint64_t token = read ? read->cas : 0;
        auto ok = co_await c.async_cas("tour:doc", "version 2", token, temporary);
        fmt::print("cas tour:doc = \"version 2\" with cas {} -> {}\n", token,
                   memcoro::to_string(ok));
        auto stale = co_await c.async_cas("tour:doc", "version 2b", token, temporary);
        fmt::print("cas tour:doc = \"version 2b\" with the same (now stale) cas -> {}\n",
                   memcoro::to_string(stale));
        auto gone = co_await c.async_cas("tour:no-doc", "x", token, temporary);
        fmt::print("cas tour:no-doc (missing) -> {}\n", memcoro::to_string(gone));
        auto r = co_await c.async_gets("tour:doc");
        fmt::print("gets tour:doc -> {}\n", show(r));
    }

    step("incr and decr");
    {
        co_await c.async_set("tour:hits", "10", temporary);
        fmt::print("set tour:hits = \"10\"\n");
        auto up = co_await c.async_incr("tour:hits", 5);
        fmt::print("incr tour:hits 5   -> {}\n", show(up));
        auto down = co_await c.async_decr("tour:hits", 3);
        fmt::print("decr tour:hits 3   -> {}\n", show(down));
        auto floor = co_await c.async_decr("tour:hits", 100);
        fmt::print("decr tour:hits 100 -> {} (memcached stops at 0)\n", show(floor));
        auto none = co_await c.async_incr("tour:no-counter", 1);
        fmt::print("incr tour:no-counter 1 -> {}\n", show(none));
    }

    step("append and prepend");
    {
        co_await c.async_set("tour:log", "b", temporary);
        auto a = co_await c.async_append("tour:log", ",c");
        fmt::print("append tour:log \",c\" -> {}\n", memcoro::to_string(a));
        auto p = co_await c.async_prepend("tour:log", "a,");
        fmt::print("prepend tour:log \"a,\" -> {}\n", memcoro::to_string(p));
        auto missing = co_await c.async_append("tour:no-log", "x");
        fmt::print("append tour:no-log (missing) -> {}\n", memcoro::to_string(missing));
        auto r = co_await c.async_get("tour:log");
        fmt::print("get tour:log -> {}\n", show(r));
    }

    step("touch and gat: new lifetimes");
    {
        auto t = co_await c.async_touch("tour:greeting", 600s);
        fmt::print("touch tour:greeting 600s -> {}\n", memcoro::to_string(t));
        auto none = co_await c.async_touch("tour:nothing-here", 600s);
        fmt::print("touch tour:nothing-here 600s -> {}\n", memcoro::to_string(none));
        auto g = co_await c.async_gat("tour:greeting", 300s);
        fmt::print("gat tour:greeting 300s -> {}\n", show(g));
        co_await c.async_set("tour:mayfly", "short-lived", temporary);
        auto gone = co_await c.async_touch("tour:mayfly", -1s);
        auto after = co_await c.async_get("tour:mayfly");
        fmt::print("touch tour:mayfly -1s -> {}, then get -> {}\n", memcoro::to_string(gone),
                   show(after));
    }

    step("multi-get: 10 keys in one round trip per server");
    {
        std::vector<std::string> keys;
        for (int i = 0; i < 10; ++i)
            keys.push_back(fmt::format("tour:m{}", i));
        for (int i = 0; i < 10; ++i) {
            if (i % 3 == 0)
                co_await c.async_delete(keys[i]); // leave every third key missing
            else
                co_await c.async_set(keys[i], fmt::format("value of m{}", i), temporary);
        }
        fmt::print("stored tour:m0..m9 except m0, m3, m6, m9\n");
        auto r = co_await c.async_get_multi(keys);
        fmt::print("get_multi of 10 keys -> {} hits, {} misses, {} errors\n", r.hits.size(),
                   keys.size() - r.hits.size() - r.errors.size(), r.errors.size());
        for (const auto& k : keys) {
            const memcoro::item* hit = r.find(k);
            fmt::print("  {:<8} {}\n", k, hit ? fmt::format("\"{}\"", hit->value) : "miss");
        }
    }

    step("100 concurrent gets from 100 coroutines on one connection");
    {
        // A client of the first server only: all 100 requests share its one connection and are
        // pipelined; every reply still reaches the coroutine that asked for it.
        memcoro::client_config one = cfg;
        one.servers.resize(1);
        memcoro::client solo(ex, one);
        constexpr std::size_t n = 100;
        for (std::size_t i = 0; i < n; ++i)
            co_await solo.async_set(fmt::format("tour:c{}", i), fmt::format("value-{}", i),
                                    temporary);
        auto before = co_await solo.async_stats();
        fmt::print("stored tour:c0..c99 on {} (its total_connections: {})\n",
                   one.servers.front().to_string(), stat_of(before, "total_connections"));

        std::vector<std::string> got(n);
        std::size_t pending = n;
        asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < n; ++i)
            asio::co_spawn(ex, reader(solo, i, got, pending, all_done), asio::detached);
        if (pending != 0) {
            std::error_code ec; // operation_aborted: the last reader cancelled the wait
            co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - start);

        std::size_t own = 0;
        for (std::size_t i = 0; i < n; ++i)
            if (got[i] == fmt::format("value-{}", i))
                ++own;
        fmt::print("{} of {} coroutines got their own value, in {} us altogether\n", own, n,
                   took.count());
        const std::size_t samples[] = {0, 1, 42, 77, 99};
        for (std::size_t i : samples)
            fmt::print("  coroutine {:>2}: get tour:c{} -> \"{}\"\n", i, i, got[i]);
        auto after = co_await solo.async_stats();
        fmt::print("total_connections afterwards: {} (no connection was opened for them)\n",
                   stat_of(after, "total_connections"));
        solo.close();
        if (own != n)
            throw std::runtime_error("some coroutine did not get its own value");
    }

    step("version and stats of each server");
    for (const auto& server : cfg.servers) {
        // version and stats are asked of one server: a client per server.
        memcoro::client_config one = cfg;
        one.servers.assign(1, server);
        memcoro::client per(ex, one);
        auto version = co_await per.async_version();
        auto stats = co_await per.async_stats();
        fmt::print("{}: memcached {}, pid {}, uptime {} s, {} items, {} get hits, {} get "
                   "misses, {} connections now\n",
                   server.to_string(), version, stat_of(stats, "pid"), stat_of(stats, "uptime"),
                   stat_of(stats, "curr_items"), stat_of(stats, "get_hits"),
                   stat_of(stats, "get_misses"), stat_of(stats, "curr_connections"));
        per.close();
    }

    step("delete");
    {
        auto d1 = co_await c.async_delete("tour:greeting");
        fmt::print("delete tour:greeting -> {}\n", memcoro::to_string(d1));
        auto d2 = co_await c.async_delete("tour:greeting");
        fmt::print("delete tour:greeting again -> {}\n", memcoro::to_string(d2));
        auto r = co_await c.async_get("tour:greeting");
        fmt::print("get tour:greeting -> {}\n", show(r));
    }

    step("errors are exceptions that say what and where");
    {
        const std::string bad_key = "has a space";
        try {
            co_await c.async_get(bad_key);
            fmt::print("get \"{}\" -> unexpectedly accepted\n", bad_key);
        } catch (const memcoro::error& e) {
            fmt::print("get \"{}\" -> memcoro::error: {} (code {}, nothing was sent)\n", bad_key,
                       e.what(), e.code().value());
        }
        co_await c.async_set("tour:text", "not a number", temporary);
        try {
            co_await c.async_incr("tour:text", 1);
            fmt::print("incr tour:text -> unexpectedly accepted\n");
        } catch (const memcoro::error& e) {
            fmt::print("incr tour:text (\"not a number\") -> memcoro::error: {}\n", e.what());
            fmt::print("  server \"{}\", server's words \"{}\"\n", e.server(), e.detail());
        }
        memcoro::client nowhere(ex, "127.0.0.1:1");
        try {
            co_await nowhere.async_get("tour:anything");
            fmt::print("get from 127.0.0.1:1 -> unexpectedly answered\n");
        } catch (const memcoro::error& e) {
            fmt::print("get from 127.0.0.1:1 -> memcoro::error: {}\n", e.what());
        }
        nowhere.close();
        auto r = co_await c.async_get("tour:log");
        fmt::print("and the client carries on: get tour:log -> {}\n", show(r));
    }

    c.close();
    fmt::print("\ndone.\n");
}

} // namespace

int main(int argc, char** argv)
{
    if (argc > 2 || (argc == 2 && (std::string_view(argv[1]) == "-h" ||
                                   std::string_view(argv[1]) == "--help"))) {
        fmt::print(stderr,
                   "usage: {} [host:port,...]\n"
                   "Without servers (argument or MEMCACHED_SERVERS), starts two "
                   "memcached processes of its own.\n",
                   argv[0]);
        return 2;
    }
    try {
        std::string servers;
        if (argc == 2)
            servers = argv[1];
        else if (const char* env = std::getenv("MEMCACHED_SERVERS"); env && *env)
            servers = env;

        // Our own memcached processes, stopped by their destructors on every way out.
        std::vector<std::unique_ptr<memcached_process>> own;
        if (servers.empty()) {
            for (int i = 0; i < 2; ++i) {
                own.push_back(std::make_unique<memcached_process>());
                fmt::print("started memcached pid {} on {}\n", own.back()->pid(),
                           own.back()->address());
                servers += (servers.empty() ? "" : ",") + own.back()->address();
            }
        }

        memcoro::client_config cfg;
        cfg.servers = memcoro::server_address::parse_list(servers);

        asio::io_context ioc;
        std::exception_ptr failure;
        asio::co_spawn(ioc, tour(cfg), [&](std::exception_ptr e) { failure = e; });
        ioc.run();
        if (failure)
            std::rethrow_exception(failure);
        for (auto& p : own)
            fmt::print("stopping memcached pid {}\n", p->pid());
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "tour: {}\n", e.what());
        return 1;
    }
}
