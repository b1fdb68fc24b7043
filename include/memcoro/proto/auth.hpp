#pragma once
/// \file
/// memcached's ASCII authentication (`memcached -Y`): the request a connection sends first, and
/// the reading of its one-line reply. No I/O.

#include <memcoro/tls.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace memcoro::proto {

/// The key of the authentication `set`: memcached -Y ignores it, and it is longer than any key
/// a server without authentication accepts, so such a server refuses the command instead of
/// storing the credentials as an item.
inline constexpr std::size_t auth_key_length = 251;

/// `set <auth key> 0 0 <n>\r\n<user> <password>\r\n`. The credentials must be valid
/// (invalid_credentials_reason() empty).
std::string encode_auth(const credentials& c);

/// What the bytes read so far say.
enum class auth_outcome {
    incomplete, ///< no whole line yet
    accepted,   ///< STORED
    refused,    ///< an error line (CLIENT_ERROR authentication failure, ...): `message`
    malformed,  ///< anything else, or a line longer than max_auth_reply
};
inline constexpr std::size_t max_auth_reply = 1024;

struct auth_reply {
    auth_outcome outcome = auth_outcome::incomplete;
    /// The error line's text (refused), without its line end.
    std::string_view message{};
    /// Bytes of `bytes` the reply took (accepted, refused).
    std::size_t size = 0;
};
auth_reply parse_auth_reply(std::string_view bytes) noexcept;

} // namespace memcoro::proto
