#pragma once

#include "server.hpp"
#include "singleflight.hpp"

#include <memcoro/config.hpp>
#include <memcoro/detail/fan_out.hpp>
#include <memcoro/detail/gather.hpp>
#include <memcoro/detail/key_router.hpp>
#include <memcoro/detail/op.hpp>
#include <memcoro/ring/distribution.hpp>
#include <memcoro/server_list.hpp>

#include <asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace memcoro::detail {

/// The client's state: its servers, the ring that maps keys to them, and the routing of
/// requests. Everything but the snapshots runs on the client's executor, which runs one handler
/// at a time (the executor given, or a strand of it: see one_at_a_time), so none of it needs a
/// lock; the snapshots, taken from any thread, read servers_ and key_router_ under mutex_ (which
/// the executor's handlers hold when they change them) and the monitors' atomic counters.
class client_impl final : public router, public std::enable_shared_from_this<client_impl> {
public:
    /// `ex`: the executor given to the client; the client runs on a strand of it unless it
    /// already runs one handler at a time.
    client_impl(asio::any_io_executor ex, client_config cfg);

    void submit(entry_ptr e) override;
    const asio::any_io_executor& executor() const noexcept override { return ex_; }
    const client_config& config() const noexcept { return cfg_; }

    /// Closes everything (from any thread).
    void close();
    /// From now on no hook of the configuration (trace, server events, write failures) is
    /// called, not even for events already posted (from any thread): the client is destroyed.
    void close_hooks() noexcept { hooks_->store(false, std::memory_order_release); }
    bool hooks_open() const noexcept { return detail::hooks_open(hooks_); }
    /// Drops every pending request unanswered: the execution context is being destroyed.
    void drop_all() noexcept;

    // Server management: carried out on the executor, in call order with requests.
    void add_server(server_address addr, server_options opts);
    void remove_server(std::string name);
    void set_server_params(std::string name, server_options opts);
    void set_server_status(std::string name, server_status s);

    /// client::apply_server_list (any thread): checks `list` against the list in force and
    /// installs it on the executor.
    bool apply_list(const server_list& list, server_list_error& err, std::string source);
    /// The list in force (any thread).
    server_list current_list() const;

    // Snapshots (any thread).
    std::vector<server_info> servers() const;
    std::optional<server_info> server_by_name(std::string_view name) const;
    /// The server a key maps to now ("host:port"), ignoring up/down state.
    std::string server_for_key(std::string_view key) const;

    /// async_get_or_compute's calls in progress, by key (any thread).
    singleflight& flights() noexcept { return flights_; }

private:
    /// A request or a command from outside the executor, waiting in the inbox.
    struct inbound {
        entry_ptr entry;               // a request to route, or
        std::function<void()> command; // something to carry out (server management, close)
    };
    /// Runs `fn` on the executor: at once when called there, else through the inbox.
    void on_executor(std::function<void()> fn);
    /// Queues `in` for drain(), posting it unless it is posted already.
    void to_inbox(inbound in);
    /// On the executor: carries out what came through the inbox, in call order.
    void drain();
    void route(entry_ptr e);
    void send(server& s, entry_ptr e);
    /// Sends each server key_router asked to probe (in probes_) one request of the client's
    /// own, a `version`: its outcome decides whether the server is back. Callers' requests
    /// keep failing fast (or over) meanwhile, so none of them pays for a dead server.
    void send_probes();
    void fan_out_retrieval(entry_ptr e);
    void fan_out_writes(entry_ptr e);
    void to_all_servers(entry_ptr e);
    std::shared_ptr<server> make_server(server_address addr, server_options opts);
    void rebuild_ring(); // with mutex_ held: the key_router's ring and server states
    /// On the executor: makes `list`'s servers the client's, in its order, as one change.
    void install(const server_list& list);
    /// On the executor: `s` takes no new requests; it is closed once its connections have
    /// nothing pending, or at `deadline`.
    void retire(std::shared_ptr<server> s);
    void check_retiring();
    void report(server_list_event ev);
    /// The bytes `key` is placed by: the key alone, or (hash_with_prefix) the prefix and the
    /// key, built in `scratch`.
    std::string_view placed_key(std::string_view key, std::string& scratch) const
    {
        if (!hash_prefix_) [[likely]]
            return key;
        scratch.assign(cfg_.key_prefix);
        scratch.append(key);
        return scratch;
    }

    asio::any_io_executor ex_;
    client_config cfg_;
    /// Keys are placed by their hash with the prefix (hash_with_prefix, and a prefix).
    bool hash_prefix_ = false;
    hook_gate hooks_ = std::make_shared<std::atomic<bool>>(true);
    /// With servers that take gets over UDP: the key bytes a get request may have (0: no
    /// such server).
    std::size_t udp_line_key_bytes_ = 0;
    /// What a key costs in a UDP get beyond itself and a space: "mg", " v f c O", its index
    /// (up to 3 hex digits), " k\r\n" (see udp_core).
    static constexpr std::size_t udp_per_key_bytes = 2 + 8 + 3 + 4;
    // Scratch of the fan-outs (on the executor only), kept to spare allocations.
    fan_out_planner planner_;
    std::vector<std::uint32_t> scratch_target_;
    std::vector<fan_out_part> scratch_parts_;
    std::string scratch_placed_;                   // placed_key of a single-key call
    std::vector<std::string> scratch_placed_keys_; // and of a multi-key one's keys
    probe_list probes_;                            // what key_router_ asked to probe, until sent
    mutable std::mutex mutex_; // guards servers_ and key_router_ against snapshot readers
    std::vector<std::shared_ptr<server>> servers_;
    key_router key_router_; // key -> server index into servers_, down policy, probes
    bool closed_ = false;
    // Calls from outside the executor, in call order, until drain() takes them.
    std::mutex inbox_mutex_;
    std::vector<inbound> inbox_; // guarded by inbox_mutex_
    bool drain_posted_ = false;  // guarded by inbox_mutex_
    std::vector<inbound> draining_;
    singleflight flights_;
    // Server lists: the list in force, and whether one was applied (guarded by list_mutex_).
    mutable std::mutex list_mutex_;
    server_list list_;
    bool list_applied_ = false;
    // Servers removed by a list, until their pending requests are answered (on the executor).
    struct retiring {
        std::shared_ptr<server> s;
        clock::time_point deadline;
    };
    std::vector<retiring> retiring_;
    asio::steady_timer retire_timer_;
    bool retire_timer_armed_ = false;
};

} // namespace memcoro::detail
