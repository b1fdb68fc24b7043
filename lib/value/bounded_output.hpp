#pragma once
// The output of a decompressor: bytes appended to the caller's string, never more than a limit,
// with room grown ahead of the writes so that a hostile stream allocates no more than it has
// produced (twice that at most) and never more than the limit.

#include <memcoro/value/compression.hpp>

#include <algorithm>
#include <cstddef>
#include <string>

namespace memcoro::value::detail {

class bounded_output {
public:
    /// Appends to `s` from its current end. `limit`: the most bytes that may be produced;
    /// `over`: the error once a write would pass it; `first`: the room taken at the first write.
    bounded_output(std::string& s, std::size_t limit, compression_errc over,
                   std::size_t first) noexcept
        : s_(s)
        , base_(s.size())
        , limit_(limit)
        , first_(std::min(first, limit))
        , over_(over)
    {
    }

    /// Makes room for `n` more bytes; false (nothing changed) if that passes the limit.
    bool reserve(std::size_t n)
    {
        if (n > limit_ - produced_)
            return false;
        const std::size_t need = produced_ + n;
        if (need <= room_)
            return true;
        const std::size_t grown = room_ > limit_ / 2 ? limit_ : room_ * 2;
        room_ = std::max({need, grown, first_});
        s_.resize(base_ + room_);
        return true;
    }

    /// The bytes produced so far (valid until the next `reserve`).
    char* data() noexcept { return s_.data() + base_; }
    std::size_t produced() const noexcept { return produced_; }
    std::size_t room() const noexcept { return room_; }
    void commit(std::size_t n) noexcept { produced_ += n; }
    compression_errc over() const noexcept { return over_; }

    /// Keeps what was produced.
    void finish() { s_.resize(base_ + produced_); }
    /// Drops what was produced: the string is as it was.
    void rollback() { s_.resize(base_); }

private:
    std::string& s_;
    std::size_t base_;
    std::size_t limit_;
    std::size_t first_;
    std::size_t room_ = 0;
    std::size_t produced_ = 0;
    compression_errc over_;
};

} // namespace memcoro::value::detail
