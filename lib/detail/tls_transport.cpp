#include "socket_transport.hpp"

#include <asio/ip/address.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace memcoro {

bool tls_available() noexcept
{
    return true;
}

} // namespace memcoro

namespace memcoro::detail {
namespace {

using namespace asio::experimental::awaitable_operators;

/// Why a certificate was refused: OpenSSL's verification result (X509_V_ERR_*).
class x509_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "memcoro.x509"; }
    std::string message(int ev) const override { return X509_verify_cert_error_string(ev); }
};
const x509_category the_x509_category;

/// The reason OpenSSL gives for the last error on this thread's queue (empty if none).
std::string openssl_reason()
{
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown reason";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

[[noreturn]] void bad_tls(const std::string& what)
{
    throw std::invalid_argument("memcoro: TLS: " + what + ": " + openssl_reason());
}

bool is_ip_address(const std::string& host)
{
    std::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}

} // namespace

class tls_client {
public:
    explicit tls_client(const tls_options& o)
        : opts_(o)
        , ctx_(asio::ssl::context::tls_client)
    {
        SSL_CTX* ctx = ctx_.native_handle();
        ERR_clear_error();
        if (SSL_CTX_set_min_proto_version(ctx, opts_.min_version == tls_version::tls1_3
                                                   ? TLS1_3_VERSION
                                                   : TLS1_2_VERSION) != 1)
            bad_tls("cannot set the minimum version");
        SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
        if (!opts_.ca_file.empty() &&
            SSL_CTX_load_verify_locations(ctx, opts_.ca_file.c_str(), nullptr) != 1)
            bad_tls("cannot load the CA file '" + opts_.ca_file + "'");
        if (!opts_.ca_path.empty() &&
            SSL_CTX_load_verify_locations(ctx, nullptr, opts_.ca_path.c_str()) != 1)
            bad_tls("cannot use the CA directory '" + opts_.ca_path + "'");
        if (opts_.ca_file.empty() && opts_.ca_path.empty() &&
            SSL_CTX_set_default_verify_paths(ctx) != 1)
            bad_tls("cannot load the system's CA store");
        if (!opts_.cert_file.empty()) {
            if (SSL_CTX_use_certificate_chain_file(ctx, opts_.cert_file.c_str()) != 1)
                bad_tls("cannot load the client certificate '" + opts_.cert_file + "'");
            const std::string& key = opts_.key_file.empty() ? opts_.cert_file : opts_.key_file;
            if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
                bad_tls("cannot load the client key '" + key + "'");
            if (SSL_CTX_check_private_key(ctx) != 1)
                bad_tls("the client key '" + key + "' does not match its certificate");
        } else if (!opts_.key_file.empty()) {
            throw std::invalid_argument("memcoro: TLS: a client key without its certificate");
        }
        if (!opts_.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, opts_.ciphers.c_str()) != 1)
            bad_tls("no usable cipher in '" + opts_.ciphers + "'");
        if (!opts_.ciphersuites.empty() &&
            SSL_CTX_set_ciphersuites(ctx, opts_.ciphersuites.c_str()) != 1)
            bad_tls("no usable cipher suite in '" + opts_.ciphersuites + "'");
        SSL_CTX_set_verify(ctx, opts_.verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
        if (opts_.resume_sessions) {
            // Sessions are kept here, one per server (the last one), not in OpenSSL's cache:
            // a TLS 1.3 server sends its tickets after the handshake, so the session to offer
            // is known only once a ticket has come.
            SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
                                                    SSL_SESS_CACHE_NO_INTERNAL_STORE);
            SSL_CTX_set_ex_data(ctx, ex_index(), this);
            SSL_CTX_sess_set_new_cb(ctx, &tls_client::on_new_session);
        }
    }
    ~tls_client()
    {
        if (session_)
            SSL_SESSION_free(session_);
    }
    tls_client(const tls_client&) = delete;
    tls_client& operator=(const tls_client&) = delete;

    asio::ssl::context& context() noexcept { return ctx_; }
    const tls_options& options() const noexcept { return opts_; }

    /// Prepares a new connection's SSL object for `host`: SNI, the name or address to verify,
    /// the session to resume.
    std::error_code prepare(SSL* ssl, const std::string& host)
    {
        const std::string& name = opts_.server_name.empty() ? host : opts_.server_name;
        const bool ip = is_ip_address(name);
        if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
            return errc::tls_handshake_failed;
        if (opts_.verify_peer && opts_.verify_host) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            if (ip) {
                if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1)
                    return errc::tls_handshake_failed;
            } else {
                X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                if (SSL_set1_host(ssl, name.c_str()) != 1)
                    return errc::tls_handshake_failed;
            }
        }
        std::lock_guard lock(mutex_);
        if (session_ && opts_.resume_sessions && SSL_set_session(ssl, session_) != 1)
            ERR_clear_error(); // (a full handshake then)
        return {};
    }

    void handshake_done(SSL* ssl) noexcept
    {
        handshakes_.fetch_add(1, std::memory_order_relaxed);
        if (SSL_session_reused(ssl))
            resumed_.fetch_add(1, std::memory_order_relaxed);
    }
    /// A handshake that failed on this session: not offered again.
    void forget_session() noexcept
    {
        std::lock_guard lock(mutex_);
        if (session_)
            SSL_SESSION_free(std::exchange(session_, nullptr));
    }

    tls_counters counters() const noexcept
    {
        return {handshakes_.load(std::memory_order_relaxed),
                resumed_.load(std::memory_order_relaxed)};
    }

private:
    static int ex_index()
    {
        static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        return index;
    }
    static int on_new_session(SSL* ssl, SSL_SESSION* session)
    {
        auto* self =
            static_cast<tls_client*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index()));
        if (!self || !SSL_SESSION_is_resumable(session))
            return 0;
        // A copy: OpenSSL marks a connection's own session not resumable when the connection
        // ends without a TLS close (as a server's idle close or a dropped connection do).
        SSL_SESSION* copy = SSL_SESSION_dup(session);
        if (!copy)
            return 0;
        std::lock_guard lock(self->mutex_);
        if (self->session_)
            SSL_SESSION_free(self->session_);
        self->session_ = copy;
        return 0; // (the connection's own reference stays OpenSSL's)
    }

    tls_options opts_;
    asio::ssl::context ctx_;
    // A server's connections may run on several threads (each client has its own executor,
    // but one tls_client may serve clients made from the same options): the session is locked.
    std::mutex mutex_;
    SSL_SESSION* session_ = nullptr;
    std::atomic<std::uint64_t> handshakes_{0};
    std::atomic<std::uint64_t> resumed_{0};
};

namespace {

using tls_stream = asio::ssl::stream<asio::generic::stream_protocol::socket&>;

/// One connection's TLS stream, and the copy of the bytes its write in progress sends.
struct tls_session {
    tls_session(asio::generic::stream_protocol::socket& socket, asio::ssl::context& ctx)
        : stream(socket, ctx)
    {
    }
    tls_stream stream;
    std::vector<char> out;
};

/// A completion of a TLS read or write: the connection's handler, with the session it ran on
/// kept alive (a stream's operations hold on to its state, and a write to its copy of the
/// bytes, until they complete, after a reconnect has made a new session too).
struct tls_handler {
    io_handler h;
    std::shared_ptr<tls_session> session;

    using allocator_type = io_handler::allocator_type;
    allocator_type get_allocator() const noexcept { return {}; }

    void operator()(std::error_code ec, std::size_t n)
    {
        session.reset();
        h(ec, n);
    }
};

class tls_transport final : public transport {
public:
    tls_transport(const asio::any_io_executor& ex, std::shared_ptr<tls_client> tls,
                  std::string auth)
        : ex_(ex)
        , tcp_(ex)
        , tls_(std::move(tls))
        , auth_(std::move(auth))
    {
    }

    asio::awaitable<std::error_code> connect(const server_address& addr, clock::time_point deadline,
                                             std::error_code& cause) override;

    std::size_t write_some(std::span<const asio::const_buffer>, std::error_code& ec) override
    {
        // Every write goes through the TLS stream's own asynchronous write.
        ec = asio::error::would_block;
        return 0;
    }

    void async_write_some(std::span<const asio::const_buffer> buffers, io_handler h) override
    {
        // One contiguous copy, at most a few records: the stream encrypts one buffer at a time,
        // and the requests staged are many small ones.
        auto& out = session_->out;
        out.clear();
        for (const auto& b : buffers) {
            const std::size_t n = std::min(max_record_batch - out.size(), b.size());
            const char* p = static_cast<const char*>(b.data());
            out.insert(out.end(), p, p + n);
            if (out.size() == max_record_batch)
                break;
        }
        asio::async_write(session_->stream, asio::buffer(out), tls_handler{std::move(h), session_});
    }

    void async_read_some(asio::mutable_buffer buffer, io_handler h) override
    {
        session_->stream.async_read_some(buffer, tls_handler{std::move(h), session_});
    }

    void close() noexcept override { tcp_.close(); }

private:
    static constexpr std::size_t max_record_batch = 64 * 1024;

    /// The handshake, then the authentication, on the connected socket.
    asio::awaitable<std::error_code> secure(const server_address& addr, asio::steady_timer& timer,
                                            std::error_code& cause);

    asio::any_io_executor ex_;
    socket_transport tcp_;
    std::shared_ptr<tls_client> tls_;
    std::string auth_;
    std::shared_ptr<tls_session> session_;
};

asio::awaitable<std::error_code> tls_transport::connect(const server_address& addr,
                                                        clock::time_point deadline,
                                                        std::error_code& cause)
{
    asio::steady_timer timer(ex_, deadline);
    if (auto ec = co_await tcp_.connect_socket(addr, timer, cause))
        co_return ec;
    const auto ec = co_await secure(addr, timer, cause);
    if (ec && !tcp_.closed())
        tcp_.drop(); // (nothing more goes out on a refused connection)
    co_return ec;
}

asio::awaitable<std::error_code>
tls_transport::secure(const server_address& addr, asio::steady_timer& timer, std::error_code& cause)
{
    // A new stream per connection (an SSL object serves one connection).
    session_ = std::make_shared<tls_session>(tcp_.socket(), tls_->context());
    auto& stream = session_->stream;
    if (auto ec = tls_->prepare(stream.native_handle(), addr.host)) {
        cause =
            asio::error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
        co_return ec;
    }
    auto r = co_await (stream.async_handshake(asio::ssl::stream_base::client, use_tuple) ||
                       timer.async_wait(use_tuple));
    if (tcp_.closed())
        co_return asio::error::operation_aborted;
    if (r.index() == 1)
        co_return errc::connect_timeout;
    if (auto [ec] = std::get<0>(r); ec) {
        tls_->forget_session();
        const long verdict = SSL_get_verify_result(stream.native_handle());
        if (verdict != X509_V_OK && tls_->options().verify_peer) {
            cause = std::error_code(static_cast<int>(verdict), the_x509_category);
            co_return errc::tls_verify_failed;
        }
        cause = ec;
        co_return errc::tls_handshake_failed;
    }
    tls_->handshake_done(stream.native_handle());
    if (auth_.empty())
        co_return std::error_code{};
    co_return co_await authenticate(stream, auth_, timer, tcp_.closed_flag(), cause);
}

} // namespace

std::shared_ptr<tls_client> make_tls_client(const tls_options& o)
{
    return std::make_shared<tls_client>(o);
}

std::unique_ptr<transport> make_tls_transport(const asio::any_io_executor& ex,
                                              std::shared_ptr<tls_client> tls,
                                              const std::optional<credentials>& auth)
{
    return std::make_unique<tls_transport>(ex, std::move(tls),
                                           auth ? proto::encode_auth(*auth) : std::string{});
}

tls_counters counters_of(const tls_client& t) noexcept
{
    return t.counters();
}

} // namespace memcoro::detail
