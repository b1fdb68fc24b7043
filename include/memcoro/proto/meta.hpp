#pragma once
/// \file
/// The meta dialect (memcached 1.6+: mg, ms, md, ma, mn): requests written as meta commands,
/// each line tagged with an opaque number that its reply must echo. Requests without a meta
/// form (flush_all, verbosity, stats, version) are sent as text commands on the same
/// connection: memcached takes both on one connection.

#include <memcoro/proto/request.hpp>

#include <cstdint>
#include <string>

namespace memcoro::proto {

/// The protocol a connection speaks.
enum class dialect : std::uint8_t {
    text, ///< get, set, ... (every memcached, proxies such as twemproxy)
    meta, ///< mg, ms, md, ma, mn (memcached 1.6+)
};

/// Is the request sent as meta commands (retrieval, storage, deletion, arithmetic, touch)?
constexpr bool has_meta_form(const request& r) noexcept
{
    return r.index() <= 4;
}

/// The reply a request draws on the meta dialect.
inline reply_kind expected_meta_reply(const request& r) noexcept
{
    constexpr reply_kind by_type[] = {reply_kind::meta_get,
                                      reply_kind::meta_storage,
                                      reply_kind::meta_deletion,
                                      reply_kind::meta_arithmetic,
                                      reply_kind::meta_touch,
                                      reply_kind::ok,
                                      reply_kind::ok,
                                      reply_kind::stats,
                                      reply_kind::version};
    static_assert(std::size(by_type) == std::variant_size_v<request>);
    return by_type[r.index()];
}

/// How many opaque numbers the request's lines take, from the first one it is given: one
/// per key (a quiet batch's closing `mn` takes none); 0 for a request sent as text.
inline std::size_t meta_opaques(const request& r) noexcept
{
    switch (r.index()) {
    case 0:
        return std::get_if<retrieval>(&r)->keys.size();
    case 1:
        return std::get_if<storage>(&r)->keys.size();
    case 2:
        return std::get_if<deletion>(&r)->keys.size();
    case 3:
    case 4:
        return 1;
    default:
        return 0;
    }
}

/// The longest opaque token memcoro sends ("O" and up to 8 hex digits).
inline constexpr std::size_t max_opaque_digits = 8;

/// Appends the meta-dialect bytes of `req` to `out`, its lines tagged with the opaque numbers
/// `opaque`, `opaque + 1`, ... (meta_opaques of them); values included; a request without a
/// meta form is written as text. A retrieval of several keys is a quiet batch: one `mg ... q`
/// per key (misses answer nothing) closed by `mn`. `req` must have passed validate().
void encode_meta(const request& req, std::uint32_t opaque, std::string& out);

/// Appends the `ms` line of key `j` of a storage request, without its value (see
/// encode_text_line), tagged with `opaque`.
void encode_meta_line(const storage& req, std::size_t j, std::uint32_t opaque, std::string& out);

} // namespace memcoro::proto
