// libFuzzer target for scan_dir_events (detail/dir_events.hpp): what a batch of inotify events
// read from a directory's watch means for a server list's file, whatever bytes it holds.
//
// Input layout: byte 0 chooses the watch (-1, 1, 2 or 3, modulo 4); the rest is the batch.
//
// The scan must not read past the batch; a watch that ended is a change; without a watch no
// watch ends; and a batch means what its first whole event and the rest mean together (the
// events are independent). A broken invariant aborts.

#include <memcoro/detail/dir_events.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef __linux__
#include <sys/inotify.h>
#endif

namespace {

[[noreturn]] void broken(const char* what, int line)
{
    std::fprintf(stderr, "fuzz_dir_events.cpp:%d: invariant broken: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            broken(#cond, __LINE__);                                                               \
    } while (0)

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const int wd = data[0] % 4 == 0 ? -1 : data[0] % 4;
    // (A copy of its own, so that a read past the batch is seen by the sanitizers.)
    const std::string batch(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string name = "servers.json";
    const auto whole = memcoro::detail::scan_dir_events(batch.data(), batch.size(), wd, name);
    FUZZ_CHECK(!whole.watch_ended || whole.file_changed);
    if (wd < 0)
        FUZZ_CHECK(!whole.watch_ended);
#ifdef __linux__
    if (batch.size() >= sizeof(inotify_event)) {
        inotify_event ev;
        std::memcpy(&ev, batch.data(), sizeof ev);
        if (ev.len <= batch.size() - sizeof ev) {
            const std::size_t k = sizeof ev + ev.len;
            const std::string first = batch.substr(0, k), rest = batch.substr(k);
            const auto a = memcoro::detail::scan_dir_events(first.data(), first.size(), wd, name);
            const auto b = memcoro::detail::scan_dir_events(rest.data(), rest.size(), wd, name);
            FUZZ_CHECK(whole.file_changed == (a.file_changed || b.file_changed));
            FUZZ_CHECK(whole.watch_ended == (a.watch_ended || b.watch_ended));
        }
    }
#endif
    return 0;
}
