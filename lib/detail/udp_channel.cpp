#include "udp_channel.hpp"

#include <memcoro/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/udp.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>

namespace memcoro::detail {
namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
/// After the socket could not be opened (or the server refused UDP), gets go over TCP for
/// this long before UDP is tried again.
constexpr auto reopen_after = std::chrono::seconds(1);
/// The largest datagram there is.
constexpr std::size_t max_udp_payload = 65536;
/// Datagrams taken at once after a wait, before the callers are answered.
constexpr std::size_t max_drain = 256;

} // namespace

udp_channel::udp_channel(asio::any_io_executor ex, std::string name, std::string host,
                         std::uint16_t port, const udp_options& opts, udp_core_options core,
                         entry_observer* observer, tcp_path tcp)
    : ex_(std::move(ex))
    , name_(std::move(name))
    , host_(std::move(host))
    , port_(port)
    , on_loss_(opts.on_loss)
    , core_(core)
    , observer_(observer)
    , tcp_(std::move(tcp))
    , socket_(ex_)
    , timer_(ex_, clock::time_point::max())
    , buffer_(max_udp_payload)
{
}

bool udp_channel::accepts(const op_entry& e) const noexcept
{
    if (phase_ == phase::closed || (phase_ == phase::failed && clock::now() < retry_open_at_))
        return false;
    return core_.accepts(e);
}

void udp_channel::submit(entry_ptr e)
{
    e->server = &name_;
    e->observer = observer_;
    const auto now = clock::now();
    core_.submit(std::move(e), now);
    if (phase_ == phase::idle || phase_ == phase::failed) {
        phase_ = phase::opening;
        asio::co_spawn(
            ex_, [self = shared_from_this()] { return self->run(); }, asio::detached);
    } else if (phase_ == phase::open) {
        flush();
    }
    if (!watching_) {
        watching_ = true;
        asio::co_spawn(
            ex_, [self = shared_from_this()] { return self->watchdog(); }, asio::detached);
    } else if (now + core_.options().timeout < timer_.expiry()) {
        timer_.cancel();
    }
}

void udp_channel::close()
{
    if (phase_ == phase::closed)
        return;
    phase_ = phase::closed;
    std::error_code ignored;
    socket_.close(ignored);
    timer_.cancel();
    core_.take_all(lost_);
    for (auto& e : lost_)
        tcp_(std::move(e));
    lost_.clear();
}

asio::awaitable<void> udp_channel::run()
{
    auto self = shared_from_this();
    asio::ip::udp::resolver resolver(ex_);
    auto [ec, results] = co_await resolver.async_resolve(host_, std::to_string(port_), use_tuple);
    if (phase_ != phase::opening)
        co_return; // closed meanwhile
    if (!ec && results.empty())
        ec = asio::error::host_not_found;
    if (!ec) {
        const auto ep = results.begin()->endpoint();
        socket_.open(ep.protocol(), ec);
        if (!ec)
            socket_.connect(ep, ec); // (datagrams from anywhere else are not received)
        if (!ec)
            socket_.non_blocking(true, ec);
        // Room for the answers of a window of requests arriving at once (the kernel caps it at
        // net.core.rmem_max); what does not fit is lost, and goes over TCP.
        std::error_code ignored;
        socket_.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024), ignored);
    }
    if (ec) {
        // Gets go over TCP for a while; the TCP connections report what is wrong, if anything.
        phase_ = phase::failed;
        retry_open_at_ = clock::now() + reopen_after;
        std::error_code ignored;
        socket_.close(ignored);
        core_.take_all(lost_);
        stats_.retried.fetch_add(lost_.size(), std::memory_order_relaxed);
        for (auto& e : lost_)
            tcp_(std::move(e));
        lost_.clear();
        co_return;
    }
    phase_ = phase::open;
    flush();
    while (phase_ == phase::open) {
        auto [rec, n] = co_await socket_.async_receive(asio::buffer(buffer_), use_tuple);
        if (phase_ != phase::open)
            break;
        if (rec) {
            if (rec == asio::error::operation_aborted)
                break;
            // The server's host says nothing listens there (ICMP port unreachable), or the
            // socket failed: what is in flight goes over TCP now, and gets for a while.
            phase_ = phase::failed;
            retry_open_at_ = clock::now() + reopen_after;
            std::error_code ignored;
            socket_.close(ignored);
            core_.take_all(lost_);
            stats_.lost.fetch_add(lost_.size(), std::memory_order_relaxed);
            settle();
            break;
        }
        // This datagram, and those already waiting, before the callers are answered.
        const auto now = clock::now();
        core_.on_datagram(std::string_view(buffer_.data(), n), now, answered_, lost_);
        for (std::size_t more = 0; more < max_drain; ++more) {
            std::error_code wec;
            const std::size_t m = socket_.receive(asio::buffer(buffer_), 0, wec);
            if (wec)
                break; // (would block: nothing more now; a real error shows on the next wait)
            core_.on_datagram(std::string_view(buffer_.data(), m), now, answered_, lost_);
        }
        settle();
        flush();
    }
}

asio::awaitable<void> udp_channel::watchdog()
{
    auto self = shared_from_this();
    while (phase_ != phase::closed) {
        const auto next = core_.expire(clock::now(), lost_);
        settle();
        flush();
        if (next == clock::time_point::max())
            break; // nothing to watch: submit() starts another
        timer_.expires_at(next);
        co_await timer_.async_wait(use_tuple);
    }
    watching_ = false;
}

void udp_channel::flush()
{
    if (phase_ != phase::open)
        return;
    out_.clear();
    core_.stage(clock::now(), out_);
    for (const auto d : out_) {
        std::error_code ec;
        // (A datagram the kernel would not take now is a datagram lost: its request times
        // out and goes over TCP.)
        socket_.send(asio::buffer(d.data(), d.size()), 0, ec);
    }
    publish();
}

void udp_channel::settle()
{
    for (auto& e : answered_)
        e->complete(false);
    answered_.clear();
    for (auto& e : lost_) {
        if (on_loss_ == udp_loss_policy::retry_tcp) {
            stats_.retried.fetch_add(1, std::memory_order_relaxed);
            tcp_(std::move(e));
        } else {
            e->state = entry_state::done;
            e->finish(errc::timeout);
        }
    }
    lost_.clear();
    publish();
}

void udp_channel::publish() noexcept
{
    const auto& c = core_.counters();
    stats_.requests.store(c.requests, std::memory_order_relaxed);
    stats_.replies.store(c.replies, std::memory_order_relaxed);
    stats_.stray.store(c.stray + c.duplicates, std::memory_order_relaxed);
    stats_.lost.store(std::max(stats_.lost.load(std::memory_order_relaxed), c.lost),
                      std::memory_order_relaxed);
}

} // namespace memcoro::detail
