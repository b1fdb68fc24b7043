#include <memcoro/detail/gather.hpp>

#include <algorithm>

namespace memcoro::detail {

void gather::note_error(std::error_code ec, const std::string* server, std::string_view text,
                        std::error_code cause)
{
    if (first_error_ || !ec)
        return;
    first_error_ = ec;
    first_error_cause_ = cause;
    first_error_server_ = server;
    if (!text.empty())
        parent_->resp.text.assign(text);
}

void gather::finish(bool failed_all, bool may_run_inline)
{
    std::error_code ec;
    if (failed_all && first_error_) {
        parent_->server = first_error_server_;
        parent_->cause = first_error_cause_;
        ec = first_error_;
    }
    if (parent_->settle(ec))
        parent_->complete(may_run_inline);
}

namespace {

/// A part of a call split by keys: its gather, and its keys, the planned `order[from, to)`.
template <class Gather>
class keyed_part : public op_entry {
public:
    keyed_part(request_ptr r, std::shared_ptr<Gather> g, std::uint32_t from, std::uint32_t to)
        : op_entry(std::move(r))
        , gather_(std::move(g))
        , from_(from)
        , to_(to)
    {
    }

protected:
    std::shared_ptr<Gather> gather_;
    std::uint32_t from_, to_;
};

} // namespace

// ---- retrieval ------------------------------------------------------------------------------

class retrieval_gather::part final : public keyed_part<retrieval_gather> {
public:
    using keyed_part::keyed_part;

    void on_value(std::size_t j, const proto::reply& r, bool) override
    {
        gather_->on_value(from_, j, r);
    }
    void on_key_error(std::size_t j, std::error_code ec) override
    {
        gather_->fail_key(gather_->order_[from_ + j], ec);
    }

private:
    void on_complete(bool may_run_inline) override
    {
        gather_->on_part_done(*this, from_, to_, may_run_inline);
    }
};

retrieval_gather::retrieval_gather(entry_ptr parent, std::size_t parts,
                                   const proto::string_list& keys, index_list order)
    : gather(std::move(parent), parts)
    , keys_(keys)
    , order_(std::move(order))
    , slots_(take_items(keys.size()))
    , states_(keys.size())
{
}

retrieval_gather::~retrieval_gather()
{
    if (!slots_.empty()) // (handed to the caller otherwise)
        give_items(std::move(slots_));
}

std::uint32_t retrieval_gather::error_index(std::error_code ec)
{
    if (errors_.empty() || errors_.back() != ec)
        errors_.push_back(ec);
    return static_cast<std::uint32_t>(errors_.size() - 1);
}

void retrieval_gather::fail_key(std::uint32_t key_index, std::error_code ec)
{
    states_[key_index] = {key_status::error, error_index(ec)};
    ++failed_keys_;
}

entry_ptr retrieval_gather::make_part(std::uint32_t from, std::uint32_t to, request_ptr req)
{
    // The part's keys select the caller's, which the gather keeps alive as long as any part.
    std::get_if<proto::retrieval>(req.get())->keys.select(keys_.owned().data(),
                                                          order_.data() + from, to - from);
    return std::allocate_shared<part>(pool_allocator<part>{}, std::move(req), shared_from_this(),
                                      from, to);
}

void retrieval_gather::on_value(std::uint32_t from, std::size_t j, const proto::reply& r)
{
    const std::uint32_t slot = order_[from + j];
    assign_hit(slots_[slot], r);
    states_[slot].status = key_status::hit;
    ++hits_;
}

void retrieval_gather::on_part_done(const op_entry& p, std::uint32_t from, std::uint32_t to,
                                    bool may_run_inline)
{
    op_entry& caller = *parent_;
    if (p.ec) {
        note_error(p.ec, p.server, p.resp.text, p.cause);
        // Its keys failed, hits read before the failure included (keys the server said
        // failed keep their own error).
        const key_slot failed{key_status::error, error_index(p.ec)};
        for (std::uint32_t k = from; k < to; ++k) {
            key_slot& s = states_[order_[k]];
            if (s.status == key_status::error)
                continue;
            hits_ -= s.status == key_status::hit;
            s = failed;
            ++failed_keys_;
        }
    }
    if (!last_part())
        return;
    const std::size_t n = keys_.size();
    const bool failed_all = failed_keys_ == n;
    if (!caller.completed() && !failed_all) {
        // One pass in request order: the hits moved to the front and swapped (the items
        // passed over keep their capacity), each key's index in its list, and the errors.
        auto& key_errors = caller.resp.key_errors;
        key_errors.reserve(failed_keys_);
        auto& missed = caller.resp.missed;
        missed.resize(n - hits_ - failed_keys_);
        key_slot* const states = states_.data();
        item* const items = slots_.data();
        // Up to the first key that is not a hit, every hit is where it belongs.
        std::uint32_t i = 0;
        for (; i < n && states[i].status == key_status::hit; ++i)
            states[i].index = i;
        std::uint32_t w = i, m = 0;
        for (; i < n; ++i) {
            key_slot& s = states[i];
            if (s.status == key_status::hit) {
                swap(items[w], items[i]);
                s.index = w++;
            } else if (s.status == key_status::miss) {
                missed[m] = i;
                s.index = m++;
            } else {
                key_errors.push_back(errors_[s.index]);
                s.index = static_cast<std::uint32_t>(key_errors.size() - 1);
            }
        }
        while (slots_.size() > w) {
            give_item(std::move(slots_.back()));
            slots_.pop_back();
        }
        caller.resp.items = std::move(slots_);
        slots_ = {};
        caller.resp.key_slots = std::move(states_);
    }
    finish(failed_all, may_run_inline);
}

// ---- storage and delete ---------------------------------------------------------------------

class write_gather::part final : public keyed_part<write_gather> {
public:
    using keyed_part::keyed_part;

    void on_reply(std::size_t j, const proto::reply& r) override
    {
        gather_->on_reply(*this, gather_->order_[from_ + j], r);
    }

private:
    void on_complete(bool may_run_inline) override
    {
        gather_->on_part_done(*this, from_, to_, may_run_inline);
    }
};

write_gather::write_gather(entry_ptr parent, std::size_t parts, const proto::string_list& keys,
                           index_list order)
    : gather(std::move(parent), parts)
    , order_(std::move(order))
{
    auto& outcomes = parent_->resp.outcomes;
    outcomes.resize(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i)
        outcomes[i].key = keys[i];
}

void write_gather::fail_key(std::uint32_t key_index, std::error_code ec)
{
    parent_->resp.outcomes[key_index].ec = ec;
}

entry_ptr write_gather::make_part(std::uint32_t from, std::uint32_t to, request_ptr req)
{
    // The part's keys (and values) select the caller's.
    const auto* index = order_.data() + from;
    const std::size_t n = to - from;
    if (auto* s = std::get_if<proto::storage>(req.get())) {
        const auto& caller = *std::get_if<proto::storage>(&parent_->req);
        s->keys.select(caller.keys.owned().data(), index, n);
        s->values.select(caller.values.owned().data(), index, n);
        if (!caller.key_flags.empty()) {
            s->key_flags.resize(n);
            for (std::size_t k = 0; k < n; ++k)
                s->key_flags[k] = caller.key_flags[index[k]];
        }
    } else if (auto* d = std::get_if<proto::deletion>(req.get())) {
        d->keys.select(std::get_if<proto::deletion>(&parent_->req)->keys.owned().data(), index, n);
    }
    return std::make_shared<part>(std::move(req), shared_from_this(), from, to);
}

void write_gather::on_reply(const op_entry& p, std::uint32_t key_index, const proto::reply& r)
{
    auto& out = parent_->resp.outcomes[key_index];
    out.status = r.type;
    out.ec = error_for(r.type);
    if (out.ec)
        note_error(out.ec, p.server, r.data);
}

void write_gather::on_part_done(const op_entry& p, std::uint32_t from, std::uint32_t to,
                                bool may_run_inline)
{
    auto& outcomes = parent_->resp.outcomes;
    if (p.ec) {
        // The keys the part did not get a reply for failed with it.
        note_error(p.ec, p.server, p.resp.text, p.cause);
        for (std::uint32_t k = from; k < to; ++k) {
            auto& out = outcomes[order_[k]];
            if (out.status == proto::reply_type::end && !out.ec)
                out.ec = p.ec;
        }
    }
    if (!last_part())
        return;
    finish(std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return !!o.ec; }),
           may_run_inline);
}

// ---- every server ---------------------------------------------------------------------------

class server_gather::part final : public op_entry {
public:
    part(request_ptr r, std::shared_ptr<server_gather> g, std::size_t i)
        : op_entry(std::move(r))
        , gather_(std::move(g))
        , index_(i)
    {
    }

private:
    void on_complete(bool may_run_inline) override
    {
        gather_->on_part_done(*this, index_, may_run_inline);
    }

    std::shared_ptr<server_gather> gather_;
    std::size_t index_;
};

server_gather::server_gather(entry_ptr parent, std::vector<const std::string*> servers,
                             bool per_server_results)
    : gather(std::move(parent), servers.size())
    , per_server_results_(per_server_results)
{
    auto& per = parent_->resp.per_server;
    per.resize(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i)
        std::get<0>(per[i]) = *servers[i];
}

void server_gather::fail_server(std::size_t i, std::error_code ec, const std::string* server)
{
    std::get<1>(parent_->resp.per_server[i]) = ec;
    note_error(ec, server);
    if (last_part())
        finish(!per_server_results_, false);
}

entry_ptr server_gather::make_part(std::size_t i, request_ptr req)
{
    return std::make_shared<part>(std::move(req), shared_from_this(), i);
}

void server_gather::on_part_done(op_entry& p, std::size_t i, bool may_run_inline)
{
    auto& slot = parent_->resp.per_server[i];
    std::get<1>(slot) = p.ec;
    std::get<2>(slot) = std::move(p.resp.stats);
    if (p.ec)
        note_error(p.ec, p.server, p.resp.text, p.cause);
    if (last_part())
        finish(!per_server_results_, may_run_inline);
}

} // namespace memcoro::detail
