#pragma once
/// \file
/// Singleflight: concurrent calls for one key share the first one's work. The first caller
/// of a key leads; the others wait for its outcome, which it publishes once. Callable from any
/// thread: each waiter is resumed on its own handler's executor.

#include <memcoro/compute.hpp>
#include <memcoro/detail/asio_compat.hpp>

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace memcoro::detail {

class singleflight {
public:
    /// One key's work in progress, and its outcome once published.
    class flight {
    public:
        /// Waits for the outcome: `void()`, on the handler's executor (at once, posted, if it
        /// is already published).
        template <class Token>
        auto async_wait(Token&& token)
        {
            return asio::async_initiate<Token, void()>(
                [this](auto handler) {
                    auto w = std::make_unique<waiter<decltype(handler)>>(std::move(handler));
                    std::unique_lock lock(owner_->mutex_);
                    if (done_) {
                        lock.unlock();
                        w->resume();
                    } else {
                        waiters_.push_back(std::move(w));
                    }
                },
                token);
        }
        /// The outcome, once async_wait completed: the value, or the leader's exception.
        const computed_value& value() const noexcept { return value_; }
        const std::exception_ptr& error() const noexcept { return error_; }

    private:
        friend class singleflight;
        explicit flight(singleflight* owner)
            : owner_(owner)
        {
        }
        struct waiter_base {
            virtual ~waiter_base() = default;
            virtual void resume() = 0;
        };
        template <class Handler>
        struct waiter final : waiter_base {
            using executor = asio::associated_executor_t<Handler, asio::any_io_executor>;
            explicit waiter(Handler h)
                : handler(std::move(h))
                , work(asio::get_associated_executor(handler, asio::any_io_executor()))
            {
            }
            void resume() override
            {
                auto ex = work.get_executor();
                asio::post(ex, std::move(handler));
                work.reset();
            }
            Handler handler;
            asio::executor_work_guard<executor> work;
        };

        singleflight* owner_;
        bool done_ = false; // guarded by owner_->mutex_
        computed_value value_;
        std::exception_ptr error_;
        std::vector<std::unique_ptr<waiter_base>> waiters_; // guarded by owner_->mutex_
    };

    /// Joins the flight of `key`: {its flight, true} for the caller who must lead it (it was
    /// not under way), {the flight, false} for one who must wait.
    std::pair<std::shared_ptr<flight>, bool> join(const std::string& key)
    {
        std::lock_guard lock(mutex_);
        auto [it, inserted] = flights_.try_emplace(key);
        if (inserted)
            it->second = std::shared_ptr<flight>(new flight(this));
        return {it->second, inserted};
    }

    /// The leader publishes the outcome of `f` (the flight of `key`): its waiters resume, and
    /// the next call for the key starts a new flight.
    void publish(const std::string& key, const std::shared_ptr<flight>& f, computed_value value,
                 std::exception_ptr error)
    {
        std::vector<std::unique_ptr<flight::waiter_base>> waiters;
        {
            std::lock_guard lock(mutex_);
            f->value_ = std::move(value);
            f->error_ = std::move(error);
            f->done_ = true;
            waiters.swap(f->waiters_);
            if (auto it = flights_.find(key); it != flights_.end() && it->second == f)
                flights_.erase(it);
        }
        for (auto& w : waiters)
            w->resume();
    }

    /// Flights under way (for tests).
    std::size_t size() const
    {
        std::lock_guard lock(mutex_);
        return flights_.size();
    }

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

} // namespace memcoro::detail
