#pragma once
/// \file
/// The meta dialect (memcached 1.6+: mg, ms, md, ma, mn): requests written as meta commands,
/// each line tagged with an opaque number that its reply must echo. Requests without a meta
/// form (flush_all, verbosity, stats, version) are sent as text commands on the same
/// connection: memcached takes both on one connection.

#include <memcoro/proto/request.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace memcoro::proto {

/// The protocol a connection speaks.
enum class dialect : std::uint8_t {
    text, ///< get, set, ... (every memcached, proxies such as twemproxy)
    meta, ///< mg, ms, md, ma, mn (memcached 1.6+)
};

/// Does a server whose `version` reply says `version` (the text after "VERSION ") speak the
/// meta dialect memcoro writes? memcached 1.6.10 and later: earlier 1.6 releases answered
/// `OK` where they now answer `HD` and had no base64 keys; 1.5.19 to 1.6.9 marked the
/// commands experimental. Anything that is not a memcached version number (a proxy's own
/// version, garbage) is false: the text dialect is the safe choice.
bool speaks_meta(std::string_view version) noexcept;

/// Can the text dialect send the request? errc::not_supported for what only the meta
/// dialect expresses (needs_meta), errc::invalid_key for a binary key, else success (see
/// validate).
std::error_code text_can_send(const request& req) noexcept;

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
/// meta form is written as text. A request of several keys is a quiet batch (is_quiet_batch):
/// one `mg`/`ms`/`md ... q` per key (misses, and writes that succeed, answer nothing) closed by
/// `mn`. Every key goes out as `prefix` followed by the key (a key that needs base64 is
/// encoded whole, prefix included). `req` must have passed validate() with the prefix's size.
void encode_meta(const request& req, std::uint32_t opaque, std::string& out,
                 std::string_view prefix = {});

/// Appends one `mg` per key of `r` that every key answers, VA or EN (never quiet, and no `mn`),
/// each line tagged with its key's index as its opaque number and asking its key back (`k`):
/// where a reply can be lost whole (UDP), a missing answer shows. The keys must be printable
/// ASCII (no base64). Each key goes out after `prefix`, and comes back with it.
void encode_meta_get_each(const retrieval& r, std::string& out, std::string_view prefix = {});

/// A write sent as a quiet batch (storage::quiet, deletion::quiet)?
inline bool is_quiet_write(const request& r) noexcept
{
    if (const auto* s = std::get_if<storage>(&r))
        return s->quiet;
    if (const auto* d = std::get_if<deletion>(&r))
        return d->quiet;
    return false;
}

/// Appends the `ms` line of key `j` of a storage request, without its value (see
/// encode_text_line), tagged with `opaque`; `quiet`: with `q` (a write of several keys). The
/// key goes out after `prefix`.
void encode_meta_line(const storage& req, std::size_t j, std::uint32_t opaque, std::string& out,
                      bool quiet = false, std::string_view prefix = {});

/// Is the request a quiet batch on the meta dialect: each line with `q`, closed by `mn` (a
/// get's misses, a write's successes send nothing)? Gets of several keys always; writes asked
/// to be (storage::quiet, deletion::quiet).
inline bool is_quiet_batch(const request& r) noexcept
{
    if (const auto* g = std::get_if<retrieval>(&r))
        return g->keys.size() > 1;
    return is_quiet_write(r);
}

} // namespace memcoro::proto
