#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>

#include "numbers.hpp"

#include <cstring>
#include <limits>
#include <optional>

namespace memcoro::proto {
namespace {

using numbers::parse_uint;
using numbers::read_uint;

inline bool starts_with(std::string_view s, std::string_view p) noexcept
{
    return s.size() >= p.size() && std::memcmp(s.data(), p.data(), p.size()) == 0;
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
    case reply_type::noop: // (a meta reply: never from the text decoder)
        return false;
    case reply_type::error:
    case reply_type::client_error:
    case reply_type::server_error:
        return true;
    }
    return false;
}

/// The replies that are one fixed word, told apart by their length first.
std::optional<reply_type> simple_line_type(std::string_view line) noexcept
{
    const char* p = line.data();
    switch (line.size()) {
    case 2:
        if (std::memcmp(p, "OK", 2) == 0)
            return reply_type::ok;
        break;
    case 3:
        if (std::memcmp(p, "END", 3) == 0)
            return reply_type::end;
        break;
    case 5:
        if (std::memcmp(p, "ERROR", 5) == 0)
            return reply_type::error;
        break;
    case 6:
        if (std::memcmp(p, "STORED", 6) == 0)
            return reply_type::stored;
        if (std::memcmp(p, "EXISTS", 6) == 0)
            return reply_type::exists;
        break;
    case 7:
        if (std::memcmp(p, "DELETED", 7) == 0)
            return reply_type::deleted;
        if (std::memcmp(p, "TOUCHED", 7) == 0)
            return reply_type::touched;
        break;
    case 9:
        if (std::memcmp(p, "NOT_FOUND", 9) == 0)
            return reply_type::not_found;
        break;
    case 10:
        if (std::memcmp(p, "NOT_STORED", 10) == 0)
            return reply_type::not_stored;
        break;
    default:
        break;
    }
    return std::nullopt;
}

} // namespace

bool decoder::first_line(std::string_view in, std::string_view& line, std::size_t& header,
                         std::error_code& ec) const noexcept
{
    const std::size_t scan = in.size() < limits_.max_line ? in.size() : limits_.max_line;
    const void* nl = scan ? std::memchr(in.data(), '\n', scan) : nullptr;
    if (!nl) {
        if (in.size() >= limits_.max_line)
            ec = errc::protocol_error; // a line longer than any valid reply line
        return false;
    }
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(nl) - in.data());
    if (lf == 0 || in[lf - 1] != '\r') {
        ec = errc::protocol_error;
        return false;
    }
    line = in.substr(0, lf - 1);
    header = lf + 1;
    return true;
}

std::size_t decoder::data_block(std::string_view in, std::size_t header, std::uint64_t len,
                                std::string_view& data, std::error_code& ec) noexcept
{
    if (len > limits_.max_item_size) {
        ec = errc::protocol_error; // never allocate what a hostile header announces
        return 0;
    }
    const std::size_t total = header + static_cast<std::size_t>(len) + 2;
    if (in.size() < total) {
        pending_ = total;
        return 0;
    }
    if (in[total - 2] != '\r' || in[total - 1] != '\n') {
        ec = errc::protocol_error;
        return 0;
    }
    data = in.substr(header, static_cast<std::size_t>(len));
    return total;
}

parse_result decoder::parse_value(std::string_view in, std::string_view line, std::size_t header,
                                  reply_kind expected, reply& out, std::error_code& ec)
{
    // "VALUE <key> <flags> <bytes>[ <cas>]", in one pass; tokens separated by one space.
    constexpr parse_result need_more{parse_status::need_more, 0};
    const auto fail = [&] {
        ec = errc::protocol_error;
        return need_more;
    };
    if (expected != reply_kind::retrieval)
        return fail();
    const char* p = line.data() + 6;
    const char* const end = line.data() + line.size();
    const char* const key = p;
    const void* space = std::memchr(p, ' ', static_cast<std::size_t>(end - p));
    p = space ? static_cast<const char*>(space) : end;
    const auto key_size = static_cast<std::size_t>(p - key);
    if (p == end || key_size == 0 || key_size > max_key_length)
        return fail();
    ++p;
    std::uint64_t len = 0;
    if (!read_uint(p, end, out.flags) || p == end || *p != ' ')
        return fail();
    ++p;
    if (!read_uint(p, end, len))
        return fail();
    if (p != end) {
        ++p; // the space before the cas unique
        if (!read_uint(p, end, out.cas) || p != end)
            return fail();
        out.has_cas = true;
    }
    const std::size_t total = data_block(in, header, len, out.data, ec);
    if (total == 0)
        return need_more;
    out.key = std::string_view(key, key_size);
    out.type = reply_type::value;
    return {parse_status::done, total};
}

parse_result decoder::parse_text(std::string_view in, reply_kind expected, reply& out,
                                 std::error_code& ec)
{
    constexpr parse_result need_more{parse_status::need_more, 0};
    ec = {};
    pending_ = 0;
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

    // The end of every retrieval, first.
    if (in.size() >= 5 && std::memcmp(in.data(), "END\r\n", 5) == 0)
        return finish(reply_type::end, 5);

    std::string_view line;
    std::size_t header = 0;
    if (!first_line(in, line, header, ec))
        return need_more;

    if (line.size() > 6 && std::memcmp(line.data(), "VALUE ", 6) == 0)
        return parse_value(in, line, header, expected, out, ec);
    if (const auto t = simple_line_type(line))
        return finish(*t, header);
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
