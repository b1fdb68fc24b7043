#pragma once
/// \file
/// memcoro's error codes, category and exception type.

#include <string>
#include <string_view>
#include <system_error>

namespace memcoro {

/// Why an operation could not be carried out. Outcomes that are not failures (a miss,
/// NOT_STORED, EXISTS, NOT_FOUND) are values in the result types, never errors.
enum class errc {
    invalid_key = 1,   ///< empty, longer than 250 bytes, or containing space/control bytes
    invalid_argument,  ///< another argument memcached cannot take (e.g. a bad stats group)
    value_too_large,   ///< the value exceeds the configured maximum item size
    timeout,           ///< the per-operation timeout expired
    connect_timeout,   ///< the server did not accept the connection in time
    connection_failed, ///< the connection could not be established
    connection_lost,   ///< the connection broke after the request was written
    resolve_failed,    ///< the server's host name did not resolve
    server_error,      ///< SERVER_ERROR from the server (message in the diagnostics)
    client_error,      ///< CLIENT_ERROR from the server (message in the diagnostics)
    unknown_command,   ///< ERROR from the server
    protocol_error,    ///< malformed, oversized or unexpected reply; the connection is reset
    protocol_desync,   ///< a reply did not belong to its request; the connection is reset
    server_down,       ///< the server is marked down and was not contacted
    no_servers,        ///< the client has no server to send the request to
    shutting_down,     ///< the client was closed or destroyed
};

/// The category of memcoro's error codes ("memcoro").
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/// Must the connection that produced this error be reset?
bool is_fatal(const std::error_code& ec) noexcept;

/// The exception thrown by memcoro's default completion token (`memcoro::use_awaitable`).
/// `what()` names the server and, for server replies, quotes the server's message.
class error : public std::system_error {
public:
    explicit error(std::error_code ec, std::string server = {}, std::string detail = {});

    /// The server the operation was sent to ("host:port" or a socket path), if known.
    const std::string& server() const noexcept { return server_; }
    /// The server's own message for `server_error` / `client_error`, if any.
    const std::string& detail() const noexcept { return detail_; }
    /// "server: message: detail".
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
    std::string server_;
    std::string detail_;
};

/// One-line description: "server: message: detail".
std::string describe(const std::error_code& ec, std::string_view server, std::string_view detail);

} // namespace memcoro

template <>
struct std::is_error_code_enum<memcoro::errc> : std::true_type {
};
