#pragma once
/// \file
/// A FIFO queue over one growable ring buffer: unlike std::deque, a queue that stays about
/// the same size never allocates.

#include <cstddef>
#include <utility>
#include <vector>

namespace memcoro::detail {

template <class T>
class fifo {
public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    T& front() noexcept { return slots_[head_]; }
    const T& front() const noexcept { return slots_[head_]; }
    T& operator[](std::size_t i) noexcept { return slots_[(head_ + i) & mask()]; }
    const T& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & mask()]; }

    void push_back(T v)
    {
        if (size_ == slots_.size())
            grow();
        slots_[(head_ + size_) & mask()] = std::move(v);
        ++size_;
    }

    void push_front(T v)
    {
        if (size_ == slots_.size())
            grow();
        head_ = (head_ + slots_.size() - 1) & mask();
        slots_[head_] = std::move(v);
        ++size_;
    }

    void pop_front() noexcept
    {
        slots_[head_] = T();
        head_ = (head_ + 1) & mask();
        --size_;
    }

    void clear() noexcept
    {
        while (!empty())
            pop_front();
        head_ = 0;
    }

    /// Moves the contents out, leaving the queue empty (its capacity kept).
    std::vector<T> take()
    {
        std::vector<T> out;
        out.reserve(size_);
        while (!empty()) {
            out.push_back(std::move(front()));
            pop_front();
        }
        head_ = 0;
        return out;
    }

    template <class F>
    void for_each(F&& f)
    {
        for (std::size_t i = 0; i < size_; ++i)
            if (!f((*this)[i]))
                return;
    }

private:
    std::size_t mask() const noexcept { return slots_.size() - 1; }

    void grow()
    {
        std::vector<T> bigger(slots_.empty() ? 16 : slots_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = std::move((*this)[i]);
        slots_ = std::move(bigger);
        head_ = 0;
    }

    std::vector<T> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace memcoro::detail
