// Writes values compressed by memcoro in php-memcached's format, for
// test/data/php/check_memcoro_values.sh to store in memcached and read with php-memcached:
// <generator>.<codec>.bin, each the uncompressed length (4 bytes, little-endian) then the
// stream. Usage: write_php_values DIR

#include "php_vectors.hpp"

#include <memcoro/value/compression.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

bool write(const std::string& path, const std::string& data)
{
    std::ofstream out(path, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return static_cast<bool>(out);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    using memcoro::value::codec;
    struct variant {
        const char* name;
        codec c;
        int level;
    };
    const variant variants[] = {
        {"fastlz1", codec::fastlz, 1},
        {"fastlz2", codec::fastlz, 2},
        {"zlib", codec::zlib, memcoro::value::default_level},
    };
    int written = 0;
    for (const char* gen : {"text", "words", "run", "far_repeat", "long_run", "period_8191",
                            "period_8192", "period_73725"}) {
        const std::string original = memcoro::test::php::generate(gen);
        for (const auto& v : variants) {
            const auto n = static_cast<std::uint32_t>(original.size());
            std::string data{static_cast<char>(n & 0xFF), static_cast<char>(n >> 8 & 0xFF),
                             static_cast<char>(n >> 16 & 0xFF), static_cast<char>(n >> 24)};
            if (memcoro::value::compress(v.c, original, data, v.level)) {
                std::fprintf(stderr, "cannot compress %s with %s\n", gen, v.name);
                return 1;
            }
            const std::string path = std::string(argv[1]) + "/" + gen + "." + v.name + ".bin";
            if (!write(path, data)) {
                std::fprintf(stderr, "cannot write %s\n", path.c_str());
                return 1;
            }
            ++written;
        }
    }
    std::printf("%d values written\n", written);
    return 0;
}
