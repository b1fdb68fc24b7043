#pragma once
// Other clients' spellings of hash and distribution names are compared folded: ASCII lower
// case, '-' the same as '_' (MEMCACHED_HASH_FNV1A_32, fnv1a-32 and fnv1a_32 are one name).

#include <array>
#include <cstddef>
#include <string_view>

namespace memcoro::ring::detail {

/// `in` folded for comparison. A name longer than any spelling there is folds to "", which
/// matches nothing.
class folded_name {
public:
    explicit folded_name(std::string_view in) noexcept
    {
        if (in.size() > buffer_.size())
            return;
        for (const char c : in) {
            char f = c;
            if (f >= 'A' && f <= 'Z')
                f = static_cast<char>(f - 'A' + 'a');
            else if (f == '-')
                f = '_';
            buffer_[size_++] = f;
        }
    }

    std::string_view view() const noexcept { return {buffer_.data(), size_}; }

private:
    std::array<char, 64> buffer_{};
    std::size_t size_ = 0;
};

/// Removes `prefix` from the front of `name`; false (and `name` unchanged) if it is not there.
inline bool strip_prefix(std::string_view& name, std::string_view prefix) noexcept
{
    if (!name.starts_with(prefix))
        return false;
    name.remove_prefix(prefix.size());
    return true;
}

} // namespace memcoro::ring::detail
