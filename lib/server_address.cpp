#include <memcoro/server_address.hpp>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace memcoro {
namespace {

std::string_view trim(std::string_view s)
{
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <class T>
bool to_number(std::string_view s, T& out)
{
    if (s.empty())
        return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

[[noreturn]] void bad(std::string_view text, const char* why)
{
    throw std::invalid_argument("memcoro: bad server address '" + std::string(text) + "': " + why);
}

} // namespace

std::string server_address::to_string() const
{
    if (is_unix())
        return socket_path;
    if (host.find(':') != std::string::npos)
        return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

server_address server_address::parse(std::string_view text)
{
    const std::string_view original = text;
    text = trim(text);
    server_address a;
    // An optional name after whitespace (twemproxy: "host:port:weight name").
    if (auto sp = text.find_first_of(" \t"); sp != std::string_view::npos) {
        a.name = std::string(trim(text.substr(sp + 1)));
        text = text.substr(0, sp);
        if (a.name.empty() || a.name.find_first_of(" \t") != std::string::npos)
            bad(original, "a name is one word");
    }
    if (text.empty())
        bad(original, "empty");
    if (text.starts_with("tls://")) {
        a.tls = true;
        text.remove_prefix(6);
        if (text.empty() || text.front() == '/')
            bad(original, "tls:// takes a host and port");
    } else if (const auto scheme = text.find("://"); scheme != std::string_view::npos) {
        bad(original, "the only scheme is tls://");
    }
    std::string_view rest;
    if (text.front() == '/') {
        // A Unix socket path, optionally with ":weight".
        auto colon = text.rfind(':');
        std::uint32_t w = 0;
        if (colon != std::string_view::npos && to_number(text.substr(colon + 1), w)) {
            a.weight = w;
            text = text.substr(0, colon);
        }
        a.socket_path = std::string(text);
        a.host = a.socket_path;
        a.port = 0;
        if (a.weight == 0)
            bad(original, "weight must be positive");
        return a;
    }
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close == 1)
            bad(original, "unterminated [address]");
        a.host = std::string(text.substr(1, close - 1));
        rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            bad(original, "expected ':' after ']'");
    } else {
        auto colon = text.find(':');
        a.host = std::string(text.substr(0, colon));
        rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    }
    if (a.host.empty())
        bad(original, "empty host");
    if (!rest.empty()) {
        rest.remove_prefix(1); // ':'
        auto colon = rest.find(':');
        std::string_view port = rest.substr(0, colon);
        unsigned p = 0;
        if (!to_number(port, p) || p == 0 || p > 65535)
            bad(original, "port must be 1-65535");
        a.port = static_cast<std::uint16_t>(p);
        if (colon != std::string_view::npos) {
            std::string_view weight = rest.substr(colon + 1);
            if (!to_number(weight, a.weight) || a.weight == 0)
                bad(original, "weight must be a positive integer");
        }
    }
    return a;
}

std::vector<server_address> server_address::parse_list(std::string_view text)
{
    std::vector<server_address> out;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto entry = trim(text.substr(0, comma));
        if (!entry.empty())
            out.push_back(parse(entry));
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

std::vector<server_address> server_address::from_environment(std::string_view fallback)
{
    const char* env = std::getenv("MEMCACHED_SERVERS");
    return parse_list(env && *env ? std::string_view(env) : fallback);
}

} // namespace memcoro
