#include <memcoro/detail/chunked.hpp>
#include <memcoro/value/compression.hpp>

namespace memcoro::detail {

std::error_code split_into_chunks(const value::value_settings& s, proto::storage& q,
                                  request_ptr& chunks)
{
    std::string& stored = q.values.own().front();
    if (stored.size() <= s.chunk_size)
        return {};
    if (stored.size() > s.max_value_size ||
        (stored.size() - 1) / s.chunk_size >= value::chunk::max_chunks)
        return make_error_code(value::compression_errc::too_large);
    const auto ix = value::chunk::plan(stored, q.flags, s.chunk_size);
    chunks = make_request<proto::storage>();
    auto& c = as<proto::storage>(chunks);
    c.mode = proto::store_mode::set;
    c.flags = value::chunk::chunk_flags;
    c.exptime = q.exptime;
    c.quiet = false;
    c.cas_unique = 0;
    c.key_flags.clear();
    auto& keys = c.keys.own();
    auto& values = c.values.own();
    keys.clear();
    values.clear();
    keys.reserve(ix.count);
    values.reserve(ix.count);
    for (std::uint32_t i = 0; i < ix.count; ++i) {
        keys.push_back(value::chunk::chunk_key(ix, i));
        value::chunk::make_chunk(ix, i, stored, values.emplace_back());
    }
    stored = value::chunk::encode_index(ix);
    q.flags = value::chunk::index_flags;
    return {};
}

void add_chunk_keys(proto::retrieval& q, const value::chunk::index& ix)
{
    auto& keys = q.keys.own();
    keys.reserve(keys.size() + ix.count);
    for (std::uint32_t i = 0; i < ix.count; ++i)
        keys.push_back(value::chunk::chunk_key(ix, i));
}

std::error_code assemble_chunks(const value::chunk::index& ix, get_multi_result& r,
                                std::size_t from, std::string& out, bool& missing)
{
    missing = false;
    out.clear();
    if (from + ix.count > r.slots.size())
        return make_error_code(value::value_errc::chunk_mismatch);
    out.reserve(static_cast<std::size_t>(ix.size));
    for (std::uint32_t i = 0; i < ix.count; ++i) {
        const key_slot& slot = r.slots[from + i];
        switch (slot.status) {
        case key_status::hit: {
            const item& it = r.hits[slot.index];
            if (it.flags != value::chunk::chunk_flags)
                return make_error_code(value::value_errc::chunk_mismatch);
            if (auto ec = value::chunk::append_chunk(ix, i, it.value, out))
                return ec;
            break;
        }
        case key_status::miss:
            missing = true;
            out.clear();
            return {};
        case key_status::error:
            return r.errors[slot.index].second;
        }
    }
    return value::chunk::check(ix, out);
}

std::string describe_chunk_failure(std::string_view key, std::string_view chunk_key)
{
    constexpr std::size_t max_key = 250;
    std::string out = "key '";
    out.append(key.substr(0, max_key));
    if (key.size() > max_key)
        out.append("...");
    out.append("' (chunk '");
    out.append(chunk_key);
    out.append("')");
    return out;
}

} // namespace memcoro::detail
