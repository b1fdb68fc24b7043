#include "detail/client_impl.hpp"

#include <memcoro/client.hpp>

#include <asio/execution_context.hpp>

#include <algorithm>
#include <functional>
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

    explicit client_service(asio::execution_context& ctx)
        : service(ctx)
    {
    }

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

/// One part of a request split over servers; reports to its gather when done.
class part_entry final : public op_entry {
public:
    /// `done(part, may_run_inline)`, see op_entry::complete.
    part_entry(proto::request r, std::function<void(op_entry&, bool)> done)
        : op_entry(std::move(r))
        , done_(std::move(done))
    {
    }

private:
    void on_complete(bool may_run_inline) override { done_(*this, may_run_inline); }
    std::function<void(op_entry&, bool)> done_;
};

/// Answers the caller of a split request once all its parts are done.
struct gather {
    explicit gather(entry_ptr p)
        : parent(std::move(p))
    {
    }

    entry_ptr parent;
    std::size_t remaining = 0;
    std::error_code first_error;
    const std::string* first_error_server = nullptr;

    void note_error(const op_entry& part)
    {
        if (first_error)
            return;
        first_error = part.ec;
        first_error_server = part.server;
        if (!part.resp.text.empty())
            parent->resp.text = part.resp.text;
    }

    /// `failed_all`: the call as a whole could not be carried out.
    void finish(bool failed_all, bool may_run_inline = false)
    {
        std::error_code ec;
        if (failed_all && first_error) {
            parent->server = first_error_server;
            parent->resp.key_errors.clear();
            ec = first_error;
        }
        if (parent->settle(ec))
            parent->complete(may_run_inline);
    }
};

/// A multi-key retrieval split over servers (and chunks): answers the caller once every part
/// is done, with the hits in request order.
struct mget_gather : gather {
    using gather::gather;

    /// The request's key indexes grouped by part; a part's keys are a slice of it.
    index_list order;
    struct part_result {
        std::uint32_t begin = 0; ///< its slice of `order`
        std::vector<item> items; ///< its hits
        index_list item_index;   ///< each hit's position in the slice
    };
    // (The bookkeeping of a call is in pooled memory: a multi-get of a few hundred keys
    // allocates nothing in steady state.)
    std::vector<part_result, pool_allocator<part_result>> parts;

    void part_done(std::size_t p, op_entry& done, bool may_run_inline)
    {
        op_entry& parent_entry = *parent;
        if (done.ec) {
            note_error(done);
            const std::size_t from = parts[p].begin;
            for (std::size_t k = 0; k < done.req.key_count(); ++k)
                parent_entry.resp.key_errors.emplace_back(parent_entry.req.keys[order[from + k]],
                                                          done.ec);
        } else {
            parts[p].items = std::move(done.resp.items);
            parts[p].item_index = std::move(done.resp.item_index);
        }
        if (--remaining > 0)
            return;
        if (get_multi_result* out = parent_entry.multi_sink) {
            // The hits are in their request slots already: close the gaps, moving each hit
            // to its place (swapped, so the items passed over keep their capacity).
            const bool failed_all =
                parent_entry.resp.key_errors.size() == parent_entry.req.keys.size();
            if (!parent_entry.completed()) {
                const std::size_t n = parent_entry.req.keys.size();
                std::vector<char, pool_allocator<char>> hit(n, 0);
                for (const auto& pr : parts)
                    for (const std::uint32_t j : pr.item_index)
                        hit[order[pr.begin + j]] = 1;
                std::size_t w = 0;
                for (std::size_t i = 0; i < n; ++i)
                    if (hit[i]) {
                        if (i != w)
                            std::swap(out->hits[w], out->hits[i]);
                        ++w;
                    }
                out->hits.resize(w);
                out->errors = std::move(parent_entry.resp.key_errors);
            }
            finish(failed_all, may_run_inline);
            return;
        }
        // Hits in request order, as from a single server: place each by its request index.
        constexpr std::uint64_t empty = ~std::uint64_t(0);
        std::vector<std::uint64_t, pool_allocator<std::uint64_t>> at(parent_entry.req.keys.size(),
                                                                     empty);
        std::size_t hits = 0;
        for (std::size_t q = 0; q < parts.size(); ++q) {
            const auto& pr = parts[q];
            for (std::size_t h = 0; h < pr.items.size(); ++h)
                at[order[pr.begin + pr.item_index[h]]] = (std::uint64_t(q) << 32) | h;
            hits += pr.items.size();
        }
        auto& out = parent_entry.resp.items;
        out.reserve(hits);
        for (const std::uint64_t w : at)
            if (w != empty)
                out.push_back(std::move(parts[w >> 32].items[w & 0xffffffffu]));
        finish(parent_entry.resp.key_errors.size() == parent_entry.req.keys.size(), may_run_inline);
    }
};

/// One part of a split multi-key retrieval.
class mget_part final : public op_entry {
public:
    mget_part(request_ptr r, std::shared_ptr<mget_gather> g, std::size_t index)
        : op_entry(std::move(r))
        , gather_(std::move(g))
        , index_(index)
    {
    }

private:
    void on_complete(bool may_run_inline) override
    {
        gather_->part_done(index_, *this, may_run_inline);
    }

    std::shared_ptr<mget_gather> gather_;
    std::size_t index_;
};

} // namespace

client_impl::client_impl(asio::any_io_executor ex, client_config cfg)
    : ex_(std::move(ex))
    , cfg_(std::move(cfg))
{
    if (cfg_.max_item_size == 0 || cfg_.max_write_bytes == 0 || cfg_.max_keys_per_request == 0 ||
        cfg_.connections_per_server == 0)
        throw std::invalid_argument("memcoro: max_item_size, max_write_bytes, "
                                    "max_keys_per_request and connections_per_server must be "
                                    "positive");
    for (const auto& a : cfg_.servers) {
        server_options o;
        o.weight = a.weight;
        servers_.push_back(make_server(a, std::move(o)));
    }
    rebuild_ring();
}

std::shared_ptr<server> client_impl::make_server(server_address addr, server_options opts)
{
    if (opts.weight == 0)
        throw std::invalid_argument("memcoro: server weight must be positive");
    addr.weight = opts.weight;
    auto s = std::make_shared<server>();
    s->address = addr;
    s->name = addr.to_string();
    const server_state::policy p = policy_for(cfg_, opts);
    s->monitor = std::make_shared<server_monitor>(
        s->name, p, opts.initial_status,
        opts.failure_callback ? opts.failure_callback : cfg_.on_server_event, ex_);
    const auto timeout = opts.timeout.count() > 0 ? opts.timeout : cfg_.op_timeout;
    for (std::size_t i = 0; i < cfg_.connections_per_server; ++i)
        s->connections.push_back(
            std::make_shared<connection>(ex_, addr, cfg_, s->monitor, timeout));
    s->options = std::move(opts);
    return s;
}

void client_impl::rebuild_ring()
{
    if (servers_.empty()) {
        ring_.reset();
        return;
    }
    std::vector<ring::node> nodes;
    for (const auto& s : servers_) {
        const auto& a = s->address;
        nodes.push_back(ring::node{a.is_unix() ? a.socket_path : a.host, a.port, a.weight, a.name});
    }
    ring_.emplace(cfg_.distribution, cfg_.hash.value_or(ring::default_hash(cfg_.distribution)),
                  std::move(nodes));
}

void client_impl::submit(entry_ptr e)
{
    // What asio::dispatch would do, without wrapping the call in a function object.
    if (running_in(ex_)) {
        route(std::move(e));
        return;
    }
    asio::dispatch(ex_, [self = shared_from_this(), e = std::move(e)]() mutable {
        self->route(std::move(e));
    });
}

bool client_impl::usable(server& s, clock::time_point now)
{
    if (s.monitor->usable())
        return true;
    if (now == clock::time_point{})
        now = clock::now();
    if (s.monitor->take_probe(now)) {
        // The client's own request decides whether the server is back; callers' requests
        // keep failing fast (or over) meanwhile, so none of them pays for a dead server.
        proto::request probe;
        probe.cmd = proto::command::version;
        send(s, std::make_shared<part_entry>(std::move(probe), [](op_entry&, bool) {}));
    }
    return false;
}

std::size_t client_impl::target_index(std::string_view key, clock::time_point now)
{
    // One server: no hashing at all.
    return target_index(servers_.size() == 1 ? 0 : ring_->server_for(key), key, now);
}

std::size_t client_impl::target_index(std::size_t own, std::string_view key, clock::time_point now)
{
    if (usable(*servers_[own], now))
        return own;
    if (cfg_.on_down == down_policy::fail_fast)
        return no_server;
    // Failover: this key alone moves, to the next distinct usable server on the ring.
    auto alt = ring_->find(
        key, [&](std::size_t i) { return usable(*servers_[i], now); }, cfg_.max_failover_attempts);
    return alt ? *alt : no_server;
}

server* client_impl::target_for(std::string_view key, clock::time_point now)
{
    const std::size_t i = target_index(key, now);
    return i == no_server ? nullptr : servers_[i].get();
}

void client_impl::send(server& s, entry_ptr e)
{
    s.pick().submit(std::move(e));
}

void client_impl::route(entry_ptr e)
{
    if (closed_) {
        e->finish(asio::error::operation_aborted);
        return;
    }
    proto::request& req = e->req;
    if (req.multi_key && req.keys.empty()) {
        if (e->multi_sink) {
            e->multi_sink->hits.clear();
            e->multi_sink->errors.clear();
        }
        e->finish({}); // nothing to look up
        return;
    }
    if (auto ec = proto::validate(req)) {
        e->finish(ec);
        return;
    }
    if (proto::is_storage(req.cmd)) {
        if (req.value.size() > cfg_.max_item_size) {
            e->finish(errc::value_too_large);
            return;
        }
        for (const auto& v : req.values)
            if (v.size() > cfg_.max_item_size) {
                e->finish(errc::value_too_large);
                return;
            }
    }
    if (servers_.empty()) {
        e->finish(errc::no_servers);
        return;
    }
    const auto cmd = req.cmd;
    if (req.all_servers || cmd == proto::command::flush_all || cmd == proto::command::verbosity) {
        to_all_servers(std::move(e));
        return;
    }
    if (req.multi_key) {
        if (proto::is_retrieval(cmd))
            fan_out_retrieval(std::move(e));
        else
            fan_out_writes(std::move(e));
        return;
    }
    if (cmd == proto::command::version || cmd == proto::command::stats) {
        server& first = *servers_.front();
        if (!usable(first, clock::now())) {
            first.monitor->note_rejected();
            e->server = &first.name;
            e->finish(errc::server_down);
            return;
        }
        send(first, std::move(e));
        return;
    }
    server* s = target_for(req.key, {}); // the time is read only if the server is down
    if (!s) {
        servers_[ring_->server_for(req.key)]->monitor->note_rejected();
        e->server = &servers_[ring_->server_for(req.key)]->name;
        e->finish(errc::server_down);
        return;
    }
    send(*s, std::move(e));
}

void client_impl::fan_out_retrieval(entry_ptr e)
{
    if (e->multi_sink && e->completed())
        return; // cancelled before it got here: the caller's result is no longer ours
    const auto now = clock::now();
    const auto& keys = e->req.keys;
    const auto n = static_cast<std::uint32_t>(keys.size());
    // Each key's server (index into servers_), or `none` when it has no usable one.
    constexpr std::uint32_t none = ~std::uint32_t(0);
    auto& target = scratch_target_;
    auto& count = scratch_count_;
    target.resize(n);
    count.assign(servers_.size(), 0);
    // Every key's own server first, all keys at once (the ring hashes several per pass).
    if (servers_.size() == 1)
        std::fill(target.begin(), target.end(), 0);
    else
        ring_->servers_for(keys, target.data());
    std::error_code first_error;
    const std::string* first_error_server = nullptr;
    std::size_t used_servers = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::size_t si = target_index(target[i], keys[i], now);
        if (si == no_server) {
            servers_[target[i]]->monitor->note_rejected(); // (the key's own server)
            target[i] = none;
            e->resp.key_errors.emplace_back(keys[i], errc::server_down);
            if (!first_error) {
                first_error = errc::server_down;
                first_error_server = &servers_[ring_->server_for(keys[i])]->name;
            }
            continue;
        }
        target[i] = static_cast<std::uint32_t>(si);
        if (count[si]++ == 0)
            ++used_servers;
    }
    const std::size_t chunk = cfg_.max_keys_per_request;
    // A gat/gats line must also fit proto::max_touch_line: its keys (each with its space) get
    // what the command, the expiry and "\r\n" leave.
    const bool touching = e->req.cmd == proto::command::gat || e->req.cmd == proto::command::gats;
    constexpr std::size_t touch_key_bytes = proto::max_touch_line - 32;
    const auto fits_one_line = [&] {
        if (!touching)
            return true;
        std::size_t bytes = 0;
        for (const auto& k : keys)
            bytes += 1 + k.size();
        return bytes <= touch_key_bytes;
    };
    // One server, one request: the caller's own entry goes out as it is (a call into the
    // caller's result always goes through a gather, which places the hits).
    if (used_servers == 1 && e->resp.key_errors.empty() && n <= chunk && !e->multi_sink &&
        fits_one_line()) {
        send(*servers_[target[0]], std::move(e));
        return;
    }
    auto g = std::allocate_shared<mget_gather>(pool_allocator<mget_gather>{}, e);
    g->first_error = first_error;
    g->first_error_server = first_error_server;
    // The keys' indexes grouped by server, in request order within each: parts are slices.
    auto& begin = scratch_begin_;
    begin.assign(servers_.size() + 1, 0);
    for (std::size_t si = 0; si < servers_.size(); ++si)
        begin[si + 1] = begin[si] + count[si];
    g->order.resize(begin.back());
    {
        auto& fill = count; // reused as each server's next free slot
        for (std::size_t si = 0; si < servers_.size(); ++si)
            fill[si] = begin[si];
        for (std::uint32_t i = 0; i < n; ++i)
            if (target[i] != none)
                g->order[fill[target[i]]++] = i;
    }
    // Each server's keys in parts of at most `chunk` keys (and, for touches, one line).
    auto& slices = scratch_parts_;
    slices.clear();
    for (std::uint32_t si = 0; si < servers_.size(); ++si) {
        for (std::uint32_t from = begin[si]; from < begin[si + 1];) {
            auto to =
                static_cast<std::uint32_t>(std::min<std::size_t>(from + chunk, begin[si + 1]));
            if (touching) {
                std::size_t bytes = 0;
                for (std::uint32_t k = from; k < to; ++k) {
                    bytes += 1 + keys[g->order[k]].size();
                    if (bytes > touch_key_bytes) {
                        to = k; // (a key always fits alone: it is at most 250 bytes)
                        break;
                    }
                }
            }
            slices.push_back({si, from, to});
            from = to;
        }
    }
    const std::size_t parts = slices.size();
    if (parts == 0) {
        if (get_multi_result* out = e->multi_sink) { // no key has a usable server
            out->hits.clear();
            out->errors = e->resp.key_errors;
        }
        g->finish(true);
        return;
    }
    g->remaining = parts;
    g->parts.resize(parts);
    item* slots = nullptr;
    if (get_multi_result* out = e->multi_sink) {
        // Each key's slot is its index in the request; the gather compacts the hits at the
        // end. Items already there are reused.
        out->hits.resize(n);
        slots = out->hits.data();
    }
    for (std::size_t p = 0; p < parts; ++p) {
        const auto [si, from, to] = slices[p];
        auto part = make_request();
        part->cmd = e->req.cmd;
        part->exptime = e->req.exptime;
        part->multi_key = true;
        // The part borrows its keys from the caller's request, which the gather keeps
        // alive as long as any part is.
        part->borrowed_keys = keys.data();
        part->borrowed_index = g->order.data() + from;
        part->borrowed_count = to - from;
        g->parts[p].begin = static_cast<std::uint32_t>(from);
        auto pe =
            std::allocate_shared<mget_part>(pool_allocator<mget_part>{}, std::move(part), g, p);
        if (slots) {
            pe->slots = slots;
            pe->slot_of = g->order.data() + from;
            pe->slots_owner = e.get();
        }
        send(*servers_[si], std::move(pe));
    }
}

void client_impl::fan_out_writes(entry_ptr e)
{
    const auto now = clock::now();
    const auto& req = e->req;
    auto g = std::make_shared<gather>(e);
    auto& outcomes = e->resp.outcomes;
    outcomes.resize(req.keys.size());
    g->remaining = req.keys.size();
    std::size_t failed = 0;
    auto part_done = [g](std::size_t i) {
        return [g, i](op_entry& done, bool may_run_inline) {
            auto& out = g->parent->resp.outcomes[i];
            out.status = done.resp.status;
            out.ec = done.ec;
            if (done.ec)
                g->note_error(done);
            if (--g->remaining > 0)
                return;
            const auto& all = g->parent->resp.outcomes;
            g->finish(std::all_of(all.begin(), all.end(), [](const auto& o) { return !!o.ec; }),
                      may_run_inline);
        };
    };
    for (std::size_t i = 0; i < req.keys.size(); ++i) {
        outcomes[i].key = req.keys[i];
        server* s = target_for(req.keys[i], now);
        if (!s) {
            servers_[ring_->server_for(req.keys[i])]->monitor->note_rejected();
            outcomes[i].ec = errc::server_down;
            ++failed;
            continue;
        }
        proto::request one;
        one.cmd = req.cmd;
        one.key = req.keys[i];
        if (proto::is_storage(req.cmd))
            one.value = req.values[i];
        one.flags = req.flags;
        one.exptime = req.exptime;
        send(*s, std::make_shared<part_entry>(std::move(one), part_done(i)));
    }
    if (failed > 0) {
        if (!g->first_error) {
            g->first_error = errc::server_down;
            g->first_error_server = &servers_[ring_->server_for(req.keys.front())]->name;
        }
        g->remaining -= failed;
        if (g->remaining == 0)
            g->finish(true);
    }
}

void client_impl::to_all_servers(entry_ptr e)
{
    const auto now = clock::now();
    auto g = std::make_shared<gather>(e);
    auto& per = e->resp.per_server;
    per.resize(servers_.size());
    g->remaining = servers_.size();
    const bool per_server_results = e->req.all_servers;
    auto done_one = [g, per_server_results](bool may_run_inline) {
        if (--g->remaining > 0)
            return;
        // stats_all reports per server; flush_all/verbosity fail if any server failed.
        g->finish(!per_server_results, may_run_inline);
    };
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        server& s = *servers_[i];
        std::get<0>(per[i]) = s.name;
        if (!usable(s, now)) {
            s.monitor->note_rejected();
            std::get<1>(per[i]) = errc::server_down;
            if (!g->first_error) {
                g->first_error = errc::server_down;
                g->first_error_server = &s.name;
            }
            done_one(false);
            continue;
        }
        proto::request one = e->req;
        one.all_servers = false;
        send(s, std::make_shared<part_entry>(std::move(one),
                                             [g, i, done_one](op_entry& done, bool may_run_inline) {
                                                 auto& slot = g->parent->resp.per_server[i];
                                                 std::get<1>(slot) = done.ec;
                                                 std::get<2>(slot) = std::move(done.resp.stats);
                                                 if (done.ec)
                                                     g->note_error(done);
                                                 done_one(may_run_inline);
                                             }));
    }
}

void client_impl::close()
{
    asio::dispatch(ex_, [self = shared_from_this()] {
        if (self->closed_)
            return;
        self->closed_ = true;
        for (auto& s : self->servers_)
            s->close(asio::error::operation_aborted);
    });
}

void client_impl::drop_all() noexcept
{
    closed_ = true;
    for (auto& s : servers_)
        for (auto& c : s->connections)
            c->drop_all();
}

void client_impl::add_server(server_address addr, server_options opts)
{
    auto s = make_server(std::move(addr), std::move(opts)); // throws on bad options
    asio::dispatch(ex_, [self = shared_from_this(), s = std::move(s)]() mutable {
        std::lock_guard lock(self->mutex_);
        self->servers_.push_back(std::move(s));
        self->rebuild_ring();
    });
}

void client_impl::remove_server(std::string name)
{
    asio::dispatch(ex_, [self = shared_from_this(), name = std::move(name)] {
        std::shared_ptr<server> gone;
        {
            std::lock_guard lock(self->mutex_);
            auto it = std::find_if(self->servers_.begin(), self->servers_.end(),
                                   [&](const auto& s) { return s->name == name; });
            if (it == self->servers_.end())
                return;
            gone = *it;
            self->servers_.erase(it);
            self->rebuild_ring();
        }
        gone->close(asio::error::operation_aborted);
    });
}

void client_impl::set_server_params(std::string name, server_options opts)
{
    asio::dispatch(ex_, [self = shared_from_this(), name = std::move(name),
                         opts = std::move(opts)]() mutable {
        std::lock_guard lock(self->mutex_);
        for (auto& s : self->servers_) {
            if (s->name != name)
                continue;
            const bool reweigh = opts.weight != 0 && opts.weight != s->address.weight;
            if (reweigh)
                s->address.weight = opts.weight;
            s->monitor->set_policy(policy_for(self->cfg_, opts), opts.failure_callback
                                                                     ? opts.failure_callback
                                                                     : self->cfg_.on_server_event);
            const auto timeout = opts.timeout.count() > 0 ? opts.timeout : self->cfg_.op_timeout;
            for (auto& c : s->connections)
                c->set_op_timeout(timeout);
            s->monitor->set_status(opts.initial_status);
            s->options = std::move(opts);
            if (reweigh)
                self->rebuild_ring();
        }
    });
}

void client_impl::set_server_status(std::string name, server_status st)
{
    asio::dispatch(ex_, [self = shared_from_this(), name = std::move(name), st] {
        for (auto& s : self->servers_)
            if (s->name == name)
                s->monitor->set_status(st);
    });
}

std::vector<server_info> client_impl::servers() const
{
    std::lock_guard lock(mutex_);
    std::vector<server_info> out;
    for (const auto& s : servers_) {
        server_info info;
        info.address = s->address;
        s->monitor->fill(info);
        out.push_back(std::move(info));
    }
    return out;
}

std::optional<server_info> client_impl::server_by_name(std::string_view name) const
{
    for (auto& info : servers())
        if (info.name == name)
            return info;
    return std::nullopt;
}

std::string client_impl::server_for_key(std::string_view key) const
{
    std::lock_guard lock(mutex_);
    if (!ring_)
        return {};
    return servers_[ring_->server_for(key)]->name;
}

} // namespace detail

client::client(executor_type ex, client_config cfg)
    : impl_(std::make_shared<detail::client_impl>(std::move(ex), std::move(cfg)))
{
    detail::service_of(impl_->executor()).add(impl_);
}

namespace {
client_config config_from(std::string_view servers)
{
    client_config cfg;
    cfg.servers = server_address::parse_list(servers);
    return cfg;
}
} // namespace

client::client(executor_type ex, std::string_view servers)
    : client(std::move(ex), config_from(servers))
{
}

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

void client::add_server(server_address address, server_options options)
{
    impl_->add_server(std::move(address), std::move(options));
}

void client::add_server(std::string_view host, std::uint16_t port, server_options options)
{
    server_address a;
    a.host = std::string(host);
    a.port = port;
    add_server(std::move(a), std::move(options));
}

void client::remove_server(std::string_view name)
{
    impl_->remove_server(std::string(name));
}

void client::set_server_params(std::string_view name, server_options options)
{
    impl_->set_server_params(std::string(name), std::move(options));
}

void client::mark_server(std::string_view name, memcoro::server_status status)
{
    impl_->set_server_status(std::string(name), status);
}

std::optional<server_info> client::server(std::string_view host, std::uint16_t port) const
{
    server_address a;
    a.host = std::string(host);
    a.port = port;
    return impl_->server_by_name(a.to_string());
}

std::optional<server_info> client::server(std::string_view name) const
{
    return impl_->server_by_name(name);
}

std::vector<server_info> client::servers() const
{
    return impl_->servers();
}

std::string client::server_for_key(std::string_view key) const
{
    return impl_->server_for_key(key);
}

std::shared_ptr<detail::router> client::router() const
{
    return impl_;
}

} // namespace memcoro
