#pragma once
// An op_entry that records how it was answered, for the tests of the sans-I/O core (the unit
// tests and the fuzzer): no Asio, no Catch2.

#include <memcoro/detail/op_entry.hpp>
#include <memcoro/detail/pool.hpp>
#include <memcoro/proto/request.hpp>

#include <string>
#include <system_error>
#include <vector>

namespace memcoro::test {

/// One completion as the caller saw it: the entry's id and request key, its error and a copy
/// of its response at that moment (a single-key hit as the one item of `resp.items`).
struct completion {
    int id = 0;
    std::string key; ///< the request's first key; empty for requests without keys
    std::error_code ec;
    detail::response resp;
};

/// A completion in one line, every field with its length, so that two lines are equal only
/// when the completions are.
std::string describe(const completion& c);

/// The completions of a run, in the order they happened.
struct recorder {
    std::vector<completion> log;

    /// describe() of each completion.
    std::vector<std::string> summary() const;
    /// The ids in completion order.
    std::vector<int> order() const;
};

/// An entry with the default sink (replies accumulate into `resp`) whose completions go to a
/// recorder.
class recording_entry final : public detail::op_entry {
public:
    recording_entry(detail::request_ptr r, recorder& rec, int id = 0,
                    detail::scope where = detail::scope::key);
    recording_entry(proto::request r, recorder& rec, int id = 0,
                    detail::scope where = detail::scope::key);

    int id() const noexcept { return id_; }

    /// How many times the caller was answered (once at most, if op_entry keeps its promise).
    int completions = 0;

private:
    void on_complete(bool) override;

    int id_;
    recorder* rec_;
};

} // namespace memcoro::test
