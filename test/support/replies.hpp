#pragma once
// What the protocol allows, written out apart from the decoder, for the tests that check it
// (the unit tests and the fuzzer): no Asio, no Catch2.

#include <memcoro/proto/reply.hpp>
#include <memcoro/proto/request.hpp>

namespace memcoro::test {

/// May a request of kind `k` draw a reply of type `t`?
bool allowed(proto::reply_kind k, proto::reply_type t);

} // namespace memcoro::test
