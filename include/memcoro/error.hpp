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
    invalid_key = 1,      ///< empty, longer than 250 bytes, or containing space/control bytes
    invalid_argument,     ///< another argument memcached cannot take (e.g. a bad stats group)
    value_too_large,      ///< the value exceeds the configured maximum item size
    timeout,              ///< the per-operation timeout expired
    connect_timeout,      ///< the server did not accept the connection in time
    connection_failed,    ///< the connection could not be established
    connection_lost,      ///< the connection broke after the request was written
    resolve_failed,       ///< the server's host name did not resolve
    server_error,         ///< SERVER_ERROR from the server (message in the diagnostics)
    client_error,         ///< CLIENT_ERROR from the server (message in the diagnostics)
    unknown_command,      ///< ERROR from the server
    protocol_error,       ///< malformed, oversized or unexpected reply; the connection is reset
    protocol_desync,      ///< a reply did not belong to its request; the connection is reset
    server_down,          ///< the server is marked down and was not contacted
    no_servers,           ///< the client has no server to send the request to
    shutting_down,        ///< the client was closed or destroyed
    not_supported,        ///< the protocol spoken to the server cannot express the operation
                          ///< (e.g. a lease on the text protocol); nothing was sent
    tls_handshake_failed, ///< the TLS handshake failed (a server that does not speak TLS, no
                          ///< common version or cipher, a client certificate refused)
    tls_verify_failed,    ///< the server's certificate was refused (an unknown CA, another
                          ///< host name, expired): the cause says which
    auth_failed,          ///< the server refused the credentials (memcached -Y)
};

/// The category of memcoro's error codes ("memcoro").
const std::error_category& error_category() noexcept;

/// The enumerator's name of `e` ("invalid_key", "timeout", ...), or "" for a value that is no
/// enumerator. Every value from 1 to the last enumerator has one.
std::string_view errc_name(errc e) noexcept;

/// `e` as a std::error_code of memcoro's category (what makes errc convertible to one).
inline std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/// Must the connection that produced this error be reset?
bool is_fatal(const std::error_code& ec) noexcept;

/// What more there is to know about a failed operation than its error code: filled by the
/// `memcoro::with_diagnostics` token adapter (any completion token) and carried by
/// `memcoro::error` (the default token's exception).
struct diagnostics {
    /// The server the operation was sent to ("host:port" or a socket path), if known.
    std::string server;
    /// The server's own message (`server_error`, `client_error`, `unknown_command`), if any.
    std::string message;
    /// The system error underneath a connection failure (refused, unreachable, reset, ...),
    /// if any.
    std::error_code cause;

    /// Empties the three fields.
    void clear()
    {
        server.clear();
        message.clear();
        cause.clear();
    }
};

/// The exception thrown by memcoro's default completion token (`memcoro::use_awaitable`).
/// `what()` names the server, quotes the server's message and names the system error
/// underneath, where there are such.
class error : public std::system_error {
public:
    /// The error `ec`, with the server, the server's message and the system error underneath
    /// (each empty when unknown).
    explicit error(std::error_code ec, std::string server = {}, std::string detail = {},
                   std::error_code cause = {});

    /// The server the operation was sent to ("host:port" or a socket path), if known.
    const std::string& server() const noexcept { return server_; }
    /// The server's own message for `server_error` / `client_error`, if any.
    const std::string& detail() const noexcept { return detail_; }
    /// The system error underneath a connection failure, if any.
    const std::error_code& cause() const noexcept { return cause_; }
    /// "server: message: detail (cause)".
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
    std::string server_;
    std::string detail_;
    std::error_code cause_;
};

/// One-line description: "server: message: detail (cause)".
std::string describe(const std::error_code& ec, std::string_view server, std::string_view detail,
                     const std::error_code& cause = {});

} // namespace memcoro

template <>
struct std::is_error_code_enum<memcoro::errc> : std::true_type {
};
