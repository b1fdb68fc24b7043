#include <memcoro/tls.hpp>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace memcoro {
namespace {

/// The first line of `path` (without its line end). Throws naming the file.
std::string first_line(const std::string& path, const char* what)
{
    std::ifstream in(path);
    if (!in)
        throw std::invalid_argument(std::string("memcoro: cannot read the ") + what + " file '" +
                                    path + "'");
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    return line;
}

} // namespace

std::string_view invalid_credentials_reason(const credentials& c) noexcept
{
    constexpr std::string_view forbidden = std::string_view(" \t\r\n\0", 5);
    if (c.username.empty())
        return "the user name is empty";
    if (c.password.empty())
        return "the password is empty";
    if (c.username.find_first_of(forbidden) != std::string::npos)
        return "the user name holds a space, a tab, a line break or a NUL";
    if (c.password.find_first_of(forbidden) != std::string::npos)
        return "the password holds a space, a tab, a line break or a NUL";
    return {};
}

credentials credentials::from_file(const std::string& path)
{
    const std::string line = first_line(path, "credentials");
    const auto colon = line.find(':');
    credentials c;
    if (colon != std::string::npos) {
        c.username = line.substr(0, colon);
        c.password = line.substr(colon + 1);
    }
    if (colon == std::string::npos || !invalid_credentials_reason(c).empty())
        throw std::invalid_argument("memcoro: the credentials file '" + path +
                                    "' does not start with a line user:password");
    return c;
}

std::optional<credentials> credentials::from_environment()
{
    const char* user = std::getenv("MEMCACHED_USERNAME");
    if (!user || !*user)
        return std::nullopt;
    credentials c;
    c.username = user;
    if (const char* file = std::getenv("MEMCACHED_PASSWORD_FILE"); file && *file)
        c.password = first_line(file, "password");
    else if (const char* pw = std::getenv("MEMCACHED_PASSWORD"))
        c.password = pw;
    if (c.password.empty())
        throw std::invalid_argument("memcoro: MEMCACHED_USERNAME is set but neither "
                                    "MEMCACHED_PASSWORD nor MEMCACHED_PASSWORD_FILE gives a "
                                    "password");
    if (const auto why = invalid_credentials_reason(c); !why.empty())
        throw std::invalid_argument("memcoro: bad credentials in the environment: " +
                                    std::string(why));
    return c;
}

} // namespace memcoro
