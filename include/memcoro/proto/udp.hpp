#pragma once
/// \file
/// memcached's UDP framing: the 8-byte header in front of every datagram, and the reassembly
/// of one request's reply from its datagrams. Sans-I/O: no sockets.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memcoro::proto {

/// The frame header of a datagram (big-endian on the wire): the request id the client chose
/// (the reply's datagrams carry it back), the datagram's number within its message, how many
/// datagrams the message has, and two reserved bytes (0).
struct udp_header {
    std::uint16_t request_id = 0;
    std::uint16_t sequence = 0;
    std::uint16_t count = 1;
    std::uint16_t reserved = 0;
};

inline constexpr std::size_t udp_header_size = 8;
/// The largest datagram memcached sends, header included; a request must fit in one datagram
/// (memcached ignores requests of several).
inline constexpr std::size_t udp_max_datagram = 1400;

/// Writes `h` into the udp_header_size bytes at `out`.
void write_udp_header(const udp_header& h, char* out) noexcept;
/// The header of `datagram`; nullopt when it is shorter than a header, says its message has no
/// datagram, or numbers the datagram past its message's count.
std::optional<udp_header> read_udp_header(std::string_view datagram) noexcept;

/// Puts one request's reply back together. memcached 1.6 sends a reply as a series of messages
/// (one per VALUE, one for the END...), each of one or more datagrams numbered from 0 with the
/// message's count. The datagrams of a message may come in any order; a message is appended to
/// the reply once it is whole. Anything that cannot belong to an intact reply breaks it: a
/// datagram of another count while a message is incomplete (one of its datagrams was lost, or
/// the next message overtook it), more than 64 datagrams ahead of their turn. A datagram of
/// the message in progress already received is a duplicate, dropped; a duplicate of a message
/// already whole cannot be told from the next message, and is left to the reply's parser (a
/// VALUE out of its key's order). The bytes held never exceed `max_bytes`.
class udp_reply_assembler {
public:
    enum class status {
        accepted,  ///< taken (its message may still be incomplete)
        duplicate, ///< already received: dropped
        broken,    ///< the reply cannot be whole any more
        too_large, ///< the reply would exceed the maximum
    };

    explicit udp_reply_assembler(std::size_t max_bytes) noexcept
        : max_bytes_(max_bytes)
    {
    }

    /// Forgets everything: ready for another reply.
    void reset() noexcept;
    /// Takes a datagram of the reply: its header and the bytes after it.
    status add(const udp_header& h, std::string_view payload);
    /// The whole messages so far, in order.
    std::string_view bytes() const noexcept { return out_; }
    /// Is a message partly received?
    bool in_message() const noexcept { return count_ != 0; }

private:
    /// Appends the message's datagrams that are next in order, from early_.
    void take_early();

    std::size_t max_bytes_;
    std::string out_;            // whole messages
    std::string msg_;            // the current message's datagrams received in order so far
    std::size_t held_ = 0;       // bytes in out_, msg_ and early_
    std::uint32_t count_ = 0;    // the current message's count (0: none)
    std::uint32_t next_seq_ = 0; // datagrams of it in msg_
    static constexpr std::size_t max_early = 64;
    /// Datagrams of the current message received ahead of their turn (at most max_early).
    std::vector<std::pair<std::uint16_t, std::string>> early_;
};

} // namespace memcoro::proto
