#include <memcoro/proto/udp.hpp>

#include <algorithm>

namespace memcoro::proto {
namespace {

void put16(char* out, std::uint16_t v) noexcept
{
    out[0] = static_cast<char>(v >> 8);
    out[1] = static_cast<char>(v & 0xff);
}

std::uint16_t get16(const char* in) noexcept
{
    return static_cast<std::uint16_t>((static_cast<unsigned char>(in[0]) << 8) |
                                      static_cast<unsigned char>(in[1]));
}

} // namespace

void write_udp_header(const udp_header& h, char* out) noexcept
{
    put16(out, h.request_id);
    put16(out + 2, h.sequence);
    put16(out + 4, h.count);
    put16(out + 6, h.reserved);
}

std::optional<udp_header> read_udp_header(std::string_view datagram) noexcept
{
    if (datagram.size() < udp_header_size)
        return std::nullopt;
    udp_header h;
    h.request_id = get16(datagram.data());
    h.sequence = get16(datagram.data() + 2);
    h.count = get16(datagram.data() + 4);
    h.reserved = get16(datagram.data() + 6);
    if (h.count == 0 || h.sequence >= h.count)
        return std::nullopt;
    return h;
}

void udp_reply_assembler::reset() noexcept
{
    out_.clear();
    msg_.clear();
    early_.clear();
    held_ = 0;
    count_ = 0;
    next_seq_ = 0;
}

udp_reply_assembler::status udp_reply_assembler::add(const udp_header& h, std::string_view payload)
{
    if (count_ == 0) {
        count_ = h.count; // a new message
        next_seq_ = 0;
    } else if (h.count != count_) {
        return status::broken; // the message in progress lost a datagram, or was overtaken
    }
    if (h.sequence < next_seq_ || std::any_of(early_.begin(), early_.end(),
                                              [&](const auto& p) { return p.first == h.sequence; }))
        return status::duplicate;
    if (payload.size() > max_bytes_ - held_)
        return status::too_large;
    held_ += payload.size();
    if (h.sequence == next_seq_) {
        msg_.append(payload);
        ++next_seq_;
        take_early();
    } else {
        if (early_.size() == max_early)
            return status::broken; // (bounded even for empty datagrams)
        early_.emplace_back(h.sequence, std::string(payload));
    }
    if (next_seq_ == count_) { // the message is whole
        out_.append(msg_);
        msg_.clear();
        count_ = 0;
        next_seq_ = 0;
    }
    return status::accepted;
}

void udp_reply_assembler::take_early()
{
    for (bool found = true; found && !early_.empty();) {
        found = false;
        for (auto it = early_.begin(); it != early_.end(); ++it)
            if (it->first == next_seq_) {
                msg_.append(it->second);
                ++next_seq_;
                early_.erase(it);
                found = true;
                break;
            }
    }
}

} // namespace memcoro::proto
