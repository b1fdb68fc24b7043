// What a batch of inotify events means for the file a server list source watches
// (scan_dir_events): the file's own events, other names, other watches, a lost queue, a watch
// that ended, and batches cut short at every byte.

#include <catch2/catch.hpp>

#include <memcoro/detail/dir_events.hpp>

#ifdef __linux__

#include <sys/inotify.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

using memcoro::detail::scan_dir_events;

namespace {

constexpr int wd = 3;
const std::string file = "servers.json";

/// One event as the kernel writes it: its header, then its name padded with NULs to `len`.
std::string event(int w, std::uint32_t mask, const std::string& name = "", std::uint32_t len = 0)
{
    inotify_event ev{};
    ev.wd = w;
    ev.mask = mask;
    ev.len = name.empty() ? len : std::max<std::uint32_t>(len, name.size() + 1);
    std::string out(sizeof ev, '\0');
    std::memcpy(out.data(), &ev, sizeof ev);
    std::string n = name;
    n.resize(ev.len, '\0');
    return out + n;
}

memcoro::detail::dir_events scan(const std::string& batch, int w = wd)
{
    return scan_dir_events(batch.data(), batch.size(), w, file);
}

} // namespace

TEST_CASE("dir events: each change of the file's own name is a change")
{
    for (const std::uint32_t mask :
         {IN_CLOSE_WRITE, IN_MOVED_TO, IN_MOVED_FROM, IN_CREATE, IN_DELETE}) {
        const auto r = scan(event(wd, mask, file, 32)); // (padded, as the kernel does)
        CHECK(r.file_changed);
        CHECK_FALSE(r.watch_ended);
    }
}

TEST_CASE("dir events: other names, other watches, other kinds are not")
{
    CHECK_FALSE(scan(event(wd, IN_CLOSE_WRITE, "other.json")).file_changed);
    CHECK_FALSE(scan(event(wd, IN_MOVED_TO, "servers.json.tmp.42")).file_changed);
    CHECK_FALSE(scan(event(wd, IN_CREATE, "servers.jso")).file_changed);
    CHECK_FALSE(scan(event(wd, IN_CLOSE_WRITE)).file_changed); // (no name: the directory)
    CHECK_FALSE(scan(event(wd + 1, IN_CLOSE_WRITE, file)).file_changed);
    CHECK_FALSE(scan(event(wd, IN_ATTRIB, file)).file_changed);
    CHECK_FALSE(scan(event(wd, IN_OPEN | IN_ACCESS, file)).file_changed);
    CHECK_FALSE(scan(event(wd + 1, IN_IGNORED)).watch_ended);
    // Without a watch, only a lost queue counts.
    CHECK_FALSE(scan(event(-1, IN_CLOSE_WRITE, file), -1).file_changed);
    CHECK(scan(event(-1, IN_Q_OVERFLOW), -1).file_changed);
    // A name with a NUL inside its length is read up to the NUL.
    std::string cut = event(wd, IN_CLOSE_WRITE, file + std::string(1, '\0') + "x");
    CHECK(scan(cut).file_changed);
}

TEST_CASE("dir events: a lost queue is a change; a watch that ended is a change and ends it")
{
    const auto lost = scan(event(-1, IN_Q_OVERFLOW));
    CHECK(lost.file_changed);
    CHECK_FALSE(lost.watch_ended);
    for (const std::uint32_t mask : {IN_IGNORED, IN_MOVE_SELF, IN_MOVE_SELF | IN_ISDIR}) {
        const auto r = scan(event(wd, mask));
        CHECK(r.file_changed);
        CHECK(r.watch_ended);
    }
}

TEST_CASE("dir events: a batch of several, the file's event anywhere in it")
{
    const std::string others = event(wd, IN_CREATE, "a.tmp", 16) + event(wd, IN_ATTRIB, file) +
                               event(wd, IN_CLOSE_WRITE, "a.tmp");
    CHECK_FALSE(scan(others).file_changed);
    CHECK(scan(others + event(wd, IN_MOVED_TO, file)).file_changed);
    CHECK(scan(event(wd, IN_MOVED_FROM, file) + others).file_changed);
}

TEST_CASE("dir events: a batch cut short at every byte counts its whole events only")
{
    const std::string first = event(wd, IN_CLOSE_WRITE, "other.json", 16);
    const std::string second = event(wd, IN_MOVED_TO, file, 16);
    const std::string batch = first + second;
    for (std::size_t n = 0; n <= batch.size(); ++n) {
        // (A copy of its own: a read past `n` bytes is seen by the sanitizers.)
        const std::string part = batch.substr(0, n);
        const auto r = scan_dir_events(part.data(), part.size(), wd, file);
        CHECK(r.file_changed == (n == batch.size()));
    }
    // A length beyond the bytes read ends the scan.
    std::string lying = event(wd, IN_CLOSE_WRITE, file);
    inotify_event ev;
    std::memcpy(&ev, lying.data(), sizeof ev);
    ev.len = 4096;
    std::memcpy(lying.data(), &ev, sizeof ev);
    CHECK_FALSE(scan(lying).file_changed);
}

#endif
