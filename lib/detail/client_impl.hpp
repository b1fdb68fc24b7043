#pragma once

#include <memcoro/config.hpp>
#include <memcoro/detail/connection.hpp>
#include <memcoro/detail/op.hpp>

#include <memory>
#include <vector>

namespace memcoro::detail {

/// The client's state: its servers' connections and the routing of requests to them.
class client_impl final : public router, public std::enable_shared_from_this<client_impl> {
public:
    client_impl(asio::any_io_executor ex, client_config cfg);

    void submit(entry_ptr e) override;
    const asio::any_io_executor& executor() const noexcept override { return ex_; }
    const client_config& config() const noexcept { return cfg_; }

    /// Closes everything (from any thread).
    void close();
    /// Drops every pending request unanswered: the execution context is being destroyed.
    void drop_all() noexcept;

private:
    void route(entry_ptr e);
    connection& connection_for(const proto::request& req);
    void broadcast(entry_ptr e);

    asio::any_io_executor ex_;
    client_config cfg_;
    std::vector<std::shared_ptr<connection>> conns_;
    bool closed_ = false;
};

} // namespace memcoro::detail
