#include <memcoro/error.hpp>
#include <memcoro/proto/request.hpp>

#include <charconv>
#include <concepts>
#include <cstring>

namespace memcoro::proto {

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
        const std::size_t n = req.key_count();
        if (!(is_retrieval(req.cmd) || storage || req.cmd == command::del) || n == 0 ||
            (storage && (req.borrowed_keys || req.values.size() != n)))
            return errc::invalid_argument;
        for (std::size_t j = 0; j < n; ++j)
            if (auto ec = check_key(req.key_at(j)))
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

/// Writes the parts of a command line straight into `out`.
class string_writer {
public:
    explicit string_writer(std::string& out) noexcept
        : out_(out)
    {
    }
    void word(std::string_view w) { out_ += w; }
    void arg(std::string_view w)
    {
        out_ += ' ';
        out_ += w;
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
/// lines of at most `line_max` bytes.
class line_writer {
public:
    /// The longest line of a single key of at most 250 bytes, or a stats group of at most
    /// 64: a storage command's name, the key, and four numbers of up to 20 digits.
    static constexpr std::size_t line_max = 9 + 1 + max_key_length + 4 * 21 + 2;

    explicit line_writer(std::string& out) noexcept
        : out_(out)
    {
    }
    void word(std::string_view w) noexcept
    {
        std::memcpy(p_, w.data(), w.size());
        p_ += w.size();
    }
    void arg(std::string_view w) noexcept
    {
        *p_++ = ' ';
        word(w);
    }
    template <std::integral Int>
    void arg(Int v) noexcept
    {
        *p_++ = ' ';
        p_ = std::to_chars(p_, buf_ + sizeof buf_, v).ptr;
    }
    void finish()
    {
        *p_++ = '\r';
        *p_++ = '\n';
        out_.append(buf_, p_);
    }

private:
    std::string& out_;
    char buf_[line_max];
    char* p_ = buf_;
};

template <class Writer>
void write_line(const request& req, Writer& w)
{
    w.word(command_name(req.cmd));
    switch (req.cmd) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats:
        if (req.cmd == command::gat || req.cmd == command::gats)
            w.arg(req.exptime);
        if (!req.multi_key) {
            w.arg(req.key);
        } else {
            for (std::size_t j = 0, n = req.key_count(); j < n; ++j)
                w.arg(req.key_at(j));
        }
        break;
    case command::touch:
        w.arg(req.key);
        w.arg(req.exptime);
        break;
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas:
        w.arg(req.key);
        w.arg(req.flags);
        w.arg(req.exptime);
        w.arg(req.value.size());
        if (req.cmd == command::cas)
            w.arg(req.cas);
        break;
    case command::del:
        w.arg(req.key);
        break;
    case command::incr:
    case command::decr:
        w.arg(req.key);
        w.arg(req.cas);
        break;
    case command::flush_all:
        if (req.has_delay)
            w.arg(req.exptime);
        break;
    case command::version:
        break;
    case command::stats:
        if (!req.group.empty())
            w.arg(req.group);
        break;
    case command::verbosity:
        w.arg(req.exptime);
        break;
    }
    w.finish();
}

} // namespace

void encode_text(const request& req, std::string& out)
{
    // Single-key lines (almost every request) are built on the stack and appended at once;
    // multi-key ones, of any length, piece by piece.
    if (!req.multi_key && req.key.size() <= max_key_length && req.group.size() <= 64) {
        line_writer w(out);
        write_line(req, w);
    } else {
        string_writer w(out);
        write_line(req, w);
    }
}

} // namespace memcoro::proto
