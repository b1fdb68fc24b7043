#include <memcoro/proto/auth.hpp>

namespace memcoro::proto {

std::string encode_auth(const credentials& c)
{
    const std::string body = c.username + ' ' + c.password;
    std::string out = "set ";
    out.append(auth_key_length, 'a');
    out += " 0 0 " + std::to_string(body.size()) + "\r\n";
    out += body;
    out += "\r\n";
    return out;
}

auth_reply parse_auth_reply(std::string_view bytes) noexcept
{
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos)
        return {bytes.size() > max_auth_reply ? auth_outcome::malformed : auth_outcome::incomplete};
    if (nl > max_auth_reply || nl == 0 || bytes[nl - 1] != '\r')
        return {auth_outcome::malformed};
    const std::string_view line = bytes.substr(0, nl - 1);
    if (line == "STORED")
        return {auth_outcome::accepted, {}, nl + 1};
    for (const std::string_view error : {"CLIENT_ERROR", "SERVER_ERROR", "ERROR"}) {
        if (line == error)
            return {auth_outcome::refused, {}, nl + 1};
        if (line.starts_with(error) && line[error.size()] == ' ')
            return {auth_outcome::refused, line.substr(error.size() + 1), nl + 1};
    }
    return {auth_outcome::malformed};
}

} // namespace memcoro::proto
