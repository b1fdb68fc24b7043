// Runs the fuzz target over saved inputs, for builds without libFuzzer: every regular file in
// the directories (or the files) given as arguments. A broken invariant aborts, failing the test.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

bool read_file(const fs::path& p, std::vector<char>& out)
{
    std::ifstream in(p, std::ios::binary);
    if (!in)
        return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return !in.bad();
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg = argv[i];
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<fs::path> files;
            for (const auto& entry : fs::directory_iterator(arg, ec))
                if (entry.is_regular_file() && entry.path().filename().string().front() != '.')
                    files.push_back(entry.path());
            if (ec) {
                std::fprintf(stderr, "%s: %s\n", argv[i], ec.message().c_str());
                return 1;
            }
            std::sort(files.begin(), files.end());
            inputs.insert(inputs.end(), files.begin(), files.end());
        } else if (fs::is_regular_file(arg, ec)) {
            inputs.push_back(arg);
        } else {
            std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
            return 1;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "no inputs found\n");
        return 1;
    }
    std::size_t bytes = 0;
    for (const auto& p : inputs) {
        std::vector<char> content;
        if (!read_file(p, content)) {
            std::fprintf(stderr, "%s: cannot read\n", p.c_str());
            return 1;
        }
        std::printf("running %s (%zu bytes)\n", p.c_str(), content.size());
        std::fflush(stdout);
        // A buffer of the exact size, so that AddressSanitizer sees reads past the end.
        const std::vector<std::uint8_t> data(content.begin(), content.end());
        LLVMFuzzerTestOneInput(data.data(), data.size());
        bytes += content.size();
    }
    std::printf("ran %zu inputs (%zu bytes): no invariant broken\n", inputs.size(), bytes);
    return 0;
}
