#pragma once
/// \file
/// A small DNS codec for the DNS server list source (docs/server-lists.md): a query for one
/// name and type (A, AAAA or SRV), and its reply checked and read (RFC 1035, RFC 2782,
/// RFC 3596); the nameservers of a resolv.conf text. Sans-I/O: no sockets, no Asio.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace memcoro::dns {

/// The record types asked for (and CNAME, followed within a reply).
enum class record_type : std::uint16_t {
    a = 1,     ///< an IPv4 address
    cname = 5, ///< an alias: the canonical name
    aaaa = 28, ///< an IPv6 address
    srv = 33,  ///< a service: priority, weight, port and target (RFC 2782)
};

/// "A", "CNAME", "AAAA", "SRV"; "" for another value.
std::string_view to_string(record_type t) noexcept;

/// Why a DNS exchange gave no usable answer.
enum class dns_errc {
    malformed_reply = 1, ///< the bytes are not a DNS message, or a length runs past them
    id_mismatch,         ///< the reply's id is not the query's
    not_a_reply,         ///< the QR bit is clear, or the opcode is not QUERY
    question_mismatch,   ///< the reply's question is not the one asked
    name_not_found,      ///< NXDOMAIN (RCODE 3): the name does not exist
    server_failure,      ///< SERVFAIL (RCODE 2)
    query_refused,       ///< REFUSED (RCODE 5)
    rcode_error,         ///< another RCODE (FORMERR, NOTIMP, ...)
    truncated_reply,     ///< the TC bit: the answer did not fit a datagram (ask over TCP)
    no_records,          ///< the name exists, without records of the type asked for
    invalid_name,        ///< a name that cannot be asked for (empty label, over 63 or 253 bytes)
    no_nameserver,       ///< no nameserver to ask (none configured, none in resolv.conf)
};

/// The category of dns_errc ("memcoro.dns").
const std::error_category& dns_category() noexcept;

/// The enumerator's name ("malformed_reply", ...); "" for a value that is not one.
std::string_view errc_name(dns_errc e) noexcept;

/// `e` as a std::error_code of dns_category().
inline std::error_code make_error_code(dns_errc e) noexcept
{
    return {static_cast<int>(e), dns_category()};
}

/// A failure: its code and a reason ("answer 2: A record of 5 bytes").
struct dns_error {
    std::error_code ec{}; ///< a dns_errc (or a system error, from the source's I/O)
    std::string reason{}; ///< what was wrong
};

/// The largest DNS message (over TCP; a UDP reply is read into a buffer of this size).
inline constexpr std::size_t max_message_bytes = 65535;

/// An A or AAAA record.
struct address_record {
    std::string name{};    ///< its owner name (lower case, no final dot)
    std::string address{}; ///< "192.0.2.1" or "2001:db8::1"
    std::uint32_t ttl = 0; ///< seconds (a TTL with the top bit set counts as 0, RFC 2181)

    /// Member-wise equality.
    friend bool operator==(const address_record&, const address_record&) = default;
};

/// An SRV record (RFC 2782).
struct srv_record {
    std::string name{};         ///< its owner name (lower case, no final dot)
    std::uint16_t priority = 0; ///< lower is preferred
    std::uint16_t weight = 0;   ///< the share among records of one priority
    std::uint16_t port = 0;     ///< the service's port
    std::string target{};       ///< the host (lower case, no final dot)
    std::uint32_t ttl = 0;      ///< seconds

    /// Member-wise equality.
    friend bool operator==(const srv_record&, const srv_record&) = default;
};

/// What a reply answers.
struct reply {
    /// The name the answers are for: the name asked, or the end of the CNAME chain the reply
    /// holds for it (lower case, no final dot).
    std::string canonical_name{};
    /// The A or AAAA answers for canonical_name (for a query of that type), in reply order.
    std::vector<address_record> addresses{};
    /// The SRV answers for canonical_name (for an SRV query), in reply order; records whose
    /// target is "." (no service, RFC 2782) are left out.
    std::vector<srv_record> services{};
    /// The A and AAAA records of the additional section (a server's addresses for SRV
    /// targets).
    std::vector<address_record> additional{};
    /// The smallest TTL of the answers and CNAMEs used (0 when none).
    std::uint32_t ttl = 0;
};

/// Checks a name to ask for: dot-separated labels of 1 to 63 printable ASCII bytes (no space,
/// no backslash), 253 bytes at most; one final dot allowed. False with `why` otherwise.
bool check_name(std::string_view name, std::string& why);

/// Appends a query (class IN, one question, recursion desired) for `name` and `type` with
/// `id` to `out`. Throws std::invalid_argument for a name check_name refuses.
void encode_query(std::uint16_t id, std::string_view name, record_type type, std::string& out);

/// Reads `message`, the reply to the query `id` for `name` and `type`: checks the id, the QR
/// bit and opcode, the TC bit (truncated_reply), the RCODE (name_not_found, server_failure,
/// query_refused, rcode_error), the question echoed, and every length and name (compression
/// pointers point backwards only, names are 255 bytes at most); then follows the CNAME chain
/// for `name` (16 links at most) and collects the records of `type` for its end, and the
/// A/AAAA records of the additional section. Records of other types and classes are skipped.
/// On failure returns false with `err` set; `out` is then unspecified. A reply without
/// records of `type` succeeds with empty lists (the caller decides: dns_errc::no_records).
/// Allocates in proportion to `message`'s size only.
bool parse_reply(std::string_view message, std::uint16_t id, std::string_view name,
                 record_type type, reply& out, dns_error& err);

/// The nameservers of a resolv.conf text (`nameserver ADDRESS` lines; `#` and `;` begin
/// comments), in order: IPv4 or IPv6 addresses, an IPv6 one perhaps with `%scope`. Lines
/// naming something else than an address are skipped.
std::vector<std::string> resolv_conf_nameservers(std::string_view text);

} // namespace memcoro::dns

template <>
struct std::is_error_code_enum<memcoro::dns::dns_errc> : std::true_type {
};
