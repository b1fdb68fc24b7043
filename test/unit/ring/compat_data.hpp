#pragma once
// Loading the key-distribution vectors of test/data/compat (schema in its README.md).

#include <memcoro/ring/distribution.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace memcoro::ring::test {

/// `$MEMCORO_TEST_DATA/compat/<file>`; the test runner sets MEMCORO_TEST_DATA.
inline std::string compat_path(const std::string& file)
{
    const char* root = std::getenv("MEMCORO_TEST_DATA");
    if (root == nullptr || *root == '\0')
        throw std::runtime_error("MEMCORO_TEST_DATA is not set (run the test through meson)");
    return std::string(root) + "/compat/" + file;
}

inline nlohmann::json load_compat(const std::string& file)
{
    const std::string path = compat_path(file);
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot open " + path);
    return nlohmann::json::parse(in);
}

} // namespace memcoro::ring::test
