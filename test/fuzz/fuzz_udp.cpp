// libFuzzer target for gets over UDP (detail/udp_core.hpp, proto/udp.hpp): the datagrams a
// hostile network or server may send back.
//
// Input layout:
//   byte 0     bits 0-2: keys in the get - 1 (1 to 8); bit 3: gets (with CAS)
//   then datagrams, each: 2 bytes of length (little-endian, at most 2,048), 1 byte of control
//   (bit 0: its request id is replaced by the request's own), then that many bytes (header
//   and payload)
//
// The get of keys k0, k1, ... is staged, then each datagram is handed to the core. What is
// delivered must be for the request's keys, each at its own index, in rising order; a request
// is answered at most once, and a lost one is handed back uncompleted with nothing delivered.
// At the end its loss timeout passes. A broken invariant aborts.

#include "../support/recording_entry.hpp"
#include "../support/requests.hpp"

#include <memcoro/detail/udp_core.hpp>
#include <memcoro/proto/udp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace memcoro;

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_udp.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (0)

test::recorder& journal()
{
    static test::recorder r;
    return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::size_t n = (data[0] & 7u) + 1;
    const bool cas = (data[0] & 8u) != 0;
    std::vector<std::string> keys;
    for (std::size_t j = 0; j < n; ++j)
        keys.push_back("k" + std::to_string(j));
    auto e = std::make_shared<test::recording_entry>(
        test::multi_get(cas ? proto::command::gets : proto::command::get, keys), journal());

    detail::udp_core_options o;
    o.window = 2;
    o.max_reply = 16 * 1024;
    o.timeout = std::chrono::milliseconds(50);
    o.limits.max_item_size = 4096;
    detail::udp_core core(o);
    const auto now = detail::clock::time_point{} + std::chrono::hours(1);
    FUZZ_CHECK(core.accepts(*e));
    core.submit(e, now);
    std::vector<std::string_view> out;
    core.stage(now, out);
    FUZZ_CHECK(out.size() == 1);
    const auto h = proto::read_udp_header(out[0]);
    FUZZ_CHECK(h);
    const std::uint16_t id = h->request_id;

    std::vector<detail::entry_ptr> answered, lost;
    std::size_t at = 1;
    bool done = false;
    while (at + 3 <= size && !done) {
        const std::size_t len = std::min<std::size_t>(data[at] | (data[at + 1] << 8), 2048);
        const bool own_id = (data[at + 2] & 1u) != 0;
        at += 3;
        std::string d(reinterpret_cast<const char*>(data + at), std::min(len, size - at));
        at += d.size();
        if (own_id && d.size() >= 2) {
            d[0] = static_cast<char>(id >> 8);
            d[1] = static_cast<char>(id & 0xff);
        }
        core.on_datagram(d, now, answered, lost);
        FUZZ_CHECK(answered.size() + lost.size() <= 1);
        done = !answered.empty() || !lost.empty();
    }
    if (!done) {
        core.expire(now + std::chrono::milliseconds(50), lost);
        FUZZ_CHECK(lost.size() == 1);
    }
    if (!lost.empty()) {
        FUZZ_CHECK(lost[0] == e);
        FUZZ_CHECK(!e->completed());
        FUZZ_CHECK(e->resp.items.empty());
    }
    if (!answered.empty()) {
        FUZZ_CHECK(answered[0] == e);
        FUZZ_CHECK(e->completed());
        FUZZ_CHECK(!e->ec);
        FUZZ_CHECK(e->resp.items.size() == e->resp.item_index.size());
        FUZZ_CHECK(e->resp.items.size() <= n);
        for (std::size_t i = 0; i < e->resp.items.size(); ++i) {
            const std::uint32_t j = e->resp.item_index[i];
            FUZZ_CHECK(j < n);
            FUZZ_CHECK(i == 0 || e->resp.item_index[i - 1] < j);
            FUZZ_CHECK(e->resp.items[i].key == keys[j]);
            FUZZ_CHECK(e->resp.items[i].value.size() <= o.limits.max_item_size);
        }
        e->complete(false);
    }
    FUZZ_CHECK(core.in_flight() == 0);
    return 0;
}
