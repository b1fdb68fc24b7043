#pragma once
// A real memcached on a kernel-chosen loopback port, started and stopped by a test.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace memcoro::test {

/// The memcached binary: $MEMCACHED_BINARY, else `memcached` on PATH; empty if none.
std::string memcached_binary();

/// Are all (`stopped`) or none of `pid`'s threads stopped (/proc/PID/task/*/stat)?
bool threads_stopped(pid_t pid, bool stopped);

class memcached_process {
public:
    /// Starts `memcached -l 127.0.0.1 -p -1 -U 0` (plus `extra_args`) and waits for its port.
    /// Throws std::runtime_error if it does not come up.
    explicit memcached_process(std::vector<std::string> extra_args = {});
    /// SIGKILL, then waitpid.
    ~memcached_process();
    memcached_process(const memcached_process&) = delete;
    memcached_process& operator=(const memcached_process&) = delete;

    /// A memcached listening on a Unix socket only.
    static std::unique_ptr<memcached_process> unix_socket();

    std::uint16_t port() const noexcept { return port_; }
    /// Its UDP port, when started with `-U -1` among `extra_args` (a kernel-chosen one; 0:
    /// no UDP).
    std::uint16_t udp_port() const noexcept { return udp_port_; }
    /// The Unix socket path (unix_socket() servers only).
    const std::string& socket_path() const noexcept { return socket_path_; }
    /// "127.0.0.1:<port>".
    std::string address() const;
    pid_t pid() const noexcept { return pid_; }

    /// Sends a signal (SIGSTOP, SIGCONT, SIGKILL ...); after SIGSTOP or SIGCONT, returns once
    /// every thread has stopped or resumed. After SIGKILL, call wait().
    void signal(int sig);
    /// Reaps the process after it died.
    void wait();
    /// Starts it again on the same port (after kill/wait).
    void restart();

private:
    struct unix_tag {};
    explicit memcached_process(unix_tag);
    void start(std::uint16_t port);
    void spawn(const std::vector<std::string>& listen_args);

    std::vector<std::string> extra_;
    std::string dir_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::uint16_t udp_port_ = 0;
    std::string socket_path_;
};

} // namespace memcoro::test
