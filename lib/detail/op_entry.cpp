#include <memcoro/detail/op_entry.hpp>
#include <memcoro/error.hpp>

namespace memcoro::detail {

std::error_code error_for(proto::reply_type t) noexcept
{
    switch (t) {
    case proto::reply_type::error:
        return errc::unknown_command;
    case proto::reply_type::client_error:
        return errc::client_error;
    case proto::reply_type::server_error:
        return errc::server_error;
    default:
        return {};
    }
}

void assign_hit(item& it, const proto::reply& r)
{
    it.key.assign(r.key);
    it.value.assign(r.data);
    it.flags = r.flags;
    it.cas = r.has_cas ? r.cas : 0;
}

void op_entry::on_value(std::size_t key_index, const proto::reply& r, bool)
{
    if (resp.items.empty()) { // hits are likely: room for all at once
        const auto* q = std::get_if<proto::retrieval>(&req);
        const std::size_t left = q && q->keys.size() > key_index ? q->keys.size() - key_index : 1;
        resp.items.reserve(left);
        resp.item_index.reserve(left);
    }
    resp.items.push_back(
        item{std::string(r.key), std::string(r.data), r.flags, r.has_cas ? r.cas : 0});
    resp.item_index.push_back(static_cast<std::uint32_t>(key_index));
}

void op_entry::on_stat(const proto::reply& r)
{
    resp.stats.emplace_back(std::string(r.name), std::string(r.data));
}

void op_entry::on_reply(std::size_t, const proto::reply& r)
{
    resp.status = r.type;
    resp.number = r.number;
    if (!r.data.empty())
        resp.text.assign(r.data);
}

void op_entry::on_key_error(std::size_t key_index, std::error_code ec)
{
    resp.failed_at.push_back(static_cast<std::uint32_t>(key_index));
    resp.key_errors.push_back(ec);
}

} // namespace memcoro::detail
