// `memcoro error`: the error table from the library's categories; see errors.hpp.

#include "errors.hpp"

#include <memcoro/dns.hpp>
#include <memcoro/error.hpp>
#include <memcoro/server_list.hpp>
#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>

#include <charconv>
#include <stdexcept>
#include <system_error>

namespace {

/// Appends the values 1, 2, ... of `Enum` while errc_name names them (every enumerator: the
/// library's unit test checks that the names run without a gap to the last).
template <class Enum>
void append_category(std::vector<error_entry>& table, std::optional<int> exit_status)
{
    for (int v = 1;; ++v) {
        const std::string_view name = errc_name(static_cast<Enum>(v));
        if (name.empty())
            return;
        const std::error_code ec = static_cast<Enum>(v);
        table.push_back({ec.category().name(), v, std::string(name), ec.message(), exit_status});
    }
}

/// Whether `spec` names `category`: its whole name, or the part after "memcoro.".
bool is_category(std::string_view category, std::string_view spec)
{
    constexpr std::string_view prefix = "memcoro.";
    return spec == category ||
           (category.starts_with(prefix) && spec == category.substr(prefix.size()));
}

std::optional<int> number_of(std::string_view text)
{
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

} // namespace

std::vector<error_entry> library_errors(int exit_status)
{
    std::vector<error_entry> table;
    append_category<memcoro::errc>(table, exit_status);
    append_category<memcoro::value::value_errc>(table, exit_status);
    append_category<memcoro::value::compression_errc>(table, exit_status);
    append_category<memcoro::server_list_errc>(table, exit_status);
    append_category<memcoro::dns::dns_errc>(table, exit_status);
    return table;
}

std::vector<const error_entry*> find_errors(const std::vector<error_entry>& table,
                                            std::string_view spec)
{
    std::string_view category = memcoro::error_category().name();
    bool any_category = true; // a name alone: of any category
    if (const auto colon = spec.find(':'); colon != std::string_view::npos) {
        const std::string_view given = spec.substr(0, colon);
        bool known = false;
        for (const auto& e : table)
            if (is_category(e.category, given)) {
                category = e.category;
                known = true;
                break;
            }
        if (!known)
            throw std::invalid_argument(std::string(given));
        spec = spec.substr(colon + 1);
        any_category = false;
    }
    const std::optional<int> number = number_of(spec);
    std::vector<const error_entry*> found;
    for (const auto& e : table) {
        if (number ? e.category == category && e.value == *number
                   : e.name == spec && (any_category || e.category == category))
            found.push_back(&e);
    }
    return found;
}
