#include <memcoro/detail/dir_events.hpp>

#include <cstdint>
#include <cstring>

#if defined(__linux__) && __has_include(<sys/inotify.h>)
#include <sys/inotify.h>
#define MEMCORO_DIR_EVENTS_INOTIFY 1
#else
#define MEMCORO_DIR_EVENTS_INOTIFY 0
#endif

namespace memcoro::detail {

dir_events scan_dir_events(const char* data, std::size_t size, int wd,
                           std::string_view name) noexcept
{
    dir_events out;
#if MEMCORO_DIR_EVENTS_INOTIFY
    constexpr std::uint32_t touches_file =
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;
    std::size_t at = 0;
    while (size - at >= sizeof(inotify_event)) {
        inotify_event ev;
        std::memcpy(&ev, data + at, sizeof ev); // (the bytes need not be aligned)
        at += sizeof ev;
        if (ev.len > size - at)
            break;
        const char* s = data + at;
        const auto* nul = static_cast<const char*>(std::memchr(s, '\0', ev.len));
        const std::string_view ev_name(s, nul ? static_cast<std::size_t>(nul - s) : ev.len);
        at += ev.len;
        if (ev.mask & IN_Q_OVERFLOW) {
            out.file_changed = true; // (events were lost: read to be sure)
            continue;
        }
        if (wd < 0 || ev.wd != wd)
            continue;
        if (ev.mask & (IN_IGNORED | IN_MOVE_SELF)) {
            out.watch_ended = true;
            out.file_changed = true;
            continue;
        }
        if ((ev.mask & touches_file) && !name.empty() && ev_name == name)
            out.file_changed = true;
    }
#else
    (void)data;
    (void)size;
    (void)wd;
    (void)name;
#endif
    return out;
}

} // namespace memcoro::detail
