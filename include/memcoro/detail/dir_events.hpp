#pragma once
// What a batch of inotify events read from a directory's watch means for one file in that
// directory (server_list_file_source): sans-I/O, so that it is unit-tested and fuzzed.

#include <cstddef>
#include <string_view>

namespace memcoro::detail {

/// The meaning of a batch of events for the file.
struct dir_events {
    bool file_changed = false; ///< the file may have changed (or events were lost): read it
    bool watch_ended = false;  ///< the directory's watch ended (removed, or moved): add it again
};

/// Scans `size` bytes of inotify events as read(2) returns them from an inotify descriptor,
/// for the directory watch `wd` and the file `name` in that directory. The file changed when
/// an event of `wd` names it (written and closed, created, deleted, moved in or out), or when
/// the queue overflowed; the watch ended with IN_IGNORED or IN_MOVE_SELF on `wd` (the file is
/// then read too). Bytes that do not make a whole event (a header cut short, a name longer
/// than the bytes left) end the scan; a name is read up to its first NUL within its length.
/// On systems without inotify nothing ever changes.
dir_events scan_dir_events(const char* data, std::size_t size, int wd,
                           std::string_view name) noexcept;

} // namespace memcoro::detail
