#include "replies.hpp"

namespace memcoro::test {

bool allowed(proto::reply_kind k, proto::reply_type t)
{
    using proto::reply_kind;
    using proto::reply_type;
    if (t == reply_type::error || t == reply_type::client_error || t == reply_type::server_error)
        return true;
    switch (k) {
    case reply_kind::retrieval:
        return t == reply_type::value || t == reply_type::end;
    case reply_kind::storage:
        return t == reply_type::stored || t == reply_type::not_stored || t == reply_type::exists ||
               t == reply_type::not_found;
    case reply_kind::deletion:
        return t == reply_type::deleted || t == reply_type::not_found;
    case reply_kind::touch:
        return t == reply_type::touched || t == reply_type::not_found;
    case reply_kind::arithmetic:
        return t == reply_type::number || t == reply_type::not_found;
    case reply_kind::ok:
        return t == reply_type::ok;
    case reply_kind::version:
        return t == reply_type::version;
    case reply_kind::stats:
        return t == reply_type::stat || t == reply_type::end;
    case reply_kind::meta_get:
        return t == reply_type::value || t == reply_type::end || t == reply_type::noop;
    case reply_kind::meta_touch:
        return t == reply_type::touched || t == reply_type::not_found;
    // (MN: the end of a quiet batch of writes.)
    case reply_kind::meta_storage:
        return t == reply_type::stored || t == reply_type::not_stored || t == reply_type::exists ||
               t == reply_type::not_found || t == reply_type::noop;
    case reply_kind::meta_deletion:
        return t == reply_type::deleted || t == reply_type::not_found || t == reply_type::exists ||
               t == reply_type::noop;
    case reply_kind::meta_arithmetic:
        return t == reply_type::number || t == reply_type::not_found ||
               t == reply_type::not_stored || t == reply_type::exists;
    }
    return false;
}

} // namespace memcoro::test
