#pragma once
/// \file
/// `memcoro error`: the table of memcoro's error codes (libmemcached's memerror), read from the
/// library's own categories (their enumerators' names by errc_name, their messages by
/// message()), so that it cannot drift from them. The command itself is in main.cpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

/// One error code.
struct error_entry {
    std::string category; ///< the category's name: "memcoro", "memcoro.value", ...
    int value = 0;
    std::string name;               ///< the enumerator's name
    std::string message;            ///< the category's message()
    std::optional<int> exit_status; ///< the CLI's exit status for it, if the CLI reports it
};

/// Every code of memcoro's categories in order (memcoro, memcoro.value, memcoro.compression),
/// each with `exit_status` (the CLI reports each of them with it: the value and compression
/// errors come from get --decode).
std::vector<error_entry> library_errors(int exit_status);

/// The entries of `table` that `spec` names: a number (of the memcoro category), an enumerator's
/// name (of any category), or CATEGORY:NUMBER or CATEGORY:NAME, CATEGORY a category's name or the
/// part after "memcoro." ("value", "compression"). Empty: none. Throws std::invalid_argument
/// for an unknown category.
std::vector<const error_entry*> find_errors(const std::vector<error_entry>& table,
                                            std::string_view spec);
