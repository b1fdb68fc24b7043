#include "stage.hpp"

#include <vector>

namespace memcoro::test {

std::size_t stage(detail::multiplexer& m, std::string& wire, std::size_t max_bytes)
{
    std::vector<detail::write_piece> pieces;
    const std::size_t n = m.stage(pieces, max_bytes);
    for (const auto& p : pieces)
        wire.append(p.data, p.size);
    return n;
}

std::string stage(detail::multiplexer& m, std::size_t max_bytes)
{
    std::string wire;
    stage(m, wire, max_bytes);
    return wire;
}

} // namespace memcoro::test
