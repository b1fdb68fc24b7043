#pragma once
// A fault-injecting TCP proxy for tests: listens on 127.0.0.1 (kernel-chosen port), forwards
// every accepted connection to 127.0.0.1:<upstream> (a real memcached) both ways, and on
// command misbehaves on the server->client direction: delays, stalls, closes mid-reply,
// truncates, splits replies into single-byte writes, injects bytes before the next reply or
// at once, or refuses connections. It runs on its own thread and io_context; every setter is
// thread-safe and takes effect on the next bytes forwarded. Loopback only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace memcoro::test {

class fault_proxy {
public:
    /// What happens to new connections.
    enum class accept_mode {
        normal,         ///< accept and forward
        close_at_once,  ///< accept (counted), then close the socket at once: the peer sees EOF
        stop_accepting, ///< stop calling accept(): the kernel still completes handshakes
                        ///< into the listen backlog, so connects succeed but nobody answers
        reject,         ///< close the listening socket: connects are refused (ECONNREFUSED);
                        ///< going back to another mode listens again on the same port
    };

    /// Starts listening on 127.0.0.1:0; connections are forwarded to 127.0.0.1:upstream_port.
    explicit fault_proxy(std::uint16_t upstream_port);
    ~fault_proxy();
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;

    std::uint16_t port() const noexcept;
    /// "127.0.0.1:<port>".
    std::string address() const;

    // ---- server -> client faults ------------------------------------------------------------

    /// Holds every chunk read from the server `d` before forwarding it (pure added latency).
    void set_delay(std::chrono::milliseconds d);
    /// Stops (true) or resumes (false) forwarding server -> client. Server bytes read while
    /// stalled are held (see held_bytes()) and forwarded, in order, on resume.
    /// set_stalled(false) also resumes connections stalled by stall_open_connections().
    void set_stalled(bool stalled);
    /// Stalls the connections open now, and only them: connections accepted later forward
    /// normally. Returns once applied.
    void stall_open_connections();
    /// After `n` more server -> client bytes (on any connection), closes that connection
    /// (both sides) without forwarding the rest: a reply cut off mid-way. One-shot.
    void close_after(std::size_t n);
    /// After `n` more server -> client bytes, silently drops the next `drop` bytes and keeps
    /// forwarding (the connection stays open): a truncated reply. One-shot.
    void truncate_after(std::size_t n, std::size_t drop);
    /// Forwards server bytes one byte per write() (with `gap` between writes), so the client
    /// sees a reply split at every byte boundary.
    void set_split(bool on, std::chrono::microseconds gap = std::chrono::microseconds(0));
    /// Writes `bytes` to the client just before the next server -> client bytes forwarded
    /// (on whichever connection forwards first). One-shot.
    void inject_before_next_reply(std::string bytes);
    /// Writes `bytes` at once to every open client connection (unsolicited bytes).
    void inject_now(std::string bytes);
    /// Until cleared (empty `from`): every occurrence of `from` in a chunk of server bytes is
    /// replaced by `to` before it is forwarded (a server that says something else, e.g. an
    /// older version number). Only occurrences within one chunk read from the server.
    void rewrite_replies(std::string from, std::string to);
    /// Until cleared (empty `from`): every occurrence of `from` in a chunk of client bytes is
    /// replaced by `to` before it is forwarded (e.g. a request line the server then refuses).
    /// Only occurrences within one chunk read from the client.
    void rewrite_requests(std::string from, std::string to);
    /// Until cleared (empty `needle`): a connection whose client sends bytes containing
    /// `needle` is closed at once, those bytes not forwarded (a proxy that hangs up on a
    /// command it does not know).
    void close_on_request(std::string needle);
    /// See accept_mode.
    void set_accept_mode(accept_mode m);
    /// Closes every proxied connection now (both sides).
    void drop_connections();
    /// Back to plain forwarding: no delay, not stalled, no pending one-shot fault, no split,
    /// accept_mode::normal.
    void clear_faults();

    // ---- counters (thread-safe) --------------------------------------------------------------

    /// Connections accepted so far (close_at_once ones included).
    int connections() const noexcept;
    /// Proxied connections open now.
    int active() const noexcept;
    /// Bytes forwarded client -> server.
    std::uint64_t bytes_to_server() const noexcept;
    /// Bytes written server -> client (injected bytes included).
    std::uint64_t bytes_to_client() const noexcept;
    /// Bytes read from the server and not yet forwarded (e.g. while stalled).
    std::uint64_t held_bytes() const noexcept;
    /// write() calls made toward clients.
    std::uint64_t client_writes() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace memcoro::test
