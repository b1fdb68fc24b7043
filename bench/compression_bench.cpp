// The cost of compressing values, per codec and size: what a value write (value::encode, as
// client::async_set_value calls it) and a value read (value::decode) spend in CPU per
// operation, the compressed size and the bytes on the wire a compressed value saves. No
// server: the codecs alone, in this process (docs/performance.md, "Compression").
//
//   compression_bench [--seconds S] [--json]
//
// Two kinds of data per size: text (JSON records, as a cache of rendered objects holds) and
// random bytes (nothing to gain: the price of trying). Each cell runs for about S seconds of
// CPU time (0.3 by default), measured with the process's CPU clock.

#include <memcoro/value/compression.hpp>
#include <memcoro/value/format.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using memcoro::value::codec;

double cpu_seconds()
{
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string text_data(std::size_t n)
{
    std::mt19937 gen(42);
    static const char* const names[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    static const char* const cities[] = {"Lisbon", "Osaka", "Lyon", "Austin", "Tartu"};
    std::string s = "[";
    for (int i = 0; s.size() < n; ++i) {
        s += "{\"id\":" + std::to_string(100000 + gen() % 900000) + ",\"name\":\"" +
             names[gen() % 6] + "\",\"city\":\"" + cities[gen() % 5] +
             "\",\"score\":" + std::to_string(gen() % 10000) +
             ",\"active\":" + (gen() % 2 ? "true" : "false") + "},";
    }
    s.resize(n);
    return s;
}

std::string random_bytes(std::size_t n)
{
    std::mt19937_64 gen(7);
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(gen());
    return s;
}

struct cell {
    double encode_us = 0;
    double decode_us = 0;
    std::size_t stored = 0;
    bool compressed = false;
};

cell measure(codec c, const std::string& data, double seconds)
{
    memcoro::value::compression_policy p;
    p.algorithm = c;
    p.threshold = 0;
    p.min_savings = 0;
    const auto f = memcoro::value::value_format::memcoro;
    std::string stored;
    std::uint32_t flags = 0;
    cell r;
    long n = 0;
    const double t0 = cpu_seconds();
    double t = t0;
    do {
        stored.clear();
        if (memcoro::value::encode(f, memcoro::value::value_type::bytes, data, p, stored, flags)) {
            std::fprintf(stderr, "encode failed\n");
            std::exit(1);
        }
        ++n;
        if ((n & 7) == 0)
            t = cpu_seconds();
    } while (t - t0 < seconds);
    r.encode_us = (cpu_seconds() - t0) / static_cast<double>(n) * 1e6;
    r.stored = stored.size();
    memcoro::value::value_info info;
    r.compressed = false;
    std::string out;
    n = 0;
    const double d0 = cpu_seconds();
    t = d0;
    do {
        out.clear();
        if (memcoro::value::decode(f, flags, stored, data.size(), out, info) || out != data) {
            std::fprintf(stderr, "decode failed\n");
            std::exit(1);
        }
        ++n;
        if ((n & 7) == 0)
            t = cpu_seconds();
    } while (t - d0 < seconds);
    r.decode_us = (cpu_seconds() - d0) / static_cast<double>(n) * 1e6;
    r.compressed = info.compressed_with != codec::none;
    return r;
}

} // namespace

int main(int argc, char** argv)
{
    double seconds = 0.3;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--seconds" && i + 1 < argc)
            seconds = std::atof(argv[++i]);
        else if (a == "--json")
            json = true;
        else {
            std::fprintf(stderr, "usage: compression_bench [--seconds S] [--json]\n");
            return 2;
        }
    }
    const std::size_t sizes[] = {1024, 100 * 1024, 1024 * 1024};
    const codec codecs[] = {codec::none, codec::zlib, codec::fastlz, codec::zstd, codec::lz4};
    if (!json)
        std::printf("| data | size | codec | stored bytes | ratio | saved on the wire | "
                    "encode µs/op | decode µs/op |\n|---|---|---|---|---|---|---|---|\n");
    for (const char* kind : {"text", "random"}) {
        for (const auto size : sizes) {
            const std::string data =
                std::string_view(kind) == "text" ? text_data(size) : random_bytes(size);
            for (const auto c : codecs) {
                if (!memcoro::value::codec_available(c))
                    continue;
                const auto r = measure(c, data, seconds);
                const double ratio = static_cast<double>(size) / static_cast<double>(r.stored);
                const long saved = static_cast<long>(size) - static_cast<long>(r.stored);
                const auto name = memcoro::value::codec_name(c);
                if (json)
                    std::printf("{\"data\":\"%s\",\"size\":%zu,\"codec\":\"%.*s\",\"stored\":%zu,"
                                "\"compressed\":%s,\"encode_us\":%.2f,\"decode_us\":%.2f}\n",
                                kind, size, static_cast<int>(name.size()), name.data(), r.stored,
                                r.compressed ? "true" : "false", r.encode_us, r.decode_us);
                else
                    std::printf("| %s | %zu | %.*s%s | %zu | %.2f | %ld | %.1f | %.1f |\n", kind,
                                size, static_cast<int>(name.size()), name.data(),
                                c != codec::none && !r.compressed ? " (kept plain)" : "", r.stored,
                                ratio, saved, r.encode_us, r.decode_us);
            }
        }
    }
    return 0;
}
