// The key prefix (client_config::key_prefix) on the wire: every key of every request, in both
// dialects, goes out after it; the 250-byte limit counts it; the prefix itself is checked.

#include <memcoro/error.hpp>
#include <memcoro/proto/meta.hpp>
#include <memcoro/proto/request.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace memcoro;
using proto::store_mode;

namespace {

proto::retrieval get_of(std::vector<std::string> keys, bool cas = false,
                        std::optional<std::int64_t> exptime = {})
{
    proto::retrieval r;
    r.with_cas = cas;
    r.exptime = exptime;
    r.keys.own() = std::move(keys);
    return r;
}

proto::storage store_of(store_mode mode, std::vector<std::string> keys,
                        std::vector<std::string> values, std::uint64_t cas = 0)
{
    proto::storage s;
    s.mode = mode;
    s.keys.own() = std::move(keys);
    s.values.own() = std::move(values);
    s.cas_unique = cas;
    return s;
}

proto::deletion delete_of(std::vector<std::string> keys)
{
    proto::deletion d;
    d.keys.own() = std::move(keys);
    return d;
}

std::string text(const proto::request& r, std::string_view prefix)
{
    std::string out;
    proto::encode_text(r, out, prefix);
    return out;
}

std::string meta(const proto::request& r, std::string_view prefix, std::uint32_t opaque = 1)
{
    std::string out;
    proto::encode_meta(r, opaque, out, prefix);
    return out;
}

} // namespace

TEST_CASE("key prefix: every text command sends each key after the prefix")
{
    const std::string_view p = "app1:";
    CHECK(text(get_of({"k"}), p) == "get app1:k\r\n");
    CHECK(text(get_of({"k"}, true), p) == "gets app1:k\r\n");
    CHECK(text(get_of({"a", "b", "c"}), p) == "get app1:a app1:b app1:c\r\n");
    CHECK(text(get_of({"a", "b"}, true, 60), p) == "gats 60 app1:a app1:b\r\n");
    CHECK(text(get_of({"a"}, false, 5), p) == "gat 5 app1:a\r\n");
    CHECK(text(store_of(store_mode::set, {"k"}, {"v"}), p) == "set app1:k 0 0 1\r\nv\r\n");
    CHECK(text(store_of(store_mode::add, {"k"}, {"v"}), p) == "add app1:k 0 0 1\r\nv\r\n");
    CHECK(text(store_of(store_mode::replace, {"k"}, {"v"}), p) == "replace app1:k 0 0 1\r\nv\r\n");
    CHECK(text(store_of(store_mode::append, {"k"}, {"v"}), p) == "append app1:k 0 0 1\r\nv\r\n");
    CHECK(text(store_of(store_mode::prepend, {"k"}, {"v"}), p) == "prepend app1:k 0 0 1\r\nv\r\n");
    CHECK(text(store_of(store_mode::cas, {"k"}, {"v"}, 77), p) == "cas app1:k 0 0 1 77\r\nv\r\n");
    CHECK(text(store_of(store_mode::set, {"a", "b"}, {"1", "22"}), p) ==
          "set app1:a 0 0 1\r\n1\r\nset app1:b 0 0 2\r\n22\r\n");
    CHECK(text(delete_of({"a", "b"}), p) == "delete app1:a\r\ndelete app1:b\r\n");
    CHECK(text(proto::arithmetic{false, "n", 5}, p) == "incr app1:n 5\r\n");
    CHECK(text(proto::arithmetic{true, "n", 5}, p) == "decr app1:n 5\r\n");
    CHECK(text(proto::touch{"k", 30}, p) == "touch app1:k 30\r\n");
    // Requests without keys are the same with or without a prefix.
    CHECK(text(proto::version{}, p) == "version\r\n");
    CHECK(text(proto::flush{}, p) == "flush_all\r\n");
    CHECK(text(proto::stats{"items"}, p) == "stats items\r\n");
    // No prefix: the bytes of before.
    CHECK(text(get_of({"a", "b"}), "") == "get a b\r\n");
    CHECK(text(store_of(store_mode::set, {"k"}, {"v"}), "") == "set k 0 0 1\r\nv\r\n");

    std::string line;
    proto::encode_text_line(store_of(store_mode::set, {"k"}, {std::string(5000, 'x')}), 0, line, p);
    CHECK(line == "set app1:k 0 0 5000\r\n");
    const std::string one = "one", two = "two";
    const std::string* merged[] = {&one, &two};
    std::string m;
    proto::encode_text_merged(get_of({}), merged, m, p);
    CHECK(m == "get app1:one app1:two\r\n");
}

TEST_CASE("key prefix: a line of many long prefixed keys is whole, however it is cut")
{
    // The writer's buffer is 1 KiB: a line of 20 keys of 250 bytes with their prefix crosses
    // it several times.
    const std::string p(100, 'p');
    std::vector<std::string> keys;
    std::string expected = "get";
    for (int i = 0; i < 20; ++i) {
        keys.push_back(std::string(150, static_cast<char>('a' + i)));
        expected += " " + p + keys.back();
    }
    expected += "\r\n";
    CHECK(text(get_of(keys), p) == expected);
}

TEST_CASE("key prefix: every meta command sends each key after the prefix")
{
    const std::string_view p = "ns/";
    CHECK(meta(get_of({"k"}), p) == "mg ns/k v f O1 k\r\n");
    CHECK(meta(get_of({"a", "b"}, true), p) ==
          "mg ns/a v f c O1 k q\r\nmg ns/b v f c O2 k q\r\nmn\r\n");
    CHECK(meta(store_of(store_mode::add, {"k"}, {"v"}), p) == "ms ns/k 1 ME O1\r\nv\r\n");
    CHECK(meta(delete_of({"k"}), p) == "md ns/k O1\r\n");
    CHECK(meta(proto::arithmetic{false, "n", 2}, p) == "ma ns/n v D2 O1\r\n");
    CHECK(meta(proto::touch{"k", 9}, p) == "mg ns/k T9 O1\r\n");
    std::string line;
    proto::encode_meta_line(store_of(store_mode::set, {"k"}, {"vv"}), 0, 3, line, true, p);
    CHECK(line == "ms ns/k 2 O3 q\r\n");
    std::string each;
    proto::encode_meta_get_each(get_of({"a", "b"}), each, p);
    CHECK(each == "mg ns/a v f O0 k\r\nmg ns/b v f O1 k\r\n");
    // A binary key is base64-encoded with its prefix: "ns/a b".
    CHECK(meta(get_of({"a b"}), p) == "mg bnMvYSBi v f O1 k b\r\n");
}

TEST_CASE("key prefix: the 250-byte limit counts the prefix and the key together")
{
    const std::error_code invalid = errc::invalid_key;
    CHECK_FALSE(proto::check_key(std::string(240, 'k'), false, 10));
    CHECK(proto::check_key(std::string(241, 'k'), false, 10) == invalid);
    CHECK_FALSE(proto::check_key(std::string(123, 'k'), false, proto::max_key_prefix_length));
    CHECK(proto::check_key(std::string(124, 'k'), false, proto::max_key_prefix_length) == invalid);
    // A binary key (meta): its prefix and itself at most 186 bytes, 250 in base64.
    CHECK_FALSE(proto::check_key(std::string(176, ' '), true, 10));
    CHECK(proto::check_key(std::string(177, ' '), true, 10) == invalid);
    CHECK(proto::check_key("", false, 10) == invalid); // the key itself is never empty

    // Every key of every request is checked with it.
    CHECK_FALSE(proto::validate(get_of({"a", std::string(245, 'b')}), false, 5));
    CHECK(proto::validate(get_of({"a", std::string(246, 'b')}), false, 5) == invalid);
    CHECK(proto::validate(store_of(store_mode::set, {std::string(246, 'b')}, {"v"}), false, 5) ==
          invalid);
    CHECK(proto::validate(delete_of({std::string(246, 'b')}), false, 5) == invalid);
    CHECK(proto::validate(proto::arithmetic{false, std::string(246, 'b'), 1}, false, 5) == invalid);
    CHECK(proto::validate(proto::touch{std::string(246, 'b'), 1}, false, 5) == invalid);
    CHECK(proto::validate(get_of({std::string(182, ' ')}), true, 5) == invalid);
    CHECK_FALSE(proto::validate(get_of({std::string(181, ' ')}), true, 5));
    CHECK_FALSE(proto::validate(proto::version{}, false, 100));

    // The longest valid line encodes whole, in both dialects.
    const std::string p(proto::max_key_prefix_length, 'p');
    const std::string k(proto::max_key_length - p.size(), 'k');
    CHECK(text(proto::touch{k, 1}, p) == "touch " + p + k + " 1\r\n");
    CHECK(meta(proto::touch{k, 1}, p) == "mg " + p + k + " T1 O1\r\n");
    const std::string bin(proto::max_binary_key_length - p.size(), '\t');
    const std::string encoded = meta(get_of({bin}), p);
    CHECK(encoded.size() == 3 + 248 + std::string(" v f O1 k b\r\n").size());
}

TEST_CASE("key prefix: printable ASCII, at most 127 bytes (libmemcached's namespace limit)")
{
    CHECK(proto::valid_key_prefix(""));
    CHECK(proto::valid_key_prefix("app1:"));
    CHECK(proto::valid_key_prefix("!~"));
    CHECK(proto::valid_key_prefix(std::string(127, 'p')));
    CHECK_FALSE(proto::valid_key_prefix(std::string(128, 'p')));
    CHECK_FALSE(proto::valid_key_prefix("a b"));
    CHECK_FALSE(proto::valid_key_prefix("a\tb"));
    CHECK_FALSE(proto::valid_key_prefix(std::string("a\0b", 3)));
    CHECK_FALSE(proto::valid_key_prefix("a\x7f"));
    CHECK_FALSE(proto::valid_key_prefix("\xd0\xba")); // non-ASCII: isgraph() refuses it too
    CHECK_FALSE(proto::valid_key_prefix("x\r\n"));
}
