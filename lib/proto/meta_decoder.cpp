// The meta dialect's replies: "<code> [<size>] <flags>*\r\n" and, after VA, a data block.

#include <memcoro/error.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/meta.hpp>

#include "numbers.hpp"

#include <cstring>
#include <limits>

namespace memcoro::proto {
namespace {

using numbers::parse_uint;
using numbers::read_uint;

enum class meta_code : std::uint8_t { va, hd, en, nf, ns, ex, mn, other };

meta_code code_of(std::string_view line) noexcept
{
    if (line.size() < 2 || (line.size() > 2 && line[2] != ' '))
        return meta_code::other;
    const auto two = [&](const char* c) { return line[0] == c[0] && line[1] == c[1]; };
    if (two("VA"))
        return meta_code::va;
    if (two("HD"))
        return meta_code::hd;
    if (two("EN"))
        return meta_code::en;
    if (two("NF"))
        return meta_code::nf;
    if (two("NS"))
        return meta_code::ns;
    if (two("EX"))
        return meta_code::ex;
    if (two("MN"))
        return meta_code::mn;
    return meta_code::other;
}

/// The reply type a code stands for, given the request it answers; false when the code cannot
/// answer it.
bool type_of(meta_code c, reply_kind k, reply_type& t) noexcept
{
    switch (c) {
    case meta_code::va:
        if (k == reply_kind::meta_get)
            return t = reply_type::value, true;
        if (k == reply_kind::meta_arithmetic)
            return t = reply_type::number, true;
        return false;
    case meta_code::hd:
        if (k == reply_kind::meta_touch)
            return t = reply_type::touched, true;
        if (k == reply_kind::meta_storage)
            return t = reply_type::stored, true;
        if (k == reply_kind::meta_deletion)
            return t = reply_type::deleted, true;
        return false;
    case meta_code::en:
        if (k == reply_kind::meta_get)
            return t = reply_type::end, true;
        if (k == reply_kind::meta_touch)
            return t = reply_type::not_found, true;
        return false;
    case meta_code::nf:
        if (k == reply_kind::meta_storage || k == reply_kind::meta_deletion ||
            k == reply_kind::meta_arithmetic)
            return t = reply_type::not_found, true;
        return false;
    case meta_code::ns:
        if (k == reply_kind::meta_storage || k == reply_kind::meta_arithmetic)
            return t = reply_type::not_stored, true;
        return false;
    case meta_code::ex:
        if (k == reply_kind::meta_storage || k == reply_kind::meta_deletion ||
            k == reply_kind::meta_arithmetic)
            return t = reply_type::exists, true;
        return false;
    case meta_code::mn:
        // (The end of a quiet batch: of gets, or of writes of several keys.)
        if (k == reply_kind::meta_get || k == reply_kind::meta_storage ||
            k == reply_kind::meta_deletion)
            return t = reply_type::noop, true;
        return false;
    case meta_code::other:
        break;
    }
    return false;
}

bool parse_hex32(std::string_view s, std::uint32_t& out) noexcept
{
    if (s.empty() || s.size() > max_opaque_digits)
        return false;
    std::uint32_t v = 0;
    for (const char ch : s) {
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = static_cast<unsigned>(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = static_cast<unsigned>(ch - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    out = v;
    return true;
}

/// The returned flags, from `p` (at a space or at the end) to `end`: each " <letter>[token]".
bool parse_flags(const char* p, const char* end, reply& out) noexcept
{
    auto& m = out.meta;
    while (p < end) {
        if (*p != ' ' || ++p == end)
            return false;
        const char* const tok = p;
        const void* sp = std::memchr(p, ' ', static_cast<std::size_t>(end - p));
        p = sp ? static_cast<const char*>(sp) : end;
        const std::string_view arg(tok + 1, static_cast<std::size_t>(p - tok - 1));
        switch (*tok) {
        case 'O':
            // Only the opaque numbers memcoro sends, once.
            if (out.has_opaque || !parse_hex32(arg, out.opaque))
                return false;
            out.has_opaque = true;
            break;
        case 'k':
            if (arg.empty() || arg.size() > max_key_length || !out.key.empty())
                return false;
            out.key = arg;
            break;
        case 'c':
            if (!parse_uint(arg, out.cas))
                return false;
            out.has_cas = true;
            break;
        case 'f':
            if (!parse_uint(arg, out.flags))
                return false;
            break;
        case 'h':
            if (arg.size() != 1 || (arg[0] != '0' && arg[0] != '1'))
                return false;
            m.present |= meta_info::has_hit | (arg[0] == '1' ? meta_info::hit_before : 0);
            break;
        case 'l':
            if (!parse_uint(arg, m.last_access))
                return false;
            m.present |= meta_info::has_last_access;
            break;
        case 's':
            if (!parse_uint(arg, m.size))
                return false;
            m.present |= meta_info::has_size;
            break;
        case 't': {
            std::uint64_t ttl = 0;
            if (arg == "-1")
                m.ttl = -1;
            else if (parse_uint(arg, ttl) &&
                     ttl <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                m.ttl = static_cast<std::int64_t>(ttl);
            else
                return false;
            m.present |= meta_info::has_ttl;
            break;
        }
        case 'W':
        case 'X':
        case 'Z':
        case 'b':
            if (!arg.empty())
                return false;
            m.present |= *tok == 'W'   ? meta_info::won
                         : *tok == 'X' ? meta_info::stale
                         : *tok == 'Z' ? meta_info::win_sent
                                       : meta_info::base64_key;
            break;
        default:
            // A flag memcoro did not ask for (a newer server's): ignored, but it must be a
            // letter.
            if (!((*tok >= 'a' && *tok <= 'z') || (*tok >= 'A' && *tok <= 'Z')))
                return false;
            break;
        }
    }
    return true;
}

/// ma's value: digits, then possibly spaces (memcached pads a number that got shorter).
bool parse_number_block(std::string_view data, std::uint64_t& out) noexcept
{
    std::size_t n = data.size();
    while (n > 0 && data[n - 1] == ' ')
        --n;
    return n > 0 && parse_uint(data.substr(0, n), out);
}

} // namespace

parse_result decoder::parse_meta(std::string_view in, reply_kind expected, reply& out,
                                 std::error_code& ec)
{
    constexpr parse_result need_more{parse_status::need_more, 0};
    const auto fail = [&] {
        ec = errc::protocol_error;
        return need_more;
    };
    ec = {};
    pending_ = 0;
    out = reply{};
    std::string_view line;
    std::size_t header = 0;
    if (!first_line(in, line, header, ec))
        return need_more;
    const meta_code code = code_of(line);
    if (code == meta_code::other) // error lines, and the replies of text commands
        return parse_text(in, expected, out, ec);
    reply_type type{};
    if (!type_of(code, expected, type))
        return fail();
    const char* p = line.data() + 2;
    const char* const end = line.data() + line.size();
    if (code == meta_code::mn) {
        if (p != end)
            return fail();
        out.type = type;
        return {parse_status::done, header};
    }
    std::uint64_t len = 0;
    if (code == meta_code::va) {
        if (p == end || *p != ' ')
            return fail();
        ++p;
        if (!read_uint(p, end, len))
            return fail();
    }
    if (!parse_flags(p, end, out))
        return fail();
    if (code != meta_code::va) {
        out.type = type;
        return {parse_status::done, header};
    }
    const std::size_t total = data_block(in, header, len, out.data, ec);
    if (total == 0)
        return need_more;
    if (type == reply_type::number && !parse_number_block(out.data, out.number))
        return fail();
    out.type = type;
    return {parse_status::done, total};
}

} // namespace memcoro::proto
