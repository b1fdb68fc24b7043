#pragma once
// DNS messages written by hand for the tests of the DNS codec and source: replies with any
// sections (names uncompressed unless written with pointers by the test), and the question of
// a query read back (the tests' own DNS server). Header-only; no Asio, no Catch2.

#include <arpa/inet.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::test {

/// A name in wire form, uncompressed ("a.example" -> "\1a\7example\0").
inline std::string dns_name(std::string_view name)
{
    std::string out;
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    while (!name.empty()) {
        const auto dot = name.find('.');
        const auto label = name.substr(0, dot);
        out += static_cast<char>(label.size());
        out.append(label);
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    out += '\0';
    return out;
}

inline void put16(std::string& out, std::uint16_t v)
{
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xFF);
}

inline void put32(std::string& out, std::uint32_t v)
{
    put16(out, static_cast<std::uint16_t>(v >> 16));
    put16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}

/// The RDATA of an A (IPv4 text) or AAAA (IPv6 text) record.
inline std::string dns_address(const std::string& text)
{
    unsigned char buf[16];
    if (::inet_pton(AF_INET, text.c_str(), buf) == 1)
        return std::string(reinterpret_cast<char*>(buf), 4);
    if (::inet_pton(AF_INET6, text.c_str(), buf) == 1)
        return std::string(reinterpret_cast<char*>(buf), 16);
    throw std::invalid_argument("not an address: " + text);
}

/// The RDATA of an SRV record.
inline std::string dns_srv(std::uint16_t priority, std::uint16_t weight, std::uint16_t port,
                           std::string_view target)
{
    std::string out;
    put16(out, priority);
    put16(out, weight);
    put16(out, port);
    return out + dns_name(target);
}

/// One resource record; `name` already in wire form when `raw_name`.
struct dns_rr {
    std::string name;
    std::uint16_t type = 1;
    std::string rdata;
    std::uint32_t ttl = 60;
    std::uint16_t cls = 1;
    bool raw_name = false;
};

/// A DNS message.
struct dns_message {
    std::uint16_t id = 0;
    std::uint16_t flags = 0x8180; // QR, RD, RA, NOERROR
    std::string qname;            // no question when empty
    std::uint16_t qtype = 1;
    std::vector<dns_rr> answers{}, authority{}, additional{};

    std::string encode() const
    {
        std::string out;
        put16(out, id);
        put16(out, flags);
        put16(out, qname.empty() ? 0 : 1);
        put16(out, static_cast<std::uint16_t>(answers.size()));
        put16(out, static_cast<std::uint16_t>(authority.size()));
        put16(out, static_cast<std::uint16_t>(additional.size()));
        if (!qname.empty()) {
            out += dns_name(qname);
            put16(out, qtype);
            put16(out, 1);
        }
        for (const auto* section : {&answers, &authority, &additional})
            for (const auto& rr : *section) {
                out += rr.raw_name ? rr.name : dns_name(rr.name);
                put16(out, rr.type);
                put16(out, rr.cls);
                put32(out, rr.ttl);
                put16(out, static_cast<std::uint16_t>(rr.rdata.size()));
                out += rr.rdata;
            }
        return out;
    }
};

/// A query's id, name (as written, lower case kept) and type; nothing if it is not a query of
/// one uncompressed question.
struct dns_query {
    std::uint16_t id = 0;
    std::string name;
    std::uint16_t type = 0;
};

inline std::optional<dns_query> read_dns_query(std::string_view m)
{
    if (m.size() < 12)
        return std::nullopt;
    const auto u16 = [&](std::size_t at) {
        return static_cast<std::uint16_t>(static_cast<std::uint8_t>(m[at]) << 8 |
                                          static_cast<std::uint8_t>(m[at + 1]));
    };
    dns_query q;
    q.id = u16(0);
    if ((u16(2) & 0x8000) || u16(4) != 1)
        return std::nullopt;
    std::size_t at = 12;
    for (;;) {
        if (at >= m.size())
            return std::nullopt;
        const auto len = static_cast<std::uint8_t>(m[at]);
        if (len == 0 || len > 63 || at + 1 + len > m.size())
            break;
        if (!q.name.empty())
            q.name += '.';
        q.name.append(m.substr(at + 1, len));
        at += 1 + len;
    }
    if (at >= m.size() || m[at] != 0 || at + 5 > m.size())
        return std::nullopt;
    q.type = u16(at + 1);
    return q;
}

} // namespace memcoro::test
