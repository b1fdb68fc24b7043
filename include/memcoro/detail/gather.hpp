#pragma once
/// \file
/// Gathering a call split into parts (one request per server, or more): each part reports
/// through its sink as its replies are read; the last part to finish answers the caller.
/// No Asio, no sockets: parts are plain entries.

#include <memcoro/detail/op_entry.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace memcoro::detail {

/// What every gather shares: the caller's entry, the parts still out, the first failure.
class gather {
public:
    gather(entry_ptr parent, std::size_t parts) noexcept
        : parent_(std::move(parent))
        , remaining_(parts)
    {
    }
    gather(const gather&) = delete;
    gather& operator=(const gather&) = delete;

    op_entry& parent() const noexcept { return *parent_; }

    /// A failure of the call (a part's, or a key's whose server is down): the first one
    /// names the call's error, with its server and the server's message.
    void note_error(std::error_code ec, const std::string* server, std::string_view text = {},
                    std::error_code cause = {});
    /// Answers the caller with the first error at once: no part was sent.
    void finish_failed() { finish(true, false); }

protected:
    ~gather() = default;
    /// A part is done: true when it was the last one.
    bool last_part() noexcept { return --remaining_ == 0; }
    /// Answers the caller: with the first error when `failed_all` (the call as a whole could
    /// not be carried out), else with success.
    void finish(bool failed_all, bool may_run_inline);

    entry_ptr parent_;

private:
    std::size_t remaining_;
    std::error_code first_error_, first_error_cause_;
    const std::string* first_error_server_ = nullptr;
};

/// A multi-key retrieval split over servers (and chunks): hits land in slots of the gather's
/// own (recycled) items, one per key; when every part is done the caller's entry gets them
/// in request order (`resp.items`), with every key's outcome (`resp.key_slots`: hit, miss or
/// error) and the errors of the keys whose part failed or whose server is down
/// (`resp.key_errors`), both in request order, in the same pass over the keys.
class retrieval_gather final : public gather,
                               public std::enable_shared_from_this<retrieval_gather> {
public:
    /// `keys`: the caller's keys (its own, not a selection); `order`: the planned key indexes (see
    /// fan_out_planner), which the parts' keys select.
    retrieval_gather(entry_ptr parent, std::size_t parts, const proto::string_list& keys,
                     index_list order);
    ~retrieval_gather();

    const index_list& order() const noexcept { return order_; }
    /// A key that could not be sent (its server is down): it fails with `ec`.
    void fail_key(std::uint32_t key_index, std::error_code ec);
    /// The part of `order[from..to)`, an entry whose keys select the caller's.
    entry_ptr make_part(std::uint32_t from, std::uint32_t to, request_ptr req);

private:
    class part;
    void on_value(std::uint32_t from, std::size_t j, const proto::reply& r);
    void on_part_done(const op_entry& p, std::uint32_t from, std::uint32_t to, bool may_run_inline);
    /// The index of `ec` in errors_, added if it is not the last one there.
    std::uint32_t error_index(std::error_code ec);

    const proto::string_list& keys_;
    index_list order_;
    std::vector<item> slots_;
    /// Per key: its status so far; an error's index is into errors_ until the last part is done.
    slot_list states_;
    /// The errors of the parts (and down servers) that failed, each once in a row.
    error_list errors_;
    std::uint32_t hits_ = 0, failed_keys_ = 0;
};

/// Multi-key storage or delete split over servers: each key's reply lands in the caller's
/// `resp.outcomes`; the call fails only when every key failed.
class write_gather final : public gather, public std::enable_shared_from_this<write_gather> {
public:
    /// Sets up the caller's outcomes, one per key of `keys`, in request order.
    write_gather(entry_ptr parent, std::size_t parts, const proto::string_list& keys,
                 index_list order);

    const index_list& order() const noexcept { return order_; }
    /// A key that could not be sent (its server is down).
    void fail_key(std::uint32_t key_index, std::error_code ec);
    entry_ptr make_part(std::uint32_t from, std::uint32_t to, request_ptr req);

private:
    class part;
    void on_reply(const op_entry& p, std::uint32_t key_index, const proto::reply& r);
    void on_part_done(const op_entry& p, std::uint32_t from, std::uint32_t to, bool may_run_inline);

    index_list order_;
};

/// A request to every server: each server's error and stats land in the caller's
/// `resp.per_server`. `per_server_results` (stats of every server): the call succeeds
/// whatever the servers said; otherwise (flush_all, verbosity) it fails if any server failed.
class server_gather final : public gather, public std::enable_shared_from_this<server_gather> {
public:
    server_gather(entry_ptr parent, std::vector<const std::string*> servers,
                  bool per_server_results);

    /// Server `i` (named `server`) is down: its result is that error.
    void fail_server(std::size_t i, std::error_code ec, const std::string* server);
    entry_ptr make_part(std::size_t i, request_ptr req);

private:
    class part;
    void on_part_done(op_entry& p, std::size_t i, bool may_run_inline);

    bool per_server_results_;
};

/// An entry whose outcome nobody waits for (the client's own probe of a down server).
class unanswered_entry final : public op_entry {
public:
    using op_entry::op_entry;

private:
    void on_complete(bool) override {}
};

} // namespace memcoro::detail
