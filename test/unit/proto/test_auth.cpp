// memcached's ASCII authentication: the request, and its reply read as the bytes arrive.
#include <catch2/catch.hpp>

#include <memcoro/proto/auth.hpp>

#include <string>

using memcoro::proto::auth_outcome;
using memcoro::proto::parse_auth_reply;

TEST_CASE("auth: the request is a set whose key no plain server accepts")
{
    const std::string r = memcoro::proto::encode_auth({"alice", "s3cret"});
    const std::string key(memcoro::proto::auth_key_length, 'a');
    CHECK(r == "set " + key + " 0 0 12\r\nalice s3cret\r\n");
    CHECK(key.size() > 250); // memcached's key limit
}

TEST_CASE("auth: replies, whole and in pieces")
{
    auto ok = parse_auth_reply("STORED\r\n");
    CHECK(ok.outcome == auth_outcome::accepted);
    CHECK(ok.size == 8);

    auto no = parse_auth_reply("CLIENT_ERROR authentication failure\r\n");
    CHECK(no.outcome == auth_outcome::refused);
    CHECK(no.message == "authentication failure");
    CHECK(parse_auth_reply("ERROR\r\n").outcome == auth_outcome::refused);
    CHECK(parse_auth_reply("SERVER_ERROR out of memory\r\n").message == "out of memory");

    // Every prefix of a reply is incomplete, never a verdict.
    const std::string whole = "CLIENT_ERROR authentication failure\r\n";
    for (std::size_t n = 0; n < whole.size(); ++n)
        CHECK(parse_auth_reply(whole.substr(0, n)).outcome == auth_outcome::incomplete);

    // Anything else is malformed: another reply, a bare newline, a line without end.
    CHECK(parse_auth_reply("VALUE k 0 1\r\n").outcome == auth_outcome::malformed);
    CHECK(parse_auth_reply("STORED\n").outcome == auth_outcome::malformed);
    CHECK(parse_auth_reply("\n").outcome == auth_outcome::malformed);
    CHECK(parse_auth_reply("ERRORS\r\n").outcome == auth_outcome::malformed);
    CHECK(parse_auth_reply(std::string(memcoro::proto::max_auth_reply + 1, 'x')).outcome ==
          auth_outcome::malformed);
    CHECK(parse_auth_reply(std::string(memcoro::proto::max_auth_reply, 'x')).outcome ==
          auth_outcome::incomplete);
    // Bytes after the line are the caller's to judge: the reply's size says where it ended.
    CHECK(parse_auth_reply("STORED\r\nEND\r\n").size == 8);
}
