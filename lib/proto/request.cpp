#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <concepts>
#include <cstring>
#include <type_traits>

namespace memcoro::proto {

namespace {

/// check_key's test, without building an error code.
bool valid_key(std::string_view key) noexcept
{
    if (key.empty() || key.size() > max_key_length)
        return false;
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
        return !lanes_bad(x);
    }
    // The first and the last eight bytes (all of a key of up to 16), then the ones between.
    std::uint64_t last = 0;
    std::memcpy(&x, p, 8);
    std::memcpy(&last, p + n - 8, 8);
    std::uint64_t bad = lanes_bad(x) | lanes_bad(last);
    for (std::size_t i = 8; i + 8 < n; i += 8) {
        std::memcpy(&x, p + i, 8);
        bad |= lanes_bad(x);
    }
    return !bad;
}

/// A valid key; with `binary_ok` (the meta dialect, base64) also one of any bytes that fits.
/// `prefix`: the bytes of the prefix it is sent with, counted against the limits.
bool key_ok(std::string_view key, bool binary_ok, std::size_t prefix) noexcept
{
    const std::size_t whole = key.size() + prefix;
    return (whole <= max_key_length && valid_key(key)) ||
           (binary_ok && !key.empty() && whole <= max_binary_key_length);
}

} // namespace

std::error_code check_key(std::string_view key, bool binary_ok, std::size_t prefix_size) noexcept
{
    return key_ok(key, binary_ok, prefix_size) ? std::error_code{}
                                               : std::error_code(errc::invalid_key);
}

bool valid_key_prefix(std::string_view prefix) noexcept
{
    if (prefix.size() > max_key_prefix_length)
        return false;
    for (const char ch : prefix)
        if (ch < 0x21 || ch > 0x7e) // (char may be signed: bytes from 0x80 are below 0)
            return false;
    return true;
}

bool needs_base64(std::string_view key) noexcept
{
    return !valid_key(key);
}

namespace {

std::error_code check_keys(const string_list& keys, bool binary, std::size_t prefix) noexcept
{
    const std::size_t n = keys.size();
    if (n == 0)
        return errc::invalid_argument;
    for (std::size_t j = 0; j < n; ++j)
        if (!key_ok(keys[j], binary, prefix))
            return errc::invalid_key;
    return {};
}

struct validator {
    bool binary;        // keys of any bytes (the meta dialect: base64)
    std::size_t prefix; // the key prefix's bytes, sent before every key
    std::error_code operator()(const retrieval& r) const noexcept
    {
        // A lease's placeholder must expire (N0 would never), and R0 could never trigger.
        if ((r.vivify && (*r.vivify <= 0 || *r.vivify > max_meta_ttl)) ||
            (r.recache && (*r.recache <= 0 || *r.recache > max_meta_ttl)))
            return errc::invalid_argument;
        return check_keys(r.keys, binary, prefix);
    }
    std::error_code operator()(const storage& r) const noexcept
    {
        if (r.values.size() != r.keys.size() || (r.mode == store_mode::cas && r.keys.size() != 1))
            return errc::invalid_argument;
        return check_keys(r.keys, binary, prefix);
    }
    std::error_code operator()(const deletion& r) const noexcept
    {
        // A CAS to compare belongs to one item; a stale TTL goes with an invalidation.
        if ((r.cas_unique != 0 && r.keys.size() != 1) || (r.stale_ttl && !r.invalidate))
            return errc::invalid_argument;
        return check_keys(r.keys, binary, prefix);
    }
    std::error_code operator()(const arithmetic& r) const noexcept
    {
        return check_key(r.key, binary, prefix);
    }
    std::error_code operator()(const touch& r) const noexcept
    {
        return check_key(r.key, binary, prefix);
    }
    std::error_code operator()(const flush&) const noexcept { return {}; }
    std::error_code operator()(const verbosity&) const noexcept { return {}; }
    std::error_code operator()(const version&) const noexcept { return {}; }
    std::error_code operator()(const stats& r) const noexcept
    {
        // A group is one token of printable characters ("items", "slabs", "sizes", ...).
        for (unsigned char ch : r.group)
            if (ch <= 0x20 || ch == 0x7f)
                return errc::invalid_argument;
        return r.group.size() > 64 ? std::error_code(errc::invalid_argument) : std::error_code{};
    }
};

} // namespace

std::error_code validate(const request& req, bool binary_keys, std::size_t prefix_size) noexcept
{
    return std::visit(validator{binary_keys, prefix_size}, req);
}

namespace {

/// Writes the parts of a command line straight into `out`.
class string_writer {
public:
    explicit string_writer(std::string& out) noexcept
        : out_(out)
    {
    }
    void word(std::string_view w) { out_ += w; }
    void name(command c) { out_ += command_name(c); }
    void arg(std::string_view w)
    {
        out_ += ' ';
        out_ += w;
    }
    /// A key, after the prefix it is sent with.
    void key(std::string_view prefix, std::string_view k)
    {
        out_ += ' ';
        out_ += prefix;
        out_ += k;
    }
    template <std::integral Int>
    void arg(Int v)
    {
        char buf[24];
        out_ += ' ';
        out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
    }
    void finish() { out_ += "\r\n"; }

private:
    std::string& out_;
};

/// Writes a command line into a buffer on the stack, appended to `out` in one piece: for
/// lines of at most `line_max` bytes. (The buffer is the caller's, not a member: the writer's
/// position can then stay in a register while bytes are written.)
class line_writer {
public:
    /// The longest line of a single key of at most 250 bytes (its prefix included), or a
    /// stats group of at most 64: a storage command's name, the key, and four numbers of up
    /// to 20 digits.
    static constexpr std::size_t line_max = 9 + 1 + max_key_length + 4 * 21 + 2;

    line_writer(std::string& out, char (&buf)[line_max]) noexcept
        : out_(out)
        , buf_(buf)
        , p_(buf)
    {
    }
    void word(std::string_view w) noexcept
    {
        std::memcpy(p_, w.data(), w.size());
        p_ += w.size();
    }
    /// A command's name, copied as one block of fixed size (the buffer has room for it).
    void name(command c) noexcept
    {
        const auto& n = padded_names[static_cast<std::size_t>(c)];
        std::memcpy(p_, n.text, sizeof n.text);
        p_ += n.size;
    }
    void arg(std::string_view w) noexcept
    {
        *p_++ = ' ';
        word(w);
    }
    /// A key, after the prefix it is sent with (nothing more when there is none).
    void key(std::string_view prefix, std::string_view k) noexcept
    {
        *p_++ = ' ';
        if (!prefix.empty()) [[unlikely]]
            word(prefix);
        word(k);
    }
    template <std::integral Int>
    void arg(Int v) noexcept
    {
        *p_++ = ' ';
        // Flags and expiry are 0 in most requests, value sizes mostly below 1000: such
        // numbers are written digit by digit, the others by to_chars.
        const auto u = static_cast<std::make_unsigned_t<Int>>(v);
        if (u < 10) {
            *p_++ = static_cast<char>('0' + u);
        } else if (u < 1000) {
            if (u >= 100)
                *p_++ = static_cast<char>('0' + u / 100);
            *p_++ = static_cast<char>('0' + u / 10 % 10);
            *p_++ = static_cast<char>('0' + u % 10);
        } else {
            p_ = std::to_chars(p_, buf_ + line_max, v).ptr;
        }
    }
    [[gnu::always_inline]] void finish()
    {
        *p_++ = '\r';
        *p_++ = '\n';
        out_.append(buf_, static_cast<std::size_t>(p_ - buf_));
    }

private:
    std::string& out_;
    struct padded_name {
        char text[16];
        std::size_t size;
    };
    static constexpr auto padded_names = [] {
        std::array<padded_name, static_cast<std::size_t>(command::verbosity) + 1> names{};
        for (std::size_t c = 0; c < names.size(); ++c) {
            const std::string_view n = command_name(static_cast<command>(c));
            std::copy(n.begin(), n.end(), names[c].text);
            names[c].size = n.size();
        }
        return names;
    }();
    static_assert(sizeof(padded_name::text) <= line_max);

    char* buf_;
    char* p_;
};

/// Every request's line but storage's (whose lines come one per key).
template <class Writer>
struct line_encoder {
    Writer& w;
    std::string_view prefix; // sent before every key

    void operator()(const retrieval& r) const
    {
        w.name(r.cmd());
        if (r.exptime)
            w.arg(*r.exptime);
        for (std::size_t j = 0, n = r.keys.size(); j < n; ++j)
            w.key(prefix, r.keys[j]);
        w.finish();
    }
    void operator()(const deletion& r) const
    {
        for (std::size_t j = 0, n = r.keys.size(); j < n; ++j) {
            w.word("delete");
            w.key(prefix, r.keys[j]);
            w.finish();
        }
    }
    void operator()(const arithmetic& r) const
    {
        w.name(r.cmd());
        w.key(prefix, r.key);
        w.arg(r.delta);
        w.finish();
    }
    void operator()(const touch& r) const
    {
        w.word("touch");
        w.key(prefix, r.key);
        w.arg(r.exptime);
        w.finish();
    }
    void operator()(const flush& r) const
    {
        w.word("flush_all");
        if (r.delay)
            w.arg(*r.delay);
        w.finish();
    }
    void operator()(const verbosity& r) const
    {
        w.word("verbosity");
        w.arg(r.level);
        w.finish();
    }
    void operator()(const stats& r) const
    {
        w.word("stats");
        if (!r.group.empty())
            w.arg(r.group);
        w.finish();
    }
    void operator()(const version&) const
    {
        w.word("version");
        w.finish();
    }
    void operator()(const storage& r) const
    {
        for (std::size_t j = 0, n = r.keys.size(); j < n; ++j)
            line(r, j);
    }
    [[gnu::always_inline]] void line(const storage& r, std::size_t j) const
    {
        w.name(r.cmd());
        w.key(prefix, r.keys[j]);
        w.arg(r.flags_of(j));
        w.arg(r.exptime);
        w.arg(r.values[j].size());
        if (r.mode == store_mode::cas)
            w.arg(r.cas_unique);
        w.finish();
    }
};

/// Is the request one short line (built on the stack)?
struct is_one_short_line {
    std::size_t prefix; // the bytes sent before every key
    bool fits(std::string_view key) const noexcept { return key.size() + prefix <= max_key_length; }
    bool operator()(const retrieval& r) const noexcept
    {
        return r.keys.size() == 1 && fits(r.keys[0]);
    }
    bool operator()(const storage&) const noexcept { return false; }
    bool operator()(const deletion& r) const noexcept
    {
        return r.keys.size() == 1 && fits(r.keys[0]);
    }
    bool operator()(const stats& r) const noexcept { return r.group.size() <= 64; }
    bool operator()(const arithmetic& r) const noexcept { return fits(r.key); }
    bool operator()(const touch& r) const noexcept { return fits(r.key); }
    bool operator()(const auto&) const noexcept { return true; }
};

bool one_short_line(const request& req, std::size_t prefix) noexcept
{
    return std::visit(is_one_short_line{prefix}, req);
}

} // namespace

namespace {

/// Writes a retrieval line of many keys (`key_at(j)` for j < n) through a buffer on the
/// stack, appended to `out` whenever the next key might not fit: a few appends per line
/// rather than two per key.
template <class KeyAt>
void write_keys_line(const retrieval& head, std::size_t n, KeyAt key_at, std::string& out,
                     std::string_view prefix)
{
    char buf[1024];
    char* p = buf;
    char* const end = buf + sizeof buf;
    const std::string_view name = command_name(head.cmd());
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    if (head.exptime) {
        *p++ = ' ';
        p = std::to_chars(p, end, *head.exptime).ptr;
    }
    for (std::size_t j = 0; j < n; ++j) {
        const std::string& k = key_at(j);
        // Room for " key" (and its prefix) and the line's end.
        const std::size_t room = prefix.size() + k.size() + 3;
        if (static_cast<std::size_t>(end - p) < room) {
            out.append(buf, static_cast<std::size_t>(p - buf));
            p = buf;
            if (room > sizeof buf) { // (longer than any valid key)
                out += ' ';
                out += prefix;
                out += k;
                continue;
            }
        }
        *p++ = ' ';
        if (!prefix.empty()) [[unlikely]] {
            std::memcpy(p, prefix.data(), prefix.size());
            p += prefix.size();
        }
        std::memcpy(p, k.data(), k.size());
        p += k.size();
    }
    *p++ = '\r';
    *p++ = '\n';
    out.append(buf, static_cast<std::size_t>(p - buf));
}

} // namespace

void encode_text_line(const storage& req, std::size_t j, std::string& out, std::string_view prefix)
{
    if (req.keys[j].size() + prefix.size() <= max_key_length) {
        char buf[line_writer::line_max];
        line_writer w(out, buf);
        line_encoder<line_writer>{w, prefix}.line(req, j);
    } else {
        string_writer w(out);
        line_encoder<string_writer>{w, prefix}.line(req, j);
    }
}

void encode_text(const request& req, std::string& out, std::string_view prefix)
{
    if (const auto* r = std::get_if<retrieval>(&req)) {
        if (r->keys.size() == 1 && !r->exptime) {
            // A get or gets of one key, the most common request by far.
            if (r->with_cas)
                out.append("gets ", 5);
            else
                out.append("get ", 4);
            if (!prefix.empty()) [[unlikely]]
                out += prefix;
            out += r->keys[0];
            out.append("\r\n", 2);
            return;
        }
        if (r->keys.size() > 1) {
            const string_list& keys = r->keys;
            write_keys_line(
                *r, keys.size(), [&](std::size_t j) -> const std::string& { return keys[j]; }, out,
                prefix);
            return;
        }
    }
    if (const auto* s = std::get_if<storage>(&req)) {
        for (std::size_t j = 0, n = s->keys.size(); j < n; ++j) {
            encode_text_line(*s, j, out, prefix);
            out += s->values[j];
            out += "\r\n";
        }
        return;
    }
    // Single-key lines (almost every request) are built on the stack and appended at once;
    // multi-key ones, of any length, piece by piece.
    if (one_short_line(req, prefix.size())) {
        char buf[line_writer::line_max];
        line_writer w(out, buf);
        std::visit(line_encoder<line_writer>{w, prefix}, req);
    } else {
        string_writer w(out);
        std::visit(line_encoder<string_writer>{w, prefix}, req);
    }
}

void encode_text_merged(const retrieval& head, std::span<const std::string* const> keys,
                        std::string& out, std::string_view prefix)
{
    write_keys_line(
        head, keys.size(), [&](std::size_t j) -> const std::string& { return *keys[j]; }, out,
        prefix);
}

} // namespace memcoro::proto
