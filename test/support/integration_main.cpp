// Catch2 main for tests that need memcached: exit 77 (Meson: skipped) when there is none.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "memcached_process.hpp"

#include <cstdio>

int main(int argc, char* argv[])
{
    if (memcoro::test::memcached_binary().empty()) {
        std::fprintf(stderr, "memcached not found (set MEMCACHED_BINARY): skipping\n");
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
