#include "process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace tickcast::support {

namespace {

using Clock = std::chrono::steady_clock;

// The parent's environment with `extra` ("NAME=value") added or replacing its entries.
std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
      return e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
             e[name.size()] == '=';
    });
    if (!replaced) out.emplace_back(text);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Fd closes its descriptor when it goes.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("ChildProcess: pipe");
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
}

std::string basename_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Between fork and exec only async-signal-safe calls: no allocation, no stdio.
// in_fd, err_fd: -1 for /dev/null and the inherited stderr.
[[noreturn]] void exec_child(const ChildOptions& options, pid_t parent, int in_fd, int out_fd,
                             int err_fd, int error_fd, char** argv, char** envp,
                             const cpu_set_t* cpus) {
  if (options.die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  }
  if (cpus && ::sched_setaffinity(0, sizeof *cpus, cpus) != 0) {
    const int error = errno;
    [[maybe_unused]] const ssize_t written = ::write(error_fd, &error, sizeof error);
    ::_exit(127);
  }
  const int in = in_fd >= 0 ? in_fd : ::open("/dev/null", O_RDONLY);
  if (in >= 0) ::dup2(in, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  if (err_fd >= 0) ::dup2(err_fd, STDERR_FILENO);
  if (std::strchr(argv[0], '/')) {
    ::execve(argv[0], argv, envp);
  } else {
    ::execvpe(argv[0], argv, envp);
  }
  const int error = errno;
  [[maybe_unused]] const ssize_t written = ::write(error_fd, &error, sizeof error);
  ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(ChildOptions options) : stop_grace_(options.stop_grace) {
  if (options.argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  try {
    start(options);
  } catch (...) {  // no destructor runs for a constructor that throws
    if (remove_log_) ::unlink(log_path_.c_str());
    throw;
  }
}

void ChildProcess::start(ChildOptions& options) {
  const std::string program = options.argv[0];
  Fd log;
  if (options.output == ChildOptions::Output::log_file) {
    if (options.log_path.empty()) {
      std::string name = "/tmp/tickcast-" + basename_of(program) + "-XXXXXX";
      log = Fd(::mkostemp(name.data(), O_CLOEXEC));
      if (log.get() >= 0) {
        log_path_ = name;
        remove_log_ = true;
      }
    } else {
      log_path_ = options.log_path;
      log = Fd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    }
    if (log.get() < 0) throw_errno("ChildProcess: log file");
  }
  Fd out_read, out_write, err_read, err_write, in_read, in_write;
  if (options.output == ChildOptions::Output::pipe) {
    make_pipe(out_read, out_write);
    if (options.stderr_pipe) make_pipe(err_read, err_write);
  }
  if (options.stdin_pipe) make_pipe(in_read, in_write);
  // The child writes its exec errno here; a successful exec closes it (O_CLOEXEC) unwritten.
  Fd error_read, error_write;
  make_pipe(error_read, error_write);

  std::vector<std::string> env =
      options.env.empty() ? std::vector<std::string>{} : merged_environment(options.env);
  std::vector<char*> argv = pointers(options.argv);
  std::vector<char*> envp = pointers(env);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (const int cpu : options.cpus) CPU_SET(cpu, &cpus);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("ChildProcess: fork");
  if (pid == 0) {
    exec_child(options, parent, in_read.get(), log.get() >= 0 ? log.get() : out_write.get(),
               log.get() >= 0 ? log.get() : err_write.get(), error_write.get(), argv.data(),
               options.env.empty() ? environ : envp.data(), options.cpus.empty() ? nullptr : &cpus);
  }
  pid_ = pid;
  error_write.reset();
  int error = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &error, sizeof error);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof error)) {
    reap(true);
    throw std::runtime_error("cannot run " + program + ": " + std::strerror(error));
  }
  pipe_ = out_read.release();
  error_pipe_ = err_read.release();
  stdin_ = in_write.release();
}

ChildProcess::~ChildProcess() {
  close_stdin();
  if (!status_) {
    if (stop_grace_.count() > 0) {
      terminate(stop_grace_);
    } else {
      kill_hard();
    }
  }
  if (pipe_ >= 0) ::close(pipe_);
  if (error_pipe_ >= 0) ::close(error_pipe_);
  if (remove_log_) ::unlink(log_path_.c_str());
}

bool ChildProcess::reap(bool block) {
  if (status_) return true;
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == pid_) {
    status_ = status;
  } else if (got < 0 && errno == ECHILD) {
    status_ = -1;  // reaped elsewhere: gone, status unknown
  }
  return status_.has_value();
}

bool ChildProcess::running() { return !reap(false); }

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval, not a sync
  }
  return status_;
}

void ChildProcess::signal(int signal) {
  if (!status_) ::kill(pid_, signal);
}

std::optional<int> ChildProcess::terminate(std::chrono::milliseconds grace) {
  if (status_) return status_;
  ::kill(pid_, SIGTERM);
  if (auto status = wait(grace)) return status;
  kill_hard();
  return std::nullopt;
}

void ChildProcess::kill_hard() {
  if (status_) return;
  ::kill(pid_, SIGKILL);
  reap(true);
}

// Reads what stdout (and stderr, with stderr_pipe) have before `deadline`; false when
// nothing came: the time ran out, or stdout (and stderr) ended.
bool ChildProcess::read_more(Clock::time_point deadline) {
  if (pipe_ < 0) return false;
  pollfd fds[2] = {{stdout_done_ ? -1 : pipe_, POLLIN, 0}, {error_pipe_, POLLIN, 0}};
  if (fds[0].fd < 0 && fds[1].fd < 0) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  // After stdout's end, stderr is only drained: nothing waits on it alone.
  const int wait_ms = stdout_done_ ? 0 : static_cast<int>(std::max<std::int64_t>(left.count(), 0));
  if (::poll(fds, 2, wait_ms) <= 0) return false;
  bool got = false;
  char chunk[4096];
  if (fds[0].revents != 0) {
    const ssize_t n = ::read(pipe_, chunk, sizeof chunk);
    if (n > 0) piped_.append(chunk, static_cast<std::size_t>(n)), got = true;
    if (n == 0) stdout_done_ = true;
  }
  if (fds[1].revents != 0) {
    const ssize_t n = ::read(error_pipe_, chunk, sizeof chunk);
    if (n > 0) {
      error_piped_.append(chunk, static_cast<std::size_t>(n)), got = true;
    } else {
      ::close(error_pipe_);
      error_pipe_ = -1;
    }
  }
  return got || (!stdout_done_ && Clock::now() < deadline);
}

std::string ChildProcess::errors() {
  while (read_more(Clock::now())) {
  }
  return error_piped_;
}

bool ChildProcess::write_stdin(std::string_view bytes) {
  while (stdin_ >= 0 && !bytes.empty()) {
    const ssize_t n = ::write(stdin_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return stdin_ >= 0;
}

void ChildProcess::close_stdin() {
  if (stdin_ >= 0) ::close(stdin_);
  stdin_ = -1;
}

std::string& ChildProcess::captured() {
  if (pipe_ >= 0) {
    while (read_more(Clock::now())) {
    }
    return piped_;
  }
  std::ifstream in(log_path_);
  log_text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return log_text_;
}

std::string ChildProcess::output(std::size_t max_bytes) {
  const std::string& text = captured();
  if (text.size() <= max_bytes) return text;
  return "..." + text.substr(text.size() - max_bytes);
}

bool ChildProcess::wait_for_output(std::string_view text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const bool exited = !running();
    if (captured().find(text) != std::string::npos) return true;
    if (exited || Clock::now() >= deadline) return false;
    if (pipe_ >= 0) {
      read_more(std::min(deadline, Clock::now() + std::chrono::milliseconds(10)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a file
    }
  }
}

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (const auto nl = piped_.find('\n', consumed_); nl != std::string::npos) {
      std::string line = piped_.substr(consumed_, nl - consumed_);
      consumed_ = nl + 1;
      return line;
    }
    if (!read_more(deadline)) return std::nullopt;
  }
}

std::string ChildProcess::read_all(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (read_more(deadline)) {
  }
  std::string rest = piped_.substr(consumed_);
  consumed_ = piped_.size();
  return rest;
}

}  // namespace tickcast::support
