#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>

#include <charconv>
#include <cstring>

namespace memcoro::proto {

reply_kind expected_reply(command c) noexcept
{
    switch (c) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats:
        return reply_kind::retrieval;
    case command::touch:
        return reply_kind::touch;
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas:
        return reply_kind::storage;
    case command::del:
        return reply_kind::deletion;
    case command::incr:
    case command::decr:
        return reply_kind::arithmetic;
    case command::flush_all:
    case command::verbosity:
        return reply_kind::ok;
    case command::version:
        return reply_kind::version;
    case command::stats:
        return reply_kind::stats;
    }
    return reply_kind::ok;
}

bool is_retrieval(command c) noexcept
{
    return expected_reply(c) == reply_kind::retrieval;
}

bool is_storage(command c) noexcept
{
    return expected_reply(c) == reply_kind::storage;
}

const char* command_name(command c) noexcept
{
    switch (c) {
    case command::get:
        return "get";
    case command::gets:
        return "gets";
    case command::gat:
        return "gat";
    case command::gats:
        return "gats";
    case command::touch:
        return "touch";
    case command::set:
        return "set";
    case command::add:
        return "add";
    case command::replace:
        return "replace";
    case command::append:
        return "append";
    case command::prepend:
        return "prepend";
    case command::cas:
        return "cas";
    case command::del:
        return "delete";
    case command::incr:
        return "incr";
    case command::decr:
        return "decr";
    case command::flush_all:
        return "flush_all";
    case command::version:
        return "version";
    case command::stats:
        return "stats";
    case command::verbosity:
        return "verbosity";
    }
    return "?";
}

std::error_code check_key(std::string_view key) noexcept
{
    if (key.empty() || key.size() > max_key_length)
        return errc::invalid_key;
    // Eight bytes at a time (keys are valid almost always): a byte below 0x21 or equal to 0x7f
    // sets the high bit of its lane in `bad` (the exact "has a byte less than n" test; bytes
    // of 0x80 and above are allowed and never flagged). The last eight bytes are read as one
    // word overlapping the one before; a key shorter than eight is padded with 'A's.
    constexpr std::uint64_t ones = 0x0101010101010101u;
    constexpr std::uint64_t highs = 0x8080808080808080u;
    const auto lanes_bad = [](std::uint64_t x) {
        const std::uint64_t del = x ^ (ones * 0x7f); // 0x7f bytes become 0
        return ((x - ones * 0x21) & ~x & highs) | ((del - ones) & ~del & highs);
    };
    const char* p = key.data();
    const std::size_t n = key.size();
    std::uint64_t x = ones * 'A';
    if (n < 8) {
        std::memcpy(&x, p, n);
        return lanes_bad(x) ? std::error_code(errc::invalid_key) : std::error_code{};
    }
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i + 8 < n; i += 8) {
        std::memcpy(&x, p + i, 8);
        bad |= lanes_bad(x);
    }
    std::memcpy(&x, p + n - 8, 8);
    bad |= lanes_bad(x);
    return bad ? std::error_code(errc::invalid_key) : std::error_code{};
}

std::error_code validate(const request& req) noexcept
{
    if (req.multi_key) {
        const bool storage = is_storage(req.cmd);
        if (!(is_retrieval(req.cmd) || storage || req.cmd == command::del) || req.keys.empty() ||
            (storage && req.values.size() != req.keys.size()))
            return errc::invalid_argument;
        for (const auto& k : req.keys)
            if (auto ec = check_key(k))
                return ec;
        return {};
    }
    switch (req.cmd) {
    case command::flush_all:
    case command::version:
    case command::verbosity:
        return {};
    case command::stats:
        // A group is one token of printable characters ("items", "slabs", "sizes", ...).
        for (unsigned char ch : req.group)
            if (ch <= 0x20 || ch == 0x7f)
                return errc::invalid_argument;
        return req.group.size() > 64 ? std::error_code(errc::invalid_argument) : std::error_code{};
    default:
        return check_key(req.key);
    }
}

namespace {

void append_uint(std::string& out, std::uint64_t v)
{
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_int(std::string& out, std::int64_t v)
{
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace

void encode_text(const request& req, std::string& out)
{
    out += command_name(req.cmd);
    switch (req.cmd) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats:
        if (req.cmd == command::gat || req.cmd == command::gats) {
            out += ' ';
            append_int(out, req.exptime);
        }
        if (!req.multi_key) {
            out += ' ';
            out += req.key;
        } else {
            for (const auto& k : req.keys) {
                out += ' ';
                out += k;
            }
        }
        break;
    case command::touch:
        out += ' ';
        out += req.key;
        out += ' ';
        append_int(out, req.exptime);
        break;
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas:
        out += ' ';
        out += req.key;
        out += ' ';
        append_uint(out, req.flags);
        out += ' ';
        append_int(out, req.exptime);
        out += ' ';
        append_uint(out, req.value.size());
        if (req.cmd == command::cas) {
            out += ' ';
            append_uint(out, req.cas);
        }
        break;
    case command::del:
        out += ' ';
        out += req.key;
        break;
    case command::incr:
    case command::decr:
        out += ' ';
        out += req.key;
        out += ' ';
        append_uint(out, req.cas);
        break;
    case command::flush_all:
        if (req.has_delay) {
            out += ' ';
            append_int(out, req.exptime);
        }
        break;
    case command::version:
        break;
    case command::stats:
        if (!req.group.empty()) {
            out += ' ';
            out += req.group;
        }
        break;
    case command::verbosity:
        out += ' ';
        append_int(out, req.exptime);
        break;
    }
    out += "\r\n";
}

} // namespace memcoro::proto
