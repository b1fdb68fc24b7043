// FastLZ, written from the format's description; no code of the reference implementation.
//
// A block is a sequence of instructions, each starting with a control byte `c`:
// - c >> 5 == 0: a literal run of (c & 31) + 1 bytes, which follow.
// - otherwise a match: copy L + 2 bytes from D bytes back in the output (the copy may overlap
//   its own output, which repeats the last D bytes), where L = c >> 5, and L == 7 is followed by
//   more length: one byte added at level 1; at level 2 bytes added up to and including the
//   first one that is not 255. Then one byte `d`: D = ((c & 31) << 8 | d) + 1. At level 2,
//   c & 31 == 31 with d == 255 instead announces a far match: D = 8192 + the next two bytes
//   (big-endian).
// The first instruction is always a literal run; the top 3 bits of its control byte hold the
// level less one (0 or 1) instead of the instruction type. Level 1 matches are at most 264 bytes
// long and 8192 back; level 2 matches are of any length, up to 8191 back near and 8192 + 65535
// far.

#include "fastlz.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace memcoro::value::detail {
namespace {

constexpr std::size_t max_literal_run = 32;
constexpr std::size_t level1_max_match = 264;
constexpr std::size_t level1_max_distance = 8192;
constexpr std::size_t level2_near_distance = 8191;
constexpr std::size_t level2_far_base = 8192;
// The compressor stays two short of the farthest distance the format can express.
constexpr std::size_t level2_max_distance = 65535 + level2_near_distance - 1;
// A far match costs four bytes or more: shorter ones are left as literals.
constexpr std::size_t level2_min_far_match = 5;
constexpr int hash_bits = 14;

std::uint32_t hash3(const unsigned char* p) noexcept
{
    const std::uint32_t v =
        std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16;
    return (v * 2654435761u) >> (32 - hash_bits);
}

class block_writer {
public:
    block_writer(std::string& out, int level)
        : out_(out)
        , level_(level)
    {
    }

    void literals(const char* p, std::size_t n)
    {
        while (n > 0) {
            const std::size_t k = std::min(n, max_literal_run);
            unsigned char c = static_cast<unsigned char>(k - 1);
            if (first_)
                c |= static_cast<unsigned char>((level_ - 1) << 5);
            first_ = false;
            out_.push_back(static_cast<char>(c));
            out_.append(p, k);
            p += k;
            n -= k;
        }
    }

    void match(std::size_t length, std::size_t distance)
    {
        const std::size_t len = length - 2;
        const bool far = level_ == 2 && distance > level2_near_distance;
        const std::size_t ofs = far ? distance - level2_far_base : distance - 1;
        const unsigned high = far ? 31u : static_cast<unsigned>(ofs >> 8);
        if (len < 7) {
            byte(static_cast<unsigned>(len) << 5 | high);
        } else {
            byte(7u << 5 | high);
            std::size_t rest = len - 7;
            if (level_ == 2) {
                for (; rest >= 255; rest -= 255)
                    byte(255);
            }
            byte(static_cast<unsigned>(rest));
        }
        if (far) {
            byte(255);
            byte(static_cast<unsigned>(ofs >> 8));
        }
        byte(static_cast<unsigned>(ofs & 255));
    }

private:
    void byte(unsigned b) { out_.push_back(static_cast<char>(static_cast<unsigned char>(b))); }

    std::string& out_;
    int level_;
    bool first_ = true;
};

} // namespace

void fastlz_compress(std::string_view in, int level, std::string& out)
{
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    const std::size_t max_distance = level == 1 ? level1_max_distance : level2_max_distance;
    const std::size_t max_match = level == 1 ? level1_max_match : n;
    // Positions plus one (0: empty) of the last 3-byte sequence seen with each hash.
    std::vector<std::uint32_t> table(std::size_t{1} << hash_bits, 0);
    block_writer w(out, level);
    std::size_t pending = 0; // start of the literals not yet written
    std::size_t i = 0;
    while (i + 3 <= n) {
        const std::uint32_t h = hash3(p + i);
        const std::size_t candidate = table[h];
        table[h] = static_cast<std::uint32_t>(i + 1);
        if (candidate != 0) {
            const std::size_t from = candidate - 1;
            const std::size_t distance = i - from;
            if (distance <= max_distance && std::memcmp(p + from, p + i, 3) == 0) {
                std::size_t length = 3;
                const std::size_t limit = std::min(max_match, n - i);
                while (length < limit && p[from + length] == p[i + length])
                    ++length;
                if (level == 1 || distance <= level2_near_distance ||
                    length >= level2_min_far_match) {
                    w.literals(in.data() + pending, i - pending);
                    w.match(length, distance);
                    for (std::size_t k = i + 1; k < i + length && k + 3 <= n; ++k)
                        table[hash3(p + k)] = static_cast<std::uint32_t>(k + 1);
                    i += length;
                    pending = i;
                    continue;
                }
            }
        }
        ++i;
    }
    w.literals(in.data() + pending, n - pending);
}

std::error_code fastlz_decompress(std::string_view in, bounded_output& out)
{
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    if (n == 0)
        return {};
    const unsigned level = (p[0] >> 5) + 1u;
    if (level != 1 && level != 2)
        return compression_errc::corrupt_data;
    std::size_t ip = 1;
    unsigned c = p[0] & 31u;
    for (;;) {
        if (c < 32) {
            const std::size_t run = c + 1;
            if (run > n - ip)
                return compression_errc::corrupt_data;
            if (!out.reserve(run))
                return out.over();
            std::memcpy(out.data() + out.produced(), p + ip, run);
            out.commit(run);
            ip += run;
        } else {
            std::size_t length = (c >> 5) + 2;
            std::size_t high = c & 31u;
            if (length == 9) {
                if (level == 1) {
                    if (ip == n)
                        return compression_errc::corrupt_data;
                    length += p[ip++];
                } else {
                    unsigned more = 255;
                    while (more == 255) {
                        if (ip == n)
                            return compression_errc::corrupt_data;
                        more = p[ip++];
                        length += more;
                    }
                }
            }
            if (ip == n)
                return compression_errc::corrupt_data;
            const unsigned low = p[ip++];
            std::size_t distance = (high << 8 | low) + 1;
            if (level == 2 && high == 31 && low == 255) {
                if (n - ip < 2)
                    return compression_errc::corrupt_data;
                distance = level2_far_base + (std::size_t{p[ip]} << 8 | p[ip + 1]);
                ip += 2;
            }
            if (distance > out.produced())
                return compression_errc::corrupt_data;
            if (!out.reserve(length))
                return out.over();
            char* o = out.data();
            std::size_t at = out.produced();
            const std::size_t from = at - distance;
            if (distance >= length) {
                std::memcpy(o + at, o + from, length);
            } else {
                for (std::size_t k = 0; k < length; ++k)
                    o[at + k] = o[from + k];
            }
            out.commit(length);
        }
        if (ip == n)
            return {};
        c = p[ip++];
    }
}

} // namespace memcoro::value::detail
