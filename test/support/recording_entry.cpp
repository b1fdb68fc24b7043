#include "recording_entry.hpp"

#include "requests.hpp"

#include <sstream>
#include <utility>

namespace memcoro::test {

namespace {

/// `s` with its length first: "3:abc".
void sized(std::ostream& os, const std::string& s)
{
    os << s.size() << ':' << s;
}

} // namespace

std::string describe(const completion& c)
{
    std::ostringstream os;
    os << '#' << c.id << " key=";
    sized(os, c.key);
    os << " ec=";
    if (c.ec)
        os << c.ec.category().name() << ':' << c.ec.value() << " (" << c.ec.message() << ')';
    else
        os << "ok";
    os << " status=" << static_cast<int>(c.resp.status) << " number=" << c.resp.number << " text=";
    sized(os, c.resp.text);
    os << " items=[";
    for (const auto& i : c.resp.items) {
        sized(os, i.key);
        os << ' ' << i.flags << ' ' << i.cas << ' ';
        sized(os, i.value);
        os << ';';
    }
    os << "] failed=[";
    for (std::size_t j = 0; j < c.resp.failed_at.size(); ++j)
        os << c.resp.failed_at[j] << ':'
           << (j < c.resp.key_errors.size() ? c.resp.key_errors[j].value() : -1) << ';';
    os << "] stats=[";
    for (const auto& [n, v] : c.resp.stats) {
        sized(os, n);
        os << '=';
        sized(os, v);
        os << ';';
    }
    os << ']';
    return os.str();
}

std::vector<std::string> recorder::summary() const
{
    std::vector<std::string> s;
    for (const auto& c : log)
        s.push_back(describe(c));
    return s;
}

std::vector<int> recorder::order() const
{
    std::vector<int> ids;
    for (const auto& c : log)
        ids.push_back(c.id);
    return ids;
}

recording_entry::recording_entry(detail::request_ptr r, recorder& rec, int id, detail::scope where)
    : op_entry(std::move(r), where)
    , id_(id)
    , rec_(&rec)
{
}

recording_entry::recording_entry(proto::request r, recorder& rec, int id, detail::scope where)
    : op_entry(std::move(r), where)
    , id_(id)
    , rec_(&rec)
{
}

void recording_entry::on_complete(bool)
{
    ++completions;
    auto copy = resp;
    if (copy.found)
        copy.items.push_back(copy.single);
    rec_->log.push_back({id_, first_key(req), ec, std::move(copy)});
}

} // namespace memcoro::test
