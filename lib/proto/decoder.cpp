#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>

#include <cstring>

namespace memcoro::proto {
namespace {

bool starts_with(std::string_view s, std::string_view p) noexcept
{
    return s.substr(0, p.size()) == p;
}

// Strict unsigned decimal: digits only, no sign, no overflow. One pass.
template <class T>
bool parse_uint(std::string_view s, T& out) noexcept
{
    if (s.empty() || s.size() > 20)
        return false;
    T v = 0;
    for (const char c : s) {
        const auto d = static_cast<unsigned>(static_cast<unsigned char>(c)) - unsigned{'0'};
        if (d > 9 || __builtin_mul_overflow(v, T{10}, &v) ||
            __builtin_add_overflow(v, static_cast<T>(d), &v))
            return false;
    }
    out = v;
    return true;
}

// Splits off the next space-separated token; tokens are separated by exactly one space.
// (Tokens are short: a plain loop beats a call to memchr.)
bool next_token(std::string_view& rest, std::string_view& tok) noexcept
{
    if (rest.empty())
        return false;
    const char* p = rest.data();
    const std::size_t n = rest.size();
    std::size_t i = 0;
    while (i < n && p[i] != ' ')
        ++i;
    tok = std::string_view(p, i);
    rest = i == n ? std::string_view{} : std::string_view(p + i + 1, n - i - 1);
    return i != 0;
}

bool accepts(reply_kind expected, reply_type t) noexcept
{
    switch (t) {
    case reply_type::value:
        return expected == reply_kind::retrieval;
    case reply_type::stat:
        return expected == reply_kind::stats;
    case reply_type::end:
        return expected == reply_kind::retrieval || expected == reply_kind::stats;
    case reply_type::stored:
    case reply_type::not_stored:
    case reply_type::exists:
        return expected == reply_kind::storage;
    case reply_type::not_found:
        return expected == reply_kind::storage || expected == reply_kind::deletion ||
               expected == reply_kind::touch || expected == reply_kind::arithmetic;
    case reply_type::deleted:
        return expected == reply_kind::deletion;
    case reply_type::touched:
        return expected == reply_kind::touch;
    case reply_type::number:
        return expected == reply_kind::arithmetic;
    case reply_type::ok:
        return expected == reply_kind::ok;
    case reply_type::version:
        return expected == reply_kind::version;
    case reply_type::error:
    case reply_type::client_error:
    case reply_type::server_error:
        return true;
    }
    return false;
}

struct simple_line {
    std::string_view text;
    reply_type type;
};

constexpr simple_line simple_lines[] = {
    {"END", reply_type::end},
    {"STORED", reply_type::stored},
    {"NOT_STORED", reply_type::not_stored},
    {"EXISTS", reply_type::exists},
    {"NOT_FOUND", reply_type::not_found},
    {"DELETED", reply_type::deleted},
    {"TOUCHED", reply_type::touched},
    {"OK", reply_type::ok},
    {"ERROR", reply_type::error},
};

} // namespace

parse_result decoder::parse(std::string_view in, reply_kind expected, reply& out,
                            std::error_code& ec)
{
    constexpr parse_result need_more{parse_status::need_more, 0};
    ec = {};
    pending_ = 0;

    const std::size_t scan = in.size() < limits_.max_line ? in.size() : limits_.max_line;
    const void* nl = scan ? std::memchr(in.data(), '\n', scan) : nullptr;
    if (!nl) {
        if (in.size() >= limits_.max_line)
            ec = errc::protocol_error; // a line longer than any valid reply line
        return need_more;
    }
    const std::size_t lf = static_cast<const char*>(nl) - in.data();
    if (lf == 0 || in[lf - 1] != '\r') {
        ec = errc::protocol_error;
        return need_more;
    }
    const std::string_view line = in.substr(0, lf - 1);
    const std::size_t header = lf + 1;

    out = reply{};
    auto finish = [&](reply_type t, std::size_t consumed) -> parse_result {
        // A VALUE/STAT block may only be followed by more of the same, END or an error line:
        // accepts() allows VALUE/STAT/END only for the kinds that draw such blocks.
        if (!accepts(expected, t)) {
            ec = errc::protocol_error;
            return need_more;
        }
        out.type = t;
        return {parse_status::done, consumed};
    };

    if (starts_with(line, "VALUE ")) {
        std::string_view rest = line.substr(6), key, flags, bytes, cas;
        // A trailing space would leave an empty last token that next_token() cannot see.
        if (line.back() == ' ' || !next_token(rest, key) || !next_token(rest, flags) ||
            !next_token(rest, bytes)) {
            ec = errc::protocol_error;
            return need_more;
        }
        std::uint64_t len = 0;
        if (key.size() > max_key_length || !parse_uint(flags, out.flags) ||
            !parse_uint(bytes, len)) {
            ec = errc::protocol_error;
            return need_more;
        }
        if (!rest.empty()) {
            if (!next_token(rest, cas) || !rest.empty() || !parse_uint(cas, out.cas)) {
                ec = errc::protocol_error;
                return need_more;
            }
            out.has_cas = true;
        }
        if (len > limits_.max_item_size) {
            ec = errc::protocol_error; // never allocate what a hostile header announces
            return need_more;
        }
        const std::size_t total = header + static_cast<std::size_t>(len) + 2;
        if (in.size() < total) {
            pending_ = total;
            return need_more;
        }
        if (in[total - 2] != '\r' || in[total - 1] != '\n') {
            ec = errc::protocol_error;
            return need_more;
        }
        out.key = key;
        out.data = in.substr(header, static_cast<std::size_t>(len));
        return finish(reply_type::value, total);
    }
    if (starts_with(line, "STAT ")) {
        std::string_view rest = line.substr(5);
        auto sp = rest.find(' ');
        out.name = rest.substr(0, sp);
        out.data = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        if (out.name.empty()) {
            ec = errc::protocol_error;
            return need_more;
        }
        return finish(reply_type::stat, header);
    }
    if (starts_with(line, "VERSION ")) {
        out.data = line.substr(8);
        return finish(reply_type::version, header);
    }
    if (starts_with(line, "CLIENT_ERROR")) {
        out.data = line.size() > 13 ? line.substr(13) : std::string_view{};
        if (line.size() > 12 && line[12] != ' ') {
            ec = errc::protocol_error;
            return need_more;
        }
        return finish(reply_type::client_error, header);
    }
    if (starts_with(line, "SERVER_ERROR")) {
        out.data = line.size() > 13 ? line.substr(13) : std::string_view{};
        if (line.size() > 12 && line[12] != ' ') {
            ec = errc::protocol_error;
            return need_more;
        }
        return finish(reply_type::server_error, header);
    }
    if (starts_with(line, "ERROR ")) { // some servers explain an unknown command
        out.data = line.substr(6);
        return finish(reply_type::error, header);
    }
    for (const auto& s : simple_lines)
        if (line == s.text)
            return finish(s.type, header);
    if (!line.empty() && line.front() >= '0' && line.front() <= '9') {
        if (!parse_uint(line, out.number)) {
            ec = errc::protocol_error;
            return need_more;
        }
        return finish(reply_type::number, header);
    }
    ec = errc::protocol_error;
    return need_more;
}

} // namespace memcoro::proto
