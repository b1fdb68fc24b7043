#include "memcached_process.hpp"

#include "config_for.hpp"
#include "tls_certs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace memcoro::test {

std::string memcached_binary()
{
    if (const char* env = std::getenv("MEMCACHED_BINARY"); env && *env)
        return env;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/usr/local/bin");
    for (std::string d; std::getline(dirs, d, ':');) {
        auto candidate = std::filesystem::path(d) / "memcached";
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return {};
}

memcached_process::memcached_process(std::vector<std::string> extra_args)
    : extra_(std::move(extra_args))
{
    // The suites over TLS: every TCP server serves TLS, unless the test chose its own.
    if (test_over_tls() &&
        std::find(extra_.begin(), extra_.end(), std::string("-Z")) == extra_.end()) {
        const auto& certs = shared_tls_certs();
        for (auto& a : memcached_tls_args(certs.server_cert(), certs.server_key()))
            extra_.push_back(std::move(a));
    }
    char tmpl[] = "/tmp/memcoro-mc-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("memcached_process: mkdtemp failed");
    dir_ = tmpl;
    start(0);
}

memcached_process::~memcached_process()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGKILL); // SIGTERM makes memcached linger for a second
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string memcached_process::address() const
{
    return "127.0.0.1:" + std::to_string(port_);
}

bool threads_stopped(pid_t pid, bool stopped)
{
    const auto task_dir = std::filesystem::path("/proc") / std::to_string(pid) / "task";
    bool all = true, none = true;
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(task_dir, ec)) {
        std::ifstream in(t.path() / "stat");
        std::string line;
        std::getline(in, line);
        // "pid (comm) S ...": the state follows the last ')'.
        const auto close = line.rfind(')');
        const bool is_stopped = close != std::string::npos && close + 2 < line.size() &&
                                (line[close + 2] == 'T' || line[close + 2] == 't');
        all = all && is_stopped;
        none = none && !is_stopped;
    }
    return !ec && (stopped ? all : none);
}

void memcached_process::signal(int sig)
{
    if (pid_ <= 0)
        return;
    ::kill(pid_, sig);
    if (sig != SIGSTOP && sig != SIGCONT)
        return;
    // kill() only queues a stop: wait until every thread has stopped (or resumed).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!threads_stopped(pid_, sig == SIGSTOP) && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void memcached_process::wait()
{
    if (pid_ > 0) {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

void memcached_process::restart()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        wait();
    }
    start(port_);
}

void memcached_process::spawn(const std::vector<std::string>& listen_args)
{
    const std::string binary = memcached_binary();
    if (binary.empty())
        throw std::runtime_error("memcached_process: no memcached binary");
    std::vector<std::string> args = {binary};
    args.insert(args.end(), listen_args.begin(), listen_args.end());
    for (const char* a : {"-U", "0", "-t", "2", "-c", "4096"})
        args.emplace_back(a);
    if (::geteuid() == 0) {
        args.emplace_back("-u");
        args.emplace_back("root");
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    // The child of a multithreaded test may only make async-signal-safe calls until exec
    // (another thread may hold the allocator's lock at fork): its environment is built here.
    std::vector<std::string> env_strings = {"MEMCACHED_PORT_FILENAME=" + dir_ + "/ports"};
    for (char** e = environ; e && *e; ++e)
        if (std::string_view(*e).rfind("MEMCACHED_PORT_FILENAME=", 0) != 0)
            env_strings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error("memcached_process: fork failed");
    if (pid_ == 0) {
        int devnull = ::open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            ::dup2(devnull, 0);
            ::dup2(devnull, 1);
        }
        // Nothing else of the test's: its sockets are not close-on-exec, and a memcached that
        // inherited them would keep a closed listener (a fault proxy's) bound and listening,
        // and connections the test closed open.
        bool closed = false;
#ifdef SYS_close_range
        closed = ::syscall(SYS_close_range, 3u, ~0u, 0u) == 0;
#endif
        if (!closed)
            for (long fd = 3, max = ::sysconf(_SC_OPEN_MAX); fd < max; ++fd)
                ::close(static_cast<int>(fd));
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
}

void memcached_process::start(std::uint16_t port)
{
    const std::string port_file = dir_ + "/ports";
    int silent_starts = 0;
    for (int attempt = 0; attempt < 50; ++attempt) {
        std::filesystem::remove(port_file);
        // -p -1: the kernel picks a free port, which memcached writes to the port file.
        spawn({"-l", "127.0.0.1", "-p", port ? std::to_string(port) : std::string("-1")});
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < until) {
            std::ifstream in(port_file);
            std::string line;
            const bool udp = std::find(extra_.begin(), extra_.end(), "-U") != extra_.end();
            std::uint16_t tcp_port = 0, udp_port = 0;
            while (std::getline(in, line)) {
                const std::string tag = "TCP INET: ", udp_tag = "UDP INET: ";
                if (line.rfind(tag, 0) == 0)
                    tcp_port = static_cast<std::uint16_t>(std::stoi(line.substr(tag.size())));
                if (line.rfind(udp_tag, 0) == 0)
                    udp_port = static_cast<std::uint16_t>(std::stoi(line.substr(udp_tag.size())));
            }
            if (tcp_port != 0 && (!udp || udp_port != 0)) {
                port_ = tcp_port;
                udp_port_ = udp_port;
                return;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                break; // exited: e.g. the fixed port is still in use
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (pid_ > 0) {
            // Alive but silent for 10 s: kill it and try again, a few times at most.
            ::kill(pid_, SIGKILL);
            wait();
            if (++silent_starts == 3)
                throw std::runtime_error("memcached_process: memcached did not start");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("memcached_process: memcached could not listen on port " +
                             std::to_string(port));
}

memcached_process::memcached_process(unix_tag)
{
    char tmpl[] = "/tmp/memcoro-mc-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error("memcached_process: mkdtemp failed");
    dir_ = tmpl;
    socket_path_ = dir_ + "/memcached.sock";
    spawn({"-s", socket_path_, "-a", "0700"});
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
        // The socket file exists from bind(), before listen(): ready once a connect succeeds.
        if (std::filesystem::exists(socket_path_)) {
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            socket_path_.copy(sa.sun_path, sizeof sa.sun_path - 1);
            const bool up =
                fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
            if (fd >= 0)
                ::close(fd);
            if (up)
                return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    throw std::runtime_error("memcached_process: memcached did not listen on its socket");
}

std::unique_ptr<memcached_process> memcached_process::unix_socket()
{
    return std::unique_ptr<memcached_process>(new memcached_process(unix_tag{}));
}

} // namespace memcoro::test
