#pragma once
/// \file
/// Gets over UDP to one server, sans I/O: the window of requests in flight, their request ids,
/// their datagrams, the reassembly and checking of their replies, and their deadlines. The
/// shell (udp_channel) sends what it stages and hands it what it receives.
///
/// A get goes out as one meta get per key that every key answers (VA or EN, tagged with the
/// key's index and carrying the key): memcached 1.6 sends each answer as a message of its own,
/// so a message lost whole could not be told from a miss were misses silent. A request is
/// answered once every key is, whatever the order its answers came in; nothing of it is
/// delivered before.

#include <memcoro/detail/fifo.hpp>
#include <memcoro/detail/op_entry.hpp>
#include <memcoro/proto/decoder.hpp>
#include <memcoro/proto/udp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace memcoro::detail {

struct udp_core_options {
    /// Requests in flight at once; more wait their turn.
    std::size_t window = 32;
    /// The largest request datagram, header included.
    std::size_t max_datagram = proto::udp_max_datagram;
    /// The most bytes one reply may have (its datagrams' payloads).
    std::size_t max_reply = 4 * 1024 * 1024;
    /// How long a request's reply may take to arrive whole once sent; then it is lost.
    clock::duration timeout = std::chrono::milliseconds(100);
    /// The deadline of each request from its submission (0: none), as on TCP.
    clock::duration op_timeout{0};
    proto::decoder_limits limits{};
    /// Sent before every key; a reply must name its key with it, and its sink is given the
    /// key without it.
    std::string key_prefix{};
};

/// What happened to a server's UDP requests.
struct udp_counters {
    std::uint64_t requests = 0; ///< sent
    std::uint64_t replies = 0;  ///< answered whole
    std::uint64_t lost = 0;  ///< no whole reply in time, or a broken one (see udp_reply_assembler)
    std::uint64_t stray = 0; ///< datagrams for no request in flight, or unreadable, dropped
    std::uint64_t duplicates = 0; ///< datagrams received twice, dropped
};

class udp_core {
public:
    explicit udp_core(udp_core_options o);

    /// May `e` go over UDP? A get or gets (not gat, nothing only meta asks) of printable keys
    /// whose request fits in one datagram.
    bool accepts(const op_entry& e) const noexcept;
    /// Queues an accepted request at `now`; it goes out when the window has room.
    void submit(entry_ptr e, clock::time_point now);
    /// Moves queued requests into the window and appends their datagrams to `out` (each valid
    /// until the request's slot is released). Requests already completed are dropped.
    void stage(clock::time_point now, std::vector<std::string_view>& out);
    /// A datagram came. The requests it completes are settled into `answered` (the caller
    /// completes them); a request whose reply it breaks goes to `lost`, uncompleted and with
    /// nothing of its reply delivered, for the caller to send over TCP or fail.
    void on_datagram(std::string_view datagram, clock::time_point now,
                     std::vector<entry_ptr>& answered, std::vector<entry_ptr>& lost);
    /// Requests whose reply has not come whole `timeout` after they were sent go to `lost`
    /// (as above); requests whose own deadline has passed fail with errc::timeout. Returns
    /// when to look again (time_point::max(): nothing in flight or queued).
    clock::time_point expire(clock::time_point now, std::vector<entry_ptr>& lost);
    /// Every request in flight or queued, uncompleted, into `out` (the channel closes).
    void take_all(std::vector<entry_ptr>& out);

    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t queued() const noexcept { return queue_.size(); }
    const udp_counters& counters() const noexcept { return counters_; }
    const udp_core_options& options() const noexcept { return opts_; }

private:
    struct slot {
        explicit slot(const proto::decoder_limits& limits, std::size_t max_reply)
            : assembler(max_reply)
            , decoder(limits)
        {
        }
        entry_ptr e;
        std::uint16_t id = 0;
        clock::time_point lost_at{};
        proto::udp_reply_assembler assembler;
        proto::decoder decoder;
        std::size_t scanned = 0;
        /// Per key: where its answer starts in the assembled bytes (npos: not answered yet).
        std::vector<std::size_t> answer_at;
        std::size_t answered = 0;
        std::string datagram;
    };
    enum class scan_result { incomplete, whole, broken };

    /// Parses what slot `s` has received since the last call: whole once every key has its
    /// answer, broken when an answer is invalid, an error line, or names a key other than the
    /// one its opaque number gives. A key answered twice (a message received twice) keeps its
    /// first answer.
    scan_result scan(slot& s);
    /// Hands the answers of a whole reply to the request's sink, in key order, and settles it.
    void deliver(slot& s, clock::time_point now, std::vector<entry_ptr>& answered);
    void release(slot& s);
    std::uint16_t take_id() noexcept;

    udp_core_options opts_;
    std::vector<std::unique_ptr<slot>> slots_; // the window: busy ones have an entry
    std::size_t in_flight_ = 0;
    fifo<entry_ptr> queue_;
    std::uint16_t next_id_ = 1;
    udp_counters counters_;
};

} // namespace memcoro::detail
