#include <memcoro/dns.hpp>

#include <arpa/inet.h>

#include <cstdio>
#include <stdexcept>

namespace memcoro::dns {

namespace {

class dns_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro.dns"; }
    std::string message(int ev) const override
    {
        switch (static_cast<dns_errc>(ev)) {
        case dns_errc::malformed_reply:
            return "dns: malformed reply";
        case dns_errc::id_mismatch:
            return "dns: reply to another query (id)";
        case dns_errc::not_a_reply:
            return "dns: not a reply to a query";
        case dns_errc::question_mismatch:
            return "dns: reply to another question";
        case dns_errc::name_not_found:
            return "dns: no such name (NXDOMAIN)";
        case dns_errc::server_failure:
            return "dns: server failure (SERVFAIL)";
        case dns_errc::query_refused:
            return "dns: query refused (REFUSED)";
        case dns_errc::rcode_error:
            return "dns: error reply";
        case dns_errc::truncated_reply:
            return "dns: truncated reply";
        case dns_errc::no_records:
            return "dns: no records of the type asked for";
        case dns_errc::invalid_name:
            return "dns: invalid name";
        case dns_errc::no_nameserver:
            return "dns: no nameserver";
        }
        return "dns: unknown error";
    }
};

constexpr std::size_t max_wire_name = 255; // RFC 1035 2.3.4, length bytes included
constexpr int max_pointers = 64;           // backwards only, so also bounded by the message
constexpr int max_cname_links = 16;
constexpr std::uint16_t class_in = 1;

char lower(char ch) noexcept
{
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
}

/// The name as compared: lower case, without the final dot.
std::string normalized(std::string_view name)
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    std::string out;
    out.reserve(name.size());
    for (char ch : name)
        out += lower(ch);
    return out;
}

/// Reading a message: every read is checked against its end.
struct reader {
    std::string_view msg;
    std::size_t pos = 0;

    bool u8(std::uint8_t& v)
    {
        if (msg.size() - pos < 1)
            return false;
        v = static_cast<std::uint8_t>(msg[pos++]);
        return true;
    }
    bool u16(std::uint16_t& v)
    {
        if (msg.size() - pos < 2)
            return false;
        v = static_cast<std::uint16_t>(static_cast<std::uint8_t>(msg[pos]) << 8 |
                                       static_cast<std::uint8_t>(msg[pos + 1]));
        pos += 2;
        return true;
    }
    bool u32(std::uint32_t& v)
    {
        std::uint16_t hi, lo;
        if (!u16(hi) || !u16(lo))
            return false;
        v = static_cast<std::uint32_t>(hi) << 16 | lo;
        return true;
    }

    /// Reads a name at pos (compression pointers followed, backwards only) as text: lower
    /// case, labels joined by dots, bytes that are not printable (or a dot or backslash inside
    /// a label) written \DDD. "" for the root. Leaves pos after the name's bytes at pos.
    bool name(std::string& out, std::string& why)
    {
        out.clear();
        std::size_t at = pos;
        std::size_t resume = 0; // where pos goes after the first pointer
        bool jumped = false;
        int pointers = 0;
        std::size_t wire = 0;
        for (;;) {
            if (at >= msg.size()) {
                why = "name runs past the end";
                return false;
            }
            const auto len = static_cast<std::uint8_t>(msg[at]);
            if ((len & 0xC0) == 0xC0) {
                if (at + 1 >= msg.size()) {
                    why = "name's pointer runs past the end";
                    return false;
                }
                const std::size_t target = static_cast<std::size_t>(len & 0x3F) << 8 |
                                           static_cast<std::uint8_t>(msg[at + 1]);
                // Backwards only: a pointer to itself or further on could loop.
                if (target >= at) {
                    why = "name's pointer does not point backwards";
                    return false;
                }
                if (++pointers > max_pointers) {
                    why = "name with too many pointers";
                    return false;
                }
                if (!jumped) {
                    resume = at + 2;
                    jumped = true;
                }
                at = target;
                continue;
            }
            if ((len & 0xC0) != 0) {
                why = "name with an unknown label type";
                return false;
            }
            wire += 1 + len;
            if (wire > max_wire_name) {
                why = "name over 255 bytes";
                return false;
            }
            if (len == 0) {
                pos = jumped ? resume : at + 1;
                return true;
            }
            if (msg.size() - at - 1 < len) {
                why = "label runs past the end";
                return false;
            }
            if (!out.empty())
                out += '.';
            for (std::size_t i = 0; i < len; ++i) {
                const char ch = msg[at + 1 + i];
                const auto u = static_cast<unsigned char>(ch);
                if (u <= 0x20 || u >= 0x7f || ch == '.' || ch == '\\') {
                    char esc[5];
                    std::snprintf(esc, sizeof esc, "\\%03u", u);
                    out += esc;
                } else {
                    out += lower(ch);
                }
            }
            at += 1 + len;
        }
    }
};

/// One resource record, its RDATA still to read.
struct record {
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t cls = 0;
    std::uint32_t ttl = 0;
    std::size_t rdata = 0; // offset
    std::uint16_t rdlength = 0;
};

bool read_record(reader& r, record& rec, std::string& why)
{
    if (!r.name(rec.name, why))
        return false;
    if (!r.u16(rec.type) || !r.u16(rec.cls) || !r.u32(rec.ttl) || !r.u16(rec.rdlength)) {
        why = "record header runs past the end";
        return false;
    }
    if (rec.ttl & 0x80000000u) // RFC 2181 8: treated as zero
        rec.ttl = 0;
    if (r.msg.size() - r.pos < rec.rdlength) {
        why = "record data runs past the end";
        return false;
    }
    rec.rdata = r.pos;
    r.pos += rec.rdlength;
    return true;
}

/// The address of an A or AAAA record's RDATA.
bool read_address(std::string_view msg, const record& rec, std::string& out, std::string& why)
{
    const bool v6 = rec.type == static_cast<std::uint16_t>(record_type::aaaa);
    const std::size_t want = v6 ? 16 : 4;
    if (rec.rdlength != want) {
        why = std::string(v6 ? "AAAA" : "A") + " record of " + std::to_string(rec.rdlength) +
              " bytes";
        return false;
    }
    char text[INET6_ADDRSTRLEN];
    if (!::inet_ntop(v6 ? AF_INET6 : AF_INET, msg.data() + rec.rdata, text, sizeof text)) {
        why = "address not written";
        return false;
    }
    out = text;
    return true;
}

/// A name that takes the whole RDATA of `rec` from `skip` bytes on (CNAME, SRV target).
bool read_rdata_name(std::string_view msg, const record& rec, std::size_t skip, std::string& out,
                     std::string& why)
{
    reader r{msg.substr(0, rec.rdata + rec.rdlength), rec.rdata + skip};
    if (!r.name(out, why))
        return false;
    if (r.pos != rec.rdata + rec.rdlength) {
        why = "record data longer than its name";
        return false;
    }
    return true;
}

bool fail(dns_error& err, dns_errc ec, std::string why)
{
    err.ec = ec;
    err.reason = std::move(why);
    return false;
}

} // namespace

std::string_view to_string(record_type t) noexcept
{
    switch (t) {
    case record_type::a:
        return "A";
    case record_type::cname:
        return "CNAME";
    case record_type::aaaa:
        return "AAAA";
    case record_type::srv:
        return "SRV";
    }
    return "";
}

const std::error_category& dns_category() noexcept
{
    static const dns_category_impl c;
    return c;
}

std::string_view errc_name(dns_errc e) noexcept
{
    switch (e) {
    case dns_errc::malformed_reply:
        return "malformed_reply";
    case dns_errc::id_mismatch:
        return "id_mismatch";
    case dns_errc::not_a_reply:
        return "not_a_reply";
    case dns_errc::question_mismatch:
        return "question_mismatch";
    case dns_errc::name_not_found:
        return "name_not_found";
    case dns_errc::server_failure:
        return "server_failure";
    case dns_errc::query_refused:
        return "query_refused";
    case dns_errc::rcode_error:
        return "rcode_error";
    case dns_errc::truncated_reply:
        return "truncated_reply";
    case dns_errc::no_records:
        return "no_records";
    case dns_errc::invalid_name:
        return "invalid_name";
    case dns_errc::no_nameserver:
        return "no_nameserver";
    }
    return "";
}

bool check_name(std::string_view name, std::string& why)
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty()) {
        why = "empty name";
        return false;
    }
    if (name.size() > 253) {
        why = "name over 253 bytes";
        return false;
    }
    std::size_t label = 0;
    for (char ch : name) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '.') {
            if (label == 0) {
                why = "empty label";
                return false;
            }
            label = 0;
            continue;
        }
        if (u <= 0x20 || u >= 0x7f || ch == '\\') {
            why = "a name is printable ASCII without spaces or backslashes";
            return false;
        }
        if (++label > 63) {
            why = "label over 63 bytes";
            return false;
        }
    }
    return true;
}

void encode_query(std::uint16_t id, std::string_view name, record_type type, std::string& out)
{
    std::string why;
    if (!check_name(name, why))
        throw std::invalid_argument("memcoro: DNS name \"" + std::string(name) + "\": " + why);
    if (name.back() == '.')
        name.remove_suffix(1);
    const auto put16 = [&](std::uint16_t v) {
        out += static_cast<char>(v >> 8);
        out += static_cast<char>(v & 0xFF);
    };
    put16(id);
    put16(0x0100); // RD
    put16(1);      // QDCOUNT
    put16(0);
    put16(0);
    put16(0);
    std::size_t start = 0;
    for (;;) {
        const auto dot = name.find('.', start);
        const auto label =
            name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
        out += static_cast<char>(label.size());
        out.append(label);
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
    out += '\0';
    put16(static_cast<std::uint16_t>(type));
    put16(class_in);
}

bool parse_reply(std::string_view message, std::uint16_t id, std::string_view name,
                 record_type type, reply& out, dns_error& err)
{
    out = reply{};
    reader r{message};
    std::uint16_t rid, flags, qd, an, ns, ar;
    if (!r.u16(rid) || !r.u16(flags) || !r.u16(qd) || !r.u16(an) || !r.u16(ns) || !r.u16(ar))
        return fail(err, dns_errc::malformed_reply,
                    "reply of " + std::to_string(message.size()) + " bytes: no header");
    if (rid != id)
        return fail(err, dns_errc::id_mismatch,
                    "reply id " + std::to_string(rid) + ", query id " + std::to_string(id));
    const int opcode = (flags >> 11) & 0xF;
    if (!(flags & 0x8000) || opcode != 0)
        return fail(err, dns_errc::not_a_reply,
                    (flags & 0x8000) ? "opcode " + std::to_string(opcode) : "QR bit clear");
    if (flags & 0x0200)
        return fail(err, dns_errc::truncated_reply, "truncated reply (TC bit)");
    const int rcode = flags & 0xF;
    const std::string asked = normalized(name);

    // The question: the one asked (a server may leave it out of an error reply).
    if (qd > 1 || (qd == 0 && rcode == 0))
        return fail(err, dns_errc::question_mismatch,
                    std::to_string(qd) + " questions in the reply");
    std::string why;
    if (qd == 1) {
        std::string qname;
        std::uint16_t qtype, qclass;
        if (!r.name(qname, why))
            return fail(err, dns_errc::malformed_reply, "question: " + why);
        if (!r.u16(qtype) || !r.u16(qclass))
            return fail(err, dns_errc::malformed_reply, "question runs past the end");
        if (qname != asked || qtype != static_cast<std::uint16_t>(type) || qclass != class_in)
            return fail(err, dns_errc::question_mismatch,
                        "reply for \"" + qname + "\" type " + std::to_string(qtype) + " class " +
                            std::to_string(qclass) + ", asked \"" + asked + "\" " +
                            std::string(to_string(type)));
    }
    switch (rcode) {
    case 0:
        break;
    case 2:
        return fail(err, dns_errc::server_failure, "SERVFAIL for " + asked);
    case 3:
        return fail(err, dns_errc::name_not_found, "NXDOMAIN: no name " + asked);
    case 5:
        return fail(err, dns_errc::query_refused, "REFUSED for " + asked);
    default:
        return fail(err, dns_errc::rcode_error, "RCODE " + std::to_string(rcode) + " for " + asked);
    }

    // The answers: kept (each at least 11 bytes, so no more than the message allows).
    std::vector<record> answers;
    for (unsigned i = 0; i < an; ++i) {
        record rec;
        if (!read_record(r, rec, why))
            return fail(err, dns_errc::malformed_reply,
                        "answer " + std::to_string(i + 1) + ": " + why);
        answers.push_back(std::move(rec));
    }
    for (unsigned i = 0; i < ns; ++i) {
        record rec;
        if (!read_record(r, rec, why))
            return fail(err, dns_errc::malformed_reply,
                        "authority " + std::to_string(i + 1) + ": " + why);
    }
    for (unsigned i = 0; i < ar; ++i) {
        record rec;
        if (!read_record(r, rec, why))
            return fail(err, dns_errc::malformed_reply,
                        "additional " + std::to_string(i + 1) + ": " + why);
        const bool addr = rec.type == static_cast<std::uint16_t>(record_type::a) ||
                          rec.type == static_cast<std::uint16_t>(record_type::aaaa);
        if (!addr || rec.cls != class_in)
            continue; // (OPT and the like)
        address_record a{rec.name, {}, rec.ttl};
        if (!read_address(message, rec, a.address, why))
            return fail(err, dns_errc::malformed_reply,
                        "additional " + std::to_string(i + 1) + ": " + why);
        out.additional.push_back(std::move(a));
    }

    // The CNAME chain from the name asked, within the reply.
    std::string current = asked;
    std::uint32_t ttl = UINT32_MAX;
    bool any = false;
    const auto wanted = static_cast<std::uint16_t>(type);
    const auto cname = static_cast<std::uint16_t>(record_type::cname);
    for (int link = 0;; ++link) {
        bool has_wanted = false;
        const record* alias = nullptr;
        for (const auto& rec : answers) {
            if (rec.cls != class_in || rec.name != current)
                continue;
            if (rec.type == wanted)
                has_wanted = true;
            else if (rec.type == cname && !alias)
                alias = &rec;
        }
        if (has_wanted || !alias)
            break;
        if (link == max_cname_links)
            return fail(err, dns_errc::malformed_reply,
                        "CNAME chain over " + std::to_string(max_cname_links) + " links");
        std::string next;
        if (!read_rdata_name(message, *alias, 0, next, why))
            return fail(err, dns_errc::malformed_reply, "CNAME of " + current + ": " + why);
        if (next.empty()) // (an alias of the root names nothing that has records)
            return fail(err, dns_errc::malformed_reply, "CNAME of " + current + " to the root");
        ttl = std::min(ttl, alias->ttl);
        any = true;
        current = std::move(next);
    }
    out.canonical_name = current;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        const auto& rec = answers[i];
        if (rec.cls != class_in || rec.type != wanted || rec.name != current)
            continue;
        const std::string where = "answer " + std::to_string(i + 1) + ": ";
        if (type == record_type::srv) {
            srv_record s;
            s.name = rec.name;
            s.ttl = rec.ttl;
            if (rec.rdlength < 7)
                return fail(err, dns_errc::malformed_reply,
                            where + "SRV record of " + std::to_string(rec.rdlength) + " bytes");
            reader d{message, rec.rdata};
            (void)(d.u16(s.priority) && d.u16(s.weight) && d.u16(s.port));
            if (!read_rdata_name(message, rec, 6, s.target, why))
                return fail(err, dns_errc::malformed_reply, where + "SRV target: " + why);
            if (s.target.empty())
                continue; // "." : no service here
            out.services.push_back(std::move(s));
        } else if (type == record_type::a || type == record_type::aaaa) {
            address_record a{rec.name, {}, rec.ttl};
            if (!read_address(message, rec, a.address, why))
                return fail(err, dns_errc::malformed_reply, where + why);
            out.addresses.push_back(std::move(a));
        } else {
            continue;
        }
        ttl = std::min(ttl, rec.ttl);
        any = true;
    }
    out.ttl = any ? ttl : 0;
    return true;
}

std::vector<std::string> resolv_conf_nameservers(std::string_view text)
{
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (const auto c = line.find_first_of("#;"); c != std::string_view::npos)
            line = line.substr(0, c);
        const auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; };
        const auto token = [&](std::string_view& l) {
            std::size_t b = 0;
            while (b < l.size() && is_space(l[b]))
                ++b;
            std::size_t e = b;
            while (e < l.size() && !is_space(l[e]))
                ++e;
            const auto t = l.substr(b, e - b);
            l = l.substr(e);
            return t;
        };
        if (token(line) != "nameserver")
            continue;
        const std::string_view addr = token(line);
        if (addr.empty() || addr.size() >= 64)
            continue;
        const std::string host(addr.substr(0, addr.find('%')));
        unsigned char buf[16];
        const bool v4 = ::inet_pton(AF_INET, host.c_str(), buf) == 1;
        const bool v6 = !v4 && ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
        // (A scope belongs to IPv6 only, and is not empty.)
        if (v4 ? host.size() != addr.size() : !v6 || addr.size() == host.size() + 1)
            continue;
        out.emplace_back(addr);
    }
    return out;
}

} // namespace memcoro::dns
