#include <memcoro/types.hpp>

namespace memcoro {

const char* to_string(store_status s) noexcept
{
    switch (s) {
    case store_status::stored:
        return "stored";
    case store_status::not_stored:
        return "not_stored";
    case store_status::exists:
        return "exists";
    case store_status::not_found:
        return "not_found";
    }
    return "?";
}

const char* to_string(delete_status s) noexcept
{
    switch (s) {
    case delete_status::deleted:
        return "deleted";
    case delete_status::not_found:
        return "not_found";
    case delete_status::exists:
        return "exists";
    }
    return "?";
}

const char* to_string(touch_status s) noexcept
{
    return s == touch_status::touched ? "touched" : "not_found";
}

const char* to_string(key_status s) noexcept
{
    switch (s) {
    case key_status::hit:
        return "hit";
    case key_status::miss:
        return "miss";
    case key_status::error:
        return "error";
    }
    return "?";
}

std::optional<key_outcome> get_multi_result::outcome(std::string_view key) const noexcept
{
    for (const key_slot& s : slots) {
        key_outcome o = outcome_of(s);
        if (o.key == key)
            return o;
    }
    return std::nullopt;
}

} // namespace memcoro
