// Without OpenSSL: no certificates, and the suites do not run over TLS.

#include "tls_certs.hpp"

#include <stdexcept>

namespace memcoro::test {

const tls_certs& shared_tls_certs()
{
    throw std::runtime_error("tls_certs: memcoro's tests were built without OpenSSL");
}

std::vector<std::string> memcached_tls_args(const std::string&, const std::string&,
                                            const std::string&)
{
    throw std::runtime_error("tls_certs: memcoro's tests were built without OpenSSL");
}

std::string test_tls_ca_file()
{
    throw std::runtime_error("tls_certs: memcoro's tests were built without OpenSSL");
}

} // namespace memcoro::test
