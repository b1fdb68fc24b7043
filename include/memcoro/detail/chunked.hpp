#pragma once
/// \file
/// The value operations' second steps for values bigger than an item (value/chunk.hpp): a
/// write stores the chunks, then the index; a read that finds an index gets the chunks, then
/// assembles and decodes them.

#include <memcoro/detail/decode_hit.hpp>
#include <memcoro/detail/op.hpp>
#include <memcoro/detail/then_handler.hpp>
#include <memcoro/types.hpp>
#include <memcoro/value/chunk.hpp>
#include <memcoro/value/options.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace memcoro::detail {

/// When the value of the one-key write `q` must be chunked (its stored form is longer than
/// `s.chunk_size`), puts the chunk items into `chunks` (a set of many keys, expiring with `q`)
/// and the index item into `q` in place of the value. A value longer than `s.max_value_size`
/// (which no reader would take) fails with compression_errc::too_large.
std::error_code split_into_chunks(const value::value_settings& s, proto::storage& q,
                                  request_ptr& chunks);

/// Adds the keys of `ix`'s chunks, in order, to the retrieval `q`.
void add_chunk_keys(proto::retrieval& q, const value::chunk::index& ix);

/// The retrieval of `ix`'s chunks, in order.
inline request_ptr chunk_retrieval(const value::chunk::index& ix)
{
    auto r = make_request<proto::retrieval>();
    auto& q = as<proto::retrieval>(r);
    q.keys.own().clear();
    add_chunk_keys(q, ix);
    return r;
}

/// The retrieval of the chunks of every index of `pending` (each with its `ix`), one after
/// the other.
template <class Pending>
request_ptr chunk_retrieval_of(const std::vector<Pending>& pending)
{
    auto r = make_request<proto::retrieval>();
    auto& q = as<proto::retrieval>(r);
    q.keys.own().clear();
    for (const auto& p : pending)
        add_chunk_keys(q, p.ix);
    return r;
}

/// Assembles `ix`'s value from the outcomes `r.slots[from, from + ix.count)` into `out`:
/// an error if a chunk failed or does not match, `missing` if one is missing.
std::error_code assemble_chunks(const value::chunk::index& ix, get_multi_result& r,
                                std::size_t from, std::string& out, bool& missing);

/// The "key 'K' (chunk N: ...)" detail of a chunk's failure.
std::string describe_chunk_failure(std::string_view key, std::string_view chunk_key);

/// A chunked write's second step: once every chunk is stored, stores the index (the write the
/// caller asked for: set, add, replace or cas), whose outcome is the caller's.
struct store_index_after_chunks {
    std::shared_ptr<router> target;
    request_ptr index;
    std::string key;

    template <class Handler>
    void operator()(Handler& h, std::error_code ec, store_multi_result chunks)
    {
        if (!ec) {
            for (const auto& c : chunks) {
                if (c.ec || c.status != store_status::stored) {
                    annotate(h, {}, describe_chunk_failure(key, c.key), {});
                    if (c.ec) {
                        std::move(h)(c.ec, store_status{});
                    } else {
                        std::move(h)(std::error_code{}, c.status);
                    }
                    return;
                }
            }
        }
        if (ec) {
            std::move(h)(ec, store_status{});
            return;
        }
        initiate_op<store_status>{target, scope::key, {}}(std::move(h), std::move(index));
    }
};

/// A one-key read's second step: assembles the chunks of the index `index_item` held and
/// decodes them into a T.
template <class T>
struct read_chunks {
    value::value_settings settings;
    value::chunk::index ix;
    item index_item;

    template <class Handler>
    void operator()(Handler& h, std::error_code ec, get_multi_result r)
    {
        std::optional<T> out;
        std::string data;
        bool missing = false;
        if (!ec) {
            ec = assemble_chunks(ix, r, 0, data, missing);
            if (!ec && !missing) {
                item whole{index_item.key, std::move(data), ix.flags, index_item.cas};
                ec = decode_hit(settings, whole, out);
            }
            if (ec)
                annotate(h, {},
                         value::describe_decode_failure(index_item.key, ix.flags,
                                                        static_cast<std::size_t>(ix.size), ec),
                         {});
        }
        std::move(h)(ec, std::move(out));
    }
};

/// Starts the second step of a one-key read whose hit `hit` is a chunked value's index, or
/// completes `h` with the index's error; returns false (and leaves `h` alone) when `hit` is no
/// index.
template <class T, class Handler>
bool read_if_chunked(const std::shared_ptr<router>& target, const value::value_settings& s,
                     Handler& h, item& hit)
{
    if (hit.flags != value::chunk::index_flags)
        return false;
    value::chunk::index ix;
    if (auto ec = value::chunk::parse_index(hit.value, s.max_value_size, ix)) {
        annotate(h, {}, value::describe_decode_failure(hit.key, hit.flags, hit.value.size(), ec),
                 {});
        std::move(h)(ec, std::optional<T>{});
        return true;
    }
    auto req = chunk_retrieval(ix);
    using next = then_handler<Handler, read_chunks<T>>;
    initiate_op<get_multi_result>{target, scope::keys, {}}(
        next{std::move(h), read_chunks<T>{s, ix, std::move(hit)}}, std::move(req));
    return true;
}

/// A multi-key read's second step: the keys at `pending` are chunked values, whose chunks are
/// in the outcomes in order; each is assembled and decoded into its entry of `out`.
template <class T>
struct read_multi_chunks {
    struct pending_key {
        std::size_t at;         ///< its entry in `out`
        value::chunk::index ix; ///< its index
        std::uint64_t cas;      ///< the index's CAS unique
    };
    value::value_settings settings;
    std::vector<keyed_value<T>> out;
    std::vector<pending_key> pending;

    template <class Handler>
    void operator()(Handler& h, std::error_code ec, get_multi_result r)
    {
        std::size_t from = 0;
        for (const auto& p : pending) {
            auto& kv = out[p.at];
            if (ec) {
                kv.ec = ec;
                continue;
            }
            std::string data;
            bool missing = false;
            kv.ec = assemble_chunks(p.ix, r, from, data, missing);
            from += p.ix.count;
            if (kv.ec || missing)
                continue;
            item whole{kv.key, std::move(data), p.ix.flags, p.cas};
            kv.ec = decode_hit(settings, whole, kv.value);
        }
        std::move(h)(std::error_code{}, std::move(out));
    }
};

} // namespace memcoro::detail
