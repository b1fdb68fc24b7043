// Distribution and hash names: memcoro's own and the other clients' spellings of the same
// settings. Every row of the two tables in docs/distributions.md ("Other clients' settings, in
// memcoro's names") is parsed here, so the documentation promises nothing the parser does not do.

#include <memcoro/ring/distribution.hpp>
#include <memcoro/ring/hash.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using memcoro::ring::distribution_kind;
using memcoro::ring::distribution_spec;
using memcoro::ring::hash_kind;
using memcoro::ring::parse_distribution;
using memcoro::ring::parse_hash;

std::string read_docs(const std::string& file)
{
    const char* root = std::getenv("MEMCORO_DOCS");
    if (root == nullptr || *root == '\0')
        throw std::runtime_error("MEMCORO_DOCS is not set (run the test through meson)");
    std::ifstream in(std::string(root) + "/" + file, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open docs/" + file);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// The cells of a Markdown table row `| a | b | c |`, trimmed.
std::vector<std::string> cells(const std::string& row)
{
    std::vector<std::string> out;
    std::size_t at = row.find('|');
    while (at != std::string::npos) {
        const std::size_t next = row.find('|', at + 1);
        if (next == std::string::npos)
            break;
        std::string cell = row.substr(at + 1, next - at - 1);
        cell.erase(0, cell.find_first_not_of(' '));
        cell.erase(cell.find_last_not_of(' ') + 1);
        out.push_back(cell);
        at = next;
    }
    return out;
}

/// The `code spans` of a cell.
std::vector<std::string> code_spans(const std::string& cell)
{
    std::vector<std::string> out;
    std::size_t at = cell.find('`');
    while (at != std::string::npos) {
        const std::size_t end = cell.find('`', at + 1);
        if (end == std::string::npos)
            break;
        out.push_back(cell.substr(at + 1, end - at - 1));
        at = cell.find('`', end + 1);
    }
    return out;
}

/// The rows of the table whose header row is exactly `header`.
std::vector<std::vector<std::string>> table(const std::string& doc, const std::string& header)
{
    const std::size_t at = doc.find("\n" + header + "\n");
    if (at == std::string::npos)
        throw std::runtime_error("no table '" + header + "' in the document");
    std::istringstream lines(doc.substr(at + header.size() + 2));
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::getline(lines, line); // | --- | --- |
    while (std::getline(lines, line) && line.starts_with("|"))
        rows.push_back(cells(line));
    return rows;
}

/// `name` with its letters' case swapped: the names are case-insensitive.
std::string swap_case(std::string name)
{
    for (char& c : name) {
        if (c >= 'a' && c <= 'z')
            c = static_cast<char>(c - 'a' + 'A');
        else if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    }
    return name;
}

/// A cell naming a distribution or hash: "`ketama`", or "none".
std::optional<std::string> named(const std::string& cell)
{
    if (cell == "none")
        return std::nullopt;
    const auto spans = code_spans(cell);
    REQUIRE(spans.size() == 1);
    return spans.front();
}

} // namespace

TEST_CASE("every distribution spelling of docs/distributions.md parses as the table says",
          "[ring][names]")
{
    const auto rows = table(read_docs("distributions.md"),
                            "| client | its setting | give memcoro | distribution | key hash |");
    REQUIRE(rows.size() >= 15);
    std::size_t spellings = 0;
    for (const auto& row : rows) {
        REQUIRE(row.size() == 5);
        INFO(row[0] << " | " << row[1]);
        const auto distribution = named(row[3]);
        const auto hash = named(row[4]);
        REQUIRE(distribution.has_value() == hash.has_value());
        std::optional<distribution_spec> want;
        if (distribution) {
            // The table's own names are memcoro's canonical ones.
            const auto d = parse_distribution(*distribution);
            REQUIRE(d);
            REQUIRE(std::string(to_string(d->distribution)) == *distribution);
            const auto h = parse_hash(*hash);
            REQUIRE(h);
            REQUIRE(std::string(to_string(*h)) == *hash);
            want = distribution_spec{d->distribution, *h};
        }
        for (const std::string& spelling : code_spans(row[2])) {
            INFO("give memcoro: " << spelling);
            CHECK(parse_distribution(spelling) == want);
            CHECK(parse_distribution(swap_case(spelling)) == want);
            ++spellings;
        }
    }
    CHECK(spellings >= 30);
}

TEST_CASE("every hash spelling of docs/distributions.md parses as the table says", "[ring][names]")
{
    const auto rows =
        table(read_docs("distributions.md"), "| client | its setting | give memcoro | key hash |");
    REQUIRE(rows.size() >= 20);
    for (const auto& row : rows) {
        REQUIRE(row.size() == 4);
        INFO(row[0] << " | " << row[1]);
        const auto hash = named(row[3]);
        std::optional<hash_kind> want;
        if (hash) {
            want = parse_hash(*hash);
            REQUIRE(want);
            REQUIRE(std::string(to_string(*want)) == *hash);
        }
        for (const std::string& spelling : code_spans(row[2])) {
            INFO("give memcoro: " << spelling);
            CHECK(parse_hash(spelling) == want);
            CHECK(parse_hash(swap_case(spelling)) == want);
        }
    }
}

TEST_CASE("memcoro's own distribution names parse to themselves and their default hash",
          "[ring][names]")
{
    for (distribution_kind kind : memcoro::ring::all_distribution_kinds) {
        INFO(to_string(kind));
        const distribution_spec want{kind, memcoro::ring::default_hash(kind)};
        CHECK(parse_distribution(to_string(kind)) == want);
        std::string underscored = to_string(kind);
        for (char& c : underscored)
            if (c == '-')
                c = '_';
        CHECK(parse_distribution(underscored) == want);
        CHECK(parse_distribution(swap_case(underscored)) == want);
    }
    for (hash_kind kind : memcoro::ring::all_hash_kinds) {
        INFO(to_string(kind));
        CHECK(parse_hash(to_string(kind)) == kind);
        CHECK(parse_hash(swap_case(to_string(kind))) == kind);
    }
}

TEST_CASE("ketama and CONSISTENT_KETAMA are different rings", "[ring][names]")
{
    // The trap: libmemcached's CONSISTENT_KETAMA (and MEMCACHED_BEHAVIOR_KETAMA, which sets it)
    // is memcoro's consistent; memcoro's ketama is libmemcached's KETAMA_WEIGHTED.
    const distribution_spec consistent{distribution_kind::consistent, hash_kind::one_at_a_time};
    const distribution_spec ketama{distribution_kind::ketama, hash_kind::md5};
    CHECK(parse_distribution("ketama") == ketama);
    CHECK(parse_distribution("KETAMA") == ketama);
    CHECK(parse_distribution("consistent_ketama") == consistent);
    CHECK(parse_distribution("consistent-ketama") == consistent);
    CHECK(parse_distribution("CONSISTENT_KETAMA") == consistent);
    CHECK(parse_distribution("MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA") == consistent);
    CHECK(parse_distribution("memcached_distribution_consistent_ketama") == consistent);
    CHECK(parse_distribution("MEMCACHED_BEHAVIOR_KETAMA") == consistent);
    CHECK(parse_distribution("MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED") == ketama);
    CHECK(parse_distribution("ketama_weighted") == ketama);
    CHECK(parse_distribution("Memcached::OPT_LIBKETAMA_COMPATIBLE") == ketama);
    // Weighted points, but the key hash libmemcached had: one-at-a-time by default.
    CHECK(parse_distribution("MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED") ==
          distribution_spec{distribution_kind::ketama, hash_kind::one_at_a_time});
}

TEST_CASE("spellings that name nothing memcoro does are refused", "[ring][names]")
{
    for (const char* name :
         {"", "random", "MEMCACHED_DISTRIBUTION_RANDOM", "MEMCACHED_DISTRIBUTION_VIRTUAL_BUCKET",
          "Memcached::DISTRIBUTION_VIRTUAL_BUCKET", "DISTRIBUTION_RANDOM",
          // There is no such constant: a prefix only goes with libmemcached's own names.
          "MEMCACHED_DISTRIBUTION_KETAMA", "MEMCACHED_DISTRIBUTION_PECL_CONSISTENT",
          "BEHAVIOR_KETAMA", "Memcached::OPT_DISTRIBUTION", "ketama ", " ketama", "ketama\n",
          "consistent-ketama-spy-and-more-than-sixty-four-characters-of-name-in-total"}) {
        INFO("'" << name << "'");
        CHECK_FALSE(parse_distribution(name).has_value());
    }
    for (const char* name : {"", "MEMCACHED_HASH_CUSTOM", "crc16", "sha1", "md5 ",
                             "MEMCACHED_HASH_CRC32A", "HASH_FNV", "MEMCACHED_HASH_ONE_AT_A_TIME"}) {
        INFO("'" << name << "'");
        CHECK_FALSE(parse_hash(name).has_value());
    }
}

TEST_CASE("hash spellings that mean different hashes in different clients", "[ring][names]")
{
    // crc32 is the full CRC-32 (memcoro's, PECL memcache's); twemproxy's crc32 is libmemcached's
    // 15-bit CRC, memcoro's crc, and twemproxy's crc32a is the full one.
    CHECK(parse_hash("crc32") == hash_kind::crc32);
    CHECK(parse_hash("crc32a") == hash_kind::crc32);
    CHECK(parse_hash("crc") == hash_kind::crc);
    CHECK(parse_hash("MEMCACHED_HASH_CRC") == hash_kind::crc);
    CHECK(parse_hash("Memcached::HASH_CRC") == hash_kind::crc);
    CHECK(parse_hash("fnv") == hash_kind::fnv1a_32);
    CHECK(parse_hash("DEFAULT") == hash_kind::one_at_a_time);
    CHECK(parse_hash("one_at_a_time") == hash_kind::one_at_a_time);
    CHECK(parse_hash("One-At-A-Time") == hash_kind::one_at_a_time);
}
