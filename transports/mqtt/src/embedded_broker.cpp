#include "embedded_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): POSIX sigaction() and kill()
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tickcast::mqtt::detail {

namespace {

using Clock = std::chrono::steady_clock;

// FileDescriptor closes its fd on destruction.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd = -1) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// AddrInfo owns a getaddrinfo result.
struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { ::freeaddrinfo(info); }
};
using AddrInfo = std::unique_ptr<addrinfo, AddrInfoDeleter>;

AddrInfo resolve(const std::string& host, int port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result); rc != 0) {
    throw std::runtime_error("embedded MQTT broker: cannot resolve host '" + host +
                             "': " + ::gai_strerror(rc));
  }
  return AddrInfo(result);
}

std::string where(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

// Throws when `host:port` cannot be bound now: taken by another process, or not an
// address of this machine. mosquitto itself sets SO_REUSEADDR, so we do too.
void check_port_free(const std::string& host, int port, const char* what) {
  const AddrInfo info = resolve(host, port, true);
  FileDescriptor fd(::socket(info->ai_family, info->ai_socktype | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), info->ai_addr, info->ai_addrlen) != 0) {
    const int error = errno;
    if (error == EADDRINUSE) {
      throw std::runtime_error(std::string("embedded MQTT broker: ") + what + " port " +
                               where(host, port) +
                               " is already in use (another broker?); pick another port "
                               "or point to an existing broker with --mqtt-broker");
    }
    throw std::runtime_error(std::string("embedded MQTT broker: cannot bind ") + what + " " +
                             where(host, port) + ": " + std::strerror(error));
  }
}

// True when a TCP connection to host:port is accepted now.
bool accepts(const std::string& host, int port) {
  AddrInfo info;
  try {
    info = resolve(host, port, false);
  } catch (const std::exception&) {
    return false;
  }
  for (const addrinfo* a = info.get(); a; a = a->ai_next) {
    FileDescriptor fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0));
    if (fd.get() >= 0 && ::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return true;
  }
  return false;
}

bool executable(const std::string& path) {
  return !path.empty() && ::access(path.c_str(), X_OK) == 0;
}

std::string find_binary(const std::string& configured) {
  if (!configured.empty()) {
    if (executable(configured)) return configured;
    throw std::runtime_error("embedded MQTT broker: '" + configured +
                             "' is not an executable mosquitto binary");
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');) {
      if (!dir.empty()) dirs.push_back(dir);
    }
  }
  for (const char* dir : {"/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin"}) {
    dirs.emplace_back(dir);
  }
  for (const auto& dir : dirs) {
    if (std::string candidate = dir + "/mosquitto"; executable(candidate)) return candidate;
  }
  throw std::runtime_error(
      "embedded MQTT broker: the mosquitto binary was not found in PATH or /usr/sbin; "
      "install the 'mosquitto' package or point to an existing broker with --mqtt-broker");
}

// Config values end up in a file mosquitto parses line by line: refuse anything that could
// add a line or a second token.
void check_host(const std::string& host) {
  if (host.empty()) throw std::invalid_argument("embedded MQTT broker: empty host");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == ':' || c == '-' || c == '_' || c == '%';
    if (!ok) throw std::invalid_argument("embedded MQTT broker: bad host '" + host + "'");
  }
}

void check_port(int port, const char* what) {
  if (port < 1 || port > 65535) {
    throw std::invalid_argument(std::string("embedded MQTT broker: bad ") + what + " " +
                                std::to_string(port));
  }
}

// `socket_domain` pins a listener to the address family of a literal address. Without it,
// mosquitto 2.0's WebSocket listener (libwebsockets) ignores the bind address and listens
// on every interface.
std::string socket_domain(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return "socket_domain ipv4\n";
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return "socket_domain ipv6\n";
  return {};
}

}  // namespace

std::string broker_config(const EmbeddedBrokerOptions& options, bool stay_root) {
  const std::string max_connections =
      options.max_connections == 0 ? "-1" : std::to_string(options.max_connections);
  std::string config =
      "# Generated by tickcast for its embedded broker; removed once the broker listens.\n"
      "per_listener_settings false\n"
      "persistence false\n"
      "log_dest stderr\n"
      "log_type error\n"
      "log_type warning\n"
      "connection_messages false\n"
      "set_tcp_nodelay true\n"
      // Without it mosquitto 2.0 keeps, per message, the ids of the clients it went to, and
      // compares each next subscriber's id with all of them: O(N^2) strcmp per event, half
      // of the broker's CPU at 10,000 subscribers of a room. A client with overlapping
      // subscriptions may get a copy per subscription, as MQTT allows.
      "allow_duplicate_messages true\n";
  if (options.auth_plugin.empty()) {
    config += "allow_anonymous true\n";
  } else {
    // Secrets are hex so that any bytes fit on one line; the file is removed once the
    // broker has read it.
    auto hex = [](const std::string& bytes) {
      static const char* digits = "0123456789abcdef";
      std::string out;
      for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
      }
      return out;
    };
    config += "allow_anonymous false\n";
    config += "plugin " + options.auth_plugin + "\n";
    config += "plugin_opt_algorithm " + options.auth_algorithm + "\n";
    config += "plugin_opt_key_hex " + hex(options.auth_key) + "\n";
    config += "plugin_opt_server_user " + options.server_user + "\n";
    config += "plugin_opt_server_password " + options.server_password + "\n";
    config += "plugin_opt_topic_prefix " + options.topic_prefix + "\n";
  }
  if (stay_root) config += "user root\n";
  config += "listener " + std::to_string(options.port) + " " + options.host + "\n";
  config += "protocol mqtt\n" + socket_domain(options.host);
  config += "max_connections " + max_connections + "\n";
  if (options.websocket_port != 0) {
    config += "listener " + std::to_string(options.websocket_port) + " " + options.host + "\n";
    config += "protocol websockets\n" + socket_domain(options.host);
    config += "max_connections " + max_connections + "\n";
  }
  if (options.tls_port != 0) {
    config += "listener " + std::to_string(options.tls_port) + " " + options.host + "\n";
    config += "protocol mqtt\n" + socket_domain(options.host);
    config += "max_connections " + max_connections + "\n";
    config += "certfile " + options.tls_cert_file + "\n";
    config += "keyfile " + options.tls_key_file + "\n";
  }
  return config;
}

std::string connect_host(const std::string& host) {
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::" || host == "[::]") return "::1";
  return host;
}

EmbeddedBroker::EmbeddedBroker(EmbeddedBrokerOptions options) : options_(std::move(options)) {
  check_host(options_.host);
  check_port(options_.port, "MQTT port");
  if (options_.websocket_port != 0) {
    check_port(options_.websocket_port, "WebSocket port");
    if (options_.websocket_port == options_.port) {
      throw std::invalid_argument("embedded MQTT broker: MQTT and WebSocket ports are equal");
    }
  }
  if (options_.tls_port != 0) {
    check_port(options_.tls_port, "MQTT TLS port");
    if (options_.tls_port == options_.port || options_.tls_port == options_.websocket_port) {
      throw std::invalid_argument("embedded MQTT broker: the TLS port must differ from the others");
    }
  }
  const std::string binary = find_binary(options_.binary);
  if (options_.tls_port != 0) check_port_free(options_.host, options_.tls_port, "MQTT TLS");
  check_port_free(options_.host, options_.port, "MQTT");
  if (options_.websocket_port != 0) {
    check_port_free(options_.host, options_.websocket_port, "MQTT WebSocket");
  }

  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tickcast-mosquitto-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    throw std::runtime_error("embedded MQTT broker: cannot create a temporary directory: " +
                             std::string(std::strerror(errno)));
  }
  dir_ = pattern;
  config_path_ = dir_ + "/mosquitto.conf";
  // Started as root, the broker would drop to user `mosquitto` by itself, which clears
  // PR_SET_PDEATHSIG. So we drop privileges in the child before setting it (when that
  // user exists and no port needs root), or else keep the broker as root (`user root`).
  bool drop = false, stay_root = false;
  uid_t uid = 0;
  gid_t gid = 0;
  if (::geteuid() == 0) {
    const passwd* user = ::getpwnam("mosquitto");
    const bool low_port =
        options_.port < 1024 || (options_.websocket_port != 0 && options_.websocket_port < 1024);
    if (user && !low_port) {
      drop = true;
      uid = user->pw_uid;
      gid = user->pw_gid;
    } else {
      stay_root = true;
    }
  }
  try {
    // Copies of the files the broker reads, in its own folder: readable by whatever user it
    // runs as (user mosquitto cannot reach a build or install tree under /root or another
    // 0700 folder: "Unable to load auth plugin ... Permission denied").
    auto hand_over = [&](std::string& file, const char* name, mode_t mode) {
      const std::string copy = dir_ + "/" + name;
      std::ifstream in(file, std::ios::binary);
      std::ofstream out(copy, std::ios::binary | std::ios::trunc);
      out << in.rdbuf();
      if (!in || !out.flush())
        throw std::runtime_error("embedded MQTT broker: cannot copy " + file);
      ::chmod(copy.c_str(), mode);
      if (drop && ::chown(copy.c_str(), uid, gid) != 0) {
        throw std::runtime_error("embedded MQTT broker: cannot hand " + copy +
                                 " to user mosquitto: " + std::strerror(errno));
      }
      copies_.push_back(copy);
      file = copy;
    };
    if (options_.tls_port != 0) {
      hand_over(options_.tls_cert_file, "cert.pem", 0600);
      hand_over(options_.tls_key_file, "key.pem", 0600);
    }
    if (!options_.auth_plugin.empty()) hand_over(options_.auth_plugin, "auth_plugin.so", 0500);
    {
      std::ofstream out(config_path_);
      out << broker_config(options_, stay_root);
      if (!out.flush()) throw std::runtime_error("embedded MQTT broker: cannot write config");
    }
    if (drop &&
        (::chown(dir_.c_str(), uid, gid) != 0 || ::chown(config_path_.c_str(), uid, gid) != 0)) {
      throw std::runtime_error("embedded MQTT broker: cannot hand " + dir_ +
                               " to user mosquitto: " + std::strerror(errno));
    }
    spawn(binary, drop, uid, gid);
    wait_until_listening();
    // mosquitto has read its config (it re-reads only on SIGHUP, which we never send):
    // remove it now. Not the TLS copies: mosquitto 2.0 may load a listener's certificate
    // after that port accepts connections (seen: "Unable to load server certificate ... No
    // such file" when they went here too), so they and the plugin stay, in the broker's own
    // 0700 folder, until stop().
    ::unlink(config_path_.c_str());
    std::lock_guard lock(log_mutex_);
    forward_log_ = true;
    if (!log_.empty()) std::fprintf(stderr, "[mosquitto] %s", log_.c_str());
  } catch (...) {
    stop();
    throw;
  }
}

EmbeddedBroker::~EmbeddedBroker() { stop(); }

pid_t EmbeddedBroker::pid() const {
  std::lock_guard lock(mutex_);
  return exited_ ? 0 : pid_;
}

bool EmbeddedBroker::exited() const {
  std::lock_guard lock(mutex_);
  return exited_;
}

void EmbeddedBroker::spawn(const std::string& binary, bool drop_privileges, uid_t uid, gid_t gid) {
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed in a multi-threaded process.
  int pipe_fds[2] = {-1, -1};
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("embedded MQTT broker: pipe: " + std::string(std::strerror(errno)));
  }
  FileDescriptor log_read(pipe_fds[0]);
  FileDescriptor log(pipe_fds[1]);
  FileDescriptor null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null.get() < 0) {
    throw std::runtime_error("embedded MQTT broker: cannot open /dev/null: " +
                             std::string(std::strerror(errno)));
  }
  std::vector<std::string> args = {binary, "-c", config_path_};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  // The reaper thread forks, then waits for the child; it ends only once the child is
  // gone, so PR_SET_PDEATHSIG (tied to the forking thread) fires only when the whole
  // process dies.
  int spawn_errno = 0;
  reaper_ = std::thread([&, this] {
    const pid_t child = ::fork();
    if (child == 0) {
      // Credentials first: changing them later would clear the death signal.
      if (drop_privileges &&
          (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) {
        ::_exit(126);
      }
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      ::setpgid(0, 0);  // a terminal's Ctrl-C goes to the server, which stops us cleanly
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
      }
      rlimit files{};
      if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;  // room for max_connections sockets
        ::setrlimit(RLIMIT_NOFILE, &files);
      }
      ::dup2(null.get(), 0);
      ::dup2(log.get(), 1);
      ::dup2(log.get(), 2);
#ifdef SYS_close_range
      if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
      {
        for (int fd = 3; fd < 65536; ++fd) ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    {
      std::lock_guard lock(mutex_);
      spawned_ = true;
      pid_ = child;
      if (child < 0) {
        spawn_errno = errno;
        exited_ = true;
      }
    }
    changed_.notify_all();
    if (child < 0) return;
    // Wait without reaping first, so stop() can never signal a recycled pid.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    std::lock_guard lock(mutex_);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    status_ = status;
    changed_.notify_all();
  });
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return spawned_; });
  if (pid_ > 0) {
    // Our copy of the write end closes when `log` goes out of scope: the reader then sees
    // EOF exactly when mosquitto exits.
    log_reader_ = std::thread([this, fd = log_read.release()] { read_log(fd); });
  }
  if (pid_ < 0) {
    pid_ = 0;
    throw std::runtime_error("embedded MQTT broker: fork failed: " +
                             std::string(std::strerror(spawn_errno)));
  }
}

void EmbeddedBroker::wait_until_listening() {
  const std::string host = connect_host(options_.host);
  const auto deadline = Clock::now() + options_.start_timeout;
  for (;;) {
    if (exited()) {
      if (log_reader_.joinable()) log_reader_.join();  // read everything it wrote
      int status = 0;
      {
        std::lock_guard lock(mutex_);
        status = status_;
      }
      std::string how = WIFEXITED(status)
                            ? "exited with status " + std::to_string(WEXITSTATUS(status))
                            : "was killed by signal " + std::to_string(WTERMSIG(status));
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127) how += " (could not run the binary)";
      if (WIFEXITED(status) && WEXITSTATUS(status) == 126) how += " (could not switch user)";
      throw std::runtime_error("embedded MQTT broker: mosquitto " + how + " during start-up on " +
                               where(options_.host, options_.port) + "; its log: " + log_tail());
    }
    const bool ready = accepts(host, options_.port) &&
                       (options_.websocket_port == 0 || accepts(host, options_.websocket_port)) &&
                       (options_.tls_port == 0 || accepts(host, options_.tls_port));
    if (ready && !exited()) return;
    if (Clock::now() >= deadline) {
      throw std::runtime_error("embedded MQTT broker: mosquitto did not accept connections on " +
                               where(options_.host, options_.port) + " within " +
                               std::to_string(options_.start_timeout.count()) +
                               " ms; its log: " + log_tail());
    }
    // Poll again soon, or at once if the child exits.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(20), [this] { return exited_; });
  }
}

void EmbeddedBroker::read_log(int fd) {
  const FileDescriptor owned(fd);
  char chunk[1024];
  std::string line;
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    std::lock_guard lock(log_mutex_);
    if (forward_log_) {
      line.append(chunk, static_cast<std::size_t>(n));
      for (auto nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n')) {
        std::fprintf(stderr, "[mosquitto] %.*s\n", static_cast<int>(nl), line.data());
        line.erase(0, nl + 1);
      }
      if (line.size() > 4096) line.clear();  // a runaway line without a newline
    } else {
      log_.append(chunk, static_cast<std::size_t>(n));
      if (log_.size() > 8192) log_.erase(0, log_.size() - 4096);
    }
  }
}

std::string EmbeddedBroker::log_tail() const {
  std::string text;
  {
    std::lock_guard lock(log_mutex_);
    text = log_;
  }
  if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "(empty)" : text;
}

void EmbeddedBroker::stop() {
  {
    std::unique_lock lock(mutex_);
    if (spawned_ && !exited_ && pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (!changed_.wait_for(lock, std::chrono::seconds(5), [this] { return exited_; })) {
        ::kill(pid_, SIGKILL);
        changed_.wait(lock, [this] { return exited_; });
      }
    }
  }
  if (reaper_.joinable()) reaper_.join();
  if (log_reader_.joinable()) log_reader_.join();  // EOF once the child is gone
  remove_files();
}

void EmbeddedBroker::remove_files() {
  if (dir_.empty()) return;
  ::unlink(config_path_.c_str());
  for (const auto& copy : copies_) ::unlink(copy.c_str());
  copies_.clear();
  ::rmdir(dir_.c_str());
  dir_.clear();
}

}  // namespace tickcast::mqtt::detail
