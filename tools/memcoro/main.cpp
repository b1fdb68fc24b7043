// memcoro: the shell's memcached client, built on memcoro::client. See docs/cli.md.
//
// Exit status: 0 hit/stored/done, 1 miss/not stored/not found/exists, 2 error (with one line
// on stderr that names the server and the cause).

#include <memcoro/client.hpp>
#include <memcoro/config.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/types.hpp>

#ifdef MEMCORO_HAVE_LOCATE
#include "locate.hpp"
#endif

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifndef MEMCORO_VERSION
#define MEMCORO_VERSION "unknown"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_miss = 1;
constexpr int exit_error = 2;

constexpr const char* default_servers = "127.0.0.1:11211";

constexpr const char* usage_text =
    R"(usage: memcoro [--servers LIST] [--distribution NAME] [--hash NAME] [--timeout MS]
               [--protocol text|meta|auto] COMMAND [ARGS] [OPTIONS]

The shell's memcached client. Options may appear before or after the command;
`--` ends the options (for a value that starts with "--").

Commands:
  get KEY [--meta]        write the value's bytes to stdout, exactly as stored; with
                          --meta (meta protocol), print the item's metadata instead as
                          `name value` lines: ttl (seconds left, -1: never expires),
                          last_access (seconds since it was read), hit_before (yes/no),
                          cas, size, flags, and stale when it was invalidated
                            memcoro get greeting
                            memcoro get session:42 --meta
  set KEY [VALUE]         store VALUE, or all of stdin when VALUE is omitted
                            memcoro set greeting hello
                            tar c dir | memcoro set backup --ttl 3600
  add KEY [VALUE]         store only if KEY does not exist
                            memcoro add lock "$$" --ttl 30
  replace KEY [VALUE]     store only if KEY exists
                            memcoro replace greeting "hello again"
  append KEY [VALUE]      add bytes at the end of an existing value
                            memcoro append log "line 2"
  prepend KEY [VALUE]     add bytes at the start of an existing value
                            memcoro prepend log "line 0"
  delete KEY              remove KEY
                            memcoro delete greeting
  incr KEY N              add N to a decimal value, print the new value
                            memcoro incr hits 1
  decr KEY N              subtract N (memcached stops at 0), print the new value
                            memcoro decr stock 5
  touch KEY TTL           set KEY's lifetime to TTL seconds
                            memcoro touch session 600
  flush [DELAY]           invalidate every item on every server (after DELAY seconds)
                            memcoro flush
  version                 print each server's version
                            memcoro version
  stats [GROUP] [--json]  print each server's statistics as `name value` lines, or a
                          JSON object {"host:port": {"name": "value", ...}, ...}
                          (GROUP: items, slabs, sizes, settings, conns, ...)
                            memcoro stats --json
                            memcoro stats settings
  locate ARGS...          print which server owns each key read from stdin; every
                          argument after `locate` is passed on (see memcoro locate --help)
                            memcoro locate --servers a:11211,b:11211 --distribution ketama <keys
  help                    print this text (`memcoro help locate`: locate's own help)
                            memcoro help

Options:
  --servers LIST   host:port[:weight][ name],... (default: $MEMCACHED_SERVERS, else
                   127.0.0.1:11211)
  --distribution NAME  how keys map to servers, as the fleet's other clients do it:
                   ketama (default), modula, consistent, ketama-spy, pecl-consistent,
                   pecl-standard, twemproxy-ketama, twemproxy-modula, or another client's
                   spelling: MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA (= consistent),
                   MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (= ketama), ... (docs/distributions.md)
  --hash NAME      the key hash (default: the distribution's own): one-at-a-time, md5, crc,
                   crc32, fnv1_32, fnv1a_32, fnv1_64, fnv1a_64, hsieh, murmur, murmur3, jenkins,
                   or MEMCACHED_HASH_*, fnv (PECL), crc32a (twemproxy); twemproxy's crc32 is crc
  --timeout MS     connect and per-operation timeout in milliseconds (default 1000)
  --ttl S          set/add/replace: lifetime in seconds (0: never expires, the default;
                   over 30 days: an absolute Unix time; negative: expires at once)
  --flags N        set/add/replace: the item's 32-bit client flags (default 0)
  --protocol NAME  text (default), meta: memcached's meta protocol (1.6.10 and later),
                   every reply checked against its request, or auto: meta where the
                   server's version has it, else text (default: $MEMCACHED_PROTOCOL)
  --meta           get: print the item's metadata (implies --protocol meta)
  --json           stats: print JSON
  -h, --help       print this text
  --version        print memcoro's version

Exit status:
  0  hit, stored, deleted, touched, done
  1  miss, not stored, not found, exists (nothing is printed)
  2  error: bad usage, invalid key, connection or server failure; one line on stderr
     naming the server and the cause, e.g. `memcoro: 127.0.0.1:1: connection failed`

Environment:
  MEMCACHED_SERVERS   the server list when --servers is not given
  MEMCACHED_PROTOCOL  text, meta or auto, when --protocol is not given
)";

/// A bad command line; its message becomes "memcoro: MESSAGE".
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct options {
    std::optional<std::string> servers;
    std::optional<std::string> distribution;
    std::optional<std::string> hash;
    std::chrono::milliseconds timeout{1000};
    std::optional<std::int64_t> ttl;
    std::optional<std::uint32_t> flags;
    std::optional<std::string> protocol;
    bool meta = false;
    bool json = false;
    bool help = false;
    bool version = false;
    std::string command;
    std::vector<std::string> args;        ///< positional arguments after the command
    std::vector<std::string> locate_args; ///< everything after `locate`

    // Numeric arguments, checked by check_command before anything is sent.
    std::uint64_t delta = 0;  ///< incr/decr N
    std::int64_t seconds = 0; ///< touch TTL, flush DELAY
    bool has_seconds = false;
};

template <class T>
T parse_number(std::string_view text, std::string_view what)
{
    T value{};
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if (!text.empty() && text.front() == '+')
        ++first;
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (text.empty() || ec != std::errc() || ptr != last)
        throw usage_error(fmt::format("{}: '{}' is not a valid number", what, text));
    return value;
}

options parse_command_line(int argc, char** argv)
{
    options o;
    bool options_ended = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        // Options are "--name" and "-h"; any other word, "-5" or "-tail" included, is an
        // argument.
        const bool is_option = !options_ended && (arg.starts_with("--") || arg == "-h");
        if (!is_option) {
            if (o.command.empty()) {
                o.command = std::string(arg);
                if (o.command == "locate") {
                    o.locate_args.assign(argv + i + 1, argv + argc);
                    break;
                }
            } else {
                o.args.emplace_back(arg);
            }
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") {
            o.help = true;
            continue;
        }
        if (arg == "--version") {
            o.version = true;
            continue;
        }
        if (arg == "--json") {
            o.json = true;
            continue;
        }
        if (arg == "--meta") {
            o.meta = true;
            continue;
        }
        // Options with a value: "--opt value" or "--opt=value".
        std::string_view name = arg;
        std::optional<std::string_view> value;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        if (name != "--servers" && name != "--timeout" && name != "--ttl" && name != "--flags" &&
            name != "--distribution" && name != "--hash" && name != "--protocol")
            throw usage_error(fmt::format("unknown option '{}'", arg));
        if (!value) {
            if (i + 1 == argc)
                throw usage_error(fmt::format("{} needs a value", name));
            value = argv[++i];
        }
        if (name == "--servers") {
            o.servers = std::string(*value);
        } else if (name == "--distribution") {
            o.distribution = std::string(*value);
        } else if (name == "--hash") {
            o.hash = std::string(*value);
        } else if (name == "--protocol") {
            o.protocol = std::string(*value);
        } else if (name == "--timeout") {
            const auto ms = parse_number<std::int64_t>(*value, "--timeout");
            if (ms <= 0)
                throw usage_error("--timeout must be a positive number of milliseconds");
            o.timeout = std::chrono::milliseconds(ms);
        } else if (name == "--ttl") {
            o.ttl = parse_number<std::int64_t>(*value, "--ttl");
        } else {
            o.flags = parse_number<std::uint32_t>(*value, "--flags");
        }
    }
    return o;
}

bool is_storage(std::string_view c)
{
    return c == "set" || c == "add" || c == "replace" || c == "append" || c == "prepend";
}

/// Checks the command's name, its argument count and the options it takes, and parses its
/// numeric arguments.
void check_command(options& o)
{
    struct arity {
        const char* name;
        std::size_t min, max;
        const char* synopsis;
    };
    static const arity table[] = {
        {"get", 1, 1, "get KEY [--meta]"},
        {"set", 1, 2, "set KEY [VALUE] [--ttl S] [--flags N]"},
        {"add", 1, 2, "add KEY [VALUE] [--ttl S] [--flags N]"},
        {"replace", 1, 2, "replace KEY [VALUE] [--ttl S] [--flags N]"},
        {"append", 1, 2, "append KEY [VALUE]"},
        {"prepend", 1, 2, "prepend KEY [VALUE]"},
        {"delete", 1, 1, "delete KEY"},
        {"incr", 2, 2, "incr KEY N"},
        {"decr", 2, 2, "decr KEY N"},
        {"touch", 2, 2, "touch KEY TTL"},
        {"flush", 0, 1, "flush [DELAY]"},
        {"version", 0, 0, "version"},
        {"stats", 0, 1, "stats [GROUP] [--json]"},
        {"help", 0, 1, "help [locate]"},
    };
    const arity* found = nullptr;
    for (const auto& a : table)
        if (o.command == a.name)
            found = &a;
    if (!found)
        throw usage_error(fmt::format("unknown command '{}' (see memcoro --help)", o.command));
    if (o.args.size() < found->min || o.args.size() > found->max)
        throw usage_error(fmt::format("{} arguments: usage: memcoro {}",
                                      o.args.size() < found->min ? "missing" : "too many",
                                      found->synopsis));
    const bool takes_store_options =
        o.command == "set" || o.command == "add" || o.command == "replace";
    if ((o.ttl || o.flags) && !takes_store_options)
        throw usage_error(
            fmt::format("--ttl and --flags apply to set, add and replace, not {}", o.command));
    if (o.json && o.command != "stats")
        throw usage_error(fmt::format("--json applies to stats, not {}", o.command));
    if (o.meta && o.command != "get")
        throw usage_error(fmt::format("--meta applies to get, not {}", o.command));
    if (o.command == "incr" || o.command == "decr")
        o.delta = parse_number<std::uint64_t>(o.args[1], o.command + " N");
    if (o.command == "touch") {
        o.seconds = parse_number<std::int64_t>(o.args[1], "touch TTL");
        o.has_seconds = true;
    }
    if (o.command == "flush" && !o.args.empty()) {
        o.seconds = parse_number<std::int64_t>(o.args[0], "flush DELAY");
        if (o.seconds < 0)
            throw usage_error("flush DELAY must not be negative");
        o.has_seconds = true;
    }
}

/// Reads all of stdin, byte for byte.
std::string read_stdin()
{
    std::string data;
    char buf[65536];
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, stdin);
        data.append(buf, n);
        if (n < sizeof buf) {
            if (std::ferror(stdin))
                throw std::runtime_error(
                    fmt::format("reading standard input: {}", std::strerror(errno)));
            if (std::feof(stdin))
                return data;
        }
    }
}

void write_stdout(std::string_view bytes)
{
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size())
        throw std::runtime_error(fmt::format("writing standard output: {}", std::strerror(errno)));
}

/// A client for one server of the configuration (stats and version are asked of each).
memcoro::client_config only(const memcoro::client_config& cfg, const memcoro::server_address& s)
{
    memcoro::client_config one = cfg;
    one.servers.assign(1, s);
    return one;
}

asio::awaitable<int> run_stats(const options& o, const memcoro::client_config& cfg)
{
    auto ex = co_await asio::this_coro::executor;
    const std::string group = o.args.empty() ? std::string() : o.args.front();
    const bool several = cfg.servers.size() > 1;
    nlohmann::ordered_json json = nlohmann::ordered_json::object();
    int rc = exit_ok;
    for (const auto& server : cfg.servers) {
        memcoro::client c(ex, only(cfg, server));
        memcoro::stats_result stats;
        std::string failure;
        try {
            stats = co_await c.async_stats(group);
        } catch (const memcoro::error& e) {
            failure = e.what();
        }
        c.close();
        if (!failure.empty()) {
            fmt::print(stderr, "memcoro: {}\n", failure);
            rc = exit_error;
            continue;
        }
        if (o.json) {
            auto& obj = json[server.to_string()] = nlohmann::ordered_json::object();
            for (const auto& [name, value] : stats)
                obj[name] = value;
            continue;
        }
        std::string text;
        if (several)
            text += fmt::format("[{}]\n", server.to_string());
        for (const auto& [name, value] : stats)
            text += fmt::format("{} {}\n", name, value);
        write_stdout(text);
    }
    if (o.json)
        write_stdout(json.dump(2) + "\n");
    co_return rc;
}

asio::awaitable<int> run_version(const memcoro::client_config& cfg)
{
    auto ex = co_await asio::this_coro::executor;
    const bool several = cfg.servers.size() > 1;
    int rc = exit_ok;
    for (const auto& server : cfg.servers) {
        memcoro::client c(ex, only(cfg, server));
        std::string version;
        std::string failure;
        try {
            version = co_await c.async_version();
        } catch (const memcoro::error& e) {
            failure = e.what();
        }
        c.close();
        if (!failure.empty()) {
            fmt::print(stderr, "memcoro: {}\n", failure);
            rc = exit_error;
        } else if (several) {
            write_stdout(fmt::format("{} {}\n", server.to_string(), version));
        } else {
            write_stdout(version + "\n");
        }
    }
    co_return rc;
}

/// The key commands, on one client spanning every server.
asio::awaitable<int> run_key_command(const options& o, const memcoro::client_config& cfg,
                                     const std::string& value)
{
    memcoro::client c(co_await asio::this_coro::executor, cfg);
    const std::string& cmd = o.command;
    const std::string key = o.args.empty() ? std::string() : o.args.front();
    int rc = exit_ok;
    std::exception_ptr failure;
    try {
        if (cmd == "get" && o.meta) {
            auto r = co_await c.async_meta_get(key, {.item_info = true});
            if (r) {
                std::string lines;
                const auto seconds = [](const auto& d) { return d ? d->count() : 0; };
                lines += fmt::format("ttl {}\n", seconds(r->ttl_left));
                lines += fmt::format("last_access {}\n", seconds(r->last_access));
                lines +=
                    fmt::format("hit_before {}\n", r->hit_before.value_or(false) ? "yes" : "no");
                lines += fmt::format("cas {}\n", r->item.cas);
                lines += fmt::format("size {}\n", r->size.value_or(r->item.value.size()));
                lines += fmt::format("flags {}\n", r->item.flags);
                if (r->stale)
                    lines += "stale yes\n";
                write_stdout(lines);
            } else {
                rc = exit_miss;
            }
        } else if (cmd == "get") {
            auto r = co_await c.async_get(key);
            if (r)
                write_stdout(r->value);
            else
                rc = exit_miss;
        } else if (is_storage(cmd)) {
            memcoro::store_options so;
            so.expiry = memcoro::ttl(o.ttl.value_or(0));
            so.flags = o.flags.value_or(0);
            memcoro::store_status s = memcoro::store_status::stored;
            if (cmd == "set")
                s = co_await c.async_set(key, value, so);
            else if (cmd == "add")
                s = co_await c.async_add(key, value, so);
            else if (cmd == "replace")
                s = co_await c.async_replace(key, value, so);
            else if (cmd == "append")
                s = co_await c.async_append(key, value);
            else
                s = co_await c.async_prepend(key, value);
            rc = s == memcoro::store_status::stored ? exit_ok : exit_miss;
        } else if (cmd == "delete") {
            auto s = co_await c.async_delete(key);
            rc = s == memcoro::delete_status::deleted ? exit_ok : exit_miss;
        } else if (cmd == "incr" || cmd == "decr") {
            memcoro::arith_result r;
            if (cmd == "incr")
                r = co_await c.async_incr(key, o.delta);
            else
                r = co_await c.async_decr(key, o.delta);
            if (r)
                write_stdout(fmt::format("{}\n", *r));
            else
                rc = exit_miss;
        } else if (cmd == "touch") {
            auto s = co_await c.async_touch(key, memcoro::ttl(o.seconds));
            rc = s == memcoro::touch_status::touched ? exit_ok : exit_miss;
        } else if (cmd == "flush") {
            if (o.has_seconds)
                co_await c.async_flush_all(std::chrono::seconds(o.seconds));
            else
                co_await c.async_flush_all();
        }
    } catch (...) {
        failure = std::current_exception();
    }
    c.close();
    if (failure)
        std::rethrow_exception(failure);
    co_return rc;
}

asio::awaitable<int> run(const options& o, const memcoro::client_config& cfg,
                         const std::string& value)
{
    if (o.command == "stats")
        co_return co_await run_stats(o, cfg);
    if (o.command == "version")
        co_return co_await run_version(cfg);
    co_return co_await run_key_command(o, cfg, value);
}

std::string strip_prefix(std::string message)
{
    constexpr std::string_view prefix = "memcoro: ";
    if (message.starts_with(prefix))
        message.erase(0, prefix.size());
    return message;
}

int dispatch_locate(const options& o)
{
    std::vector<std::string> args;
    // The global server list first, so that a --servers after `locate` wins.
    const char* env = std::getenv("MEMCACHED_SERVERS");
    if (o.servers) {
        args.push_back("--servers");
        args.push_back(*o.servers);
    } else if (env && *env) {
        args.push_back("--servers");
        args.push_back(env);
    }
    if (o.distribution) {
        args.push_back("--distribution");
        args.push_back(*o.distribution);
    }
    if (o.hash) {
        args.push_back("--hash");
        args.push_back(*o.hash);
    }
    args.insert(args.end(), o.locate_args.begin(), o.locate_args.end());
#ifdef MEMCORO_HAVE_LOCATE
    return locate_main(args, std::cin, std::cout, std::cerr);
#else
    // TODO(locate): wire locate_main here once tools/memcoro/locate.cpp exists.
    std::cerr << "memcoro: locate is not available in this build\n";
    return exit_error;
#endif
}

int main_impl(int argc, char** argv)
{
    options o = parse_command_line(argc, argv);
    if (o.help || o.command == "help") {
        if (o.command == "help" && !o.args.empty()) {
            if (o.args.front() != "locate")
                throw usage_error(fmt::format("no help for '{}'", o.args.front()));
            options loc;
            loc.locate_args.push_back("--help");
            return dispatch_locate(loc);
        }
        write_stdout(usage_text);
        return exit_ok;
    }
    if (o.version) {
        write_stdout("memcoro " MEMCORO_VERSION "\n");
        return exit_ok;
    }
    if (o.command.empty())
        throw usage_error("no command given (see memcoro --help)");
    if (o.command == "locate")
        return dispatch_locate(o);
    check_command(o);

    memcoro::client_config cfg;
    std::string servers = default_servers;
    if (o.servers) {
        servers = *o.servers;
    } else if (const char* env = std::getenv("MEMCACHED_SERVERS"); env && *env) {
        servers = env;
    }
    try {
        cfg.servers = memcoro::server_address::parse_list(servers);
    } catch (const std::invalid_argument& e) {
        throw usage_error(strip_prefix(e.what()));
    }
    if (cfg.servers.empty())
        throw usage_error(fmt::format("no server in '{}'", servers));
    cfg.connect_timeout = o.timeout;
    cfg.op_timeout = o.timeout;
    std::optional<std::string> protocol = o.protocol;
    if (!protocol)
        if (const char* env = std::getenv("MEMCACHED_PROTOCOL"); env && *env)
            protocol = env;
    if (protocol && *protocol == "meta")
        cfg.protocol = memcoro::protocol::meta;
    else if (protocol && *protocol == "auto")
        cfg.protocol = memcoro::protocol::automatic;
    else if (protocol && *protocol != "text")
        throw usage_error(fmt::format("unknown protocol '{}' (text, meta or auto)", *protocol));
    if (o.meta) {
        // (auto stays auto: a server that speaks text refuses it with not_supported.)
        if (o.protocol && cfg.protocol == memcoro::protocol::text)
            throw usage_error("--meta needs the meta protocol, not --protocol text");
        if (cfg.protocol != memcoro::protocol::automatic)
            cfg.protocol = memcoro::protocol::meta;
    }
    if (o.distribution) {
        // memcoro's names or another client's spelling, which may stand for a key hash too
        // (MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED: one-at-a-time); --hash still wins.
        auto d = memcoro::ring::parse_distribution(*o.distribution);
        if (!d)
            throw usage_error(fmt::format("unknown distribution '{}'", *o.distribution));
        cfg.distribution = d->distribution;
        cfg.hash = d->hash;
    }
    if (o.hash) {
        auto h = memcoro::ring::parse_hash(*o.hash);
        if (!h)
            throw usage_error(fmt::format("unknown hash '{}'", *o.hash));
        cfg.hash = *h;
    }

    // The value comes from the command line, or all of stdin, before anything is sent.
    std::string value;
    if (is_storage(o.command))
        value = o.args.size() > 1 ? o.args[1] : read_stdin();

    asio::io_context ioc;
    int rc = exit_error;
    std::exception_ptr failure;
    asio::co_spawn(ioc, run(o, cfg, value), [&](std::exception_ptr e, int r) {
        failure = e;
        rc = r;
    });
    ioc.run();
    if (failure)
        std::rethrow_exception(failure);
    if (std::fflush(stdout) != 0)
        throw std::runtime_error(fmt::format("writing standard output: {}", std::strerror(errno)));
    return rc;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        return main_impl(argc, argv);
    } catch (const memcoro::error& e) {
        std::fprintf(stderr, "memcoro: %s\n", e.what());
    } catch (const usage_error& e) {
        std::fprintf(stderr, "memcoro: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "memcoro: %s\n", strip_prefix(e.what()).c_str());
    }
    return exit_error;
}
