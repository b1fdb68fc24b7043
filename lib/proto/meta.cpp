#include <memcoro/error.hpp>
#include <memcoro/proto/meta.hpp>

#include "base64.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

namespace memcoro::proto {
namespace {

/// Builds one meta command line on the stack and appends it to `out` in one piece. A line
/// holds a command, one key of at most 250 bytes and a few flags: line_max covers them all.
class meta_line {
public:
    static constexpr std::size_t line_max = 3 + max_key_length + 8 * 22 + 2;

    explicit meta_line(std::string_view cmd) noexcept
    {
        std::memcpy(p_, cmd.data(), cmd.size());
        p_ += cmd.size();
    }
    /// The key, after `prefix` (the client's namespace, printable); one the text form cannot
    /// carry goes base64-encoded, its prefix with it, the line flagged `b` (validate() made
    /// sure its encoding fits in max_key_length).
    void key(std::string_view prefix, std::string_view k) noexcept
    {
        *p_++ = ' ';
        if (needs_base64(k)) [[unlikely]] {
            if (prefix.empty()) {
                p_ = base64::encode(k, p_);
            } else {
                // (Bounded by validate(): the prefix and the key fit in whole.)
                char whole[max_binary_key_length];
                const std::size_t np = std::min(prefix.size(), sizeof whole);
                const std::size_t nk = std::min(k.size(), sizeof whole - np);
                std::memcpy(whole, prefix.data(), np);
                std::memcpy(whole + np, k.data(), nk);
                p_ = base64::encode(std::string_view(whole, np + nk), p_);
            }
            binary_ = true; // (its flag goes last: after ms's data length)
            return;
        }
        if (!prefix.empty()) [[unlikely]] {
            std::memcpy(p_, prefix.data(), prefix.size());
            p_ += prefix.size();
        }
        std::memcpy(p_, k.data(), k.size());
        p_ += k.size();
    }
    /// A bare number (ms's data length).
    template <class Int>
    void number(Int v) noexcept
    {
        *p_++ = ' ';
        p_ = std::to_chars(p_, buf_ + line_max, v).ptr;
    }
    /// A flag without a token.
    void flag(char f) noexcept
    {
        *p_++ = ' ';
        *p_++ = f;
    }
    /// A flag and its one-character token (a mode: "ME", "MD", ...).
    void mode(char f, char token) noexcept
    {
        flag(f);
        *p_++ = token;
    }
    /// A flag and its numeric token.
    template <class Int>
    void flag(char f, Int v) noexcept
    {
        flag(f);
        p_ = std::to_chars(p_, buf_ + line_max, v).ptr;
    }
    /// The opaque token, in hex.
    void opaque(std::uint32_t o) noexcept
    {
        flag('O');
        p_ = std::to_chars(p_, buf_ + line_max, o, 16).ptr;
    }
    void append_to(std::string& out)
    {
        if (binary_)
            flag('b');
        *p_++ = '\r';
        *p_++ = '\n';
        out.append(buf_, static_cast<std::size_t>(p_ - buf_));
    }

private:
    char buf_[line_max];
    char* p_ = buf_;
    bool binary_ = false;
};

void encode_get_line(const retrieval& r, std::string_view prefix, std::string_view key,
                     std::uint32_t opaque, bool quiet, std::string& out)
{
    meta_line l("mg");
    l.key(prefix, key);
    l.flag('v');
    l.flag('f');
    if (r.with_cas)
        l.flag('c');
    if (r.item_info) {
        l.flag('t');
        l.flag('l');
        l.flag('h');
        l.flag('s');
    }
    if (r.exptime)
        l.flag('T', *r.exptime);
    if (r.vivify)
        l.flag('N', *r.vivify);
    if (r.recache)
        l.flag('R', *r.recache);
    l.opaque(opaque);
    l.flag('k');
    if (quiet)
        l.flag('q');
    l.append_to(out);
}

struct meta_encoder {
    std::uint32_t opaque;
    std::string& out;
    std::string_view prefix; // sent before every key

    void operator()(const retrieval& r) const
    {
        const std::size_t n = r.keys.size();
        for (std::size_t j = 0; j < n; ++j)
            encode_get_line(r, prefix, r.keys[j], static_cast<std::uint32_t>(opaque + j), n > 1,
                            out);
        if (n > 1)
            out.append("mn\r\n", 4);
    }
    void operator()(const storage& r) const
    {
        const std::size_t n = r.keys.size();
        for (std::size_t j = 0; j < n; ++j) {
            encode_meta_line(r, j, static_cast<std::uint32_t>(opaque + j), out, r.quiet, prefix);
            out += r.values[j];
            out.append("\r\n", 2);
        }
        if (r.quiet)
            out.append("mn\r\n", 4);
    }
    void operator()(const deletion& r) const
    {
        const std::size_t n = r.keys.size();
        for (std::size_t j = 0; j < n; ++j) {
            meta_line l("md");
            l.key(prefix, r.keys[j]);
            if (r.invalidate)
                l.flag('I');
            if (r.stale_ttl)
                l.flag('T', *r.stale_ttl);
            if (r.cas_unique != 0)
                l.flag('C', r.cas_unique);
            l.opaque(static_cast<std::uint32_t>(opaque + j));
            if (r.quiet)
                l.flag('q');
            l.append_to(out);
        }
        if (r.quiet)
            out.append("mn\r\n", 4);
    }
    void operator()(const arithmetic& r) const
    {
        meta_line l("ma");
        l.key(prefix, r.key);
        l.flag('v');
        l.flag('D', r.delta);
        if (r.decrement)
            l.mode('M', 'D');
        l.opaque(opaque);
        l.append_to(out);
    }
    void operator()(const touch& r) const
    {
        meta_line l("mg");
        l.key(prefix, r.key);
        l.flag('T', r.exptime);
        l.opaque(opaque);
        l.append_to(out);
    }
    void operator()(const auto&) const {} // (no meta form: sent as text, see encode_meta)
};

} // namespace

void encode_meta_get_each(const retrieval& r, std::string& out, std::string_view prefix)
{
    for (std::size_t j = 0; j < r.keys.size(); ++j)
        encode_get_line(r, prefix, r.keys[j], static_cast<std::uint32_t>(j), false, out);
}

void encode_meta_line(const storage& req, std::size_t j, std::uint32_t opaque, std::string& out,
                      bool quiet, std::string_view prefix)
{
    meta_line l("ms");
    l.key(prefix, req.keys[j]);
    l.number(req.values[j].size());
    // Append and prepend keep the item's flags and expiry (as their text commands do).
    const bool keeps_item = req.mode == store_mode::append || req.mode == store_mode::prepend;
    if (const auto flags = req.flags_of(j); flags != 0 && !keeps_item)
        l.flag('F', flags);
    if (req.exptime != 0 && !keeps_item)
        l.flag('T', req.exptime);
    // The mode's token, by store_mode (set is the default; cas is set with a CAS to compare).
    constexpr char mode_token[] = {0, 'E', 'R', 'A', 'P', 0};
    static_assert(std::size(mode_token) == static_cast<std::size_t>(store_mode::cas) + 1);
    if (req.mode == store_mode::cas)
        l.flag('C', req.cas_unique);
    else if (const char m = mode_token[static_cast<std::size_t>(req.mode)])
        l.mode('M', m);
    l.opaque(opaque);
    if (quiet)
        l.flag('q');
    l.append_to(out);
}

void encode_meta(const request& req, std::uint32_t opaque, std::string& out,
                 std::string_view prefix)
{
    if (has_meta_form(req))
        std::visit(meta_encoder{opaque, out, prefix}, req);
    else
        encode_text(req, out);
}

bool speaks_meta(std::string_view version) noexcept
{
    // "1.6.18", possibly followed by more ("1.6.21-rc1", " (Ubuntu)"): three numbers.
    unsigned part[3] = {0, 0, 0};
    std::size_t i = 0;
    for (int n = 0; n < 3; ++n) {
        const std::size_t start = i;
        unsigned v = 0;
        while (i < version.size() && version[i] >= '0' && version[i] <= '9' && i - start < 6)
            v = v * 10 + static_cast<unsigned>(version[i++] - '0');
        if (i == start)
            return false;
        part[n] = v;
        if (n < 2) {
            if (i >= version.size() || version[i] != '.')
                return false;
            ++i;
        }
    }
    if (part[0] != 1)
        return part[0] > 1;
    return part[1] > 6 || (part[1] == 6 && part[2] >= 10);
}

std::error_code text_can_send(const request& req) noexcept
{
    if (needs_meta(req))
        return errc::not_supported;
    return validate(req, false);
}

} // namespace memcoro::proto
