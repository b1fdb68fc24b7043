#include "detail/client_impl.hpp"

#include <memcoro/client.hpp>

#include <asio/execution_context.hpp>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

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

} // namespace

client_impl::client_impl(asio::any_io_executor ex, client_config cfg)
    : ex_(one_at_a_time(std::move(ex)))
    , cfg_(std::move(cfg))
    , key_router_(cfg_.on_down, cfg_.max_failover_attempts)
    , retire_timer_(ex_)
{
    if (cfg_.max_item_size == 0 || cfg_.max_write_bytes == 0 || cfg_.max_keys_per_request == 0 ||
        cfg_.connections_per_server == 0)
        throw std::invalid_argument("memcoro: max_item_size, max_write_bytes, "
                                    "max_keys_per_request and connections_per_server must be "
                                    "positive");
    if (cfg_.values.chunk_large_values && cfg_.values.format != value::value_format::memcoro)
        throw std::invalid_argument("memcoro: values.chunk_large_values needs the memcoro value "
                                    "format (other clients cannot read chunked values)");
    if (!proto::valid_key_prefix(cfg_.key_prefix))
        throw std::invalid_argument(
            cfg_.key_prefix.size() > proto::max_key_prefix_length
                ? "memcoro: key_prefix is " + std::to_string(cfg_.key_prefix.size()) +
                      " bytes long; at most " + std::to_string(proto::max_key_prefix_length) +
                      " are allowed"
                : std::string("memcoro: key_prefix may hold printable ASCII only (no space, "
                              "control or non-ASCII byte)"));
    hash_prefix_ = cfg_.hash_with_prefix && !cfg_.key_prefix.empty();
    for (const auto& a : cfg_.servers) {
        server_options o;
        o.weight = a.weight;
        servers_.push_back(make_server(a, std::move(o)));
        list_.servers.push_back(server_list_entry{a, server_status::up});
    }
    list_.distribution = cfg_.distribution;
    list_.hash = cfg_.hash;
    rebuild_ring();
}

bool client_impl::apply_list(const server_list& next, server_list_error& err, std::string source)
{
    server_list_event ev;
    ev.domain = next.domain;
    ev.source = std::move(source);
    ev.new_version = next.version;
    {
        std::lock_guard lock(list_mutex_);
        ev.old_version = list_.version;
        const auto own_hash = cfg_.hash.value_or(ring::default_hash(cfg_.distribution));
        const auto list_hash = next.hash.value_or(ring::default_hash(next.distribution));
        bool ok = check_server_list(next, err);
        if (ok && (next.distribution != cfg_.distribution || list_hash != own_hash)) {
            err.ec = server_list_errc::distribution_changed;
            err.reason = std::string("distribution ") + ring::to_string(next.distribution) +
                         " with hash " + ring::to_string(list_hash) +
                         ": the client places keys with " + ring::to_string(cfg_.distribution) +
                         " and " + ring::to_string(own_hash) +
                         " (a new distribution needs a new client)";
            ok = false;
        }
        if (ok && list_applied_)
            ok = may_replace(list_, next, err);
        ev.applied = ok;
        if (ok) {
            ev.changes = diff(list_, next);
            const bool same = list_applied_ && next == list_;
            list_ = next;
            list_applied_ = true;
            if (!same)
                on_executor([self = this, next] { self->install(next); });
        } else {
            ev.error = err;
        }
    }
    const bool applied = ev.applied;
    report(std::move(ev));
    return applied;
}

server_list client_impl::current_list() const
{
    std::lock_guard lock(list_mutex_);
    return list_;
}

void client_impl::install(const server_list& next)
{
    if (closed_)
        return;
    std::vector<std::shared_ptr<server>> now;
    std::vector<std::shared_ptr<server>> gone;
    now.reserve(next.servers.size());
    for (const auto& e : next.servers) {
        const std::string name = e.address.to_string();
        auto it = std::find_if(servers_.begin(), servers_.end(),
                               [&](const auto& s) { return s->name == name; });
        // (How a server is reached is fixed when it is made: another TLS flag makes it anew.)
        if (it != servers_.end() && (*it)->address.tls == e.address.tls) {
            auto& s = *it;
            s->address.weight = e.address.weight;
            s->address.name = e.address.name;
            s->options.weight = e.address.weight;
            if (s->monitor->status() != e.status)
                s->monitor->set_status(e.status);
            now.push_back(s);
        } else {
            server_options o;
            o.weight = e.address.weight;
            o.initial_status = e.status;
            now.push_back(make_server(e.address, std::move(o)));
        }
    }
    for (auto& s : servers_)
        if (std::find(now.begin(), now.end(), s) == now.end())
            gone.push_back(s);
    {
        std::lock_guard lock(mutex_);
        servers_ = std::move(now);
        rebuild_ring();
    }
    for (auto& s : gone)
        retire(std::move(s));
}

void client_impl::retire(std::shared_ptr<server> s)
{
    retiring_.push_back(
        retiring{std::move(s), clock::now() + cfg_.op_timeout + std::chrono::milliseconds(100)});
    check_retiring();
}

void client_impl::check_retiring()
{
    const auto now = clock::now();
    std::erase_if(retiring_, [&](retiring& r) {
        bool idle = true;
        for (const auto& c : r.s->connections)
            idle = idle && c->pending() == 0;
        if (!idle && now < r.deadline)
            return false;
        r.s->close(asio::error::operation_aborted);
        return true;
    });
    if (retiring_.empty() || retire_timer_armed_)
        return;
    retire_timer_armed_ = true;
    retire_timer_.expires_after(std::chrono::milliseconds(10));
    retire_timer_.async_wait([w = weak_from_this()](std::error_code ec) {
        auto self = w.lock();
        if (!self || ec)
            return;
        self->retire_timer_armed_ = false;
        if (!self->closed_)
            self->check_retiring();
    });
}

void client_impl::report(server_list_event ev)
{
    if (!cfg_.on_server_list)
        return;
    asio::post(ex_, [gate = hooks_, cb = cfg_.on_server_list, ev = std::move(ev)] {
        if (detail::hooks_open(gate))
            cb(ev);
    });
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
    auto tracer = server_tracer::make(cfg_, s->name, ex_, hooks_);
    s->monitor = std::make_shared<server_monitor>(
        s->name, p, opts.initial_status,
        opts.failure_callback ? opts.failure_callback : cfg_.on_server_event, ex_, hooks_, tracer);
    connection_options co;
    co.limits.max_item_size = cfg_.max_item_size;
    co.merge_gets = cfg_.merge_gets;
    co.singleflight_gets = cfg_.singleflight_gets;
    co.dialect = cfg_.protocol == protocol::meta ? proto::dialect::meta : proto::dialect::text;
    co.detect_dialect = cfg_.protocol == protocol::automatic;
    co.key_prefix = cfg_.key_prefix;
    co.max_write_bytes = cfg_.max_write_bytes;
    co.connect_timeout = cfg_.connect_timeout;
    co.op_timeout = opts.timeout.count() > 0 ? opts.timeout : cfg_.op_timeout;
    if (!co.detect_dialect)
        s->monitor->on_dialect(co.dialect == proto::dialect::meta);
    // How it is reached: TLS (its own settings, or the client's), and credentials.
    const tls_options* tls = opts.tls                       ? &*opts.tls
                             : cfg_.tls.enabled || addr.tls ? &cfg_.tls
                                                            : nullptr;
    if (tls) {
        if (addr.is_unix())
            throw std::invalid_argument("memcoro: TLS is for TCP servers, not the Unix socket " +
                                        s->name);
        s->tls = make_tls_client(*tls);
        co.nudge_after = tls->nudge_after;
    }
    const std::optional<credentials>& auth = opts.auth ? opts.auth : cfg_.auth;
    if (auth)
        if (const auto why = invalid_credentials_reason(*auth); !why.empty())
            throw std::invalid_argument("memcoro: bad credentials for " + s->name + ": " +
                                        std::string(why));
    for (std::size_t i = 0; i < cfg_.connections_per_server; ++i)
        s->connections.push_back(std::make_shared<connection>(
            ex_, addr, co, s->monitor,
            s->tls ? make_tls_transport(ex_, s->tls, auth) : make_socket_transport(ex_, auth)));
    // Gets over UDP: its own settings, or the client's (for TCP servers only).
    const udp_options* udp = opts.udp ? &*opts.udp : cfg_.udp.enabled ? &cfg_.udp : nullptr;
    if (udp && udp->enabled && (opts.udp || !addr.is_unix())) {
        if (addr.is_unix())
            throw std::invalid_argument("memcoro: UDP is for TCP servers, not the Unix socket " +
                                        s->name);
        if (s->tls || auth)
            throw std::invalid_argument("memcoro: UDP is cleartext and unauthenticated: " +
                                        s->name + " is reached over TLS or with credentials");
        udp_core_options uc;
        uc.window = udp->window;
        uc.max_datagram = udp->max_datagram;
        uc.timeout = udp->timeout;
        uc.op_timeout = co.op_timeout;
        uc.limits = co.limits;
        uc.key_prefix = cfg_.key_prefix;
        // (The reply of a full request: every key's item at most.)
        uc.max_reply = std::max<std::size_t>(cfg_.max_item_size + 4096, 1024 * 1024) * 4;
        // Multi-key gets are cut so that each request fits in a datagram.
        const std::size_t key_bytes = uc.max_datagram > proto::udp_header_size + 1
                                          ? uc.max_datagram - proto::udp_header_size
                                          : 1;
        udp_line_key_bytes_ =
            udp_line_key_bytes_ == 0 ? key_bytes : std::min(udp_line_key_bytes_, key_bytes);
        std::weak_ptr<server> weak = s;
        s->udp = std::make_shared<udp_channel>(ex_, s->name, addr.host,
                                               udp->port != 0 ? udp->port : addr.port, *udp, uc,
                                               s->monitor.get(), [weak](entry_ptr e) {
                                                   if (auto sp = weak.lock())
                                                       sp->pick().submit(std::move(e));
                                                   else
                                                       e->finish(asio::error::operation_aborted);
                                               });
    }
    s->options = std::move(opts);
    return s;
}

void client_impl::rebuild_ring()
{
    if (servers_.empty()) {
        key_router_.assign(std::nullopt, {});
        return;
    }
    std::vector<ring::node> nodes;
    std::vector<server_state*> states;
    for (const auto& s : servers_) {
        const auto& a = s->address;
        nodes.push_back(ring::node{a.is_unix() ? a.socket_path : a.host, a.port, a.weight, a.name});
        states.push_back(&s->monitor->state());
    }
    key_router_.assign(ring::continuum(cfg_.distribution,
                                       cfg_.hash.value_or(ring::default_hash(cfg_.distribution)),
                                       std::move(nodes)),
                       std::move(states));
}

void client_impl::submit(entry_ptr e)
{
    // Inside the executor: at once, without wrapping the call in a function object.
    if (running_in(ex_)) {
        route(std::move(e));
        return;
    }
    to_inbox(inbound{std::move(e), {}});
}

void client_impl::on_executor(std::function<void()> fn)
{
    // `fn` captures the client_impl by plain pointer: the inbox that may hold it belongs to
    // the client_impl (a shared_ptr there would keep it alive for ever when the io_context is
    // destroyed without running it), and drain() runs it through a shared_ptr of its own.
    if (running_in(ex_)) {
        fn();
        return;
    }
    to_inbox(inbound{nullptr, std::move(fn)});
}

void client_impl::to_inbox(inbound in)
{
    // Not asio::dispatch: on a strand, a dispatch from a thread of its io_context that is
    // outside the strand runs the strand's queue then and there, the flush the previous call
    // posted included, so that calls made one after another from there would go out one write
    // each (and after the first, wait for its reply). Nor one post per call, which wraps each
    // call in a function object of its own, held until the strand gets to it. The inbox keeps
    // the calls in order, commands included, and one posted drain() takes them all.
    bool post = false;
    {
        std::lock_guard lock(inbox_mutex_);
        inbox_.push_back(std::move(in));
        post = !std::exchange(drain_posted_, true);
    }
    if (post)
        asio::post(ex_, [self = shared_from_this()] { self->drain(); });
}

void client_impl::drain()
{
    {
        std::lock_guard lock(inbox_mutex_);
        draining_.swap(inbox_);
        drain_posted_ = false;
    }
    struct clear_on_exit {
        std::vector<inbound>& v;
        ~clear_on_exit() { v.clear(); }
    } clear{draining_};
    for (auto& in : draining_) {
        if (in.entry)
            route(std::move(in.entry));
        else
            in.command();
    }
}

void client_impl::send(server& s, entry_ptr e)
{
    if (s.udp && s.udp->accepts(*e)) [[unlikely]] {
        s.udp->submit(std::move(e));
        return;
    }
    s.pick().submit(std::move(e));
}

void client_impl::send_probes()
{
    for (const std::size_t i : probes_)
        send(*servers_[i], std::make_shared<unanswered_entry>(make_request<proto::version>()));
    probes_.clear();
}

namespace {

/// The keys a multi-key call looks up or writes (the caller's own list).
const proto::string_list* keys_of(proto::request& req) noexcept
{
    if (auto* r = std::get_if<proto::retrieval>(&req))
        return &r->keys;
    if (auto* s = std::get_if<proto::storage>(&req))
        return &s->keys;
    if (auto* d = std::get_if<proto::deletion>(&req))
        return &d->keys;
    return nullptr;
}

/// The one key of a single-key request.
struct key_of_request {
    std::string_view operator()(const proto::arithmetic& r) const noexcept { return r.key; }
    std::string_view operator()(const proto::touch& r) const noexcept { return r.key; }
    std::string_view operator()(const proto::retrieval& r) const noexcept { return r.keys[0]; }
    std::string_view operator()(const proto::storage& r) const noexcept { return r.keys[0]; }
    std::string_view operator()(const proto::deletion& r) const noexcept { return r.keys[0]; }
    std::string_view operator()(const auto&) const noexcept { return {}; }
};

std::string_view key_of(const proto::request& req) noexcept
{
    return std::visit(key_of_request{}, req);
}

/// A fresh request like `req` (command and arguments) without its keys and values.
request_ptr part_like(const proto::request& req)
{
    request_ptr p = make_request(req.index());
    if (const auto* r = std::get_if<proto::retrieval>(&req)) {
        auto& q = *std::get_if<proto::retrieval>(p.get());
        q.with_cas = r->with_cas;
        q.exptime = r->exptime;
    } else if (const auto* s = std::get_if<proto::storage>(&req)) {
        auto& q = *std::get_if<proto::storage>(p.get());
        q.mode = s->mode;
        q.flags = s->flags;
        q.exptime = s->exptime;
        q.quiet = s->quiet;
    } else if (const auto* d = std::get_if<proto::deletion>(&req)) {
        std::get_if<proto::deletion>(p.get())->quiet = d->quiet;
    } else {
        *p = req; // a request without keys: every server gets the same
    }
    return p;
}

} // namespace

void client_impl::route(entry_ptr e)
{
    if (closed_) {
        e->finish(errc::shutting_down);
        return;
    }
    proto::request& req = e->req;
    if (e->route == scope::keys && keys_of(req)->empty()) {
        e->finish({}); // nothing to look up
        return;
    }
    // (With protocol::automatic the connection to each server refuses what its server's
    // dialect cannot send: here the request is checked as the meta dialect would.)
    if (auto ec = proto::validate(req, cfg_.protocol != memcoro::protocol::text,
                                  cfg_.key_prefix.size())) {
        e->finish(ec);
        return;
    }
    if (cfg_.protocol == memcoro::protocol::text && proto::needs_meta(req)) {
        e->finish(errc::not_supported);
        return;
    }
    if (const auto* s = std::get_if<proto::storage>(&req)) {
        for (std::size_t j = 0; j < s->values.size(); ++j)
            if (s->values[j].size() > cfg_.max_item_size) {
                e->finish(errc::value_too_large);
                return;
            }
    }
    if (servers_.empty()) {
        e->finish(errc::no_servers);
        return;
    }
    switch (e->route) {
    case scope::every_server:
        to_all_servers(std::move(e));
        return;
    case scope::keys:
        if (std::holds_alternative<proto::retrieval>(req))
            fan_out_retrieval(std::move(e));
        else
            fan_out_writes(std::move(e));
        return;
    case scope::first_server: {
        server& first = *servers_.front();
        const bool up = key_router_.usable(0, clock::now(), probes_);
        if (!probes_.empty())
            send_probes();
        if (!up) {
            first.monitor->note_rejected();
            e->server = &first.name;
            e->finish(errc::server_down);
            return;
        }
        send(first, std::move(e));
        return;
    }
    case scope::key:
        break;
    }
    const std::string_view key = placed_key(key_of(req), scratch_placed_);
    const std::size_t own = key_router_.own_server(key);
    // The time is read only if the key's own server is down.
    const std::size_t si = key_router_.route(
        own, key, [] { return clock::now(); }, probes_);
    if (!probes_.empty())
        send_probes();
    if (si == key_router::none) {
        server& o = *servers_[own];
        o.monitor->note_rejected();
        e->server = &o.name;
        e->finish(errc::server_down);
        return;
    }
    send(*servers_[si], std::move(e));
}

void client_impl::fan_out_retrieval(entry_ptr e)
{
    if (e->completed())
        return; // cancelled before it got here
    const auto now = clock::now();
    const auto& keys = std::get_if<proto::retrieval>(&e->req)->keys;
    const auto n = static_cast<std::uint32_t>(keys.size());
    auto& target = scratch_target_;
    target.resize(n);
    // The bytes each key is placed by: itself, or (hash_with_prefix) with the prefix.
    const std::vector<std::string>* placed = &keys.owned();
    if (hash_prefix_) [[unlikely]] {
        scratch_placed_keys_.resize(n);
        for (std::uint32_t i = 0; i < n; ++i)
            placed_key(keys[i], scratch_placed_keys_[i]);
        placed = &scratch_placed_keys_;
    }
    // Every key's own server first, all keys at once (the ring hashes several per pass).
    key_router_.own_servers(*placed, target.data());
    std::size_t down = 0;
    const std::uint32_t first_target = target[0];
    bool one_server = true;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::size_t si = key_router_.route(target[i], (*placed)[i], now, probes_);
        if (si == key_router::none) {
            servers_[target[i]]->monitor->note_rejected(); // (the key's own server)
            target[i] = fan_out_planner::none;
            ++down;
            continue;
        }
        target[i] = static_cast<std::uint32_t>(si);
        one_server = one_server && target[i] == first_target;
    }
    if (!probes_.empty())
        send_probes();
    const bool touching = std::get_if<proto::retrieval>(&e->req)->exptime.has_value();
    // (Every key goes out after the prefix: its bytes count on each line.)
    fan_out_limits limits{cfg_.max_keys_per_request, touching ? touch_line_key_bytes : 0,
                          cfg_.key_prefix.size()};
    if (!touching && udp_line_key_bytes_ > 0) { // each request fits in a datagram
        limits.max_line_key_bytes = udp_line_key_bytes_;
        limits.per_key_bytes = udp_per_key_bytes + cfg_.key_prefix.size();
    }
    index_list order;
    planner_.plan(target, servers_.size(), keys, limits, order, scratch_parts_);
    // One server, one request: the caller's own entry goes out as it is (a call into the
    // caller's result always goes through a gather, which keeps the hits until the end).
    if (down == 0 && one_server && scratch_parts_.size() == 1 && !e->writes_into_caller()) {
        send(*servers_[first_target], std::move(e));
        return;
    }
    auto g = std::allocate_shared<retrieval_gather>(pool_allocator<retrieval_gather>{}, e,
                                                    scratch_parts_.size(), keys, std::move(order));
    for (std::uint32_t i = 0; i < n && down > 0; ++i)
        if (target[i] == fan_out_planner::none) {
            g->fail_key(i, errc::server_down);
            g->note_error(errc::server_down, &servers_[key_router_.own_server((*placed)[i])]->name);
        }
    if (scratch_parts_.empty()) { // no key has a usable server
        g->finish_failed();
        return;
    }
    e->state = entry_state::written; // (its parts are on their way: see canceller)
    for (const auto& [si, from, to] : scratch_parts_)
        send(*servers_[si], g->make_part(from, to, part_like(e->req)));
}

void client_impl::fan_out_writes(entry_ptr e)
{
    const auto now = clock::now();
    const auto& keys = *keys_of(e->req);
    const auto n = static_cast<std::uint32_t>(keys.size());
    auto& target = scratch_target_;
    target.resize(n);
    std::size_t down = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::string_view placed = placed_key(keys[i], scratch_placed_);
        const std::size_t own = key_router_.own_server(placed);
        const std::size_t si = key_router_.route(own, placed, now, probes_);
        target[i] = si == key_router::none ? fan_out_planner::none : static_cast<std::uint32_t>(si);
        if (si == key_router::none) {
            servers_[own]->monitor->note_rejected();
            ++down;
        }
    }
    if (!probes_.empty())
        send_probes();
    index_list order;
    planner_.plan(target, servers_.size(), keys, fan_out_limits{cfg_.max_keys_per_request, 0},
                  order, scratch_parts_);
    auto g = std::make_shared<write_gather>(e, scratch_parts_.size(), keys, std::move(order));
    for (std::uint32_t i = 0; i < n && down > 0; ++i)
        if (target[i] == fan_out_planner::none) {
            g->fail_key(i, errc::server_down);
            g->note_error(
                errc::server_down,
                &servers_[key_router_.own_server(placed_key(keys[i], scratch_placed_))]->name);
        }
    if (scratch_parts_.empty()) {
        g->finish_failed();
        return;
    }
    e->state = entry_state::written; // (its parts are on their way: see canceller)
    for (const auto& [si, from, to] : scratch_parts_)
        send(*servers_[si], g->make_part(from, to, part_like(e->req)));
}

void client_impl::to_all_servers(entry_ptr e)
{
    const auto now = clock::now();
    std::vector<const std::string*> names;
    names.reserve(servers_.size());
    for (const auto& s : servers_)
        names.push_back(&s->name);
    // stats of every server report per server; flush_all and verbosity fail if any failed.
    const bool per_server = std::holds_alternative<proto::stats>(e->req);
    auto g = std::make_shared<server_gather>(e, std::move(names), per_server);
    e->state = entry_state::written;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        server& s = *servers_[i];
        if (!key_router_.usable(i, now, probes_)) {
            s.monitor->note_rejected();
            g->fail_server(i, errc::server_down, &s.name);
        } else
            send(s, g->make_part(i, part_like(e->req)));
    }
    if (!probes_.empty())
        send_probes();
}

void client_impl::close()
{
    on_executor([self = this] {
        if (self->closed_)
            return;
        self->closed_ = true;
        for (auto& s : self->servers_)
            s->close(asio::error::operation_aborted);
        for (auto& r : self->retiring_)
            r.s->close(asio::error::operation_aborted);
        self->retiring_.clear();
        self->retire_timer_.cancel();
    });
}

void client_impl::drop_all() noexcept
{
    closed_ = true;
    {
        // What is still in the inbox goes unanswered too (drain() will not run).
        std::lock_guard lock(inbox_mutex_);
        draining_.swap(inbox_);
    }
    draining_.clear();
    for (auto& s : servers_)
        for (auto& c : s->connections)
            c->drop_all();
}

void client_impl::add_server(server_address addr, server_options opts)
{
    auto s = make_server(std::move(addr), std::move(opts)); // throws on bad options
    on_executor([self = this, s = std::move(s)]() mutable {
        std::lock_guard lock(self->mutex_);
        self->servers_.push_back(std::move(s));
        self->rebuild_ring();
    });
}

void client_impl::remove_server(std::string name)
{
    on_executor([self = this, name = std::move(name)] {
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
    on_executor([self = this, name = std::move(name), opts = std::move(opts)]() mutable {
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
            // (How it is reached is fixed when it is added: its connections are made.)
            opts.tls = s->options.tls;
            opts.auth = s->options.auth;
            opts.udp = s->options.udp;
            s->options = std::move(opts);
            if (reweigh)
                self->rebuild_ring();
        }
    });
}

void client_impl::set_server_status(std::string name, server_status st)
{
    on_executor([self = this, name = std::move(name), st] {
        for (auto& s : self->servers_)
            if (s->name == name)
                s->monitor->set_status(st);
    });
}

std::vector<server_info> client_impl::servers() const
{
    std::uint64_t list_version = 0;
    {
        std::lock_guard lock(list_mutex_);
        list_version = list_.version;
    }
    std::lock_guard lock(mutex_);
    std::vector<server_info> out;
    for (const auto& s : servers_) {
        server_info info;
        info.address = s->address;
        info.list_version = list_version;
        s->monitor->fill(info);
        if (s->tls) {
            info.tls = true;
            const auto c = counters_of(*s->tls);
            info.tls_handshakes = c.handshakes;
            info.tls_resumed = c.resumed;
        }
        info.authenticated = s->options.auth || cfg_.auth;
        if (s->udp) {
            const auto& u = s->udp->stats();
            info.udp = true;
            info.udp_requests = u.requests.load(std::memory_order_relaxed);
            info.udp_replies = u.replies.load(std::memory_order_relaxed);
            info.udp_lost = u.lost.load(std::memory_order_relaxed);
            info.udp_dropped = u.stray.load(std::memory_order_relaxed);
        }
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
    if (key_router_.empty())
        return {};
    std::string scratch;
    return servers_[key_router_.own_server(placed_key(key, scratch))]->name;
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
        impl_->close_hooks();
        detail::service_of(impl_->executor()).remove(impl_.get());
        impl_->close();
    }
}

client::client(client&&) noexcept = default;

client& client::operator=(client&& other) noexcept
{
    if (this != &other) {
        if (impl_) {
            impl_->close_hooks();
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

void client::send_set(std::string_view key, std::string_view value, store_options opts)
{
    opts.quiet = true;
    async_set(key, value, opts,
              [impl = impl_, k = std::string(key)](std::error_code ec, store_status st) mutable {
                  if ((!ec && st == store_status::stored) || !impl->hooks_open())
                      return;
                  if (const auto& report = impl->config().on_write_failure)
                      report(write_failure{std::move(k), ec, !ec});
              });
}

void client::send_delete(std::string_view key)
{
    auto r = detail::make_request<proto::deletion>();
    auto& q = detail::as<proto::deletion>(r);
    q.quiet = true;
    detail::add_key(q.keys.own(), key);
    start<delete_status>(std::move(r), [impl = impl_, k = std::string(key)](std::error_code ec,
                                                                            delete_status) mutable {
        if (!ec || !impl->hooks_open())
            return; // deleted, or already absent; or the client is gone
        if (const auto& report = impl->config().on_write_failure)
            report(write_failure{std::move(k), ec});
    });
}

value::value_settings client::value_settings() const
{
    const auto& c = config();
    return value::resolve(c.values, c.max_item_size);
}

std::string client::describe_encode_failure(std::string_view key, value::value_type t,
                                            std::error_code ec)
{
    constexpr std::size_t max_key = 250;
    std::string out = "key '";
    out.append(key.substr(0, max_key));
    if (key.size() > max_key)
        out.append("...");
    out.append("' cannot be stored as ");
    out.append(value::type_name(t));
    (void)ec; // (memcoro::error puts the error's own message before this text)
    return out;
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

bool client::apply_server_list(const server_list& list, server_list_error& err,
                               std::string_view source)
{
    return impl_->apply_list(list, err, std::string(source));
}

void client::apply_server_list(const server_list& list)
{
    server_list_error err;
    if (!impl_->apply_list(list, err, "api"))
        throw std::invalid_argument("memcoro: server list refused: " + err.reason);
}

server_list client::current_server_list() const
{
    return impl_->current_list();
}

std::shared_ptr<detail::router> client::router() const
{
    return impl_;
}

} // namespace memcoro
