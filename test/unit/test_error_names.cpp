// The names of the error enumerators (errc_name): every value from 1 to the last enumerator of
// each category has a name of its own and a message of the library's category, and the value
// after the last has neither (what `memcoro error` lists, so the table cannot drift).

#include <memcoro/dns.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_list.hpp>
#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <string_view>
#include <system_error>

namespace {

bool is_identifier(std::string_view s)
{
    if (s.empty())
        return false;
    for (const char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    return true;
}

/// Walks the values 1, 2, ... of `Enum` while errc_name names them, checking each; returns how
/// many there are.
template <class Enum>
int check_names(const std::error_category& category, std::string_view unknown_message)
{
    std::set<std::string, std::less<>> seen;
    int v = 1;
    for (;; ++v) {
        const std::string_view name = errc_name(static_cast<Enum>(v));
        if (name.empty())
            break;
        INFO(category.name() << ":" << v << " " << name);
        CHECK(is_identifier(name));
        CHECK(seen.insert(std::string(name)).second);
        const std::error_code ec = static_cast<Enum>(v);
        CHECK(&ec.category() == &category);
        CHECK(ec.message() != unknown_message);
        CHECK(!ec.message().empty());
    }
    // The first value without a name is no enumerator: the category does not know it either.
    CHECK(category.message(v) == unknown_message);
    CHECK(errc_name(static_cast<Enum>(0)).empty());
    CHECK(errc_name(static_cast<Enum>(-1)).empty());
    return v - 1;
}

} // namespace

TEST_CASE("errc_name names every memcoro::errc", "[error]")
{
    using memcoro::errc;
    const int n = check_names<errc>(memcoro::error_category(), "unknown memcoro error");
    CHECK(n == static_cast<int>(errc::auth_failed));
    CHECK(memcoro::errc_name(errc::invalid_key) == "invalid_key");
    CHECK(memcoro::errc_name(errc::timeout) == "timeout");
    CHECK(memcoro::errc_name(errc::protocol_desync) == "protocol_desync");
    CHECK(memcoro::errc_name(errc::auth_failed) == "auth_failed");
}

TEST_CASE("errc_name names every value_errc", "[error]")
{
    using memcoro::value::value_errc;
    const int n =
        check_names<value_errc>(memcoro::value::value_category(), "unknown value format error");
    CHECK(n == static_cast<int>(value_errc::chunk_mismatch));
    CHECK(memcoro::value::errc_name(value_errc::corrupt) == "corrupt");
}

TEST_CASE("errc_name names every compression_errc", "[error]")
{
    using memcoro::value::compression_errc;
    const int n = check_names<compression_errc>(memcoro::value::compression_category(),
                                                "unknown compression error");
    CHECK(n == static_cast<int>(compression_errc::invalid_level));
    CHECK(memcoro::value::errc_name(compression_errc::corrupt_data) == "corrupt_data");
}

TEST_CASE("errc_name names every server_list_errc", "[error]")
{
    using memcoro::server_list_errc;
    const int n = check_names<server_list_errc>(memcoro::server_list_category(),
                                                "server list: unknown error");
    CHECK(n == static_cast<int>(server_list_errc::invalid_reply));
    CHECK(memcoro::errc_name(server_list_errc::older_version) == "older_version");
}

TEST_CASE("errc_name names every dns_errc", "[error]")
{
    using memcoro::dns::dns_errc;
    const int n = check_names<dns_errc>(memcoro::dns::dns_category(), "dns: unknown error");
    CHECK(n == static_cast<int>(dns_errc::no_nameserver));
    CHECK(memcoro::dns::errc_name(dns_errc::name_not_found) == "name_not_found");
}
