#pragma once
/// \file
/// An incremental, allocation-free parser of memcached's text-protocol replies.

#include <memcoro/proto/reply.hpp>
#include <memcoro/proto/request.hpp>

#include <cstddef>
#include <string_view>
#include <system_error>

namespace memcoro::proto {

enum class parse_status : std::uint8_t { need_more, done };

struct parse_result {
    parse_status status;
    std::size_t consumed; ///< bytes of the input used by the reply (0 unless done)
};

/// Limits applied to untrusted server bytes.
struct decoder_limits {
    /// Largest data block a VALUE line may announce (memcached's -I, 1 MiB by default).
    std::size_t max_item_size = 1024 * 1024;
    /// Longest reply line, "\r\n" included.
    std::size_t max_line = 8192;
    /// Most bytes of STAT lines one stats reply may have (memcached's largest, `stats sizes`
    /// with a big item size, is well under 1 MiB).
    std::size_t max_stats_bytes = 4 * 1024 * 1024;
};

/// Parses one reply unit at a time. Feed it the unconsumed bytes; on `done`, drop `consumed`
/// bytes and call again. On `need_more`, read more and call again with everything unconsumed:
/// any chunking of the input gives the same replies. Errors (errc::protocol_error) leave the
/// stream unusable: the connection must be reset.
class decoder {
public:
    decoder() = default;
    explicit decoder(decoder_limits limits) noexcept
        : limits_(limits)
    {
    }

    /// Parses at most one reply from `in`, expected to answer a request of kind `expected`
    /// (a meta kind: a reply of the meta dialect).
    parse_result parse(std::string_view in, reply_kind expected, reply& out, std::error_code& ec)
    {
        return is_meta(expected) ? parse_meta(in, expected, out, ec)
                                 : parse_text(in, expected, out, ec);
    }

    /// How many bytes the reply being parsed needs in all (header and data block), once its
    /// header has been read; 0 when unknown. Lets a reader size its buffer in one step.
    std::size_t pending_size() const noexcept { return pending_; }

    /// Forget any partial reply (after a reconnect).
    void reset() noexcept { pending_ = 0; }

    const decoder_limits& limits() const noexcept { return limits_; }

private:
    parse_result parse_text(std::string_view in, reply_kind expected, reply& out,
                            std::error_code& ec);
    /// The meta dialect's replies (lib/proto/meta_decoder.cpp); error lines and the replies
    /// of text commands go to parse_text.
    parse_result parse_meta(std::string_view in, reply_kind expected, reply& out,
                            std::error_code& ec);
    /// The first line of `in`, without its "\r\n", and where the bytes after it start. False
    /// when it is not whole yet, with `ec` set when it never will be (longer than max_line) or
    /// is not a line (a '\n' without '\r').
    bool first_line(std::string_view in, std::string_view& line, std::size_t& header,
                    std::error_code& ec) const noexcept;
    /// The data block of `len` bytes at `header`, and its "\r\n": the reply's whole size, or 0
    /// when it is not all here yet (pending_ says how much is needed) or is invalid (`ec`).
    std::size_t data_block(std::string_view in, std::size_t header, std::uint64_t len,
                           std::string_view& data, std::error_code& ec) noexcept;
    parse_result parse_value(std::string_view in, std::string_view line, std::size_t header,
                             reply_kind expected, reply& out, std::error_code& ec);

    decoder_limits limits_{};
    std::size_t pending_ = 0;
};

} // namespace memcoro::proto
