#pragma once
/// \file
/// How a server is reached over TLS, and the credentials of memcached's ASCII authentication.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace memcoro {

/// The oldest TLS version a connection accepts.
enum class tls_version : std::uint8_t { tls1_2, tls1_3 };

/// TLS settings: per client (client_config::tls), overridable per server (server_options::tls).
/// Peer and host-name verification are on by default; turning either off is a choice a caller
/// makes by name.
struct tls_options {
    /// Every server of the client is reached over TLS (else only the addresses written
    /// `tls://host:port`, and servers added with server_options::tls).
    bool enabled = false;
    /// PEM file of the certificate authorities to trust; with ca_path also empty, the
    /// system's store (OpenSSL's default paths).
    std::string ca_file{};
    /// Directory of CA certificates (hashed names, as `openssl rehash` makes them).
    std::string ca_path{};
    /// Verify the server's certificate chain.
    bool verify_peer = true;
    /// Verify that the certificate is for the server's host name or IP address (with
    /// verify_peer).
    bool verify_host = true;
    /// The name sent as SNI and checked against the certificate; empty: the address's host
    /// (an IP address is checked against the certificate's IP entries and sends no SNI).
    std::string server_name{};
    /// Client certificate (PEM, may hold the chain) and its private key, for servers that ask
    /// for one (mutual TLS: memcached's ssl_verify_mode). key_file empty: in cert_file.
    std::string cert_file{};
    /// The client certificate's private key (PEM); empty: read from cert_file.
    std::string key_file{};
    /// The oldest TLS version accepted.
    tls_version min_version = tls_version::tls1_2;
    /// OpenSSL cipher list for TLS 1.2 (empty: OpenSSL's default).
    std::string ciphers{};
    /// OpenSSL cipher suites for TLS 1.3 (empty: OpenSSL's default).
    std::string ciphersuites{};
    /// A reconnect offers the last session's ticket, so a server that keeps sessions
    /// (memcached's ssl_session_cache) skips the full handshake.
    bool resume_sessions = true;
    /// memcached 1.6's TLS can sit on pipelined requests it has already read until more bytes
    /// arrive (the rest of a TLS record waits in its OpenSSL buffer while it waits on the
    /// socket). So after this long with replies awaited and nothing read since the last write,
    /// a connection sends a `version` request to wake the server; while it is unanswered and
    /// nothing is read, another after twice the wait, at most 8 unanswered. Zero: never (for
    /// servers known not to stall).
    std::chrono::milliseconds nudge_after{4};

    /// Member-wise equality.
    friend bool operator==(const tls_options&, const tls_options&) = default;
};

/// Was memcoro built with TLS (OpenSSL)? Without it, a TLS server is refused at configuration
/// with std::invalid_argument.
bool tls_available() noexcept;

/// Credentials for memcached's ASCII authentication (memcached -Y FILE, whose lines are
/// `user:password`): sent first on every new connection, before anything else. Neither part may
/// hold a space or a line break, nor be empty.
struct credentials {
    std::string username{}; ///< the user name
    std::string password{}; ///< the password

    /// `user:password` (the first line of `path`, as memcached's auth file has them; a trailing
    /// newline is ignored). Throws std::invalid_argument naming the file when it cannot be read
    /// or holds no such line.
    static credentials from_file(const std::string& path);
    /// $MEMCACHED_USERNAME and $MEMCACHED_PASSWORD, or $MEMCACHED_USERNAME and the file named by
    /// $MEMCACHED_PASSWORD_FILE (its first line is the password); nullopt when
    /// MEMCACHED_USERNAME is not set. Throws std::invalid_argument when the password is missing.
    static std::optional<credentials> from_environment();

    /// Member-wise equality.
    friend bool operator==(const credentials&, const credentials&) = default;
};

/// Why credentials cannot be sent (empty when they can).
std::string_view invalid_credentials_reason(const credentials& c) noexcept;

} // namespace memcoro
