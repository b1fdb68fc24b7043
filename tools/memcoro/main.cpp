// memcoro: the shell's memcached client, built on memcoro::client. See docs/cli.md.
//
// Exit status: 0 hit/stored/done, 1 miss/not stored/not found/exists, 2 error (with one line
// on stderr that names the server and the cause).
//
// The commands are a table (name, synopsis, argument counts, options, help, handler), and one
// parser reads every command line against it.

#include "dump.hpp"
#include "errors.hpp"
#include "locate.hpp"
#include "servers.hpp"

#include <memcoro/client.hpp>
#include <memcoro/config.hpp>
#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>
#include <memcoro/server_address.hpp>
#include <memcoro/server_list.hpp>
#include <memcoro/server_list_sources.hpp>
#include <memcoro/tls.hpp>
#include <memcoro/types.hpp>
#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>
#include <memcoro/value/options.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#ifndef MEMCORO_VERSION
#define MEMCORO_VERSION "unknown"
#endif

namespace {

constexpr int exit_ok = 0;
constexpr int exit_miss = 1;
constexpr int exit_error = 2;

constexpr const char* default_servers = "127.0.0.1:11211";

/// A bad command line; its message becomes "memcoro: MESSAGE".
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

using json = nlohmann::ordered_json;

/// What an error line starts with: "memcoro", or "memcoro locate" for locate's.
std::string error_prefix = "memcoro";

/// The cause of each server's last failed connection ("host:port" → refused, "certificate has
/// expired", ...), as the client's trace hook reports it.
std::map<std::string, std::error_code, std::less<>> connect_failures;

// ---- options ---------------------------------------------------------------------------------

/// The options a command may take besides the global ones (a bit set).
enum command_option : unsigned {
    opt_ttl = 1u << 0,
    opt_flags = 1u << 1,
    opt_meta = 1u << 2,
    opt_json = 1u << 3,
    opt_analyze = 1u << 4,
    opt_mode = 1u << 5,  ///< --set, --add, --replace (cp)
    opt_bench = 1u << 6, ///< --concurrency, --duration, --ops, --keys, --value-size, --get-ratio
    opt_all = 1u << 7,
    opt_decode = 1u << 8,
    opt_value_store = 1u << 9, ///< --compress, --type, --codec, --compress-threshold (set, add...)
    opt_down = 1u << 10,       ///< locate --down
    opt_server_source = 1u << 11, ///< servers --file, --store
    opt_server_entry = 1u << 12,  ///< servers add --weight, --name, --down
};

struct option_spec {
    const char* name;
    const char* value_name; ///< nullptr: a switch
    unsigned bit;           ///< 0: a global option
    const char* help;
};

constexpr option_spec option_table[] = {
    {"--servers", "LIST", 0,
     "host:port[:weight][ name],... or a Unix socket path (default: $MEMCACHED_SERVERS, else "
     "127.0.0.1:11211)"},
    {"--server-list", "FILE", 0,
     "take the servers, distribution and hash from --domain's list in FILE, a server list\n"
     "file as `memcoro servers --file` writes it; servers listed down start marked down"},
    {"--server-list-store", "HOST:PORT", 0,
     "the same, from --domain's list kept in the memcached at HOST:PORT (the item\n"
     "memcoro.servers.DOMAIN, as `memcoro servers --store` writes it)"},
    {"--domain", "NAME", 0,
     "the application domain whose list --server-list, --server-list-store and servers use"},
    {"--distribution", "NAME", 0,
     "how keys map to servers, as the fleet's other clients do it: ketama (default), modula,\n"
     "consistent, ketama-spy, pecl-consistent, pecl-standard, twemproxy-ketama,\n"
     "twemproxy-modula, or another client's spelling: MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA\n"
     "(= consistent), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (= ketama), ... "
     "(docs/distributions.md)"},
    {"--hash", "NAME", 0,
     "the key hash (default: the distribution's own): one-at-a-time, md5, crc, crc32,\n"
     "fnv1_32, fnv1a_32, fnv1_64, fnv1a_64, hsieh, murmur, murmur3, jenkins, or\n"
     "MEMCACHED_HASH_*, fnv (PECL), crc32a (twemproxy); twemproxy's crc32 is crc"},
    {"--prefix", "P", 0,
     "a key prefix (namespace) sent before every key and taken off the keys printed, as\n"
     "libmemcached's MEMCACHED_CALLBACK_PREFIX_KEY and php-memcached's OPT_PREFIX_KEY; keys\n"
     "are placed without it (default: $MEMCACHED_PREFIX)"},
    {"--hash-with-prefix", nullptr, 0,
     "place keys by the hash of --prefix and key together\n"
     "(MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY)"},
    {"--timeout", "MS", 0, "connect and per-operation timeout in milliseconds (default 1000)"},
    {"--protocol", "NAME", 0,
     "text (default), meta: memcached's meta protocol (1.6.10 and later), every reply\n"
     "checked against its request, or auto: meta where the server's version has it, else text\n"
     "(default: $MEMCACHED_PROTOCOL)"},
    {"--tls", nullptr, 0,
     "reach every server over TLS (without it: only the servers written tls://host:port)"},
    {"--cacert", "FILE", 0,
     "PEM file of the certificate authorities that sign the servers' certificates (default:\n"
     "the system's store)"},
    {"--capath", "DIR", 0, "directory of CA certificates, with hashed names (openssl rehash)"},
    {"--cert", "FILE", 0,
     "client certificate (PEM), for servers that ask for one (mutual TLS: memcached's\n"
     "ssl_verify_mode)"},
    {"--key", "FILE", 0, "the client certificate's private key (default: in --cert's file)"},
    {"--tls-server-name", "NAME", 0,
     "the name sent as SNI and checked against the server's certificate (default: the\n"
     "server's host)"},
    {"--tls-no-verify", nullptr, 0,
     "do not check the server's certificate (its chain nor its name): insecure, for tests"},
    {"--user", "NAME", 0,
     "authenticate as NAME (memcached -Y); the password comes from --password-file,\n"
     "$MEMCACHED_PASSWORD_FILE or $MEMCACHED_PASSWORD (default: $MEMCACHED_USERNAME)"},
    {"--password-file", "FILE", 0,
     "the password: FILE's first line (no option takes a password itself)"},
    {"--udp", nullptr, 0,
     "gets over UDP (memcached -U) to each server's TCP port number; writes still go over\n"
     "TCP, and a get whose reply is lost is sent again over TCP. Cleartext: not with TLS or\n"
     "--user"},
    {"--udp-port", "N", 0, "gets over UDP to port N of every server (implies --udp)"},
    {"--value-format", "NAME", 0,
     "the layout of a value's type, compression and user flags for get/gets --decode and\n"
     "set/add/replace/cas --compress/--type: memcoro (the default), php-memcached or\n"
     "pecl-memcache, to share\n"
     "values with PHP's clients (default: $MEMCACHED_VALUE_FORMAT); the other commands move\n"
     "bytes and flags as they are"},
    {"--ttl", "S", opt_ttl,
     "lifetime in seconds (0: never expires, the default; over 30 days: an absolute Unix\n"
     "time; negative: expires at once)"},
    {"--flags", "N", opt_flags,
     "the item's 32-bit client flags (default 0); with set's --compress or --type, the\n"
     "user flags the value format keeps beside its own bits"},
    {"--meta", nullptr, opt_meta,
     "print the item's metadata instead of its value (implies --protocol meta)"},
    {"--decode", nullptr, opt_decode,
     "read each value in --value-format: decompressed, with the type and user flags its\n"
     "flags give"},
    {"--compress", nullptr, opt_value_store,
     "store the value in --value-format, compressed as the format's PHP client does by\n"
     "default (its codec, from its threshold on, if that saves enough)"},
    {"--type", "TYPE", opt_value_store,
     "store the value in --value-format as TYPE: bytes (the default), integer, floating,\n"
     "boolean or json"},
    {"--codec", "NAME", opt_value_store,
     "compress with NAME (implies --compress): zlib, fastlz, zstd or lz4, one the value\n"
     "format has"},
    {"--compress-threshold", "N", opt_value_store,
     "compress values of N bytes and more (implies --compress)"},
    {"--json", nullptr, opt_json, "print JSON"},
    {"--analyze", nullptr, opt_analyze,
     "memory use, hit ratio, evictions and the fullest slab class, per server and in total"},
    {"--all", nullptr, opt_all, "list every error code (the same as giving no CODE)"},
    {"--down", "HOST:PORT[,...]", opt_down,
     "place keys as the distribution's own client does while these servers are down\n"
     "(down_policy::fleet); `-` for a key that client fails"},
    {"--file", "FILE", opt_server_source,
     "the server list file to read or edit (created by the first add; edited under a lock\n"
     "on FILE.lock, written through a temporary file renamed over it)"},
    {"--store", "HOST:PORT", opt_server_source,
     "the memcached that keeps the list, under the key memcoro.servers.DOMAIN (edited with\n"
     "gets and cas, started over when another edit came first)"},
    {"--weight", "N", opt_server_entry, "the new server's weight (default 1)"},
    {"--name", "NAME", opt_server_entry,
     "the new server's name (hashed instead of host:port by the twemproxy distributions)"},
    {"--down", nullptr, opt_server_entry,
     "add the server marked down (after the command: before it, --down is locate's)"},
    {"--set", nullptr, opt_mode, "store every file, whether its key exists or not (the default)"},
    {"--add", nullptr, opt_mode, "store only the files whose key does not exist"},
    {"--replace", nullptr, opt_mode, "store only the files whose key exists"},
    {"--concurrency", "N", opt_bench,
     "requests in flight at once, each from a caller of its own sharing one client (default 16)"},
    {"--duration", "S", opt_bench, "run for S seconds (default 5, unless --ops is given)"},
    {"--ops", "N", opt_bench, "stop after N requests in all, instead of after a duration"},
    {"--keys", "N", opt_bench,
     "how many distinct keys, each request's key drawn uniformly from them (default 10000)"},
    {"--value-size", "B", opt_bench, "the bytes of each value set (default 100)"},
    {"--zipf", "S", opt_bench,
     "key popularity: 0 uniform (the default), else Zipf's law with exponent S (key i drawn with "
     "probability proportional to 1/(i+1)^S; up to 10,000,000 keys)"},
    {"--get-ratio", "R", opt_bench,
     "the fraction of requests that are gets, the others sets (0 to 1, default 0.9)"},
    {"-h", nullptr, 0, "print the help (of the command, when one is given)"},
    {"--help", nullptr, 0, "print the help (of the command, when one is given)"},
    {"--version", nullptr, 0, "print memcoro's version"},
};

/// The command options `command` takes (0 for no such command).
unsigned command_options(std::string_view command);

/// The option `name`; where two commands give a name different meanings (--down: locate's list
/// of servers, servers add's switch), the one `command` takes, else the first.
const option_spec* find_option(std::string_view name, std::string_view command = {})
{
    const option_spec* first = nullptr;
    for (const auto& o : option_table)
        if (name == o.name) {
            if (!first)
                first = &o;
            if (o.bit & command_options(command))
                return &o;
        }
    return first;
}

/// The command line, parsed.
struct options {
    std::optional<std::string> servers;
    std::optional<std::string> server_list, server_list_store, domain;
    std::optional<std::string> file, store; ///< servers --file, --store
    std::optional<std::uint32_t> weight;    ///< servers add --weight
    std::optional<std::string> server_name; ///< servers add --name
    bool add_down = false;                  ///< servers add --down
    std::optional<std::string> distribution;
    std::optional<std::string> hash;
    std::optional<std::string> down; ///< locate --down
    std::chrono::milliseconds timeout{1000};
    std::optional<std::int64_t> ttl;
    std::optional<std::uint32_t> flags;
    std::optional<std::string> protocol;
    std::optional<std::string> prefix; ///< --prefix
    bool hash_with_prefix = false;     ///< --hash-with-prefix
    bool tls = false;
    std::optional<std::string> cacert, capath, cert, key, tls_server_name;
    bool tls_no_verify = false;
    std::optional<std::string> user, password_file;
    bool udp = false;
    std::optional<std::uint16_t> udp_port;
    std::optional<std::string> value_format;
    bool decode = false;
    bool compress = false;                  ///< --compress (or --codec, --compress-threshold)
    std::optional<std::string> type, codec; ///< --type, --codec
    std::optional<std::size_t> compress_threshold;         ///< --compress-threshold
    std::string mode = "--set";                            ///< cp: --set, --add or --replace
    std::map<std::string, std::string, std::less<>> bench; ///< bench: option name → value
    bool meta = false;
    bool json = false;
    bool analyze = false;
    bool all = false;
    bool help = false;
    bool version = false;
    unsigned given = 0;                   ///< the command options given (command_option bits)
    std::vector<std::string> given_names; ///< their spellings, for messages
    std::string command;
    std::vector<std::string> args; ///< positional arguments after the command
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

/// A server's weight: 1 to 2^32 - 1.
std::uint32_t positive_weight(std::string_view text, std::string_view what)
{
    const auto w = parse_number<std::uint32_t>(text, what);
    if (w == 0)
        throw usage_error(fmt::format("{}: a weight is at least 1", what));
    return w;
}

/// The one parser of every command line. Options are "--name", "--name=value", "--name value"
/// and "-h"; they may come before or after the command; any other word ("-5" and "-tail"
/// included) is the command or one of its arguments; "--" ends the options.
options parse_command_line(int argc, char** argv)
{
    options o;
    bool options_ended = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool is_option = !options_ended && (arg.starts_with("--") || arg == "-h");
        if (!is_option) {
            if (o.command.empty())
                o.command = std::string(arg);
            else
                o.args.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_ended = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        const option_spec* spec = find_option(name, o.command);
        if (!spec)
            throw usage_error(fmt::format("unknown option '{}'", arg));
        if (!spec->value_name && value)
            throw usage_error(fmt::format("{} takes no value", name));
        if (spec->value_name && !value) {
            if (i + 1 == argc)
                throw usage_error(fmt::format("{} needs a value", name));
            value = argv[++i];
        }
        if (spec->bit) {
            o.given |= spec->bit;
            o.given_names.emplace_back(name);
        }
        if (name == "-h" || name == "--help")
            o.help = true;
        else if (name == "--version")
            o.version = true;
        else if (name == "--json")
            o.json = true;
        else if (name == "--meta")
            o.meta = true;
        else if (name == "--analyze")
            o.analyze = true;
        else if (name == "--all")
            o.all = true;
        else if (name == "--decode")
            o.decode = true;
        else if (name == "--compress")
            o.compress = true;
        else if (name == "--type")
            o.type = std::string(*value);
        else if (name == "--codec") {
            o.codec = std::string(*value);
            o.compress = true;
        } else if (name == "--compress-threshold") {
            o.compress_threshold = parse_number<std::size_t>(*value, "--compress-threshold");
            o.compress = true;
        } else if (name == "--value-format")
            o.value_format = std::string(*value);
        else if (spec->bit == opt_bench)
            o.bench[std::string(name)] = std::string(*value);
        else if (spec->bit == opt_mode)
            o.mode = std::string(name);
        else if (name == "--servers")
            o.servers = std::string(*value);
        else if (name == "--distribution")
            o.distribution = std::string(*value);
        else if (name == "--hash")
            o.hash = std::string(*value);
        else if (name == "--down" && spec->bit == opt_server_entry)
            o.add_down = true;
        else if (name == "--down")
            o.down = std::string(*value);
        else if (name == "--server-list")
            o.server_list = std::string(*value);
        else if (name == "--server-list-store")
            o.server_list_store = std::string(*value);
        else if (name == "--domain")
            o.domain = std::string(*value);
        else if (name == "--file")
            o.file = std::string(*value);
        else if (name == "--store")
            o.store = std::string(*value);
        else if (name == "--weight")
            o.weight = positive_weight(*value, "--weight");
        else if (name == "--name")
            o.server_name = std::string(*value);
        else if (name == "--protocol")
            o.protocol = std::string(*value);
        else if (name == "--prefix")
            o.prefix = std::string(*value);
        else if (name == "--hash-with-prefix")
            o.hash_with_prefix = true;
        else if (name == "--tls")
            o.tls = true;
        else if (name == "--tls-no-verify")
            o.tls_no_verify = true;
        else if (name == "--cacert")
            o.cacert = std::string(*value);
        else if (name == "--capath")
            o.capath = std::string(*value);
        else if (name == "--cert")
            o.cert = std::string(*value);
        else if (name == "--key")
            o.key = std::string(*value);
        else if (name == "--tls-server-name")
            o.tls_server_name = std::string(*value);
        else if (name == "--user")
            o.user = std::string(*value);
        else if (name == "--password-file")
            o.password_file = std::string(*value);
        else if (name == "--udp")
            o.udp = true;
        else if (name == "--udp-port") {
            const auto port = parse_number<std::int64_t>(*value, "--udp-port");
            if (port <= 0 || port > 65535)
                throw usage_error("--udp-port must be a port number, 1 to 65535");
            o.udp_port = static_cast<std::uint16_t>(port);
        } else if (name == "--timeout") {
            const auto ms = parse_number<std::int64_t>(*value, "--timeout");
            if (ms <= 0)
                throw usage_error("--timeout must be a positive number of milliseconds");
            o.timeout = std::chrono::milliseconds(ms);
        } else if (name == "--ttl")
            o.ttl = parse_number<std::int64_t>(*value, "--ttl");
        else if (name == "--flags")
            o.flags = parse_number<std::uint32_t>(*value, "--flags");
    }
    return o;
}

// ---- input and output ------------------------------------------------------------------------

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

void print_json(const json& j, bool pretty = true)
{
    write_stdout((pretty ? j.dump(2) : j.dump()) + "\n");
}

void report(std::string_view message)
{
    fmt::print(stderr, "memcoro: {}\n", message);
}

std::string base64(std::string_view in)
{
    static constexpr char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += digits[v >> 18];
        out += digits[(v >> 12) & 63];
        out += digits[(v >> 6) & 63];
        out += digits[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size())
            v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += digits[v >> 18];
        out += digits[(v >> 12) & 63];
        out += i + 1 < in.size() ? digits[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

bool is_utf8(std::string_view s)
{
    try {
        (void)json(s).dump();
        return true;
    } catch (const json::type_error&) {
        return false;
    }
}

/// Bytes as a JSON member: `name` when they are UTF-8 text, else `name_base64`.
void put_bytes(json& j, const std::string& name, std::string_view bytes)
{
    if (is_utf8(bytes))
        j[name] = bytes;
    else
        j[name + "_base64"] = base64(bytes);
}

// ---- configuration ---------------------------------------------------------------------------

std::string strip_prefix(std::string message)
{
    constexpr std::string_view prefix = "memcoro: ";
    if (message.starts_with(prefix))
        message.erase(0, prefix.size());
    return message;
}

std::vector<memcoro::server_address> server_list(const options& o)
{
    std::string servers = default_servers;
    if (o.servers)
        servers = *o.servers;
    else if (const char* env = std::getenv("MEMCACHED_SERVERS"); env && *env)
        servers = env;
    std::vector<memcoro::server_address> list;
    try {
        list = memcoro::server_address::parse_list(servers);
    } catch (const std::invalid_argument& e) {
        throw usage_error(strip_prefix(e.what()));
    }
    if (list.empty())
        throw usage_error(fmt::format("no server in '{}'", servers));
    return list;
}

/// A file an option names, which must be readable (a directory for --capath); checked here so
/// that the message names the option.
void check_readable(std::string_view option, const std::string& path, bool directory = false)
{
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
        throw usage_error(fmt::format("{}: cannot read '{}': {}", option, path,
                                      ec ? ec.message() : std::strerror(ENOENT)));
    if (directory != std::filesystem::is_directory(status))
        throw usage_error(
            fmt::format("{}: '{}' is {}a directory", option, path, directory ? "not " : ""));
    if (directory)
        return;
    std::ifstream in(path);
    if (!in)
        throw usage_error(
            fmt::format("{}: cannot read '{}': {}", option, path, std::strerror(errno)));
}

/// The first line of a password file (its line end dropped).
std::string read_password_file(std::string_view source, const std::string& path)
{
    check_readable(source, path);
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    if (in.bad())
        throw usage_error(fmt::format("{}: cannot read '{}'", source, path));
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    if (line.empty())
        throw usage_error(
            fmt::format("{}: the first line of '{}' (the password) is empty", source, path));
    return line;
}

std::optional<std::string> non_empty_env(const char* name)
{
    if (const char* v = std::getenv(name); v && *v)
        return std::string(v);
    return std::nullopt;
}

/// The credentials of memcached's authentication: --user and --password-file, each falling back
/// to the environment (MEMCACHED_USERNAME; MEMCACHED_PASSWORD_FILE, then MEMCACHED_PASSWORD).
/// A password is never taken from the command line itself.
std::optional<memcoro::credentials> credentials_of(const options& o)
{
    if (!o.user && !o.password_file) {
        try {
            return memcoro::credentials::from_environment();
        } catch (const std::invalid_argument& e) {
            throw usage_error(strip_prefix(e.what()));
        }
    }
    memcoro::credentials c;
    if (o.user)
        c.username = *o.user;
    else if (auto u = non_empty_env("MEMCACHED_USERNAME"))
        c.username = *u;
    else
        throw usage_error("--password-file needs a user name: --user NAME or $MEMCACHED_USERNAME");
    if (o.password_file)
        c.password = read_password_file("--password-file", *o.password_file);
    else if (auto f = non_empty_env("MEMCACHED_PASSWORD_FILE"))
        c.password = read_password_file("MEMCACHED_PASSWORD_FILE", *f);
    else if (auto p = non_empty_env("MEMCACHED_PASSWORD"))
        c.password = *p;
    else
        throw usage_error(fmt::format(
            "--user {}: no password: give --password-file FILE, or set MEMCACHED_PASSWORD_FILE "
            "or MEMCACHED_PASSWORD",
            c.username));
    if (const auto why = memcoro::invalid_credentials_reason(c); !why.empty())
        throw usage_error(fmt::format("bad credentials: {}", why));
    return c;
}

/// TLS and authentication. --tls puts every server on TLS. The other TLS options (--cacert,
/// --capath, --cert, --key, --tls-server-name, --tls-no-verify) imply --tls, unless the list
/// writes some server tls://host:port: then they apply to those servers, and the others stay
/// plain.
void apply_security(const options& o, memcoro::client_config& cfg)
{
    memcoro::tls_options& t = cfg.tls;
    const bool tls_options_given =
        o.cacert || o.capath || o.cert || o.key || o.tls_server_name || o.tls_no_verify;
    const bool tls_addresses =
        std::any_of(cfg.servers.begin(), cfg.servers.end(), [](const auto& s) { return s.tls; });
    t.enabled = o.tls || (tls_options_given && !tls_addresses);
    if ((t.enabled || tls_addresses) && !memcoro::tls_available())
        throw usage_error("TLS was asked for, but this memcoro was built without it (no OpenSSL)");
    if (t.enabled)
        for (const auto& s : cfg.servers)
            if (s.is_unix())
                throw usage_error(fmt::format("TLS is for TCP servers, not the Unix socket {} ({})",
                                              s.to_string(),
                                              o.tls ? "--tls" : "the TLS options imply --tls"));
    if (o.key && !o.cert)
        throw usage_error("--key needs --cert (the client certificate it belongs to)");
    if (o.cacert) {
        check_readable("--cacert", *o.cacert);
        t.ca_file = *o.cacert;
    }
    if (o.capath) {
        check_readable("--capath", *o.capath, true);
        t.ca_path = *o.capath;
    }
    if (o.cert) {
        check_readable("--cert", *o.cert);
        t.cert_file = *o.cert;
    }
    if (o.key) {
        check_readable("--key", *o.key);
        t.key_file = *o.key;
    }
    if (o.tls_server_name) {
        if (o.tls_server_name->empty())
            throw usage_error("--tls-server-name: the name is empty");
        t.server_name = *o.tls_server_name;
    }
    if (o.tls_no_verify) {
        t.verify_peer = false;
        t.verify_host = false;
    }
    cfg.auth = credentials_of(o);
    if (o.udp || o.udp_port) {
        if (t.enabled || tls_addresses || cfg.auth)
            throw usage_error("--udp: UDP is cleartext and unauthenticated, not for servers "
                              "reached over TLS or with --user");
        cfg.udp.enabled = true;
        cfg.udp.port = o.udp_port.value_or(0);
    }
}

/// A failure's line: the library's "server: what: detail (cause)", and a hint where memcached's
/// own words need one.
std::string failure_text(const memcoro::error& e)
{
    if (e.code() == memcoro::errc::client_error && e.detail() == "unauthenticated")
        return fmt::format("{} (the server requires authentication: --user NAME with a password)",
                           e.what());
    return e.what();
}

/// --value-format, else $MEMCACHED_VALUE_FORMAT, else memcoro.
memcoro::value::value_format value_format_of(const options& o)
{
    std::optional<std::string> name = o.value_format;
    const char* source = "--value-format";
    if (!name) {
        name = non_empty_env("MEMCACHED_VALUE_FORMAT");
        source = "MEMCACHED_VALUE_FORMAT";
    }
    if (!name)
        return memcoro::value::value_format::memcoro;
    const auto f = memcoro::value::parse_format(*name);
    if (!f)
        throw usage_error(
            fmt::format("{}: unknown value format '{}' (memcoro, php-memcached or pecl-memcache)",
                        source, *name));
    return *f;
}

/// The client configuration the options describe; `connects`: with TLS and credentials (locate
/// sends nothing). `list`: the list of --server-list or --server-list-store, whose servers,
/// distribution and hash replace those of the options.
memcoro::client_config make_config(const options& o, bool connects = true,
                                   const memcoro::server_list* list = nullptr)
{
    memcoro::client_config cfg;
    if (list)
        for (const auto& e : list->servers)
            cfg.servers.push_back(e.address);
    else
        cfg.servers = server_list(o);
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
    if (list) {
        cfg.distribution = list->distribution;
        cfg.hash = list->hash;
    }
    cfg.values.format = value_format_of(o);
    // The key prefix: --prefix, else $MEMCACHED_PREFIX (an empty --prefix: none).
    const char* prefix_source = "--prefix";
    std::optional<std::string> prefix = o.prefix;
    if (!prefix) {
        prefix = non_empty_env("MEMCACHED_PREFIX");
        prefix_source = "MEMCACHED_PREFIX";
    }
    if (prefix) {
        if (prefix->size() > memcoro::proto::max_key_prefix_length)
            throw usage_error(fmt::format("{}: a prefix is at most {} bytes, not {}", prefix_source,
                                          memcoro::proto::max_key_prefix_length, prefix->size()));
        if (!memcoro::proto::valid_key_prefix(*prefix))
            throw usage_error(fmt::format(
                "{}: a prefix is printable ASCII, without spaces or control bytes", prefix_source));
        cfg.key_prefix = *prefix;
    }
    if (o.hash_with_prefix && cfg.key_prefix.empty())
        throw usage_error("--hash-with-prefix needs a prefix: --prefix P or $MEMCACHED_PREFIX");
    cfg.hash_with_prefix = o.hash_with_prefix;
    if (connects) {
        apply_security(o, cfg);
        // The per-key failures of multi-key commands carry no cause: the trace hook keeps it.
        cfg.trace_level = memcoro::trace_level::warning;
        cfg.on_trace = [](const memcoro::trace_event& e) {
            if (e.kind == memcoro::trace_kind::connection_failed && e.cause)
                connect_failures.insert_or_assign(std::string(e.server), e.cause);
        };
    }
    return cfg;
}

/// A client for one server of the configuration (stats, version, ping: each server asked).
memcoro::client_config only(const memcoro::client_config& cfg, const memcoro::server_address& s)
{
    memcoro::client_config one = cfg;
    one.servers.assign(1, s);
    return one;
}

/// One invocation: the parsed options and, for commands that talk to servers, the client
/// configuration they describe.
struct invocation {
    options o;
    memcoro::client_config cfg;
    /// --server-list, --server-list-store: the list the servers come from.
    std::optional<memcoro::server_list> list;
    std::string value; ///< storage commands: the value (argument or stdin)
};

/// Runs a coroutine to its end on an io_context of its own; its exception comes out here.
int run_async(asio::awaitable<int> body)
{
    asio::io_context ioc;
    int rc = exit_error;
    std::exception_ptr failure;
    asio::co_spawn(ioc, std::move(body), [&](std::exception_ptr e, int r) {
        failure = e;
        rc = r;
    });
    ioc.run();
    if (failure)
        std::rethrow_exception(failure);
    return rc;
}

/// Runs `body(client)` with one client spanning every server, closed afterwards. With a server
/// list, the client starts from it: its version, and the servers it lists down marked down.
template <class Body>
asio::awaitable<int> with_client(const memcoro::client_config& cfg,
                                 const std::optional<memcoro::server_list>& list, Body body)
{
    memcoro::client c(co_await asio::this_coro::executor, cfg);
    if (list)
        c.apply_server_list(*list); // (on the client's executor: in force before any request)
    int rc = exit_error;
    std::exception_ptr failure;
    try {
        rc = co_await body(c);
    } catch (...) {
        failure = std::current_exception();
    }
    c.close();
    if (failure)
        std::rethrow_exception(failure);
    co_return rc;
}

template <class Body>
int run_with_client(const invocation& inv, Body body)
{
    return run_async(with_client(inv.cfg, inv.list, std::move(body)));
}

/// What failed a key of a multi-key command, which comes as an error code alone: its message,
/// and for a connection that could not be made (refused, a TLS certificate refused, ...) the
/// cause the trace hook saw.
std::string key_error(const memcoro::client& c, std::string_view key, std::error_code ec)
{
    std::string what = ec.message();
    using memcoro::errc;
    if (ec == errc::connection_failed || ec == errc::connect_timeout ||
        ec == errc::tls_handshake_failed || ec == errc::tls_verify_failed ||
        ec == errc::auth_failed)
        if (const auto it = connect_failures.find(c.server_for_key(key));
            it != connect_failures.end())
            what += fmt::format(" ({})", it->second.message());
    return what;
}

/// "host:port: what (key 'KEY')": a per-key failure, named by the server the key maps to.
std::string key_failure(const memcoro::client& c, std::string_view key, std::error_code ec)
{
    return fmt::format("{}: {} (key '{}')", c.server_for_key(key), key_error(c, key, ec), key);
}

// ---- retrieval -------------------------------------------------------------------------------

asio::awaitable<int> get_meta(const invocation& inv, memcoro::client& c)
{
    const std::string& key = inv.o.args.front();
    auto r = co_await c.async_meta_get(key, {.item_info = true});
    if (!r)
        co_return exit_miss;
    const auto seconds = [](const auto& d) -> std::int64_t { return d ? d->count() : 0; };
    const std::int64_t ttl = seconds(r->ttl_left);
    const std::int64_t last_access = seconds(r->last_access);
    const bool hit_before = r->hit_before.value_or(false);
    const std::uint64_t size = r->size.value_or(r->item.value.size());
    if (inv.o.json) {
        json j = json::object();
        put_bytes(j, "key", key);
        j["ttl"] = ttl;
        j["last_access"] = last_access;
        j["hit_before"] = hit_before;
        j["cas"] = r->item.cas;
        j["size"] = size;
        j["flags"] = r->item.flags;
        j["stale"] = r->stale;
        print_json(j);
        co_return exit_ok;
    }
    std::string lines;
    lines += fmt::format("ttl {}\n", ttl);
    lines += fmt::format("last_access {}\n", last_access);
    lines += fmt::format("hit_before {}\n", hit_before ? "yes" : "no");
    lines += fmt::format("cas {}\n", r->item.cas);
    lines += fmt::format("size {}\n", size);
    lines += fmt::format("flags {}\n", r->item.flags);
    if (r->stale)
        lines += "stale yes\n";
    write_stdout(lines);
    co_return exit_ok;
}

/// get and gets of one key or several. One key with get and no --json: the value's bytes
/// alone. Otherwise each hit as `VALUE KEY FLAGS BYTES[ CAS]`, a newline, the bytes and a
/// newline; or JSON.
asio::awaitable<int> get_keys(const invocation& inv, memcoro::client& c, bool with_cas)
{
    const auto& keys = inv.o.args;
    if (keys.size() == 1 && !with_cas && !inv.o.json) {
        auto r = co_await c.async_get(keys.front());
        if (!r)
            co_return exit_miss;
        write_stdout(r->value);
        co_return exit_ok;
    }
    memcoro::get_multi_result r;
    if (keys.size() == 1) {
        // One key: its own failure (the server's name, the cause) comes out as it is.
        memcoro::get_result one;
        if (with_cas)
            one = co_await c.async_gets(keys.front());
        else
            one = co_await c.async_get(keys.front());
        if (one) {
            r.hits.push_back(std::move(*one));
            r.slots.push_back({memcoro::key_status::hit, 0});
        } else {
            r.misses.push_back(keys.front());
            r.slots.push_back({memcoro::key_status::miss, 0});
        }
    } else if (with_cas) {
        r = co_await c.async_gets_multi(keys);
    } else {
        r = co_await c.async_get_multi(keys);
    }
    int rc = exit_ok;
    json hits = json::array(), misses = json::array(), errors = json::array();
    std::string text;
    for (const auto& k : r.outcomes()) {
        if (k.status == memcoro::key_status::hit) {
            const memcoro::item& it = *k.hit;
            if (inv.o.json) {
                json h = json::object();
                put_bytes(h, "key", it.key);
                put_bytes(h, "value", it.value);
                h["flags"] = it.flags;
                if (with_cas)
                    h["cas"] = it.cas;
                hits.push_back(std::move(h));
            } else {
                text += with_cas
                            ? fmt::format("VALUE {} {} {} {}\n", it.key, it.flags, it.value.size(),
                                          it.cas)
                            : fmt::format("VALUE {} {} {}\n", it.key, it.flags, it.value.size());
                text += it.value;
                text += '\n';
            }
        } else if (k.status == memcoro::key_status::miss) {
            if (rc == exit_ok)
                rc = exit_miss;
            if (is_utf8(k.key))
                misses.push_back(k.key);
            else
                misses.push_back(json{{"key_base64", base64(k.key)}});
        } else {
            rc = exit_error;
            const std::string why = key_failure(c, k.key, k.ec);
            report(why);
            json e = json::object();
            put_bytes(e, "key", k.key);
            e["server"] = c.server_for_key(k.key);
            e["error"] = key_error(c, k.key, k.ec);
            errors.push_back(std::move(e));
        }
    }
    if (inv.o.json) {
        json j = json::object();
        j["hits"] = std::move(hits);
        j["misses"] = std::move(misses);
        j["errors"] = std::move(errors);
        print_json(j);
    } else {
        write_stdout(text);
    }
    co_return rc;
}

/// Whether `ec` says that a value does not decode in the value format (rather than that its
/// server failed).
bool is_decode_error(std::error_code ec)
{
    return ec.category() == memcoro::value::value_category() ||
           ec.category() == memcoro::value::compression_category();
}

/// What failed a key of get --decode: its value's decoding, or its server (as key_error).
std::string decode_key_error(const memcoro::client& c, std::string_view key, std::error_code ec)
{
    if (!is_decode_error(ec))
        return key_error(c, key, ec);
    return fmt::format("the value does not decode as {}: {}",
                       memcoro::value::format_name(c.config().values.format), ec.message());
}

/// get --decode: each value read through the value operations in --value-format. One key and
/// no --json: the decoded bytes alone. Otherwise each hit as `VALUE KEY USER_FLAGS BYTES`, a
/// newline, the decoded bytes and a newline; or JSON with each hit's type, user flags and
/// codec. A value that does not decode fails its key only. gets --decode (`with_cas`): every
/// hit as `VALUE KEY USER_FLAGS BYTES CAS` (one key too), or in JSON with its "cas".
asio::awaitable<int> get_decoded(const invocation& inv, memcoro::client& c, bool with_cas)
{
    const auto& keys = inv.o.args;
    std::vector<memcoro::keyed_value<memcoro::value_item>> r;
    if (keys.size() == 1) {
        // One key: a failure of its server comes out as it is (the server's name, the cause);
        // a value that does not decode is this key's error.
        auto& one = r.emplace_back();
        one.key = keys.front();
        try {
            // (Not one conditional expression of two co_awaits: g++ 12 miscompiles it.)
            if (with_cas)
                one.value = co_await c.async_gets_value(keys.front());
            else
                one.value = co_await c.async_get_value(keys.front());
        } catch (const memcoro::error& e) {
            if (!is_decode_error(e.code()))
                throw;
            one.ec = e.code();
        }
    } else if (with_cas) {
        r = co_await c.async_gets_multi_values(keys);
    } else {
        r = co_await c.async_get_multi_values(keys);
    }
    const bool bare = keys.size() == 1 && !inv.o.json && !with_cas;
    int rc = exit_ok;
    json hits = json::array(), misses = json::array(), errors = json::array();
    std::string text;
    for (const auto& k : r) {
        if (k.ec) {
            rc = exit_error;
            const std::string why = decode_key_error(c, k.key, k.ec);
            report(fmt::format("{}: {} (key '{}')", c.server_for_key(k.key), why, k.key));
            json e = json::object();
            put_bytes(e, "key", k.key);
            e["server"] = c.server_for_key(k.key);
            e["error"] = why;
            errors.push_back(std::move(e));
        } else if (!k.value) {
            if (rc == exit_ok)
                rc = exit_miss;
            if (is_utf8(k.key))
                misses.push_back(k.key);
            else
                misses.push_back(json{{"key_base64", base64(k.key)}});
        } else if (bare) {
            text += k.value->data;
        } else if (inv.o.json) {
            const memcoro::value_item& v = *k.value;
            json h = json::object();
            put_bytes(h, "key", k.key);
            put_bytes(h, "value", v.data);
            h["type"] = memcoro::value::type_name(v.type);
            h["user_flags"] = v.user_flags;
            h["compressed_with"] = memcoro::value::codec_name(v.compressed_with);
            if (with_cas)
                h["cas"] = v.cas;
            hits.push_back(std::move(h));
        } else {
            const memcoro::value_item& v = *k.value;
            text += with_cas ? fmt::format("VALUE {} {} {} {}\n", k.key, v.user_flags,
                                           v.data.size(), v.cas)
                             : fmt::format("VALUE {} {} {}\n", k.key, v.user_flags, v.data.size());
            text += v.data;
            text += '\n';
        }
    }
    if (inv.o.json) {
        json j = json::object();
        j["hits"] = std::move(hits);
        j["misses"] = std::move(misses);
        j["errors"] = std::move(errors);
        print_json(j);
    } else {
        write_stdout(text);
    }
    co_return rc;
}

int cmd_get(invocation& inv)
{
    if (inv.o.meta && inv.o.args.size() > 1)
        throw usage_error("--meta takes one key");
    if (inv.o.meta && inv.o.decode)
        throw usage_error("give --meta or --decode, not both");
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        if (inv.o.meta)
            co_return co_await get_meta(inv, c);
        if (inv.o.decode)
            co_return co_await get_decoded(inv, c, false);
        co_return co_await get_keys(inv, c, false);
    });
}

int cmd_gets(invocation& inv)
{
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        if (inv.o.decode)
            co_return co_await get_decoded(inv, c, true);
        co_return co_await get_keys(inv, c, true);
    });
}

int cmd_exist(invocation& inv)
{
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        const auto& keys = inv.o.args;
        if (keys.size() == 1)
            co_return (co_await c.async_get(keys.front())) ? exit_ok : exit_miss;
        auto r = co_await c.async_get_multi(keys);
        int rc = exit_ok;
        for (const auto& k : r.outcomes()) {
            if (k.status == memcoro::key_status::error) {
                report(key_failure(c, k.key, k.ec));
                rc = exit_error;
            } else if (k.status == memcoro::key_status::miss && rc == exit_ok) {
                rc = exit_miss;
            }
        }
        co_return rc;
    });
}

// ---- storage ---------------------------------------------------------------------------------

memcoro::store_options store_options_of(const options& o)
{
    memcoro::store_options so;
    so.expiry = memcoro::ttl(o.ttl.value_or(0));
    so.flags = o.flags.value_or(0);
    return so;
}

/// The types set --type takes (value::type_name's names).
constexpr memcoro::value::value_type storable_types[] = {
    memcoro::value::value_type::bytes, memcoro::value::value_type::integer,
    memcoro::value::value_type::floating, memcoro::value::value_type::boolean,
    memcoro::value::value_type::json};

/// The codecs --codec takes (value::codec_name's names).
constexpr memcoro::value::codec compression_codecs[] = {
    memcoro::value::codec::zlib, memcoro::value::codec::fastlz, memcoro::value::codec::zstd,
    memcoro::value::codec::lz4};

/// Whether value format `f` refuses `errc` to `t`, codec `c` and `user_flags`: asked of
/// value::encode (with an empty value, so that nothing is compressed), which knows each
/// format's types, codecs and user flags.
bool format_refuses(memcoro::value::value_format f, memcoro::value::value_type t,
                    memcoro::value::codec c, std::uint32_t user_flags,
                    memcoro::value::value_errc errc)
{
    memcoro::value::compression_policy p;
    p.algorithm = c;
    std::string out;
    std::uint32_t flags = 0;
    return memcoro::value::encode(f, t, "", p, user_flags, out, flags) == errc;
}

/// set --compress / --type: the value's type and the write's options, checked against the value
/// format before anything is sent (each refusal a usage error naming its option).
struct value_write {
    memcoro::value::value_type type = memcoro::value::value_type::bytes;
    memcoro::value_store_options opts;
};

value_write value_write_of(const invocation& inv)
{
    using namespace memcoro::value;
    const options& o = inv.o;
    const value_format f = inv.cfg.values.format;
    const std::string_view fname = format_name(f);
    value_write w;
    if (o.type) {
        const auto* it = std::find_if(std::begin(storable_types), std::end(storable_types),
                                      [&](value_type t) { return type_name(t) == *o.type; });
        if (it == std::end(storable_types))
            throw usage_error(fmt::format(
                "unknown --type '{}' (bytes, integer, floating, boolean or json)", *o.type));
        w.type = *it;
        if (format_refuses(f, w.type, codec::none, 0, value_errc::type_not_in_format))
            throw usage_error(
                fmt::format("--type {}: the {} value format has no such type", *o.type, fname));
    }
    w.opts.expiry = memcoro::ttl(o.ttl.value_or(0));
    w.opts.user_flags = o.flags.value_or(0);
    if (format_refuses(f, value_type::bytes, codec::none, w.opts.user_flags,
                       value_errc::invalid_user_flags))
        throw usage_error(fmt::format(
            "--flags {}: not user flags the {} value format keeps (memcoro: 0 to 67108863, "
            "php-memcached: 0 to 65535, pecl-memcache: multiples of 65536)",
            w.opts.user_flags, fname));
    compression_policy p = default_compression(f);
    if (!o.compress)
        p.algorithm = codec::none;
    if (o.codec) {
        const auto* it = std::find_if(std::begin(compression_codecs), std::end(compression_codecs),
                                      [&](codec c) { return codec_name(c) == *o.codec; });
        if (it == std::end(compression_codecs))
            throw usage_error(
                fmt::format("unknown --codec '{}' (zlib, fastlz, zstd or lz4)", *o.codec));
        std::string allowed;
        for (const codec c : compression_codecs)
            if (!format_refuses(f, value_type::bytes, c, 0, value_errc::codec_not_in_format))
                allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", codec_name(c));
        if (format_refuses(f, value_type::bytes, *it, 0, value_errc::codec_not_in_format))
            throw usage_error(fmt::format("--codec {}: the {} value format does not have it (its "
                                          "codecs: {})",
                                          *o.codec, fname, allowed));
        if (!codec_available(*it))
            throw usage_error(
                fmt::format("--codec {}: this memcoro was built without {}", *o.codec, *o.codec));
        p.algorithm = *it;
        p.level = default_level;
    }
    if (o.compress_threshold)
        p.threshold = *o.compress_threshold;
    w.opts.compression = p;
    // The value must be one of its type: value::encode checks numbers and booleans (they are
    // short: encoding one uncompressed to see costs nothing), JSON is checked here.
    const bool checked_by_encode = w.type == value_type::integer ||
                                   w.type == value_type::floating || w.type == value_type::boolean;
    std::string encoded;
    std::uint32_t flags = 0;
    compression_policy uncompressed;
    uncompressed.algorithm = codec::none;
    if (checked_by_encode && encode(f, w.type, inv.value, uncompressed, w.opts.user_flags, encoded,
                                    flags) == value_errc::type_mismatch) {
        if (w.type == value_type::boolean)
            throw usage_error(fmt::format(
                "--type boolean: the {} value format stores '{}' for true and '{}' for false",
                fname, format_boolean(f, true), format_boolean(f, false)));
        throw usage_error(
            fmt::format("--type {}: the value is not {}", type_name(w.type),
                        w.type == value_type::integer ? "a 64-bit decimal integer" : "a number"));
    }
    if (w.type == value_type::json && !json::accept(inv.value))
        throw usage_error("--type json: the value is not valid JSON");
    return w;
}

int cmd_store(invocation& inv)
{
    if (inv.o.given & opt_value_store) { // (set, add, replace)
        const value_write w = value_write_of(inv);
        return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
            const std::string& cmd = inv.o.command;
            const std::string& key = inv.o.args.front();
            memcoro::store_status s = memcoro::store_status::stored;
            if (cmd == "add")
                s = co_await c.async_add_value(key, w.type, inv.value, w.opts);
            else if (cmd == "replace")
                s = co_await c.async_replace_value(key, w.type, inv.value, w.opts);
            else
                s = co_await c.async_set_value(key, w.type, inv.value, w.opts);
            co_return s == memcoro::store_status::stored ? exit_ok : exit_miss;
        });
    }
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        const std::string& cmd = inv.o.command;
        const std::string& key = inv.o.args.front();
        const auto so = store_options_of(inv.o);
        memcoro::store_status s = memcoro::store_status::stored;
        if (cmd == "set")
            s = co_await c.async_set(key, inv.value, so);
        else if (cmd == "add")
            s = co_await c.async_add(key, inv.value, so);
        else if (cmd == "replace")
            s = co_await c.async_replace(key, inv.value, so);
        else if (cmd == "append")
            s = co_await c.async_append(key, inv.value);
        else
            s = co_await c.async_prepend(key, inv.value);
        co_return s == memcoro::store_status::stored ? exit_ok : exit_miss;
    });
}

int cmd_cas(invocation& inv)
{
    const auto unique = parse_number<std::uint64_t>(inv.o.args[1], "cas CAS");
    if (inv.o.given & opt_value_store) {
        const value_write w = value_write_of(inv);
        return run_with_client(inv, [&, unique](memcoro::client& c) -> asio::awaitable<int> {
            auto s = co_await c.async_cas_value(inv.o.args[0], w.type, inv.value, unique, w.opts);
            co_return s == memcoro::store_status::stored ? exit_ok : exit_miss;
        });
    }
    return run_with_client(inv, [&, unique](memcoro::client& c) -> asio::awaitable<int> {
        auto s = co_await c.async_cas(inv.o.args[0], inv.value, unique, store_options_of(inv.o));
        co_return s == memcoro::store_status::stored ? exit_ok : exit_miss;
    });
}

/// Reads a whole file, byte for byte.
std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(fmt::format("{}: {}", path, std::strerror(errno)));
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        throw std::runtime_error(fmt::format("{}: read error", path));
    return data;
}

int cmd_cp(invocation& inv)
{
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        const auto so = store_options_of(inv.o);
        int rc = exit_ok;
        for (const std::string& path : inv.o.args) {
            std::string data;
            try {
                if (std::filesystem::is_directory(path))
                    throw std::runtime_error(fmt::format("{}: is a directory", path));
                data = read_file(path);
            } catch (const std::exception& e) {
                report(e.what());
                rc = exit_error;
                continue;
            }
            const std::string key = std::filesystem::path(path).filename().string();
            try {
                memcoro::store_status s;
                if (inv.o.mode == "--add")
                    s = co_await c.async_add(key, data, so);
                else if (inv.o.mode == "--replace")
                    s = co_await c.async_replace(key, data, so);
                else
                    s = co_await c.async_set(key, data, so);
                if (s != memcoro::store_status::stored && rc == exit_ok)
                    rc = exit_miss;
            } catch (const memcoro::error& e) {
                report(fmt::format("{}: {}", path, e.what()));
                rc = exit_error;
            }
        }
        co_return rc;
    });
}

// ---- the other key commands ------------------------------------------------------------------

int cmd_delete(invocation& inv)
{
    return run_with_client(inv, [&](memcoro::client& c) -> asio::awaitable<int> {
        const auto& keys = inv.o.args;
        if (keys.size() == 1) {
            auto s = co_await c.async_delete(keys.front());
            co_return s == memcoro::delete_status::deleted ? exit_ok : exit_miss;
        }
        auto r = co_await c.async_delete_multi(keys);
        int rc = exit_ok;
        for (const auto& k : r) {
            if (k.ec) {
                report(key_failure(c, k.key, k.ec));
                rc = exit_error;
            } else if (k.status != memcoro::delete_status::deleted && rc == exit_ok) {
                rc = exit_miss;
            }
        }
        co_return rc;
    });
}

int cmd_arith(invocation& inv)
{
    const auto delta = parse_number<std::uint64_t>(inv.o.args[1], inv.o.command + " N");
    return run_with_client(inv, [&, delta](memcoro::client& c) -> asio::awaitable<int> {
        const std::string& key = inv.o.args[0];
        memcoro::arith_result r;
        if (inv.o.command == "incr")
            r = co_await c.async_incr(key, delta);
        else
            r = co_await c.async_decr(key, delta);
        if (!r)
            co_return exit_miss;
        if (inv.o.json) {
            json j = json::object();
            put_bytes(j, "key", key);
            j["value"] = *r;
            print_json(j);
        } else {
            write_stdout(fmt::format("{}\n", *r));
        }
        co_return exit_ok;
    });
}

int cmd_touch(invocation& inv)
{
    const auto seconds = parse_number<std::int64_t>(inv.o.args[1], "touch TTL");
    return run_with_client(inv, [&, seconds](memcoro::client& c) -> asio::awaitable<int> {
        auto s = co_await c.async_touch(inv.o.args[0], memcoro::ttl(seconds));
        co_return s == memcoro::touch_status::touched ? exit_ok : exit_miss;
    });
}

int cmd_flush(invocation& inv)
{
    std::optional<std::int64_t> delay;
    if (!inv.o.args.empty()) {
        delay = parse_number<std::int64_t>(inv.o.args[0], "flush DELAY");
        if (*delay < 0)
            throw usage_error("flush DELAY must not be negative");
    }
    return run_with_client(inv, [&, delay](memcoro::client& c) -> asio::awaitable<int> {
        if (delay)
            co_await c.async_flush_all(std::chrono::seconds(*delay));
        else
            co_await c.async_flush_all();
        co_return exit_ok;
    });
}

// ---- server commands -------------------------------------------------------------------------

/// Runs `ask(client)` on each server in turn, with a client of its own. A failure is reported on
/// stderr (exit 2 at the end) and handed to `failed`; the other servers are still asked.
template <class Ask, class Failed>
asio::awaitable<int> each_server(const memcoro::client_config& cfg, Ask ask, Failed failed)
{
    auto ex = co_await asio::this_coro::executor;
    int rc = exit_ok;
    for (const auto& server : cfg.servers) {
        memcoro::client c(ex, only(cfg, server));
        std::string failure;
        try {
            co_await ask(server, c);
        } catch (const memcoro::error& e) {
            failure = failure_text(e);
        }
        c.close();
        if (!failure.empty()) {
            report(failure);
            failed(server, failure);
            rc = exit_error;
        }
    }
    co_return rc;
}

const auto ignore_failure = [](const memcoro::server_address&, const std::string&) {};

int cmd_version(invocation& inv)
{
    const bool several = inv.cfg.servers.size() > 1;
    json j = json::object();
    const int rc = run_async(each_server(
        inv.cfg,
        [&](const memcoro::server_address& s, memcoro::client& c) -> asio::awaitable<void> {
            const std::string version = co_await c.async_version();
            if (inv.o.json)
                j[s.to_string()] = version;
            else if (several)
                write_stdout(fmt::format("{} {}\n", s.to_string(), version));
            else
                write_stdout(version + "\n");
        },
        ignore_failure));
    if (inv.o.json)
        print_json(j);
    return rc;
}

std::uint64_t stat_number(const memcoro::stats_result& stats, std::string_view name)
{
    for (const auto& [n, v] : stats)
        if (n == name) {
            // Some counters are fractions ("rusage_user 0.1"); the integer part is enough here.
            std::uint64_t value = 0;
            std::from_chars(v.data(), v.data() + v.size(), value);
            return value;
        }
    return 0;
}

/// What `stats --analyze` reports of one server, or of all of them together.
struct analysis {
    std::uint64_t bytes = 0, limit = 0, items = 0, hits = 0, misses = 0, evictions = 0;
    struct slab {
        std::string server;
        unsigned id = 0;
        std::uint64_t chunk_size = 0, used_chunks = 0, total_chunks = 0, pages = 0;
        std::uint64_t used_bytes() const { return chunk_size * used_chunks; }
    };
    std::optional<slab> fullest; ///< the slab class holding the most data

    void add(const analysis& a)
    {
        bytes += a.bytes;
        limit += a.limit;
        items += a.items;
        hits += a.hits;
        misses += a.misses;
        evictions += a.evictions;
        if (a.fullest && (!fullest || a.fullest->used_bytes() > fullest->used_bytes()))
            fullest = a.fullest;
    }
};

analysis analyze(const std::string& server, const memcoro::stats_result& general,
                 const memcoro::stats_result& slabs)
{
    analysis a;
    a.bytes = stat_number(general, "bytes");
    a.limit = stat_number(general, "limit_maxbytes");
    a.items = stat_number(general, "curr_items");
    a.hits = stat_number(general, "get_hits");
    a.misses = stat_number(general, "get_misses");
    a.evictions = stat_number(general, "evictions");
    std::map<unsigned, analysis::slab> classes;
    for (const auto& [name, value] : slabs) {
        const auto colon = name.find(':');
        if (colon == std::string::npos)
            continue;
        unsigned id = 0;
        if (std::from_chars(name.data(), name.data() + colon, id).ec != std::errc())
            continue;
        auto& s = classes[id];
        s.server = server;
        s.id = id;
        const std::string_view field = std::string_view(name).substr(colon + 1);
        std::uint64_t v = 0;
        std::from_chars(value.data(), value.data() + value.size(), v);
        if (field == "chunk_size")
            s.chunk_size = v;
        else if (field == "used_chunks")
            s.used_chunks = v;
        else if (field == "total_chunks")
            s.total_chunks = v;
        else if (field == "total_pages")
            s.pages = v;
    }
    for (const auto& [id, s] : classes)
        if (s.used_chunks > 0 && (!a.fullest || s.used_bytes() > a.fullest->used_bytes()))
            a.fullest = s;
    return a;
}

json analysis_json(const analysis& a, bool with_server)
{
    json j = json::object();
    j["memory_used"] = a.bytes;
    j["memory_limit"] = a.limit;
    j["memory_used_percent"] =
        a.limit ? 100.0 * static_cast<double>(a.bytes) / static_cast<double>(a.limit) : 0.0;
    j["items"] = a.items;
    j["get_hits"] = a.hits;
    j["get_misses"] = a.misses;
    if (a.hits + a.misses)
        j["hit_ratio"] = static_cast<double>(a.hits) / static_cast<double>(a.hits + a.misses);
    else
        j["hit_ratio"] = nullptr;
    j["evictions"] = a.evictions;
    if (a.fullest) {
        json s = json::object();
        if (with_server)
            s["server"] = a.fullest->server;
        s["class"] = a.fullest->id;
        s["chunk_size"] = a.fullest->chunk_size;
        s["used_chunks"] = a.fullest->used_chunks;
        s["total_chunks"] = a.fullest->total_chunks;
        s["pages"] = a.fullest->pages;
        s["used_bytes"] = a.fullest->used_bytes();
        j["fullest_slab_class"] = std::move(s);
    } else {
        j["fullest_slab_class"] = nullptr;
    }
    return j;
}

std::string analysis_text(const analysis& a, bool with_server)
{
    std::string t;
    t += fmt::format("memory_used {} of {} bytes ({:.1f}%)\n", a.bytes, a.limit,
                     a.limit ? 100.0 * static_cast<double>(a.bytes) / static_cast<double>(a.limit)
                             : 0.0);
    t += fmt::format("items {}\n", a.items);
    if (a.hits + a.misses)
        t += fmt::format("hit_ratio {:.1f}% ({} hits, {} misses)\n",
                         100.0 * static_cast<double>(a.hits) /
                             static_cast<double>(a.hits + a.misses),
                         a.hits, a.misses);
    else
        t += "hit_ratio - (no gets)\n";
    t += fmt::format("evictions {}\n", a.evictions);
    if (a.fullest)
        t += fmt::format("fullest_slab_class {}{} (chunk size {}, {} of {} chunks used, {} bytes, "
                         "{} pages)\n",
                         a.fullest->id, with_server ? " on " + a.fullest->server : "",
                         a.fullest->chunk_size, a.fullest->used_chunks, a.fullest->total_chunks,
                         a.fullest->used_bytes(), a.fullest->pages);
    else
        t += "fullest_slab_class - (no items)\n";
    return t;
}

int cmd_stats_analyze(invocation& inv)
{
    if (!inv.o.args.empty())
        throw usage_error("--analyze takes no GROUP");
    json per_server = json::object();
    analysis total;
    std::size_t answered = 0;
    const int rc = run_async(each_server(
        inv.cfg,
        [&](const memcoro::server_address& s, memcoro::client& c) -> asio::awaitable<void> {
            const auto general = co_await c.async_stats();
            const auto slabs = co_await c.async_stats("slabs");
            const analysis a = analyze(s.to_string(), general, slabs);
            total.add(a);
            ++answered;
            if (inv.o.json)
                per_server[s.to_string()] = analysis_json(a, false);
            else
                write_stdout(fmt::format("[{}]\n{}", s.to_string(), analysis_text(a, false)));
        },
        ignore_failure));
    if (inv.o.json) {
        json j = json::object();
        j["servers"] = std::move(per_server);
        json t = analysis_json(total, true);
        t["servers_answered"] = answered;
        j["total"] = std::move(t);
        print_json(j);
    } else {
        write_stdout(fmt::format("[total]\nservers_answered {} of {}\n{}", answered,
                                 inv.cfg.servers.size(), analysis_text(total, true)));
    }
    return rc;
}

int cmd_stats(invocation& inv)
{
    if (inv.o.analyze)
        return cmd_stats_analyze(inv);
    const std::string group = inv.o.args.empty() ? std::string() : inv.o.args.front();
    const bool several = inv.cfg.servers.size() > 1;
    json j = json::object();
    const int rc = run_async(each_server(
        inv.cfg,
        [&](const memcoro::server_address& s, memcoro::client& c) -> asio::awaitable<void> {
            const auto stats = co_await c.async_stats(group);
            if (inv.o.json) {
                auto& obj = j[s.to_string()] = json::object();
                for (const auto& [name, value] : stats)
                    obj[name] = value;
                co_return;
            }
            std::string text;
            if (several)
                text += fmt::format("[{}]\n", s.to_string());
            for (const auto& [name, value] : stats)
                text += fmt::format("{} {}\n", name, value);
            write_stdout(text);
        },
        ignore_failure));
    if (inv.o.json)
        print_json(j);
    return rc;
}

int cmd_ping(invocation& inv)
{
    json j = json::array();
    const int rc = run_async(each_server(
        inv.cfg,
        [&](const memcoro::server_address& s, memcoro::client& c) -> asio::awaitable<void> {
            using clock = std::chrono::steady_clock;
            const auto t0 = clock::now();
            co_await c.async_version(); // connects
            const auto t1 = clock::now();
            const std::string version = co_await c.async_version(); // one round trip
            const auto t2 = clock::now();
            const auto ms = [](clock::duration d) {
                return std::chrono::duration<double, std::milli>(d).count();
            };
            if (inv.o.json) {
                json up = {{"server", s.to_string()},
                           {"up", true},
                           {"rtt_ms", ms(t2 - t1)},
                           {"connect_ms", ms(t1 - t0)},
                           {"version", version}};
                if (inv.cfg.tls.enabled || s.tls)
                    up["tls"] = true;
                j.push_back(std::move(up));
            } else
                write_stdout(fmt::format("{} up {:.3f} ms\n", s.to_string(), ms(t2 - t1)));
        },
        [&](const memcoro::server_address& s, const std::string& failure) {
            if (inv.o.json) {
                json down = {{"server", s.to_string()}, {"up", false}, {"error", failure}};
                if (inv.cfg.tls.enabled || s.tls)
                    down["tls"] = true;
                j.push_back(std::move(down));
            } else
                write_stdout(fmt::format("{} down\n", s.to_string()));
        }));
    if (inv.o.json)
        print_json(j);
    return rc;
}

int cmd_dump(invocation& inv)
{
    const auto dump_all = [&]() -> asio::awaitable<int> {
        int rc = exit_ok;
        for (const auto& server : inv.cfg.servers) {
            const std::string name = server.to_string();
            // The dump's own plain connection speaks neither TLS nor authentication.
            if (inv.cfg.tls.enabled || server.tls || inv.cfg.auth) {
                report(fmt::format("{}: dump cannot use {} yet (it sends lru_crawler metadump on "
                                   "a plain connection of its own)",
                                   name, inv.cfg.auth ? "authentication" : "TLS"));
                rc = exit_error;
                continue;
            }
            try {
                const auto on_entry = [&](const dump_entry& e) {
                    if (inv.o.json) {
                        json j = json::object();
                        put_bytes(j, "key", e.key);
                        j["server"] = name;
                        j["expiry"] = e.expiry;
                        j["size"] = e.size;
                        if (e.last_access)
                            j["last_access"] = *e.last_access;
                        else
                            j["last_access"] = nullptr;
                        j["slab_class"] = e.slab_class;
                        if (e.fetched)
                            j["fetched"] = *e.fetched;
                        else
                            j["fetched"] = nullptr;
                        print_json(j, false);
                    } else {
                        write_stdout(fmt::format("{} {} {}\n", e.key, e.expiry, e.size));
                    }
                };
                // Said on stderr: the fallback to stats cachedump, a class listed in part.
                const auto on_note = [&](const std::string& note) {
                    std::fflush(stdout);
                    report(fmt::format("{}: {}", name, note));
                };
                co_await async_dump(server, inv.o.timeout, on_entry, on_note);
            } catch (const std::runtime_error& e) {
                report(e.what());
                rc = exit_error;
            }
        }
        co_return rc;
    };
    return run_async(dump_all());
}

// ---- error -----------------------------------------------------------------------------------

/// memerror: the error codes the library's categories define, and the CLI's exit statuses.
int cmd_error(invocation& inv)
{
    if (inv.o.all && !inv.o.args.empty())
        throw usage_error("--all takes no CODE");
    // Every error is reported with exit status 2: memcoro's, and the value and compression
    // errors of get --decode (set --compress and --type refuse what cannot be encoded as
    // usage errors, also exit status 2).
    std::vector<error_entry> table = library_errors(exit_error);
    table.push_back({"exit", exit_ok, "ok", "hit, stored, deleted, touched, done", exit_ok});
    table.push_back({"exit", exit_miss, "miss",
                     "miss, not stored, not found, exists (several keys: some of them)",
                     exit_miss});
    table.push_back({"exit", exit_error, "error",
                     "bad usage, invalid key, connection or server failure (named on stderr)",
                     exit_error});
    std::vector<const error_entry*> shown;
    if (inv.o.args.empty())
        for (const auto& e : table)
            shown.push_back(&e);
    for (const std::string& spec : inv.o.args) {
        std::vector<const error_entry*> found;
        try {
            found = find_errors(table, spec);
        } catch (const std::invalid_argument& e) {
            throw usage_error(fmt::format(
                "unknown error category '{}' (memcoro, value, compression or exit)", e.what()));
        }
        if (found.empty())
            throw usage_error(
                fmt::format("unknown error code '{}' (memcoro error --all lists them)", spec));
        shown.insert(shown.end(), found.begin(), found.end());
    }
    const auto exit_text = [](const error_entry& e) {
        return e.exit_status ? std::to_string(*e.exit_status) : std::string("-");
    };
    if (inv.o.json) {
        json j = json::array();
        for (const error_entry* e : shown) {
            json o = json::object();
            o["category"] = e->category;
            o["value"] = e->value;
            o["name"] = e->name;
            o["message"] = e->message;
            if (e->exit_status)
                o["exit_status"] = *e->exit_status;
            else
                o["exit_status"] = nullptr;
            j.push_back(std::move(o));
        }
        print_json(j);
        return exit_ok;
    }
    std::size_t code_width = 0, name_width = 0;
    for (const error_entry* e : shown) {
        code_width = std::max(code_width, e->category.size() + 1 + std::to_string(e->value).size());
        name_width = std::max(name_width, e->name.size());
    }
    std::string text;
    for (const error_entry* e : shown)
        text +=
            fmt::format("{:<{}}  {:<{}}  {:<4} {}\n", fmt::format("{}:{}", e->category, e->value),
                        code_width, e->name, name_width, exit_text(*e), e->message);
    write_stdout(text);
    return exit_ok;
}

// ---- server lists (issue #17) ----------------------------------------------------------------

/// A client configuration for the memcached at `address` that keeps server lists: the
/// options' timeout, protocol, TLS and credentials, its own server.
memcoro::client_config store_config(const options& o, std::string_view option,
                                    const std::string& address)
{
    options so = o;
    so.servers = address;
    so.distribution.reset();
    so.hash.reset();
    so.meta = false;
    const auto servers = server_list(so);
    if (servers.size() != 1)
        throw usage_error(fmt::format("{}: one server, not '{}'", option, address));
    return make_config(so);
}

/// The key of `domain`'s list in memcached; a domain that cannot be part of a key is a usage
/// error.
std::string store_key(std::string_view domain)
{
    try {
        return memcoro::server_list_key(domain);
    } catch (const std::invalid_argument& e) {
        throw usage_error(fmt::format("--domain: {}", strip_prefix(e.what())));
    }
}

/// `domain`'s list as the memcached of `cfg` keeps it; throws (exit 2) when there is none or it
/// is refused, naming the server, the key and the reason.
memcoro::server_list read_store_list(const memcoro::client_config& cfg, const std::string& domain)
{
    const std::string key = store_key(domain);
    memcoro::server_list list;
    run_async(with_client(cfg, std::nullopt, [&](memcoro::client& c) -> asio::awaitable<int> {
        const auto r = co_await c.async_get(key);
        const std::string where = cfg.servers.front().to_string();
        if (!r)
            throw std::runtime_error(
                fmt::format("{}: no list for domain {} (no item {})", where, domain, key));
        memcoro::server_list_error err;
        if (!memcoro::parse_domain_list(r->value, domain, list, err))
            throw std::runtime_error(fmt::format("{}: {}: {}", where, key, err.reason));
        co_return exit_ok;
    }));
    return list;
}

/// `domain`'s list in the server list file `path`; throws (exit 2) with the reason.
memcoro::server_list read_file_list(std::string_view option, const std::string& path,
                                    const std::string& domain)
{
    std::string text;
    try {
        text = read_file(path);
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(fmt::format("{}: cannot read {}", option, e.what()));
    }
    memcoro::server_list list;
    memcoro::server_list_error err;
    if (!memcoro::parse_server_list(text, domain, list, err))
        throw std::runtime_error(fmt::format("{} {}: {}", option, path, err.reason));
    return list;
}

/// The list of --server-list or --server-list-store, if one is given; it replaces --servers,
/// --distribution and --hash, which may not be given with it.
std::optional<memcoro::server_list> server_list_of(const options& o)
{
    if (!o.server_list && !o.server_list_store) {
        if (o.domain)
            throw usage_error("--domain names the list of --server-list or --server-list-store "
                              "(or of the servers command)");
        return std::nullopt;
    }
    const char* option = o.server_list ? "--server-list" : "--server-list-store";
    if (o.server_list && o.server_list_store)
        throw usage_error("give one of --server-list and --server-list-store");
    if (!o.domain)
        throw usage_error(fmt::format("{} needs --domain NAME (the list's domain)", option));
    if (o.servers)
        throw usage_error(fmt::format("--servers and {}: the servers come from the list, give one "
                                      "or the other",
                                      option));
    if (o.distribution || o.hash)
        throw usage_error(fmt::format("{}: the list gives the distribution and the hash (no "
                                      "--distribution or --hash with it)",
                                      option));
    if (o.server_list)
        return read_file_list(option, *o.server_list, *o.domain);
    return read_store_list(store_config(o, option, *o.server_list_store), *o.domain);
}

/// `servers ACTION`: the argument count of each action.
struct server_action {
    const char* name;
    std::size_t args; ///< after the action
    const char* usage;
};

constexpr server_action server_actions[] = {
    {"list", 0, "servers list [--json]"},
    {"add", 1, "servers add ADDRESS [--weight N] [--name NAME] [--down]"},
    {"remove", 1, "servers remove ADDRESS"},
    {"weight", 2, "servers weight ADDRESS N"},
    {"down", 1, "servers down ADDRESS"},
    {"up", 1, "servers up ADDRESS"},
};

int servers_list(const options& o)
{
    if (!o.domain) {
        // (Only a file holds several domains: --store needs --domain, checked before.)
        const std::string text = read_file(*o.file);
        const auto domains = memcoro::server_list_domains(text);
        if (!domains)
            throw std::runtime_error(fmt::format("{}: not a server list file", *o.file));
        if (o.json)
            print_json(json(*domains));
        else
            for (const auto& d : *domains)
                write_stdout(d + "\n");
        return exit_ok;
    }
    const memcoro::server_list list =
        o.file ? read_file_list("--file", *o.file, *o.domain)
               : read_store_list(store_config(o, "--store", *o.store), *o.domain);
    if (o.json)
        print_json(json::parse(memcoro::to_json(list)));
    else
        write_stdout(list_text(list));
    return exit_ok;
}

int cmd_servers(invocation& inv)
{
    const options& o = inv.o;
    const std::string& action = o.args.front();
    const auto* a = std::find_if(std::begin(server_actions), std::end(server_actions),
                                 [&](const auto& x) { return action == x.name; });
    if (a == std::end(server_actions))
        throw usage_error(fmt::format(
            "servers: unknown action '{}' (list, add, remove, weight, down or up)", action));
    if (o.args.size() != a->args + 1)
        throw usage_error(fmt::format("{} arguments: usage: memcoro {}",
                                      o.args.size() < a->args + 1 ? "missing" : "too many",
                                      a->usage));
    if (o.servers || o.server_list || o.server_list_store)
        throw usage_error("servers reads and edits the list of --file or --store (--servers, "
                          "--server-list and --server-list-store are for the other commands)");
    if (!o.file == !o.store)
        throw usage_error("servers needs --file FILE or --store HOST:PORT (one of them)");
    if ((o.given & opt_server_entry) && action != "add")
        throw usage_error("--weight, --name and --down apply to servers add");
    if (o.json && action != "list")
        throw usage_error("--json applies to servers list");
    if (!o.domain && !(action == "list" && o.file))
        throw usage_error(fmt::format("servers {} needs --domain NAME", action));
    if (o.store)
        store_key(*o.domain);
    if (o.tls_no_verify)
        report("warning: --tls-no-verify: the server's certificate is not checked");
    if (action == "list")
        return servers_list(o);

    server_edit e;
    e.action = action;
    e.address = o.args[1];
    try { // (checked before anything is read or locked)
        (void)memcoro::server_address::parse(e.address);
    } catch (const std::invalid_argument& x) {
        throw usage_error(strip_prefix(x.what()));
    }
    e.weight = action == "weight" ? positive_weight(o.args[2], "weight") : o.weight;
    e.name = o.server_name;
    e.down = o.add_down;
    if (o.distribution) {
        e.distribution = memcoro::ring::parse_distribution(*o.distribution);
        if (!e.distribution)
            throw usage_error(fmt::format("unknown distribution '{}'", *o.distribution));
    }
    if (o.hash) {
        e.hash = memcoro::ring::parse_hash(*o.hash);
        if (!e.hash)
            throw usage_error(fmt::format("unknown hash '{}'", *o.hash));
    }
    const memcoro::server_list_edit edit = [&e](memcoro::server_list& l) { apply_edit(l, e); };
    memcoro::server_list written;
    try {
        if (o.file) {
            written = memcoro::edit_server_list_file(*o.file, *o.domain, edit);
        } else {
            const auto cfg = store_config(o, "--store", *o.store);
            run_async(
                with_client(cfg, std::nullopt, [&](memcoro::client& c) -> asio::awaitable<int> {
                    written = co_await memcoro::edit_server_list_in_store(c, *o.domain, edit);
                    co_return exit_ok;
                }));
        }
    } catch (const std::invalid_argument& x) { // the edited list is refused (no server left)
        throw std::runtime_error(
            fmt::format("domain {}: the list would be refused: {}", *o.domain, x.what()));
    }
    write_stdout(fmt::format("{}\n", written.version));
    return exit_ok;
}

// ---- locate ----------------------------------------------------------------------------------

int cmd_locate(invocation& inv)
{
    const options& o = inv.o;
    std::optional<key_locator> locate;
    std::string prefix;
    bool hash_with_prefix = false;
    try {
        // The configuration the other commands use: the same servers, distribution and hash.
        const auto list = server_list_of(o);
        const memcoro::client_config cfg = make_config(o, false, list ? &*list : nullptr);
        locate.emplace(cfg.servers, cfg.distribution, cfg.hash);
        prefix = cfg.key_prefix;
        hash_with_prefix = cfg.hash_with_prefix;
        if (o.down) {
            // Servers as --servers writes them, comma-separated.
            std::vector<std::string> down;
            std::string_view rest = *o.down;
            while (!rest.empty()) {
                const auto comma = rest.find(',');
                const std::string_view item = rest.substr(0, comma);
                if (item.empty())
                    throw usage_error("--down: an empty server name");
                down.emplace_back(item);
                rest =
                    comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                if (comma != std::string_view::npos && rest.empty())
                    throw usage_error("--down: an empty server name");
            }
            locate->set_down(down);
        }
    } catch (const std::invalid_argument& e) { // an unusable list (a zero weight)
        throw usage_error(e.what());
    }
    // Only '\n' ends a key: keys may contain any other byte, and a '\r' is kept on purpose so
    // that what is located is exactly what would be sent.
    std::string key;
    while (std::getline(std::cin, key)) {
        // (The key's server is that of the bytes the client places it by: see --prefix.)
        const std::string* owner = hash_with_prefix ? (*locate)(prefix + key) : (*locate)(key);
        if (o.json) {
            json j = json::object();
            put_bytes(j, "key", key);
            j["server"] = owner ? json(*owner) : json(nullptr);
            print_json(j, false);
        } else {
            write_stdout(owner ? *owner : std::string_view("-"));
            write_stdout("\n");
        }
    }
    return exit_ok;
}

// ---- bench ---------------------------------------------------------------------------------

struct bench_settings {
    std::size_t concurrency = 16;
    std::optional<double> duration; ///< seconds
    std::optional<std::uint64_t> ops;
    std::uint64_t keys = 10000;
    std::size_t value_size = 100;
    double get_ratio = 0.9;
    double zipf = 0; ///< 0: uniform keys
};

bench_settings bench_settings_of(const options& o)
{
    bench_settings b;
    const auto text = [&](const char* name) -> std::optional<std::string_view> {
        if (auto it = o.bench.find(name); it != o.bench.end())
            return it->second;
        return std::nullopt;
    };
    const auto fraction = [](std::string_view t, const char* what) {
        double v = 0;
        auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (t.empty() || ec != std::errc() || p != t.data() + t.size())
            throw usage_error(fmt::format("{}: '{}' is not a valid number", what, t));
        return v;
    };
    if (auto t = text("--concurrency")) {
        b.concurrency = parse_number<std::size_t>(*t, "--concurrency");
        if (b.concurrency == 0 || b.concurrency > 100000)
            throw usage_error("--concurrency must be between 1 and 100000");
    }
    if (auto t = text("--duration")) {
        b.duration = fraction(*t, "--duration");
        if (!(*b.duration > 0))
            throw usage_error("--duration must be a positive number of seconds");
    }
    if (auto t = text("--ops")) {
        b.ops = parse_number<std::uint64_t>(*t, "--ops");
        if (*b.ops == 0)
            throw usage_error("--ops must be positive");
    }
    if (b.ops && b.duration)
        throw usage_error("give --duration or --ops, not both");
    if (!b.ops && !b.duration)
        b.duration = 5;
    if (auto t = text("--keys")) {
        b.keys = parse_number<std::uint64_t>(*t, "--keys");
        if (b.keys == 0)
            throw usage_error("--keys must be positive");
    }
    if (auto t = text("--value-size"))
        b.value_size = parse_number<std::size_t>(*t, "--value-size");
    if (auto t = text("--zipf")) {
        b.zipf = fraction(*t, "--zipf");
        if (!(b.zipf >= 0 && b.zipf <= 100))
            throw usage_error("--zipf must be between 0 and 100");
        if (b.zipf > 0 && b.keys > 10'000'000)
            throw usage_error("--zipf takes up to 10,000,000 --keys");
    }
    if (auto t = text("--get-ratio")) {
        b.get_ratio = fraction(*t, "--get-ratio");
        if (!(b.get_ratio >= 0 && b.get_ratio <= 1))
            throw usage_error("--get-ratio must be between 0 and 1");
    }
    return b;
}

struct bench_counts {
    std::uint64_t started = 0, gets = 0, hits = 0, misses = 0, sets = 0, errors = 0;
    std::vector<float> latency_us; ///< every request's, in completion order
    std::string first_error;
};

int cmd_bench(invocation& inv)
{
    const bench_settings b = bench_settings_of(inv.o);
    // Every get goes to its server, so that what is reported is what the servers count.
    inv.cfg.singleflight_gets = false;
    using clock = std::chrono::steady_clock;
    const bool progress = isatty(fileno(stderr)) != 0;
    bench_counts n;
    const std::string value(b.value_size, 'x');
    // Zipf's law: the cumulative share of keys 0..i, which a uniform draw is looked up in.
    std::vector<double> zipf_cdf;
    if (b.zipf > 0) {
        zipf_cdf.resize(b.keys);
        double sum = 0;
        for (std::uint64_t i = 0; i < b.keys; ++i)
            zipf_cdf[i] = sum += std::pow(static_cast<double>(i + 1), -b.zipf);
        for (auto& c : zipf_cdf)
            c /= sum;
    }
    clock::time_point start, end;

    const auto body = [&](memcoro::client& c) -> asio::awaitable<int> {
        auto ex = co_await asio::this_coro::executor;
        start = clock::now();
        const auto deadline = b.duration ? start + std::chrono::duration_cast<clock::duration>(
                                                       std::chrono::duration<double>(*b.duration))
                                         : clock::time_point::max();
        std::size_t running = b.concurrency;
        asio::steady_timer done(ex, clock::time_point::max());
        const auto worker = [&](std::uint64_t seed) -> asio::awaitable<void> {
            std::mt19937_64 random(seed);
            std::uniform_int_distribution<std::uint64_t> uniform(0, b.keys - 1);
            std::uniform_real_distribution<double> unit(0, 1);
            const auto pick = [&] {
                if (zipf_cdf.empty())
                    return uniform(random);
                const auto it = std::upper_bound(zipf_cdf.begin(), zipf_cdf.end(), unit(random));
                return static_cast<std::uint64_t>(
                    std::min(it - zipf_cdf.begin(), zipf_cdf.end() - zipf_cdf.begin() - 1));
            };
            std::bernoulli_distribution is_get(b.get_ratio);
            std::string key;
            for (;;) {
                if (clock::now() >= deadline || (b.ops && n.started >= *b.ops))
                    break;
                ++n.started;
                key = fmt::format("memcoro-bench:{}", pick());
                const bool get = is_get(random);
                const auto t0 = clock::now();
                try {
                    if (get) {
                        ++n.gets;
                        auto r = co_await c.async_get(key);
                        ++(r ? n.hits : n.misses);
                    } else {
                        ++n.sets;
                        co_await c.async_set(key, value);
                    }
                } catch (const std::exception& e) {
                    if (n.errors++ == 0)
                        n.first_error = e.what();
                    continue;
                }
                n.latency_us.push_back(
                    std::chrono::duration<float, std::micro>(clock::now() - t0).count());
            }
            if (--running == 0)
                done.cancel();
        };
        for (std::size_t i = 0; i < b.concurrency; ++i)
            asio::co_spawn(ex, worker(0x9e3779b97f4a7c15ULL * (i + 1)), asio::detached);
        while (running > 0) {
            done.expires_after(std::chrono::milliseconds(500));
            try {
                co_await done.async_wait(asio::use_awaitable);
            } catch (const std::system_error&) {
            }
            if (progress && running > 0) {
                const double s = std::chrono::duration<double>(clock::now() - start).count();
                fmt::print(stderr, "\r{:.1f} s  {} requests  {:.0f}/s  {} errors   ", s, n.started,
                           static_cast<double>(n.started) / s, n.errors);
            }
        }
        end = clock::now();
        if (progress)
            fmt::print(stderr, "\r{:60}\r", "");
        co_return exit_ok;
    };
    run_with_client(inv, body);

    const double seconds = std::chrono::duration<double>(end - start).count();
    std::sort(n.latency_us.begin(), n.latency_us.end());
    const auto pct = [&](double p) -> double {
        if (n.latency_us.empty())
            return 0;
        const auto i = static_cast<std::size_t>(
            p / 100.0 * static_cast<double>(n.latency_us.size() - 1) + 0.5);
        return n.latency_us[std::min(i, n.latency_us.size() - 1)] / 1000.0;
    };
    const std::uint64_t done_ops = n.gets + n.sets;
    const double rate = seconds > 0 ? static_cast<double>(done_ops) / seconds : 0;
    if (inv.o.json) {
        json j = json::object();
        j["servers"] = inv.cfg.servers.size();
        j["concurrency"] = b.concurrency;
        j["keys"] = b.keys;
        j["value_size"] = b.value_size;
        j["get_ratio"] = b.get_ratio;
        j["zipf"] = b.zipf;
        j["requests"] = done_ops;
        j["gets"] = n.gets;
        j["hits"] = n.hits;
        j["misses"] = n.misses;
        j["sets"] = n.sets;
        j["errors"] = n.errors;
        j["seconds"] = seconds;
        j["requests_per_second"] = rate;
        j["latency_ms"] = {{"p50", pct(50)},
                           {"p90", pct(90)},
                           {"p99", pct(99)},
                           {"p99.9", pct(99.9)},
                           {"max", pct(100)}};
        print_json(j);
    } else {
        std::string t;
        t += fmt::format("requests {}\n", done_ops);
        t += fmt::format("gets {} ({} hits, {} misses)\n", n.gets, n.hits, n.misses);
        t += fmt::format("sets {}\n", n.sets);
        t += fmt::format("errors {}\n", n.errors);
        t += fmt::format("seconds {:.3f}\n", seconds);
        t += fmt::format("requests_per_second {:.0f}\n", rate);
        t += fmt::format("latency_ms p50 {:.3f} p90 {:.3f} p99 {:.3f} p99.9 {:.3f} max {:.3f}\n",
                         pct(50), pct(90), pct(99), pct(99.9), pct(100));
        write_stdout(t);
    }
    if (n.errors) {
        report(fmt::format("{} of {} requests failed; the first: {}", n.errors, n.started,
                           strip_prefix(n.first_error)));
        return exit_error;
    }
    return exit_ok;
}

// ---- the command table -----------------------------------------------------------------------

constexpr std::size_t many = std::numeric_limits<std::size_t>::max();

struct command_spec {
    const char* name;
    const char* synopsis; ///< after "memcoro "
    std::size_t min_args, max_args;
    unsigned options; ///< the command_option bits it takes
    bool stores;      ///< takes [VALUE] or stdin as its last argument
    const char* summary;
    const char* help;     ///< what `memcoro help NAME` says besides the synopsis and options
    const char* examples; ///< one per line; the first is also in the overview
    int (*handler)(invocation&);
};

int cmd_help(invocation& inv);
int cmd_bench(invocation& inv);

constexpr command_spec command_table[] = {
    {"get", "get KEY... [--meta] [--decode] [--json]", 1, many, opt_meta | opt_decode | opt_json,
     false, "write a value's bytes to stdout (several keys: each after a VALUE line)",
     "With one key, writes the value to stdout exactly as stored: no newline added, "
     "binary-safe.\n"
     "\nWith several keys (memcat), one request per server fetches them all; each hit is\n"
     "written as `VALUE KEY FLAGS BYTES`, a newline, the BYTES bytes of the value and a\n"
     "newline, in the order asked; a miss writes nothing. With --json: one object\n"
     "{\"hits\": [{\"key\", \"value\", \"flags\"}], \"misses\": [KEY...], \"errors\": [...]}; a\n"
     "value or key that is not UTF-8 is given as \"value_base64\" / \"key_base64\".\n"
     "\nWith --meta (meta protocol; one key), prints the item's metadata instead as `name value`\n"
     "lines: ttl (seconds left, -1: never expires), last_access (seconds since it was read),\n"
     "hit_before (yes/no), cas, size, flags, and stale when it was invalidated.\n"
     "\nWith --decode, each value is read in --value-format (memcoro, php-memcached or\n"
     "pecl-memcache) as that format's client reads it: decompressed, and printed as the\n"
     "text it is stored as (a string's bytes, an integer's decimal digits, a float's or a\n"
     "boolean's text; serialized PHP data as its bytes). Several keys: each hit as\n"
     "`VALUE KEY USER_FLAGS BYTES` (the user flags the format keeps, the decoded size), the\n"
     "bytes and a newline. --json: each hit also has \"type\" (bytes, integer, floating,\n"
     "boolean, php_serialized, igbinary, json, msgpack), \"user_flags\" and\n"
     "\"compressed_with\" (none, zlib, fastlz, zstd, lz4) instead of \"flags\". A value that\n"
     "does not decode is an error of its key (named on stderr, exit status 2); the other\n"
     "keys are still printed.\n"
     "\nExit status: 0 every key found, 1 some missing, 2 an error (a key whose server failed\n"
     "is named on stderr; the other keys are still printed).",
     "memcoro get greeting\n"
     "memcoro get user:1 user:2 user:3 --json\n"
     "memcoro get session:42 --meta\n"
     "memcoro --value-format php-memcached get page --decode",
     cmd_get},
    {"gets", "gets KEY... [--decode] [--json]", 1, many, opt_decode | opt_json, false,
     "as get, with each value's CAS unique (for cas)",
     "Writes each hit as `VALUE KEY FLAGS BYTES CAS`, a newline, the value's bytes and a\n"
     "newline (one key too); with --json each hit also has \"cas\". Exit status as get.\n"
     "\nWith --decode, each value is read in --value-format as get --decode reads it, and\n"
     "written as `VALUE KEY USER_FLAGS BYTES CAS` (one key too), the decoded bytes and a\n"
     "newline; --json: as get --decode --json, each hit with its \"cas\" too (for cas\n"
     "--type or --compress).",
     "memcoro gets counter\n"
     "memcoro --value-format php-memcached gets page --decode",
     cmd_gets},
    {"set",
     "set KEY [VALUE] [--ttl S] [--flags N] [--compress] [--type TYPE] [--codec NAME] "
     "[--compress-threshold N]",
     1, 2, opt_ttl | opt_flags | opt_value_store, true,
     "store VALUE, or all of stdin when VALUE is omitted",
     "Stores VALUE, or all of stdin (byte for byte) when VALUE is omitted.\n"
     "\nWith --compress or --type, the value is stored in --value-format (memcoro,\n"
     "php-memcached or pecl-memcache), so that the clients of that format read it: its\n"
     "type (--type: bytes, the default, integer, floating, boolean or json) and its\n"
     "compression are written in the flags. --compress compresses as the format's PHP client\n"
     "does by default: memcoro zlib and php-memcached FastLZ from 2000 bytes, pecl-memcache\n"
     "zlib from 20000 bytes, each kept only if it saves enough; --codec and\n"
     "--compress-threshold change the codec (one the format has) and the threshold, and\n"
     "imply --compress. Without --compress, the value is stored uncompressed. An integer is\n"
     "stored as decimal text, which incr and decr work on; a boolean as the format's\n"
     "text (memcoro and pecl-memcache: 1 or 0; php-memcached: 1 or empty).\n"
     "\nThere --flags N gives the user flags the format keeps beside its own bits (memcoro:\n"
     "0 to 67108863; php-memcached: 0 to 65535, its OPT_USER_FLAGS; pecl-memcache: multiples\n"
     "of 65536), which get --decode --json reports as \"user_flags\"; without --compress and\n"
     "--type, --flags N is the item's 32-bit flags as they are. A value that is not of its\n"
     "type, or a type, codec or user flags the format does not have, is a usage error\n"
     "(exit status 2) and nothing is sent.",
     "memcoro set greeting hello\ntar c dir | memcoro set backup --ttl 3600\n"
     "memcoro --value-format php-memcached set page --compress <page.html\n"
     "memcoro set visits 0 --type integer",
     cmd_store},
    {"add",
     "add KEY [VALUE] [--ttl S] [--flags N] [--compress] [--type TYPE] [--codec NAME] "
     "[--compress-threshold N]",
     1, 2, opt_ttl | opt_flags | opt_value_store, true, "store only if KEY does not exist",
     "Stores only if KEY does not exist; exit status 1 when it does.\n"
     "\nWith --compress, --type, --codec or --compress-threshold, the value is stored in\n"
     "--value-format as set stores it (see memcoro help set).",
     "memcoro add lock \"$$\" --ttl 30\n"
     "memcoro add visits 0 --type integer",
     cmd_store},
    {"replace",
     "replace KEY [VALUE] [--ttl S] [--flags N] [--compress] [--type TYPE] [--codec NAME] "
     "[--compress-threshold N]",
     1, 2, opt_ttl | opt_flags | opt_value_store, true, "store only if KEY exists",
     "Stores only if KEY exists; exit status 1 when it does not.\n"
     "\nWith --compress, --type, --codec or --compress-threshold, the value is stored in\n"
     "--value-format as set stores it (see memcoro help set).",
     "memcoro replace greeting \"hello again\"\n"
     "memcoro --value-format php-memcached replace page --compress <page.html",
     cmd_store},
    {"append", "append KEY [VALUE]", 1, 2, 0, true, "add bytes at the end of an existing value",
     "Adds bytes after an existing value (its flags and expiry are kept); exit status 1\n"
     "when KEY does not exist.",
     "memcoro append log \"line 2\"", cmd_store},
    {"prepend", "prepend KEY [VALUE]", 1, 2, 0, true, "add bytes at the start of an existing value",
     "Adds bytes before an existing value; exit status 1 when KEY does not exist.",
     "memcoro prepend log \"line 0\"", cmd_store},
    {"cas",
     "cas KEY CAS [VALUE] [--ttl S] [--flags N] [--compress] [--type TYPE] [--codec NAME] "
     "[--compress-threshold N]",
     2, 3, opt_ttl | opt_flags | opt_value_store, true,
     "store only if KEY's CAS unique is still CAS (from gets)",
     "Stores VALUE (or stdin) only if the item is unchanged since `gets` read CAS; exit\n"
     "status 1 when it changed or is gone.\n"
     "\nWith --compress, --type, --codec or --compress-threshold, the value is stored in\n"
     "--value-format as set stores it (see memcoro help set); gets --decode reads the CAS\n"
     "of such a value.",
     "memcoro cas counter 42 11\n"
     "memcoro cas visits 42 43 --type integer",
     cmd_cas},
    {"cp", "cp FILE... [--set|--add|--replace] [--ttl S] [--flags N]", 1, many,
     opt_mode | opt_ttl | opt_flags, false, "store each file under its base name (memcp)",
     "Stores each FILE's bytes under the key named by the file's base name\n"
     "(/etc/motd: motd), with set (the default), add or replace. A file that cannot be read\n"
     "or whose name is not a valid key is reported on stderr and the others are still\n"
     "stored. Exit status: 0 all stored, 1 some not stored (add: the key exists; replace: it\n"
     "does not), 2 an error.",
     "memcoro cp /etc/motd ./index.html --ttl 600", cmd_cp},
    {"delete", "delete KEY...", 1, many, 0, false, "remove keys (also: rm)",
     "Removes each KEY. Exit status: 0 all removed, 1 some were not there, 2 an error.",
     "memcoro delete greeting", cmd_delete},
    {"rm", "rm KEY...", 1, many, 0, false, "remove keys (memrm; the same as delete)",
     "Removes each KEY, as delete does. Exit status: 0 all removed, 1 some were not there,\n"
     "2 an error.",
     "memcoro rm session:1 session:2", cmd_delete},
    {"exist", "exist KEY...", 1, many, 0, false, "exit 0 if every KEY exists, else 1 (memexist)",
     "Prints nothing; the exit status says whether every KEY exists (0) or some do not (1).",
     "memcoro exist lock && echo held", cmd_exist},
    {"incr", "incr KEY N [--json]", 2, 2, opt_json, false,
     "add N to a decimal value, print the new value",
     "Adds N to a decimal value (wrapping at 2^64) and prints the new value and a newline;\n"
     "--json: {\"key\": KEY, \"value\": N}. Exit status 1 when KEY does not exist.",
     "memcoro incr hits 1", cmd_arith},
    {"decr", "decr KEY N [--json]", 2, 2, opt_json, false,
     "subtract N (memcached stops at 0), print the new value",
     "Subtracts N (memcached stops at 0) and prints the new value, as incr.",
     "memcoro decr stock 5", cmd_arith},
    {"touch", "touch KEY TTL", 2, 2, 0, false, "set KEY's lifetime to TTL seconds",
     "Sets KEY's lifetime to TTL seconds (0: never expires; negative: expires at once); exit\n"
     "status 1 when KEY does not exist.",
     "memcoro touch session 600", cmd_touch},
    {"flush", "flush [DELAY]", 0, 1, 0, false,
     "invalidate every item on every server (after DELAY seconds)",
     "Invalidates every item on every server, now or DELAY seconds from now (memflush).",
     "memcoro flush", cmd_flush},
    {"version", "version [--json]", 0, 0, opt_json, false, "print each server's version",
     "Prints the version alone with one server, `host:port version` lines with several;\n"
     "--json: {\"host:port\": \"version\", ...}.",
     "memcoro version", cmd_version},
    {"ping", "ping [--json]", 0, 0, opt_json, false,
     "check every server and print its round-trip time (memping)",
     "Connects to every server and times one request on the open connection: one line per\n"
     "server, `host:port up 0.123 ms` or `host:port down` (and the cause on stderr); --json:\n"
     "[{\"server\", \"up\", \"rtt_ms\", \"connect_ms\", \"version\"} or {\"server\", \"up\": "
     "false,\n"
     "\"error\"}]. Exit status: 0 every server answered, 2 some did not.",
     "memcoro ping", cmd_ping},
    {"stats", "stats [GROUP] [--json] [--analyze]", 0, 1, opt_json | opt_analyze, false,
     "print each server's statistics, or an analysis of them (memstat)",
     "Prints each server's statistics as `name value` lines (after a `[host:port]` line\n"
     "with several servers), or a JSON object {\"host:port\": {\"name\": \"value\", ...}, ...}.\n"
     "GROUP: items, slabs, sizes, settings, conns, ...\n"
     "\nWith --analyze (memstat --analyze), per server and in total: memory used of the limit,\n"
     "items, the hit ratio of gets, evictions, and the fullest slab class (the one holding\n"
     "the most data: its chunk size, chunks used, bytes and pages).",
     "memcoro stats --json\nmemcoro stats settings\nmemcoro stats --analyze", cmd_stats},
    {"dump", "dump [--json]", 0, 0, opt_json, false,
     "list every key of every server with its expiry and size (memdump)",
     "Lists every key of every server as memcached's `lru_crawler metadump all` reports it\n"
     "(memcached 1.4.31 and later), as it arrives: one `KEY EXPIRY SIZE` line per item,\n"
     "EXPIRY the Unix time at which it expires (-1: never), SIZE the bytes it takes in\n"
     "memory; --json: one JSON object per line with \"key\", \"server\", \"expiry\", \"size\",\n"
     "\"last_access\", \"slab_class\" and \"fetched\". The command is sent on a connection of\n"
     "its own to each server. A server that fails (or is crawling already: BUSY) is named on\n"
     "stderr, exit status 2.\n"
     "\nA server without the LRU crawler (older than 1.4.31, or started with\n"
     "`-o no_lru_crawler`) refuses metadump; its keys are then listed with `stats items` and\n"
     "`stats cachedump CLASS 0` per slab class (memdump's way), which stderr says. Those\n"
     "lines tell less: SIZE is the value's bytes, \"last_access\" and \"fetched\" are null, and\n"
     "memcached lists only each class's cold LRU, at most 2 MB of it, including the expired\n"
     "and flushed items it has not reclaimed yet: a class listed in part is named on stderr\n"
     "(exit status 0).",
     "memcoro dump | wc -l", cmd_dump},
    {"locate", "locate [--down HOST:PORT[,...]] [--json]", 0, 0, opt_json | opt_down, false,
     "print which server owns each key read from stdin",
     "Reads keys from stdin, one per line (every byte up to '\\n' is the key, a '\\r'\n"
     "included), and prints for each the server that owns it under --servers,\n"
     "--distribution and --hash: its name if the list gives one, else host:port. Nothing is\n"
     "sent. --json: one {\"key\", \"server\"} object per line.\n"
     "\nWith --down (servers as --servers names them, or their names), where each key goes\n"
     "while those servers are down, as the distribution's own client places it\n"
     "(client_config::on_down = down_policy::fleet): PECL memcache re-hashes \"KEY-0\",\n"
     "\"KEY-1\", ...; the ketama rings and twemproxy rebuild their ring or table over the live\n"
     "servers (which moves some keys of live servers too); libmemcached's modula fails the\n"
     "key: `-` (--json: \"server\": null).",
     "memcoro locate --servers a:11211,b:11211 --distribution ketama <keys\n"
     "memcoro locate --servers a:11211,b:11211,c:11211 --distribution pecl-consistent --down "
     "b:11211 <keys",
     cmd_locate},
    {"bench",
     "bench [--concurrency N] [--duration S|--ops N] [--keys N] [--zipf S] [--value-size B] "
     "[--get-ratio R] [--json]",
     0, 0, opt_bench | opt_json, false,
     "load the servers with gets and sets, report throughput and latency (memslap)",
     "Runs --concurrency callers, each sending one request at a time over one shared client\n"
     "(pipelined: one connection per server), for --duration seconds or --ops requests; each\n"
     "request is a get with probability --get-ratio, else a set of a --value-size value, on a\n"
     "key drawn from --keys keys (memcoro-bench:0, memcoro-bench:1, ...), uniformly or, with\n"
     "--zipf, by Zipf's law (memcoro-bench:0 the most popular). On a\n"
     "terminal a progress line is updated on stderr. At the end: requests, gets (hits,\n"
     "misses), sets, errors, the duration, throughput and latency percentiles (p50, p90,\n"
     "p99, p99.9, max), as `name value` lines or with --json one object. The servers' own\n"
     "cmd_get and cmd_set grow by exactly the gets and sets reported, errors aside.\n"
     "\nExit status: 0, or 2 when a request failed (the first failure is named on stderr).",
     "memcoro bench --concurrency 64 --duration 10\n"
     "memcoro bench --ops 100000 --get-ratio 0.5 --value-size 1000 --json",
     cmd_bench},
    {"error", "error [CODE|NAME...] [--all] [--json]", 0, many, opt_all | opt_json, false,
     "print what memcoro's error codes mean (memerror)",
     "Prints, for each CODE, its category, number, name and message, and the exit status\n"
     "the CLI reports it with (2 for every error): one `CATEGORY:NUMBER NAME EXIT MESSAGE`\n"
     "line. Without CODE (or with --all), every code: those of\n"
     "memcoro's error category (memcoro::errc), of the value formats (memcoro.value) and of\n"
     "compression (memcoro.compression), the names and messages read from the library\n"
     "itself, then the CLI's exit statuses (exit:0, exit:1, exit:2).\n"
     "\nA CODE is a number of memcoro's own category (4: timeout), an enumerator's name of any\n"
     "category (protocol_desync), or CATEGORY:NUMBER or CATEGORY:NAME (value:2,\n"
     "memcoro.compression:corrupt_data, exit:1). --json: an array of {\"category\", \"value\",\n"
     "\"name\", \"message\", \"exit_status\"} objects. Nothing is sent to a server.\n"
     "\nExit status: 0, or 2 for a CODE that names no error (a usage error).",
     "memcoro error timeout\n"
     "memcoro error 13 value:2 --json\n"
     "memcoro error --all",
     cmd_error},
    {"servers",
     "servers list|add|remove|weight|down|up [ADDRESS [N]] --domain NAME (--file FILE|--store "
     "HOST:PORT) [--weight N] [--name NAME] [--down] [--json]",
     1, 3, opt_server_source | opt_server_entry | opt_json, false,
     "show or edit a domain's versioned server list, in a file or in memcached",
     "Reads or edits the versioned server list of the application domain --domain (issue\n"
     "#17), kept in the JSON file --file or in the memcached --store under\n"
     "the key memcoro.servers.DOMAIN. The other commands take their servers from such a list\n"
     "with --server-list FILE or --server-list-store HOST:PORT and --domain.\n"
     "\n`list` prints the domain's list: `domain`, `version`, `distribution` and `hash` lines,\n"
     "then one `ADDRESS WEIGHT STATUS [NAME]` line per server, in ring order; --json prints\n"
     "the domain's object as the list keeps it. Without --domain, `list --file` prints the\n"
     "file's domains, one per line (--json: an array).\n"
     "\n`add ADDRESS` (--weight N, --name NAME, --down: added marked down), `remove ADDRESS`,\n"
     "`weight ADDRESS N`, `down ADDRESS` and `up ADDRESS` each make one change, whose version\n"
     "is one more than the list's, and print that version. A file is edited under an\n"
     "exclusive lock on FILE.lock and written through a temporary file renamed over it; the\n"
     "store with gets and cas, starting over when another edit came first: editors running at\n"
     "once never lose each other's changes. The first add of a domain creates it (and the\n"
     "file), with --distribution and --hash if given, else ketama and its hash; on an\n"
     "existing domain they must be the list's own.\n"
     "\nExit status: 0, or 2 with nothing written: an add of an address the list has, another\n"
     "edit of one it lacks, a list left without servers, a file that cannot be read or is not\n"
     "a server list, a store that cannot be reached.",
     "memcoro servers add 10.0.0.1:11211 --weight 2 --domain myapp --file servers.json\n"
     "memcoro servers list --domain myapp --file servers.json\n"
     "memcoro servers down 10.0.0.1:11211 --domain myapp --store 10.0.0.9:11211\n"
     "memcoro --server-list servers.json --domain myapp get user:42",
     cmd_servers},
    {"help", "help [COMMAND]", 0, 1, 0, false, "print this text, or a command's help",
     "Prints the overview of every command, or COMMAND's help (as `memcoro COMMAND --help`).",
     "memcoro help\nmemcoro help get", cmd_help},
};

const command_spec* find_command(std::string_view name)
{
    for (const auto& c : command_table)
        if (name == c.name)
            return &c;
    return nullptr;
}

unsigned command_options(std::string_view command)
{
    const command_spec* c = find_command(command);
    return c ? c->options : 0;
}

std::string first_line(std::string_view text)
{
    return std::string(text.substr(0, text.find('\n')));
}

/// Words of `text` (newlines are spaces) wrapped to lines of at most `width` characters.
std::vector<std::string> wrap(std::string_view text, std::size_t width)
{
    std::vector<std::string> lines(1);
    while (!text.empty()) {
        const auto end = text.find_first_of(" \n");
        const std::string_view word = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (word.empty())
            continue;
        if (!lines.back().empty() && lines.back().size() + 1 + word.size() > width)
            lines.emplace_back();
        if (!lines.back().empty())
            lines.back() += ' ';
        lines.back() += word;
    }
    return lines;
}

void append_option(std::string& out, const option_spec& o, std::string_view help)
{
    std::string head = std::string_view(o.name) == "--help" ? "-h, --help" : o.name;
    if (o.value_name)
        head += fmt::format(" {}", o.value_name);
    bool first = true;
    if (head.size() > 20) { // (--tls-server-name NAME) on a line of its own
        out += fmt::format("  {}\n", head);
        first = false;
    }
    for (const auto& line : wrap(help, 76)) {
        out += fmt::format("  {:<20} {}\n", first ? head : "", line);
        first = false;
    }
}

std::string overview()
{
    std::string t =
        "usage: memcoro [--servers LIST] [--distribution NAME] [--hash NAME] [--timeout MS]\n"
        "               [--server-list FILE|--server-list-store HOST:PORT --domain NAME]\n"
        "               [--protocol text|meta|auto] [--tls] [--cacert FILE] [--capath DIR]\n"
        "               [--cert FILE [--key FILE]] [--tls-server-name NAME] [--tls-no-verify]\n"
        "               [--user NAME [--password-file FILE]] [--udp] [--udp-port N]\n"
        "               [--value-format NAME] COMMAND [ARGS] [OPTIONS]\n"
        "\n"
        "The shell's memcached client. Options may appear before or after the command;\n"
        "`--` ends the options (for a value that starts with \"--\"). `memcoro help COMMAND`\n"
        "or `memcoro COMMAND --help` prints a command's help.\n"
        "\n"
        "Commands:\n";
    for (const auto& c : command_table) {
        const std::string synopsis = c.synopsis;
        if (synopsis.size() <= 24)
            t += fmt::format("  {:<24} {}\n", synopsis, c.summary);
        else
            t += fmt::format("  {}\n  {:<24} {}\n", synopsis, "", c.summary);
        t += fmt::format("  {:<24}   {}\n", "", first_line(c.examples));
    }
    t += "\nGlobal options:\n";
    for (const auto& o : option_table)
        if (!o.bit && std::string_view(o.name) != "-h")
            append_option(t, o, o.help);
    t += "\n"
         "TLS and authentication:\n"
         "  --tls, or a server written tls://host:port, reaches servers over TLS and checks their\n"
         "  certificates against --cacert and --capath, or the system's store when neither is\n"
         "  given. --cacert, --capath, --cert, --key, --tls-server-name and --tls-no-verify imply\n"
         "  --tls, unless some server is written tls://host:port: then they apply to those\n"
         "  servers only. With --user (or $MEMCACHED_USERNAME) every connection first\n"
         "  authenticates (memcached -Y); the password comes from --password-file,\n"
         "  $MEMCACHED_PASSWORD_FILE or $MEMCACHED_PASSWORD, never from the command line, and a\n"
         "  user without a password is a usage error.\n";
    t += "\n"
         "Server lists:\n"
         "  --server-list FILE --domain NAME (or --server-list-store HOST:PORT --domain NAME)\n"
         "  takes the servers, their order, weights and names, the distribution and the hash from\n"
         "  the domain's versioned list (`memcoro servers` edits it); --servers, --distribution\n"
         "  and --hash may not be given with it. The servers it lists down are marked down: their\n"
         "  keys fail at once (server down) instead of moving, as they stay on the ring. version,\n"
         "  stats, ping and dump ask every server of the list, those listed down too.\n";
    t += "\nCommand options:\n";
    for (const auto& o : option_table)
        if (o.bit) {
            std::string users;
            for (const auto& c : command_table)
                if (c.options & o.bit)
                    users += users.empty() ? c.name : std::string(", ") + c.name;
            append_option(t, o, fmt::format("({}) {}", users, o.help));
        }
    t += "\n"
         "Exit status:\n"
         "  0  hit, stored, deleted, touched, done\n"
         "  1  miss, not stored, not found, exists (nothing is printed); with several keys:\n"
         "     some of them\n"
         "  2  error: bad usage, invalid key, connection or server failure; one line on stderr\n"
         "     naming the server and the cause, e.g. `memcoro: 127.0.0.1:1: connection failed`\n"
         "\n"
         "Environment:\n"
         "  MEMCACHED_SERVERS        the servers when neither --servers nor a server list is\n"
         "                           given\n"
         "  MEMCACHED_PROTOCOL       text, meta or auto, when --protocol is not given\n"
         "  MEMCACHED_USERNAME       the user to authenticate as when --user is not given\n"
         "  MEMCACHED_PASSWORD_FILE  a file whose first line is the password, when\n"
         "                           --password-file is not given\n"
         "  MEMCACHED_PASSWORD       the password, when neither --password-file nor\n"
         "                           MEMCACHED_PASSWORD_FILE is given\n"
         "  MEMCACHED_VALUE_FORMAT   memcoro, php-memcached or pecl-memcache, when\n"
         "                           --value-format is not given\n"
         "  MEMCACHED_PREFIX         the key prefix, when --prefix is not given\n";
    return t;
}

std::string command_help(const command_spec& c)
{
    std::string t = fmt::format("usage: memcoro {}\n", c.synopsis);
    // Paragraphs are separated by an empty line; each is wrapped anew.
    std::string_view help = c.help;
    while (!help.empty()) {
        const auto end = help.find("\n\n");
        t += '\n';
        for (const auto& line : wrap(help.substr(0, end), 88))
            t += line + '\n';
        help = end == std::string_view::npos ? std::string_view() : help.substr(end + 2);
    }
    bool any = false;
    for (const auto& o : option_table)
        if (o.bit && (c.options & o.bit)) {
            if (!any)
                t += "\nOptions:\n";
            any = true;
            append_option(t, o, o.help);
        }
    t += "\nExamples:\n";
    std::string_view ex = c.examples;
    while (!ex.empty()) {
        const auto nl = ex.find('\n');
        t += fmt::format("  {}\n", ex.substr(0, nl));
        ex = nl == std::string_view::npos ? std::string_view() : ex.substr(nl + 1);
    }
    t += "\nGlobal options (--servers, --server-list, --server-list-store, --domain,\n"
         "--distribution, --hash, --prefix, --hash-with-prefix, --timeout, --protocol,\n"
         "--value-format; TLS: --tls, --cacert,\n"
         "--capath, --cert, --key, --tls-server-name, --tls-no-verify; authentication: --user,\n"
         "--password-file; --udp, --udp-port) and exit status: memcoro --help\n";
    return t;
}

int cmd_help(invocation& inv)
{
    if (inv.o.args.empty()) {
        write_stdout(overview());
        return exit_ok;
    }
    const command_spec* c = find_command(inv.o.args.front());
    if (!c)
        throw usage_error(fmt::format("no help for '{}': no such command (see memcoro --help)",
                                      inv.o.args.front()));
    write_stdout(command_help(*c));
    return exit_ok;
}

/// Checks the argument count and the options the command was given.
void check_command(const command_spec& c, const options& o)
{
    if (o.args.size() < c.min_args || o.args.size() > c.max_args)
        throw usage_error(fmt::format("{} arguments: usage: memcoro {}",
                                      o.args.size() < c.min_args ? "missing" : "too many",
                                      c.synopsis));
    for (const auto& o2 : option_table) {
        if (!o2.bit || !(o.given & o2.bit) || (c.options & o2.bit))
            continue;
        // Name the option as it was given, and the commands that take it.
        std::string given = o2.name;
        for (const auto& n : o.given_names)
            if (const auto* spec = find_option(n, c.name); spec && spec->bit == o2.bit)
                given = n;
        std::vector<std::string> users;
        for (const auto& cmd : command_table)
            if (cmd.options & o2.bit)
                users.emplace_back(cmd.name);
        std::string list;
        for (std::size_t k = 0; k < users.size(); ++k)
            list += (k == 0 ? "" : k + 1 == users.size() ? " and " : ", ") + users[k];
        throw usage_error(fmt::format("{} applies to {}, not {}", given, list, c.name));
    }
    if (o.given & opt_mode) {
        std::size_t modes = 0;
        for (const auto& n : o.given_names)
            modes += n == "--set" || n == "--add" || n == "--replace";
        if (modes > 1)
            throw usage_error("give one of --set, --add and --replace");
    }
}

int main_impl(int argc, char** argv)
{
    invocation inv;
    inv.o = parse_command_line(argc, argv);
    options& o = inv.o;
    if (o.command == "locate")
        error_prefix = "memcoro locate";
    const command_spec* c = o.command.empty() ? nullptr : find_command(o.command);
    if (!o.command.empty() && !c)
        throw usage_error(fmt::format("unknown command '{}' (see memcoro --help)", o.command));
    if (o.help) {
        // `memcoro --help`, `memcoro help [COMMAND]`, `memcoro COMMAND --help`.
        if (!c || (c->handler == cmd_help && !o.args.empty()))
            return cmd_help(inv);
        write_stdout(command_help(*c));
        return exit_ok;
    }
    if (o.version) {
        write_stdout(fmt::format("memcoro " MEMCORO_VERSION "\ntls: {}\n",
                                 memcoro::tls_available() ? "yes" : "no"));
        return exit_ok;
    }
    if (!c)
        throw usage_error("no command given (see memcoro --help)");
    check_command(*c, o);
    if (c->handler != cmd_help && c->handler != cmd_locate && c->handler != cmd_error &&
        c->handler != cmd_servers) {
        inv.list = server_list_of(o);
        inv.cfg = make_config(o, true, inv.list ? &*inv.list : nullptr);
        if (o.tls_no_verify)
            report("warning: --tls-no-verify: the server's certificate is not checked");
    }
    // The value comes from the command line, or all of stdin, before anything is sent.
    if (c->stores)
        inv.value = o.args.size() == c->max_args ? o.args.back() : read_stdin();
    const int rc = c->handler(inv);
    if (std::fflush(stdout) != 0)
        throw std::runtime_error(fmt::format("writing standard output: {}", std::strerror(errno)));
    return rc;
}

} // namespace

int main(int argc, char** argv)
{
    const auto prefix = [] { return error_prefix.c_str(); };
    try {
        return main_impl(argc, argv);
    } catch (const memcoro::error& e) {
        std::fprintf(stderr, "%s: %s\n", prefix(), failure_text(e).c_str());
    } catch (const usage_error& e) {
        std::fprintf(stderr, "%s: %s\n", prefix(), e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", prefix(), strip_prefix(e.what()).c_str());
    }
    return exit_error;
}
