#include <memcoro/error.hpp>

namespace memcoro {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro"; }

    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_key:
            return "invalid key (empty, over 250 bytes with its prefix, or containing space or "
                   "control bytes)";
        case errc::invalid_argument:
            return "invalid argument";
        case errc::value_too_large:
            return "value larger than the maximum item size";
        case errc::timeout:
            return "operation timed out";
        case errc::connect_timeout:
            return "connect timed out";
        case errc::connection_failed:
            return "connection failed";
        case errc::connection_lost:
            return "connection lost before the reply arrived";
        case errc::resolve_failed:
            return "host name did not resolve";
        case errc::server_error:
            return "server error";
        case errc::client_error:
            return "client error reported by the server";
        case errc::unknown_command:
            return "the server does not know the command";
        case errc::protocol_error:
            return "malformed or unexpected reply from the server";
        case errc::protocol_desync:
            return "reply does not match its request";
        case errc::server_down:
            return "server is marked down";
        case errc::no_servers:
            return "no servers configured";
        case errc::shutting_down:
            return "client is shutting down";
        case errc::not_supported:
            return "operation not supported by the protocol spoken to the server";
        case errc::tls_handshake_failed:
            return "TLS handshake failed";
        case errc::tls_verify_failed:
            return "the server's TLS certificate was refused";
        case errc::auth_failed:
            return "authentication failed";
        }
        return "unknown memcoro error";
    }
};

const category the_category;

} // namespace

const std::error_category& error_category() noexcept
{
    return the_category;
}

std::string_view errc_name(errc e) noexcept
{
    switch (e) {
    case errc::invalid_key:
        return "invalid_key";
    case errc::invalid_argument:
        return "invalid_argument";
    case errc::value_too_large:
        return "value_too_large";
    case errc::timeout:
        return "timeout";
    case errc::connect_timeout:
        return "connect_timeout";
    case errc::connection_failed:
        return "connection_failed";
    case errc::connection_lost:
        return "connection_lost";
    case errc::resolve_failed:
        return "resolve_failed";
    case errc::server_error:
        return "server_error";
    case errc::client_error:
        return "client_error";
    case errc::unknown_command:
        return "unknown_command";
    case errc::protocol_error:
        return "protocol_error";
    case errc::protocol_desync:
        return "protocol_desync";
    case errc::server_down:
        return "server_down";
    case errc::no_servers:
        return "no_servers";
    case errc::shutting_down:
        return "shutting_down";
    case errc::not_supported:
        return "not_supported";
    case errc::tls_handshake_failed:
        return "tls_handshake_failed";
    case errc::tls_verify_failed:
        return "tls_verify_failed";
    case errc::auth_failed:
        return "auth_failed";
    }
    return {};
}

bool is_fatal(const std::error_code& ec) noexcept
{
    if (ec.category() != the_category)
        return static_cast<bool>(ec) && ec != std::errc::operation_canceled;
    switch (static_cast<errc>(ec.value())) {
    case errc::protocol_error:
    case errc::protocol_desync:
    case errc::connection_lost:
    case errc::connection_failed:
    case errc::connect_timeout:
    case errc::resolve_failed:
    case errc::tls_handshake_failed:
    case errc::tls_verify_failed:
    case errc::auth_failed:
        return true;
    default:
        return false;
    }
}

std::string describe(const std::error_code& ec, std::string_view server, std::string_view detail,
                     const std::error_code& cause)
{
    std::string s;
    if (!server.empty()) {
        s += server;
        s += ": ";
    }
    s += ec.message();
    if (!detail.empty()) {
        s += ": ";
        s += detail;
    }
    if (cause) {
        s += " (";
        s += cause.message();
        s += ')';
    }
    return s;
}

error::error(std::error_code ec, std::string server, std::string detail, std::error_code cause)
    : std::system_error(ec)
    , what_(describe(ec, server, detail, cause))
    , server_(std::move(server))
    , detail_(std::move(detail))
    , cause_(cause)
{
}

} // namespace memcoro
