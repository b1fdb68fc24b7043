#include <memcoro/detail/udp_core.hpp>
#include <memcoro/error.hpp>
#include <memcoro/proto/meta.hpp>

#include <algorithm>

namespace memcoro::detail {
namespace {

/// The bytes of "mg <key> v f[ c] O<index in hex> k\r\n".
std::size_t udp_request_line_bytes(std::size_t key_size, std::size_t index, bool cas) noexcept
{
    std::size_t digits = 1;
    for (std::size_t i = index; i >= 16; i /= 16)
        ++digits;
    return 3 + key_size + 4 + (cas ? 2 : 0) + 2 + digits + 2 + 2;
}

} // namespace

udp_core::udp_core(udp_core_options o)
    : opts_(o)
{
    if (opts_.window == 0)
        opts_.window = 1;
    opts_.max_datagram = std::clamp(opts_.max_datagram, proto::udp_header_size + 16,
                                    std::size_t{65507}); // (IPv4's largest UDP payload)
}

bool udp_core::accepts(const op_entry& e) const noexcept
{
    const auto* r = std::get_if<proto::retrieval>(&e.req);
    if (!r || r->exptime || r->meta_only() || r->keys.size() == 0)
        return false;
    // Per key: "mg <key> v f[ c] O<index> k\r\n".
    std::size_t bytes = proto::udp_header_size;
    for (std::size_t j = 0; j < r->keys.size(); ++j) {
        const std::string_view k = r->keys[j];
        if (std::any_of(k.begin(), k.end(), [](char ch) { return ch <= ' ' || ch > '~'; }))
            return false; // (would go base64)
        bytes += udp_request_line_bytes(k.size(), j, r->with_cas);
    }
    return bytes <= opts_.max_datagram;
}

void udp_core::submit(entry_ptr e, clock::time_point now)
{
    e->started = now;
    if (opts_.op_timeout.count() > 0)
        e->deadline = now + opts_.op_timeout;
    queue_.push_back(std::move(e));
}

std::uint16_t udp_core::take_id() noexcept
{
    // Ids go round in order, so an id comes back only after 65,535 others; one still in use
    // (a request in flight for that long) is skipped.
    for (;;) {
        const std::uint16_t id = next_id_++;
        const bool busy = std::any_of(slots_.begin(), slots_.end(),
                                      [&](const auto& s) { return s->e && s->id == id; });
        if (!busy)
            return id;
    }
}

void udp_core::stage(clock::time_point now, std::vector<std::string_view>& out)
{
    while (!queue_.empty() && in_flight_ < opts_.window) {
        entry_ptr e = std::move(queue_.front());
        queue_.pop_front();
        if (e->completed())
            continue; // timed out or cancelled while it waited
        slot* s = nullptr;
        for (auto& c : slots_)
            if (!c->e) {
                s = c.get();
                break;
            }
        if (!s) {
            slots_.push_back(std::make_unique<slot>(opts_.limits, opts_.max_reply));
            s = slots_.back().get();
        }
        s->id = take_id();
        s->e = e;
        s->lost_at = now + opts_.timeout;
        s->assembler.reset();
        s->decoder.reset();
        s->scanned = 0;
        s->answered = 0;
        const auto& r = *std::get_if<proto::retrieval>(&e->req);
        s->answer_at.assign(r.keys.size(), std::string::npos);
        s->datagram.resize(proto::udp_header_size);
        proto::write_udp_header(proto::udp_header{s->id, 0, 1, 0}, s->datagram.data());
        proto::encode_meta_get_each(r, s->datagram, opts_.key_prefix);
        e->state = entry_state::written;
        ++in_flight_;
        ++counters_.requests;
        out.emplace_back(s->datagram);
    }
}

udp_core::scan_result udp_core::scan(slot& s)
{
    const std::string_view in = s.assembler.bytes();
    const auto& keys = std::get_if<proto::retrieval>(&s.e->req)->keys;
    proto::reply r;
    while (s.scanned < in.size()) {
        std::error_code ec;
        const auto res = s.decoder.parse(in.substr(s.scanned), proto::reply_kind::meta_get, r, ec);
        if (ec)
            return scan_result::broken;
        if (res.status == proto::parse_status::need_more)
            return scan_result::incomplete;
        const std::size_t at = s.scanned;
        s.scanned += res.consumed;
        // VA or EN, for the key its opaque number gives, which it names (after the prefix).
        const std::string_view prefix = opts_.key_prefix;
        if ((r.type != proto::reply_type::value && r.type != proto::reply_type::end) ||
            !r.has_opaque || r.opaque >= keys.size() || !r.key.starts_with(prefix) ||
            r.key.substr(prefix.size()) != keys[r.opaque])
            return scan_result::broken;
        if (s.answer_at[r.opaque] != std::string::npos) {
            ++counters_.duplicates;
            continue;
        }
        s.answer_at[r.opaque] = at;
        ++s.answered;
    }
    return s.answered == keys.size() ? scan_result::whole : scan_result::incomplete;
}

void udp_core::deliver(slot& s, clock::time_point now, std::vector<entry_ptr>& answered)
{
    op_entry& e = *s.e;
    const std::string_view in = s.assembler.bytes();
    const std::size_t n = s.answer_at.size();
    proto::decoder d(opts_.limits);
    proto::reply r;
    for (std::size_t j = 0; j < n; ++j) {
        std::error_code ec;
        d.parse(in.substr(s.answer_at[j]), proto::reply_kind::meta_get, r, ec); // (checked)
        if (r.type != proto::reply_type::value)
            continue;                                 // a miss
        r.key.remove_prefix(opts_.key_prefix.size()); // (scan() checked it is there)
        ++e.hits;
        if (!e.completed())
            e.on_value(j, r, n == 1);
    }
    e.key_cursor = n;
    ++e.replies;
    static const proto::reply end{};
    if (!e.completed())
        e.on_reply(0, end);
    e.state = entry_state::done;
    e.finished = now;
    if (e.settle({}))
        answered.push_back(s.e);
}

void udp_core::release(slot& s)
{
    s.e.reset();
    s.assembler.reset();
    s.datagram.clear();
    --in_flight_;
}

void udp_core::on_datagram(std::string_view datagram, clock::time_point now,
                           std::vector<entry_ptr>& answered, std::vector<entry_ptr>& lost)
{
    const auto h = proto::read_udp_header(datagram);
    slot* s = nullptr;
    if (h)
        for (auto& c : slots_)
            if (c->e && c->id == h->request_id) {
                s = c.get();
                break;
            }
    if (!s) {
        ++counters_.stray; // a late reply, another request's, or not a reply at all
        return;
    }
    switch (s->assembler.add(*h, datagram.substr(proto::udp_header_size))) {
    case proto::udp_reply_assembler::status::duplicate:
        ++counters_.duplicates;
        return;
    case proto::udp_reply_assembler::status::broken:
    case proto::udp_reply_assembler::status::too_large:
        ++counters_.lost;
        lost.push_back(s->e);
        release(*s);
        return;
    case proto::udp_reply_assembler::status::accepted:
        break;
    }
    switch (scan(*s)) {
    case scan_result::incomplete:
        return;
    case scan_result::broken:
        ++counters_.lost;
        lost.push_back(s->e);
        release(*s);
        return;
    case scan_result::whole:
        break;
    }
    ++counters_.replies;
    deliver(*s, now, answered);
    release(*s);
}

clock::time_point udp_core::expire(clock::time_point now, std::vector<entry_ptr>& lost)
{
    auto next = clock::time_point::max();
    for (auto& c : slots_) {
        slot& s = *c;
        if (!s.e)
            continue;
        if (s.e->completed()) { // cancelled: its reply, if it comes, is a stray
            release(s);
            continue;
        }
        if (s.e->deadline <= now) {
            s.e->state = entry_state::done;
            s.e->finish(errc::timeout);
            release(s);
            continue;
        }
        if (s.lost_at <= now) {
            ++counters_.lost;
            lost.push_back(s.e);
            release(s);
            continue;
        }
        next = std::min({next, s.lost_at, s.e->deadline});
    }
    // Queued requests time out too.
    for (std::size_t i = 0; i < queue_.size(); ++i) {
        auto& e = queue_[i];
        if (e->completed())
            continue;
        if (e->deadline <= now)
            e->finish(errc::timeout);
        else
            next = std::min(next, e->deadline);
    }
    if (!queue_.empty() && in_flight_ < opts_.window)
        next = now; // room to send more
    return next;
}

void udp_core::take_all(std::vector<entry_ptr>& out)
{
    for (auto& c : slots_)
        if (c->e) {
            out.push_back(c->e);
            release(*c);
        }
    while (!queue_.empty()) {
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
}

} // namespace memcoro::detail
