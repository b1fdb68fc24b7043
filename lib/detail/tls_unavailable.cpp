// memcoro built without OpenSSL: a server that asks for TLS is refused at configuration.

#include <memcoro/detail/transport.hpp>

#include <stdexcept>

namespace memcoro {

bool tls_available() noexcept
{
    return false;
}

} // namespace memcoro

namespace memcoro::detail {

class tls_client {};

std::shared_ptr<tls_client> make_tls_client(const tls_options&)
{
    throw std::invalid_argument("memcoro: TLS was asked for, but this memcoro was built without "
                                "it (OpenSSL not found, or -Dtls=disabled)");
}

std::unique_ptr<transport> make_tls_transport(const asio::any_io_executor&,
                                              std::shared_ptr<tls_client>,
                                              const std::optional<credentials>&)
{
    return nullptr;
}

tls_counters counters_of(const tls_client&) noexcept
{
    return {};
}

} // namespace memcoro::detail
