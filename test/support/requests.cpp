#include "requests.hpp"

#include <utility>
#include <variant>

namespace memcoro::test {

using proto::command;

proto::string_list list_of(std::vector<std::string> strings)
{
    proto::string_list l;
    l.own() = std::move(strings);
    return l;
}

proto::request make_req(command c, std::vector<std::string> keys)
{
    switch (c) {
    case command::get:
    case command::gets:
    case command::gat:
    case command::gats: {
        proto::retrieval r;
        r.with_cas = c == command::gets || c == command::gats;
        if (c == command::gat || c == command::gats)
            r.exptime = 0;
        r.keys = list_of(std::move(keys));
        return r;
    }
    case command::set:
    case command::add:
    case command::replace:
    case command::append:
    case command::prepend:
    case command::cas: {
        proto::storage r;
        r.mode =
            static_cast<proto::store_mode>(static_cast<int>(c) - static_cast<int>(command::set));
        r.values.own().resize(keys.size());
        r.keys = list_of(std::move(keys));
        return r;
    }
    case command::del: {
        proto::deletion r;
        r.keys = list_of(std::move(keys));
        return r;
    }
    case command::incr:
    case command::decr:
        return proto::arithmetic{c == command::decr, keys.at(0), 0};
    case command::touch:
        return proto::touch{keys.at(0), 0};
    case command::flush_all:
        return proto::flush{};
    case command::verbosity:
        return proto::verbosity{};
    case command::stats:
        return proto::stats{};
    case command::version:
        return proto::version{};
    }
    return proto::version{};
}

proto::request single(command c, std::string key)
{
    return make_req(c, {std::move(key)});
}

proto::request multi_get(command c, std::vector<std::string> keys)
{
    return make_req(c, std::move(keys));
}

proto::request set_req(std::string key, std::string value, std::uint32_t flags,
                       std::int64_t exptime)
{
    proto::request r = single(command::set, std::move(key));
    auto& s = std::get<proto::storage>(r);
    s.values.own().front() = std::move(value);
    s.flags = flags;
    s.exptime = exptime;
    return r;
}

proto::request bare(command c)
{
    return make_req(c, {});
}

detail::request_ptr get_request(std::vector<std::string> keys)
{
    auto r = detail::make_request<proto::retrieval>();
    detail::as<proto::retrieval>(r).keys.own() = std::move(keys);
    return r;
}

std::string first_key(const proto::request& r)
{
    const auto first = [](const proto::string_list& keys) {
        return keys.empty() ? std::string() : keys[0];
    };
    if (const auto* q = std::get_if<proto::retrieval>(&r))
        return first(q->keys);
    if (const auto* q = std::get_if<proto::storage>(&r))
        return first(q->keys);
    if (const auto* q = std::get_if<proto::deletion>(&r))
        return first(q->keys);
    if (const auto* q = std::get_if<proto::touch>(&r))
        return q->key;
    if (const auto* q = std::get_if<proto::arithmetic>(&r))
        return q->key;
    return {};
}

} // namespace memcoro::test
