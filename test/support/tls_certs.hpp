#pragma once
// X.509 certificates and keys for TLS tests, made with OpenSSL and written as PEM files, and the
// memcached arguments that serve them.

#include <string>
#include <vector>

namespace memcoro::test {

/// Certificates for TLS tests, written as PEM files into a fresh temporary directory
/// (removed by the destructor). All keys are EC P-256 (fast to generate).
///
/// Every certificate is X.509 version 3 with a random 128-bit serial number, a
/// subjectKeyIdentifier and an authorityKeyIdentifier, signed with SHA-256. Key files hold
/// unencrypted PKCS#8 PEM. Two CAs take part: the trusted one (ca_file()) and an unrelated one
/// (untrusted_ca_file()) with a different name and key.
class tls_certs {
public:
    /// Makes every key and certificate below. Throws std::runtime_error naming the step that
    /// failed (with OpenSSL's error queue).
    tls_certs();
    /// Removes the directory and its files.
    ~tls_certs();
    tls_certs(const tls_certs&) = delete;
    tls_certs& operator=(const tls_certs&) = delete;

    /// The directory holding the files.
    const std::string& dir() const;

    /// The CA (self-signed, basicConstraints critical CA:TRUE, keyUsage keyCertSign and
    /// cRLSign, CN=memcoro test CA) that signs the server and client certificates.
    std::string ca_file() const;
    std::string ca_key() const;

    /// Signed by the CA: subjectAltName DNS:localhost and IP:127.0.0.1, CN=localhost, valid from
    /// now - 1 day to now + 30 days, extendedKeyUsage serverAuth.
    std::string server_cert() const;
    std::string server_key() const;

    /// Signed by the CA for another name only: subjectAltName DNS:other.example,
    /// CN=other.example, no IP address.
    std::string wrong_host_cert() const;
    std::string wrong_host_key() const;

    /// Signed by the CA, names as server_cert(), expired: valid from now - 30 days to
    /// now - 1 day.
    std::string expired_cert() const;
    std::string expired_key() const;

    /// Names as server_cert(), signed by a second, unrelated CA (untrusted_ca_file(),
    /// CN=memcoro untrusted test CA): an unknown CA to clients that trust ca_file().
    std::string untrusted_cert() const;
    std::string untrusted_key() const;
    std::string untrusted_ca_file() const;

    /// Signed by the CA: CN=memcoro-test-client, extendedKeyUsage clientAuth, for mutual TLS.
    std::string client_cert() const;
    std::string client_key() const;

    /// As client_cert(), but signed by the unrelated CA: refused by a server that trusts
    /// ca_file() only.
    std::string untrusted_client_cert() const;
    std::string untrusted_client_key() const;

private:
    /// A directory made by mkdtemp, removed with its contents on destruction (also when the
    /// constructor of tls_certs throws after it was made).
    class temp_dir {
    public:
        temp_dir();
        ~temp_dir();
        temp_dir(const temp_dir&) = delete;
        temp_dir& operator=(const temp_dir&) = delete;
        const std::string& path() const noexcept { return path_; }

    private:
        std::string path_;
    };

    std::string file(const char* name) const;

    temp_dir dir_;
};

/// One set per test process, made on first use (thread-safe), for suites that only need a
/// trusted server certificate.
const tls_certs& shared_tls_certs();

/// memcached arguments for a TLS listener with `cert`/`key` (and, when `client_ca` is not empty,
/// requiring client certificates signed by it: ssl_ca_cert=...,ssl_verify_mode=3):
/// {"-Z", "-o", "ssl_chain_cert=...,ssl_key=...[,ssl_ca_cert=...,ssl_verify_mode=3]"}.
/// Throws std::runtime_error if a path holds a comma (memcached's -o separator).
std::vector<std::string> memcached_tls_args(const std::string& cert, const std::string& key,
                                            const std::string& client_ca = {});

} // namespace memcoro::test
