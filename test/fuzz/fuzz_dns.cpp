// libFuzzer target for the DNS codec (dns.hpp): replies as a hostile network or nameserver may
// send them, and resolv.conf texts.
//
// Input layout: byte 0 chooses (bit 7 set: a resolv.conf text; else the type asked, modulo 3:
// A, AAAA, SRV); the rest is the text or the reply. The query answered is for "a.example" (A,
// AAAA) or "_m._tcp.example" (SRV), with the id the reply's first two bytes hold.
//
// A reply read must hold printable addresses and names, no more records than its bytes allow,
// and read the same twice; a refusal has a dns_errc and a reason. A resolv.conf nameserver is
// an address. A broken invariant aborts.

#include <memcoro/dns.hpp>

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_dns.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (0)

bool printable(std::string_view s)
{
    for (const char ch : s)
        if (static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f)
            return false;
    return true;
}

bool is_address(const std::string& text)
{
    unsigned char buf[16];
    const std::string host = text.substr(0, text.find('%'));
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 0x80) {
        for (const auto& ns : memcoro::dns::resolv_conf_nameservers(text))
            FUZZ_CHECK(is_address(ns));
        return 0;
    }
    using memcoro::dns::record_type;
    static constexpr record_type types[] = {record_type::a, record_type::aaaa, record_type::srv};
    const record_type type = types[data[0] % 3];
    const std::string_view name = type == record_type::srv ? "_m._tcp.example" : "a.example";
    const std::uint16_t id =
        text.size() >= 2 ? static_cast<std::uint16_t>(static_cast<std::uint8_t>(text[0]) << 8 |
                                                      static_cast<std::uint8_t>(text[1]))
                         : 0;
    memcoro::dns::reply r;
    memcoro::dns::dns_error err;
    if (!memcoro::dns::parse_reply(text, id, name, type, r, err)) {
        FUZZ_CHECK(err.ec && &err.ec.category() == &memcoro::dns::dns_category());
        FUZZ_CHECK(!err.reason.empty());
        return 0;
    }
    const std::size_t records = r.addresses.size() + r.services.size() + r.additional.size();
    FUZZ_CHECK(records <= text.size() / 11);
    FUZZ_CHECK(!r.canonical_name.empty() && printable(r.canonical_name));
    for (const auto& a : r.addresses) {
        FUZZ_CHECK(is_address(a.address));
        FUZZ_CHECK(a.name == r.canonical_name);
        FUZZ_CHECK(a.ttl >= r.ttl && a.ttl < 0x80000000u);
    }
    for (const auto& a : r.additional)
        FUZZ_CHECK(is_address(a.address) && printable(a.name));
    for (const auto& s : r.services) {
        FUZZ_CHECK(!s.target.empty() && printable(s.target) && s.target.size() <= 4 * 255);
        FUZZ_CHECK(s.ttl >= r.ttl);
    }
    FUZZ_CHECK(type == record_type::srv ? r.addresses.empty() : r.services.empty());
    memcoro::dns::reply again;
    FUZZ_CHECK(memcoro::dns::parse_reply(text, id, name, type, again, err));
    FUZZ_CHECK(again.addresses == r.addresses && again.services == r.services &&
               again.additional == r.additional && again.ttl == r.ttl &&
               again.canonical_name == r.canonical_name);
    return 0;
}
