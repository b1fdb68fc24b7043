// libFuzzer target for server lists (server_list.hpp): a list file's JSON, one domain's object
// (a memcached item's value), and auto-discovery's `config get cluster` replies, as a hostile
// file, store or endpoint may hand them over.
//
// Input layout: byte 0 chooses (0: a file, 1: a domain's object, 2: a discovery reply, each
// modulo 3); byte 1 is the step the discovery reply is fed in (1 to 256); the rest is the text.
//
// A list read must pass check_server_list and read back equal from the JSON it is written as;
// a discovery reply must read the same fed whole or piece by piece, and a complete one take no
// more bytes than were given. A broken invariant aborts.

#include <memcoro/server_list.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_server_list.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (0)

void check_list(const memcoro::server_list& l)
{
    memcoro::server_list_error err;
    FUZZ_CHECK(memcoro::check_server_list(l, err));
    memcoro::server_list again;
    const std::string text = memcoro::to_json(l);
    FUZZ_CHECK(memcoro::parse_domain_list(text, l.domain, again, err));
    FUZZ_CHECK(again == l);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    const int mode = data[0] % 3;
    const std::size_t step = 1 + data[1];
    const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
    memcoro::server_list l;
    memcoro::server_list_error err;
    if (mode == 0) {
        if (memcoro::parse_server_list(text, "d", l, err))
            check_list(l);
        else
            FUZZ_CHECK(err.ec && !err.reason.empty());
        (void)memcoro::server_list_domains(text);
    } else if (mode == 1) {
        if (memcoro::parse_domain_list(text, "d", l, err))
            check_list(l);
        else
            FUZZ_CHECK(err.ec && !err.reason.empty());
    } else {
        using state = memcoro::discovery_reply::state;
        memcoro::discovery_reply whole;
        const auto w = whole.feed(text);
        memcoro::discovery_reply pieces;
        auto p = state::incomplete;
        for (std::size_t n = std::min(step, text.size());; n = std::min(n + step, text.size())) {
            p = pieces.feed(text.substr(0, n));
            if (p != state::incomplete || n == text.size())
                break;
        }
        FUZZ_CHECK(p == w);
        if (w == state::complete) {
            FUZZ_CHECK(whole.size() <= text.size());
            FUZZ_CHECK(pieces.size() == whole.size());
            FUZZ_CHECK(pieces.list() == whole.list());
            check_list(whole.list()); // (its domain: "", as parse_domain_list reads it back)
        }
        if (w == state::failed)
            FUZZ_CHECK(!whole.reason().empty());
    }
    return 0;
}
