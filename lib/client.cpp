#include "detail/client_impl.hpp"

#include <memcoro/client.hpp>

#include <asio/execution_context.hpp>

#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace memcoro {
namespace detail {
namespace {

/// Tracks the clients of an execution context, so that when the context is destroyed with
/// requests still pending their handlers (and the coroutine frames they own) are destroyed
/// too instead of leaking in a cycle through the client.
class client_service final : public asio::execution_context::service {
public:
    static inline asio::execution_context::id id;

    explicit client_service(asio::execution_context& ctx) : service(ctx) {}

    void add(const std::shared_ptr<client_impl>& c)
    {
        std::lock_guard lock(mutex_);
        clients_.emplace(c.get(), c);
    }

    void remove(client_impl* c)
    {
        std::lock_guard lock(mutex_);
        clients_.erase(c);
    }

private:
    void shutdown() override
    {
        std::unordered_map<client_impl*, std::weak_ptr<client_impl>> clients;
        {
            std::lock_guard lock(mutex_);
            clients.swap(clients_);
        }
        for (auto& [_, w] : clients)
            if (auto c = w.lock())
                c->drop_all();
    }

    std::mutex mutex_;
    std::unordered_map<client_impl*, std::weak_ptr<client_impl>> clients_;
};

client_service& service_of(const asio::any_io_executor& ex)
{
    return asio::use_service<client_service>(asio::query(ex, asio::execution::context));
}

/// Part of a request split over several servers (multi-key retrievals, broadcasts): reports
/// into the shared gather, which answers the caller once every part is done.
class gather : public std::enable_shared_from_this<gather> {
public:
    gather(entry_ptr parent, std::size_t parts) : parent_(std::move(parent)), remaining_(parts) {}

    void part_done(op_entry& part)
    {
        if (part.ec) {
            if (!first_error_) {
                first_error_ = part.ec;
                parent_->server = part.server;
            }
            if (!part.resp.text.empty() && parent_->resp.text.empty())
                parent_->resp.text = part.resp.text;
            if (part.req.multi_key)
                for (auto& k : part.req.keys)
                    parent_->resp.key_errors.emplace_back(std::move(k), part.ec);
            else
                ++failed_broadcasts_;
        } else {
            for (auto& i : part.resp.items)
                parent_->resp.items.push_back(std::move(i));
            parent_->resp.status = part.resp.status;
        }
        if (--remaining_ > 0)
            return;
        // Every key failed (or a broadcast failed somewhere): the call as a whole failed.
        const bool all_keys_failed =
            parent_->req.multi_key && parent_->resp.key_errors.size() == parent_->req.keys.size();
        if (first_error_ && (all_keys_failed || failed_broadcasts_ > 0)) {
            parent_->resp.key_errors.clear();
            parent_->finish(first_error_);
        } else {
            parent_->finish({});
        }
    }

private:
    entry_ptr parent_;
    std::size_t remaining_;
    std::size_t failed_broadcasts_ = 0;
    std::error_code first_error_;
};

class part_entry final : public op_entry {
public:
    part_entry(proto::request r, std::shared_ptr<gather> g)
        : op_entry(std::move(r))
        , gather_(std::move(g))
    {}

private:
    void on_complete() override { gather_->part_done(*this); }
    std::shared_ptr<gather> gather_;
};

std::uint32_t one_at_a_time(std::string_view key) noexcept
{
    std::uint32_t h = 0;
    for (char c : key) {
        h += static_cast<std::uint32_t>(static_cast<signed char>(c));
        h += h << 10;
        h ^= h >> 6;
    }
    h += h << 3;
    h ^= h >> 11;
    h += h << 15;
    return h;
}

} // namespace

client_impl::client_impl(asio::any_io_executor ex, client_config cfg)
    : ex_(std::move(ex))
    , cfg_(std::move(cfg))
{
    if (cfg_.servers.empty())
        throw std::invalid_argument("memcoro: no servers configured");
    if (cfg_.max_item_size == 0 || cfg_.max_write_bytes == 0)
        throw std::invalid_argument("memcoro: max_item_size and max_write_bytes must be positive");
    for (const auto& s : cfg_.servers)
        conns_.push_back(std::make_shared<connection>(ex_, s, cfg_));
}

void client_impl::submit(entry_ptr e)
{
    asio::dispatch(ex_, [self = shared_from_this(), e = std::move(e)]() mutable {
        self->route(std::move(e));
    });
}

void client_impl::route(entry_ptr e)
{
    if (closed_) {
        e->finish(asio::error::operation_aborted);
        return;
    }
    if (e->req.multi_key && e->req.keys.empty()) {
        e->finish({}); // nothing to look up
        return;
    }
    if (auto ec = proto::validate(e->req)) {
        e->finish(ec);
        return;
    }
    if (proto::is_storage(e->req.cmd) && e->req.value.size() > cfg_.max_item_size) {
        e->finish(errc::value_too_large);
        return;
    }
    const auto cmd = e->req.cmd;
    if (cmd == proto::command::flush_all || cmd == proto::command::verbosity) {
        broadcast(std::move(e));
        return;
    }
    if (e->req.multi_key && conns_.size() > 1) {
        // Group the keys by server; one batched request per server, all sent at once.
        std::unordered_map<connection*, std::vector<std::string>> by_conn;
        std::vector<connection*> order;
        for (auto& k : e->req.keys) {
            proto::request probe;
            probe.key = k;
            auto* c = &connection_for(probe);
            auto [it, fresh] = by_conn.try_emplace(c);
            if (fresh)
                order.push_back(c);
            it->second.push_back(k);
        }
        if (order.size() > 1) {
            auto g = std::make_shared<gather>(e, order.size());
            for (auto* c : order) {
                proto::request part = e->req;
                part.keys = std::move(by_conn[c]);
                auto p = std::make_shared<part_entry>(std::move(part), g);
                proto::encode_text(p->req, p->header);
                c->submit(std::move(p));
            }
            return;
        }
    }
    proto::encode_text(e->req, e->header);
    auto& conn = connection_for(e->req);
    conn.submit(std::move(e));
}

void client_impl::broadcast(entry_ptr e)
{
    auto g = std::make_shared<gather>(e, conns_.size());
    for (auto& c : conns_) {
        auto p = std::make_shared<part_entry>(e->req, g);
        proto::encode_text(p->req, p->header);
        c->submit(std::move(p));
    }
}

connection& client_impl::connection_for(const proto::request& req)
{
    if (conns_.size() == 1)
        return *conns_.front();
    const std::string& key = req.multi_key ? req.keys.front() : req.key;
    if (key.empty())
        return *conns_.front(); // server-wide commands go to the first server
    return *conns_[one_at_a_time(key) % conns_.size()];
}

void client_impl::close()
{
    asio::dispatch(ex_, [self = shared_from_this()] {
        if (self->closed_)
            return;
        self->closed_ = true;
        for (auto& c : self->conns_)
            c->close(asio::error::operation_aborted);
    });
}

void client_impl::drop_all() noexcept
{
    closed_ = true;
    for (auto& c : conns_)
        c->drop_all();
}

} // namespace detail

client::client(executor_type ex, client_config cfg)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(cfg)))
{
    detail::service_of(impl_->executor()).add(impl_);
}

client::client(executor_type ex, std::string_view servers)
    : client(std::move(ex), client_config{server_address::parse_list(servers)})
{}

client::~client()
{
    if (impl_) {
        detail::service_of(impl_->executor()).remove(impl_.get());
        impl_->close();
    }
}

client::client(client&&) noexcept = default;

client& client::operator=(client&& other) noexcept
{
    if (this != &other) {
        if (impl_) {
            detail::service_of(impl_->executor()).remove(impl_.get());
            impl_->close();
        }
        impl_ = std::move(other.impl_);
    }
    return *this;
}

client::executor_type client::get_executor() const noexcept
{
    return impl_->executor();
}

const client_config& client::config() const noexcept
{
    return impl_->config();
}

void client::close()
{
    impl_->close();
}

std::shared_ptr<detail::router> client::router() const
{
    return impl_;
}

} // namespace memcoro
