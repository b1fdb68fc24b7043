// `memcoro locate`: key → server as a configured client would place it. Compiled into the memcoro
// CLI together with lib/server_address.cpp and the ring library; see locate.hpp.

#include "locate.hpp"

#include <memcoro/ring/distribution.hpp>
#include <memcoro/server_address.hpp>

#include <istream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: memcoro locate --servers LIST --distribution NAME [--hash NAME]\n"
    "\n"
    "Reads keys from standard input, one per line, and prints for each the server that owns it\n"
    "under the given distribution: its name if LIST gives one, else host:port.\n"
    "\n"
    "  --servers LIST       host:port[:weight][ name], comma-separated\n"
    "  --distribution NAME  modula, ketama, ketama-spy, consistent, pecl-consistent,\n"
    "                       pecl-standard, twemproxy-ketama, twemproxy-modula, or another\n"
    "                       client's spelling: MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA\n"
    "                       (= consistent), Memcached::OPT_LIBKETAMA_COMPATIBLE (= ketama), ...\n"
    "                       (docs/distributions.md)\n"
    "  --hash NAME          key hash (default: the distribution's own): one-at-a-time, md5, crc,\n"
    "                       crc32, fnv1_32, fnv1a_32, fnv1_64, fnv1a_64, hsieh, murmur, murmur3,\n"
    "                       jenkins, or MEMCACHED_HASH_*, fnv (PECL), crc32a (twemproxy);\n"
    "                       twemproxy's crc32 is crc\n";

struct options {
    std::optional<std::string> servers;
    std::optional<std::string> distribution;
    std::optional<std::string> hash;
    bool help = false;
};

/// Thrown for a bad command line; the message is the one line printed on err.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

options parse_args(const std::vector<std::string>& args)
{
    options opts;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            opts.help = true;
            continue;
        }
        // Both "--opt value" and "--opt=value".
        std::string_view name = arg;
        std::optional<std::string> value;
        if (auto eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = std::string(arg.substr(eq + 1));
        }
        std::optional<std::string>* target = nullptr;
        if (name == "--servers")
            target = &opts.servers;
        else if (name == "--distribution")
            target = &opts.distribution;
        else if (name == "--hash")
            target = &opts.hash;
        else
            throw usage_error("unknown argument '" + std::string(arg) + "'");
        if (!value) {
            if (i + 1 == args.size())
                throw usage_error(std::string(name) + " needs a value");
            value = args[++i];
        }
        *target = std::move(value);
    }
    return opts;
}

/// What locate prints for a server: its name, else host:port as server_address writes it.
std::string label_of(const memcoro::server_address& a)
{
    return a.name.empty() ? a.to_string() : a.name;
}

} // namespace

int locate_main(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err)
{
    std::optional<memcoro::ring::continuum> ring;
    std::vector<std::string> labels;
    try {
        const options opts = parse_args(args);
        if (opts.help) {
            out << usage;
            return 0;
        }
        if (!opts.servers)
            throw usage_error("--servers is required");
        if (!opts.distribution)
            throw usage_error("--distribution is required");
        // memcoro's names or another client's spelling (with the key hash it stands for).
        const auto distribution = memcoro::ring::parse_distribution(*opts.distribution);
        if (!distribution)
            throw usage_error("unknown distribution '" + *opts.distribution + "'");
        memcoro::ring::hash_kind key_hash = distribution->hash;
        if (opts.hash) {
            const auto parsed = memcoro::ring::parse_hash(*opts.hash);
            if (!parsed)
                throw usage_error("unknown hash '" + *opts.hash + "'");
            key_hash = *parsed;
        }
        // The ring library does not know server_address: convert here.
        std::vector<memcoro::ring::node> nodes;
        for (const memcoro::server_address& a :
             memcoro::server_address::parse_list(*opts.servers)) {
            nodes.push_back({a.host, a.port, a.weight, a.name});
            labels.push_back(label_of(a));
        }
        if (nodes.empty())
            throw usage_error("--servers lists no server");
        ring.emplace(distribution->distribution, key_hash, std::move(nodes));
    } catch (const std::invalid_argument& e) { // from parse_list or the continuum
        err << "memcoro locate: " << e.what() << '\n';
        return 2;
    } catch (const usage_error& e) {
        err << "memcoro locate: " << e.what() << " (see memcoro locate --help)\n";
        return 2;
    }

    // Only '\n' ends a key: keys may contain any other byte, and a '\r' is kept on purpose so
    // that what is located is exactly what would be sent.
    std::string key;
    while (std::getline(in, key))
        out << labels[ring->server_for(key)] << '\n';
    out.flush();
    return 0;
}
