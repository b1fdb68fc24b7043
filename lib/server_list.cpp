#include <memcoro/server_list.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace memcoro {

namespace {

class server_list_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro.server_list"; }
    std::string message(int c) const override
    {
        switch (static_cast<server_list_errc>(c)) {
        case server_list_errc::invalid_json:
            return "server list: not valid JSON";
        case server_list_errc::no_such_domain:
            return "server list: no list for the domain";
        case server_list_errc::invalid_field:
            return "server list: a field is missing or of the wrong type";
        case server_list_errc::unknown_distribution:
            return "server list: unknown distribution";
        case server_list_errc::unknown_hash:
            return "server list: unknown hash";
        case server_list_errc::invalid_address:
            return "server list: invalid server address";
        case server_list_errc::invalid_weight:
            return "server list: invalid weight";
        case server_list_errc::duplicate_server:
            return "server list: a server is listed twice";
        case server_list_errc::empty_list:
            return "server list: no servers";
        case server_list_errc::older_version:
            return "server list: older than the list in force";
        case server_list_errc::same_version_changed:
            return "server list: the version in force, with other contents";
        case server_list_errc::distribution_changed:
            return "server list: another distribution or hash than the client's";
        case server_list_errc::list_too_large:
            return "server list: too large";
        case server_list_errc::invalid_reply:
            return "server list: not a valid discovery reply";
        }
        return "server list: unknown error";
    }
};

using json = nlohmann::json;

bool fail(server_list_error& err, server_list_errc e, std::string reason)
{
    err.ec = e;
    err.reason = std::move(reason);
    return false;
}

/// The JSON text of a value, for a reason (cut short).
std::string shown(const json& v)
{
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 80)
        s = s.substr(0, 77) + "...";
    return s;
}

bool parse_entry(const json& e, std::size_t i, server_list_entry& out, server_list_error& err)
{
    const std::string where = "servers[" + std::to_string(i) + "]";
    if (!e.is_object())
        return fail(err, server_list_errc::invalid_field, where + ": not an object");
    const auto addr = e.find("address");
    if (addr == e.end() || !addr->is_string())
        return fail(err, server_list_errc::invalid_field, where + ": no \"address\" string");
    try {
        out.address = server_address::parse(addr->get<std::string>());
    } catch (const std::invalid_argument& ex) {
        return fail(err, server_list_errc::invalid_address,
                    where + ": address " + shown(*addr) + ": " + ex.what());
    }
    if (const auto w = e.find("weight"); w != e.end()) {
        if (!w->is_number_integer())
            return fail(err, server_list_errc::invalid_weight,
                        where + ": weight " + shown(*w) + ": not an integer");
        const auto n = w->is_number_unsigned()
                           ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                 w->get<std::uint64_t>(), std::numeric_limits<std::int64_t>::max()))
                           : w->get<std::int64_t>();
        if (n < 1 || n > std::numeric_limits<std::uint32_t>::max())
            return fail(err, server_list_errc::invalid_weight,
                        where + ": weight " + shown(*w) + ": weights are 1 to 4294967295");
        out.address.weight = static_cast<std::uint32_t>(n);
    }
    if (const auto n = e.find("name"); n != e.end()) {
        if (!n->is_string())
            return fail(err, server_list_errc::invalid_field, where + ": \"name\" not a string");
        out.address.name = n->get<std::string>();
    }
    if (const auto s = e.find("status"); s != e.end()) {
        if (*s == "up")
            out.status = server_status::up;
        else if (*s == "down")
            out.status = server_status::down;
        else
            return fail(err, server_list_errc::invalid_field,
                        where + ": status " + shown(*s) + ": \"up\" or \"down\"");
    }
    return true;
}

bool parse_domain(const json& d, std::string_view domain, server_list& out, server_list_error& err)
{
    if (!d.is_object())
        return fail(err, server_list_errc::invalid_field, "the domain's list is not an object");
    server_list l;
    l.domain = std::string(domain);
    const auto v = d.find("version");
    if (v == d.end() || !v->is_number_unsigned())
        return fail(err, server_list_errc::invalid_field,
                    "\"version\": " + (v == d.end() ? std::string("missing") : shown(*v)) +
                        ": a version is an integer, 0 or more");
    l.version = v->get<std::uint64_t>();
    if (const auto dist = d.find("distribution"); dist != d.end()) {
        const auto spec =
            dist->is_string() ? ring::parse_distribution(dist->get<std::string>()) : std::nullopt;
        if (!spec)
            return fail(err, server_list_errc::unknown_distribution,
                        "distribution " + shown(*dist) + ": unknown");
        l.distribution = spec->distribution;
        // A name that stands for a hash too (e.g. MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) sets it.
        if (spec->hash != ring::default_hash(spec->distribution))
            l.hash = spec->hash;
    }
    if (const auto h = d.find("hash"); h != d.end()) {
        const auto kind = h->is_string() ? ring::parse_hash(h->get<std::string>()) : std::nullopt;
        if (!kind)
            return fail(err, server_list_errc::unknown_hash, "hash " + shown(*h) + ": unknown");
        l.hash = *kind;
    }
    const auto servers = d.find("servers");
    if (servers == d.end() || !servers->is_array())
        return fail(err, server_list_errc::invalid_field, "no \"servers\" array");
    for (std::size_t i = 0; i < servers->size(); ++i) {
        server_list_entry e;
        if (!parse_entry((*servers)[i], i, e, err))
            return false;
        l.servers.push_back(std::move(e));
    }
    if (!check_server_list(l, err))
        return false;
    out = std::move(l);
    return true;
}

bool parse_json(std::string_view text, json& out, server_list_error& err)
{
    if (text.size() > max_server_list_bytes)
        return fail(err, server_list_errc::list_too_large,
                    std::to_string(text.size()) + " bytes: a list is at most " +
                        std::to_string(max_server_list_bytes));
    out = json::parse(text.begin(), text.end(), nullptr, false);
    if (out.is_discarded())
        return fail(err, server_list_errc::invalid_json, "not valid JSON");
    return true;
}

/// Does a socket path end in ":DIGITS", which server_address::parse would read as a weight?
bool ends_like_weight(std::string_view path)
{
    const auto colon = path.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == path.size())
        return false;
    return std::all_of(path.begin() + static_cast<std::ptrdiff_t>(colon) + 1, path.end(),
                       [](char ch) { return ch >= '0' && ch <= '9'; });
}

json entry_json(const server_list_entry& e)
{
    json o;
    std::string address = e.address.tls && !e.address.is_unix() ? "tls://" + e.address.to_string()
                                                                : e.address.to_string();
    // (Such a path is written with its weight after it, so that it reads back whole.)
    if (e.address.is_unix() && ends_like_weight(e.address.socket_path))
        address += ":" + std::to_string(e.address.weight);
    o["address"] = std::move(address);
    o["weight"] = e.address.weight;
    if (!e.address.name.empty())
        o["name"] = e.address.name;
    o["status"] = e.status == server_status::up ? "up" : "down";
    return o;
}

json domain_json(const server_list& l)
{
    json d;
    d["version"] = l.version;
    d["distribution"] = ring::to_string(l.distribution);
    if (l.hash)
        d["hash"] = ring::to_string(*l.hash);
    json servers = json::array();
    for (const auto& e : l.servers)
        servers.push_back(entry_json(e));
    d["servers"] = std::move(servers);
    return d;
}

} // namespace

std::string_view errc_name(server_list_errc e) noexcept
{
    switch (e) {
    case server_list_errc::invalid_json:
        return "invalid_json";
    case server_list_errc::no_such_domain:
        return "no_such_domain";
    case server_list_errc::invalid_field:
        return "invalid_field";
    case server_list_errc::unknown_distribution:
        return "unknown_distribution";
    case server_list_errc::unknown_hash:
        return "unknown_hash";
    case server_list_errc::invalid_address:
        return "invalid_address";
    case server_list_errc::invalid_weight:
        return "invalid_weight";
    case server_list_errc::duplicate_server:
        return "duplicate_server";
    case server_list_errc::empty_list:
        return "empty_list";
    case server_list_errc::older_version:
        return "older_version";
    case server_list_errc::same_version_changed:
        return "same_version_changed";
    case server_list_errc::distribution_changed:
        return "distribution_changed";
    case server_list_errc::list_too_large:
        return "list_too_large";
    case server_list_errc::invalid_reply:
        return "invalid_reply";
    }
    return "";
}

const std::error_category& server_list_category() noexcept
{
    static const server_list_category_impl c;
    return c;
}

bool parse_server_list(std::string_view text, std::string_view domain, server_list& out,
                       server_list_error& err)
{
    json doc;
    if (!parse_json(text, doc, err))
        return false;
    const auto domains = doc.is_object() ? doc.find("domains") : doc.end();
    if (domains == doc.end() || !domains->is_object())
        return fail(err, server_list_errc::invalid_field, "no \"domains\" object");
    const auto d = domains->find(std::string(domain));
    if (d == domains->end())
        return fail(err, server_list_errc::no_such_domain,
                    "no list for domain \"" + std::string(domain) + "\"");
    return parse_domain(*d, domain, out, err);
}

bool parse_domain_list(std::string_view text, std::string_view domain, server_list& out,
                       server_list_error& err)
{
    json doc;
    if (!parse_json(text, doc, err))
        return false;
    return parse_domain(doc, domain, out, err);
}

std::optional<std::vector<std::string>> server_list_domains(std::string_view text)
{
    if (text.size() > max_server_list_bytes)
        return std::nullopt;
    const json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return std::nullopt;
    const auto domains = doc.find("domains");
    if (domains == doc.end() || !domains->is_object())
        return std::nullopt;
    std::vector<std::string> names;
    for (const auto& [name, list] : domains->items())
        names.push_back(name);
    return names;
}

bool check_server_list(const server_list& list, server_list_error& err)
{
    if (list.servers.empty())
        return fail(err, server_list_errc::empty_list, "no servers");
    std::unordered_set<std::string> seen;
    for (std::size_t i = 0; i < list.servers.size(); ++i) {
        const auto& a = list.servers[i].address;
        if (a.weight == 0)
            return fail(err, server_list_errc::invalid_weight,
                        "servers[" + std::to_string(i) + "]: weight 0: weights are at least 1");
        const std::string name = a.to_string();
        if (!seen.insert(name).second)
            return fail(err, server_list_errc::duplicate_server,
                        "servers[" + std::to_string(i) + "]: " + name + " is listed twice");
    }
    return true;
}

std::string to_json(const server_list& list)
{
    return domain_json(list).dump();
}

std::string with_domain_list(std::string_view text, const server_list& list)
{
    json doc = json::object();
    if (!text.empty()) {
        doc = json::parse(text.begin(), text.end(), nullptr, false);
        if (doc.is_discarded() || !doc.is_object() ||
            (doc.contains("domains") && !doc["domains"].is_object()))
            throw std::invalid_argument("not a server list file");
    }
    doc["domains"][list.domain] = domain_json(list);
    return doc.dump(2) + "\n";
}

server_list_diff diff(const server_list& from, const server_list& to)
{
    server_list_diff d;
    std::vector<std::string> before, after;
    for (const auto& e : from.servers)
        before.push_back(e.address.to_string());
    for (const auto& e : to.servers)
        after.push_back(e.address.to_string());
    auto find = [](const std::vector<std::string>& names, const std::string& n) {
        return static_cast<std::size_t>(std::find(names.begin(), names.end(), n) - names.begin());
    };
    std::vector<std::string> kept_before, kept_after;
    for (std::size_t i = 0; i < to.servers.size(); ++i) {
        const std::size_t j = find(before, after[i]);
        if (j == before.size()) {
            d.added.push_back(to.servers[i]);
            continue;
        }
        kept_after.push_back(after[i]);
        const auto& old = from.servers[j].address;
        const auto& now = to.servers[i].address;
        if (old.weight != now.weight || old.name != now.name || old.tls != now.tls)
            d.reweighted.push_back(to.servers[i]);
        if (from.servers[j].status != to.servers[i].status)
            d.restatused.push_back(to.servers[i]);
    }
    for (std::size_t j = 0; j < from.servers.size(); ++j) {
        if (find(after, before[j]) == after.size())
            d.removed.push_back(from.servers[j]);
        else
            kept_before.push_back(before[j]);
    }
    d.reordered = kept_before != kept_after;
    return d;
}

bool may_replace(const server_list& current, const server_list& next, server_list_error& err)
{
    if (current.version == 0 && current.servers.empty())
        return true;
    if (next.version < current.version)
        return fail(err, server_list_errc::older_version,
                    "version " + std::to_string(next.version) + " is older than " +
                        std::to_string(current.version) + ", the list in force");
    if (next.version == current.version && !(next == current))
        return fail(err, server_list_errc::same_version_changed,
                    "version " + std::to_string(next.version) +
                        " is the version in force, with other contents: a change needs a "
                        "greater version");
    return true;
}

discovery_reply::state discovery_reply::fail(std::string why)
{
    reason_ = std::move(why);
    return state::failed;
}

discovery_reply::state discovery_reply::feed(std::string_view in)
{
    // The header line: CONFIG cluster FLAGS BYTES\r\n (\n alone accepted).
    const auto eol = in.find('\n');
    if (eol == std::string_view::npos)
        return in.size() > 256 ? fail("no header line in the first 256 bytes") : state::incomplete;
    std::string_view header = in.substr(0, eol);
    if (!header.empty() && header.back() == '\r')
        header.remove_suffix(1);
    if (header.rfind("CONFIG cluster ", 0) != 0) {
        std::string shown(header.substr(0, 80));
        for (char& ch : shown)
            if (static_cast<unsigned char>(ch) < ' ' || ch == 0x7f)
                ch = '?';
        return fail("not a CONFIG cluster reply: \"" + shown + "\"");
    }
    std::string_view rest = header.substr(15);
    const auto sp = rest.find(' ');
    if (sp == std::string_view::npos)
        return fail("CONFIG line without a byte count");
    std::uint64_t flags = 0, bytes = 0;
    auto r1 = std::from_chars(rest.data(), rest.data() + sp, flags);
    auto r2 = std::from_chars(rest.data() + sp + 1, rest.data() + rest.size(), bytes);
    if (r1.ec != std::errc{} || r1.ptr != rest.data() + sp || r2.ec != std::errc{} ||
        r2.ptr != rest.data() + rest.size())
        return fail("CONFIG line with bad numbers");
    if (bytes > max_server_list_bytes)
        return fail("CONFIG reply of " + std::to_string(bytes) + " bytes: at most " +
                    std::to_string(max_server_list_bytes));
    const std::size_t body_at = eol + 1;
    // The body, then \r\n (or \n) and END\r\n (or END\n).
    if (in.size() < body_at + bytes)
        return state::incomplete;
    const std::string_view body = in.substr(body_at, bytes);
    std::string_view tail = in.substr(body_at + bytes);
    for (std::string_view end : {std::string_view("\r\nEND\r\n"), std::string_view("\nEND\n"),
                                 std::string_view("\r\nEND\n"), std::string_view("\nEND\r\n")}) {
        if (tail.size() >= end.size() && tail.substr(0, end.size()) == end) {
            size_ = body_at + bytes + end.size();
            tail = {};
            break;
        }
    }
    if (size_ == 0) {
        // A prefix of one of the endings: wait; anything else is wrong.
        const std::string_view longest = "\r\nEND\r\n";
        const std::string_view shorter = "\nEND\n";
        auto prefix_of = [&](std::string_view e) {
            return tail.size() < e.size() && e.substr(0, tail.size()) == tail;
        };
        if (prefix_of(longest) || prefix_of(shorter) || prefix_of("\r\nEND\n") ||
            prefix_of("\nEND\r\n"))
            return state::incomplete;
        return fail("no END after the CONFIG body");
    }

    // Body: the version line, then the entries' line.
    server_list l;
    std::size_t at = 0;
    auto next_line = [&](std::string_view& line) {
        if (at >= body.size())
            return false;
        auto nl = body.find('\n', at);
        if (nl == std::string_view::npos)
            nl = body.size();
        line = body.substr(at, nl - at);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        at = nl + 1;
        return true;
    };
    std::string_view version_line, entries;
    if (!next_line(version_line))
        return fail("CONFIG body without a version");
    auto rv =
        std::from_chars(version_line.data(), version_line.data() + version_line.size(), l.version);
    if (version_line.empty() || rv.ec != std::errc{} ||
        rv.ptr != version_line.data() + version_line.size())
        return fail("CONFIG version is not a number");
    if (!next_line(entries))
        entries = {};
    std::string_view more;
    while (next_line(more))
        if (!more.empty())
            return fail("CONFIG body with more than two lines");
    std::size_t pos = 0;
    while (pos < entries.size()) {
        const auto end = std::min(entries.find(' ', pos), entries.size());
        const std::string_view entry = entries.substr(pos, end - pos);
        pos = end + 1;
        if (entry.empty())
            continue;
        // Host names and addresses are printable ASCII (names beyond it are punycode).
        for (unsigned char ch : entry)
            if (ch <= ' ' || ch >= 0x7f)
                return fail("CONFIG entry with a byte that is not printable ASCII");
        const auto bar1 = entry.find('|');
        const auto bar2 = bar1 == std::string_view::npos ? bar1 : entry.find('|', bar1 + 1);
        if (bar2 == std::string_view::npos || entry.find('|', bar2 + 1) != std::string_view::npos)
            return fail("CONFIG entry not host|ip|port: \"" + std::string(entry.substr(0, 80)) +
                        "\"");
        const std::string_view host = entry.substr(0, bar1);
        const std::string_view ip = entry.substr(bar1 + 1, bar2 - bar1 - 1);
        const std::string_view port = entry.substr(bar2 + 1);
        unsigned p = 0;
        auto rp = std::from_chars(port.data(), port.data() + port.size(), p);
        if (port.empty() || rp.ec != std::errc{} || rp.ptr != port.data() + port.size() || p == 0 ||
            p > 65535 || (host.empty() && ip.empty()))
            return fail("CONFIG entry with a bad host or port: \"" +
                        std::string(entry.substr(0, 80)) + "\"");
        server_list_entry e;
        try {
            const std::string where(ip.empty() ? host : ip);
            e.address = server_address::parse(where.find(':') != std::string::npos
                                                  ? "[" + where + "]:" + std::string(port)
                                                  : where + ":" + std::string(port));
        } catch (const std::invalid_argument&) {
            return fail("CONFIG entry with a bad address: \"" + std::string(entry.substr(0, 80)) +
                        "\"");
        }
        l.servers.push_back(std::move(e));
    }
    server_list_error err;
    if (!check_server_list(l, err))
        return fail("CONFIG list: " + err.reason);
    list_ = std::move(l);
    return state::complete;
}

} // namespace memcoro
