#include <memcoro/server_list_sources.hpp>

#include <memcoro/detail/dir_events.hpp>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

// The file source watches the file's directory with inotify where there is one (Linux).
#if defined(__linux__) && __has_include(<sys/inotify.h>)
#define MEMCORO_FILE_SOURCE_INOTIFY 1
#include <asio/posix/stream_descriptor.hpp>
#include <sys/inotify.h>
#else
#define MEMCORO_FILE_SOURCE_INOTIFY 0
#endif

namespace memcoro {

namespace {

constexpr auto as_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// Reports `ev` to the client's hook, if any (on the client's executor).
void report(client& c, server_list_event ev)
{
    if (const auto& cb = c.config().on_server_list)
        cb(ev);
}

/// A refusal of a list that was not applied (it did not parse, or could not be read).
server_list_event refusal(std::string domain, std::string source, std::uint64_t in_force,
                          server_list_error err)
{
    server_list_event ev;
    ev.domain = std::move(domain);
    ev.source = std::move(source);
    ev.old_version = in_force;
    ev.applied = false;
    ev.error = std::move(err);
    return ev;
}

/// Reads at most max_server_list_bytes + 1 bytes of `path`; false with `why` on failure.
bool read_file(const std::string& path, std::string& out, std::string& why)
{
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        why = path + ": " + std::strerror(errno);
        return false;
    }
    out.clear();
    char buf[8192];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        out.append(buf, n);
        if (out.size() > max_server_list_bytes)
            break;
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        why = path + ": read error";
        return false;
    }
    return true;
}

/// What the sources share: the client, a strand of its executor on which the source's loop
/// and its stop run in turn, the timer between reads, and the flag that ends the loop. A
/// source's state derives from it and has `run()`, its loop, and `stop()`, which ends what
/// the loop waits for (source_core::stop, and more where the source has more).
struct source_core {
    client* c;
    asio::strand<client::executor_type> strand;
    asio::steady_timer timer;
    std::atomic<bool> stopped{false};

    explicit source_core(client& cl)
        : c(&cl)
        , strand(asio::make_strand(cl.get_executor()))
        , timer(strand)
    {
    }

    /// Waits `d` (less when stopped).
    asio::awaitable<void> pause(std::chrono::milliseconds d)
    {
        timer.expires_after(d);
        auto [ec] = co_await timer.async_wait(as_tuple);
        (void)ec;
    }

    void stop() { timer.cancel(); }
};

/// Starts `st`'s loop on its strand; the loop keeps the state alive.
template <class State>
void start_source(const std::shared_ptr<State>& st)
{
    asio::co_spawn(
        st->strand, [st] { return st->run(); }, asio::detached);
}

/// Stops `st`'s loop: it ends at its next step, what it waits for is ended on its strand.
template <class State>
void stop_source(const std::shared_ptr<State>& st)
{
    st->stopped.store(true);
    asio::post(st->strand, [st] { st->stop(); });
}

} // namespace

std::string server_list_key(std::string_view domain)
{
    static constexpr std::string_view prefix = "memcoro.servers.";
    if (domain.empty() || domain.size() + prefix.size() > 250)
        throw std::invalid_argument("memcoro: a domain name is 1 to 234 bytes");
    for (unsigned char ch : domain)
        if (ch <= ' ' || ch == 0x7f)
            throw std::invalid_argument("memcoro: a domain name has no spaces or control bytes");
    return std::string(prefix) + std::string(domain);
}

// ---- file ----------------------------------------------------------------------------------

namespace {

/// How long a change is left to settle before the file is read: a burst of events (an editor's
/// create, write and rename) costs one read.
constexpr std::chrono::milliseconds settle_time{5};

} // namespace

struct server_list_file_source::state : source_core {
    std::string path;
    std::string domain;
    std::chrono::milliseconds interval;
    std::string last; // the content last seen (applied or reported)
    bool seen_any = false;
#if MEMCORO_FILE_SOURCE_INOTIFY
    // Watching the file's directory, not the file: a rename over the file (how the file is
    // edited safely), a deletion and a re-creation replace the inode a watch on the file
    // itself would follow.
    std::string dir;                          // the directory watched
    std::string name;                         // the file's name in it
    asio::posix::stream_descriptor watch;     // the inotify descriptor, if open
    int wd = -1;                              // the directory's watch on it, if any
    alignas(inotify_event) char events[4096]; // (holds one event at least: 16 + NAME_MAX + 1)
#endif

    state(client& cl, std::string p, std::string d, std::chrono::milliseconds i)
        : source_core(cl)
        , path(std::move(p))
        , domain(std::move(d))
        , interval(i)
#if MEMCORO_FILE_SOURCE_INOTIFY
        , watch(strand)
#endif
    {
    }

    void read()
    {
        std::string text, why;
        const std::string source = "file " + path;
        if (!read_file(path, text, why)) {
            if (seen_any && last == "\x01" + why)
                return;
            seen_any = true;
            last = "\x01" + why; // (not a file's content: a list starts with '{')
            server_list_error err{server_list_errc::no_such_domain, "cannot read " + why};
            report(*c, refusal(domain, source, c->current_server_list().version, err));
            return;
        }
        if (seen_any && text == last)
            return;
        seen_any = true;
        last = text;
        server_list list;
        server_list_error err;
        if (!parse_server_list(text, domain, list, err)) {
            report(*c, refusal(domain, source, c->current_server_list().version, err));
            return;
        }
        c->apply_server_list(list, err, source); // (the client reports the outcome)
    }

    /// Reads the file at its time: at once, then every `interval`, and soon after a change.
    asio::awaitable<void> run()
    {
        while (!stopped.load()) {
            if (timer.expiry() <= std::chrono::steady_clock::now()) {
#if MEMCORO_FILE_SOURCE_INOTIFY
                if (watch.is_open() && wd < 0)
                    add_watch(); // (the directory is back, or was not there at first)
#endif
                read();
                timer.expires_after(interval);
            }
            // (Woken early by soon() or stop(): the loop looks at the time again.)
            auto [ec] = co_await timer.async_wait(as_tuple);
            (void)ec;
        }
    }

    /// A change was seen: the file is read within settle_time (once for a burst).
    void soon()
    {
        if (timer.expiry() > std::chrono::steady_clock::now() + settle_time)
            timer.expires_after(settle_time);
    }

#if MEMCORO_FILE_SOURCE_INOTIFY
    static constexpr std::uint32_t watched = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                             IN_CREATE | IN_DELETE | IN_MOVE_SELF | IN_ONLYDIR;

    /// Opens the inotify descriptor and watches the directory; on any failure (not Linux's
    /// inotify, no instance or watch left, no such directory yet) the file is polled only.
    void start_watch()
    {
        const std::filesystem::path p(path);
        name = p.filename().string();
        if (name.empty() || name == "." || name == "..")
            return;
        dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
            return;
        std::error_code ec;
        watch.assign(fd, ec);
        if (ec) {
            ::close(fd);
            return;
        }
        add_watch();
    }

    void add_watch()
    {
        wd = ::inotify_add_watch(watch.native_handle(), dir.c_str(), watched);
    }

    /// Reads the watch's events until stopped (or the descriptor fails: polling goes on).
    asio::awaitable<void> watch_loop()
    {
        while (!stopped.load()) {
            auto [ec, n] = co_await watch.async_read_some(asio::buffer(events), as_tuple);
            if (ec || stopped.load())
                break;
            const auto seen = detail::scan_dir_events(events, n, wd, name);
            if (seen.watch_ended && wd >= 0) {
                // (Gone, or moved elsewhere: the next read watches the path's directory again.)
                ::inotify_rm_watch(watch.native_handle(), wd);
                wd = -1;
            }
            if (seen.file_changed)
                soon();
        }
    }
#endif

    /// Ends both loops (on the strand).
    void stop()
    {
        source_core::stop();
#if MEMCORO_FILE_SOURCE_INOTIFY
        std::error_code ignored;
        watch.close(ignored);
#endif
    }
};

server_list_file_source::server_list_file_source(client& c, std::string path, std::string domain,
                                                 std::chrono::milliseconds interval)
    : state_(std::make_shared<state>(c, std::move(path), std::move(domain), interval))
{
#if MEMCORO_FILE_SOURCE_INOTIFY
    // The watch first, then the first read: no change falls between them.
    state_->start_watch();
    if (state_->watch.is_open())
        asio::co_spawn(
            state_->strand, [st = state_] { return st->watch_loop(); }, asio::detached);
#endif
    start_source(state_);
}

server_list_file_source::~server_list_file_source()
{
    stop_source(state_);
}

// ---- memcached ----------------------------------------------------------------------------

struct server_list_store_source::state : source_core {
    client* store;
    std::string domain;
    std::string key;
    std::chrono::milliseconds interval;
    std::uint64_t last_cas = 0; // the CAS unique last seen (applied or reported)
    bool reported_missing = false;
    std::string last_failure; // the store's failure last reported

    state(client& cl, client& st, std::string d, std::chrono::milliseconds i)
        : source_core(cl)
        , store(&st)
        , domain(std::move(d))
        , key(server_list_key(domain))
        , interval(i)
    {
    }

    asio::awaitable<void> run()
    {
        while (!stopped.load()) {
            auto [ec, r] = co_await store->async_gets(key, as_tuple);
            if (stopped.load())
                break;
            handle(ec, r);
            co_await pause(interval);
        }
    }

    void handle(std::error_code ec, const get_result& r)
    {
        const std::string source = "memcached " + key;
        const auto in_force = c->current_server_list().version;
        if (ec) {
            const std::string why = ec.message();
            if (why != last_failure) {
                last_failure = why;
                server_list_error err{ec, "cannot read " + key + ": " + why};
                report(*c, refusal(domain, source, in_force, err));
            }
            return;
        }
        last_failure.clear();
        if (!r) {
            if (!reported_missing) {
                reported_missing = true;
                last_cas = 0;
                server_list_error err{server_list_errc::no_such_domain,
                                      "no list for domain \"" + domain + "\" (no item " + key +
                                          ")"};
                report(*c, refusal(domain, source, in_force, err));
            }
            return;
        }
        reported_missing = false;
        if (r->cas == last_cas)
            return;
        last_cas = r->cas;
        server_list list;
        server_list_error err;
        if (!parse_domain_list(r->value, domain, list, err)) {
            report(*c, refusal(domain, source, in_force, err));
            return;
        }
        c->apply_server_list(list, err, source);
    }
};

server_list_store_source::server_list_store_source(client& c, client& store, std::string domain,
                                                   std::chrono::milliseconds interval)
    : state_(std::make_shared<state>(c, store, std::move(domain), interval))
{
    start_source(state_);
}

server_list_store_source::~server_list_store_source()
{
    stop_source(state_);
}

// ---- auto-discovery -----------------------------------------------------------------------

struct server_list_discovery_source::state
    : source_core,
      std::enable_shared_from_this<server_list_discovery_source::state> {
    std::string endpoint;
    server_address address;
    std::chrono::milliseconds interval;
    std::chrono::milliseconds timeout;
    std::shared_ptr<asio::ip::tcp::socket> socket; // the poll in progress
    std::string last_body;                         // the reply last handed to the client
    std::string last_failure;                      // the failure last reported

    state(client& cl, std::string e, std::chrono::milliseconds i, std::chrono::milliseconds t)
        : source_core(cl)
        , endpoint(std::move(e))
        , address(server_address::parse(endpoint))
        , interval(i)
        , timeout(t)
    {
        if (address.is_unix())
            throw std::invalid_argument("memcoro: a discovery endpoint is host:port");
    }

    void failed(std::error_code code, const std::string& why)
    {
        if (why == last_failure)
            return;
        last_failure = why;
        last_body.clear();
        report(*c, refusal(endpoint, "discovery " + endpoint, c->current_server_list().version,
                           server_list_error{code, why}));
    }

    /// One poll: connect, ask, read the reply; "" and `ec`, `why` on failure.
    asio::awaitable<std::string> ask(std::error_code& ec, std::string& why)
    {
        auto ex = co_await asio::this_coro::executor;
        asio::ip::tcp::resolver resolver(ex);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(address.host, std::to_string(address.port), as_tuple);
        if (rec) {
            ec = rec;
            why = endpoint + ": " + rec.message();
            co_return "";
        }
        socket = std::make_shared<asio::ip::tcp::socket>(ex);
        auto [cec, ep] = co_await asio::async_connect(*socket, endpoints, as_tuple);
        (void)ep;
        if (cec) {
            ec = cec;
            why = endpoint + ": " + cec.message();
            co_return "";
        }
        static constexpr std::string_view ask = "config get cluster\r\n";
        auto [wec, wn] = co_await asio::async_write(*socket, asio::buffer(ask), as_tuple);
        (void)wn;
        if (wec) {
            ec = wec;
            why = endpoint + ": " + wec.message();
            co_return "";
        }
        std::string in;
        discovery_reply reply;
        char buf[4096];
        for (;;) {
            const auto st = reply.feed(in);
            if (st == discovery_reply::state::complete)
                break;
            if (st == discovery_reply::state::failed) {
                ec = server_list_errc::invalid_reply;
                why = endpoint + ": " + reply.reason();
                co_return "";
            }
            auto [rec2, n] = co_await socket->async_read_some(asio::buffer(buf), as_tuple);
            if (rec2) {
                ec = rec2;
                why = endpoint + ": " + rec2.message();
                co_return "";
            }
            in.append(buf, n);
        }
        in.resize(reply.size());
        co_return in;
    }

    asio::awaitable<void> run()
    {
        while (!stopped.load()) {
            // The poll's deadline: closing the socket ends whatever it waits for.
            auto deadline = std::make_shared<asio::steady_timer>(timer.get_executor());
            deadline->expires_after(timeout);
            auto timed_out = std::make_shared<bool>(false);
            // (The handler keeps the state: it may be queued when the loop ends.)
            deadline->async_wait([self = shared_from_this(), timed_out](std::error_code ec) {
                if (ec)
                    return;
                *timed_out = true;
                if (self->socket) {
                    std::error_code ignored;
                    self->socket->close(ignored);
                }
            });
            std::error_code ec;
            std::string why;
            const std::string reply = co_await ask(ec, why);
            deadline->cancel();
            if (socket) {
                std::error_code ignored;
                socket->close(ignored);
                socket.reset();
            }
            if (stopped.load())
                break;
            if (!reply.empty())
                handle(reply);
            else if (*timed_out)
                failed(errc::timeout,
                       endpoint + ": no reply within " + std::to_string(timeout.count()) + " ms");
            else
                failed(ec, why);
            co_await pause(interval);
        }
    }

    void stop()
    {
        source_core::stop();
        if (socket) {
            std::error_code ignored;
            socket->close(ignored);
        }
    }

    void handle(const std::string& reply_text)
    {
        if (reply_text == last_body)
            return;
        discovery_reply reply;
        reply.feed(reply_text);
        server_list list = reply.list();
        list.domain = endpoint;
        list.distribution = c->config().distribution;
        list.hash = c->config().hash;
        last_body = reply_text;
        last_failure.clear();
        server_list_error err;
        c->apply_server_list(list, err, "discovery " + endpoint);
    }
};

server_list_discovery_source::server_list_discovery_source(client& c, std::string endpoint,
                                                           std::chrono::milliseconds interval,
                                                           std::chrono::milliseconds timeout)
    : state_(std::make_shared<state>(c, std::move(endpoint), interval, timeout))
{
    start_source(state_);
}

server_list_discovery_source::~server_list_discovery_source()
{
    stop_source(state_);
}

// ---- editing ------------------------------------------------------------------------------

namespace {

/// Applies `edit` to `list` (a domain's list in force), bumps its version and checks it.
server_list edited(server_list list, const server_list_edit& edit)
{
    const std::uint64_t was = list.version;
    const std::string domain = list.domain;
    edit(list);
    list.domain = domain;
    list.version = was + 1;
    server_list_error err;
    if (!check_server_list(list, err))
        throw std::invalid_argument(err.reason);
    return list;
}

/// An exclusive lock on a file, released when it goes.
class file_lock {
public:
    explicit file_lock(const std::string& path)
        : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644))
    {
        if (fd_ < 0)
            throw std::runtime_error(path + ": " + std::strerror(errno));
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno != EINTR) {
                const int e = errno;
                ::close(fd_);
                throw std::runtime_error(path + ": lock: " + std::strerror(e));
            }
        }
    }
    ~file_lock() { ::close(fd_); }
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;

private:
    int fd_;
};

} // namespace

server_list edit_server_list_file(const std::string& path, std::string_view domain,
                                  const server_list_edit& edit)
{
    file_lock lock(path + ".lock");
    std::string text, why;
    server_list current;
    current.domain = std::string(domain);
    const bool exists = ::access(path.c_str(), F_OK) == 0 || errno != ENOENT;
    if (exists && !read_file(path, text, why))
        throw std::runtime_error("cannot read " + why);
    if (exists) {
        if (text.size() > max_server_list_bytes)
            throw std::runtime_error(path + ": over " + std::to_string(max_server_list_bytes) +
                                     " bytes");
        const auto domains = server_list_domains(text);
        if (!domains)
            throw std::runtime_error(path + ": not a server list file");
        if (std::find(domains->begin(), domains->end(), domain) != domains->end()) {
            server_list_error err;
            // (A list that no longer parses can only be replaced: its version is read alone.)
            if (!parse_server_list(text, domain, current, err))
                throw std::runtime_error(path + ": " + err.reason);
        }
    }
    const server_list next = edited(std::move(current), edit);
    const std::string out = with_domain_list(text, next);
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        f << out;
        f.flush();
        if (!f)
            throw std::runtime_error(tmp + ": write failed");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        throw std::runtime_error(path + ": rename: " + std::strerror(e));
    }
    return next;
}

asio::awaitable<server_list> edit_server_list_in_store(client& store, std::string domain,
                                                       server_list_edit edit, int attempts)
{
    const std::string key = server_list_key(domain);
    for (int i = 0; i < attempts; ++i) {
        const auto r = co_await store.async_gets(key);
        server_list current;
        current.domain = domain;
        if (r) {
            server_list_error err;
            if (!parse_domain_list(r->value, domain, current, err))
                throw std::runtime_error(key + ": " + err.reason);
        }
        const server_list next = edited(std::move(current), edit);
        const std::string text = to_json(next);
        const store_status st =
            r ? co_await store.async_cas(key, text, r->cas) : co_await store.async_add(key, text);
        if (st == store_status::stored)
            co_return next;
        // Another editor wrote first (exists, not_found, not_stored): start over from it.
    }
    throw std::runtime_error(key + ": still changing after " + std::to_string(attempts) +
                             " attempts");
}

} // namespace memcoro
