// MD5 as defined by RFC 1321. Written here rather than taken from a crypto library because the
// ring layer must not depend on anything, and ketama needs nothing more than a plain digest.

#include <memcoro/ring/hash.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#if defined(__GNUC__)
// The step functions below also take vectors of 8 lanes by value. They are always inlined into
// functions built for AVX2, so no such vector crosses a call; compilers warn about the ABI anyway.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace memcoro::ring {
namespace {

// T[i] = floor(abs(sin(i + 1)) * 2^32) (RFC 1321, 3.4).
constexpr std::array<std::uint32_t, 64> sine_table = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

// The step functions are templates over the word type: `std::uint32_t` for one message, a
// vector of 32-bit lanes (GCC/Clang vector extensions) for several messages at once.
template <unsigned N, class W>
[[gnu::always_inline]] inline W rotl(W x) noexcept
{
    return (x << N) | (x >> (32 - N));
}

// The four auxiliary functions (RFC 1321, 3.4), in forms with fewer operations.
template <class W>
[[gnu::always_inline]] inline W f_fn(W x, W y, W z) noexcept
{
    return z ^ (x & (y ^ z)); // XY v not(X) Z
}
template <class W>
[[gnu::always_inline]] inline W g_fn(W x, W y, W z) noexcept
{
    return y ^ (z & (x ^ y)); // XZ v Y not(Z)
}
template <class W>
[[gnu::always_inline]] inline W h_fn(W x, W y, W z) noexcept
{
    return x ^ y ^ z;
}
template <class W>
[[gnu::always_inline]] inline W i_fn(W x, W y, W z) noexcept
{
    return y ^ (x | ~z);
}

std::uint32_t load_le32(const unsigned char* p) noexcept
{
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) |
           (std::uint32_t{p[3]} << 24);
}

void store_le32(std::uint32_t v, unsigned char* p) noexcept
{
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
    p[2] = static_cast<unsigned char>(v >> 16);
    p[3] = static_cast<unsigned char>(v >> 24);
}

/// The 64 steps of one block over (a, b, c, d), each with its message word `x[k]`, sine
/// constant and rotation as constants. The caller adds the result to the previous state.
template <class W>
[[gnu::always_inline]] inline void rounds(W& a, W& b, W& c, W& d, const W* x) noexcept
{
#define MEMCORO_MD5_STEP(fn, w, xx, yy, zz, k, t, r)                                               \
    w = xx + rotl<r>(W(w + fn(xx, yy, zz) + x[k] + sine_table[t]))

    // Round 1: word i, shifts 7 12 17 22.
    MEMCORO_MD5_STEP(f_fn, a, b, c, d, 0, 0, 7);
    MEMCORO_MD5_STEP(f_fn, d, a, b, c, 1, 1, 12);
    MEMCORO_MD5_STEP(f_fn, c, d, a, b, 2, 2, 17);
    MEMCORO_MD5_STEP(f_fn, b, c, d, a, 3, 3, 22);
    MEMCORO_MD5_STEP(f_fn, a, b, c, d, 4, 4, 7);
    MEMCORO_MD5_STEP(f_fn, d, a, b, c, 5, 5, 12);
    MEMCORO_MD5_STEP(f_fn, c, d, a, b, 6, 6, 17);
    MEMCORO_MD5_STEP(f_fn, b, c, d, a, 7, 7, 22);
    MEMCORO_MD5_STEP(f_fn, a, b, c, d, 8, 8, 7);
    MEMCORO_MD5_STEP(f_fn, d, a, b, c, 9, 9, 12);
    MEMCORO_MD5_STEP(f_fn, c, d, a, b, 10, 10, 17);
    MEMCORO_MD5_STEP(f_fn, b, c, d, a, 11, 11, 22);
    MEMCORO_MD5_STEP(f_fn, a, b, c, d, 12, 12, 7);
    MEMCORO_MD5_STEP(f_fn, d, a, b, c, 13, 13, 12);
    MEMCORO_MD5_STEP(f_fn, c, d, a, b, 14, 14, 17);
    MEMCORO_MD5_STEP(f_fn, b, c, d, a, 15, 15, 22);
    // Round 2: word (5i + 1) mod 16, shifts 5 9 14 20.
    MEMCORO_MD5_STEP(g_fn, a, b, c, d, 1, 16, 5);
    MEMCORO_MD5_STEP(g_fn, d, a, b, c, 6, 17, 9);
    MEMCORO_MD5_STEP(g_fn, c, d, a, b, 11, 18, 14);
    MEMCORO_MD5_STEP(g_fn, b, c, d, a, 0, 19, 20);
    MEMCORO_MD5_STEP(g_fn, a, b, c, d, 5, 20, 5);
    MEMCORO_MD5_STEP(g_fn, d, a, b, c, 10, 21, 9);
    MEMCORO_MD5_STEP(g_fn, c, d, a, b, 15, 22, 14);
    MEMCORO_MD5_STEP(g_fn, b, c, d, a, 4, 23, 20);
    MEMCORO_MD5_STEP(g_fn, a, b, c, d, 9, 24, 5);
    MEMCORO_MD5_STEP(g_fn, d, a, b, c, 14, 25, 9);
    MEMCORO_MD5_STEP(g_fn, c, d, a, b, 3, 26, 14);
    MEMCORO_MD5_STEP(g_fn, b, c, d, a, 8, 27, 20);
    MEMCORO_MD5_STEP(g_fn, a, b, c, d, 13, 28, 5);
    MEMCORO_MD5_STEP(g_fn, d, a, b, c, 2, 29, 9);
    MEMCORO_MD5_STEP(g_fn, c, d, a, b, 7, 30, 14);
    MEMCORO_MD5_STEP(g_fn, b, c, d, a, 12, 31, 20);
    // Round 3: word (3i + 5) mod 16, shifts 4 11 16 23.
    MEMCORO_MD5_STEP(h_fn, a, b, c, d, 5, 32, 4);
    MEMCORO_MD5_STEP(h_fn, d, a, b, c, 8, 33, 11);
    MEMCORO_MD5_STEP(h_fn, c, d, a, b, 11, 34, 16);
    MEMCORO_MD5_STEP(h_fn, b, c, d, a, 14, 35, 23);
    MEMCORO_MD5_STEP(h_fn, a, b, c, d, 1, 36, 4);
    MEMCORO_MD5_STEP(h_fn, d, a, b, c, 4, 37, 11);
    MEMCORO_MD5_STEP(h_fn, c, d, a, b, 7, 38, 16);
    MEMCORO_MD5_STEP(h_fn, b, c, d, a, 10, 39, 23);
    MEMCORO_MD5_STEP(h_fn, a, b, c, d, 13, 40, 4);
    MEMCORO_MD5_STEP(h_fn, d, a, b, c, 0, 41, 11);
    MEMCORO_MD5_STEP(h_fn, c, d, a, b, 3, 42, 16);
    MEMCORO_MD5_STEP(h_fn, b, c, d, a, 6, 43, 23);
    MEMCORO_MD5_STEP(h_fn, a, b, c, d, 9, 44, 4);
    MEMCORO_MD5_STEP(h_fn, d, a, b, c, 12, 45, 11);
    MEMCORO_MD5_STEP(h_fn, c, d, a, b, 15, 46, 16);
    MEMCORO_MD5_STEP(h_fn, b, c, d, a, 2, 47, 23);
    // Round 4: word 7i mod 16, shifts 6 10 15 21.
    MEMCORO_MD5_STEP(i_fn, a, b, c, d, 0, 48, 6);
    MEMCORO_MD5_STEP(i_fn, d, a, b, c, 7, 49, 10);
    MEMCORO_MD5_STEP(i_fn, c, d, a, b, 14, 50, 15);
    MEMCORO_MD5_STEP(i_fn, b, c, d, a, 5, 51, 21);
    MEMCORO_MD5_STEP(i_fn, a, b, c, d, 12, 52, 6);
    MEMCORO_MD5_STEP(i_fn, d, a, b, c, 3, 53, 10);
    MEMCORO_MD5_STEP(i_fn, c, d, a, b, 10, 54, 15);
    MEMCORO_MD5_STEP(i_fn, b, c, d, a, 1, 55, 21);
    MEMCORO_MD5_STEP(i_fn, a, b, c, d, 8, 56, 6);
    MEMCORO_MD5_STEP(i_fn, d, a, b, c, 15, 57, 10);
    MEMCORO_MD5_STEP(i_fn, c, d, a, b, 6, 58, 15);
    MEMCORO_MD5_STEP(i_fn, b, c, d, a, 13, 59, 21);
    MEMCORO_MD5_STEP(i_fn, a, b, c, d, 4, 60, 6);
    MEMCORO_MD5_STEP(i_fn, d, a, b, c, 11, 61, 10);
    MEMCORO_MD5_STEP(i_fn, c, d, a, b, 2, 62, 15);
    MEMCORO_MD5_STEP(i_fn, b, c, d, a, 9, 63, 21);
#undef MEMCORO_MD5_STEP
}

/// Processes one 64-byte block into the state.
void transform(std::array<std::uint32_t, 4>& state, const unsigned char* block) noexcept
{
    std::uint32_t x[16];
    for (std::size_t i = 0; i < 16; ++i)
        x[i] = load_le32(block + 4 * i);
    std::uint32_t a = state[0];
    std::uint32_t b = state[1];
    std::uint32_t c = state[2];
    std::uint32_t d = state[3];
    rounds(a, b, c, d, x);
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

/// The largest key that fits one block with its padding: 55 bytes, the 0x80 byte and the
/// 8-byte length.
constexpr std::size_t one_block_max = 55;

/// Lays out the padded single block of each of `L` messages word by word: `w[k][lane]` is
/// word k of that lane's block (RFC 1321, 3.1-3.2: the message, 0x80, zeros, the bit length).
template <std::size_t L>
struct lane_blocks {
    alignas(32) std::uint32_t w[16][L];

    void clear() noexcept { std::memset(w, 0, sizeof w); }

    void put(std::size_t lane, std::string_view data) noexcept
    {
        const auto* p = reinterpret_cast<const unsigned char*>(data.data());
        const std::size_t n = data.size();
        std::size_t k = 0;
        for (; 4 * k + 4 <= n; ++k)
            w[k][lane] = load_le32(p + 4 * k);
        const std::size_t rest = n - 4 * k;
        std::uint32_t last = std::uint32_t{0x80} << (8 * rest);
        for (std::size_t j = 0; j < rest; ++j)
            last |= std::uint32_t{p[4 * k + j]} << (8 * j);
        w[k][lane] = last;
        w[14][lane] = static_cast<std::uint32_t>(n * 8);
    }
};

/// The first digest word of each lane's single-block message, `V` holding one word of each of
/// the `L` lanes (`std::uint32_t` for one lane): the four-word state is only needed for the
/// first word, so the compiler drops the steps that do not feed it.
template <class V, std::size_t L>
[[gnu::always_inline]] inline void first_words(const lane_blocks<L>& blocks,
                                               std::uint32_t* out) noexcept
{
    static_assert(sizeof(V) == L * sizeof(std::uint32_t));
    V x[16];
    for (std::size_t k = 0; k < 16; ++k)
        std::memcpy(&x[k], blocks.w[k], sizeof(V));
    V a = V{} + 0x67452301u;
    V b = V{} + 0xefcdab89u;
    V c = V{} + 0x98badcfeu;
    V d = V{} + 0x10325476u;
    rounds(a, b, c, d, x);
    a += 0x67452301u;
    std::memcpy(out, &a, sizeof(V));
}

#if defined(__GNUC__)
#define MEMCORO_MD5_LANES 1
// Vectors of 32-bit lanes; only ever used inside this file's inlined functions.
using lanes4 = std::uint32_t __attribute__((vector_size(16)));
using lanes8 = std::uint32_t __attribute__((vector_size(32)));

void first_words4(const lane_blocks<4>& blocks, std::uint32_t* out) noexcept
{
    first_words<lanes4>(blocks, out);
}

#if defined(__x86_64__) || defined(__i386__)
#define MEMCORO_MD5_AVX2 1
__attribute__((target("avx2"))) void first_words8(const lane_blocks<8>& blocks,
                                                  std::uint32_t* out) noexcept
{
    first_words<lanes8>(blocks, out);
}

bool have_avx2() noexcept
{
    static const bool yes = __builtin_cpu_supports("avx2") != 0;
    return yes;
}
#endif

/// Hashes the keys `L` at a time: keys that fit one block go into lanes, longer ones are
/// hashed alone. `key(i)` gives key i.
template <std::size_t L, class Key, class Run>
void first_words_batched(std::size_t count, Key&& key, std::uint32_t* out, Run&& run)
{
    lane_blocks<L> blocks;
    std::size_t lane_of[L];
    std::uint32_t words[L];
    std::size_t used = 0;
    blocks.clear();
    for (std::size_t i = 0; i < count; ++i) {
        const std::string_view k = key(i);
        if (k.size() > one_block_max) {
            out[i] = md5_first_word(k);
            continue;
        }
        blocks.put(used, k);
        lane_of[used++] = i;
        if (used == L) {
            run(blocks, words);
            for (std::size_t l = 0; l < L; ++l)
                out[lane_of[l]] = words[l];
            used = 0;
            blocks.clear();
        }
    }
    if (used != 0) { // the last lanes hash empty blocks, whose results are dropped
        run(blocks, words);
        for (std::size_t l = 0; l < used; ++l)
            out[lane_of[l]] = words[l];
    }
}
#endif

template <class Key>
void first_words_of(std::size_t count, Key&& key, std::uint32_t* out, unsigned lanes = 8) noexcept
{
#if defined(MEMCORO_MD5_LANES)
    if (count >= 2 && lanes > 1) {
#if defined(MEMCORO_MD5_AVX2)
        if (lanes >= 8 && have_avx2()) {
            first_words_batched<8>(count, key, out, first_words8);
            return;
        }
#endif
        first_words_batched<4>(count, key, out, first_words4);
        return;
    }
#else
    (void)lanes;
#endif
    for (std::size_t i = 0; i < count; ++i)
        out[i] = md5_first_word(key(i));
}

} // namespace

void md5_first_words(std::span<const std::string> keys, std::uint32_t* out) noexcept
{
    first_words_of(
        keys.size(), [&](std::size_t i) { return std::string_view(keys[i]); }, out);
}

void md5_first_words(std::span<const std::string_view> keys, std::uint32_t* out) noexcept
{
    first_words_of(
        keys.size(), [&](std::size_t i) { return keys[i]; }, out);
}

std::uint32_t md5_first_word(std::string_view data) noexcept
{
    if (data.size() > one_block_max) {
        unsigned char digest[16];
        md5(data, digest);
        return load_le32(digest);
    }
    // A short message is padded in place and takes only the steps that feed the first word.
    lane_blocks<1> block;
    block.clear();
    block.put(0, data);
    std::uint32_t word;
    first_words<std::uint32_t>(block, &word);
    return word;
}

void detail::md5_first_words(std::span<const std::string_view> keys, std::uint32_t* out,
                             unsigned lanes) noexcept
{
    first_words_of(
        keys.size(), [&](std::size_t i) { return keys[i]; }, out, lanes);
}

void md5(std::string_view data, unsigned char out[16]) noexcept
{
    std::array<std::uint32_t, 4> state = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t left = data.size();
    while (left >= 64) {
        transform(state, bytes);
        bytes += 64;
        left -= 64;
    }

    // Padding (RFC 1321, 3.1-3.2): 0x80, zeros up to 56 mod 64, then the bit length as 64-bit LE.
    // (Only the bytes used are written: keys are short, and clearing 128 bytes per key showed.)
    std::array<unsigned char, 128> tail;
    const std::size_t tail_size = left < 56 ? 64 : 128;
    if (left != 0)
        std::memcpy(tail.data(), bytes, left);
    tail[left] = 0x80;
    std::memset(tail.data() + left + 1, 0, tail_size - 8 - left - 1);
    const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
    for (std::size_t i = 0; i < 8; ++i)
        tail[tail_size - 8 + i] = static_cast<unsigned char>(bits >> (8 * i));
    transform(state, tail.data());
    if (tail_size == 128)
        transform(state, tail.data() + 64);

    for (std::size_t i = 0; i < 4; ++i)
        store_le32(state[i], out + 4 * i);
}

md5_digest md5(std::string_view data) noexcept
{
    md5_digest digest{};
    md5(data, digest.data());
    return digest;
}

} // namespace memcoro::ring
