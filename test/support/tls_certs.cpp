#include "tls_certs.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <system_error>

namespace memcoro::test {

namespace {

/// Frees an OpenSSL object with `Free`.
template <auto Free>
struct openssl_deleter {
    template <typename T>
    void operator()(T* p) const noexcept
    {
        Free(p);
    }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;

constexpr long day = 24 * 60 * 60;

/// The calling thread's OpenSSL error queue, emptied, as one line.
std::string openssl_errors()
{
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!text.empty())
            text += "; ";
        text += buf;
    }
    return text.empty() ? "no OpenSSL error reported" : text;
}

/// Throws std::runtime_error for the failed step `what`, with OpenSSL's errors.
[[noreturn]] void fail(const std::string& what)
{
    throw std::runtime_error("tls_certs: " + what + " failed: " + openssl_errors());
}

pkey_ptr make_key()
{
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key)
        fail("generating an EC P-256 key");
    return key;
}

/// What a certificate says about its subject.
struct cert_spec {
    const char* common_name;
    /// subjectAltName value ("DNS:...,IP:..."); nullptr for none.
    const char* subject_alt_name = nullptr;
    /// extendedKeyUsage value; nullptr for none.
    const char* extended_key_usage = nullptr;
    /// Validity, in seconds from now.
    long not_before = -day;
    long not_after = 30 * day;
    bool ca = false;
};

/// A random, positive, non-zero 128-bit serial number for `cert`.
void set_random_serial(X509* cert)
{
    bignum_ptr serial(BN_new());
    if (!serial)
        fail("BN_new");
    do {
        unsigned char bytes[16];
        if (RAND_bytes(bytes, sizeof bytes) != 1)
            fail("RAND_bytes for a serial number");
        if (!BN_bin2bn(bytes, sizeof bytes, serial.get()))
            fail("BN_bin2bn for a serial number");
    } while (BN_is_zero(serial.get()));
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)))
        fail("setting the serial number");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value)
{
    extension_ptr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    if (!ext)
        fail(std::string("making extension ") + OBJ_nid2sn(nid) + " = " + value);
    if (X509_add_ext(cert, ext.get(), -1) != 1) // adds a copy
        fail(std::string("adding extension ") + OBJ_nid2sn(nid));
}

/// A certificate for `subject_key` described by `spec`, signed by `issuer_key` and issued by
/// `issuer` (nullptr: self-signed, `issuer_key` then being `subject_key`).
x509_ptr make_cert(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key)
{
    const std::string cn = spec.common_name;
    x509_ptr cert(X509_new());
    if (!cert)
        fail("X509_new for " + cn);
    if (X509_set_version(cert.get(), X509_VERSION_3) != 1)
        fail("setting the version of " + cn);
    set_random_serial(cert.get());
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after))
        fail("setting the validity of " + cn);

    X509_NAME* subject = X509_get_subject_name(cert.get());
    const auto add_entry = [subject](const char* field, const char* value) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(value);
        return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_ASC, bytes, -1, -1, 0) == 1;
    };
    if (!add_entry("O", "memcoro tests") || !add_entry("CN", spec.common_name))
        fail("setting the subject name of " + cn);
    if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : subject) != 1)
        fail("setting the issuer name of " + cn);
    if (X509_set_pubkey(cert.get(), subject_key) != 1)
        fail("setting the public key of " + cn);

    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
    if (X509V3_set_issuer_pkey(&ctx, issuer_key) != 1)
        fail("X509V3_set_issuer_pkey for " + cn);
    if (spec.ca) {
        add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    }
    if (spec.extended_key_usage)
        add_extension(cert.get(), &ctx, NID_ext_key_usage, spec.extended_key_usage);
    if (spec.subject_alt_name)
        add_extension(cert.get(), &ctx, NID_subject_alt_name, spec.subject_alt_name);
    // The subject key identifier first: a self-signed certificate's authority key identifier
    // is taken from it.
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");

    if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
        fail("signing " + cn);
    return cert;
}

bio_ptr open_for_writing(const std::string& path)
{
    bio_ptr bio(BIO_new_file(path.c_str(), "w"));
    if (!bio)
        fail("opening " + path);
    return bio;
}

void finish_writing(BIO* bio, const std::string& path)
{
    if (BIO_flush(bio) != 1)
        fail("writing " + path);
}

void write_cert(const std::string& path, X509* cert)
{
    const bio_ptr bio = open_for_writing(path);
    if (PEM_write_bio_X509(bio.get(), cert) != 1)
        fail("writing " + path);
    finish_writing(bio.get(), path);
}

/// Writes `key` unencrypted, as PKCS#8 PEM, readable by its owner only.
void write_key(const std::string& path, EVP_PKEY* key)
{
    const bio_ptr bio = open_for_writing(path);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write);
    if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("writing " + path);
    finish_writing(bio.get(), path);
}

/// A key pair and its certificate.
struct issued {
    pkey_ptr key;
    x509_ptr cert;
};

issued make_ca(const char* common_name)
{
    issued ca;
    ca.key = make_key();
    cert_spec spec{common_name};
    spec.not_before = -60 * day;
    spec.not_after = 365 * day;
    spec.ca = true;
    ca.cert = make_cert(spec, ca.key.get(), nullptr, ca.key.get());
    return ca;
}

issued make_leaf(const cert_spec& spec, const issued& ca)
{
    issued leaf;
    leaf.key = make_key();
    leaf.cert = make_cert(spec, leaf.key.get(), ca.cert.get(), ca.key.get());
    return leaf;
}

constexpr const char* localhost_names = "DNS:localhost,IP:127.0.0.1";
constexpr const char* client_name = "memcoro-test-client";

} // namespace

tls_certs::temp_dir::temp_dir()
{
    std::string tmpl = (std::filesystem::temp_directory_path() / "memcoro-tls-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
        throw std::system_error(errno, std::generic_category(),
                                "tls_certs: mkdtemp(" + tmpl + ") failed");
    path_ = tmpl;
}

tls_certs::temp_dir::~temp_dir()
{
    std::error_code ec; // a destructor cannot report it; the directory is in the temp dir
    std::filesystem::remove_all(path_, ec);
}

tls_certs::tls_certs()
{
    // Only errors of the calls below are to be reported.
    ERR_clear_error();

    const issued ca = make_ca("memcoro test CA");
    write_cert(ca_file(), ca.cert.get());
    write_key(ca_key(), ca.key.get());

    const issued other_ca = make_ca("memcoro untrusted test CA");
    write_cert(untrusted_ca_file(), other_ca.cert.get());

    const auto write = [](const issued& leaf, const std::string& cert, const std::string& key) {
        write_cert(cert, leaf.cert.get());
        write_key(key, leaf.key.get());
    };

    const cert_spec server{"localhost", localhost_names, "serverAuth"};
    write(make_leaf(server, ca), server_cert(), server_key());
    write(make_leaf(server, other_ca), untrusted_cert(), untrusted_key());

    cert_spec expired = server;
    expired.not_before = -30 * day;
    expired.not_after = -day;
    write(make_leaf(expired, ca), expired_cert(), expired_key());

    const cert_spec wrong_host{"other.example", "DNS:other.example", "serverAuth"};
    write(make_leaf(wrong_host, ca), wrong_host_cert(), wrong_host_key());

    const cert_spec client{client_name, nullptr, "clientAuth"};
    write(make_leaf(client, ca), client_cert(), client_key());
    write(make_leaf(client, other_ca), untrusted_client_cert(), untrusted_client_key());
}

tls_certs::~tls_certs() = default;

const std::string& tls_certs::dir() const
{
    return dir_.path();
}

std::string tls_certs::file(const char* name) const
{
    return dir_.path() + "/" + name;
}

std::string tls_certs::ca_file() const
{
    return file("ca.pem");
}
std::string tls_certs::ca_key() const
{
    return file("ca.key");
}
std::string tls_certs::server_cert() const
{
    return file("server.pem");
}
std::string tls_certs::server_key() const
{
    return file("server.key");
}
std::string tls_certs::wrong_host_cert() const
{
    return file("wrong-host.pem");
}
std::string tls_certs::wrong_host_key() const
{
    return file("wrong-host.key");
}
std::string tls_certs::expired_cert() const
{
    return file("expired.pem");
}
std::string tls_certs::expired_key() const
{
    return file("expired.key");
}
std::string tls_certs::untrusted_cert() const
{
    return file("untrusted.pem");
}
std::string tls_certs::untrusted_key() const
{
    return file("untrusted.key");
}
std::string tls_certs::untrusted_ca_file() const
{
    return file("untrusted-ca.pem");
}
std::string tls_certs::client_cert() const
{
    return file("client.pem");
}
std::string tls_certs::client_key() const
{
    return file("client.key");
}
std::string tls_certs::untrusted_client_cert() const
{
    return file("untrusted-client.pem");
}
std::string tls_certs::untrusted_client_key() const
{
    return file("untrusted-client.key");
}

const tls_certs& shared_tls_certs()
{
    static const tls_certs certs;
    return certs;
}

std::vector<std::string> memcached_tls_args(const std::string& cert, const std::string& key,
                                            const std::string& client_ca)
{
    const auto check = [](const char* what, const std::string& path, bool optional) {
        if (path.empty() && !optional)
            throw std::runtime_error(std::string("memcached_tls_args: no ") + what);
        if (path.find(',') != std::string::npos)
            throw std::runtime_error(std::string("memcached_tls_args: the ") + what + " path " +
                                     path + " holds a comma, memcached's -o separator");
    };
    check("certificate", cert, false);
    check("key", key, false);
    check("client CA", client_ca, true);
    std::string options = "ssl_chain_cert=" + cert + ",ssl_key=" + key;
    if (!client_ca.empty())
        options += ",ssl_ca_cert=" + client_ca + ",ssl_verify_mode=3";
    return {"-Z", "-o", options};
}

} // namespace memcoro::test

namespace memcoro::test {

std::string test_tls_ca_file()
{
    return shared_tls_certs().ca_file();
}

} // namespace memcoro::test
